//! Deliveries: reading them, and claiming the due heads of their per-entity lanes.

use serde_json::json;

use super::audit::{self, AuditKind, NewAudit};
use super::db::{Tx, on};
use super::{ConfirmSpec, Delivery, Error, Lease, Result, Store};

/// The columns of `deliveries`, as [`DeliveryRow`] reads them.
macro_rules! delivery_columns {
    () => {
        "id, pipeline, route, change_id, source, source_event_id, target, object, entity_key, \
         operation, document, effective_at_ms, source_version, idempotency_key, priority, \
         correlation_id, state, state_reason, not_before_ms, next_at_ms, lease_owner, \
         lease_token, lease_until_ms, attempts, max_attempts, first_attempt_ms, last_error, \
         job_ref, target_ref, confirm_fields, confirm_within_ms, confirm_deadline_ms, redrives, \
         repairs, job_continues, steps, occurred_at_ms, shadow, created_at_ms, updated_at_ms, \
         key_conflicts"
    };
}
pub(super) use delivery_columns;

/// A `deliveries` row as stored.
#[derive(sqlx::FromRow)]
pub(super) struct DeliveryRow {
    id: i64,
    pipeline: String,
    route: String,
    change_id: i64,
    source: String,
    source_event_id: String,
    target: String,
    object: String,
    entity_key: String,
    operation: String,
    document: String,
    effective_at_ms: Option<i64>,
    source_version: i64,
    idempotency_key: String,
    priority: i32,
    correlation_id: String,
    state: String,
    state_reason: Option<String>,
    not_before_ms: Option<i64>,
    next_at_ms: i64,
    lease_owner: Option<String>,
    lease_token: i64,
    lease_until_ms: Option<i64>,
    attempts: i32,
    max_attempts: i32,
    first_attempt_ms: Option<i64>,
    last_error: Option<String>,
    job_ref: Option<String>,
    target_ref: Option<String>,
    confirm_fields: Option<String>,
    confirm_within_ms: Option<i64>,
    confirm_deadline_ms: Option<i64>,
    redrives: i32,
    repairs: i32,
    job_continues: bool,
    steps: i32,
    occurred_at_ms: Option<i64>,
    shadow: bool,
    created_at_ms: i64,
    updated_at_ms: i64,
    key_conflicts: i32,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = Error;

    fn try_from(row: DeliveryRow) -> Result<Delivery> {
        let lease = match (row.lease_owner, row.lease_until_ms) {
            (Some(worker), Some(until_ms)) => Some(Lease {
                delivery_id: row.id,
                worker,
                token: row.lease_token,
                until_ms,
            }),
            _ => None,
        };
        let confirm = match (row.confirm_fields, row.confirm_within_ms) {
            (Some(fields), Some(within_ms)) => Some(ConfirmSpec {
                fields: serde_json::from_str(&fields).map_err(|e| Error::Corrupt {
                    what: "confirm fields",
                    detail: format!("delivery {}: {e}", row.id),
                })?,
                within_ms,
            }),
            _ => None,
        };
        Ok(Delivery {
            id: row.id,
            pipeline: row.pipeline,
            route: row.route,
            change_id: row.change_id,
            source: row.source,
            source_event_id: row.source_event_id,
            target: row.target,
            object: row.object,
            key: row.entity_key,
            operation: row.operation.parse()?,
            document: row.document,
            effective_at_ms: row.effective_at_ms,
            source_version: row.source_version,
            idempotency_key: row.idempotency_key,
            priority: row.priority,
            correlation_id: row.correlation_id,
            state: row.state.parse()?,
            state_reason: row.state_reason,
            not_before_ms: row.not_before_ms,
            next_at_ms: row.next_at_ms,
            lease,
            attempts: row.attempts,
            max_attempts: row.max_attempts,
            first_attempt_ms: row.first_attempt_ms,
            last_error: row.last_error,
            job_ref: row.job_ref,
            target_ref: row.target_ref,
            confirm,
            confirm_deadline_ms: row.confirm_deadline_ms,
            redrives: row.redrives,
            repairs: row.repairs,
            key_conflicts: row.key_conflicts,
            job_continues: row.job_continues,
            steps: row.steps,
            occurred_at_ms: row.occurred_at_ms.unwrap_or(row.created_at_ms),
            shadow: row.shadow,
            created_at_ms: row.created_at_ms,
            updated_at_ms: row.updated_at_ms,
        })
    }
}

impl Delivery {
    /// An audit entry about this delivery.
    pub(super) fn audit(&self, kind: AuditKind, detail: serde_json::Value) -> NewAudit {
        NewAudit {
            pipeline: self.pipeline.clone(),
            correlation_id: self.correlation_id.clone(),
            object: self.object.clone(),
            key: self.key.clone(),
            event_id: Some(self.source_event_id.clone()),
            change_id: Some(self.change_id),
            delivery_id: Some(self.id),
            idempotency_key: Some(self.idempotency_key.clone()),
            kind,
            detail,
        }
    }
}

/// A claimable lane head, with its lane's last confirmed version.
#[derive(sqlx::FromRow)]
struct Head {
    id: i64,
    source_version: i64,
    last_confirmed_version: Option<i64>,
}

/// Due deliveries that head their lane: nothing in the same (target, object, key) is ahead of
/// them in source order among the lane's unsettled deliveries. Held, in-review and not-yet-due
/// deliveries count as ahead, so a lane never skips past a change it has not applied. A
/// delivery of a paused route (`paused_routes`) is not handed out unless it is only being
/// followed (its job polled, its write read back): it stays pending, in order, and blocks its
/// lane like any unsettled delivery. A delivery already
/// written (in flight, awaiting its job, confirming) always finishes first, and while it does no
/// other delivery of its lane is handed out, not even an older change that arrived late: that
/// one waits, then is suppressed as stale once the newer write is confirmed.
///
/// On PostgreSQL the heads are locked as they are read and heads another worker is claiming
/// are skipped (`FOR UPDATE OF d SKIP LOCKED`): two workers never claim one delivery, and
/// neither waits for the other. A head another worker claimed and committed meanwhile fails
/// the re-checked `lease_until_ms` condition; the lane's next delivery is not a head while
/// that one is unsettled, so no worker can jump ahead in a lane.
const DUE_HEADS: &str = "
    SELECT d.id, d.source_version, lane.last_confirmed_version
    FROM deliveries AS d
    LEFT JOIN lanes AS lane
           ON lane.target = d.target AND lane.object = d.object
          AND lane.entity_key = d.entity_key
    WHERE d.state IN ('pending', 'in_flight', 'awaiting_job', 'confirming')
      AND d.next_at_ms <= $1
      AND (d.lease_until_ms IS NULL OR d.lease_until_ms <= $1)
      AND ($3 IS NULL OR d.pipeline = $3)
      AND (d.state IN ('awaiting_job', 'confirming')
           OR NOT EXISTS (SELECT 1 FROM paused_routes AS paused
                          WHERE paused.pipeline = d.pipeline AND paused.route = d.route))
      AND (d.state IN ('in_flight', 'awaiting_job', 'confirming')
           OR (NOT EXISTS (
                   SELECT 1 FROM deliveries AS ahead
                   WHERE ahead.target = d.target AND ahead.object = d.object
                     AND ahead.entity_key = d.entity_key
                     AND ahead.state IN ('pending', 'held', 'review', 'in_flight', 'awaiting_job',
                                         'confirming')
                     AND (ahead.source_version < d.source_version
                          OR (ahead.source_version = d.source_version AND ahead.id < d.id)))
               AND NOT EXISTS (
                   SELECT 1 FROM deliveries AS busy
                   WHERE busy.target = d.target AND busy.object = d.object
                     AND busy.entity_key = d.entity_key AND busy.id <> d.id
                     AND busy.state IN ('in_flight', 'awaiting_job', 'confirming'))))
    ORDER BY d.priority, d.id
    LIMIT $2";

fn due_heads(dialect: super::Dialect) -> String {
    format!("{DUE_HEADS}{}", dialect.skip_locked("d"))
}

impl Store {
    /// Claims up to `limit` deliveries due at `now_ms` (the engine passes its clock's time, the
    /// store's clock too) for `worker_id` until `now_ms + lease_ms`: each the head of its
    /// lane, so one entity is never written by two deliveries at once and writes go in source
    /// order. A delivery whose lease expired (its worker died) is claimable again. A head older
    /// than the newest version already confirmed in its lane is suppressed as `stale` (with its
    /// audit entry) instead of being handed out. Ordered by priority, then planning order,
    /// with each pipeline that has work due getting its share first.
    ///
    /// A claimed `pending` delivery becomes `in_flight`; an `awaiting_job` or `confirming` one
    /// keeps its state (the worker polls the job or reads back). An `in_flight` one handed out
    /// again was interrupted mid-write: the worker writes it again under the same key.
    pub async fn claim_due(
        &self,
        now_ms: i64,
        limit: u32,
        worker_id: &str,
        lease_ms: i64,
    ) -> Result<Vec<Delivery>> {
        let at = self.now();
        let limit = i64::from(limit);
        let mut tx = self.begin().await?;
        let mut claimed = Vec::new();
        let due_heads = due_heads(tx.dialect());
        // Fairness: with work due in several pipelines, each gets its share of the claim
        // first, so a pipeline with a backlog of thousands cannot keep another's one delivery
        // waiting behind all of them; whatever a pipeline leaves unused goes to anyone after.
        // (One busy entity cannot starve others either: only its lane's head is claimable.)
        let busy: Vec<String> = on!(tx.conn(), |db| sqlx::query_scalar(
            "SELECT DISTINCT pipeline FROM deliveries
             WHERE state IN ('pending', 'in_flight', 'awaiting_job', 'confirming')
               AND next_at_ms <= $1
               AND (lease_until_ms IS NULL OR lease_until_ms <= $1)
             ORDER BY pipeline"
        )
        .bind(now_ms)
        .fetch_all(db)
        .await)?;
        let mut turns: Vec<(Option<&str>, i64)> = Vec::new();
        if busy.len() > 1 {
            let share = (limit / busy.len() as i64).max(1);
            turns.extend(busy.iter().map(|p| (Some(p.as_str()), share)));
        }
        turns.push((None, limit));
        for (pipeline, share) in turns {
            let wanted = share.min(limit - claimed.len() as i64);
            if wanted <= 0 {
                break;
            }
            claim_heads(
                &mut tx,
                &due_heads,
                (now_ms, pipeline, wanted),
                (worker_id, lease_ms, at),
                &mut claimed,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// One delivery.
    pub async fn delivery(&self, id: i64) -> Result<Option<Delivery>> {
        let row: Option<DeliveryRow> = on!(self.db.reader(), |db| sqlx::query_as(concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM deliveries WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(db)
        .await)?;
        row.map(Delivery::try_from).transpose()
    }

    /// The deliveries of one change, in planning order.
    pub async fn deliveries_of_change(&self, change_id: i64) -> Result<Vec<Delivery>> {
        let rows: Vec<DeliveryRow> = on!(self.db.reader(), |db| sqlx::query_as(concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM deliveries WHERE change_id = $1 ORDER BY id"
        ))
        .bind(change_id)
        .fetch_all(db)
        .await)?;
        rows.into_iter().map(Delivery::try_from).collect()
    }

    /// Deliveries held by a gate, oldest first, for the engine to re-check.
    pub async fn held(&self, limit: u32) -> Result<Vec<Delivery>> {
        let rows: Vec<DeliveryRow> = on!(self.db.reader(), |db| sqlx::query_as(concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM deliveries WHERE state = 'held' ORDER BY id LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(db)
        .await)?;
        rows.into_iter().map(Delivery::try_from).collect()
    }
}

/// Claims up to `wanted` due heads (of `pipeline` only, if given) into `claimed`, suppressing
/// stale ones on the way.
async fn claim_heads(
    tx: &mut Tx,
    due_heads: &str,
    (now_ms, pipeline, wanted): (i64, Option<&str>, i64),
    (worker_id, lease_ms, at): (&str, i64, i64),
    claimed: &mut Vec<Delivery>,
) -> Result<()> {
    let mut got = 0;
    loop {
        let heads: Vec<Head> = on!(tx.conn(), |db| sqlx::query_as(due_heads)
            .bind(now_ms)
            .bind(wanted - got)
            .bind(pipeline)
            .fetch_all(db)
            .await)?;
        let mut suppressed_any = false;
        for head in heads {
            match head.last_confirmed_version {
                Some(last) if head.source_version < last => {
                    suppress_stale(tx, head.id, last, at).await?;
                    suppressed_any = true;
                }
                _ => {
                    let until = now_ms.saturating_add(lease_ms);
                    claimed.push(lease(tx, head.id, worker_id, until, at).await?);
                    got += 1;
                }
            }
        }
        // A suppressed head lets the next delivery in its lane move up: look again.
        if !suppressed_any || got >= wanted {
            return Ok(());
        }
    }
}

async fn lease(tx: &mut Tx, id: i64, worker_id: &str, until_ms: i64, at: i64) -> Result<Delivery> {
    let row: DeliveryRow = on!(tx.conn(), |db| sqlx::query_as(concat!(
        "UPDATE deliveries
         SET state = CASE WHEN state = 'pending' THEN 'in_flight' ELSE state END,
             lease_owner = $2, lease_token = lease_token + 1, lease_until_ms = $3,
             updated_at_ms = $4
         WHERE id = $1
         RETURNING ",
        delivery_columns!()
    ))
    .bind(id)
    .bind(worker_id)
    .bind(until_ms)
    .bind(at)
    .fetch_one(db)
    .await)?;
    row.try_into()
}

async fn suppress_stale(tx: &mut Tx, id: i64, last: i64, at: i64) -> Result<()> {
    let row: DeliveryRow = on!(tx.conn(), |db| sqlx::query_as(concat!(
        "UPDATE deliveries
         SET state = 'suppressed', state_reason = 'stale', lease_owner = NULL,
             lease_until_ms = NULL, updated_at_ms = $2
         WHERE id = $1
         RETURNING ",
        delivery_columns!()
    ))
    .bind(id)
    .bind(at)
    .fetch_one(db)
    .await)?;
    let delivery = Delivery::try_from(row)?;
    let entry = delivery.audit(
        AuditKind::Suppressed,
        json!({
            "reason": "stale",
            "source_version": delivery.source_version,
            "last_confirmed_version": last,
        }),
    );
    audit::append(tx, at, &[entry]).await
}
