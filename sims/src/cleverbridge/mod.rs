//! A stateful simulator of Cleverbridge's Subscription REST API (per
//! `shared/vendors/cleverbridge.md`, "the fact sheet"): products, customers and subscriptions
//! with versioned items, price and quantity changes with alignment, deactivation and
//! reinstatement, renewal type and billing date changes, renewals on a simulated clock, JSON
//! notifications with two-hourly retries, and switchable faults.
//!
//! ```text
//! /subscription/<operation> -> gate (faults -> Basic auth -> Accept/Content-Type) -> routes -> Store
//! /_sim/...                 -> control (no auth, no faults)                               -> Store
//! Store --(queued notifications)--> notify task --POST JSON--> the configured URL
//! ```
//!
//! Time moves only by the simulated clock: whenever the state is looked at, `Store::tick`
//! applies what fell due since (renewals at next billing dates, Grace turning into Hold), in
//! time order, so a test that advances a month sees exactly one renewal.

mod clock;
mod control;
mod error;
mod gate;
mod model;
mod money;
mod notify;
mod render;
mod routes;
mod store;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use crate::faults::FaultState;
pub use clock::{parse_rfc3339, rfc3339};
pub use error::CbError;
pub use model::{
    CbStats, CustomerSpec, ItemSpec, ItemStatus, NotificationInfo, Order, OrderItem, OrderKind,
    ProductSpec, RenewalType, SubStatus, SubscriptionSpec,
};
pub use money::Taxes;

/// How the receiver of notifications authenticates them. Cleverbridge documents no signature
/// for HTTPS notifications (fact sheet §5: "not found in public material"); the operator's own
/// credentials, as Basic auth or a header, are the assumption this simulator makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationAuth {
    None,
    Basic { user: String, password: String },
    Header { name: String, value: String },
}

/// Where notifications are POSTed (Web Admin: Configure > Tools > Notifications, HTTPS, JSON).
#[derive(Debug, Clone)]
pub struct NotificationEndpoint {
    pub url: String,
    pub auth: NotificationAuth,
}

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct CleverbridgeSimConfig {
    /// The API user (fact sheet §1: HTTP Basic, privilege "API User").
    pub user: String,
    pub password: String,
    /// `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// Seeds the fault dice.
    pub seed: u64,
    pub notifications: Option<NotificationEndpoint>,
    /// The simulated clock's first second; wall time when `None`.
    pub start_at: Option<i64>,
    /// The clock stands still unless advanced (tests); otherwise it runs with wall time.
    pub frozen_clock: bool,
    /// The client account's payment reminder time frame: `SubscriptionReminderChargeNotification`
    /// this many days before each automatic renewal (set up by Client Experience; `None`: off).
    pub reminder_days: Option<u32>,
}

impl Default for CleverbridgeSimConfig {
    fn default() -> Self {
        Self {
            user: "junction-api".into(),
            password: "sim-password".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: 0,
            notifications: None,
            start_at: None,
            frozen_clock: false,
            reminder_days: None,
        }
    }
}

/// State shared by handlers, the notification task and the handle.
#[derive(Debug)]
struct Shared {
    config: CleverbridgeSimConfig,
    store: Mutex<store::Store>,
    faults: FaultState,
    clock: clock::Clock,
    http: reqwest::Client,
    /// Wakes the notification task (something was queued, released, or the clock moved).
    wake: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, store::Store> {
        // A panicking handler must not wedge the simulator for the rest of a run.
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The store with everything due by now applied, and now.
    fn begin(&self) -> (MutexGuard<'_, store::Store>, i64) {
        let now = self.clock.now();
        let mut store = self.lock();
        store.tick(now);
        (store, now)
    }

    /// Runs a setup or inspection action, then lets the notification task look.
    fn act<T>(&self, f: impl FnOnce(&mut store::Store, i64) -> T) -> T {
        let (mut store, now) = self.begin();
        let out = f(&mut store, now);
        drop(store);
        self.wake.notify_one();
        out
    }
}

/// A running simulator; it stops when dropped.
#[derive(Debug)]
pub struct CleverbridgeSim {
    shared: Arc<Shared>,
    base: String,
    shutdown: Option<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl CleverbridgeSim {
    /// Binds `config.listen` and serves until dropped.
    pub async fn start(config: CleverbridgeSimConfig) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding the Cleverbridge simulator to {}", config.listen))?;
        let base = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            faults: FaultState::new(config.seed),
            clock: clock::Clock::new(config.start_at, config.frozen_clock),
            store: Mutex::new(store::Store::with_reminders(config.reminder_days)),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            wake: Notify::new(),
            config,
        });
        let (shutdown, stopped) = oneshot::channel::<()>();
        let app = routes::app(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "Cleverbridge simulator stopped");
            }
        });
        let tasks = vec![server, notify::spawn(Arc::clone(&shared))];
        Ok(Self {
            shared,
            base,
            shutdown: Some(shutdown),
            tasks,
        })
    }

    /// `http://127.0.0.1:PORT`; clients append `/subscription/<operation>`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn config(&self) -> &CleverbridgeSimConfig {
        &self.shared.config
    }

    pub fn faults(&self) -> &FaultState {
        &self.shared.faults
    }

    /// The simulated clock, seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        self.shared.clock.now()
    }

    /// Moves the simulated clock forward and applies what fell due (renewals, Grace ending,
    /// notification retries); returns the new time.
    pub fn advance_clock(&self, secs: i64) -> i64 {
        self.shared.clock.advance(secs);
        self.shared.act(|_, now| now)
    }

    pub fn freeze_clock(&self) -> i64 {
        self.shared.clock.freeze()
    }

    pub fn resume_clock(&self) -> i64 {
        self.shared.clock.resume()
    }

    /// A catalog product (Web Admin setup); returns its id.
    pub fn create_product(&self, spec: ProductSpec) -> Result<u64, CbError> {
        self.shared.act(|s, _| s.create_product(spec))
    }

    /// Stops or resumes selling a product (reinstating needs it sold: fact sheet §2).
    pub fn set_product_sold(&self, product: u64, sold: bool) -> Result<(), CbError> {
        self.shared.act(|s, _| s.set_product_sold(product, sold))
    }

    pub fn create_customer(&self, spec: CustomerSpec) -> u64 {
        self.shared.act(|s, _| s.create_customer(spec))
    }

    /// While set, the customer's renewal payments fail (Grace, then Hold).
    pub fn set_payment_fails(&self, customer: u64, fails: bool) -> Result<(), CbError> {
        self.shared.act(|s, _| s.set_payment_fails(customer, fails))
    }

    /// A completed checkout: the subscription, its first order and `PaidOrderNotification`.
    pub fn create_subscription(&self, spec: SubscriptionSpec) -> Result<u64, CbError> {
        self.shared.act(|s, now| s.create_subscription(spec, now))
    }

    /// The subscription as `getsubscription?isCurrent=false` shows it (every item version).
    pub fn subscription(&self, id: u64) -> Option<Value> {
        self.shared.act(|s, _| {
            let sub = s.subs.get(&id)?;
            Some(render::subscription(s, sub, false))
        })
    }

    /// Every order billed so far, oldest first.
    pub fn orders(&self) -> Vec<Order> {
        self.shared.act(|s, _| s.orders.clone())
    }

    /// The orders of one subscription, oldest first.
    pub fn orders_of(&self, subscription: u64) -> Vec<Order> {
        self.shared.act(|s, _| {
            s.orders
                .iter()
                .filter(|o| o.subscription_id == subscription)
                .cloned()
                .collect()
        })
    }

    /// A refund made in Web Admin: the subscription is Deactivated, `RefundNotification` sent.
    pub fn refund(&self, purchase_id: u64) -> Result<(), CbError> {
        self.shared.act(|s, now| s.refund(purchase_id, now))
    }

    /// Every notification so far with its delivery state, oldest first.
    pub fn notifications(&self) -> Vec<NotificationInfo> {
        self.shared.act(|s, _| s.notifications.clone())
    }

    /// Holds notifications queued from now on until [`CleverbridgeSim::release_notifications`].
    pub fn hold_notifications(&self) {
        self.shared.act(|s, _| s.holding = true);
    }

    /// Ends the hold and delivers what it held; returns their ids.
    pub fn release_notifications(&self) -> Vec<u64> {
        self.shared.act(|s, _| s.release())
    }

    pub fn stats(&self) -> CbStats {
        self.shared.lock().stats.clone()
    }
}

impl Drop for CleverbridgeSim {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        for task in &self.tasks {
            task.abort();
        }
    }
}
