//! Several workers on one database: waking each other, and electing one leader for the work
//! that must run once per cluster.
//!
//! - **Wake-ups.** A transaction that leaves work for others (new changes to plan, deliveries
//!   due now) sends `NOTIFY` on PostgreSQL; it is delivered when, and only if, it commits.
//!   Every worker `LISTEN`s and wakes its planner or delivery loop at once, instead of waiting
//!   for its next poll. The loops still poll, slowly, as a backstop: a notification sent while
//!   a listener was reconnecting is lost. On SQLite there is one worker and nothing to do.
//! - **Leadership.** Poll cursors (and, later, scheduled jobs) must advance in one place: the
//!   worker holding a PostgreSQL session advisory lock is the leader. The lock lives as long as
//!   the session: a leader that dies (killed, machine gone, connection cut) loses it as soon as
//!   PostgreSQL sees the session end, and the next worker to try takes over. A leader that can
//!   no longer reach the database steps down when its check fails. Between those two moments two
//!   workers may both poll once; polled changes are deduplicated, so that costs a repeat, not a
//!   double write. On SQLite the one worker always leads.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::Connection;
use sqlx::postgres::{PgConnection, PgListener};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::db::{Db, Either, Tx};
use super::{Result, Store};

/// The channel for "changes were received: plan them".
pub(super) const CHANGES: &str = "junction_changes";
/// The channel for "deliveries are due now: claim them".
pub(super) const DELIVERIES: &str = "junction_deliveries";

/// How often a leader checks that it still holds its lock, and a follower tries to take it.
const LEADER_CHECK: Duration = Duration::from_secs(1);

impl Tx {
    /// Sends a wake-up on `channel` to every worker when this transaction commits.
    pub(super) async fn notify(&mut self, channel: &str) -> Result<()> {
        if let Either::Postgres(tx) = self {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(channel)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }
}

/// Where a worker's loops are woken when another worker commits work for them.
#[derive(Debug, Clone, Default)]
pub struct Wakeups {
    /// Woken when changes were received.
    pub changes: Arc<Notify>,
    /// Woken when deliveries became due.
    pub deliveries: Arc<Notify>,
}

impl Store {
    /// Listens for other workers' wake-ups until the store closes. `None` on SQLite, where there
    /// is no one else to listen to.
    pub async fn listen(&self, wake: Wakeups) -> Result<Option<JoinHandle<()>>> {
        let Db::Postgres { pool } = &self.db else {
            return Ok(None);
        };
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen_all([CHANGES, DELIVERIES]).await?;
        Ok(Some(tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(note)) => match note.channel() {
                        CHANGES => wake.changes.notify_one(),
                        _ => wake.deliveries.notify_one(),
                    },
                    // The connection was lost; the next call reconnects. What was sent
                    // meanwhile is gone, so look for work now.
                    Ok(None) => {
                        wake.changes.notify_one();
                        wake.deliveries.notify_one();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "listening for other workers failed; retrying");
                        tokio::time::sleep(LEADER_CHECK).await;
                    }
                }
            }
        })))
    }

    /// Takes part in electing the leader for `role`: one worker per database at a time. The
    /// returned handle says whether this worker leads now and tells when that changes.
    pub fn leadership(&self, role: &str) -> Leadership {
        let (tell, watch) = watch::channel(false);
        let Db::Postgres { pool } = &self.db else {
            tell.send_replace(true);
            return Leadership {
                watch,
                task: None,
                _tell: Some(tell),
            };
        };
        let options = pool.connect_options();
        let key = lock_key(role);
        let role = role.to_owned();
        let task = tokio::spawn(async move {
            loop {
                let session = match PgConnection::connect_with(&options).await {
                    Ok(mut conn) => match try_lock(&mut conn, key).await {
                        Ok(true) => Some(conn),
                        Ok(false) => None,
                        Err(e) => {
                            tracing::warn!(%role, error = %e, "could not try the leader lock");
                            None
                        }
                    },
                    Err(e) => {
                        tracing::warn!(%role, error = %e, "could not reach the database to lead");
                        None
                    }
                };
                if let Some(mut conn) = session {
                    tracing::info!(%role, "this worker leads");
                    tell.send_replace(true);
                    // Hold the session; it holds the lock. Step down the moment it fails.
                    loop {
                        tokio::time::sleep(LEADER_CHECK).await;
                        if tell.is_closed() {
                            return;
                        }
                        if let Err(e) = conn.ping().await {
                            tracing::warn!(%role, error = %e, "lost the leader's session; stepping down");
                            break;
                        }
                    }
                    tell.send_replace(false);
                }
                if tell.is_closed() {
                    return;
                }
                tokio::time::sleep(LEADER_CHECK).await;
            }
        });
        Leadership {
            watch,
            task: Some(task),
            _tell: None,
        }
    }
}

async fn try_lock(conn: &mut PgConnection, key: i64) -> Result<bool> {
    Ok(sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(conn)
        .await?)
}

/// The advisory lock key of a role: stable across versions and machines.
fn lock_key(role: &str) -> i64 {
    let digest = Sha256::digest(format!("junction leader {role}").as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// This worker's part in one leader election. Dropping it steps down.
#[derive(Debug)]
pub struct Leadership {
    watch: watch::Receiver<bool>,
    task: Option<JoinHandle<()>>,
    /// Keeps the channel open where there is no election (SQLite).
    _tell: Option<watch::Sender<bool>>,
}

impl Leadership {
    /// Whether this worker leads now.
    pub fn is_leader(&self) -> bool {
        *self.watch.borrow()
    }

    /// A receiver of this election's outcome, for tasks that only need to watch it.
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.watch.clone()
    }

    /// Waits until this worker leads.
    pub async fn until_leader(&mut self) {
        // The sender lives as long as this handle (in the task or `_tell`).
        let _ = self.watch.wait_for(|leads| *leads).await;
    }

    /// Waits until this worker no longer leads.
    pub async fn until_follower(&mut self) {
        let _ = self.watch.wait_for(|leads| !*leads).await;
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        // Aborting drops the session, which releases the lock at once.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
