//! The dead-letter queue: list, show with attempt history, and redrive in source order.

use serde::Serialize;
use serde_json::json;

use super::audit::{self, AuditKind};
use super::db::on;
use super::deliveries::{DeliveryRow, delivery_columns};
use super::{Attempt, Delivery, Result, Store};

/// A dead letter: a delivery that failed for good, with its masked payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct DeadLetter {
    /// Its id.
    pub id: i64,
    /// The delivery that died.
    pub delivery_id: i64,
    /// The pipeline.
    pub pipeline: String,
    /// The route.
    pub route: String,
    /// The target connector.
    pub target: String,
    /// The canonical object.
    pub object: String,
    /// The entity's key.
    #[sqlx(rename = "entity_key")]
    pub key: String,
    /// The source event that caused the write.
    pub source_event_id: String,
    /// The write's idempotency key (kept on redrive).
    pub idempotency_key: String,
    /// The correlation id.
    pub correlation_id: String,
    /// The source version of the write.
    pub source_version: i64,
    /// Why it died (`rejected: ...`, `not confirmed`, `attempts exhausted`, ...).
    pub reason: String,
    /// The document with the masking policy applied.
    pub payload: String,
    /// Attempts made in the budget that ended here.
    pub attempts: i32,
    /// When it died.
    pub created_at_ms: i64,
    /// When it was redriven, if it was.
    pub redriven_at_ms: Option<i64>,
}

/// A dead letter with the whole attempt history of its delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetterDetail {
    /// The letter.
    pub letter: DeadLetter,
    /// Every attempt of the delivery, oldest first, across redrives.
    pub attempts: Vec<Attempt>,
}

/// Which dead letters to list or redrive. The default: every letter not yet redriven.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DlqFilter {
    /// Only this pipeline.
    pub pipeline: Option<String>,
    /// Only this route.
    pub route: Option<String>,
    /// Only this target connector.
    pub target: Option<String>,
    /// Also letters already redriven (listing only; they are never redriven twice).
    pub include_redriven: bool,
    /// At most this many.
    pub limit: Option<u32>,
}

/// What to redrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redrive {
    /// These dead letters (ids from [`Store::dlq_list`]).
    Ids(Vec<i64>),
    /// Every open letter the filter matches.
    Matching(DlqFilter),
}

/// The columns of [`DeadLetter`], from `dead_letters AS l JOIN deliveries AS d`.
macro_rules! letter_columns {
    () => {
        "l.id, l.delivery_id, d.pipeline, d.route, d.target, d.object, d.entity_key, \
         d.source_event_id, d.idempotency_key, d.correlation_id, d.source_version, l.reason, \
         l.payload, l.attempts, l.created_at_ms, l.redriven_at_ms"
    };
}

impl Store {
    /// Dead letters matching `filter`, oldest first.
    pub async fn dlq_list(&self, filter: &DlqFilter) -> Result<Vec<DeadLetter>> {
        Ok(on!(self.db.reader(), |db| sqlx::query_as(concat!(
            "SELECT ",
            letter_columns!(),
            " FROM dead_letters AS l JOIN deliveries AS d ON d.id = l.delivery_id
              WHERE ($1 IS NULL OR d.pipeline = $1)
                AND ($2 IS NULL OR d.route = $2)
                AND ($3 IS NULL OR d.target = $3)
                AND ($4 OR l.redriven_at_ms IS NULL)
              ORDER BY l.id
              LIMIT $5"
        ))
        .bind(&filter.pipeline)
        .bind(&filter.route)
        .bind(&filter.target)
        .bind(filter.include_redriven)
        .bind(filter.limit.map_or(i64::MAX, i64::from))
        .fetch_all(db)
        .await)?)
    }

    /// One dead letter with its delivery's whole attempt history.
    pub async fn dlq_show(&self, id: i64) -> Result<Option<DeadLetterDetail>> {
        let letter: Option<DeadLetter> = on!(self.db.reader(), |db| sqlx::query_as(concat!(
            "SELECT ",
            letter_columns!(),
            " FROM dead_letters AS l JOIN deliveries AS d ON d.id = l.delivery_id
              WHERE l.id = $1"
        ))
        .bind(id)
        .fetch_optional(db)
        .await)?;
        let Some(letter) = letter else {
            return Ok(None);
        };
        let attempts = self.attempts(letter.delivery_id).await?;
        Ok(Some(DeadLetterDetail { letter, attempts }))
    }

    /// Sends dead letters back for delivery, in source order, in one transaction; returns how
    /// many were redriven. Each letter is marked redriven and its delivery becomes pending with a
    /// fresh attempt budget and the same idempotency key (the target can still recognise an
    /// earlier write). Idempotent: a letter already redriven is skipped, so redriving twice
    /// redrives once. A redriven write that an entity has since moved past is suppressed as
    /// stale when claimed.
    pub async fn redrive(&self, which: &Redrive) -> Result<u64> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let letters: Vec<(i64, i64)> = match which {
            Redrive::Ids(ids) => {
                let mut found = Vec::with_capacity(ids.len());
                for id in ids {
                    let letter: Option<(i64, i64)> = on!(tx.conn(), |db| sqlx::query_as(
                        "SELECT l.id, l.delivery_id FROM dead_letters AS l
                         JOIN deliveries AS d ON d.id = l.delivery_id
                         WHERE l.id = $1 AND l.redriven_at_ms IS NULL AND d.state = 'dead'",
                    )
                    .bind(id)
                    .fetch_optional(db)
                    .await)?;
                    found.extend(letter);
                }
                found
            }
            Redrive::Matching(filter) => on!(tx.conn(), |db| sqlx::query_as(
                "SELECT l.id, l.delivery_id
                     FROM dead_letters AS l JOIN deliveries AS d ON d.id = l.delivery_id
                     WHERE l.redriven_at_ms IS NULL AND d.state = 'dead'
                       AND ($1 IS NULL OR d.pipeline = $1)
                       AND ($2 IS NULL OR d.route = $2)
                       AND ($3 IS NULL OR d.target = $3)
                     ORDER BY d.source_version, d.id
                     LIMIT $4",
            )
            .bind(&filter.pipeline)
            .bind(&filter.route)
            .bind(&filter.target)
            .bind(filter.limit.map_or(i64::MAX, i64::from))
            .fetch_all(db)
            .await)?,
        };

        let mut redriven = Vec::with_capacity(letters.len());
        for (letter_id, delivery_id) in letters {
            on!(tx.conn(), |db| sqlx::query(
                "UPDATE dead_letters SET redriven_at_ms = $2 WHERE id = $1"
            )
            .bind(letter_id)
            .bind(now)
            .execute(db)
            .await
            .map(drop))?;
            let row: DeliveryRow = on!(tx.conn(), |db| {
                sqlx::query_as(concat!(
                "UPDATE deliveries
                 SET state = 'pending', state_reason = NULL, attempts = 0, steps = 0, redrives = redrives + 1,
                     next_at_ms = $2, job_ref = NULL, confirm_deadline_ms = NULL,
                     lease_owner = NULL, lease_until_ms = NULL, updated_at_ms = $2
                 WHERE id = $1
                 RETURNING ",
                delivery_columns!()
            ))
            .bind(delivery_id)
            .bind(now)
            .fetch_one(db)
            .await
            })?;
            redriven.push((letter_id, Delivery::try_from(row)?));
        }
        // Source order across lanes too, so the audit reads in the order writes will go.
        redriven.sort_by_key(|(_, d)| (d.source_version, d.id));
        let entries: Vec<_> = redriven
            .iter()
            .map(|(letter_id, d)| {
                let detail = json!({ "dead_letter_id": letter_id, "redrives": d.redrives });
                d.audit(AuditKind::Redriven, detail)
            })
            .collect();
        audit::append(&mut tx, now, &entries).await?;
        if !redriven.is_empty() {
            tx.notify(super::wake::DELIVERIES).await?;
        }
        tx.commit().await?;
        Ok(redriven.len() as u64)
    }
}
