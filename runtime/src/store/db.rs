//! The two backends behind one store: the pools, transactions and the few places their SQL
//! differs.
//!
//! Every query is written once, in the SQL both backends speak (`$N` placeholders, `CASE`
//! instead of two-argument `MAX`, `CAST(... AS BIGINT)`), and run through [`on!`], which
//! expands the same code once per backend so each is compiled against its own driver's types:
//! no runtime translation, no `Any` driver. The few statements that must differ (taking the
//! write lock, row locks for claims) are chosen by [`Dialect`].

use sqlx::postgres::{PgConnection, PgPool};
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use sqlx::{Postgres, Sqlite, Transaction};

use super::Result;

/// One value per backend: a pool, a connection, a transaction.
pub(super) enum Either<S, P> {
    /// The SQLite side.
    Sqlite(S),
    /// The PostgreSQL side.
    Postgres(P),
}

/// Runs `$body` with `$c` bound to whichever backend `$e` holds. The body is expanded twice,
/// so it must type-check against both drivers: keep it to one query and its result.
macro_rules! on {
    ($e:expr, |$c:ident| $body:expr) => {
        match $e {
            $crate::store::db::Either::Sqlite($c) => $body,
            $crate::store::db::Either::Postgres($c) => $body,
        }
    };
}
pub(super) use on;

/// The open database.
#[derive(Clone)]
pub(super) enum Db {
    /// SQLite: one writer connection (SQLite allows one writer at a time) and a read pool.
    Sqlite {
        /// The writer.
        write: SqlitePool,
        /// Readers; the writer itself for an in-memory database.
        read: SqlitePool,
    },
    /// PostgreSQL: one pool; concurrency is the database's (row locks, `SKIP LOCKED`).
    Postgres {
        /// The pool.
        pool: PgPool,
    },
}

/// Where the backends' SQL differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Dialect {
    /// What a claiming `SELECT` ends with: PostgreSQL locks the rows it hands out and skips
    /// rows another worker is claiming; SQLite's write transaction already excludes everyone.
    pub(super) fn skip_locked(self, of: &str) -> String {
        match self {
            Dialect::Sqlite => String::new(),
            Dialect::Postgres => format!(" FOR UPDATE OF {of} SKIP LOCKED"),
        }
    }

    /// What a `SELECT` that reads a row to update it ends with.
    pub(super) fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }
}

/// A write transaction on either backend.
pub(super) type Tx = Either<Transaction<'static, Sqlite>, Transaction<'static, Postgres>>;

/// A connection inside a write transaction.
pub(super) type Conn<'a> = Either<&'a mut SqliteConnection, &'a mut PgConnection>;

/// A pool to read from.
pub(super) type Reader<'a> = Either<&'a SqlitePool, &'a PgPool>;

impl Db {
    pub(super) fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite { .. } => Dialect::Sqlite,
            Db::Postgres { .. } => Dialect::Postgres,
        }
    }

    /// A write transaction. On SQLite it takes the write lock with its first statement
    /// (`BEGIN IMMEDIATE`), so another process waits on `busy_timeout` up front instead of
    /// failing mid-transaction; on PostgreSQL it is a plain `READ COMMITTED` transaction whose
    /// statements lock the rows they change.
    pub(super) async fn begin(&self) -> Result<Tx> {
        Ok(match self {
            Db::Sqlite { write, .. } => Either::Sqlite(write.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres { pool } => Either::Postgres(pool.begin().await?),
        })
    }

    /// The pool reads go to; they see the last committed state.
    pub(super) fn reader(&self) -> Reader<'_> {
        match self {
            Db::Sqlite { read, .. } => Either::Sqlite(read),
            Db::Postgres { pool } => Either::Postgres(pool),
        }
    }

    /// The pool writes go to, for statements outside a transaction.
    #[cfg(test)]
    pub(super) fn writer(&self) -> Reader<'_> {
        match self {
            Db::Sqlite { write, .. } => Either::Sqlite(write),
            Db::Postgres { pool } => Either::Postgres(pool),
        }
    }

    /// A read-only transaction on the reader that sees one consistent snapshot for all its
    /// queries (SQLite: a deferred read transaction; PostgreSQL: `REPEATABLE READ`).
    pub(super) async fn snapshot(&self) -> Result<Tx> {
        Ok(match self {
            Db::Sqlite { read, .. } => Either::Sqlite(read.begin().await?),
            Db::Postgres { pool } => {
                let mut tx = pool.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
                Either::Postgres(tx)
            }
        })
    }

    pub(super) async fn close(&self) {
        match self {
            Db::Sqlite { write, read } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres { pool } => pool.close().await,
        }
    }
}

impl Tx {
    /// The transaction's connection, for one query.
    pub(super) fn conn(&mut self) -> Conn<'_> {
        match self {
            Either::Sqlite(tx) => Either::Sqlite(&mut **tx),
            Either::Postgres(tx) => Either::Postgres(&mut **tx),
        }
    }

    pub(super) fn dialect(&self) -> Dialect {
        match self {
            Either::Sqlite(_) => Dialect::Sqlite,
            Either::Postgres(_) => Dialect::Postgres,
        }
    }

    pub(super) async fn commit(self) -> Result<()> {
        on!(self, |tx| tx.commit().await)?;
        Ok(())
    }
}
