//! The hash-chained audit log: append inside the caller's transaction, verify every chain.
//!
//! # Layout: one chain per entity
//!
//! Each entity (pipeline, object, key) has its own hash chain: an entry's hash covers its
//! position in the chain (`chain_seq`, from 1 without gaps), its contents and the previous
//! entry's hash, and `audit_chains` holds each chain's head (its last entry). Appending locks
//! only the heads of the entities the transaction writes about, so workers writing different
//! entities never wait for each other, while the writes of one entity, already serialized by
//! its lanes, stay in one unbroken order. A global `seq` (assigned by the database) orders all
//! entries for reading; it is not part of any chain and may have gaps.
//!
//! What `junction audit verify` detects, on both backends (tests in `store/tests/audit.rs`):
//! - an edited entry: its hash no longer matches its contents;
//! - a deleted entry: a gap in its chain's positions, or, for the last entry, a chain that ends
//!   before its head (and a head whose chain has no entries left at all);
//! - an inserted entry: a position that breaks the links, or a chain the head does not know;
//! - reordered entries: the positions are hashed, so swapping contents breaks both hashes;
//! - an entry moved to another entity's chain: the chain name is derived from the hashed
//!   pipeline, object and key, and verify recomputes it.
//!
//! The chain is a detector, not a signature: someone who can rewrite the database can also
//! recompute every hash after an edit. Entries written before this layout (SQLite stores from
//! before migration 0003) form one chain named `''`, verified the same way.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::db::{Tx, on};
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
    /// A source sent values for fields another system owns: the owner's value wins (detail:
    /// the rule, both versions, and the repair sent to the loser through the owner's route).
    Conflict => "conflict",
    /// A write is held by a gate (detail: the reason and next action).
    Held => "held",
    /// A held write was released (detail: by whom, why, whether the gate was overridden).
    Released => "released",
    /// A write was sent to manual review (detail: the red flag and the evidence, masked).
    Review => "review",
    /// A write in review was approved: it is delivered under its original key.
    Approved => "approved",
    /// A write in review was rejected: suppressed with the reason.
    Rejected => "rejected",
    /// A route was paused: its writes wait until it is resumed.
    RoutePaused => "route_paused",
    /// A paused route was resumed.
    RouteResumed => "route_resumed",
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
    /// A shadow route read the target instead of writing (detail: the fields that differ from
    /// the intended write, both documents masked).
    Shadowed => "shadowed",
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

/// An entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Position among all entries, in the order they were appended (gaps are normal).
    pub seq: i64,
    /// Position in its entity's chain, from 1, without gaps.
    pub chain_seq: i64,
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
    /// Chains checked and found intact.
    pub chains: u64,
    /// The first entry that breaks the chain, if any.
    pub first_bad: Option<BadEntry>,
}

impl VerifyReport {
    /// Whether the whole chain is intact.
    pub fn is_ok(&self) -> bool {
        self.first_bad.is_none()
    }
}

/// Where a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadEntry {
    /// The first bad entry's `seq` (for a missing entry: the one the chain's head names).
    pub seq: i64,
    /// The chain it breaks.
    pub chain: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The stored columns of an entry, exactly as hashed.
#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    seq: i64,
    chain: String,
    chain_seq: i64,
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
        "seq, chain, chain_seq, at_ms, pipeline, correlation_id, object, entity_key, event_id, change_id, \
         delivery_id, idempotency_key, kind, detail, prev_hash, hash"
    };
}
pub(super) use audit_columns;

impl AuditRow {
    /// sha256(prev_hash || canonical form). The canonical form is a JSON array of the stored
    /// columns in a fixed order, led by the position in the chain: unambiguous, and computed
    /// from exactly what verify reads back. (Before per-entity chains the position was the
    /// global seq; for the chain `''` the two are the same number, so old entries verify.)
    fn compute_hash(&self) -> String {
        let canonical = serde_json::json!([
            self.chain_seq,
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
            chain_seq: self.chain_seq,
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

/// The chain an entity's entries go to: its pipeline, object and key as a JSON array
/// (unambiguous whatever the names contain).
pub(super) fn chain_of(pipeline: &str, object: &str, key: &str) -> String {
    serde_json::json!([pipeline, object, key]).to_string()
}

/// The name of the chain written before per-entity chains (SQLite migration 0003).
const LEGACY_CHAIN: &str = "";

/// Appends `entries`, in order, inside the caller's write transaction: each to its entity's
/// chain. The heads are locked in chain order, so two transactions appending to the same
/// entities cannot deadlock on them.
pub(super) async fn append(tx: &mut Tx, at_ms: i64, entries: &[NewAudit]) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let chains: Vec<String> = entries
        .iter()
        .map(|e| chain_of(&e.pipeline, &e.object, &e.key))
        .collect();
    let mut sorted: Vec<&str> = chains.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let lock = format!(
        "SELECT chain_seq, hash FROM audit_chains WHERE chain = $1{}",
        tx.dialect().for_update()
    );
    let mut heads: std::collections::HashMap<&str, (i64, String)> =
        std::collections::HashMap::with_capacity(sorted.len());
    for chain in sorted {
        on!(tx.conn(), |db| sqlx::query(
            "INSERT INTO audit_chains (chain, chain_seq, seq, hash) VALUES ($1, 0, 0, $2)
             ON CONFLICT (chain) DO NOTHING"
        )
        .bind(chain)
        .bind(GENESIS)
        .execute(db)
        .await
        .map(drop))?;
        let head: (i64, String) = on!(tx.conn(), |db| sqlx::query_as(&lock)
            .bind(chain)
            .fetch_one(db)
            .await)?;
        heads.insert(chain, head);
    }
    let mut last_seq: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
    for (entry, chain) in entries.iter().zip(&chains) {
        let (position, prev_hash) = heads.get_mut(chain.as_str()).expect("head locked above");
        let mut row = AuditRow {
            seq: 0,
            chain: chain.clone(),
            chain_seq: *position + 1,
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
            prev_hash: std::mem::take(prev_hash),
            hash: String::new(),
        };
        row.hash = row.compute_hash();
        let seq: i64 = on!(tx.conn(), |db| sqlx::query_scalar(
            "INSERT INTO audit (chain, chain_seq, at_ms, pipeline, correlation_id, object,
                                entity_key, event_id, change_id, delivery_id, idempotency_key,
                                kind, detail, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             RETURNING seq"
        )
        .bind(&row.chain)
        .bind(row.chain_seq)
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
        .fetch_one(db)
        .await)?;
        *position = row.chain_seq;
        *prev_hash = row.hash;
        last_seq.insert(chain.as_str(), seq);
    }
    for (chain, (position, hash)) in &heads {
        on!(tx.conn(), |db| sqlx::query(
            "UPDATE audit_chains SET chain_seq = $2, seq = $3, hash = $4 WHERE chain = $1"
        )
        .bind(*chain)
        .bind(*position)
        .bind(last_seq[chain])
        .bind(hash)
        .execute(db)
        .await
        .map(drop))?;
    }
    Ok(())
}

/// A chain's head as stored.
#[derive(sqlx::FromRow)]
struct Head {
    chain_seq: i64,
    seq: i64,
    hash: String,
}

/// Verification's walk through the chains, in (chain, chain_seq) order.
struct Walk {
    chain: Option<String>,
    position: i64,
    prev_hash: String,
    last_seq: i64,
    entries: u64,
    chains: u64,
}

impl Walk {
    fn report(&self, seq: i64, chain: &str, reason: &str) -> VerifyReport {
        VerifyReport {
            entries: self.entries,
            chains: self.chains,
            first_bad: Some(BadEntry {
                seq,
                chain: chain.to_owned(),
                reason: reason.to_owned(),
            }),
        }
    }
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

    /// Recomputes every chain from its first entry and names the first entry that does not
    /// match: an edited entry, a missing one (gap or cut-off end), an inserted one, a broken
    /// link, or a head whose entries are gone. Reads one consistent snapshot, so entries
    /// appended meanwhile are neither checked nor mistaken for damage; memory stays bounded
    /// (pages of entries, one chain's state at a time).
    pub async fn audit_verify(&self) -> Result<VerifyReport> {
        let mut snapshot = self.db.snapshot().await?;
        let mut walk = Walk {
            chain: None,
            position: 0,
            prev_hash: GENESIS.to_owned(),
            last_seq: 0,
            entries: 0,
            chains: 0,
        };
        let (mut after_chain, mut after_position) = (String::new(), -1_i64);
        loop {
            let page: Vec<AuditRow> = on!(snapshot.conn(), |db| sqlx::query_as(concat!(
                "SELECT ",
                audit_columns!(),
                " FROM audit WHERE chain > $1 OR (chain = $1 AND chain_seq > $2)
                  ORDER BY chain, chain_seq LIMIT $3"
            ))
            .bind(&after_chain)
            .bind(after_position)
            .bind(VERIFY_PAGE)
            .fetch_all(db)
            .await)?;
            let Some(last) = page.last() else { break };
            (after_chain, after_position) = (last.chain.clone(), last.chain_seq);
            for row in page {
                if walk.chain.as_deref() != Some(row.chain.as_str()) {
                    if let Some(done) = walk.chain.take()
                        && let Some(bad) = end_of_chain(&mut snapshot, &mut walk, &done).await?
                    {
                        return Ok(bad);
                    }
                    walk.chain = Some(row.chain.clone());
                    walk.position = 0;
                    walk.prev_hash = GENESIS.to_owned();
                }
                if row.chain != LEGACY_CHAIN
                    && row.chain != chain_of(&row.pipeline, &row.object, &row.entity_key)
                {
                    return Ok(walk.report(
                        row.seq,
                        &row.chain,
                        "entry is in another entity's chain",
                    ));
                }
                if row.chain_seq != walk.position + 1 {
                    return Ok(walk.report(
                        row.seq,
                        &row.chain,
                        "entry missing (gap in the chain)",
                    ));
                }
                if row.prev_hash != walk.prev_hash {
                    return Ok(walk.report(
                        row.seq,
                        &row.chain,
                        "prev_hash does not match the previous entry's hash",
                    ));
                }
                if row.compute_hash() != row.hash {
                    return Ok(walk.report(
                        row.seq,
                        &row.chain,
                        "hash does not match the entry's contents",
                    ));
                }
                if row.kind.parse::<AuditKind>().is_err() {
                    return Ok(walk.report(row.seq, &row.chain, "unknown kind"));
                }
                walk.entries += 1;
                walk.position = row.chain_seq;
                walk.prev_hash = row.hash;
                walk.last_seq = row.seq;
            }
        }
        if let Some(done) = walk.chain.take()
            && let Some(bad) = end_of_chain(&mut snapshot, &mut walk, &done).await?
        {
            return Ok(bad);
        }
        // Every head must have had its chain walked: a head whose entries are all gone.
        let orphan: Option<(String, i64)> = on!(snapshot.conn(), |db| sqlx::query_as(
            "SELECT h.chain, h.seq FROM audit_chains AS h
             WHERE h.chain_seq > 0
               AND NOT EXISTS (SELECT 1 FROM audit AS a WHERE a.chain = h.chain)
             ORDER BY h.chain LIMIT 1"
        )
        .fetch_optional(db)
        .await)?;
        if let Some((chain, seq)) = orphan {
            return Ok(walk.report(
                seq,
                &chain,
                "entries missing (the chain's head has none left)",
            ));
        }
        snapshot.commit().await?;
        Ok(VerifyReport {
            entries: walk.entries,
            chains: walk.chains,
            first_bad: None,
        })
    }
}

/// Checks that the chain just walked ends where its head says; counts it if so.
async fn end_of_chain(
    snapshot: &mut Tx,
    walk: &mut Walk,
    chain: &str,
) -> Result<Option<VerifyReport>> {
    let head: Option<Head> = on!(snapshot.conn(), |db| sqlx::query_as(
        "SELECT chain_seq, seq, hash FROM audit_chains WHERE chain = $1"
    )
    .bind(chain)
    .fetch_optional(db)
    .await)?;
    let bad = match head {
        None => Some((walk.last_seq, "chain has no head (entries inserted)")),
        Some(head) if head.chain_seq > walk.position => {
            Some((head.seq, "entry missing (chain cut off before its head)"))
        }
        Some(head) if head.chain_seq != walk.position || head.hash != walk.prev_hash => {
            Some((walk.last_seq, "last entry does not match the chain's head"))
        }
        Some(_) => None,
    };
    Ok(match bad {
        Some((seq, reason)) => Some(walk.report(seq, chain, reason)),
        None => {
            walk.chains += 1;
            None
        }
    })
}
