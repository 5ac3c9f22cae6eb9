//! A stateful simulator of the Stripe API subset Junction uses (customers, prices,
//! subscriptions, events, signed webhooks, idempotency), faithful to
//! `shared/vendors/stripe.md`, with switchable faults.
//!
//! Layers of a `/v1` request, outermost first: request id and header echo, faults (never on
//! `/_sim`), auth, idempotency (which also lets a write finish when the client hangs up), then the
//! handler, which validates, mutates the [`store::Store`] under one lock and emits events. Events
//! flow to the webhook task in creation order. Tests drive business scenarios through the Rust
//! methods here or, from another process, through the `/_sim/` control API.

mod calendar;
mod control;
mod error;
mod form;
mod http;
mod idempotency;
mod list;
mod middleware;
mod store;
mod subscriptions;
#[cfg(test)]
mod tests;
mod webhooks;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};
use tokio::task::JoinHandle;

use super::faults::FaultState;
pub use error::ApiError;
pub use store::{Origin, StripeStats};
pub use subscriptions::{ItemChange, SubChange};
pub use webhooks::sign_payload;

/// The account's default API version (stripe-node 23's pinned version).
pub const DEFAULT_API_VERSION: &str = "2026-10-28.endive";

/// Where events are delivered.
#[derive(Debug, Clone)]
pub struct WebhookEndpoint {
    /// The receiver's URL.
    pub url: String,
    /// The signing secret (`whsec_...`).
    pub secret: String,
}

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct StripeSimConfig {
    /// The secret key requests must carry as `Authorization: Bearer <key>`.
    pub api_key: String,
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Seeds ids, fault dice and webhook shuffling.
    pub seed: u64,
    /// Optional webhook endpoint.
    pub webhook: Option<WebhookEndpoint>,
    /// Default `Stripe-Version`; events are rendered in it.
    pub api_version: String,
    /// Webhook retries after a failed first attempt.
    pub webhook_retries: u32,
    /// Wait before the first retry; doubles each time.
    pub webhook_retry_base: Duration,
}

impl Default for StripeSimConfig {
    fn default() -> Self {
        Self {
            api_key: "sk_test_junction".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: 0,
            webhook: None,
            api_version: DEFAULT_API_VERSION.into(),
            webhook_retries: 3,
            webhook_retry_base: Duration::from_millis(200),
        }
    }
}

/// Everything a running simulator shares between its handlers, its background tasks and the
/// scenario API.
pub struct SimState {
    config: StripeSimConfig,
    store: Mutex<store::Store>,
    faults: FaultState,
    idempotency: idempotency::Keys,
    clock_offset: AtomicI64,
    /// The second the clock stands still at ([`SimState::freeze_clock`]), or [`RUNNING`].
    clock_frozen_at: AtomicI64,
    http: reqwest::Client,
}

/// [`SimState::clock_frozen_at`] while the clock runs.
const RUNNING: i64 = i64::MIN;

/// The order in which [`SimState::release_webhooks`] delivers the events it held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Release {
    /// In creation order, as Stripe usually delivers.
    AsCreated,
    /// Newest first: the out-of-order delivery Stripe warns about, made deterministic.
    Reversed,
}

impl SimState {
    fn store(&self) -> MutexGuard<'_, store::Store> {
        // A panic elsewhere must not wedge the simulator for the rest of a test run.
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The simulated clock: wall time (or the second it was frozen at) plus the offset set by
    /// [`SimState::advance_clock`].
    pub fn now(&self) -> i64 {
        let base = match self.clock_frozen_at.load(Ordering::Relaxed) {
            RUNNING => wall_secs(),
            frozen => frozen,
        };
        base + self.clock_offset.load(Ordering::Relaxed)
    }

    /// Stops the simulated clock at the current second until [`SimState::resume_clock`]
    /// (`advance_clock` still moves it); returns that second. Every action meanwhile happens
    /// within one second, and its events share one `created`: Stripe gives an event's
    /// `created` in whole seconds (API reference, "The Event object" > `created`: "Measured
    /// in seconds since the Unix epoch"), so two changes made in one second tie. Webhook
    /// signatures keep using the wall clock.
    pub fn freeze_clock(&self) -> i64 {
        let _ = self.clock_frozen_at.compare_exchange(
            RUNNING,
            wall_secs(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        self.now()
    }

    /// Lets the simulated clock run again (it jumps to wall time plus the offset; it never goes
    /// back, since the frozen second was taken from wall time).
    pub fn resume_clock(&self) {
        self.clock_frozen_at.store(RUNNING, Ordering::Relaxed);
    }

    /// Holds every event created from now on back from webhook delivery, until
    /// [`SimState::release_webhooks`].
    pub fn hold_webhooks(&self) {
        self.store().hold();
    }

    /// Delivers the held events in `order` and ends the hold; returns their ids in delivery
    /// order. Stripe "doesn't guarantee delivery of events in the order in which they're
    /// generated" (docs.stripe.com/webhooks, "Best practices for using webhooks" > "Event
    /// ordering"): [`Release::Reversed`] is that case made repeatable (the `shuffle_webhooks`
    /// fault is its random form). Each first attempt still waits for the previous one's answer,
    /// so the receiver gets them in exactly this order unless one fails and is retried.
    pub fn release_webhooks(&self, order: Release) -> Vec<String> {
        self.store().release(order == Release::Reversed)
    }

    /// Locks the store after letting due renewals and cancellations happen.
    fn begin(&self) -> (MutexGuard<'_, store::Store>, i64) {
        let now = self.now();
        let mut store = self.store();
        store.tick(now);
        (store, now)
    }

    fn request_id(&self) -> String {
        format!("req_{}", &self.store().id("x")[2..16])
    }

    /// Runs a scenario action as if made in the Dashboard: it has a request id, no key.
    fn act<T>(
        &self,
        f: impl FnOnce(&mut store::Store, &Origin, i64) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let origin = Origin {
            request_id: Some(self.request_id()),
            idempotency_key: None,
        };
        let (mut store, now) = self.begin();
        f(&mut store, &origin, now)
    }

    /// The fault switches.
    pub fn faults(&self) -> &FaultState {
        &self.faults
    }

    /// Creates a customer; returns its id.
    pub fn create_customer(&self, email: &str, name: &str) -> Result<String, ApiError> {
        let fields = Map::from_iter([
            ("email".to_owned(), json!(email)),
            ("name".to_owned(), json!(name)),
        ]);
        self.act(|s, o, now| {
            Ok(s.create_customer(fields, None, o, now)["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned())
        })
    }

    /// Changes a customer as the Dashboard or the customer portal would (`name`, `email`,
    /// `phone`); emits `customer.updated` with the previous values when something changed.
    pub fn update_customer(&self, id: &str, fields: Map<String, Value>) -> Result<Value, ApiError> {
        self.act(|s, o, now| s.update_customer(id, fields, None, o, now))
    }

    /// Creates a recurring price (`interval`: day, week, month or year) of a new product;
    /// returns its id.
    pub fn create_price(
        &self,
        unit_amount: i64,
        currency: &str,
        interval: &str,
    ) -> Result<String, ApiError> {
        self.new_price(None, unit_amount, currency, interval)
    }

    /// Creates a recurring price of an existing product (`prod_...`, the product of another
    /// price: see [`StripeSim::product_of`]); returns its id.
    pub fn create_price_of(
        &self,
        product: &str,
        unit_amount: i64,
        currency: &str,
        interval: &str,
    ) -> Result<String, ApiError> {
        self.new_price(Some(product), unit_amount, currency, interval)
    }

    fn new_price(
        &self,
        product: Option<&str>,
        unit_amount: i64,
        currency: &str,
        interval: &str,
    ) -> Result<String, ApiError> {
        if !["day", "week", "month", "year"].contains(&interval) {
            return Err(ApiError::invalid(
                format!("Invalid recurring[interval]: {interval}"),
                "recurring[interval]",
            ));
        }
        let spec = store::PriceSpec {
            currency: currency.to_lowercase(),
            unit_amount,
            recurring: Some((interval.to_owned(), 1)),
            product: product.map(str::to_owned),
            nickname: None,
            metadata: None,
        };
        self.act(|s, o, now| {
            Ok(s.create_price(spec, o, now)["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned())
        })
    }

    /// The product (`prod_...`) a price belongs to.
    pub fn product_of(&self, price: &str) -> Option<String> {
        self.act(|s, _, _| {
            Ok(s.prices
                .get(price)
                .and_then(|p| p["product"].as_str())
                .map(str::to_owned))
        })
        .ok()
        .flatten()
    }

    /// Creates an active subscription with `(price, quantity)` items; returns its id.
    pub fn create_subscription(
        &self,
        customer: &str,
        items: &[(&str, u64)],
    ) -> Result<String, ApiError> {
        let items: Vec<(String, u64)> = items.iter().map(|(p, q)| ((*p).to_owned(), *q)).collect();
        self.act(|s, o, now| s.create_subscription(customer, &items, &SubChange::default(), o, now))
    }

    /// Applies any change, as `POST /v1/subscriptions/{id}` would; returns the subscription.
    pub fn update_subscription(&self, id: &str, change: &SubChange) -> Result<Value, ApiError> {
        self.act(|s, o, now| {
            s.update_subscription(id, change, o, now)?;
            Ok(s.render_sub(s.sub(id)?, &s.api_version))
        })
    }

    fn first_item(&self, sub: &str) -> Result<String, ApiError> {
        self.store()
            .item_ids(sub)?
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::missing_param("items"))
    }

    /// Moves the first item to another price (an upgrade or downgrade).
    pub fn update_subscription_price(&self, sub: &str, price: &str) -> Result<Value, ApiError> {
        let item = ItemChange {
            id: Some(self.first_item(sub)?),
            price: Some(price.to_owned()),
            ..ItemChange::default()
        };
        self.update_subscription(
            sub,
            &SubChange {
                items: vec![item],
                ..SubChange::default()
            },
        )
    }

    /// Sets the first item's quantity.
    pub fn update_subscription_quantity(
        &self,
        sub: &str,
        quantity: u64,
    ) -> Result<Value, ApiError> {
        let item = ItemChange {
            id: Some(self.first_item(sub)?),
            quantity: Some(quantity),
            ..ItemChange::default()
        };
        self.update_subscription(
            sub,
            &SubChange {
                items: vec![item],
                ..SubChange::default()
            },
        )
    }

    /// Schedules cancellation at the end of the current period.
    pub fn cancel_at_period_end(&self, sub: &str) -> Result<Value, ApiError> {
        self.update_subscription(
            sub,
            &SubChange {
                cancel_at_period_end: Some(true),
                ..SubChange::default()
            },
        )
    }

    /// Cancels immediately.
    pub fn cancel_now(&self, sub: &str) -> Result<Value, ApiError> {
        self.act(|s, o, now| {
            s.cancel_subscription(sub, o, now)?;
            Ok(s.render_sub(s.sub(sub)?, &s.api_version))
        })
    }

    /// Moves the simulated clock forward, then renews and ends what became due.
    pub fn advance_clock(&self, secs: i64) {
        self.clock_offset.fetch_add(secs, Ordering::Relaxed);
        drop(self.begin());
    }

    /// A subscription in the account's default API version.
    pub fn subscription(&self, id: &str) -> Result<Value, ApiError> {
        let (store, _) = self.begin();
        Ok(store.render_sub(store.sub(id)?, &store.api_version))
    }

    /// Adds `n` customers without events or requests (benchmarks); `each(i)` gives the
    /// e-mail and name of the `i`th. Answers their ids, oldest first.
    pub fn seed_customers(
        &self,
        n: usize,
        each: impl Fn(usize) -> (String, String),
    ) -> Vec<String> {
        let (mut store, now) = self.begin();
        (0..n)
            .map(|i| {
                let (email, name) = each(i);
                store.seed_customer(&email, &name, now)
            })
            .collect()
    }

    /// A customer.
    pub fn customer(&self, id: &str) -> Result<Value, ApiError> {
        self.begin().0.customer(id).cloned()
    }

    /// Every event so far, oldest first.
    pub fn events(&self) -> Vec<Value> {
        self.begin().0.events.clone()
    }

    /// Counters.
    pub fn stats(&self) -> StripeStats {
        self.store().stats.clone()
    }

    /// How many writes were executed against one object.
    pub fn mutations(&self, id: &str) -> u64 {
        self.store().stats.mutations.get(id).copied().unwrap_or(0)
    }
}

fn wall_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A running simulator. Dropping it stops the server and its background tasks.
pub struct StripeSim {
    state: Arc<SimState>,
    addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl StripeSim {
    /// Binds `config.listen` and starts serving.
    pub async fn start(config: StripeSimConfig) -> anyhow::Result<StripeSim> {
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let webhook_tx = config.webhook.is_some().then_some(tx);
        let state = Arc::new(SimState {
            store: Mutex::new(store::Store::new(
                StdRng::seed_from_u64(config.seed),
                config.api_version.clone(),
                webhook_tx,
            )),
            faults: FaultState::new(config.seed),
            idempotency: idempotency::Keys::default(),
            clock_offset: AtomicI64::new(0),
            clock_frozen_at: AtomicI64::new(RUNNING),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            config,
        });
        let app = http::app(state.clone());
        let mut tasks = vec![tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "stripe simulator stopped");
            }
        })];
        tasks.push(webhooks::spawn(state.clone(), rx));
        let ticker = state.clone();
        // Renewals and scheduled cancellations happen on their own, as on Stripe.
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                drop(ticker.begin());
            }
        }));
        Ok(StripeSim { state, addr, tasks })
    }

    /// `http://127.0.0.1:<port>`: point a Stripe client's base URL here.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The shared state, for handing to other tasks.
    pub fn state(&self) -> Arc<SimState> {
        self.state.clone()
    }
}

impl std::ops::Deref for StripeSim {
    type Target = SimState;

    /// The scenario API (`create_customer`, `cancel_now`, `faults`, ...) lives on the state.
    fn deref(&self) -> &SimState {
        &self.state
    }
}

impl Drop for StripeSim {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
