//! Store tests. Most are the acceptance suite: each written once as `async fn(Store)` and run
//! on every backend by [`acceptance!`] (as `NAME::sqlite` on a fresh in-memory database and
//! `NAME::postgres` on a fresh PostgreSQL database of its own); a third backend gets them all
//! by adding one arm there. The rest are about one backend's files or URLs.

/// Runs each named `async fn(Store)` once per backend.
macro_rules! acceptance {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    $crate::store::tests::run($crate::store::tests::Backend::Sqlite, super::$name)
                        .await;
                }

                #[tokio::test]
                async fn postgres() {
                    $crate::store::tests::run($crate::store::tests::Backend::Postgres, super::$name)
                        .await;
                }
            }
        )*
    };
}
pub(super) use acceptance;

mod audit;
mod dlq;
mod durability;
mod holds;
mod intake;
mod lanes;
mod leases;
mod replay;
mod send;
mod trace;
mod workers;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::json;

use super::{
    AuditKind, ConfirmSpec, Delivery, InitialState, NewAudit, NewChange, NewDelivery, Store,
};

pub(super) const PIPELINE: &str = "subs-to-billing";

/// The store's clock in these tests; `claim_due` is called with times from here on.
pub(super) const T0: i64 = 1_000_000;

pub(super) async fn memory() -> Store {
    Store::open("sqlite::memory:")
        .await
        .expect("open an in-memory store")
        .with_clock(crate::services::clock::ManualClock::new(T0).clock())
}

/// The backends the acceptance suite runs on.
#[derive(Debug, Clone, Copy)]
pub(super) enum Backend {
    Sqlite,
    Postgres,
}

/// Opens a fresh store on `backend` with the test clock, runs `test` on it, then drops the
/// database.
pub(super) async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    match backend {
        Backend::Sqlite => test(memory().await).await,
        Backend::Postgres => {
            let db = crate::store::testing::TestDatabase::create().await;
            let store = Store::open(db.url())
                .await
                .expect("open a PostgreSQL store")
                .with_clock(crate::services::clock::ManualClock::new(T0).clock());
            test(store.clone()).await;
            store.close().await;
            drop(db);
        }
    }
}

/// Runs `sql` as it is, outside the store's API: how the tests play an intruder editing rows.
pub(super) async fn tamper(store: &Store, sql: &str) {
    crate::store::db::on!(store.db.writer(), |db| sqlx::query(sql)
        .execute(db)
        .await
        .map(drop))
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// One number read outside the store's API.
pub(super) async fn scalar(store: &Store, sql: &str) -> i64 {
    crate::store::db::on!(store.db.writer(), |db| sqlx::query_scalar(sql)
        .fetch_one(db)
        .await)
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// A subscription change from Stripe.
pub(super) fn change(event: &str, key: &str, version: i64) -> NewChange {
    NewChange {
        pipeline: PIPELINE.into(),
        source: "stripe".into(),
        source_event_id: event.into(),
        object: "subscription".into(),
        key: key.into(),
        operation: crate::store::Operation::Update,
        before: None,
        after: Some(json!({ "status": "active", "version": version }).to_string()),
        occurred_at_ms: 1_000 + version,
        effective_at_ms: None,
        source_version: version,
        metadata: "{}".into(),
        correlation_id: format!("corr-{event}"),
    }
}

/// A write of that change to NetSuite.
pub(super) fn delivery(event: &str, key: &str, version: i64) -> NewDelivery {
    NewDelivery {
        pipeline: PIPELINE.into(),
        route: "subscription-to-billing".into(),
        target: "netsuite".into(),
        object: "subscription".into(),
        key: key.into(),
        operation: crate::store::Operation::Update,
        document: json!({ "status": "active", "version": version }).to_string(),
        effective_at_ms: None,
        occurred_at_ms: 1_000 + version,
        source_version: version,
        idempotency_key: idem(event),
        priority: 10,
        not_before_ms: None,
        state: InitialState::Pending,
        correlation_id: format!("corr-{event}"),
        confirm: Some(ConfirmSpec {
            fields: vec!["status".into()],
            within_ms: 30_000,
        }),
        max_attempts: 3,
        on_behalf_of: None,
    }
}

pub(super) fn idem(event: &str) -> String {
    format!("{PIPELINE}/subscription-to-billing/{event}/netsuite")
}

/// The `planned` audit entry the engine writes with a delivery.
pub(super) fn planned_entry(d: &NewDelivery, event: &str) -> NewAudit {
    NewAudit {
        pipeline: d.pipeline.clone(),
        correlation_id: d.correlation_id.clone(),
        object: d.object.clone(),
        key: d.key.clone(),
        event_id: Some(event.into()),
        change_id: None,
        delivery_id: None,
        idempotency_key: Some(d.idempotency_key.clone()),
        kind: AuditKind::Planned,
        detail: json!({ "route": d.route, "after": { "status": "active" } }),
    }
}

/// Receives a change and plans `delivery` for it; returns the delivery.
pub(super) async fn plan(store: &Store, event: &str, d: NewDelivery) -> Delivery {
    let intake = store
        .intake(&[change(event, &d.key, d.source_version)])
        .await
        .expect("intake");
    let change_id = intake[0].change_id();
    let entry = planned_entry(&d, event);
    let result = store
        .commit_plan(change_id, vec![d], vec![entry])
        .await
        .expect("commit plan");
    store
        .delivery(result.deliveries[0].delivery_id)
        .await
        .expect("read delivery")
        .expect("delivery exists")
}

/// Receives and plans a pending write of `key` at `version`.
pub(super) async fn pending(store: &Store, event: &str, key: &str, version: i64) -> Delivery {
    plan(store, event, delivery(event, key, version)).await
}

/// A directory under the system temp dir, removed on drop.
pub(super) struct TempDir(pub PathBuf);

impl TempDir {
    pub(super) fn new() -> TempDir {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "junction-store-test-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub(super) fn url(&self, file: &str) -> String {
        format!("sqlite://{}", self.0.join(file).display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover temp dir is harmless.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
