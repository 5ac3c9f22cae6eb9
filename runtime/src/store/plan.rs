//! Planning: a change's deliveries (or suppressions) and their audit, committed in one go.

use std::collections::HashMap;

use super::audit::{self, NewAudit};
use super::db::{Tx, on};
use super::{Error, InitialState, NewDelivery, PlanResult, Planned, Result, Store};

impl Store {
    /// Commits the plan for one change in one transaction: inserts its deliveries, marks the
    /// change planned and appends `audit`.
    ///
    /// Idempotent twice over. A delivery whose idempotency key exists already is not written
    /// again (the earlier delivery stands: never a different write under one key). A change that
    /// is already planned (another planner got there first, or this plan was committed before a
    /// crash) writes nothing at all and reports `already_planned`.
    ///
    /// Audit entries without a `change_id` get this change's; entries naming a delivery's
    /// idempotency key get its `delivery_id`.
    pub async fn commit_plan(
        &self,
        change_id: i64,
        deliveries: Vec<NewDelivery>,
        mut audit: Vec<NewAudit>,
    ) -> Result<PlanResult> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let claimed: Option<(String, String)> = on!(tx.conn(), |db| sqlx::query_as(
            "UPDATE changes SET planned_at_ms = $2
             WHERE id = $1 AND planned_at_ms IS NULL
             RETURNING source, source_event_id",
        )
        .bind(change_id)
        .bind(now)
        .fetch_optional(db)
        .await)?;
        let Some((source, source_event_id)) = claimed else {
            let exists: Option<i64> = on!(tx.conn(), |db| sqlx::query_scalar(
                "SELECT id FROM changes WHERE id = $1"
            )
            .bind(change_id)
            .fetch_optional(db)
            .await)?;
            return match exists {
                Some(_) => Ok(PlanResult {
                    already_planned: true,
                    deliveries: Vec::new(),
                }),
                None => Err(Error::NotFound {
                    what: "change",
                    id: change_id,
                }),
            };
        };

        let origin = Origin {
            change_id,
            source: &source,
            source_event_id: &source_event_id,
            now,
        };
        let mut planned = Vec::with_capacity(deliveries.len());
        for delivery in &deliveries {
            planned.push(insert_delivery(&mut tx, &origin, delivery).await?);
        }
        let ids: HashMap<&str, i64> = planned
            .iter()
            .map(|p| (p.idempotency_key.as_str(), p.delivery_id))
            .collect();
        for entry in &mut audit {
            entry.change_id.get_or_insert(change_id);
            if entry.delivery_id.is_none()
                && let Some(key) = &entry.idempotency_key
            {
                entry.delivery_id = ids.get(key.as_str()).copied();
            }
        }
        audit::append(&mut tx, now, &audit).await?;
        if planned.iter().any(|p| p.inserted) {
            tx.notify(super::wake::DELIVERIES).await?;
        }
        tx.commit().await?;
        Ok(PlanResult {
            already_planned: false,
            deliveries: planned,
        })
    }
}

/// What a delivery inherits from its change.
struct Origin<'a> {
    change_id: i64,
    source: &'a str,
    source_event_id: &'a str,
    now: i64,
}

async fn insert_delivery(tx: &mut Tx, origin: &Origin<'_>, d: &NewDelivery) -> Result<Planned> {
    let (state, reason) = match &d.state {
        InitialState::Pending | InitialState::Shadow => ("pending", None),
        InitialState::Held { reason } => ("held", Some(reason.as_str())),
        InitialState::Review { reason } => ("review", Some(reason.as_str())),
        InitialState::Suppressed { reason } => ("suppressed", Some(reason.as_str())),
    };
    let shadow = d.state == InitialState::Shadow;
    let (source, source_event_id) = match &d.on_behalf_of {
        Some((source, event)) => (source.as_str(), event.as_str()),
        None => (origin.source, origin.source_event_id),
    };
    let confirm_fields = d
        .confirm
        .as_ref()
        .map(|c| serde_json::Value::from(c.fields.clone()).to_string());
    let inserted: Option<i64> = on!(tx.conn(), |db| sqlx::query_scalar(
        "INSERT INTO deliveries (pipeline, route, change_id, source, source_event_id, target,
                                 object, entity_key, operation, document, effective_at_ms,
                                 source_version, idempotency_key, priority, correlation_id,
                                 state, state_reason, not_before_ms, next_at_ms, max_attempts,
                                 confirm_fields, confirm_within_ms, created_at_ms, updated_at_ms,
                                 occurred_at_ms, shadow)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                 $18, $19, $20, $21, $22, $23, $23, $24, $25)
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING id",
    )
    .bind(&d.pipeline)
    .bind(&d.route)
    .bind(origin.change_id)
    .bind(source)
    .bind(source_event_id)
    .bind(&d.target)
    .bind(&d.object)
    .bind(&d.key)
    .bind(d.operation.as_str())
    .bind(&d.document)
    .bind(d.effective_at_ms)
    .bind(d.source_version)
    .bind(&d.idempotency_key)
    .bind(d.priority)
    .bind(&d.correlation_id)
    .bind(state)
    .bind(reason)
    .bind(d.not_before_ms)
    .bind(d.not_before_ms.unwrap_or(origin.now))
    .bind(d.max_attempts)
    .bind(confirm_fields)
    .bind(d.confirm.as_ref().map(|c| c.within_ms))
    .bind(origin.now)
    .bind(d.occurred_at_ms)
    .bind(shadow)
    .fetch_optional(db)
    .await)?;
    let (delivery_id, inserted) = match inserted {
        Some(id) => (id, true),
        None => {
            let id = on!(tx.conn(), |db| sqlx::query_scalar(
                "SELECT id FROM deliveries WHERE idempotency_key = $1"
            )
            .bind(&d.idempotency_key)
            .fetch_one(db)
            .await)?;
            (id, false)
        }
    };
    Ok(Planned {
        delivery_id,
        idempotency_key: d.idempotency_key.clone(),
        inserted,
    })
}
