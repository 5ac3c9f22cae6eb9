//! The comparison's scratch space: both sides' entities spilled to a temporary SQLite file (a
//! hash of the compared fields per entity, and the values to show when they differ), then
//! walked in key order by one query. The vendors list in different orders and a side may hold
//! millions of entities, so nothing is kept in memory but a page at a time.

use std::path::{Path, PathBuf};

use futures_util::TryStreamExt;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// Rows inserted per statement (5 parameters each, well under SQLite's limit).
const ROWS_PER_STATEMENT: usize = 200;

/// One entity of one side, ready to spill.
#[derive(Debug, Clone)]
pub(super) struct Row {
    /// The join key (the owner's key; a target key translated through the xref).
    pub key: String,
    /// SHA-256 of the compared fields' JSON.
    pub hash: Vec<u8>,
    /// The compared fields (JSON object text), for the report.
    pub fields: String,
    /// The owner's whole document (JSON text), for a repair; none on the target side.
    pub document: Option<String>,
    /// Owner side: whether the route carries this entity at all (its `when` holds); an
    /// entity the route filters out is expected to be absent at the target.
    pub routed: bool,
}

/// A difference found by the ordered walk.
#[derive(Debug, Clone)]
pub(super) struct Found {
    pub key: String,
    /// The owner's compared fields, if the owner has the entity.
    pub owner: Option<String>,
    /// The target's compared fields, if the target has it.
    pub target: Option<String>,
    /// The owner's document.
    pub document: Option<String>,
}

/// The temporary spill database; its file is removed when this is dropped.
pub(super) struct Spill {
    pool: SqlitePool,
    path: PathBuf,
}

impl Drop for Spill {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Spill {
    /// A fresh spill file in `dir`. It is scratch: no fsync, no journal worth keeping, and a
    /// small page cache, so memory stays flat however many entities pass through.
    pub(super) async fn create(dir: &Path) -> Result<Spill, sqlx::Error> {
        let path = dir.join(format!(
            "junction-reconcile-{}-{}.db",
            std::process::id(),
            hex::encode(rand::random::<[u8; 6]>())
        ));
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Off)
            .synchronous(SqliteSynchronous::Off)
            .pragma("cache_size", "-8192")
            .pragma("temp_store", "FILE");
        // One connection: both sides' pages are written in turn, and the walk reads alone.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        let spill = Spill { pool, path };
        for sql in [
            "CREATE TABLE owner (key TEXT PRIMARY KEY, hash BLOB NOT NULL, fields TEXT NOT NULL,
                                 document TEXT, routed INTEGER NOT NULL) WITHOUT ROWID",
            "CREATE TABLE target (key TEXT PRIMARY KEY, hash BLOB NOT NULL, fields TEXT NOT NULL)
                                 WITHOUT ROWID",
            "CREATE TABLE xref (target_key TEXT PRIMARY KEY, owner_key TEXT NOT NULL) WITHOUT ROWID",
        ] {
            sqlx::query(sql).execute(&spill.pool).await?;
        }
        Ok(spill)
    }

    /// Adds a page of the xref from the target's keys to the owner's.
    pub(super) async fn add_xref(&self, pairs: &[(String, String)]) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        for (target_key, owner_key) in pairs {
            sqlx::query("INSERT OR REPLACE INTO xref (target_key, owner_key) VALUES ($1, $2)")
                .bind(target_key)
                .bind(owner_key)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    /// Adds a page of the owner's entities. A key listed twice (a list that shifted while it
    /// was paged) keeps its last document.
    pub(super) async fn add_owner(&self, rows: &[Row]) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        // Many rows per statement: a statement's round trip to SQLite's thread costs more
        // than the insert itself.
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT OR REPLACE INTO owner (key, hash, fields, document, routed) ",
            );
            insert.push_values(chunk, |mut b, r| {
                b.push_bind(&r.key)
                    .push_bind(&r.hash)
                    .push_bind(&r.fields)
                    .push_bind(&r.document)
                    .push_bind(r.routed);
            });
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await
    }

    /// Adds a page of the target's entities, their keys translated through the xref where it
    /// names them.
    pub(super) async fn add_target(&self, rows: &[Row]) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT OR REPLACE INTO target (key, hash, fields)
                 SELECT COALESCE(x.owner_key, v.column1), v.column2, v.column3 FROM (",
            );
            insert.push_values(chunk, |mut b, r| {
                b.push_bind(&r.key).push_bind(&r.hash).push_bind(&r.fields);
            });
            insert.push(") AS v LEFT JOIN xref x ON x.target_key = v.column1");
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await
    }

    /// Entities whose compared fields agree at both sides, and those the route does not carry.
    pub(super) async fn agreeing(&self) -> Result<(i64, i64), sqlx::Error> {
        let same: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM owner o JOIN target t ON t.key = o.key WHERE o.hash = t.hash",
        )
        .fetch_one(&self.pool)
        .await?;
        let unrouted: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM owner o WHERE o.routed = 0
               AND NOT EXISTS (SELECT 1 FROM target t WHERE t.key = o.key)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((same, unrouted))
    }

    /// Every difference in key order, streamed from one query.
    pub(super) fn differences(
        &self,
    ) -> impl futures_util::Stream<Item = Result<Found, sqlx::Error>> + Send + '_ {
        // Both tables are keyed (WITHOUT ROWID, key order), so the two halves are merge-read
        // in key order; the final ORDER BY sorts only the differences, spilling to disk.
        sqlx::query_as::<_, (String, Option<String>, Option<String>, Option<String>)>(
            "SELECT o.key, o.fields, t.fields, o.document
               FROM owner o LEFT JOIN target t ON t.key = o.key
              WHERE (t.key IS NULL AND o.routed = 1) OR (t.key IS NOT NULL AND t.hash <> o.hash)
             UNION ALL
             SELECT t.key, NULL, t.fields, NULL
               FROM target t WHERE NOT EXISTS (SELECT 1 FROM owner o WHERE o.key = t.key)
             ORDER BY 1",
        )
        .fetch(&self.pool)
        .map_ok(|(key, owner, target, document)| Found {
            key,
            owner,
            target,
            document,
        })
    }
}
