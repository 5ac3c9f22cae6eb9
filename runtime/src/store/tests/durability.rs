//! Opening: durable files, WAL and FULL sync, read-only opens, clear errors for bad URLs.

use super::{TempDir, change};
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
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&store.write)
        .await
        .unwrap();
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&store.write)
        .await
        .unwrap();
    let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&store.write)
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
    let err = Store::open("postgres://admin:hunter2@db/junction")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }));
    let message = err.to_string();
    assert!(message.contains("not yet supported"), "{message}");
    assert!(
        !message.contains("hunter2"),
        "the password stays out: {message}"
    );

    for url in [
        "mysql://db/x",
        "junction.db",
        "sqlite://",
        "sqlite://x.db?bogus=1",
    ] {
        let err = Store::open(url).await.unwrap_err();
        assert!(matches!(err, Error::BadUrl { .. }), "{url}: {err}");
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
