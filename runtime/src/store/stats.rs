//! A snapshot of the store's queues for metrics and health.

use serde::Serialize;

use super::db::on;
use super::{DeliveryState, Result, Store};

/// How many deliveries are in each state, and how long the oldest unfinished change has waited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Stats {
    /// Changes received and not yet planned.
    pub unplanned: i64,
    /// Deliveries waiting to be written (due, or backing off before a retry).
    pub pending: i64,
    /// Deliveries held by a gate or by a durable timer (future-dated).
    pub held: i64,
    /// Deliveries waiting for an operator's review (`junction review`).
    pub review: i64,
    /// Deliveries a worker is writing.
    pub in_flight: i64,
    /// Deliveries accepted asynchronously whose job is being polled.
    pub awaiting_job: i64,
    /// Deliveries written and being read back.
    pub confirming: i64,
    /// Deliveries done.
    pub confirmed: i64,
    /// Deliveries suppressed (stale, not the owner, filtered, shadow).
    pub suppressed: i64,
    /// Deliveries dead-lettered and not redriven.
    pub dead: i64,
    /// Age of the oldest change still unplanned or with an unsettled, due delivery (0 if none).
    pub oldest_pending_age_ms: i64,
}

impl Store {
    /// Counts at `now_ms`. Scans the deliveries table; meant for a metrics scrape, not a loop.
    pub async fn stats(&self, now_ms: i64) -> Result<Stats> {
        Ok(on!(self.db.reader(), |db| sqlx::query_as(
            "WITH timed AS (
                 SELECT CASE WHEN state = 'pending' AND not_before_ms > $1
                                    THEN 'held' ELSE state END AS shown
                 FROM deliveries
             ),
             waiting AS (
                 SELECT received_at_ms AS since FROM changes WHERE planned_at_ms IS NULL
                 UNION ALL
                 -- A future-dated write is waiting only from its due time on.
                 SELECT CASE WHEN COALESCE(d.not_before_ms, 0) > c.received_at_ms
                             THEN d.not_before_ms ELSE c.received_at_ms END
                 FROM deliveries AS d JOIN changes AS c ON c.id = d.change_id
                 WHERE d.state IN ('pending', 'in_flight', 'awaiting_job', 'confirming')
                   AND COALESCE(d.not_before_ms, 0) <= $1
             )
             SELECT
                 (SELECT COUNT(*) FROM changes WHERE planned_at_ms IS NULL) AS unplanned,
                 COUNT(*) FILTER (WHERE shown = 'pending') AS pending,
                 COUNT(*) FILTER (WHERE shown = 'held') AS held,
                 COUNT(*) FILTER (WHERE shown = 'review') AS review,
                 COUNT(*) FILTER (WHERE shown = 'in_flight') AS in_flight,
                 COUNT(*) FILTER (WHERE shown = 'awaiting_job') AS awaiting_job,
                 COUNT(*) FILTER (WHERE shown = 'confirming') AS confirming,
                 COUNT(*) FILTER (WHERE shown = 'confirmed') AS confirmed,
                 COUNT(*) FILTER (WHERE shown = 'suppressed') AS suppressed,
                 COUNT(*) FILTER (WHERE shown = 'dead') AS dead,
                 CASE WHEN (SELECT MIN(since) FROM waiting) < $1
                      THEN $1 - (SELECT MIN(since) FROM waiting) ELSE 0 END
                      AS oldest_pending_age_ms
             FROM timed",
        )
        .bind(now_ms)
        .fetch_one(db)
        .await)?)
    }
}

/// One change and the states its deliveries are in: what a consistency campaign counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeOutcome {
    /// The source's event id (deduplicated: one change per event).
    pub source_event_id: String,
    /// The object.
    pub object: String,
    /// The entity.
    pub entity_key: String,
    /// Whether the planner has planned it.
    pub planned: bool,
    /// Each delivery's state and, if it has one, the reason (a suppression's, a hold's).
    pub deliveries: Vec<(DeliveryState, Option<String>)>,
}

impl Store {
    /// Every change of `pipeline` in the order received, with its deliveries' states. Reads
    /// the whole history at once: for campaigns and tests, not for a running store's hot path.
    pub async fn change_outcomes(&self, pipeline: &str) -> Result<Vec<ChangeOutcome>> {
        type Row = (
            i64,
            String,
            String,
            String,
            bool,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = on!(self.db.reader(), |db| sqlx::query_as(
            "SELECT c.id, c.source_event_id, c.object, c.entity_key,
                    c.planned_at_ms IS NOT NULL, d.state, d.state_reason
             FROM changes AS c LEFT JOIN deliveries AS d ON d.change_id = c.id
             WHERE c.pipeline = $1
             ORDER BY c.id, d.id",
        )
        .bind(pipeline)
        .fetch_all(db)
        .await)?;
        let mut out: Vec<ChangeOutcome> = Vec::new();
        let mut last = None;
        for (id, event, object, key, planned, state, reason) in rows {
            if last != Some(id) {
                last = Some(id);
                out.push(ChangeOutcome {
                    source_event_id: event,
                    object,
                    entity_key: key,
                    planned,
                    deliveries: Vec::new(),
                });
            }
            if let (Some(state), Some(change)) = (state, out.last_mut()) {
                change.deliveries.push((state.parse()?, reason));
            }
        }
        Ok(out)
    }
}
