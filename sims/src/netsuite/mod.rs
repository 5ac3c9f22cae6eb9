//! A stateful NetSuite SuiteTalk REST simulator (per `shared/vendors/netsuite.md`): records
//! `customer` and `subscription`, TBA and OAuth 2.0 login, async jobs with idempotency keys, and
//! switchable faults.
//!
//! ```text
//! /services/rest/...  -> gate (concurrency cap -> faults -> login) -> routes | jobs -> Store
//! /_sim/...           -> control (no auth, no faults)                          -> Store
//! ```
//!
//! Every write, synchronous or settled from an async job, goes through `Store::execute`, which
//! validates like NetSuite, rolls the write faults and logs writes that changed state. Async jobs
//! settle lazily: whenever the state is next looked at, every job older than
//! `async_pending_ms` is applied in submission order.

mod billing;
mod control;
mod error;
mod gate;
mod invoicing;
mod jobs;
mod m2m;
mod routes;
mod schema;
mod store;
mod tba;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use axum::Router;
use axum::routing::{any, get};
use serde_json::Value;
use tokio::sync::{Semaphore, oneshot};

pub use error::{INVALID_LOGIN_DETAIL, SimResponse};
pub use invoicing::{Invoice, InvoiceLine};
pub use jobs::JobInfo;
pub use m2m::{M2mClient, M2mState};
pub use store::{AppliedWrite, SimStats, WriteAction};
pub use tba::{TbaCredentials, TbaError, Verifier, percent_encode, tba_authorization_header};

use crate::faults::FaultState;
use schema::RecordType;
use store::{Store, Target};

/// What the simulator accepts and where it listens.
#[derive(Debug, Clone)]
pub struct NetSuiteSimConfig {
    /// The account id, also the TBA `realm` (`1234567`, or `1234567_SB1` for a sandbox).
    pub account: String,
    pub consumer_key: String,
    pub consumer_secret: String,
    pub token_id: String,
    pub token_secret: String,
    /// The OAuth 2.0 access token accepted as `Authorization: Bearer`; `None` refuses bearers.
    pub bearer_token: Option<String>,
    /// `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// Seeds the fault dice.
    pub seed: u64,
    /// Requests allowed in flight at once; more get 429 (NetSuite's per-account concurrency).
    pub max_concurrent: Option<usize>,
    /// Custom fields the account defines; a body with any other `cust*` field is refused
    /// under `X-NetSuite-PropertyNameValidation: error`.
    pub custom_fields: Vec<String>,
    /// The OAuth 2.0 machine-to-machine mapping; `None`: the token endpoint refuses every
    /// client.
    pub m2m: Option<M2mClient>,
}

/// The internal ids of the SuiteBilling setup every simulated account starts with (what an
/// operator creates once; docs/netsuite-mapping.md "Account setup"): a subscription plan whose
/// members are the items added with [`NetSuiteSim::add_item`], its price book, a monthly
/// billing schedule and an evergreen initial term.
pub mod setup {
    pub const SUBSCRIPTION_PLAN: &str = "11";
    pub const PRICE_BOOK: &str = "12";
    pub const BILLING_SCHEDULE: &str = "13";
    pub const INITIAL_TERM: &str = "14";
}

impl Default for NetSuiteSimConfig {
    fn default() -> Self {
        Self {
            account: "1234567".into(),
            consumer_key: "sim-consumer-key".into(),
            consumer_secret: "sim-consumer-secret".into(),
            token_id: "sim-token-id".into(),
            token_secret: "sim-token-secret".into(),
            bearer_token: Some("sim-bearer-token".into()),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: 0,
            max_concurrent: None,
            custom_fields: Vec::new(),
            m2m: None,
        }
    }
}

impl NetSuiteSimConfig {
    /// The TBA credentials a client needs to log in.
    pub fn tba_credentials(&self) -> TbaCredentials {
        TbaCredentials {
            account: self.account.clone(),
            consumer_key: self.consumer_key.clone(),
            consumer_secret: self.consumer_secret.clone(),
            token_id: self.token_id.clone(),
            token_secret: self.token_secret.clone(),
        }
    }
}

/// State shared by every handler.
#[derive(Debug)]
struct Shared {
    faults: FaultState,
    store: Mutex<Store>,
    verifier: Verifier,
    bearer: Option<String>,
    slots: Option<Arc<Semaphore>>,
    m2m: M2mState,
    m2m_client: Option<M2mClient>,
    base: String,
}

impl Shared {
    /// The store, with due async jobs settled first.
    fn store(&self) -> MutexGuard<'_, Store> {
        // A panicking handler must not take the whole simulator down with a poisoned lock.
        let mut store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        store.settle_due(&self.faults);
        store
    }

    fn count(&self, bump: impl FnOnce(&mut SimStats)) {
        bump(
            &mut self
                .store
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .stats,
        );
    }
}

fn app(shared: Arc<Shared>) -> Router {
    let rest = Router::new()
        .route(
            "/services/rest/record/v1/{type}",
            get(routes::list).post(routes::create),
        )
        .route(
            "/services/rest/record/v1/{type}/{id}",
            get(routes::get_one)
                .patch(routes::patch)
                .put(routes::put)
                .delete(routes::delete),
        )
        .route("/services/rest/async/v1/job/{id}", get(jobs::job))
        .route("/services/rest/async/v1/job/{id}/task", get(jobs::tasks))
        .route("/services/rest/async/v1/job/{id}/task/", get(jobs::tasks))
        .route(
            "/services/rest/async/v1/job/{id}/task/{task}",
            get(jobs::task),
        )
        .route(
            "/services/rest/async/v1/job/{id}/task/{task}/result",
            get(jobs::result),
        )
        .route("/services/rest/{*rest}", any(routes::unknown))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            gate::gate,
        ));
    // The token endpoint takes no Authorization: the client proves itself by its assertion.
    let token = Router::new().route(m2m::TOKEN_PATH, axum::routing::post(m2m::token));
    rest.merge(token)
        .merge(control::router())
        .with_state(shared)
}

/// A running simulator; it stops when dropped.
#[derive(Debug)]
pub struct NetSuiteSim {
    shared: Arc<Shared>,
    config: NetSuiteSimConfig,
    base: String,
    shutdown: Option<oneshot::Sender<()>>,
}

impl NetSuiteSim {
    /// Binds `config.listen` and serves until dropped.
    pub async fn start(config: NetSuiteSimConfig) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding the NetSuite simulator to {}", config.listen))?;
        let base = format!("http://{}", listener.local_addr()?);
        let mut store = Store::new(base.clone());
        store.custom_fields = config.custom_fields.clone();
        seed_setup(&mut store);
        let shared = Arc::new(Shared {
            faults: FaultState::new(config.seed),
            store: Mutex::new(store),
            verifier: Verifier::new(config.tba_credentials()),
            bearer: config.bearer_token.clone(),
            slots: config.max_concurrent.map(|n| Arc::new(Semaphore::new(n))),
            m2m: M2mState::default(),
            m2m_client: config.m2m.clone(),
            base: base.clone(),
        });
        let (shutdown, stopped) = oneshot::channel::<()>();
        let app = app(Arc::clone(&shared));
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "NetSuite simulator stopped");
            }
        });
        Ok(Self {
            shared,
            config,
            base,
            shutdown: Some(shutdown),
        })
    }

    /// `http://127.0.0.1:PORT`; clients append `/services/rest/...`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn config(&self) -> &NetSuiteSimConfig {
        &self.config
    }

    pub fn tba_credentials(&self) -> TbaCredentials {
        self.config.tba_credentials()
    }

    pub fn faults(&self) -> &FaultState {
        &self.shared.faults
    }

    /// The record with this external id, as `GET ...?expandSubResources=true` returns it.
    pub fn record(&self, record_type: &str, external_id: &str) -> Option<Value> {
        let rt = RecordType::parse(record_type)?;
        let store = self.shared.store();
        store
            .find(rt, &Target::External(external_id.to_owned()))
            .map(|r| store.present(rt, r, true))
    }

    /// Every record of a type, in internal-id order (empty for a type the simulator lacks).
    pub fn records(&self, record_type: &str) -> Vec<Value> {
        let Some(rt) = RecordType::parse(record_type) else {
            return Vec::new();
        };
        let store = self.shared.store();
        store.all(rt).map(|r| store.present(rt, r, true)).collect()
    }

    /// Adds a service sale item to the account's catalog and to the setup's subscription
    /// plan, as the operator's own setup does (Junction writes no items): `external_id` is what
    /// pipelines reference (a Stripe product id).
    pub fn add_item(&self, external_id: &str, name: &str) -> String {
        let mut fields = serde_json::Map::new();
        fields.insert("itemId".into(), Value::String(name.to_owned()));
        let mut store = self.shared.store();
        let item = store.seed(RecordType::ServiceSaleItem, external_id, fields);
        store.add_plan_member(setup::SUBSCRIPTION_PLAN.parse().unwrap_or_default(), item);
        item.to_string()
    }

    /// Runs billing operations through `bill_through` (`YYYY-MM-DD`), as an operator does
    /// (Transactions > Billing > Process Billing Operations): invoices every subscription
    /// charge due by then and not invoiced yet. Answers the new invoices (`invoicing.rs`).
    pub fn bill_run(&self, bill_through: &str) -> Vec<Invoice> {
        self.shared.store().bill_run(bill_through)
    }

    /// Every invoice bill runs made, oldest first.
    pub fn invoices(&self) -> Vec<Invoice> {
        self.shared.store().invoices.clone()
    }

    /// Adds a customer the way the account's users (or another integration) would: a source
    /// that reports no customers (Cleverbridge) bills subscriptions to customers NetSuite
    /// already has, under External ID = the source's customer id.
    pub fn add_customer(&self, external_id: &str, name: &str, currency: &str) -> String {
        let mut fields = serde_json::Map::new();
        fields.insert("companyName".into(), Value::String(name.to_owned()));
        fields.insert(
            "currency".into(),
            serde_json::json!({"refName": currency.to_ascii_uppercase()}),
        );
        let mut store = self.shared.store();
        store
            .seed(RecordType::Customer, external_id, fields)
            .to_string()
    }

    /// Changes a record's body fields in place, as a user editing it in the UI would: no write
    /// is logged, no fault rolled (drift for reconciliation). False if there is no such record.
    pub fn edit_record(
        &self,
        record_type: &str,
        external_id: &str,
        edit: impl FnOnce(&mut serde_json::Map<String, Value>),
    ) -> bool {
        let Some(rt) = RecordType::parse(record_type) else {
            return false;
        };
        let mut store = self.shared.store();
        match store.find_external_mut(rt, external_id) {
            Some(rec) => {
                edit(&mut rec.fields);
                true
            }
            None => false,
        }
    }

    /// Deletes a record as a user would: no write is logged (drift for reconciliation).
    pub fn remove_record(&self, record_type: &str, external_id: &str) -> bool {
        RecordType::parse(record_type)
            .is_some_and(|rt| self.shared.store().remove_external(rt, external_id))
    }

    /// Adds many customers at once, without the per-record checks `add_customer` makes (for
    /// benchmarks: `each(i)` gives the external id, name and e-mail of the `i`th).
    pub fn seed_customers(&self, n: usize, each: impl Fn(usize) -> (String, String, String)) {
        let mut store = self.shared.store();
        for i in 0..n {
            let (external_id, name, email) = each(i);
            let mut fields = serde_json::Map::new();
            fields.insert("companyName".into(), Value::String(name));
            fields.insert("email".into(), Value::String(email));
            store.insert_record(RecordType::Customer, Some(external_id), fields);
        }
    }

    /// Every write that changed state, in order.
    pub fn applied_writes(&self) -> Vec<AppliedWrite> {
        self.shared.store().applied().to_vec()
    }

    pub fn jobs(&self) -> Vec<JobInfo> {
        self.shared.store().job_infos()
    }

    pub fn stats(&self) -> SimStats {
        self.shared.store().stats.clone()
    }

    /// The OAuth 2.0 machine-to-machine side: issued tokens, the clock they expire on, token
    /// requests received, and the revocation switches.
    pub fn m2m(&self) -> &M2mState {
        &self.shared.m2m
    }

    /// The token endpoint's URL (also the `aud` an assertion must name).
    pub fn token_url(&self) -> String {
        format!("{}{}", self.base, m2m::TOKEN_PATH)
    }
}

/// The account's SuiteBilling setup records (see [`setup`]).
fn seed_setup(store: &mut Store) {
    let named = |pairs: &[(&str, Value)]| -> serde_json::Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    };
    let id = |s: &str| s.parse::<u64>().unwrap_or_default();
    store.seed_at(
        RecordType::SubscriptionTerm,
        id(setup::INITIAL_TERM),
        None,
        named(&[("name", Value::from("Evergreen"))]),
    );
    store.seed_at(
        RecordType::BillingSchedule,
        id(setup::BILLING_SCHEDULE),
        None,
        named(&[("name", Value::from("Monthly"))]),
    );
    store.seed_at(
        RecordType::SubscriptionPlan,
        id(setup::SUBSCRIPTION_PLAN),
        None,
        named(&[
            ("itemId", Value::from("Junction plan")),
            (
                "initialTerm",
                serde_json::json!({"id": setup::INITIAL_TERM}),
            ),
            ("member", serde_json::json!({"items": []})),
        ]),
    );
    store.seed_at(
        RecordType::PriceBook,
        id(setup::PRICE_BOOK),
        None,
        named(&[
            ("name", Value::from("Standard")),
            (
                "subscriptionPlan",
                serde_json::json!({"id": setup::SUBSCRIPTION_PLAN}),
            ),
        ]),
    );
}

impl Drop for NetSuiteSim {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// `2026-01-15T10:20:00Z` (UTC, seconds).
fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        day_secs / 3600,
        day_secs % 3600 / 60,
        day_secs % 60
    )
}
