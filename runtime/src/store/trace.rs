//! Trace: the chronology of one entity, event, write or correlation id, from the audit chain.

use super::audit::{AuditEntry, AuditRow, audit_columns};
use super::db::on;
use super::{Result, Store};

impl Store {
    /// Every audit entry about `needle`, in chain order. The needle is matched as an entity
    /// key, a source event id, an idempotency key and a correlation id; entries of the changes
    /// it names come along, so an event id or idempotency key shows its change's whole story
    /// (received, planned, each attempt, confirmed or dead-lettered, redriven).
    pub async fn trace(&self, needle: &str) -> Result<Vec<AuditEntry>> {
        let rows: Vec<AuditRow> = on!(self.db.reader(), |db| sqlx::query_as(concat!(
            "WITH hits AS (
                 SELECT seq, change_id FROM audit
                 WHERE entity_key = $1 OR event_id = $1 OR idempotency_key = $1
                    OR correlation_id = $1
             )
             SELECT ",
            audit_columns!(),
            " FROM audit
             WHERE seq IN (SELECT seq FROM hits)
                OR change_id IN (SELECT change_id FROM hits WHERE change_id IS NOT NULL)
             ORDER BY seq"
        ))
        .bind(needle)
        .fetch_all(db)
        .await)?;
        rows.into_iter().map(AuditRow::into_entry).collect()
    }
}
