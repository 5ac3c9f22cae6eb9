//! The cross-system id map: which key an entity has in each system.

use super::db::{Tx, on};
use super::{Result, Store};

impl Store {
    /// The keys the entity `(system, key)` of `object` has in other systems, as
    /// `(system, key)` pairs sorted by system.
    pub async fn xref(
        &self,
        object: &str,
        system: &str,
        key: &str,
    ) -> Result<Vec<(String, String)>> {
        Ok(on!(self.db.reader(), |db| sqlx::query_as(
            "SELECT other_system, other_key FROM xref
             WHERE object = $1 AND system = $2 AND entity_key = $3
             ORDER BY other_system",
        )
        .bind(object)
        .bind(system)
        .bind(key)
        .fetch_all(db)
        .await)?)
    }
}

/// Records that `a` and `b` name the same entity, in both directions; a newer pair replaces an
/// older one for the same two systems.
pub(super) async fn link(
    tx: &mut Tx,
    object: &str,
    a: (&str, &str),
    b: (&str, &str),
    now: i64,
) -> Result<()> {
    for ((system, key), (other_system, other_key)) in [(a, b), (b, a)] {
        on!(tx.conn(), |db| sqlx::query(
            "INSERT INTO xref (object, system, entity_key, other_system, other_key, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (object, system, entity_key, other_system) DO UPDATE SET
                 other_key = excluded.other_key, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(object)
        .bind(system)
        .bind(key)
        .bind(other_system)
        .bind(other_key)
        .bind(now)
        .execute(db)
        .await
        .map(drop))?;
    }
    Ok(())
}
