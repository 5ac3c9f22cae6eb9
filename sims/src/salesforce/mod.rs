//! A stateful Salesforce REST API simulator (per `shared/vendors/salesforce.md`, "the fact
//! sheet"): OAuth 2.0 client credentials, sObject CRUD and upsert by external id, sObject
//! Collections, SOQL with query-more paging, the daily API limit, and the shared faults.
//!
//! ```text
//! /services/...            -> edge (faults)
//!   /services/oauth2/token                        -> oauth  -> Auth
//!   /services/data/                               -> versions (no auth, no limit header)
//!   /services/data/vXX.X/... -> api (version -> session -> daily limit -> Sforce-Limit-Info)
//!                            -> sobjects | collections | query            -> Store
//! /_sim/...                -> control (no auth, no faults)                -> Store, Auth, Clock
//! ```
//!
//! Every record write goes through [`store::Store`], which checks a save in Salesforce's
//! order (fields, required, validation rules, unique indexes) and stamps it from the simulated
//! [`clock::Clock`], which tests advance instead of sleeping (token expiry, the rolling 24-hour
//! API limit, `SystemModstamp`).

mod clock;
mod collections;
mod control;
mod error;
mod gate;
mod ids;
mod oauth;
mod query;
mod schema;
mod sobjects;
mod soql;
mod store;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::routing::{get, post};
use serde_json::{Map, Value};
use tokio::sync::oneshot;

pub use error::{ApiError, ErrorItem};
pub use schema::{Condition, FieldDef, Kind, ObjectDef, Schema, ValidationRule};
pub use store::{AppliedWrite, SalesforceStats, WriteAction};

use crate::faults::{Fault, FaultState};
use oauth::Auth;
use query::Cursors;
use store::Store;

/// What the simulator accepts and where it listens.
#[derive(Debug, Clone)]
pub struct SalesforceSimConfig {
    /// `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// The connected app's consumer key.
    pub client_id: String,
    /// The consumer secret; [`SalesforceSim::rotate_client_secret`] changes it.
    pub client_secret: String,
    /// API versions served under `/services/data/vXX.X/`, as `"62.0"`.
    pub api_versions: Vec<String>,
    /// How long an access token lives from issue (Session Settings "Timeout Value").
    pub session_timeout: Duration,
    /// Requests allowed per rolling 24 hours (`DailyApiRequests`).
    pub daily_api_limit: u64,
    /// The token response's `scope`.
    pub scope: String,
    /// The org's objects and fields.
    pub schema: Schema,
    /// Seeds the fault dice and the tokens.
    pub seed: u64,
    /// Where the simulated clock starts (ms since the epoch); wall time when `None`.
    pub start_ms: Option<i64>,
}

impl Default for SalesforceSimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            client_id: "sim-consumer-key".into(),
            client_secret: "sim-consumer-secret".into(),
            api_versions: vec!["62.0".into()],
            session_timeout: Duration::from_secs(2 * 3600),
            daily_api_limit: 100_000,
            scope: "api".into(),
            schema: Schema::default(),
            seed: 0,
            start_ms: None,
        }
    }
}

/// Calls counted toward the daily limit, by simulated time, over a rolling 24 hours.
#[derive(Debug)]
struct Usage {
    limit: u64,
    calls: VecDeque<i64>,
}

impl Usage {
    const WINDOW_MS: i64 = 24 * 3600 * 1000;

    fn used(&mut self, now_ms: i64) -> u64 {
        while self
            .calls
            .front()
            .is_some_and(|t| *t <= now_ms - Self::WINDOW_MS)
        {
            self.calls.pop_front();
        }
        self.calls.len() as u64
    }
}

/// State shared by every handler.
#[derive(Debug)]
struct Shared {
    config: SalesforceSimConfig,
    base: String,
    org_id: String,
    clock: clock::Clock,
    faults: FaultState,
    store: Mutex<Store>,
    auth: Mutex<Auth>,
    usage: Mutex<Usage>,
    cursors: Mutex<Cursors>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking handler must not take the whole simulator down with a poisoned lock.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        locked(&self.store)
    }

    fn auth(&self) -> MutexGuard<'_, Auth> {
        locked(&self.auth)
    }

    fn usage(&self) -> MutexGuard<'_, Usage> {
        locked(&self.usage)
    }

    fn count(&self, bump: impl FnOnce(&mut SalesforceStats)) {
        bump(&mut self.store().stats);
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The silent-drop fault for one write request.
    fn roll_drop(&self) -> bool {
        self.faults.strikes(Fault::SilentDrop)
    }

    /// The error-after-write fault: the write is in, the client sees a 500.
    fn lose_answer(&self) -> Option<ApiError> {
        self.faults.strikes(Fault::ErrorAfterWrite).then(|| {
            self.count(|s| s.errors_after_write += 1);
            ApiError::unknown("simulated-after-write")
        })
    }
}

fn app(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/services/data/{v}", get(sobjects::resources))
        .route("/services/data/{v}/", get(sobjects::resources))
        .route("/services/data/{v}/limits", get(sobjects::limits))
        .route("/services/data/{v}/limits/", get(sobjects::limits))
        .route(
            "/services/data/{v}/sobjects/{object}",
            post(sobjects::create),
        )
        .route(
            "/services/data/{v}/sobjects/{object}/",
            post(sobjects::create),
        )
        .route(
            "/services/data/{v}/sobjects/{object}/{id}",
            get(sobjects::retrieve)
                .post(sobjects::create_by_id_field)
                .patch(sobjects::update)
                .delete(sobjects::delete),
        )
        .route(
            "/services/data/{v}/sobjects/{object}/{field}/{value}",
            get(sobjects::retrieve_by_external_id)
                .patch(sobjects::upsert)
                .delete(sobjects::delete_by_external_id),
        )
        .route(
            "/services/data/{v}/composite/sobjects",
            post(collections::create)
                .patch(collections::update)
                .delete(collections::delete),
        )
        .route(
            "/services/data/{v}/composite/sobjects/{object}",
            get(collections::retrieve).post(collections::retrieve_post),
        )
        .route(
            "/services/data/{v}/composite/sobjects/{object}/{field}",
            axum::routing::patch(collections::upsert),
        )
        .route("/services/data/{v}/query", get(query::query))
        .route("/services/data/{v}/query/", get(query::query))
        .route("/services/data/{v}/queryAll", get(query::query_all))
        .route("/services/data/{v}/queryAll/", get(query::query_all))
        .route("/services/data/{v}/query/{locator}", get(query::more))
        .route("/services/data/{v}/queryAll/{locator}", get(query::more))
        .route(
            "/services/data/{v}/{*rest}",
            axum::routing::any(gate::not_found),
        )
        .method_not_allowed_fallback(gate::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            gate::api,
        ));
    let services = Router::new()
        .route("/services/oauth2/token", post(oauth::token))
        .route("/services/data", get(sobjects::versions))
        .route("/services/data/", get(sobjects::versions))
        .merge(api)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            gate::edge,
        ));
    services.nest("/_sim", control::router()).with_state(shared)
}

/// A running simulator; it stops when dropped.
#[derive(Debug)]
pub struct SalesforceSim {
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl SalesforceSim {
    /// Binds `config.listen` and serves until dropped.
    pub async fn start(config: SalesforceSimConfig) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding the Salesforce simulator to {}", config.listen))?;
        let base = format!("http://{}", listener.local_addr()?);
        let org_id = ids::make("00D", 1);
        let user_id = ids::make("005", 1);
        let shared = Arc::new(Shared {
            base,
            org_id: org_id.clone(),
            clock: clock::Clock::new(config.start_ms),
            faults: FaultState::new(config.seed),
            store: Mutex::new(Store::new(config.schema.clone(), user_id)),
            auth: Mutex::new(Auth::new(&config)),
            usage: Mutex::new(Usage {
                limit: config.daily_api_limit,
                calls: VecDeque::new(),
            }),
            cursors: Mutex::new(Cursors::default()),
            config,
        });
        let (shutdown, stopped) = oneshot::channel::<()>();
        let app = app(Arc::clone(&shared));
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "Salesforce simulator stopped");
            }
        });
        Ok(Self {
            shared,
            shutdown: Some(shutdown),
        })
    }

    /// `http://127.0.0.1:PORT`: the token endpoint's host and the `instance_url` it returns.
    pub fn base_url(&self) -> &str {
        &self.shared.base
    }

    /// `{base}/services/oauth2/token`.
    pub fn token_url(&self) -> String {
        format!("{}/services/oauth2/token", self.shared.base)
    }

    pub fn config(&self) -> &SalesforceSimConfig {
        &self.shared.config
    }

    pub fn faults(&self) -> &FaultState {
        &self.shared.faults
    }

    /// The org id (`00D...`) and the integration user's id (`005...`) writes are made as.
    pub fn org_id(&self) -> &str {
        &self.shared.org_id
    }

    pub fn user_id(&self) -> String {
        self.shared.store().user_id.clone()
    }

    /// Moves the simulated clock forward (token expiry, the daily window, timestamps).
    pub fn advance_clock(&self, secs: i64) {
        self.shared.clock.advance(secs);
    }

    /// The simulated time, ms since the epoch.
    pub fn now_ms(&self) -> i64 {
        self.shared.now_ms()
    }

    /// Revokes every access token issued so far: their next use gets 401.
    pub fn revoke_tokens(&self) {
        self.shared.auth().revoke_all();
    }

    /// Replaces the consumer secret: token requests with the old one fail `invalid_client`.
    /// Tokens already issued stay valid.
    pub fn rotate_client_secret(&self, secret: &str) {
        self.shared.auth().client_secret = secret.to_owned();
    }

    /// Refuses the next `writes` writes to this record with `UNABLE_TO_LOCK_ROW`.
    pub fn lock_record(&self, id: &str, writes: u32) {
        self.shared.store().lock(id, writes);
    }

    /// Activates a validation rule.
    pub fn add_validation_rule(&self, rule: ValidationRule) {
        self.shared.store().rules.push(rule);
    }

    pub fn clear_validation_rules(&self) {
        self.shared.store().rules.clear();
    }

    /// Changes the daily API request limit.
    pub fn set_daily_api_limit(&self, limit: u64) {
        self.shared.usage().limit = limit;
    }

    /// Calls counted in the last 24 hours, as `Sforce-Limit-Info` reports them.
    pub fn api_usage(&self) -> u64 {
        self.shared.usage().used(self.shared.now_ms())
    }

    /// Adds a record as if the org already held it (checked like a create; not counted as a
    /// write). Body as the REST API takes it; returns the id.
    pub fn seed_record(&self, object: &str, body: Value) -> Result<String, ApiError> {
        let body = body.as_object().cloned().unwrap_or_default();
        let now = self.shared.now_ms();
        self.shared.store().seed(object, &body, now)
    }

    /// A user's edit of record `id` in Salesforce's UI (not through the API): the fields in
    /// `body` change and SystemModstamp moves, so a poll sees it.
    pub fn edit_record(&self, object: &str, id: &str, body: Value) -> Result<(), ApiError> {
        let body = body.as_object().cloned().unwrap_or_default();
        let now = self.shared.now_ms();
        self.shared.store().edit(object, id, &body, now)
    }

    /// The live record of `object` whose external-id `field` is `value`, as retrieve shows it
    /// (the first, when several match).
    pub fn record(&self, object: &str, field: &str, value: &str) -> Option<Value> {
        let store = self.shared.store();
        let od = store.schema.object(object)?.clone();
        let fd = od.find(field)?.clone();
        let id = store
            .matching(&od, &fd, &Value::String(value.to_owned()))
            .into_iter()
            .next()?;
        let rec = store.get(&od.name, &id)?;
        Some(store.render(rec, &od.all_names(), self.latest_version()))
    }

    /// A record by id (deleted ones too, with `IsDeleted: true`).
    pub fn record_by_id(&self, id: &str) -> Option<Value> {
        let id = ids::normalize(id)?;
        let store = self.shared.store();
        let od = store.schema.by_prefix(&id[..3])?.clone();
        let rec = store.get(&od.name, &id)?;
        Some(store.render(rec, &od.all_names(), self.latest_version()))
    }

    /// Every live record of an object, in creation order.
    pub fn records(&self, object: &str) -> Vec<Value> {
        let store = self.shared.store();
        let Some(od) = store.schema.object(object).cloned() else {
            return Vec::new();
        };
        store
            .live(&od.name)
            .map(|r| store.render(r, &od.all_names(), self.latest_version()))
            .collect()
    }

    /// Every write that changed state, in order.
    pub fn applied_writes(&self) -> Vec<AppliedWrite> {
        self.shared.store().applied().to_vec()
    }

    pub fn stats(&self) -> SalesforceStats {
        self.shared.store().stats.clone()
    }

    fn latest_version(&self) -> &str {
        self.shared
            .config
            .api_versions
            .last()
            .map_or("62.0", String::as_str)
    }
}

impl Drop for SalesforceSim {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// A JSON object body as a map (empty when the value is not an object).
fn as_map(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// `"62.0"` -> 62.
fn major(version: &str) -> u32 {
    version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}
