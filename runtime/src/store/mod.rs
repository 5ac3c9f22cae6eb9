//! The durable store: inbox, outbox, per-entity lanes, dead letters, cursors, xref and audit.
//!
//! Everything the runtime must not lose lives here, behind one async API: the methods of
//! [`Store`], one file per concern below. No SQL leaves this module. Two backends, chosen by the
//! URL's scheme, sit behind it (`db.rs`): SQLite, the embedded default, in WAL mode with
//! `synchronous=FULL`, and PostgreSQL, for several workers on one database. Every query is
//! written once for both; a call that returns `Ok` is committed.
//!
//! ```text
//! intake ──> changes (dedupe) ──plan──> deliveries (idempotency key, lane, timer)
//!                                           │ claim_due: lane head, lease
//!                                           ▼
//!              attempts, lanes, xref <── transitions ──> dead_letters ──redrive──┐
//!                                           ▲                                    │
//!                                           └────────────────────────────────────┘
//! every step appends to its entity's hash chain in the audit log, in the same transaction
//! ```
//!
//! # The API, in one place
//!
//! | concern | methods of [`Store`] | file |
//! |---|---|---|
//! | opening | `open`, `open_with`, `with_clock`, `dialect`, `url`, `close` | `mod.rs` |
//! | intake (dedupe, ack after commit) | `intake`, `intake_polled`, `unplanned_changes`, `claim_unplanned`, `change`, `latest_change_from` | `intake.rs` |
//! | planning | `commit_plan` | `plan.rs` |
//! | claiming lane heads | `claim_due`, `delivery`, `deliveries_of_change`, `held` | `deliveries.rs` |
//! | a claimed delivery's transitions | `record_attempt`, `retry_later`, `not_confirmed`, `await_job`, `continue_write`, `start_confirm`, `confirmed`, `dead_letter`, `release`, `resume_held` | `transitions.rs` |
//! | dead letters | `dlq_list`, `dlq_show`, `redrive` | `dlq.rs` |
//! | shadow routes | `shadow_compared`, `shadow_report` | `shadow.rs` |
//! | incident replay | `replay` | `replay.rs` |
//! | holds and manual review | `waiting`, `held_of_entity`, `newest_change`, `attempts`, `release_hold`, `send_to_review`, `approve`, `reject` | `holds.rs` |
//! | route kill switches | `pause_route`, `pause_route_until_clean`, `resume_route`, `resume_after_clean`, `paused_routes`, `route_activity` | `routes.rs` |
//! | audit | `append_audit`, `audit_verify` | `audit.rs` |
//! | reading history | `trace`, `xref`, `stats`, `cursor`, `set_cursor` | `trace.rs`, `xref.rs`, `stats.rs`, `cursors.rs` |
//! | reconciliation (runs, schedule, repairs as owner changes, overdue writes) | `reconcile_started`, `reconcile_finished`, `reconcile_runs`, `reconcile_next_due`, `reconcile_schedule`, `reconcile_repairs`, `xref_page`, `overdue_by_route` | `reconcile.rs` |
//! | several workers | `listen`, `leadership` | `wake.rs` |
//!
//! Records going in and out are in `schema.rs`; the two backends and where their SQL differs
//! in `db.rs`; test support (a PostgreSQL database per test) in `testing.rs`.
//!
//! On SQLite, writes go through one connection and start with `BEGIN IMMEDIATE`, so a
//! transaction takes the write lock up front (another process, such as `junction dlq redrive`
//! beside a running `junction run`, waits on `busy_timeout` instead of failing mid-transaction);
//! reads use a separate pool and see the last committed state. On PostgreSQL, many workers
//! write at once: claims are `SELECT ... FOR UPDATE SKIP LOCKED`, transitions check the lease
//! token, each audit chain's head is locked by its appender, and commits that leave work for
//! others `NOTIFY` them (`wake.rs`).

mod audit;
mod cursors;
pub(crate) mod db;
mod deliveries;
mod dlq;
mod holds;
mod intake;
mod plan;
mod reconcile;
mod replay;
mod routes;
mod schema;
mod shadow;
mod stats;
pub mod testing;
mod trace;
mod transitions;
mod wake;
mod xref;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use crate::services::clock::Clock;
pub use audit::{AuditEntry, AuditKind, BadEntry, NewAudit, VerifyReport};
pub use db::Dialect;
use db::{Db, Tx};
pub use dlq::{DeadLetter, DeadLetterDetail, DlqFilter, Redrive};
pub use holds::{Decision, KEY_CONFLICT_CLASS, WaitingFilter};
pub use reconcile::{ReconcileRun, Repair, RepairOutcome, RunCounts, RunTrigger};
pub use replay::{ReplayFilter, Replayed};
pub use routes::{PausedRoute, RouteActivity};
pub use schema::{
    Attempt, ConfirmSpec, Delivery, DeliveryState, InitialState, Intake, Lease, NewChange,
    NewDelivery, Operation, PlanResult, Planned, StoredChange,
};
pub use shadow::{ShadowComparison, ShadowResult};
pub use stats::{ChangeOutcome, Stats};
pub use wake::{Leadership, Wakeups};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store URL could not be understood.
    #[error(
        "bad store URL `{url}`: {reason} (expected sqlite://PATH, sqlite::memory: or \
         postgres://USER@HOST[:PORT]/DATABASE)"
    )]
    BadUrl {
        /// The URL as given, with any password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database could not be opened or created.
    #[error("cannot open store `{url}`: {source}")]
    Open {
        /// The URL being opened, with any password replaced by `***`.
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
    /// Junction's), seen by an open that cannot or may not migrate it.
    #[error("`{url}` is not a store this version can use: {reason}")]
    NotAStore {
        /// The URL opened, with any password replaced by `***`.
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

impl Error {
    /// Whether the transaction lost a race another worker won (PostgreSQL's deadlock or
    /// serialization failure) and may simply be run again.
    pub fn is_retryable_conflict(&self) -> bool {
        match self {
            Error::Sql(sqlx::Error::Database(e)) => {
                matches!(e.code().as_deref(), Some("40P01" | "40001"))
            }
            _ => false,
        }
    }
}

/// The store's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// SQLite `synchronous=FULL`: a commit survives power loss. The default: durable before
    /// ack. (PostgreSQL's durability is the server's `synchronous_commit`, which Junction
    /// leaves alone.)
    #[default]
    Full,
    /// SQLite `synchronous=NORMAL`: survives a crash of the process, may lose the last commits
    /// on power loss. Faster; for benchmarks and operators who accept that.
    Normal,
}

/// Tuning for [`Store::open_with`].
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Commit durability.
    pub durability: Durability,
    /// How long a writer waits for another process's write lock (SQLite), or for a free
    /// connection (PostgreSQL), before failing.
    pub busy_timeout: Duration,
    /// SQLite: connections in the read pool (file databases only). PostgreSQL: the size of
    /// this process's pool; mind the server's `max_connections` across all workers.
    pub connections: u32,
    /// Create the database when it does not exist. On for the engine; operators' commands turn
    /// it off, so a mistyped path is [`Error::Missing`] (a PostgreSQL database without a
    /// Junction schema is [`Error::NotAStore`]) rather than a new empty store.
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
            connections: 4,
            create: true,
            read_only: false,
        }
    }
}

/// The durable store. Cheap to clone; clones share the pools.
#[derive(Clone)]
pub struct Store {
    db: Db,
    /// The URL opened, password replaced: for listeners and messages.
    url: Arc<str>,
    clock: Clock,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if missing) the store at `url` with default options and applies the
    /// embedded migrations. `url` is `sqlite://PATH`, `sqlite:PATH`, `sqlite::memory:` or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`.
    pub async fn open(url: &str) -> Result<Store> {
        Self::open_with(url, &OpenOptions::default()).await
    }

    /// Opens the store at `url` with `options`; see [`Store::open`]. The backend is chosen by
    /// the URL's scheme.
    pub async fn open_with(url: &str, options: &OpenOptions) -> Result<Store> {
        let db = match parse_url(url)? {
            Target::Sqlite {
                options: connect,
                in_memory,
            } => open_sqlite(url, connect, in_memory, options).await?,
            Target::Postgres { options: connect } => open_postgres(url, connect, options).await?,
        };
        Ok(Store {
            db,
            url: redact(url).into(),
            clock: Clock::system(),
        })
    }

    /// Replaces the clock the store reads "now" from for the timestamps it writes itself
    /// (audit times, receipt times, attempt and lease times, confirmation deadlines), so the
    /// engine and the store agree on it: `Engine::new` gives the store the engine's clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Store {
        self.clock = clock;
        self
    }

    /// The clock the store reads "now" from.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Which backend this store runs on.
    pub fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    /// The store's URL, any password replaced by `***`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Closes the pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.db.close().await;
    }

    /// Now on the store's clock ([`Store::with_clock`]), the engine's clock: held
    /// (future-dated) deliveries, retries and confirmation deadlines follow one clock.
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// A write transaction; see [`db::Db::begin`].
    async fn begin(&self) -> Result<Tx> {
        self.db.begin().await
    }
}

/// The embedded migrations, one set per backend.
static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

async fn open_sqlite(
    url: &str,
    target: SqliteConnectOptions,
    in_memory: bool,
    options: &OpenOptions,
) -> Result<Db> {
    if !options.create && !in_memory {
        let path = target.get_filename();
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
        .busy_timeout(options.busy_timeout)
        .foreign_keys(true)
        .synchronous(synchronous);
    // A reader leaves the journal mode alone: setting it is a write.
    if !in_memory && !options.read_only {
        connect = connect.journal_mode(SqliteJournalMode::Wal);
    }
    let open_error = |source| Error::Open {
        url: url.to_owned(),
        source,
    };

    if options.read_only {
        let read = SqlitePoolOptions::new()
            .max_connections(options.connections.max(1))
            .connect_with(connect.read_only(true).create_if_missing(false))
            .await
            .map_err(open_error)?;
        let applied = sqlite_applied(&read).await;
        if let Err(reason) = applied.and_then(|a| schema_is_current(&SQLITE_MIGRATOR, &a)) {
            read.close().await;
            return Err(Error::NotAStore {
                url: url.to_owned(),
                reason,
            });
        }
        // Writes through this pool fail: the connections are read-only.
        return Ok(Db::Sqlite {
            write: read.clone(),
            read,
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
    // A migration that changes a CHECK constraint rebuilds its table (SQLite cannot alter
    // one), which other tables reference: SQLite's procedure for that runs with foreign keys
    // off (the pragma is a no-op inside the migration's transaction, so it is set around it on
    // the one writer connection) and checks them before going on.
    sqlx::query("PRAGMA foreign_keys = OFF")
        .execute(&write)
        .await?;
    let migrated = migrate(url, &SQLITE_MIGRATOR, &write).await;
    sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&write)
        .await?;
    migrated?;
    let broken: Vec<(String,)> = sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
        .fetch_all(&write)
        .await?;
    if let Some((table,)) = broken.first() {
        return Err(Error::NotAStore {
            url: redact(url),
            reason: format!("table `{table}` has rows whose references are broken"),
        });
    }

    // An in-memory database is private to its one connection; reads share it.
    let read = if in_memory {
        write.clone()
    } else {
        SqlitePoolOptions::new()
            .max_connections(options.connections.max(1))
            .connect_with(connect)
            .await
            .map_err(open_error)?
    };
    Ok(Db::Sqlite { write, read })
}

async fn open_postgres(url: &str, connect: PgConnectOptions, options: &OpenOptions) -> Result<Db> {
    let shown = redact(url);
    let connect = if options.read_only {
        connect.options([("default_transaction_read_only", "on")])
    } else {
        connect
    };
    let pool = PgPoolOptions::new()
        .max_connections(options.connections.max(2))
        .acquire_timeout(options.busy_timeout)
        .connect_with(connect)
        .await
        .map_err(|source| Error::Open {
            url: shown.clone(),
            source,
        })?;
    let applied = postgres_applied(&pool).await;
    let not_a_store = |reason| Error::NotAStore {
        url: shown.clone(),
        reason,
    };
    match applied {
        Err(reason) => {
            pool.close().await;
            return Err(not_a_store(reason));
        }
        Ok(applied) if options.read_only => {
            if let Err(reason) = schema_is_current(&POSTGRES_MIGRATOR, &applied) {
                pool.close().await;
                return Err(not_a_store(reason));
            }
        }
        Ok(applied) if applied.is_empty() && !options.create => {
            pool.close().await;
            return Err(not_a_store(
                "it holds no Junction schema (`junction run` creates one)".to_owned(),
            ));
        }
        // Several workers starting at once migrate once: sqlx holds an advisory lock on the
        // database while it migrates, and the others find the work done.
        Ok(_) => migrate(&shown, &POSTGRES_MIGRATOR, &pool).await?,
    }
    Ok(Db::Postgres { pool })
}

/// Applies `migrator`, explaining a store written by a newer Junction instead of failing with
/// sqlx's bare "migration N was previously applied but is missing".
async fn migrate<'a, A>(url: &str, migrator: &sqlx::migrate::Migrator, to: A) -> Result<()>
where
    A: sqlx::Acquire<'a>,
    <A::Connection as std::ops::Deref>::Target: sqlx::migrate::Migrate,
{
    match migrator.run(to).await {
        Ok(()) => Ok(()),
        Err(sqlx::migrate::MigrateError::VersionMissing(version)) => Err(Error::NotAStore {
            url: redact(url),
            reason: format!(
                "migration {version} is unknown (a newer Junction wrote it; run that version)"
            ),
        }),
        Err(e) => Err(e.into()),
    }
}

/// The migrations recorded in a SQLite database: `(version, checksum)` of each applied one.
async fn sqlite_applied(pool: &SqlitePool) -> std::result::Result<Vec<(i64, Vec<u8>)>, String> {
    let tracked: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(pool)
    .await
    .map_err(|e| e.to_string())?;
    if tracked == 0 {
        return Ok(Vec::new());
    }
    sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(pool)
        .await
        .map_err(|e| e.to_string())
}

/// The migrations recorded in a PostgreSQL database.
async fn postgres_applied(pool: &PgPool) -> std::result::Result<Vec<(i64, Vec<u8>)>, String> {
    let tracked: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await
        .map_err(|e| e.to_string())?;
    if !tracked {
        return Ok(Vec::new());
    }
    sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(pool)
        .await
        .map_err(|e| e.to_string())
}

/// Whether `applied` is exactly this version's migrations; if not, why.
fn schema_is_current(
    migrator: &sqlx::migrate::Migrator,
    applied: &[(i64, Vec<u8>)],
) -> std::result::Result<(), String> {
    if applied.is_empty() {
        return Err("it holds no Junction schema".to_owned());
    }
    let expected: Vec<(i64, &[u8])> = migrator
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

enum Target {
    Sqlite {
        options: SqliteConnectOptions,
        in_memory: bool,
    },
    Postgres {
        options: PgConnectOptions,
    },
}

fn parse_url(url: &str) -> Result<Target> {
    let bad = |reason: &str| Error::BadUrl {
        url: redact(url),
        reason: reason.to_owned(),
    };
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err(bad("no scheme"));
    };
    match scheme {
        "sqlite" => {
            let (database, query) = rest.split_once('?').unwrap_or((rest, ""));
            let database = database.strip_prefix("//").unwrap_or(database);
            if database.is_empty() {
                return Err(bad("no database path"));
            }
            let in_memory =
                database == ":memory:" || query.split('&').any(|param| param == "mode=memory");
            let options = SqliteConnectOptions::from_str(url).map_err(|e| bad(&e.to_string()))?;
            Ok(Target::Sqlite { options, in_memory })
        }
        "postgres" | "postgresql" => {
            let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(bad("no host"));
            }
            if parsed.path().trim_start_matches('/').is_empty() {
                return Err(bad("no database name"));
            }
            // sqlx's own errors here may echo the URL; say only what is wrong.
            let options = PgConnectOptions::from_str(url)
                .map_err(|_| bad("not a PostgreSQL connection URL sqlx understands"))?;
            Ok(Target::Postgres { options })
        }
        _ => Err(bad(&format!("unknown scheme `{scheme}`"))),
    }
}

/// `url` with any password replaced by `***`, for messages and logs. Works on URLs that do not
/// parse too, since those are the ones error messages repeat.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // `sqlite:PATH`, `sqlite::memory:`: no authority, nothing secret.
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority
        .rsplit_once('@')
        .and_then(|(userinfo, host)| Some((userinfo.split_once(':')?.0, host)))
    {
        Some((user, host)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => url.to_owned(),
    }
}
