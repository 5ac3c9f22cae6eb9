//! A claimed delivery's transitions, each one transaction with its audit entry, each checking
//! the worker's lease so a worker whose lease was taken over cannot overwrite the new holder.

use serde_json::json;

use super::audit::{self, AuditKind};
use super::db::{Tx, on};
use super::deliveries::{DeliveryRow, delivery_columns};
use super::{Attempt, Delivery, DeliveryState, Error, Lease, Result, Store};

impl Store {
    /// Records one attempt (its message already masked). The lease is kept: the worker goes on
    /// to say what comes next.
    pub async fn record_attempt(&self, lease: &Lease, attempt: &Attempt) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let delivery = leased(&mut tx, lease).await?;
        on!(tx.conn(), |db| sqlx::query(
            "INSERT INTO attempts (delivery_id, n, started_ms, latency_ms, outcome, error_class,
                                   status_code, message)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(delivery.id)
        .bind(attempt.n)
        .bind(attempt.started_ms)
        .bind(attempt.latency_ms)
        .bind(&attempt.outcome)
        .bind(&attempt.error_class)
        .bind(attempt.status_code)
        .bind(&attempt.message)
        .execute(db)
        .await
        .map(drop))?;
        // A failed attempt's message (or at least its class) becomes the last error.
        let error = attempt
            .error_class
            .as_ref()
            .map(|class| attempt.message.as_ref().unwrap_or(class));
        on!(tx.conn(), |db| sqlx::query(
            "UPDATE deliveries
             SET attempts = attempts + 1, first_attempt_ms = COALESCE(first_attempt_ms, $2),
                 last_error = COALESCE($3, last_error), updated_at_ms = $4,
                 key_conflicts = key_conflicts + $5
             WHERE id = $1",
        )
        .bind(delivery.id)
        .bind(attempt.started_ms)
        .bind(error)
        .bind(now)
        .bind(i32::from(
            attempt.error_class.as_deref() == Some(super::holds::KEY_CONFLICT_CLASS),
        ))
        .execute(db)
        .await
        .map(drop))?;
        let entry = delivery.audit(
            AuditKind::Attempt,
            json!({
                "n": attempt.n,
                "outcome": attempt.outcome,
                "latency_ms": attempt.latency_ms,
                "status_code": attempt.status_code,
                "error_class": attempt.error_class,
                "message": attempt.message,
            }),
        );
        audit::append(&mut tx, now, &[entry]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives the delivery back to be written again at `next_at_ms` (a transient failure, a rate
    /// limit), under the same idempotency key.
    pub async fn retry_later(&self, lease: &Lease, next_at_ms: i64, error: &str) -> Result<()> {
        self.reschedule(lease, next_at_ms, error, AuditKind::RetryScheduled)
            .await
    }

    /// The read-back did not show the intended values by the deadline although the target
    /// reported success: a corrective write goes at `next_at_ms` under the next repair
    /// generation's key ([`Delivery::write_key`]), audited as a repair with the reason (the
    /// fields that differ).
    pub async fn not_confirmed(&self, lease: &Lease, next_at_ms: i64, reason: &str) -> Result<()> {
        self.reschedule(lease, next_at_ms, reason, AuditKind::NotConfirmed)
            .await
    }

    async fn reschedule(
        &self,
        lease: &Lease,
        next_at_ms: i64,
        error: &str,
        kind: AuditKind,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let delivery = leased(&mut tx, lease).await?;
        let repair = kind == AuditKind::NotConfirmed;
        on!(tx.conn(), |db| sqlx::query(
            "UPDATE deliveries
             SET state = 'pending', next_at_ms = $2, last_error = $3, job_ref = NULL,
                 confirm_deadline_ms = NULL, updated_at_ms = $4,
                 lease_owner = NULL, lease_until_ms = NULL, repairs = repairs + $5,
                 -- A corrective write starts its steps over, under its own keys.
                 steps = CASE WHEN $5 = 1 THEN 0 ELSE steps END
             WHERE id = $1",
        )
        .bind(delivery.id)
        .bind(next_at_ms)
        .bind(error)
        .bind(now)
        .bind(i32::from(repair))
        .execute(db)
        .await
        .map(drop))?;
        let mut detail =
            json!({ "error": error, "next_at_ms": next_at_ms, "attempts": delivery.attempts });
        if repair {
            let generation = delivery.repairs + 1;
            detail["repair"] = json!(generation);
            detail["write_key"] = json!(super::schema::write_key(
                &delivery.idempotency_key,
                generation
            ));
        }
        let entry = delivery.audit(kind, detail);
        audit::append(&mut tx, now, &[entry]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The target accepted the write asynchronously: poll `job_ref` from `next_check_ms`.
    /// Called again after a poll that found the job still running, it only moves the next check.
    ///
    /// Coming from a write, this starts the confirmation deadline (`confirm.within_ms`), which
    /// then covers the job and the read-back after it.
    ///
    /// `continues` marks the job as one step of a write of several (see
    /// [`Store::continue_write`]).
    pub async fn await_job(
        &self,
        lease: &Lease,
        job_ref: &str,
        next_check_ms: i64,
        continues: bool,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let delivery = leased(&mut tx, lease).await?;
        let deadline = deadline(&delivery, now);
        set_waiting(
            &mut tx,
            &delivery,
            "awaiting_job",
            next_check_ms,
            deadline,
            now,
        )
        .await?;
        on!(tx.conn(), |db| sqlx::query(
            "UPDATE deliveries SET job_ref = $2, job_continues = $3 WHERE id = $1"
        )
        .bind(delivery.id)
        .bind(job_ref)
        .bind(continues)
        .execute(db)
        .await
        .map(drop))?;
        if delivery.state != DeliveryState::AwaitingJob {
            let detail = json!({
                "job_ref": job_ref,
                "confirm_deadline_ms": deadline,
                "step_of_several": continues,
            });
            let entry = delivery.audit(AuditKind::Accepted, detail);
            audit::append(&mut tx, now, &[entry]).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A job that was one step of a write of several succeeded: the write is applied again at
    /// once (same key), and the connector sends the next step from what the target now holds.
    /// The confirmation deadline starts again with that step.
    pub async fn continue_write(&self, lease: &Lease) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let delivery = leased(&mut tx, lease).await?;
        on!(tx.conn(), |db| sqlx::query(
            "UPDATE deliveries
             SET state = 'pending', next_at_ms = $2, job_ref = NULL, job_continues = FALSE,
                 confirm_deadline_ms = NULL, updated_at_ms = $2, steps = steps + 1,
                 lease_owner = NULL, lease_until_ms = NULL
             WHERE id = $1",
        )
        .bind(delivery.id)
        .bind(now)
        .execute(db)
        .await
        .map(drop))?;
        let detail = json!({ "job_ref": delivery.job_ref, "next": "the write's next step" });
        audit::append(
            &mut tx,
            now,
            &[delivery.audit(AuditKind::JobSucceeded, detail)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The write was applied (or its job succeeded): read back `target_ref` from
    /// `next_check_ms`. Called again after a read-back that did not match yet, it only moves the
    /// next check. Coming from a write, this starts the confirmation deadline.
    pub async fn start_confirm(
        &self,
        lease: &Lease,
        target_ref: &str,
        next_check_ms: i64,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let delivery = leased(&mut tx, lease).await?;
        let deadline = deadline(&delivery, now);
        set_waiting(
            &mut tx,
            &delivery,
            "confirming",
            next_check_ms,
            deadline,
            now,
        )
        .await?;
        on!(tx.conn(), |db| sqlx::query(
            "UPDATE deliveries SET target_ref = $2 WHERE id = $1"
        )
        .bind(delivery.id)
        .bind(target_ref)
        .execute(db)
        .await
        .map(drop))?;
        let kind = match delivery.state {
            DeliveryState::Confirming => None,
            DeliveryState::AwaitingJob => Some(AuditKind::JobSucceeded),
            _ => Some(AuditKind::Applied),
        };
        if let Some(kind) = kind {
            let detail = json!({
                "target_ref": target_ref,
                "job_ref": delivery.job_ref,
                "confirm_deadline_ms": deadline,
            });
            audit::append(&mut tx, now, &[delivery.audit(kind, detail)]).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Done: the read-back showed the intended values. Settles the delivery, advances its
    /// lane's last confirmed version (later-arriving older changes become stale) and records
    /// the source key <-> target key pair in the xref.
    pub async fn confirmed(&self, lease: &Lease, target_ref: &str) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let delivery = leased(&mut tx, lease).await?;
        on!(tx.conn(), |db| sqlx::query(
            "UPDATE deliveries
             SET state = 'confirmed', target_ref = $2, state_reason = NULL, updated_at_ms = $3,
                 lease_owner = NULL, lease_until_ms = NULL
             WHERE id = $1",
        )
        .bind(delivery.id)
        .bind(target_ref)
        .bind(now)
        .execute(db)
        .await
        .map(drop))?;
        on!(tx.conn(), |db| sqlx::query(
            "INSERT INTO lanes (target, object, entity_key, last_confirmed_version,
                                last_delivery_id, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (target, object, entity_key) DO UPDATE SET
                 last_confirmed_version = excluded.last_confirmed_version,
                 last_delivery_id = excluded.last_delivery_id,
                 updated_at_ms = excluded.updated_at_ms
             WHERE excluded.last_confirmed_version >= lanes.last_confirmed_version",
        )
        .bind(&delivery.target)
        .bind(&delivery.object)
        .bind(&delivery.key)
        .bind(delivery.source_version)
        .bind(delivery.id)
        .bind(now)
        .execute(db)
        .await
        .map(drop))?;
        if !target_ref.is_empty() {
            super::xref::link(
                &mut tx,
                &delivery.object,
                (&delivery.source, &delivery.key),
                (&delivery.target, target_ref),
                now,
            )
            .await?;
        }
        let detail = json!({
            "target": delivery.target,
            "target_ref": target_ref,
            "source_version": delivery.source_version,
            "attempts": delivery.attempts,
        });
        let entry = delivery.audit(AuditKind::Confirmed, detail);
        audit::append(&mut tx, now, &[entry]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives up: the delivery becomes a dead letter holding `masked_payload` (the document with
    /// the masking policy applied) and `reason`; its attempt history stays with it. Returns the
    /// dead letter's id.
    pub async fn dead_letter(
        &self,
        lease: &Lease,
        reason: &str,
        masked_payload: &str,
    ) -> Result<i64> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let delivery = leased(&mut tx, lease).await?;
        let letter_id: i64 = on!(tx.conn(), |db| sqlx::query_scalar(
            "INSERT INTO dead_letters (delivery_id, reason, payload, attempts, created_at_ms)
             VALUES ($1, $2, $3, $4, $5)
             RETURNING id",
        )
        .bind(delivery.id)
        .bind(reason)
        .bind(masked_payload)
        .bind(delivery.attempts)
        .bind(now)
        .fetch_one(db)
        .await)?;
        on!(tx.conn(), |db| sqlx::query(
            "UPDATE deliveries
             SET state = 'dead', state_reason = $2, updated_at_ms = $3,
                 lease_owner = NULL, lease_until_ms = NULL
             WHERE id = $1",
        )
        .bind(delivery.id)
        .bind(reason)
        .bind(now)
        .execute(db)
        .await
        .map(drop))?;
        let detail = json!({
            "reason": reason,
            "attempts": delivery.attempts,
            "dead_letter_id": letter_id,
        });
        let entry = delivery.audit(AuditKind::DeadLettered, detail);
        audit::append(&mut tx, now, &[entry]).await?;
        tx.commit().await?;
        Ok(letter_id)
    }

    /// Hands a claimed delivery back untouched (shutdown, local rate limit): it is due again
    /// at once, with no attempt counted.
    pub async fn release(&self, lease: &Lease) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let delivery = leased(&mut tx, lease).await?;
        on!(tx.conn(), |db| sqlx::query(
            "UPDATE deliveries
             SET state = CASE WHEN state = 'in_flight' THEN 'pending' ELSE state END,
                 updated_at_ms = $2, lease_owner = NULL, lease_until_ms = NULL
             WHERE id = $1",
        )
        .bind(delivery.id)
        .bind(now)
        .execute(db)
        .await
        .map(drop))?;
        tx.commit().await?;
        Ok(())
    }

    /// Releases a delivery held by a gate (the gate now passes): it becomes pending, due at its
    /// timer or now. Returns false when the delivery was not held.
    pub async fn resume_held(&self, id: i64, note: &str) -> Result<bool> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let row: Option<DeliveryRow> = on!(tx.conn(), |db| sqlx::query_as(concat!(
            "UPDATE deliveries
             SET state = 'pending', state_reason = NULL,
                 next_at_ms = CASE WHEN not_before_ms > $2 THEN not_before_ms ELSE $2 END,
                 updated_at_ms = $2
             WHERE id = $1 AND state = 'held'
             RETURNING ",
            delivery_columns!()
        ))
        .bind(id)
        .bind(now)
        .fetch_optional(db)
        .await)?;
        let Some(row) = row else {
            return Ok(false);
        };
        let delivery = Delivery::try_from(row)?;
        let entry = delivery.audit(AuditKind::Released, json!({ "note": note }));
        audit::append(&mut tx, now, &[entry]).await?;
        tx.notify(super::wake::DELIVERIES).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// The delivery, if `lease` still holds it; otherwise [`Error::LeaseLost`].
pub(super) async fn leased(tx: &mut Tx, lease: &Lease) -> Result<Delivery> {
    let row: Option<DeliveryRow> = on!(tx.conn(), |db| sqlx::query_as(concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM deliveries WHERE id = $1 AND lease_owner = $2 AND lease_token = $3"
    ))
    .bind(lease.delivery_id)
    .bind(&lease.worker)
    .bind(lease.token)
    .fetch_optional(db)
    .await)?;
    match row {
        Some(row) => row.try_into(),
        None => Err(Error::LeaseLost {
            delivery_id: lease.delivery_id,
        }),
    }
}

/// A new confirmation deadline when coming from a write; the running one otherwise.
fn deadline(delivery: &Delivery, now: i64) -> Option<i64> {
    match (delivery.state, delivery.confirm_deadline_ms) {
        (DeliveryState::AwaitingJob | DeliveryState::Confirming, Some(running)) => Some(running),
        _ => delivery
            .confirm
            .as_ref()
            .map(|c| now.saturating_add(c.within_ms)),
    }
}

/// Parks a delivery in `state` until `next_check_ms` and gives it back (no worker holds it).
async fn set_waiting(
    tx: &mut Tx,
    delivery: &Delivery,
    state: &str,
    next_check_ms: i64,
    deadline: Option<i64>,
    now: i64,
) -> Result<()> {
    on!(tx.conn(), |db| sqlx::query(
        "UPDATE deliveries
         SET state = $2, next_at_ms = $3, confirm_deadline_ms = $4, updated_at_ms = $5,
             lease_owner = NULL, lease_until_ms = NULL
         WHERE id = $1",
    )
    .bind(delivery.id)
    .bind(state)
    .bind(next_check_ms)
    .bind(deadline)
    .bind(now)
    .execute(db)
    .await
    .map(drop))?;
    Ok(())
}
