//! The durable store: inbox, outbox, per-entity lanes, dead letters, cursors, xref and audit.
//!
//! Everything the runtime must not lose lives here, behind one async API; no SQL leaves this
//! module, so a PostgreSQL implementation of the same API and tests can follow. The embedded
//! default is SQLite in WAL mode with `synchronous=FULL`: a call that returns `Ok` is on disk.
//!
//! ```text
//! intake ──> changes (dedupe) ──plan──> deliveries (idempotency key, lane, timer)
//!                                           │ claim_due: lane head, lease
//!                                           ▼
//!              attempts, lanes, xref <── transitions ──> dead_letters ──redrive──┐
//!                                           ▲                                    │
//!                                           └────────────────────────────────────┘
//! every step appends to the hash-chained audit log in the same transaction
//! ```
//!
//! Writes go through one connection and start with `BEGIN IMMEDIATE`, so a transaction takes
//! the write lock up front (another process, such as `junction dlq redrive` beside a running
//! `junction run`, waits on `busy_timeout` instead of failing mid-transaction); reads use a
//! separate pool and see the last committed state. On PostgreSQL the same shape holds: claims
//! become `SELECT ... FOR UPDATE SKIP LOCKED`, and the audit head row is locked `FOR UPDATE`.

mod audit;
mod cursors;
mod deliveries;
mod dlq;
mod intake;
mod plan;
mod schema;
mod stats;
mod trace;
mod transitions;
mod xref;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

pub use audit::{AuditEntry, AuditKind, BadEntry, NewAudit, VerifyReport};
pub use dlq::{DeadLetter, DeadLetterDetail, DlqFilter, Redrive};
pub use schema::{
    Attempt, ConfirmSpec, Delivery, DeliveryState, InitialState, Intake, Lease, NewChange,
    NewDelivery, PlanResult, Planned, StoredChange,
};
pub use stats::Stats;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store URL could not be understood.
    #[error("bad store URL `{url}`: {reason} (expected sqlite://PATH or sqlite::memory:)")]
    BadUrl {
        /// The URL as given (only SQLite URLs are echoed; they hold no credentials).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A database the store cannot drive yet.
    #[error("store scheme `{scheme}:` is not yet supported (use sqlite://PATH)")]
    Unsupported {
        /// The URL's scheme; the rest of the URL may hold a password and is not repeated.
        scheme: String,
    },
    /// The database could not be opened or created.
    #[error("cannot open store `{url}`: {source}")]
    Open {
        /// The URL being opened.
        url: String,
        /// Why it failed.
        source: sqlx::Error,
    },
    /// A store opened with [`OpenOptions::create`] off does not exist.
    #[error("no store at {}", path.display())]
    Missing {
        /// The database file looked for.
        path: PathBuf,
    },
    /// A database that is not a store of this version (another file, or an older or newer
    /// Junction's), seen by a read-only open, which cannot migrate it.
    #[error("`{url}` is not a store this version can read: {reason}")]
    NotAStore {
        /// The URL opened.
        url: String,
        /// What does not match.
        reason: String,
    },
    /// The embedded migrations could not be applied.
    #[error("cannot migrate store: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("store query failed: {0}")]
    Sql(#[from] sqlx::Error),
    /// The caller's lease on a delivery is gone: another worker reclaimed it after it expired,
    /// or the delivery was settled. The caller must drop its result; the new holder decides.
    #[error("delivery {delivery_id}: lease lost (reclaimed by another worker, or settled)")]
    LeaseLost {
        /// The delivery.
        delivery_id: i64,
    },
    /// A row the caller named does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        /// What kind of row.
        what: &'static str,
        /// Its id.
        id: i64,
    },
    /// A stored value this version cannot read (written by a newer version, or edited by hand).
    #[error("store holds an unreadable {what}: {detail}")]
    Corrupt {
        /// Which value.
        what: &'static str,
        /// What was found.
        detail: String,
    },
}

/// The store's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Milliseconds since the Unix epoch, UTC: the store's notion of "now" for the timestamps it
/// writes itself (audit times, receipt times, confirmation deadlines).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// How hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: a commit survives power loss. The default: durable before ack.
    #[default]
    Full,
    /// `synchronous=NORMAL`: survives a crash of the process, may lose the last commits on power
    /// loss. Faster; for benchmarks and operators who accept that.
    Normal,
}

/// Tuning for [`Store::open_with`].
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Commit durability.
    pub durability: Durability,
    /// How long a writer waits for another process's write lock before failing.
    pub busy_timeout: Duration,
    /// Connections in the read pool (file databases only).
    pub readers: u32,
    /// Create the database when it does not exist. On for the engine; operators' commands turn
    /// it off, so a mistyped path is [`Error::Missing`] rather than a new empty store.
    pub create: bool,
    /// Open for reading only: no migrations run (the schema must be this version's) and every
    /// write fails. For commands that only look.
    pub read_only: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Full,
            busy_timeout: Duration::from_secs(10),
            readers: 4,
            create: true,
            read_only: false,
        }
    }
}

/// The durable store. Cheap to clone; clones share the pools.
#[derive(Clone)]
pub struct Store {
    write: SqlitePool,
    read: SqlitePool,
    clock: Clock,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if missing) the store at `url` with default options and applies the
    /// embedded migrations. `url` is `sqlite://PATH`, `sqlite:PATH` or `sqlite::memory:`.
    pub async fn open(url: &str) -> Result<Store> {
        Self::open_with(url, &OpenOptions::default()).await
    }

    /// Opens the store at `url` with `options`; see [`Store::open`].
    pub async fn open_with(url: &str, options: &OpenOptions) -> Result<Store> {
        let target = parse_url(url)?;
        if !options.create && !target.in_memory {
            let path = target.options.get_filename();
            if !path.is_file() {
                return Err(Error::Missing {
                    path: path.to_owned(),
                });
            }
        }
        let synchronous = match options.durability {
            Durability::Full => SqliteSynchronous::Full,
            Durability::Normal => SqliteSynchronous::Normal,
        };
        let mut connect = target
            .options
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true)
            .synchronous(synchronous);
        // A reader leaves the journal mode alone: setting it is a write.
        if !target.in_memory && !options.read_only {
            connect = connect.journal_mode(SqliteJournalMode::Wal);
        }
        let open_error = |source| Error::Open {
            url: url.to_owned(),
            source,
        };

        if options.read_only {
            let read = SqlitePoolOptions::new()
                .max_connections(options.readers.max(1))
                .connect_with(connect.read_only(true).create_if_missing(false))
                .await
                .map_err(open_error)?;
            if let Err(reason) = schema_is_current(&read).await {
                read.close().await;
                return Err(Error::NotAStore {
                    url: url.to_owned(),
                    reason,
                });
            }
            // Writes through this pool fail: the connections are read-only.
            return Ok(Store {
                write: read.clone(),
                read,
                clock: Arc::new(system_now_ms),
            });
        }

        // One writer connection: SQLite allows one writer at a time anyway, and queueing on the
        // pool is cheaper and fairer than spinning on the database lock. It never idles out,
        // which also keeps an in-memory database alive.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(connect.clone().create_if_missing(options.create))
            .await
            .map_err(open_error)?;
        MIGRATOR.run(&write).await?;

        // An in-memory database is private to its one connection; reads share it.
        let read = if target.in_memory {
            write.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(options.readers.max(1))
                .connect_with(connect)
                .await
                .map_err(open_error)?
        };
        Ok(Store {
            write,
            read,
            clock: Arc::new(system_now_ms),
        })
    }

    /// Replaces the clock the store uses for the timestamps it writes itself, so the engine and
    /// the store agree on "now" (e.g. under a test clock).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Store {
        self.clock = clock;
        self
    }

    /// Closes both pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }

    /// Now on the store's clock ([`Store::with_clock`]): the engine reads time here too, so
    /// held (future-dated) deliveries, retries and confirmation deadlines follow one clock.
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// A write transaction holding the write lock from its first statement.
    async fn begin(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.write.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// The embedded migrations.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Whether the database has exactly this version's migrations applied; if not, why.
async fn schema_is_current(pool: &SqlitePool) -> std::result::Result<(), String> {
    let tracked: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(pool)
    .await
    .map_err(|e| e.to_string())?;
    if tracked == 0 {
        return Err("it holds no Junction schema".to_owned());
    }
    let applied: Vec<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version",
    )
    .fetch_all(pool)
    .await
    .map_err(|e| e.to_string())?;
    let expected: Vec<(i64, &[u8])> = MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| (m.version, m.checksum.as_ref()))
        .collect();
    for (version, checksum) in &expected {
        match applied.iter().find(|(v, _)| v == version) {
            None => {
                return Err(format!(
                    "migration {version} is not applied (an older Junction wrote it; \
                     `junction run` migrates it)"
                ));
            }
            Some((_, stored)) if stored.as_slice() != *checksum => {
                return Err(format!("migration {version} differs from this version's"));
            }
            Some(_) => {}
        }
    }
    if let Some((version, _)) = applied
        .iter()
        .find(|(v, _)| !expected.iter().any(|(e, _)| e == v))
    {
        return Err(format!(
            "migration {version} is unknown (a newer Junction wrote it)"
        ));
    }
    Ok(())
}

fn system_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

struct Target {
    options: SqliteConnectOptions,
    in_memory: bool,
}

fn parse_url(url: &str) -> Result<Target> {
    let bad = |reason: &str| Error::BadUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err(bad("no scheme"));
    };
    match scheme {
        "sqlite" => {}
        "postgres" | "postgresql" => {
            return Err(Error::Unsupported {
                scheme: scheme.to_owned(),
            });
        }
        _ => return Err(bad(&format!("unknown scheme `{scheme}`"))),
    }
    let (database, query) = rest.split_once('?').unwrap_or((rest, ""));
    let database = database.strip_prefix("//").unwrap_or(database);
    if database.is_empty() {
        return Err(bad("no database path"));
    }
    let in_memory = database == ":memory:" || query.split('&').any(|param| param == "mode=memory");
    let options = SqliteConnectOptions::from_str(url).map_err(|e| bad(&e.to_string()))?;
    Ok(Target { options, in_memory })
}
