//! Operators' commands against a real store file, built through the store API the engine uses.

mod audit;
mod cli;
mod dlq;
mod holds;
mod postgres;
mod route;
mod trace;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::json;

use super::{Access, open};
use crate::store::{
    Attempt, AuditKind, ConfirmSpec, InitialState, NewAudit, NewChange, NewDelivery, Store,
};

pub(super) const PIPELINE: &str = "subs-to-billing";
pub(super) const ROUTE: &str = "subscription-to-billing";

/// 2025-03-01T09:00:00Z: the store's clock in these tests.
pub(super) const T0: i64 = 1_740_819_600_000;

/// A customer's e-mail as the source sent it: it must never reach the output.
pub(super) const EMAIL: &str = "alice@example.com";
/// The same e-mail as the masking policy stores it in audit rows and dead letters.
pub(super) const MASKED_EMAIL: &str = "a***@example.com";

/// A store file under the system temp dir, removed on drop, with the story below in it.
pub(super) struct Fixture {
    dir: PathBuf,
    pub(super) url: String,
    pub(super) store: Store,
    /// The dead letter of `sub_1`'s write.
    pub(super) letter: i64,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Best effort: a leftover temp dir is harmless.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(super) fn temp_dir() -> PathBuf {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "junction-ops-test-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Two subscriptions from Stripe to NetSuite:
/// - `sub_1` (event `evt_1`): planned, attempt 1 fails (503, transient) and is retried,
///   attempt 2 is applied, the read-back never shows it, and it is dead-lettered
///   "not confirmed";
/// - `sub_2` (event `evt_2`): planned, applied and confirmed as `ns_2` at the first attempt.
pub(super) async fn fixture() -> Fixture {
    let dir = temp_dir();
    let url = format!("sqlite://{}", dir.join("junction.db").display());
    fixture_at(dir, url).await
}

/// [`fixture`] in the store at `url` (any backend); `dir` is removed with the fixture.
pub(super) async fn fixture_at(dir: PathBuf, url: String) -> Fixture {
    let store = Store::open(&url)
        .await
        .expect("create the store")
        .with_clock(crate::services::clock::ManualClock::new(T0).clock());

    receive_and_plan(&store, "evt_1", "sub_1").await;
    receive_and_plan(&store, "evt_2", "sub_2").await;

    let claimed = store.claim_due(T0, 10, "w1", 30_000).await.expect("claim");
    let one = claimed
        .iter()
        .find(|d| d.key == "sub_1")
        .expect("sub_1 due");
    let two = claimed
        .iter()
        .find(|d| d.key == "sub_2")
        .expect("sub_2 due");

    let lease = one.lease.clone().expect("leased");
    let failed = Attempt {
        n: 1,
        started_ms: T0,
        latency_ms: 120,
        outcome: "failed".into(),
        error_class: Some("transient".into()),
        status_code: Some(503),
        message: Some("upstream busy".into()),
    };
    store
        .record_attempt(&lease, &failed)
        .await
        .expect("attempt 1");
    store
        .retry_later(&lease, T0 + 1_000, "upstream busy")
        .await
        .expect("retry");

    let lease2 = two.lease.clone().expect("leased");
    store
        .record_attempt(&lease2, &applied(1, T0))
        .await
        .expect("attempt");
    store
        .start_confirm(&lease2, "ns_2", T0)
        .await
        .expect("applied");
    let again = store.claim_due(T0, 10, "w1", 30_000).await.expect("claim");
    let lease2 = again[0].lease.clone().expect("leased");
    store.confirmed(&lease2, "ns_2").await.expect("confirmed");

    let again = store
        .claim_due(T0 + 1_000, 10, "w1", 30_000)
        .await
        .expect("claim");
    let lease = again[0].lease.clone().expect("leased");
    store
        .record_attempt(&lease, &applied(2, T0 + 1_000))
        .await
        .expect("attempt 2");
    store
        .start_confirm(&lease, "ns_1", T0 + 1_000)
        .await
        .expect("applied");
    let again = store
        .claim_due(T0 + 1_000, 10, "w1", 30_000)
        .await
        .expect("claim");
    let lease = again[0].lease.clone().expect("leased");
    let payload = json!({ "status": "active", "email": MASKED_EMAIL }).to_string();
    let letter = store
        .dead_letter(&lease, "not confirmed", &payload)
        .await
        .expect("dead letter");
    Fixture {
        dir,
        url,
        store,
        letter,
    }
}

fn applied(n: i32, started_ms: i64) -> Attempt {
    Attempt {
        n,
        started_ms,
        latency_ms: 85,
        outcome: "applied".into(),
        error_class: None,
        status_code: Some(200),
        message: None,
    }
}

/// Receives a Stripe change and plans its NetSuite write the way the planner does: the
/// delivery holds the document as mapped, the `planned` audit entry holds it masked.
async fn receive_and_plan(store: &Store, event: &str, key: &str) {
    let document = json!({ "status": "active", "email": EMAIL });
    let change = NewChange {
        pipeline: PIPELINE.into(),
        source: "stripe".into(),
        source_event_id: event.into(),
        object: "subscription".into(),
        key: key.into(),
        operation: crate::store::Operation::Update,
        before: None,
        after: Some(document.to_string()),
        occurred_at_ms: T0 - 5_000,
        effective_at_ms: Some(T0 + 86_400_000),
        source_version: 1,
        metadata: "{}".into(),
        correlation_id: format!("corr-{event}"),
    };
    let intake = store.intake(&[change]).await.expect("intake");
    let idempotency_key = format!("jn-{event}");
    let delivery = NewDelivery {
        pipeline: PIPELINE.into(),
        route: ROUTE.into(),
        target: "netsuite".into(),
        object: "subscription".into(),
        key: key.into(),
        operation: crate::store::Operation::Update,
        document: document.to_string(),
        effective_at_ms: Some(T0 + 86_400_000),
        occurred_at_ms: T0 - 5_000,
        source_version: 1,
        idempotency_key: idempotency_key.clone(),
        priority: 0,
        not_before_ms: None,
        state: InitialState::Pending,
        correlation_id: format!("corr-{event}"),
        confirm: Some(ConfirmSpec {
            fields: vec!["status".into()],
            within_ms: 30_000,
        }),
        max_attempts: 3,
        on_behalf_of: None,
    };
    let planned = NewAudit {
        pipeline: PIPELINE.into(),
        correlation_id: format!("corr-{event}"),
        object: "subscription".into(),
        key: key.into(),
        event_id: Some(event.into()),
        change_id: None,
        delivery_id: None,
        idempotency_key: Some(idempotency_key),
        kind: AuditKind::Planned,
        detail: json!({
            "route": ROUTE,
            "target": "netsuite",
            "document": { "status": "active", "email": MASKED_EMAIL },
            "effective_at_ms": T0 + 86_400_000,
            "not_before_ms": null,
        }),
    };
    store
        .commit_plan(intake[0].change_id(), vec![delivery], vec![planned])
        .await
        .expect("plan");
}

/// What a command printed, and its exit code.
pub(super) struct Output {
    pub(super) code: ExitCode,
    pub(super) text: String,
}

impl Output {
    pub(super) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text).expect("the output is JSON")
    }
}

/// Runs a command function against `store`, capturing what it writes.
pub(super) async fn capture<F>(store: &Store, command: F) -> anyhow::Result<Output>
where
    F: AsyncFnOnce(&Store, &mut dyn std::io::Write) -> anyhow::Result<ExitCode>,
{
    let mut buffer = Vec::new();
    let code = command(store, &mut buffer).await?;
    let text = String::from_utf8(buffer).expect("UTF-8 output");
    assert!(!text.contains(EMAIL), "the raw e-mail leaked:\n{text}");
    Ok(Output { code, text })
}

/// A read-only open of the fixture's store, as the read commands do.
pub(super) async fn reader(url: &str) -> Store {
    open(url, Access::Read).await.expect("open read-only")
}
