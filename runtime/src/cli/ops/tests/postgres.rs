//! The operators' commands on a PostgreSQL store print exactly what they print on SQLite, for
//! the same history; and a PostgreSQL database that is not a store is refused with the reason.

use std::process::ExitCode;

use super::{Access, capture, fixture, fixture_at, open, reader, temp_dir};
use crate::cli::ops::audit::verify_to;
use crate::cli::ops::dlq::{DlqCommand, list_to, show_to};
use crate::cli::ops::trace::trace_to;
use crate::store::testing::TestDatabase;

#[tokio::test]
async fn trace_dlq_and_audit_read_postgres_as_they_read_sqlite() {
    let database = TestDatabase::create().await;
    let on_sqlite = fixture().await;
    let on_postgres = fixture_at(temp_dir(), database.url().to_owned()).await;
    let sqlite = reader(&on_sqlite.url).await;
    let postgres = reader(&on_postgres.url).await;
    for needle in ["sub_1", "evt_2"] {
        for json in [false, true] {
            let a = capture(&sqlite, async |s, o| trace_to(s, needle, json, o).await)
                .await
                .unwrap();
            let b = capture(&postgres, async |s, o| trace_to(s, needle, json, o).await)
                .await
                .unwrap();
            assert_eq!(a.text, b.text, "trace {needle} (json {json})");
        }
    }
    let DlqCommand::List(args) = super::dlq::dlq(&["list"]) else {
        unreachable!()
    };
    let a = capture(&sqlite, async |s, o| list_to(s, &args, o).await)
        .await
        .unwrap();
    let b = capture(&postgres, async |s, o| list_to(s, &args, o).await)
        .await
        .unwrap();
    assert_eq!(a.text, b.text, "dlq list");
    let a = capture(&sqlite, async |s, o| {
        show_to(s, on_sqlite.letter, false, o).await
    })
    .await
    .unwrap();
    let b = capture(&postgres, async |s, o| {
        show_to(s, on_postgres.letter, false, o).await
    })
    .await
    .unwrap();
    assert_eq!(a.text, b.text, "dlq show");
    let verified = capture(&postgres, async |s, o| verify_to(s, false, o).await)
        .await
        .unwrap();
    assert_eq!(verified.code, ExitCode::SUCCESS, "{}", verified.text);
    postgres.close().await;
    on_postgres.store.close().await;
}

#[tokio::test]
async fn a_postgres_database_without_a_store_is_refused_not_created() {
    let database = TestDatabase::create().await;
    for access in [Access::Read, Access::Repair] {
        let err = open(database.url(), access).await.unwrap_err().to_string();
        assert!(err.contains("no Junction schema"), "{err}");
    }
}
