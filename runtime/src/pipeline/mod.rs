//! The engine: intake -> plan -> deliver -> confirm -> settle, for every loaded pipeline.
//!
//! ```text
//! webhook/poll -> connector.receive -> canonical check -> intake (group commit) -> 2xx
//!   planner:   unplanned changes -> ownership, when, gates, map, key, timer -> deliveries
//!   delivery:  claim lane heads -> apply -> (job) -> read-back -> confirmed | retry | dead letter
//! ```
//!
//! Every step is a durable state in the store, so a crash at any instant resumes where it was:
//! an unplanned change is planned again (idempotently), a delivery whose lease expired is
//! claimed again and written under the same idempotency key.
//!
//! Time is [`Options::clock`], shared with the store and the connector instances: a durable
//! timer, a back-off, a lease is a due time in the store, compared with that clock when work is
//! claimed. The loops' tokio sleeps only pace how often they look; they decide nothing.

mod deliver;
pub mod expr;
pub mod gates;
pub mod instances;
pub mod intake;
pub mod metrics;
pub mod planner;
pub mod reconcile;
pub mod recover;
pub mod review;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use crate::config::{Plan, Trigger};
use crate::host::{CallContext, Connector, Host};
use crate::services::clock::Clock;
use crate::services::masking::{HashKey, Masker};
use crate::store::{Delivery, Store};
pub use intake::IntakeQueue;
pub use metrics::Metrics;

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A connector module failed to load.
    #[error("pipeline `{pipeline}`, connector `{connector}`: {source}")]
    Module {
        /// Pipeline name.
        pipeline: String,
        /// Connector name.
        connector: String,
        /// Why.
        source: crate::host::Error,
    },
    /// A connector's credentials cannot be set up.
    #[error("pipeline `{pipeline}`, connector `{connector}`: {reason}")]
    Auth {
        /// Pipeline name.
        pipeline: String,
        /// Connector name.
        connector: String,
        /// Why.
        reason: String,
    },
}

/// Tuning for the workers.
#[derive(Debug, Clone)]
pub struct Options {
    /// This worker's id in leases.
    pub worker_id: String,
    /// How long a claimed delivery stays ours before another worker may take it.
    pub lease: Duration,
    /// Deliveries worked on at once.
    pub max_in_flight: usize,
    /// Where "now" comes from, for the engine, its store and its connector instances alike:
    /// due times, leases, back-off, job patience, confirmation deadlines, token expiry, the
    /// guest's `now()`. The system clock; a [`crate::services::clock::ManualClock`] in tests.
    pub clock: Clock,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            worker_id: format!("w-{}", hex::encode(rand::random::<[u8; 4]>())),
            lease: Duration::from_secs(30),
            max_in_flight: 64,
            clock: Clock::system(),
        }
    }
}

/// One webhook endpoint: which pipeline and source connector it feeds.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Pipeline name.
    pub pipeline: String,
    /// Source connector name.
    pub connector: String,
}

/// The running engine. Shared by the server and the workers.
pub struct Engine {
    /// The durable store.
    pub store: Store,
    /// Metrics.
    pub metrics: Metrics,
    /// The intake committer.
    pub intake: IntakeQueue,
    plans: Vec<Plan>,
    connectors: HashMap<(String, String), Connector>,
    limiters: HashMap<(String, String), Arc<DefaultDirectRateLimiter>>,
    maskers: HashMap<String, Arc<Masker>>,
    endpoints: HashMap<String, Endpoint>,
    options: Options,
    wake_planner: Arc<Notify>,
    wake_delivery: Arc<Notify>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field(
                "pipelines",
                &self.plans.iter().map(|p| &p.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Engine {
    /// Loads every pipeline's connectors and opens intake. The store, and every connector
    /// instance, are given `options.clock`, so all of them agree on "now".
    pub async fn new(
        plans: Vec<Plan>,
        store: Store,
        host: &Host,
        options: Options,
    ) -> Result<Arc<Self>, Error> {
        let mut connectors = HashMap::new();
        let mut limiters = HashMap::new();
        let mut maskers = HashMap::new();
        let mut endpoints = HashMap::new();
        let store = store.with_clock(options.clock.clone());
        for plan in &plans {
            let mut literals = Vec::new();
            let mut live = Vec::new();
            for (name, c) in &plan.connectors {
                let module = host
                    .load(&c.module.to_string(), instances::module_base(&plan.file))
                    .await
                    .map_err(|source| Error::Module {
                        pipeline: plan.name.clone(),
                        connector: name.clone(),
                        source,
                    })?;
                let mut spec =
                    instances::instance_spec(c, &options.clock).map_err(|reason| Error::Auth {
                        pipeline: plan.name.clone(),
                        connector: name.clone(),
                        reason,
                    })?;
                spec.masking_key = HashKey::of(&plan.masking);
                literals.extend(spec.secret_values());
                live.extend(spec.live_secrets());
                literals.extend(
                    c.settings
                        .values()
                        .filter(|s| matches!(s, crate::config::Setting::Sensitive(_)))
                        .map(|s| s.expose().to_string()),
                );
                if let Some(rate) = c.limits.rate {
                    if let Some(quota) = quota(rate.count, rate.per) {
                        limiters.insert(
                            (plan.name.clone(), name.clone()),
                            Arc::new(RateLimiter::direct(quota)),
                        );
                    }
                }
                connectors.insert(
                    (plan.name.clone(), name.clone()),
                    host.instantiate(module, spec),
                );
            }
            maskers.insert(
                plan.name.clone(),
                Arc::new(
                    Masker::with_literals(literals)
                        .with_live(live)
                        .with_key(HashKey::of(&plan.masking)),
                ),
            );
            for source in &plan.sources {
                if let Trigger::Webhook(path) = &source.trigger {
                    endpoints.insert(
                        path.clone(),
                        Endpoint {
                            pipeline: plan.name.clone(),
                            connector: source.connector.clone(),
                        },
                    );
                }
            }
        }
        let wake_planner = Arc::new(Notify::new());
        let notify = wake_planner.clone();
        let intake = IntakeQueue::start(store.clone(), move || notify.notify_one());
        Ok(Arc::new(Self {
            store,
            metrics: Metrics::default(),
            intake,
            plans,
            connectors,
            limiters,
            maskers,
            endpoints,
            options,
            wake_planner,
            wake_delivery: Arc::new(Notify::new()),
        }))
    }

    /// The clock every decision reads (shared with the store and the connector instances).
    pub fn clock(&self) -> &Clock {
        &self.options.clock
    }

    /// Now, by the engine's clock, in milliseconds since the Unix epoch.
    pub(crate) fn now(&self) -> i64 {
        self.options.clock.now_ms()
    }

    /// The plans being run.
    pub fn plans(&self) -> &[Plan] {
        &self.plans
    }

    /// The plan of a pipeline.
    pub fn plan(&self, pipeline: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.name == pipeline)
    }

    /// A pipeline's connector instance.
    pub fn connector(&self, pipeline: &str, name: &str) -> Option<Connector> {
        self.connectors
            .get(&(pipeline.to_string(), name.to_string()))
            .cloned()
    }

    /// The webhook endpoints, by path.
    pub fn endpoints(&self) -> &HashMap<String, Endpoint> {
        &self.endpoints
    }

    /// The masker for a pipeline's free text (its secrets and sensitive settings).
    pub fn masker(&self, pipeline: &str) -> Arc<Masker> {
        self.maskers.get(pipeline).cloned().unwrap_or_default()
    }

    fn limiter(&self, pipeline: &str, connector: &str) -> Option<Arc<DefaultDirectRateLimiter>> {
        self.limiters
            .get(&(pipeline.to_string(), connector.to_string()))
            .cloned()
    }

    /// Starts the planner, the delivery loop and the pollers; they run until `shutdown` fires.
    ///
    /// Several workers may run on one PostgreSQL store: each listens for the others' wake-ups,
    /// plans and delivers (claims never overlap), and the pollers run on the one worker that
    /// holds the `poll` leadership, taken over by another when it dies.
    pub fn spawn_workers(self: &Arc<Self>, shutdown: Arc<Notify>) -> JoinSet<()> {
        let mut set = JoinSet::new();
        let (engine, stop) = (self.clone(), shutdown.clone());
        set.spawn(async move {
            let wake = crate::store::Wakeups {
                changes: engine.wake_planner.clone(),
                deliveries: engine.wake_delivery.clone(),
            };
            match engine.store.listen(wake).await {
                Ok(Some(listening)) => {
                    stop.notified().await;
                    listening.abort();
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(
                    error = %e,
                    "cannot listen for other workers; relying on polling alone"
                ),
            }
        });
        let leadership = self.store.leadership("poll");
        let leader = leadership.watch();
        let stop = shutdown.clone();
        set.spawn(async move {
            // Held until shutdown; dropping it steps down.
            stop.notified().await;
            drop(leadership);
        });
        // Held writes are swept by one worker; the others release what their own planning
        // unblocks (`plan_some`).
        let gates = self.store.leadership("gates");
        let (engine, stop) = (self.clone(), shutdown.clone());
        let gates_leader = gates.watch();
        set.spawn(async move {
            engine.gates_loop(stop, gates_leader).await;
            // Dropping it steps down.
            drop(gates);
        });
        if self.plans.iter().any(|p| !p.reconcile.is_empty()) {
            let (engine, stop) = (self.clone(), shutdown.clone());
            let leadership = self.store.leadership("reconcile");
            set.spawn(async move { engine.reconcile_loop(stop, leadership).await });
        }
        let engine = self.clone();
        let stop = shutdown.clone();
        set.spawn(async move { engine.planner_loop(stop).await });
        let engine = self.clone();
        let stop = shutdown.clone();
        set.spawn(async move { engine.delivery_loop(stop).await });
        for plan in &self.plans {
            for source in &plan.sources {
                if let Trigger::Poll(every) = source.trigger {
                    for object in &source.objects {
                        let (engine, stop) = (self.clone(), shutdown.clone());
                        let (pipeline, connector, object) =
                            (plan.name.clone(), source.connector.clone(), object.clone());
                        let leader = leader.clone();
                        set.spawn(async move {
                            engine
                                .poll_loop(stop, leader, pipeline, connector, object, every)
                                .await
                        });
                    }
                }
            }
        }
        set
    }

    async fn planner_loop(self: Arc<Self>, stop: Arc<Notify>) {
        loop {
            let planned = match self.plan_some().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "planning failed; retrying");
                    0
                }
            };
            if planned > 0 {
                self.wake_delivery.notify_one();
                continue;
            }
            tokio::select! {
                () = stop.notified() => return,
                () = self.wake_planner.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    }

    /// Plans up to a batch of unplanned changes; returns how many.
    pub async fn plan_some(&self) -> Result<usize, crate::store::Error> {
        let lease_ms = self.options.lease.as_millis() as i64;
        let changes = self
            .store
            .claim_unplanned(256, &self.options.worker_id, lease_ms)
            .await?;
        let n = changes.len();
        for change in changes {
            let (deliveries, audit) = match self.plan(&change.pipeline) {
                Some(plan) => {
                    let mut owners = planner::OwnerChanges::new();
                    for owner in planner::owners_to_consult(plan, &change) {
                        if let Some(latest) = self
                            .store
                            .latest_change_from(
                                &change.pipeline,
                                &owner,
                                (&change.object, &change.key),
                                change.id,
                            )
                            .await?
                        {
                            owners.insert(owner, latest);
                        }
                    }
                    planner::plan_change(plan, &change, &owners, self.now())
                }
                None => (
                    vec![],
                    vec![change.audit(
                        crate::store::AuditKind::Suppressed,
                        None,
                        serde_json::json!({
                            "reason": format!("pipeline `{}` is not loaded", change.pipeline)
                        }),
                    )],
                ),
            };
            let committed = self.store.commit_plan(change.id, deliveries, audit).await?;
            // A newer change of an entity with held writes may satisfy their gate: re-check
            // them now, so the released write goes first in its lane.
            if !committed.already_planned
                && self
                    .plan(&change.pipeline)
                    .is_some_and(|p| !p.gates.is_empty())
                && self.recheck_entity(&change).await? > 0
            {
                self.wake_delivery.notify_one();
            }
        }
        Ok(n)
    }

    /// Claims up to `limit` (at most 128) deliveries due by the engine's clock, each leased to
    /// this worker for [`Options::lease`] from now.
    async fn claim(&self, limit: usize) -> Result<Vec<Delivery>, crate::store::Error> {
        self.store
            .claim_due(
                self.now(),
                limit.min(128) as u32,
                &self.options.worker_id,
                self.options.lease.as_millis() as i64,
            )
            .await
    }

    /// Claims the deliveries due now by the engine's clock and works each one to its next
    /// durable state (written, awaiting its job, confirmed, retried later, dead-lettered), one
    /// after another; returns how many. The delivery loop does the same with up to
    /// [`Options::max_in_flight`] at once; this is the step a test drives on manual time.
    pub async fn deliver_due(self: &Arc<Self>) -> Result<usize, crate::store::Error> {
        let claimed = self.claim(self.options.max_in_flight).await?;
        let n = claimed.len();
        for d in claimed {
            self.work(d).await;
        }
        Ok(n)
    }

    async fn delivery_loop(self: Arc<Self>, stop: Arc<Notify>) {
        let slots = Arc::new(Semaphore::new(self.options.max_in_flight));
        loop {
            let free = slots.available_permits();
            let claimed = if free == 0 {
                Vec::new()
            } else {
                match self.claim(free).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(error = %e, "claiming deliveries failed; retrying");
                        Vec::new()
                    }
                }
            };
            let busy = !claimed.is_empty();
            for d in claimed {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let engine = self.clone();
                tokio::spawn(async move {
                    engine.work(d).await;
                    drop(permit);
                    engine.wake_delivery.notify_one();
                });
            }
            if busy {
                continue;
            }
            tokio::select! {
                () = stop.notified() => return,
                () = self.wake_delivery.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    }

    async fn poll_loop(
        self: Arc<Self>,
        stop: Arc<Notify>,
        mut leader: tokio::sync::watch::Receiver<bool>,
        pipeline: String,
        connector_name: String,
        object: String,
        every: Duration,
    ) {
        let Some(connector) = self.connector(&pipeline, &connector_name) else {
            return;
        };
        loop {
            // Only the leader polls, so one cursor advances in one place.
            if !*leader.borrow_and_update() {
                tokio::select! {
                    () = stop.notified() => return,
                    led = leader.wait_for(|leads| *leads) => if led.is_err() { return },
                }
                continue;
            }
            let mut wait = every;
            match self.store.cursor(&pipeline, &connector_name, &object).await {
                Ok(cursor) => {
                    let called = connector
                        .poll(&CallContext::default(), &object, cursor.as_deref(), 100)
                        .await;
                    match called.result {
                        Ok(page) => {
                            let changes: Vec<_> = page
                                .changes
                                .into_iter()
                                .map(|c| intake::new_change(&pipeline, &connector_name, c))
                                .collect();
                            let next = page.next_cursor.or(cursor).unwrap_or_default();
                            match self
                                .store
                                .intake_polled(&changes, &pipeline, &connector_name, &object, &next)
                                .await
                            {
                                Ok(_) => {
                                    self.wake_planner.notify_one();
                                    if page.has_more {
                                        wait = Duration::ZERO;
                                    }
                                }
                                Err(e) => {
                                    tracing::error!(%pipeline, connector = %connector_name, error = %e, "storing polled changes failed")
                                }
                            }
                        }
                        Err(e) => {
                            tracing::warn!(%pipeline, connector = %connector_name, %object, error = %e, "poll failed; trying again next interval")
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "reading the poll cursor failed"),
            }
            tokio::select! {
                () = stop.notified() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

fn quota(count: u32, per: Duration) -> Option<Quota> {
    let count = NonZeroU32::new(count)?;
    let period = per.checked_div(count.get())?;
    Quota::with_period(period).map(|q| q.allow_burst(count))
}
