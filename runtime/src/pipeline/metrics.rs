//! Typed metrics, rendered in Prometheus text format at `/metrics`. Labels stay
//! low-cardinality: pipeline, route, connector, outcome, error class; never an entity key.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::store::Stats;

/// Intake labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IntakeLabels {
    /// Pipeline name.
    pub pipeline: String,
    /// accepted, duplicate, invalid, failed.
    pub outcome: String,
}

/// Attempt labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    /// Pipeline name.
    pub pipeline: String,
    /// Route name.
    pub route: String,
    /// applied, accepted, failed.
    pub outcome: String,
    /// The error class, or `none`.
    pub error_class: String,
}

/// Per-route labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// Pipeline name.
    pub pipeline: String,
    /// Route name.
    pub route: String,
}

/// Per reconcile job labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    /// Pipeline name.
    pub pipeline: String,
    /// Reconcile job name.
    pub job: String,
}

/// Reconcile run labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RunLabels {
    /// Pipeline name.
    pub pipeline: String,
    /// Reconcile job name.
    pub job: String,
    /// ok, failed.
    pub outcome: String,
}

/// Every metric Junction exports.
pub struct Metrics {
    registry: Registry,
    /// Webhook changes by outcome.
    pub intake: Family<IntakeLabels, Counter>,
    /// Delivery attempts by outcome and error class.
    pub attempts: Family<AttemptLabels, Counter>,
    /// From the first attempt to confirmed read-back, seconds.
    pub confirm_latency: Family<RouteLabels, Histogram>,
    /// Deliveries dead-lettered.
    pub dead_lettered: Family<RouteLabels, Counter>,
    /// Deliveries confirmed.
    pub confirmed: Family<RouteLabels, Counter>,
    /// Entities out of sync at the last reconciliation, per job.
    pub reconcile_out_of_sync: Family<JobLabels, Gauge>,
    /// Repairs stored by reconciliation, per job.
    pub reconcile_repairs: Family<JobLabels, Counter>,
    /// Reconciliation runs by outcome.
    pub reconcile_runs: Family<RunLabels, Counter>,
    /// Unsettled deliveries older than their route's confirmation window, per route.
    pub deliveries_overdue: Family<RouteLabels, Gauge>,
    pending: Gauge,
    held: Gauge,
    review: Gauge,
    in_flight: Gauge,
    dead: Gauge,
    oldest_pending_age_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("junction");
        let intake = Family::<IntakeLabels, Counter>::default();
        let attempts = Family::<AttemptLabels, Counter>::default();
        let confirm_latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
            ])
        });
        let dead_lettered = Family::<RouteLabels, Counter>::default();
        let confirmed = Family::<RouteLabels, Counter>::default();
        registry.register(
            "intake_changes",
            "Changes received by webhook or poll, by outcome",
            intake.clone(),
        );
        registry.register(
            "delivery_attempts",
            "Write attempts by outcome and error class",
            attempts.clone(),
        );
        registry.register(
            "confirm_latency_seconds",
            "From first attempt to confirmed read-back",
            confirm_latency.clone(),
        );
        registry.register(
            "dead_lettered",
            "Deliveries dead-lettered",
            dead_lettered.clone(),
        );
        registry.register(
            "confirmed",
            "Deliveries confirmed by read-back",
            confirmed.clone(),
        );
        let reconcile_out_of_sync = Family::<JobLabels, Gauge>::default();
        let reconcile_repairs = Family::<JobLabels, Counter>::default();
        let reconcile_runs = Family::<RunLabels, Counter>::default();
        let deliveries_overdue = Family::<RouteLabels, Gauge>::default();
        registry.register(
            "reconcile_out_of_sync",
            "Entities out of sync (missing, extra or differing) at the last reconciliation",
            reconcile_out_of_sync.clone(),
        );
        registry.register(
            "reconcile_repairs",
            "Repairs reconciliation sent through the route from the owner",
            reconcile_repairs.clone(),
        );
        registry.register(
            "reconcile_runs",
            "Reconciliation runs by outcome",
            reconcile_runs.clone(),
        );
        registry.register(
            "deliveries_overdue",
            "Unsettled deliveries older than their route's confirmation window (confirm.within)",
            deliveries_overdue.clone(),
        );
        let (pending, held, in_flight, dead) = (
            Gauge::default(),
            Gauge::default(),
            Gauge::default(),
            Gauge::default(),
        );
        let oldest = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "deliveries_pending",
            "Deliveries waiting to be written",
            pending.clone(),
        );
        registry.register(
            "deliveries_held",
            "Deliveries held by a gate or an evaluation problem",
            held.clone(),
        );
        let review = Gauge::default();
        registry.register(
            "deliveries_in_review",
            "Deliveries waiting for an operator's review (red flags)",
            review.clone(),
        );
        registry.register(
            "deliveries_in_flight",
            "Deliveries being written, awaiting a job or confirming",
            in_flight.clone(),
        );
        registry.register("dead_letters", "Dead letters in the store", dead.clone());
        registry.register(
            "oldest_pending_age_seconds",
            "Age of the oldest unfinished delivery",
            oldest.clone(),
        );
        Self {
            registry,
            intake,
            attempts,
            confirm_latency,
            dead_lettered,
            confirmed,
            reconcile_out_of_sync,
            reconcile_repairs,
            reconcile_runs,
            deliveries_overdue,
            pending,
            held,
            review,
            in_flight,
            dead,
            oldest_pending_age_seconds: oldest,
        }
    }
}

impl Metrics {
    /// Counts one reconciliation run.
    pub fn reconcile_run(&self, job: &JobLabels, outcome: &str) {
        self.reconcile_runs
            .get_or_create(&RunLabels {
                pipeline: job.pipeline.clone(),
                job: job.job.clone(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Sets the overdue deliveries per route from the store's counts (`Store::overdue_by_route`);
    /// routes no longer overdue drop to zero.
    pub fn set_overdue(&self, rows: &[(String, String, i64)]) {
        self.deliveries_overdue.clear();
        for (pipeline, route, n) in rows {
            self.deliveries_overdue
                .get_or_create(&RouteLabels {
                    pipeline: pipeline.clone(),
                    route: route.clone(),
                })
                .set(*n);
        }
    }

    /// Renders the registry after refreshing the gauges from the store's counts.
    pub fn render(&self, stats: Option<&Stats>) -> String {
        if let Some(s) = stats {
            self.pending.set(s.pending as i64);
            self.held.set(s.held as i64);
            self.review.set(s.review);
            self.in_flight
                .set((s.in_flight + s.awaiting_job + s.confirming) as i64);
            self.dead.set(s.dead as i64);
            self.oldest_pending_age_seconds
                .set(s.oldest_pending_age_ms as f64 / 1000.0);
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.push_str("# metrics encoding failed\n");
        }
        out
    }
}
