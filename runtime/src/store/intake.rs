//! Intake: changes and their dedupe records, committed in one transaction before the ack.

use serde_json::json;

use super::audit::{self, AuditKind};
use super::db::{Tx, on};
use super::{Intake, NewChange, Result, Store, StoredChange};

/// The columns of `changes`, as [`StoredChange`] reads them.
macro_rules! change_columns {
    () => {
        "id, pipeline, source, source_event_id, object, entity_key, operation, before_doc, \
         after_doc, occurred_at_ms, effective_at_ms, source_version, metadata, correlation_id, \
         received_at_ms"
    };
}
pub(super) use change_columns;

impl Store {
    /// Stores a batch of changes in one transaction: each is inserted unless the same
    /// (pipeline, source, event id, object, key) was seen before, in an earlier batch or earlier
    /// in this one, and each gets a `received` or `duplicate` audit entry. Returns one outcome per
    /// change, in order. When this returns `Ok` the batch is durable: the webhook may be acked.
    ///
    /// Concurrent requests should be gathered into one batch (group commit): a commit costs a
    /// disk flush, and a batch of a hundred changes costs about the same as one.
    pub async fn intake(&self, batch: &[NewChange]) -> Result<Vec<Intake>> {
        self.intake_inner(batch, None).await
    }

    /// [`Store::intake`] for a polled batch: the poll cursor advances in the same transaction,
    /// so the changes and the cursor that follows them are committed together.
    pub async fn intake_polled(
        &self,
        batch: &[NewChange],
        pipeline: &str,
        source: &str,
        object: &str,
        cursor: &str,
    ) -> Result<Vec<Intake>> {
        self.intake_inner(batch, Some((pipeline, source, object, cursor)))
            .await
    }

    /// Two workers that receive the same events at once (a provider retrying to another
    /// worker) may deadlock on PostgreSQL's unique index, each waiting for the other's insert;
    /// the database aborts one of them, which then simply runs again and finds duplicates.
    async fn intake_inner(
        &self,
        batch: &[NewChange],
        cursor: Option<(&str, &str, &str, &str)>,
    ) -> Result<Vec<Intake>> {
        let mut tries = 0;
        loop {
            match self.intake_once(batch, cursor).await {
                Err(e) if e.is_retryable_conflict() && tries < 3 => tries += 1,
                done => return done,
            }
        }
    }

    async fn intake_once(
        &self,
        batch: &[NewChange],
        cursor: Option<(&str, &str, &str, &str)>,
    ) -> Result<Vec<Intake>> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut entries = Vec::with_capacity(batch.len());
        for change in batch {
            let outcome = insert_change(&mut tx, change, now).await?;
            let (kind, detail) = match outcome {
                Intake::Accepted { .. } => (
                    AuditKind::Received,
                    json!({
                        "source": change.source,
                        "operation": change.operation,
                        "source_version": change.source_version,
                        "occurred_at_ms": change.occurred_at_ms,
                        "effective_at_ms": change.effective_at_ms,
                    }),
                ),
                Intake::Duplicate { change_id } => (
                    AuditKind::Duplicate,
                    json!({ "source": change.source, "first_change_id": change_id }),
                ),
            };
            let mut entry = change.audit(kind, detail);
            entry.change_id = Some(outcome.change_id());
            entries.push(entry);
            outcomes.push(outcome);
        }
        audit::append(&mut tx, now, &entries).await?;
        if outcomes.iter().any(|o| !o.is_duplicate()) {
            tx.notify(super::wake::CHANGES).await?;
        }
        if let Some((pipeline, source, object, position)) = cursor {
            super::cursors::upsert(&mut tx, pipeline, source, object, position, now).await?;
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Changes not yet planned, oldest first.
    pub async fn unplanned_changes(&self, limit: u32) -> Result<Vec<StoredChange>> {
        Ok(on!(self.db.reader(), |db| sqlx::query_as(concat!(
            "SELECT ",
            change_columns!(),
            " FROM changes WHERE planned_at_ms IS NULL ORDER BY id LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(db)
        .await)?)
    }

    /// [`Store::unplanned_changes`] for a planner among several workers: the changes are
    /// claimed for `worker` for `lease_ms`, so the other workers' planners take other changes
    /// meanwhile instead of planning the same ones (which would be harmless, since a change is
    /// planned once whoever commits first, but wasted). A planner that dies leaves its claims
    /// to expire. On SQLite, with its one worker, this is the plain read.
    pub async fn claim_unplanned(
        &self,
        limit: u32,
        worker: &str,
        lease_ms: i64,
    ) -> Result<Vec<StoredChange>> {
        if self.dialect() == super::Dialect::Sqlite {
            return self.unplanned_changes(limit).await;
        }
        let now = self.now();
        let mut tx = self.begin().await?;
        let sql = format!(
            "UPDATE changes SET plan_owner = $2, plan_until_ms = $3
             WHERE id IN (SELECT id FROM changes
                          WHERE planned_at_ms IS NULL
                            AND (plan_until_ms IS NULL OR plan_until_ms <= $4)
                          ORDER BY id LIMIT $1{})
             RETURNING {}",
            tx.dialect().skip_locked("changes"),
            change_columns!()
        );
        let mut claimed: Vec<StoredChange> = on!(tx.conn(), |db| sqlx::query_as(&sql)
            .bind(i64::from(limit))
            .bind(worker)
            .bind(now.saturating_add(lease_ms))
            .bind(now)
            .fetch_all(db)
            .await)?;
        tx.commit().await?;
        claimed.sort_by_key(|c| c.id);
        Ok(claimed)
    }

    /// The newest change `source` reported about one entity (by source version, then arrival),
    /// other than change `except`: what the system of record last said about it, which the
    /// planner holds a non-owner's values against (field ownership).
    pub async fn latest_change_from(
        &self,
        pipeline: &str,
        source: &str,
        (object, key): (&str, &str),
        except: i64,
    ) -> Result<Option<StoredChange>> {
        Ok(on!(self.db.reader(), |db| sqlx::query_as(concat!(
            "SELECT ",
            change_columns!(),
            " FROM changes
             WHERE pipeline = $1 AND source = $2 AND object = $3 AND entity_key = $4 AND id <> $5
             ORDER BY source_version DESC, id DESC LIMIT 1"
        ))
        .bind(pipeline)
        .bind(source)
        .bind(object)
        .bind(key)
        .bind(except)
        .fetch_optional(db)
        .await)?)
    }

    /// One stored change.
    pub async fn change(&self, id: i64) -> Result<Option<StoredChange>> {
        Ok(on!(self.db.reader(), |db| sqlx::query_as(concat!(
            "SELECT ",
            change_columns!(),
            " FROM changes WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(db)
        .await)?)
    }
}

pub(super) async fn insert_change(tx: &mut Tx, c: &NewChange, now: i64) -> Result<Intake> {
    let inserted: Option<i64> = on!(tx.conn(), |db| sqlx::query_scalar(
        "INSERT INTO changes (pipeline, source, source_event_id, object, entity_key, operation,
                              before_doc, after_doc, occurred_at_ms, effective_at_ms,
                              source_version, metadata, correlation_id, received_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         ON CONFLICT (pipeline, source, source_event_id, object, entity_key) DO NOTHING
         RETURNING id",
    )
    .bind(&c.pipeline)
    .bind(&c.source)
    .bind(&c.source_event_id)
    .bind(&c.object)
    .bind(&c.key)
    .bind(c.operation.as_str())
    .bind(&c.before)
    .bind(&c.after)
    .bind(c.occurred_at_ms)
    .bind(c.effective_at_ms)
    .bind(c.source_version)
    .bind(&c.metadata)
    .bind(&c.correlation_id)
    .bind(now)
    .fetch_optional(db)
    .await)?;
    if let Some(change_id) = inserted {
        return Ok(Intake::Accepted { change_id });
    }
    let change_id = on!(tx.conn(), |db| sqlx::query_scalar(
        "SELECT id FROM changes
         WHERE pipeline = $1 AND source = $2 AND source_event_id = $3
           AND object = $4 AND entity_key = $5",
    )
    .bind(&c.pipeline)
    .bind(&c.source)
    .bind(&c.source_event_id)
    .bind(&c.object)
    .bind(&c.key)
    .fetch_one(db)
    .await)?;
    Ok(Intake::Duplicate { change_id })
}
