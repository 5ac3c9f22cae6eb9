//! Incident replay: confirmed writes sent again, in source order within each entity, under
//! their original idempotency keys, and confirmed again by read-back. After an incident at a
//! target (a restore from backup, a bad import, a mapping fixed after the fact), the read-back
//! shows whether each write still holds; one that does not is corrected like any write whose
//! read-back disagreed.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::audit::{self, AuditKind};
use super::db::on;
use super::deliveries::{DeliveryRow, delivery_columns};
use super::{Delivery, Result, Store};

/// Which confirmed writes to send again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayFilter {
    /// Writes of changes that happened at or after this time (ms since the epoch)...
    pub since_ms: i64,
    /// ...and before this one, if given.
    pub until_ms: Option<i64>,
    /// Only this pipeline.
    pub pipeline: Option<String>,
    /// Only these routes (all when empty).
    pub routes: Vec<String>,
    /// Only these priority classes (the deliveries' `priority`: 0 financial, 1 normal, 2 low;
    /// all when empty).
    pub priorities: Vec<i32>,
    /// Say what would be replayed; change nothing.
    pub dry_run: bool,
    /// Who asked, and why (audited with every replayed write).
    pub note: String,
}

/// One write sent again (or that would be, on a dry run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replayed {
    /// The delivery.
    pub delivery_id: i64,
    /// Its pipeline.
    pub pipeline: String,
    /// Its route.
    pub route: String,
    /// The target connector.
    pub target: String,
    /// The canonical object.
    pub object: String,
    /// The entity's key.
    pub key: String,
    /// The source version: the order within the entity.
    pub source_version: i64,
    /// When the change happened at the source.
    pub occurred_at_ms: i64,
    /// 0 financial, 1 normal, 2 low: the order across entities.
    pub priority: i32,
    /// The key it goes under (the original's).
    pub idempotency_key: String,
    /// Whether it was in the window itself, or is a later write of the same entity sent again
    /// so the entity ends at its newest state, not at an older one.
    pub in_window: bool,
}

impl Store {
    /// Sends confirmed writes matching `filter` again, in one transaction; returns them in the
    /// order they will go (priority, then source order). Each becomes pending under its
    /// original idempotency key, with a fresh attempt budget, and is confirmed again by
    /// read-back; each is audited as `replayed`.
    ///
    /// Within an entity (a lane: target, object, key) the writes go in source order, and every
    /// later confirmed write of that entity goes too, even outside the window: replaying only
    /// the older ones would leave the target at an older state than the source's newest. The
    /// lane's record of the newest confirmed version is moved back below the first replayed
    /// one, so none of them is suppressed as stale. Shadow and unconfirmed deliveries are not
    /// replayed (an unsettled one is still on its way; a dead one is redriven from the
    /// dead-letter queue).
    pub async fn replay(&self, filter: &ReplayFilter) -> Result<Vec<Replayed>> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let in_window: Vec<DeliveryRow> = on!(tx.conn(), |db| sqlx::query_as(concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM deliveries
             WHERE state = 'confirmed' AND NOT shadow
               AND COALESCE(occurred_at_ms, created_at_ms) >= $1
               AND ($2 IS NULL OR COALESCE(occurred_at_ms, created_at_ms) < $2)
               AND ($3 IS NULL OR pipeline = $3)
             ORDER BY id"
        ))
        .bind(filter.since_ms)
        .bind(filter.until_ms)
        .bind(&filter.pipeline)
        .fetch_all(db)
        .await)?;
        // The first replayed version of each lane.
        let mut lanes: BTreeMap<(String, String, String), i64> = BTreeMap::new();
        for row in in_window {
            let d = Delivery::try_from(row)?;
            if !filter.routes.is_empty() && !filter.routes.contains(&d.route) {
                continue;
            }
            if !filter.priorities.is_empty() && !filter.priorities.contains(&d.priority) {
                continue;
            }
            let first = lanes
                .entry((d.target.clone(), d.object.clone(), d.key.clone()))
                .or_insert(d.source_version);
            *first = (*first).min(d.source_version);
        }
        let mut replayed = Vec::new();
        for ((target, object, key), first) in &lanes {
            let rows: Vec<DeliveryRow> = on!(tx.conn(), |db| sqlx::query_as(concat!(
                "SELECT ",
                delivery_columns!(),
                " FROM deliveries
                 WHERE target = $1 AND object = $2 AND entity_key = $3
                   AND state = 'confirmed' AND NOT shadow AND source_version >= $4
                 ORDER BY source_version, id"
            ))
            .bind(target)
            .bind(object)
            .bind(key)
            .bind(first)
            .fetch_all(db)
            .await)?;
            for row in rows {
                let d = Delivery::try_from(row)?;
                let at = d.occurred_at_ms;
                let in_window = at >= filter.since_ms && filter.until_ms.is_none_or(|u| at < u);
                replayed.push((d, in_window));
            }
        }
        if !filter.dry_run {
            for ((target, object, key), first) in &lanes {
                on!(tx.conn(), |db| sqlx::query(
                    "UPDATE lanes SET last_confirmed_version = $4, updated_at_ms = $5
                     WHERE target = $1 AND object = $2 AND entity_key = $3
                       AND last_confirmed_version >= $4",
                )
                .bind(target)
                .bind(object)
                .bind(key)
                .bind(first - 1)
                .bind(now)
                .execute(db)
                .await
                .map(drop))?;
            }
            let mut entries = Vec::with_capacity(replayed.len());
            for (d, in_window) in &replayed {
                on!(tx.conn(), |db| sqlx::query(
                    "UPDATE deliveries
                     SET state = 'pending', state_reason = NULL, attempts = 0, steps = 0,
                         next_at_ms = $2, job_ref = NULL, confirm_deadline_ms = NULL,
                         lease_owner = NULL, lease_until_ms = NULL, updated_at_ms = $2
                     WHERE id = $1",
                )
                .bind(d.id)
                .bind(now)
                .execute(db)
                .await
                .map(drop))?;
                entries.push(d.audit(
                    AuditKind::Replayed,
                    json!({
                        "since_ms": filter.since_ms,
                        "until_ms": filter.until_ms,
                        "in_window": in_window,
                        "note": filter.note,
                        "idempotency_key": d.idempotency_key,
                    }),
                ));
            }
            audit::append(&mut tx, now, &entries).await?;
            if !replayed.is_empty() {
                tx.notify(super::wake::DELIVERIES).await?;
            }
        }
        tx.commit().await?;
        let mut out: Vec<Replayed> = replayed
            .into_iter()
            .map(|(d, in_window)| Replayed {
                delivery_id: d.id,
                pipeline: d.pipeline,
                route: d.route,
                target: d.target,
                object: d.object,
                key: d.key,
                source_version: d.source_version,
                occurred_at_ms: d.occurred_at_ms,
                priority: d.priority,
                idempotency_key: d.idempotency_key,
                in_window,
            })
            .collect();
        out.sort_by_key(|r| (r.priority, r.source_version, r.delivery_id));
        Ok(out)
    }
}
