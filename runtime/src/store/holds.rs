//! Deliveries waiting for a decision: held by a gate (released when it passes, or by an
//! operator) and in manual review (approved or rejected by an operator). Both block their lane.

use serde::Serialize;
use serde_json::{Value, json};

use super::audit::{self, AuditKind};
use super::db::on;
use super::deliveries::{DeliveryRow, delivery_columns};
use super::intake::change_columns;
use super::transitions::leased;
use super::{Attempt, Delivery, DeliveryState, Lease, Result, Store, StoredChange};

/// The error class (`CallError::class_name`) of a target refusing a write because its
/// idempotency key was used for a different request: counted per delivery
/// ([`Delivery::key_conflicts`]).
pub const KEY_CONFLICT_CLASS: &str = "idempotency-mismatch";

/// Which waiting deliveries to list.
#[derive(Debug, Clone, Default)]
pub struct WaitingFilter {
    /// Only this pipeline.
    pub pipeline: Option<String>,
    /// Only this route.
    pub route: Option<String>,
    /// Only deliveries with a greater id (to page through them).
    pub after_id: Option<i64>,
    /// At most this many.
    pub limit: Option<u32>,
}

/// An operator's decision on a waiting delivery, as audited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Who decided (`--by`, or the gate that now passes).
    pub by: String,
    /// Why.
    pub reason: String,
    /// A release although the gate still fails.
    #[serde(rename = "override")]
    pub overridden: bool,
}

impl Store {
    /// Deliveries in `state` (held or in review), oldest first, narrowed by `filter`.
    pub async fn waiting(
        &self,
        state: DeliveryState,
        filter: &WaitingFilter,
    ) -> Result<Vec<Delivery>> {
        let rows: Vec<DeliveryRow> = on!(self.db.reader(), |db| sqlx::query_as(concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM deliveries
              WHERE state = $1 AND ($2 IS NULL OR pipeline = $2) AND ($3 IS NULL OR route = $3)
                AND id > $4
              ORDER BY id LIMIT $5"
        ))
        .bind(state.as_str())
        .bind(filter.pipeline.as_deref())
        .bind(filter.route.as_deref())
        .bind(filter.after_id.unwrap_or(0))
        .bind(filter.limit.map_or(i64::MAX, i64::from))
        .fetch_all(db)
        .await)?;
        rows.into_iter().map(Delivery::try_from).collect()
    }

    /// The held deliveries of one entity of a pipeline, in source order.
    pub async fn held_of_entity(
        &self,
        pipeline: &str,
        object: &str,
        key: &str,
    ) -> Result<Vec<Delivery>> {
        let rows: Vec<DeliveryRow> = on!(self.db.reader(), |db| sqlx::query_as(concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM deliveries
              WHERE state = 'held' AND pipeline = $1 AND object = $2 AND entity_key = $3
              ORDER BY source_version, id"
        ))
        .bind(pipeline)
        .bind(object)
        .bind(key)
        .fetch_all(db)
        .await)?;
        rows.into_iter().map(Delivery::try_from).collect()
    }

    /// The newest change stored for an entity of a pipeline (highest source version, then
    /// the last received): what a gate is re-checked against.
    pub async fn newest_change(
        &self,
        pipeline: &str,
        object: &str,
        key: &str,
    ) -> Result<Option<StoredChange>> {
        Ok(on!(self.db.reader(), |db| sqlx::query_as(concat!(
            "SELECT ",
            change_columns!(),
            " FROM changes WHERE pipeline = $1 AND object = $2 AND entity_key = $3
              ORDER BY source_version DESC, id DESC LIMIT 1"
        ))
        .bind(pipeline)
        .bind(object)
        .bind(key)
        .fetch_optional(db)
        .await)?)
    }

    /// Every attempt of a delivery, oldest first.
    pub async fn attempts(&self, delivery_id: i64) -> Result<Vec<Attempt>> {
        Ok(on!(self.db.reader(), |db| sqlx::query_as(
            "SELECT n, started_ms, latency_ms, outcome, error_class, status_code, message
             FROM attempts WHERE delivery_id = $1 ORDER BY id",
        )
        .bind(delivery_id)
        .fetch_all(db)
        .await)?)
    }

    /// Releases a held delivery: it becomes pending, due at once (or at its timer, if that is
    /// later: its due time is kept, not read from this process's clock, so an operator's
    /// command never postpones a write), and goes first in its lane (in source order). Audited with who released it, why, and whether the gate was
    /// overridden. `None` when the delivery was not held (released meanwhile, or never held).
    pub async fn release_hold(&self, id: i64, decision: &Decision) -> Result<Option<Delivery>> {
        let detail = serde_json::to_value(decision).unwrap_or(Value::Null);
        self.decide(id, "held", "pending", None, AuditKind::Released, detail)
            .await
    }

    /// Approves a delivery in review: it becomes pending, due at once, with a fresh attempt budget
    /// and its original idempotency key. Audited with who and why.
    pub async fn approve(&self, id: i64, by: &str, reason: &str) -> Result<Option<Delivery>> {
        let detail = json!({ "by": by, "reason": reason });
        self.decide(id, "review", "pending", None, AuditKind::Approved, detail)
            .await
    }

    /// Rejects a delivery in review: it is suppressed with the reason, never written. Audited
    /// with who and why.
    pub async fn reject(&self, id: i64, by: &str, reason: &str) -> Result<Option<Delivery>> {
        let detail = json!({ "by": by, "reason": reason });
        let shown = format!("rejected in review by {by}: {reason}");
        self.decide(
            id,
            "review",
            "suppressed",
            Some(&shown),
            AuditKind::Rejected,
            detail,
        )
        .await
    }

    async fn decide(
        &self,
        id: i64,
        from: &str,
        to: &str,
        reason: Option<&str>,
        kind: AuditKind,
        detail: Value,
    ) -> Result<Option<Delivery>> {
        let now = self.now();
        let mut tx = self.begin().await?;
        // From review, the write starts a fresh budget (as a redrive does): the attempts that
        // led there are in the history, and conflicts are counted again from zero.
        let row: Option<DeliveryRow> = on!(tx.conn(), |db| sqlx::query_as(concat!(
            "UPDATE deliveries
             SET state = $3, state_reason = $4,
                 next_at_ms = CASE WHEN not_before_ms > next_at_ms THEN not_before_ms
                                   ELSE next_at_ms END,
                 attempts = CASE WHEN state = 'review' THEN 0 ELSE attempts END,
                 steps = CASE WHEN state = 'review' THEN 0 ELSE steps END,
                 key_conflicts = 0, lease_owner = NULL, lease_until_ms = NULL,
                 updated_at_ms = $2
             WHERE id = $1 AND state = $5
             RETURNING ",
            delivery_columns!()
        ))
        .bind(id)
        .bind(now)
        .bind(to)
        .bind(reason)
        .bind(from)
        .fetch_optional(db)
        .await)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let delivery = Delivery::try_from(row)?;
        audit::append(&mut tx, now, &[delivery.audit(kind, detail)]).await?;
        if to == "pending" {
            tx.notify(super::wake::DELIVERIES).await?;
        }
        tx.commit().await?;
        Ok(Some(delivery))
    }

    /// Sends a claimed delivery to manual review instead of writing (or retrying) it: it waits
    /// in `review`, blocking its lane, until an operator approves or rejects it. `evidence`
    /// (already masked) goes into the audit entry with the reason.
    pub async fn send_to_review(&self, lease: &Lease, reason: &str, evidence: Value) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let delivery = leased(&mut tx, lease).await?;
        on!(tx.conn(), |db| sqlx::query(
            "UPDATE deliveries
             SET state = 'review', state_reason = $2, updated_at_ms = $3,
                 lease_owner = NULL, lease_until_ms = NULL
             WHERE id = $1",
        )
        .bind(delivery.id)
        .bind(reason)
        .bind(now)
        .execute(db)
        .await
        .map(drop))?;
        let mut detail = json!({ "reason": reason, "attempts": delivery.attempts });
        if let (Some(map), Value::Object(extra)) = (detail.as_object_mut(), evidence) {
            map.extend(extra);
        }
        audit::append(&mut tx, now, &[delivery.audit(AuditKind::Review, detail)]).await?;
        tx.commit().await?;
        Ok(())
    }
}
