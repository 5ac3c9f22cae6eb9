//! Reconciliation: list both sides of a `[reconcile.NAME]` job, compare the chosen fields,
//! report drift, and repair it through the route from the owner.
//!
//! ```text
//! owner.list ──> route (when, map) ──> target.expected ──> fields ─┐ hash   spill file (SQLite,
//! target.list ──────────────────────────────────────────> fields ─┘──────> key order, on disk)
//!                                              one ordered query ──> missing | extra | differing
//!   --repair: the owner's document as a `snapshot` change ──> intake ──> planner ──> delivery
//! ```
//!
//! The owner's document is compared as the target would keep it (the route's mapping, then the
//! target connector's `expected`, as confirmation does), so a target's precision is not drift.
//! Both sides are keyed by the owner's key: sinks report the source's id as their key
//! (external id), and where a target reports its own ids the store's xref translates them.
//! Memory stays flat in the entity count: a page at a time is in memory, everything else in a
//! temporary SQLite file walked by one ordered query; the report keeps the first differences
//! and counts the rest. Extra entities at the target are reported, never deleted.

mod spill;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use junction_connector_kit as kit;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use super::Engine;
use super::metrics::JobLabels;
use crate::config::{Mode, Plan, Reconcile, Route};
use crate::host::{CallContext, Connector};
use crate::services::masking::mask_document;
use crate::store::{
    self, InitialState, NewChange, Operation, Repair, RepairOutcome, RunCounts, RunTrigger,
    StoredChange,
};
use futures_util::TryStreamExt;
use spill::{Found, Row, Spill};

/// Why a reconciliation could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No loaded pipeline has a job of this name.
    #[error("no reconcile job `{name}`; known: {}", known_list(.known))]
    UnknownJob {
        /// The name asked for.
        name: String,
        /// The jobs the loaded pipelines declare.
        known: Vec<String>,
    },
    /// A connector cannot list the object.
    #[error("connector `{connector}` cannot list `{object}`: {reason}")]
    CannotList {
        /// The connector.
        connector: String,
        /// The object.
        object: String,
        /// Why.
        reason: String,
    },
    /// A side failed while being listed.
    #[error(
        "listing `{object}` at `{connector}` failed after {listed} entities ({pages} pages): {reason}"
    )]
    Listing {
        /// The connector.
        connector: String,
        /// The object.
        object: String,
        /// Entities listed before it failed.
        listed: u64,
        /// Pages listed before it failed.
        pages: u64,
        /// The error.
        reason: String,
    },
    /// Both sides failed while being listed.
    #[error("{0}; and {1}")]
    BothSides(Box<Error>, Box<Error>),
    /// The temporary spill file failed.
    #[error("the comparison's temporary file failed: {0}")]
    Spill(#[from] sqlx::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store::Error),
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        "none (no [reconcile.NAME] in the loaded pipelines)".to_owned()
    } else {
        known
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// How to run a job.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Repair drift through the route from the owner.
    pub repair: bool,
    /// Manual or scheduled.
    pub trigger: RunTrigger,
    /// Differences kept in the report (all are counted).
    pub show: usize,
    /// Where the temporary spill file goes (default: the system's temporary directory).
    pub spill_dir: Option<PathBuf>,
    /// Entities asked for per `list` call (connectors clamp it to what their vendor allows).
    pub page: u32,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            repair: false,
            trigger: RunTrigger::Manual,
            show: 100,
            spill_dir: None,
            page: 100,
        }
    }
}

/// Which side of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The system of record.
    Owner,
    /// The other one.
    Target,
}

/// Told how far a run got, for a progress bar.
pub trait Progress: Send + Sync {
    /// `total` entities listed so far at `side` (`connector`).
    fn listed(&self, side: Side, connector: &str, total: u64) {
        let _ = (side, connector, total);
    }
    /// Listing is done; the ordered comparison starts.
    fn comparing(&self) {}
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Default)]
pub struct Quiet;

impl Progress for Quiet {}

/// What kind of drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// At the owner, not at the target.
    Missing,
    /// At the target, not at the owner (reported, never deleted).
    Extra,
    /// At both, with different values.
    Differing,
}

/// One compared field that differs, both values masked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldDiff {
    /// The field.
    pub field: String,
    /// The owner's value, as the target would keep it.
    pub owner: Value,
    /// The target's value.
    pub target: Value,
}

/// One entity out of sync.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    /// The entity's key (the owner's).
    pub key: String,
    /// What kind.
    pub kind: DriftKind,
    /// The fields that differ (for `differing`), masked.
    pub fields: Vec<FieldDiff>,
    /// What the repair did, when repairing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repair: Option<RepairOutcome>,
}

/// Repairs by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RepairCounts {
    /// Stored as changes; the planner sends them through the route.
    pub queued: u64,
    /// Stored before (the same repair, deduplicated).
    pub duplicate: u64,
    /// Not stored: a write to the entity is still under way.
    pub in_flight: u64,
}

/// Where a run's time went (wall time, milliseconds; the two sides are listed concurrently,
/// so their figures overlap).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Timings {
    /// The owner's `list` calls.
    pub owner_list_ms: u64,
    /// The owner's documents through the route and the target's `expected`.
    pub owner_map_ms: u64,
    /// The target's `list` calls.
    pub target_list_ms: u64,
    /// Writing both sides to the spill file.
    pub spill_ms: u64,
    /// The ordered walk of the differences (and storing repairs).
    pub compare_ms: u64,
}

/// The result of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The run's id in the store.
    pub run_id: i64,
    /// Pipeline.
    pub pipeline: String,
    /// Job.
    pub job: String,
    /// Object compared.
    pub object: String,
    /// The owner (its values win).
    pub owner: String,
    /// The other side.
    pub target: String,
    /// The route repairs go through, if any.
    pub route: Option<String>,
    /// Fields compared.
    pub fields: Vec<String>,
    /// Whether it repaired.
    pub repair: bool,
    /// When it started and finished (ms since the epoch, the engine's clock).
    pub started_at_ms: i64,
    /// See `started_at_ms`.
    pub finished_at_ms: i64,
    /// Counts.
    pub counts: RunCounts,
    /// Owner entities the route does not carry (its `when` is false), not expected at the
    /// target.
    pub not_routed: i64,
    /// Repairs by outcome.
    pub repairs: RepairCounts,
    /// The first differences, in key order.
    pub drift: Vec<Drift>,
    /// More differences were found than `drift` holds.
    pub truncated: bool,
    /// Where the time went.
    pub timings: Timings,
    /// Why repairs were not made, if `repair` was asked but impossible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repair_unavailable: Option<String>,
}

impl Report {
    /// Entities out of sync.
    pub fn out_of_sync(&self) -> i64 {
        self.counts.missing + self.counts.extra + self.counts.differing
    }
}

/// Time one side spent, by step.
#[derive(Debug, Default)]
struct SideTimes {
    list: Duration,
    map: Duration,
    spill: Duration,
}

/// A job resolved against its plan.
struct Job<'a> {
    plan: &'a Plan,
    spec: &'a Reconcile,
    owner: String,
    target: String,
    route: Option<&'a Route>,
}

/// Repairs gathered before they are stored in one transaction.
const REPAIR_BATCH: usize = 256;

impl Engine {
    /// Every reconcile job of the loaded pipelines, as `(pipeline, job)`.
    pub fn reconcile_jobs(&self) -> Vec<(String, String)> {
        self.plans
            .iter()
            .flat_map(|p| p.reconcile.keys().map(|j| (p.name.clone(), j.clone())))
            .collect()
    }

    fn job(&self, name: &str) -> Result<Job<'_>, Error> {
        let found = self
            .plans
            .iter()
            .find_map(|p| p.reconcile.get(name).map(|spec| (p, spec)));
        let Some((plan, spec)) = found else {
            return Err(Error::UnknownJob {
                name: name.to_owned(),
                known: self.reconcile_jobs().into_iter().map(|(_, j)| j).collect(),
            });
        };
        // The owner's values win: the object's owner when it is one of the two, else the first.
        let owner = plan
            .ownership
            .get(&spec.object)
            .map(|o| o.owner.clone())
            .filter(|o| spec.between.contains(o))
            .unwrap_or_else(|| spec.between[0].clone());
        let target = spec
            .between
            .iter()
            .find(|c| **c != owner)
            .cloned()
            .unwrap_or_else(|| spec.between[1].clone());
        let route = plan
            .routes
            .iter()
            .find(|r| r.from == owner && r.to == target && r.object == spec.object);
        Ok(Job {
            plan,
            spec,
            owner,
            target,
            route,
        })
    }

    fn lister(&self, job: &Job<'_>, name: &str) -> Result<Connector, Error> {
        let cannot = |reason: String| Error::CannotList {
            connector: name.to_owned(),
            object: job.spec.object.clone(),
            reason,
        };
        let declared = job
            .plan
            .connectors
            .get(name)
            .ok_or_else(|| cannot("it is not a connector of this pipeline".into()))?;
        let info = &declared.info;
        if !info.sink_objects.contains(&job.spec.object)
            && !info.source_objects.contains(&job.spec.object)
        {
            let mut known = info.source_objects.clone();
            known.extend(info.sink_objects.iter().cloned());
            known.sort();
            known.dedup();
            return Err(cannot(format!(
                "its module `{}` knows only {}",
                declared.module,
                known.join(", ")
            )));
        }
        self.connector(&job.plan.name, name)
            .ok_or_else(|| cannot("it is not loaded".into()))
    }

    /// Runs the job `name` once: lists both sides, compares, reports, and with
    /// [`RunOptions::repair`] stores a repair for each entity missing or differing at the
    /// target. The run and its result are recorded in the store; a run that fails (a side
    /// failing mid-listing) is recorded as failed with how far it got.
    pub async fn reconcile(
        &self,
        name: &str,
        options: &RunOptions,
        progress: &dyn Progress,
    ) -> Result<Report, Error> {
        let job = self.job(name)?;
        let owner = self.lister(&job, &job.owner)?;
        let target = self.lister(&job, &job.target)?;
        let repair_unavailable = match job.route {
            _ if !options.repair => None,
            None => Some(format!(
                "no route carries {} from {} to {}",
                job.spec.object, job.owner, job.target
            )),
            Some(r) if r.mode == Mode::Shadow => Some(format!(
                "route `{}` is in shadow mode: it writes nothing",
                r.name
            )),
            Some(_) => None,
        };
        let repair = options.repair && repair_unavailable.is_none();
        let pipeline = job.plan.name.clone();
        let started_at_ms = self.now();
        let run_id = self
            .store
            .reconcile_started(&pipeline, name, options.trigger, repair)
            .await?;
        let mut report = Report {
            run_id,
            pipeline: pipeline.clone(),
            job: name.to_owned(),
            object: job.spec.object.clone(),
            owner: job.owner.clone(),
            target: job.target.clone(),
            route: job.route.map(|r| r.name.clone()),
            fields: job.spec.fields.clone(),
            repair,
            started_at_ms,
            finished_at_ms: started_at_ms,
            counts: RunCounts::default(),
            not_routed: 0,
            repairs: RepairCounts::default(),
            drift: Vec::new(),
            truncated: false,
            timings: Timings::default(),
            repair_unavailable,
        };
        let result = self
            .compare(
                &job,
                &owner,
                &target,
                options,
                repair,
                &mut report,
                progress,
            )
            .await;
        report.finished_at_ms = self.now();
        let error = result.as_ref().err().map(ToString::to_string);
        let summary = json!({
            "not_routed": report.not_routed,
            "repairs": report.repairs,
            "drift": report.drift,
            "truncated": report.truncated,
        });
        self.store
            .reconcile_finished(run_id, &report.counts, &summary, error.as_deref())
            .await?;
        let labels = JobLabels {
            pipeline: pipeline.clone(),
            job: name.to_owned(),
        };
        match result {
            Ok(()) => {
                self.metrics
                    .reconcile_out_of_sync
                    .get_or_create(&labels)
                    .set(report.out_of_sync());
                self.metrics
                    .reconcile_repairs
                    .get_or_create(&labels)
                    .inc_by(report.repairs.queued);
                self.metrics.reconcile_run(&labels, "ok");
                if report.repairs.queued > 0 {
                    self.wake_planner.notify_one();
                }
                // Routes paused during a replay until this job is clean go on now.
                if report.out_of_sync() == 0 {
                    for resumed in self.store.resume_after_clean(&pipeline, name).await? {
                        tracing::info!(%pipeline, route = %resumed.route, job = name, "route resumed: the reconciliation it waited for ran clean");
                    }
                }
                Ok(report)
            }
            Err(e) => {
                self.metrics.reconcile_run(&labels, "failed");
                Err(e)
            }
        }
    }

    #[expect(clippy::too_many_arguments, reason = "one private step of `reconcile`")]
    async fn compare(
        &self,
        job: &Job<'_>,
        owner: &Connector,
        target: &Connector,
        options: &RunOptions,
        repair: bool,
        report: &mut Report,
        progress: &dyn Progress,
    ) -> Result<(), Error> {
        let dir = options.spill_dir.clone().unwrap_or_else(std::env::temp_dir);
        let spill = Spill::create(&dir).await?;
        let object = job.spec.object.as_str();

        // The xref first: target rows are keyed through it as they arrive.
        let mut after = String::new();
        loop {
            let page = self
                .store
                .xref_page(object, &job.target, &job.owner, &after, 1000)
                .await?;
            let Some(last) = page.last() else { break };
            after = last.0.clone();
            spill.add_xref(&page).await?;
        }

        let owner_side = self.list_side(job, Side::Owner, owner, target, &spill, options, progress);
        let target_side =
            self.list_side(job, Side::Target, target, target, &spill, options, progress);
        let (owner_listed, target_listed) = tokio::join!(owner_side, target_side);
        if let Ok((n, _)) = &owner_listed {
            report.counts.owner_listed = *n as i64;
        }
        if let Ok((n, _)) = &target_listed {
            report.counts.target_listed = *n as i64;
        }
        let ((owner_listed, owner_times), (target_listed, target_times)) =
            match (owner_listed, target_listed) {
                (Ok(o), Ok(t)) => (o, t),
                (Err(o), Err(t)) => return Err(Error::BothSides(Box::new(o), Box::new(t))),
                (Err(e), _) | (_, Err(e)) => return Err(e),
            };
        report.counts.owner_listed = owner_listed as i64;
        report.counts.target_listed = target_listed as i64;
        let ms = |d: Duration| d.as_millis() as u64;
        report.timings.owner_list_ms = ms(owner_times.list);
        report.timings.owner_map_ms = ms(owner_times.map);
        report.timings.target_list_ms = ms(target_times.list);
        report.timings.spill_ms = ms(owner_times.spill + target_times.spill);
        progress.comparing();
        let comparing = Instant::now();

        let (in_sync, not_routed) = spill.agreeing().await?;
        report.counts.in_sync = in_sync;
        report.not_routed = not_routed;

        let mut batch: Vec<(usize, Repair)> = Vec::new();
        let masking = &job.plan.masking;
        let mut walk = std::pin::pin!(spill.differences());
        while let Some(found) = walk.try_next().await? {
            let kind = match (&found.owner, &found.target) {
                (Some(_), None) => DriftKind::Missing,
                (None, _) => DriftKind::Extra,
                (Some(_), Some(_)) => DriftKind::Differing,
            };
            match kind {
                DriftKind::Missing => report.counts.missing += 1,
                DriftKind::Extra => report.counts.extra += 1,
                DriftKind::Differing => report.counts.differing += 1,
            }
            let shown_owner = masked(masking, object, found.owner.as_deref());
            let shown_target = masked(masking, object, found.target.as_deref());
            let fields = match kind {
                DriftKind::Differing => job
                    .spec
                    .fields
                    .iter()
                    .filter(|f| raw_differs(&found, f))
                    .map(|f| FieldDiff {
                        field: f.clone(),
                        owner: shown_owner.get(f.as_str()).cloned().unwrap_or(Value::Null),
                        target: shown_target.get(f.as_str()).cloned().unwrap_or(Value::Null),
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let slot = if report.drift.len() < options.show {
                report.drift.push(Drift {
                    key: found.key.clone(),
                    kind,
                    fields,
                    repair: None,
                });
                Some(report.drift.len() - 1)
            } else {
                report.truncated = true;
                None
            };
            if repair
                && kind != DriftKind::Extra
                && let Some(document) = found.document
            {
                let r = self.repair_of(
                    job,
                    report.run_id,
                    &found.key,
                    document,
                    Value::Object(shown_owner),
                    match kind {
                        DriftKind::Missing => Value::Null,
                        _ => Value::Object(shown_target),
                    },
                );
                batch.push((slot.unwrap_or(usize::MAX), r));
                if batch.len() >= REPAIR_BATCH {
                    self.store_repairs(&mut batch, report).await?;
                }
            }
        }
        self.store_repairs(&mut batch, report).await?;
        report.timings.compare_ms = ms(comparing.elapsed());
        Ok(())
    }

    fn repair_of(
        &self,
        job: &Job<'_>,
        run_id: i64,
        key: &str,
        document: String,
        after: Value,
        before: Value,
    ) -> Repair {
        let now = self.now();
        Repair {
            change: NewChange {
                pipeline: job.plan.name.clone(),
                source: job.owner.clone(),
                // Deterministic: storing the same run's repair again is a duplicate.
                source_event_id: format!("reconcile:{}:{run_id}:{key}", job.spec.name),
                object: job.spec.object.clone(),
                key: key.to_owned(),
                operation: Operation::Snapshot,
                before: None,
                after: Some(document),
                occurred_at_ms: now,
                effective_at_ms: None,
                source_version: 0,
                metadata: json!({ "reconcile": job.spec.name, "run": run_id }).to_string(),
                correlation_id: super::intake::correlation_id(),
            },
            target: job.target.clone(),
            job: job.spec.name.clone(),
            run_id,
            before,
            after,
        }
    }

    async fn store_repairs(
        &self,
        batch: &mut Vec<(usize, Repair)>,
        report: &mut Report,
    ) -> Result<(), Error> {
        if batch.is_empty() {
            return Ok(());
        }
        let repairs: Vec<Repair> = batch.iter().map(|(_, r)| r.clone()).collect();
        let outcomes = self.store.reconcile_repairs(&repairs).await?;
        for ((slot, _), outcome) in batch.drain(..).zip(outcomes) {
            match outcome {
                RepairOutcome::Queued => {
                    report.repairs.queued += 1;
                    report.counts.repaired += 1;
                }
                RepairOutcome::Duplicate => report.repairs.duplicate += 1,
                RepairOutcome::InFlight => report.repairs.in_flight += 1,
            }
            if let Some(d) = report.drift.get_mut(slot) {
                d.repair = Some(outcome);
            }
        }
        Ok(())
    }

    /// Lists one side page by page into the spill file; returns how many entities it listed.
    #[expect(clippy::too_many_arguments, reason = "one private step of `reconcile`")]
    async fn list_side(
        &self,
        job: &Job<'_>,
        side: Side,
        connector: &Connector,
        target: &Connector,
        spill: &Spill,
        options: &RunOptions,
        progress: &dyn Progress,
    ) -> Result<(u64, SideTimes), Error> {
        let name = match side {
            Side::Owner => &job.owner,
            Side::Target => &job.target,
        };
        let object = job.spec.object.as_str();
        let ctx = CallContext::default();
        let (mut listed, mut pages) = (0u64, 0u64);
        let mut times = SideTimes::default();
        let mut cursor: Option<String> = None;
        loop {
            let started = Instant::now();
            let page = self
                .list_page(connector, &ctx, object, cursor.as_deref(), options.page)
                .await
                .map_err(|e| {
                    let reason = match &e {
                        crate::host::CallError::Connector(kit::Error::Unsupported(m)) => {
                            return Error::CannotList {
                                connector: name.clone(),
                                object: object.to_owned(),
                                reason: m.clone(),
                            };
                        }
                        other => other.to_string(),
                    };
                    Error::Listing {
                        connector: name.clone(),
                        object: object.to_owned(),
                        listed,
                        pages,
                        reason,
                    }
                })?;
            times.list += started.elapsed();
            let started = Instant::now();
            let mut rows = Vec::with_capacity(page.items.len());
            for item in page.items {
                let row = match side {
                    Side::Owner => self.owner_row(job, target, &ctx, item).await,
                    Side::Target => target_row(job, item),
                };
                rows.push(row);
            }
            times.map += started.elapsed();
            listed += rows.len() as u64;
            pages += 1;
            let started = Instant::now();
            match side {
                Side::Owner => spill.add_owner(&rows).await?,
                Side::Target => spill.add_target(&rows).await?,
            }
            times.spill += started.elapsed();
            progress.listed(side, name, listed);
            match page.next_cursor {
                Some(next) if cursor.as_deref() == Some(next.as_str()) => {
                    return Err(Error::Listing {
                        connector: name.clone(),
                        object: object.to_owned(),
                        listed,
                        pages,
                        reason: format!("the cursor did not advance past `{next}`"),
                    });
                }
                Some(next) => cursor = Some(next),
                None => return Ok((listed, times)),
            }
        }
    }

    /// One `list` call; a transient failure or throttling is tried again a few times.
    async fn list_page(
        &self,
        connector: &Connector,
        ctx: &CallContext,
        object: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<kit::DocumentPage, crate::host::CallError> {
        let mut tries = 0;
        loop {
            let called = connector.list(ctx, object, cursor, limit).await;
            match called.result {
                Err(crate::host::CallError::Connector(
                    kit::Error::Transient { retry_after_ms, .. }
                    | kit::Error::RateLimited(retry_after_ms),
                )) if tries < 4 => {
                    tries += 1;
                    let wait = retry_after_ms.unwrap_or(200 << tries).min(5_000);
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                other => return other,
            }
        }
    }

    /// The owner's entity as the target would keep it: through the route (its `when` and
    /// `map`, exactly as the planner plans it) and the target's `expected`.
    async fn owner_row(
        &self,
        job: &Job<'_>,
        target: &Connector,
        ctx: &CallContext,
        item: kit::KeyedDocument,
    ) -> Row {
        let now = self.now();
        let (mapped, routed) = match job.route {
            Some(route) => {
                let change = StoredChange {
                    id: 0,
                    pipeline: job.plan.name.clone(),
                    source: job.owner.clone(),
                    source_event_id: "reconcile".into(),
                    object: job.spec.object.clone(),
                    key: item.key.clone(),
                    operation: Operation::Snapshot,
                    before: None,
                    after: Some(item.document.clone()),
                    occurred_at_ms: now,
                    effective_at_ms: None,
                    source_version: 0,
                    metadata: "{}".into(),
                    correlation_id: String::new(),
                    received_at_ms: now,
                };
                let (deliveries, _) = super::planner::plan_change(
                    job.plan,
                    &change,
                    &super::planner::OwnerChanges::new(),
                    now,
                );
                match deliveries.into_iter().find(|d| d.route == route.name) {
                    Some(d) if d.state == InitialState::Pending => (d.document, true),
                    // A shadow route writes nothing, but what it would write is compared.
                    Some(d) if d.state == InitialState::Shadow => (d.document, true),
                    _ => (item.document.clone(), false),
                }
            }
            None => (item.document.clone(), true),
        };
        let write = kit::Write {
            object: job.spec.object.clone(),
            key: item.key.clone(),
            operation: kit::Operation::Update,
            document: mapped.clone(),
            effective_at: None,
            occurred_at: now,
            idempotency_key: String::new(),
            correlation_id: String::new(),
        };
        let kept = match target.expected(ctx, write).await.result {
            Ok(kept) => kept,
            Err(e) => {
                tracing::warn!(job = %job.spec.name, error = %e, "the target cannot say how it keeps an entity; comparing the owner's document as is");
                mapped
            }
        };
        let (fields, hash) = project(&job.spec.fields, &kept);
        Row {
            key: item.key,
            hash,
            fields,
            document: Some(item.document),
            routed,
        }
    }

    /// The scheduler's step: runs every job whose time has come by the engine's clock, then
    /// moves its next due time to the first slot after now. A job seen for the first time is
    /// due one interval after that (recorded in the store, so a restart keeps the schedule).
    /// Returns what ran. The loop in `junction run` calls this on the leader; a test calls it
    /// on manual time.
    pub async fn reconcile_due(&self) -> Vec<(String, Result<Report, Error>)> {
        let mut ran = Vec::new();
        for plan in &self.plans {
            for (name, spec) in &plan.reconcile {
                let every = spec.every.as_millis().max(1) as i64;
                let now = self.now();
                let due = match self.store.reconcile_next_due(&plan.name, name, every).await {
                    Ok(due) => due,
                    Err(e) => {
                        ran.push((name.clone(), Err(e.into())));
                        continue;
                    }
                };
                if now < due {
                    continue;
                }
                let options = RunOptions {
                    repair: spec.repair,
                    trigger: RunTrigger::Scheduled,
                    ..RunOptions::default()
                };
                let result = self.reconcile(name, &options, &Quiet).await;
                let missed = (now - due) / every;
                let next = due.saturating_add(every.saturating_mul(missed + 1));
                if let Err(e) = self.store.reconcile_schedule(&plan.name, name, next).await {
                    tracing::error!(job = %name, error = %e, "cannot record the next reconcile time");
                }
                match &result {
                    Ok(r) => tracing::info!(
                        job = %name, run = r.run_id, out_of_sync = r.out_of_sync(),
                        repairs = r.repairs.queued, "reconciled"
                    ),
                    Err(e) => tracing::warn!(job = %name, error = %e, "reconciliation failed"),
                }
                ran.push((name.clone(), result));
            }
        }
        ran
    }

    /// Runs due jobs on the worker that holds the `reconcile` leadership, until `stop`.
    pub(super) async fn reconcile_loop(
        self: Arc<Self>,
        stop: Arc<Notify>,
        mut leadership: store::Leadership,
    ) {
        // Metrics show the last result from the start, not only after the next run.
        for (pipeline, job) in self.reconcile_jobs() {
            if let Ok(runs) = self.store.reconcile_runs(&pipeline, &job, 1).await
                && let Some(last) = runs.first().filter(|r| r.status == "ok")
            {
                self.metrics
                    .reconcile_out_of_sync
                    .get_or_create(&JobLabels { pipeline, job })
                    .set(last.missing + last.extra + last.differing);
            }
        }
        loop {
            if !leadership.is_leader() {
                tokio::select! {
                    () = stop.notified() => return,
                    () = leadership.until_leader() => {}
                }
                continue;
            }
            self.reconcile_due().await;
            tokio::select! {
                () = stop.notified() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

/// The target's entity: its compared fields as it keeps them.
fn target_row(job: &Job<'_>, item: kit::KeyedDocument) -> Row {
    let (fields, hash) = project(&job.spec.fields, &item.document);
    Row {
        key: item.key,
        hash,
        fields,
        document: None,
        routed: true,
    }
}

/// The compared fields of a document (JSON text) as a JSON object in the job's field order,
/// and its SHA-256. A document that is not JSON compares as having none of the fields.
fn project(fields: &[String], document: &str) -> (String, Vec<u8>) {
    let doc: Value = serde_json::from_str(document).unwrap_or(Value::Null);
    let mut out = Map::new();
    for f in fields {
        out.insert(f.clone(), doc.get(f).cloned().unwrap_or(Value::Null));
    }
    let text = Value::Object(out).to_string();
    let hash = Sha256::digest(text.as_bytes()).to_vec();
    (text, hash)
}

/// Compared fields (JSON text) masked by the pipeline's rules.
fn masked(
    rules: &crate::config::Masking,
    object: &str,
    fields: Option<&str>,
) -> Map<String, Value> {
    let mut value: Value = fields
        .and_then(|f| serde_json::from_str(f).ok())
        .unwrap_or_else(|| Value::Object(Map::new()));
    mask_document(rules, object, &mut value);
    match value {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Whether a field differs before masking (a masked value may hide a difference, e.g. two
/// values with the same last four digits).
fn raw_differs(found: &Found, field: &str) -> bool {
    let get = |s: &Option<String>| {
        s.as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .and_then(|v| v.get(field).cloned())
    };
    get(&found.owner) != get(&found.target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_is_in_field_order_and_hashes_equal_documents_alike() {
        let fields = vec!["status".to_owned(), "items".to_owned()];
        let (a, ha) = project(&fields, r#"{"items":[1],"status":"active","other":1}"#);
        let (b, hb) = project(&fields, r#"{"status":"active","items":[1]}"#);
        assert_eq!(a, b);
        assert_eq!(ha, hb);
        let (_, hc) = project(&fields, r#"{"status":"canceled","items":[1]}"#);
        assert_ne!(ha, hc);
        let (missing, _) = project(&fields, "not json");
        let missing: Value = serde_json::from_str(&missing).unwrap();
        assert_eq!(missing, json!({ "status": null, "items": null }));
    }

    #[tokio::test]
    async fn the_walk_reports_missing_extra_and_differing_in_key_order() {
        let dir = std::env::temp_dir();
        let spill = Spill::create(&dir).await.unwrap();
        let fields = vec!["status".to_owned()];
        let row = |key: &str, status: &str, document: Option<&str>| {
            let (fields, hash) = project(&fields, &format!(r#"{{"status":"{status}"}}"#));
            Row {
                key: key.into(),
                hash,
                fields,
                document: document.map(str::to_owned),
                routed: true,
            }
        };
        spill
            .add_xref(&[("ns-9".into(), "d".into())])
            .await
            .unwrap();
        spill
            .add_owner(&[
                row("c", "active", Some("{}")),
                row("a", "active", Some("{}")),
                row("b", "active", Some("{}")),
                row("d", "active", Some("{}")),
            ])
            .await
            .unwrap();
        spill
            .add_target(&[
                row("z", "active", None),
                row("b", "canceled", None),
                row("a", "active", None),
                // Known to the target by its own id; the xref says it is `d`.
                row("ns-9", "active", None),
            ])
            .await
            .unwrap();
        let seen: Vec<(String, bool, bool)> = spill
            .differences()
            .map_ok(|f| (f.key, f.owner.is_some(), f.target.is_some()))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            seen,
            vec![
                ("b".to_owned(), true, true),
                ("c".to_owned(), true, false),
                ("z".to_owned(), false, true),
            ]
        );
        assert_eq!(spill.agreeing().await.unwrap(), (2, 0));
    }
}
