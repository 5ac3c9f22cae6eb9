//! Opening: durable files, WAL and FULL sync, read-only opens, clear errors for bad URLs; on
//! PostgreSQL: reopening, read-only opens, several workers migrating at once, a database that
//! is not a store or is a newer Junction's.

use super::{TempDir, change, scalar, tamper};
use crate::store::testing::TestDatabase;
use crate::store::{Error, OpenOptions, Store};

/// How operators' read commands open a store.
fn reader() -> OpenOptions {
    OpenOptions {
        create: false,
        read_only: true,
        ..OpenOptions::default()
    }
}

#[tokio::test]
async fn intake_survives_closing_and_reopening() {
    let dir = TempDir::new();
    let url = dir.url("junction.db");
    {
        let store = Store::open(&url).await.unwrap();
        store
            .intake(&[change("evt_1", "sub_1", 1), change("evt_2", "sub_1", 2)])
            .await
            .unwrap();
        store
            .set_cursor("p", "stripe", "subscription", "cur_9")
            .await
            .unwrap();
        store.close().await;
    }

    let store = Store::open(&url).await.unwrap();
    let changes = store.unplanned_changes(10).await.unwrap();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[1].source_event_id, "evt_2");
    assert_eq!(
        store
            .cursor("p", "stripe", "subscription")
            .await
            .unwrap()
            .as_deref(),
        Some("cur_9")
    );
    let again = store.intake(&[change("evt_1", "sub_1", 1)]).await.unwrap();
    assert!(again[0].is_duplicate(), "the dedupe record survived too");
    let report = store.audit_verify().await.unwrap();
    assert!(report.is_ok());
    assert_eq!(report.entries, 3);
}

#[tokio::test]
async fn a_file_store_is_wal_with_full_sync() {
    let dir = TempDir::new();
    let store = Store::open(&dir.url("wal.db")).await.unwrap();
    let crate::store::db::Db::Sqlite { write, .. } = &store.db else {
        panic!("a sqlite:// URL opens SQLite");
    };
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(write)
        .await
        .unwrap();
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(write)
        .await
        .unwrap();
    let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(write)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(sync, 2, "synchronous=FULL");
    assert_eq!(foreign_keys, 1);
}

#[tokio::test]
async fn polled_changes_and_their_cursor_commit_together() {
    let dir = TempDir::new();
    let store = Store::open(&dir.url("poll.db")).await.unwrap();
    store
        .intake_polled(
            &[change("evt_1", "sub_1", 1)],
            "p",
            "stripe",
            "subscription",
            "c2",
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .cursor("p", "stripe", "subscription")
            .await
            .unwrap()
            .as_deref(),
        Some("c2")
    );
    assert_eq!(store.unplanned_changes(10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn bad_urls_get_clear_errors() {
    // Nothing listens on port 1: the database is unreachable, and the error says so without
    // repeating the password.
    let err = Store::open("postgres://admin:hunter2@127.0.0.1:1/junction")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Open { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("admin:***@127.0.0.1:1"), "{message}");
    assert!(
        !message.contains("hunter2"),
        "the password stays out: {message}"
    );

    for url in [
        "mysql://db/x",
        "junction.db",
        "sqlite://",
        "sqlite://x.db?bogus=1",
        "postgres://admin:hunter2@/junction",
        "postgres://admin:hunter2@db",
    ] {
        let err = Store::open(url).await.unwrap_err();
        assert!(matches!(err, Error::BadUrl { .. }), "{url}: {err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    let dir = TempDir::new();
    let missing = format!("sqlite://{}/no/such/dir/x.db", dir.0.display());
    let err = Store::open(&missing).await.unwrap_err();
    assert!(matches!(err, Error::Open { .. }), "{err}");
}

#[tokio::test]
async fn a_store_that_must_exist_is_not_created() {
    let dir = TempDir::new();
    let path = dir.0.join("typo.db");
    let url = format!("sqlite://{}", path.display());
    for options in [
        reader(),
        OpenOptions {
            create: false,
            ..OpenOptions::default()
        },
    ] {
        let err = Store::open_with(&url, &options).await.unwrap_err();
        assert!(
            matches!(&err, Error::Missing { path: p } if *p == path),
            "{err}"
        );
        assert!(err.to_string().contains("typo.db"), "{err}");
        assert!(!path.exists(), "no empty store was left behind");
    }
}

#[tokio::test]
async fn a_read_only_store_reads_and_refuses_writes() {
    let dir = TempDir::new();
    let url = dir.url("ro.db");
    let writer = Store::open(&url).await.unwrap();
    writer.intake(&[change("evt_1", "sub_1", 1)]).await.unwrap();

    // Beside the running writer, as `junction trace` beside `junction run`.
    let store = Store::open_with(&url, &reader()).await.unwrap();
    assert_eq!(store.trace("sub_1").await.unwrap().len(), 1);
    assert!(store.audit_verify().await.unwrap().is_ok());
    assert!(store.intake(&[change("evt_2", "sub_1", 2)]).await.is_err());
    assert_eq!(writer.trace("sub_1").await.unwrap().len(), 1);

    // And after the writer closed.
    store.close().await;
    writer.close().await;
    let store = Store::open_with(&url, &reader()).await.unwrap();
    assert_eq!(store.trace("evt_1").await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_read_only_open_of_another_database_says_so() {
    let dir = TempDir::new();
    let url = dir.url("other.db");
    let other = sqlx::SqlitePool::connect(&format!("{url}?mode=rwc"))
        .await
        .unwrap();
    sqlx::query("CREATE TABLE notes (body TEXT)")
        .execute(&other)
        .await
        .unwrap();
    other.close().await;

    let err = Store::open_with(&url, &reader()).await.unwrap_err();
    assert!(matches!(err, Error::NotAStore { .. }), "{err}");
    assert!(err.to_string().contains("no Junction schema"), "{err}");
}

#[tokio::test]
async fn a_postgres_store_survives_closing_and_reopening() {
    let db = TestDatabase::create().await;
    {
        let store = Store::open(db.url()).await.unwrap();
        store
            .intake(&[change("evt_1", "sub_1", 1), change("evt_2", "sub_1", 2)])
            .await
            .unwrap();
        store.close().await;
    }
    let store = Store::open(db.url()).await.unwrap();
    assert_eq!(store.unplanned_changes(10).await.unwrap().len(), 2);
    let again = store.intake(&[change("evt_1", "sub_1", 1)]).await.unwrap();
    assert!(again[0].is_duplicate(), "the dedupe record survived too");
    assert!(store.audit_verify().await.unwrap().is_ok());
    store.close().await;
}

#[tokio::test]
async fn workers_starting_at_once_migrate_once() {
    let db = TestDatabase::create().await;
    let mut opens = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let url = db.url().to_owned();
        opens.spawn(async move { Store::open(&url).await });
    }
    let mut stores = Vec::new();
    while let Some(opened) = opens.join_next().await {
        stores.push(opened.unwrap().expect("every worker opens the store"));
    }
    // All of them see one schema: an intake through one is a duplicate through another.
    stores[0]
        .intake(&[change("evt_1", "sub_1", 1)])
        .await
        .unwrap();
    let again = stores[3]
        .intake(&[change("evt_1", "sub_1", 1)])
        .await
        .unwrap();
    assert!(again[0].is_duplicate());
    for store in stores {
        store.close().await;
    }
}

#[tokio::test]
async fn a_read_only_postgres_store_reads_and_refuses_writes() {
    let db = TestDatabase::create().await;
    let writer = Store::open(db.url()).await.unwrap();
    writer.intake(&[change("evt_1", "sub_1", 1)]).await.unwrap();
    let store = Store::open_with(db.url(), &reader()).await.unwrap();
    assert_eq!(store.trace("sub_1").await.unwrap().len(), 1);
    assert!(store.audit_verify().await.unwrap().is_ok());
    let refused = store.intake(&[change("evt_2", "sub_1", 2)]).await;
    assert!(refused.is_err(), "a read-only store wrote");
    store.close().await;
    writer.close().await;
}

#[tokio::test]
async fn a_postgres_database_without_a_store_is_not_made_one_by_a_reader() {
    let db = TestDatabase::create().await;
    for options in [
        reader(),
        OpenOptions {
            create: false,
            ..OpenOptions::default()
        },
    ] {
        let err = Store::open_with(db.url(), &options).await.unwrap_err();
        assert!(matches!(err, Error::NotAStore { .. }), "{err}");
        assert!(err.to_string().contains("no Junction schema"), "{err}");
    }
    // `junction run` (create on) makes it one.
    Store::open(db.url()).await.unwrap().close().await;
    Store::open_with(db.url(), &reader())
        .await
        .unwrap()
        .close()
        .await;
}

#[tokio::test]
async fn a_store_a_newer_junction_migrated_is_refused_with_the_reason() {
    let db = TestDatabase::create().await;
    let store = Store::open(db.url()).await.unwrap();
    tamper(
        &store,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', TRUE, '\\x00', 0)",
    )
    .await;
    store.close().await;
    for options in [reader(), OpenOptions::default()] {
        let err = Store::open_with(db.url(), &options).await.unwrap_err();
        assert!(matches!(err, Error::NotAStore { .. }), "{err}");
        assert!(err.to_string().contains("9999"), "{err}");
        assert!(err.to_string().contains("newer Junction"), "{err}");
    }
}

#[tokio::test]
async fn a_postgres_store_can_require_tls() {
    // Managed PostgreSQL services insist on TLS; `sslmode` in the URL is honoured. (The local
    // server has Debian's default self-signed certificate: `require` encrypts without
    // verifying it, `verify-full` with `sslrootcert` would verify it.)
    let db = TestDatabase::create().await;
    let store = Store::open(&format!("{}?sslmode=require", db.url()))
        .await
        .expect("open over TLS");
    let encrypted = scalar(
        &store,
        "SELECT CAST(CASE WHEN ssl THEN 1 ELSE 0 END AS BIGINT) FROM pg_stat_ssl\n         WHERE pid = pg_backend_pid()",
    )
    .await;
    assert_eq!(encrypted, 1, "the session is not encrypted");
    store.intake(&[change("evt_1", "sub_1", 1)]).await.unwrap();
    store.close().await;
}
