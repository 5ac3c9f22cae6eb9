//! Reconciliation's durable part: each run and its result, when a scheduled job is next due,
//! repairs stored as changes from the owner (deduplicated like any other), and the counts its
//! metrics show.

use serde::Serialize;
use serde_json::json;

use super::audit::{self, AuditKind};
use super::db::on;
use super::{Intake, NewChange, Result, Store};

/// How a run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunTrigger {
    /// `junction reconcile NAME`.
    Manual,
    /// The schedule inside `junction run`.
    Scheduled,
}

impl RunTrigger {
    fn as_str(self) -> &'static str {
        match self {
            RunTrigger::Manual => "manual",
            RunTrigger::Scheduled => "scheduled",
        }
    }
}

/// What a finished run found, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunCounts {
    /// Entities listed at the owner.
    pub owner_listed: i64,
    /// Entities listed at the other side.
    pub target_listed: i64,
    /// Entities whose compared fields agree.
    pub in_sync: i64,
    /// At the owner, not at the target.
    pub missing: i64,
    /// At the target, not at the owner (never deleted automatically).
    pub extra: i64,
    /// At both, with at least one compared field different.
    pub differing: i64,
    /// Repairs stored (changes from the owner sent through its route).
    pub repaired: i64,
}

/// One run of a reconcile job, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ReconcileRun {
    /// Run id (part of each repair's source event id).
    pub id: i64,
    /// Pipeline.
    pub pipeline: String,
    /// Job name (`[reconcile.NAME]`).
    pub job: String,
    /// `manual` or `scheduled`.
    pub trigger: String,
    /// Whether it repaired.
    pub repair: bool,
    /// When it started.
    pub started_at_ms: i64,
    /// When it finished; none while running (or if the process died meanwhile).
    pub finished_at_ms: Option<i64>,
    /// `running`, `ok` or `failed`.
    pub status: String,
    /// See [`RunCounts`].
    pub owner_listed: i64,
    /// See [`RunCounts`].
    pub target_listed: i64,
    /// See [`RunCounts`].
    pub in_sync: i64,
    /// See [`RunCounts`].
    pub missing: i64,
    /// See [`RunCounts`].
    pub extra: i64,
    /// See [`RunCounts`].
    pub differing: i64,
    /// See [`RunCounts`].
    pub repaired: i64,
    /// The masked drift summary (JSON text): the first differences found.
    pub summary: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// A repair: the owner's current document as a `snapshot` change, and what the audit shows.
#[derive(Debug, Clone)]
pub struct Repair {
    /// The change from the owner (operation snapshot, deterministic source event id). Its
    /// `source_version` is replaced by the target lane's last confirmed version, so the repair
    /// is neither stale nor ahead of a real change that comes later.
    pub change: NewChange,
    /// The connector the repair is for.
    pub target: String,
    /// The reconcile job.
    pub job: String,
    /// The run.
    pub run_id: i64,
    /// The target's compared values (masked), or null when missing there.
    pub before: serde_json::Value,
    /// The owner's compared values (masked).
    pub after: serde_json::Value,
}

/// What became of a repair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RepairOutcome {
    /// Stored; the planner sends it through the route.
    Queued,
    /// The same repair (same source event id) was stored before.
    Duplicate,
    /// A write to this entity at the target is still under way (perhaps an earlier repair):
    /// nothing stored, so a second run before it settles does not write twice.
    InFlight,
}

const RUN_COLUMNS: &str = "id, pipeline, job, trigger, repair, started_at_ms, finished_at_ms, \
    status, owner_listed, target_listed, in_sync, missing, extra, differing, repaired, summary, \
    error";

impl Store {
    /// Records the start of a run; returns its id.
    pub async fn reconcile_started(
        &self,
        pipeline: &str,
        job: &str,
        trigger: RunTrigger,
        repair: bool,
    ) -> Result<i64> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let id: i64 = on!(tx.conn(), |db| sqlx::query_scalar(
            "INSERT INTO reconcile_runs (pipeline, job, trigger, repair, started_at_ms, status)
             VALUES ($1, $2, $3, $4, $5, 'running') RETURNING id"
        )
        .bind(pipeline)
        .bind(job)
        .bind(trigger.as_str())
        .bind(repair)
        .bind(now)
        .fetch_one(db)
        .await)?;
        tx.commit().await?;
        Ok(id)
    }

    /// Records how a run ended: its counts, the masked summary, and the error if it failed.
    pub async fn reconcile_finished(
        &self,
        run_id: i64,
        counts: &RunCounts,
        summary: &serde_json::Value,
        error: Option<&str>,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin().await?;
        on!(tx.conn(), |db| sqlx::query(
            "UPDATE reconcile_runs SET finished_at_ms = $2, status = $3, owner_listed = $4,
                 target_listed = $5, in_sync = $6, missing = $7, extra = $8, differing = $9,
                 repaired = $10, summary = $11, error = $12
             WHERE id = $1"
        )
        .bind(run_id)
        .bind(now)
        .bind(if error.is_some() { "failed" } else { "ok" })
        .bind(counts.owner_listed)
        .bind(counts.target_listed)
        .bind(counts.in_sync)
        .bind(counts.missing)
        .bind(counts.extra)
        .bind(counts.differing)
        .bind(counts.repaired)
        .bind(summary.to_string())
        .bind(error)
        .execute(db)
        .await
        .map(drop))?;
        tx.commit().await?;
        Ok(())
    }

    /// The last `limit` runs of a job, newest first.
    pub async fn reconcile_runs(
        &self,
        pipeline: &str,
        job: &str,
        limit: u32,
    ) -> Result<Vec<ReconcileRun>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM reconcile_runs WHERE pipeline = $1 AND job = $2
             ORDER BY id DESC LIMIT $3"
        );
        Ok(on!(self.db.reader(), |db| sqlx::query_as(&sql)
            .bind(pipeline)
            .bind(job)
            .bind(i64::from(limit))
            .fetch_all(db)
            .await)?)
    }

    /// When the scheduled job is next due. A job seen for the first time is due one `every_ms`
    /// from now (recorded, so a restart keeps that time rather than starting over).
    pub async fn reconcile_next_due(
        &self,
        pipeline: &str,
        job: &str,
        every_ms: i64,
    ) -> Result<i64> {
        // The scheduler asks every second: a read, and a write only the first time.
        let known: Option<i64> = on!(self.db.reader(), |db| sqlx::query_scalar(
            "SELECT next_due_ms FROM reconcile_schedule WHERE pipeline = $1 AND job = $2"
        )
        .bind(pipeline)
        .bind(job)
        .fetch_optional(db)
        .await)?;
        if let Some(due) = known {
            return Ok(due);
        }
        let now = self.now();
        let mut tx = self.begin().await?;
        on!(tx.conn(), |db| sqlx::query(
            "INSERT INTO reconcile_schedule (pipeline, job, next_due_ms) VALUES ($1, $2, $3)
             ON CONFLICT (pipeline, job) DO NOTHING"
        )
        .bind(pipeline)
        .bind(job)
        .bind(now.saturating_add(every_ms))
        .execute(db)
        .await
        .map(drop))?;
        let due: i64 = on!(tx.conn(), |db| sqlx::query_scalar(
            "SELECT next_due_ms FROM reconcile_schedule WHERE pipeline = $1 AND job = $2"
        )
        .bind(pipeline)
        .bind(job)
        .fetch_one(db)
        .await)?;
        tx.commit().await?;
        Ok(due)
    }

    /// Moves a scheduled job's next due time (after a run, to the next slot after now: a
    /// worker that was down for several intervals runs once, not once per missed interval).
    pub async fn reconcile_schedule(
        &self,
        pipeline: &str,
        job: &str,
        next_due_ms: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        on!(tx.conn(), |db| sqlx::query(
            "INSERT INTO reconcile_schedule (pipeline, job, next_due_ms) VALUES ($1, $2, $3)
             ON CONFLICT (pipeline, job) DO UPDATE SET next_due_ms = excluded.next_due_ms"
        )
        .bind(pipeline)
        .bind(job)
        .bind(next_due_ms)
        .execute(db)
        .await
        .map(drop))?;
        tx.commit().await
    }

    /// Stores repairs in one transaction, each as a change from the owner through intake's
    /// dedupe (so the planner, delivery and confirmation treat it like any change), with a
    /// `received` and a `reconciled` audit entry (before: the target's values, after: the
    /// owner's, both masked by the caller). A repair for an entity whose write at the target is
    /// still under way is not stored ([`RepairOutcome::InFlight`]).
    pub async fn reconcile_repairs(&self, repairs: &[Repair]) -> Result<Vec<RepairOutcome>> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let mut outcomes = Vec::with_capacity(repairs.len());
        let mut entries = Vec::new();
        for r in repairs {
            let c = &r.change;
            let seen: Option<i64> = on!(tx.conn(), |db| sqlx::query_scalar(
                "SELECT id FROM changes
                 WHERE pipeline = $1 AND source = $2 AND source_event_id = $3
                   AND object = $4 AND entity_key = $5"
            )
            .bind(&c.pipeline)
            .bind(&c.source)
            .bind(&c.source_event_id)
            .bind(&c.object)
            .bind(&c.key)
            .fetch_optional(db)
            .await)?;
            if seen.is_some() {
                outcomes.push(RepairOutcome::Duplicate);
                continue;
            }
            let busy: i64 = on!(tx.conn(), |db| sqlx::query_scalar(
                "SELECT COUNT(*) FROM deliveries
                 WHERE target = $1 AND object = $2 AND entity_key = $3
                   AND state IN ('pending', 'review', 'in_flight', 'awaiting_job', 'confirming')"
            )
            .bind(&r.target)
            .bind(&c.object)
            .bind(&c.key)
            .fetch_one(db)
            .await)?;
            // A repair already stored but not planned yet is as good as under way.
            let unplanned: i64 = on!(tx.conn(), |db| sqlx::query_scalar(
                "SELECT COUNT(*) FROM changes
                 WHERE pipeline = $1 AND source = $2 AND object = $3 AND entity_key = $4
                   AND planned_at_ms IS NULL"
            )
            .bind(&c.pipeline)
            .bind(&c.source)
            .bind(&c.object)
            .bind(&c.key)
            .fetch_one(db)
            .await)?;
            if busy + unplanned > 0 {
                outcomes.push(RepairOutcome::InFlight);
                continue;
            }
            let version: Option<i64> = on!(tx.conn(), |db| sqlx::query_scalar(
                "SELECT last_confirmed_version FROM lanes
                 WHERE target = $1 AND object = $2 AND entity_key = $3"
            )
            .bind(&r.target)
            .bind(&c.object)
            .bind(&c.key)
            .fetch_optional(db)
            .await)?;
            let change = NewChange {
                source_version: version.unwrap_or(c.source_version),
                ..c.clone()
            };
            let outcome = super::intake::insert_change(&mut tx, &change, now).await?;
            let change_id = outcome.change_id();
            match outcome {
                Intake::Accepted { .. } => {
                    let mut received = change.audit(
                        AuditKind::Received,
                        json!({
                            "source": change.source,
                            "operation": change.operation,
                            "source_version": change.source_version,
                            "reconcile": r.job,
                            "run": r.run_id,
                        }),
                    );
                    received.change_id = Some(change_id);
                    let mut reconciled = change.audit(
                        AuditKind::Reconciled,
                        json!({
                            "job": r.job,
                            "run": r.run_id,
                            "owner": change.source,
                            "target": r.target,
                            "before": r.before,
                            "after": r.after,
                        }),
                    );
                    reconciled.change_id = Some(change_id);
                    entries.push(received);
                    entries.push(reconciled);
                    outcomes.push(RepairOutcome::Queued);
                }
                Intake::Duplicate { .. } => outcomes.push(RepairOutcome::Duplicate),
            }
        }
        audit::append(&mut tx, now, &entries).await?;
        if outcomes.contains(&RepairOutcome::Queued) {
            tx.notify(super::wake::CHANGES).await?;
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Pairs `(entity_key, other_key)` of the xref from `system` to `other_system` for
    /// `object`, in key order after `after`, at most `limit`: reconciliation joins the two
    /// sides on them where the target's ids differ from the owner's.
    pub async fn xref_page(
        &self,
        object: &str,
        system: &str,
        other_system: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(String, String)>> {
        Ok(on!(self.db.reader(), |db| sqlx::query_as(
            "SELECT entity_key, other_key FROM xref
             WHERE object = $1 AND system = $2 AND other_system = $3 AND entity_key > $4
             ORDER BY entity_key LIMIT $5"
        )
        .bind(object)
        .bind(system)
        .bind(other_system)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(db)
        .await)?)
    }

    /// Unsettled deliveries older than their route's confirmation window (`confirm.within`)
    /// at `now_ms`, per (pipeline, route): writes that should be done by now and are not.
    pub async fn overdue_by_route(&self, now_ms: i64) -> Result<Vec<(String, String, i64)>> {
        Ok(on!(self.db.reader(), |db| sqlx::query_as(
            "SELECT pipeline, route, COUNT(*) FROM deliveries
             WHERE state IN ('pending', 'held', 'review', 'in_flight', 'awaiting_job', 'confirming')
               AND confirm_within_ms IS NOT NULL
               AND created_at_ms + confirm_within_ms < $1
             GROUP BY pipeline, route ORDER BY pipeline, route"
        )
        .bind(now_ms)
        .fetch_all(db)
        .await)?)
    }
}
