//! The hash-chained audit log: append inside the caller's transaction, verify the whole chain.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::SqliteConnection;

use super::{Error, Result, Store};

/// The `prev_hash` of the first entry.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Verification reads the chain in pages of this many entries.
const VERIFY_PAGE: i64 = 2_000;

macro_rules! audit_kinds {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// What an audit entry records.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        pub enum AuditKind {
            $($(#[$doc])* #[serde(rename = $name)] $variant,)*
        }

        impl AuditKind {
            /// The name stored and shown.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditKind::$variant => $name,)*
                }
            }
        }

        impl FromStr for AuditKind {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($name => Ok(AuditKind::$variant),)*
                    other => Err(Error::Corrupt { what: "audit kind", detail: other.to_owned() }),
                }
            }
        }
    };
}

audit_kinds! {
    /// A change was received and stored.
    Received => "received",
    /// A change had been received before; nothing was stored.
    Duplicate => "duplicate",
    /// A write was planned (detail: before/after values, masked).
    Planned => "planned",
    /// A change or write was suppressed (detail: the reason: stale, not the owner, filtered).
    Suppressed => "suppressed",
    /// A write is held by a gate (detail: the reason and next action).
    Held => "held",
    /// A held write was released.
    Released => "released",
    /// One attempt at a write (detail: status, latency, error class).
    Attempt => "attempt",
    /// A failed attempt will be retried later.
    RetryScheduled => "retry_scheduled",
    /// The target accepted a write asynchronously; its job is tracked.
    Accepted => "accepted",
    /// The target applied a write; read-back confirmation started.
    Applied => "applied",
    /// The target's job succeeded; read-back confirmation started.
    JobSucceeded => "job_succeeded",
    /// A read-back did not show the intended values in time.
    NotConfirmed => "not_confirmed",
    /// A read-back showed the intended values: the write is done.
    Confirmed => "confirmed",
    /// A write was dead-lettered.
    DeadLettered => "dead_lettered",
    /// A dead letter was redriven.
    Redriven => "redriven",
    /// A change was replayed.
    Replayed => "replayed",
    /// Reconciliation found (or repaired) a difference.
    Reconciled => "reconciled",
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An audit entry to append. `detail` must already be masked.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAudit {
    /// The pipeline.
    pub pipeline: String,
    /// The change's correlation id.
    pub correlation_id: String,
    /// The canonical object.
    pub object: String,
    /// The entity's key.
    pub key: String,
    /// The source event id, if the entry concerns one.
    pub event_id: Option<String>,
    /// The change, if any.
    pub change_id: Option<i64>,
    /// The delivery, if any.
    pub delivery_id: Option<i64>,
    /// The delivery's idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// What happened.
    pub kind: AuditKind,
    /// Masked particulars.
    pub detail: serde_json::Value,
}

/// An entry of the audit chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// When it was appended.
    pub at_ms: i64,
    /// See [`NewAudit::pipeline`].
    pub pipeline: String,
    /// See [`NewAudit::correlation_id`].
    pub correlation_id: String,
    /// See [`NewAudit::object`].
    pub object: String,
    /// See [`NewAudit::key`].
    pub key: String,
    /// See [`NewAudit::event_id`].
    pub event_id: Option<String>,
    /// See [`NewAudit::change_id`].
    pub change_id: Option<i64>,
    /// See [`NewAudit::delivery_id`].
    pub delivery_id: Option<i64>,
    /// See [`NewAudit::idempotency_key`].
    pub idempotency_key: Option<String>,
    /// What happened.
    pub kind: AuditKind,
    /// Masked particulars.
    pub detail: serde_json::Value,
    /// The previous entry's hash (all zeros for the first).
    pub prev_hash: String,
    /// sha256 of `prev_hash` and this entry's canonical form, hex.
    pub hash: String,
}

/// The outcome of [`Store::audit_verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Entries checked and found intact (up to the first bad one).
    pub entries: u64,
    /// The first entry that breaks the chain, if any.
    pub first_bad: Option<BadEntry>,
}

impl VerifyReport {
    /// Whether the whole chain is intact.
    pub fn is_ok(&self) -> bool {
        self.first_bad.is_none()
    }
}

/// Where the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadEntry {
    /// The first bad entry's sequence number.
    pub seq: i64,
    /// What is wrong with it.
    pub reason: String,
}

/// The stored columns of an entry, exactly as hashed.
#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    seq: i64,
    at_ms: i64,
    pipeline: String,
    correlation_id: String,
    object: String,
    entity_key: String,
    event_id: Option<String>,
    change_id: Option<i64>,
    delivery_id: Option<i64>,
    idempotency_key: Option<String>,
    kind: String,
    detail: String,
    prev_hash: String,
    hash: String,
}

/// The columns of `audit`, in [`AuditRow`]'s order.
macro_rules! audit_columns {
    () => {
        "seq, at_ms, pipeline, correlation_id, object, entity_key, event_id, change_id, \
         delivery_id, idempotency_key, kind, detail, prev_hash, hash"
    };
}
pub(super) use audit_columns;

impl AuditRow {
    /// sha256(prev_hash || canonical form). The canonical form is a JSON array of the stored
    /// columns in a fixed order: unambiguous, and computed from exactly what verify reads back.
    fn compute_hash(&self) -> String {
        let canonical = serde_json::json!([
            self.seq,
            self.at_ms,
            self.pipeline,
            self.correlation_id,
            self.object,
            self.entity_key,
            self.event_id,
            self.change_id,
            self.delivery_id,
            self.idempotency_key,
            self.kind,
            self.detail,
        ]);
        let mut hasher = Sha256::new();
        hasher.update(self.prev_hash.as_bytes());
        hasher.update(canonical.to_string().as_bytes());
        hex::encode(hasher.finalize())
    }

    pub(super) fn into_entry(self) -> Result<AuditEntry> {
        let detail = serde_json::from_str(&self.detail).map_err(|e| Error::Corrupt {
            what: "audit detail",
            detail: format!("entry {}: {e}", self.seq),
        })?;
        Ok(AuditEntry {
            seq: self.seq,
            at_ms: self.at_ms,
            pipeline: self.pipeline,
            correlation_id: self.correlation_id,
            object: self.object,
            key: self.entity_key,
            event_id: self.event_id,
            change_id: self.change_id,
            delivery_id: self.delivery_id,
            idempotency_key: self.idempotency_key,
            kind: self.kind.parse()?,
            detail,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// Appends `entries`, in order, to the chain inside the caller's write transaction.
pub(super) async fn append(
    conn: &mut SqliteConnection,
    at_ms: i64,
    entries: &[NewAudit],
) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let (mut seq, mut prev_hash): (i64, String) =
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&mut *conn)
            .await?;
    for entry in entries {
        let mut row = AuditRow {
            seq: seq + 1,
            at_ms,
            pipeline: entry.pipeline.clone(),
            correlation_id: entry.correlation_id.clone(),
            object: entry.object.clone(),
            entity_key: entry.key.clone(),
            event_id: entry.event_id.clone(),
            change_id: entry.change_id,
            delivery_id: entry.delivery_id,
            idempotency_key: entry.idempotency_key.clone(),
            kind: entry.kind.as_str().to_owned(),
            detail: entry.detail.to_string(),
            prev_hash,
            hash: String::new(),
        };
        row.hash = row.compute_hash();
        sqlx::query(concat!(
            "INSERT INTO audit (",
            audit_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        ))
        .bind(row.seq)
        .bind(row.at_ms)
        .bind(&row.pipeline)
        .bind(&row.correlation_id)
        .bind(&row.object)
        .bind(&row.entity_key)
        .bind(&row.event_id)
        .bind(row.change_id)
        .bind(row.delivery_id)
        .bind(&row.idempotency_key)
        .bind(&row.kind)
        .bind(&row.detail)
        .bind(&row.prev_hash)
        .bind(&row.hash)
        .execute(&mut *conn)
        .await?;
        seq = row.seq;
        prev_hash = row.hash;
    }
    sqlx::query("UPDATE audit_head SET seq = ?1, hash = ?2 WHERE id = 1")
        .bind(seq)
        .bind(&prev_hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl Store {
    /// Appends entries that record no state change of their own (e.g. reconciliation), in one
    /// transaction. State changes append their entries themselves, atomically.
    pub async fn append_audit(&self, entries: &[NewAudit]) -> Result<()> {
        let mut tx = self.begin().await?;
        append(&mut tx, self.now(), entries).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Recomputes the chain from the first entry and names the first one that does not match:
    /// an edited entry, a missing one (gap or cut-off end) or a broken link.
    pub async fn audit_verify(&self) -> Result<VerifyReport> {
        // Entries appended while verifying are beyond the head read here and not checked.
        let (head_seq, head_hash): (i64, String) =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&self.read)
                .await?;
        let mut checked: u64 = 0;
        let mut expected_seq = 1;
        let mut prev_hash = GENESIS.to_owned();
        let bad = |seq, reason: &str, checked| VerifyReport {
            entries: checked,
            first_bad: Some(BadEntry {
                seq,
                reason: reason.to_owned(),
            }),
        };
        while expected_seq <= head_seq {
            let page: Vec<AuditRow> = sqlx::query_as(concat!(
                "SELECT ",
                audit_columns!(),
                " FROM audit WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3"
            ))
            .bind(expected_seq)
            .bind(head_seq)
            .bind(VERIFY_PAGE)
            .fetch_all(&self.read)
            .await?;
            if page.is_empty() {
                return Ok(bad(expected_seq, "entry missing (chain cut off)", checked));
            }
            for row in page {
                if row.seq != expected_seq {
                    return Ok(bad(
                        expected_seq,
                        "entry missing (gap in the chain)",
                        checked,
                    ));
                }
                if row.prev_hash != prev_hash {
                    return Ok(bad(
                        row.seq,
                        "prev_hash does not match the previous entry's hash",
                        checked,
                    ));
                }
                if row.compute_hash() != row.hash {
                    return Ok(bad(
                        row.seq,
                        "hash does not match the entry's contents",
                        checked,
                    ));
                }
                if row.kind.parse::<AuditKind>().is_err() {
                    return Ok(bad(row.seq, "unknown kind", checked));
                }
                checked += 1;
                expected_seq += 1;
                prev_hash = row.hash;
            }
        }
        if prev_hash != head_hash {
            return Ok(bad(
                head_seq,
                "last entry does not match the chain head",
                checked,
            ));
        }
        Ok(VerifyReport {
            entries: checked,
            first_bad: None,
        })
    }
}
