//! Durable poll cursors: where each polled source left off.

use super::db::{Tx, on};
use super::{Result, Store};

impl Store {
    /// The saved position of the poll of `object` from `source` in `pipeline`, if any.
    pub async fn cursor(
        &self,
        pipeline: &str,
        source: &str,
        object: &str,
    ) -> Result<Option<String>> {
        Ok(on!(self.db.reader(), |db| sqlx::query_scalar(
            "SELECT position FROM cursors WHERE pipeline = $1 AND source = $2 AND object = $3",
        )
        .bind(pipeline)
        .bind(source)
        .bind(object)
        .fetch_optional(db)
        .await)?)
    }

    /// Saves the poll position. To save it together with the changes it covers, use
    /// [`Store::intake_polled`].
    pub async fn set_cursor(
        &self,
        pipeline: &str,
        source: &str,
        object: &str,
        position: &str,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        upsert(&mut tx, pipeline, source, object, position, self.now()).await?;
        tx.commit().await?;
        Ok(())
    }
}

pub(super) async fn upsert(
    tx: &mut Tx,
    pipeline: &str,
    source: &str,
    object: &str,
    position: &str,
    now: i64,
) -> Result<()> {
    on!(tx.conn(), |db| sqlx::query(
        "INSERT INTO cursors (pipeline, source, object, position, updated_at_ms)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (pipeline, source, object) DO UPDATE SET
             position = excluded.position, updated_at_ms = excluded.updated_at_ms",
    )
    .bind(pipeline)
    .bind(source)
    .bind(object)
    .bind(position)
    .bind(now)
    .execute(db)
    .await
    .map(drop))?;
    Ok(())
}
