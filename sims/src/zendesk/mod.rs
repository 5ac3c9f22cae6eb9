//! A stateful simulator of the Zendesk Support (Ticketing) API's tickets, written from
//! Zendesk's developer documentation (the sections named on each behaviour, summarised with
//! their sources in `docs/zendesk-mapping.md`): tickets with `external_id`, requester,
//! priority, tags, comments and custom fields; `Idempotency-Key` on ticket creation; cursor
//! pagination; the account's per-minute rate limit with `X-Rate-Limit` headers and 429 with
//! `Retry-After`; and the fault switches every simulator has (`crate::faults`).
//!
//! ```text
//! /api/v2/... -> gate (faults -> API token auth -> rate limit -> Accept/Content-Type) -> api -> Store
//! ```
//!
//! Where the documentation is silent the simulator takes the strictest reading, and says so.
//! Time is the simulator's own clock (wall time plus what a test advanced), so idempotency key
//! expiry and rate-limit minutes are tested without sleeping.

mod api;
mod store;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use anyhow::Context as _;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::faults::FaultState;
pub use store::{Comment, Ticket, ZendeskStats};

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct ZendeskSimConfig {
    /// The agent whose API token authenticates (Security and authentication: API token,
    /// `{email_address}/token:{api_token}` as HTTP Basic).
    pub email: String,
    pub api_token: String,
    /// `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// Seeds the fault dice.
    pub seed: u64,
    /// Requests per minute the account may make (Rate limits: plan limits start at 200 a
    /// minute; 700 is the Enterprise figure the Requests page's example headers show).
    pub rate_limit_per_minute: u32,
}

impl Default for ZendeskSimConfig {
    fn default() -> Self {
        Self {
            email: "junction@example.com".into(),
            api_token: "sim-zendesk-api-token".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: 0,
            rate_limit_per_minute: 700,
        }
    }
}

/// The simulator's clock: wall time plus an offset tests advance.
#[derive(Debug, Default)]
struct Clock {
    offset_secs: AtomicI64,
}

impl Clock {
    fn now(&self) -> i64 {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        wall + self.offset_secs.load(Ordering::SeqCst)
    }
}

#[derive(Debug)]
struct Shared {
    config: ZendeskSimConfig,
    base: String,
    store: Mutex<store::Store>,
    faults: FaultState,
    clock: Clock,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, store::Store> {
        // A panicking handler must not wedge the simulator for the rest of a run.
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running simulator; it stops when dropped.
#[derive(Debug)]
pub struct ZendeskSim {
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl ZendeskSim {
    /// Binds `config.listen` and serves until dropped.
    pub async fn start(config: ZendeskSimConfig) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding the Zendesk simulator to {}", config.listen))?;
        let base = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            faults: FaultState::new(config.seed),
            store: Mutex::new(store::Store::default()),
            clock: Clock::default(),
            base,
            config,
        });
        let (shutdown, stopped) = oneshot::channel::<()>();
        let app = api::app(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "Zendesk simulator stopped");
            }
        });
        Ok(Self {
            shared,
            shutdown: Some(shutdown),
            task,
        })
    }

    /// `http://127.0.0.1:PORT`, standing for `https://SUBDOMAIN.zendesk.com`.
    pub fn base_url(&self) -> &str {
        &self.shared.base
    }

    pub fn config(&self) -> &ZendeskSimConfig {
        &self.shared.config
    }

    pub fn faults(&self) -> &FaultState {
        &self.shared.faults
    }

    /// Moves the simulator's clock forward (idempotency key expiry, rate-limit minutes).
    pub fn advance_clock(&self, secs: i64) {
        self.shared
            .clock
            .offset_secs
            .fetch_add(secs, Ordering::SeqCst);
    }

    /// A custom ticket field an admin created (Ticket Fields > Create Ticket Field); its id.
    pub fn add_ticket_field(&self, title: &str, kind: &str) -> u64 {
        self.shared.lock().add_field(title, kind)
    }

    /// Every ticket, by id.
    pub fn tickets(&self) -> Vec<Ticket> {
        self.shared.lock().tickets.values().cloned().collect()
    }

    /// The tickets with this external id.
    pub fn tickets_with_external_id(&self, external_id: &str) -> Vec<Ticket> {
        self.shared
            .lock()
            .tickets
            .values()
            .filter(|t| t.external_id.as_deref() == Some(external_id))
            .cloned()
            .collect()
    }

    /// A ticket as the API renders it.
    pub fn ticket_json(&self, id: u64) -> Option<Value> {
        let store = self.shared.lock();
        store
            .tickets
            .get(&id)
            .map(|t| store.render(t, &self.shared.base))
    }

    /// The e-mail addresses of the users that requested tickets (end users Zendesk created).
    pub fn requester_email(&self, ticket: u64) -> Option<String> {
        let store = self.shared.lock();
        let t = store.tickets.get(&ticket)?;
        store.users.get(&t.requester_id?).cloned()
    }

    /// An agent changes a ticket's status in the agent interface (solving or closing it).
    pub fn set_status(&self, ticket: u64, status: &str) -> bool {
        let mut store = self.shared.lock();
        match store.tickets.get_mut(&ticket) {
            Some(t) => {
                t.status = status.to_string();
                true
            }
            None => false,
        }
    }

    /// The `Idempotency-Key`s of the ticket creations remembered now (not yet expired).
    pub fn idempotency_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.shared.lock().idempotency.keys().cloned().collect();
        keys.sort();
        keys
    }

    pub fn stats(&self) -> ZendeskStats {
        self.shared.lock().stats.clone()
    }
}

impl Drop for ZendeskSim {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.task.abort();
    }
}
