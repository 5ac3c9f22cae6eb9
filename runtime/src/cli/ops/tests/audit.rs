//! `junction audit verify`: ok on an intact chain, the first bad seq after tampering.

use std::process::ExitCode;

use super::{capture, fixture, reader};
use crate::cli::ops::audit::verify_to;

#[tokio::test]
async fn verify_passes_then_names_a_tampered_entry() {
    let f = fixture().await;
    let store = reader(&f.url).await;
    let entries =
        f.store.trace("sub_1").await.unwrap().len() + f.store.trace("sub_2").await.unwrap().len();
    let out = capture(&store, async |s, o| verify_to(s, false, o).await)
        .await
        .unwrap();
    assert_eq!(out.code, ExitCode::SUCCESS);
    // One chain per entity: sub_1's and sub_2's.
    assert_eq!(out.text, format!("ok: {entries} entries in 2 chains\n"));

    // Someone rewrites history with plain SQL: the dead letter's reason becomes a success.
    let raw = sqlx::SqlitePool::connect(&f.url).await.unwrap();
    let seq: i64 = sqlx::query_scalar("SELECT seq FROM audit WHERE kind = 'dead_lettered'")
        .fetch_one(&raw)
        .await
        .unwrap();
    sqlx::query("UPDATE audit SET detail = '{\"reason\":\"fine\"}' WHERE seq = $1")
        .bind(seq)
        .execute(&raw)
        .await
        .unwrap();

    let out = capture(&store, async |s, o| verify_to(s, false, o).await)
        .await
        .unwrap();
    assert_eq!(out.code, ExitCode::FAILURE);
    assert!(
        out.text.starts_with(&format!(
            "audit chain broken at seq {seq}: hash does not match"
        )),
        "{}",
        out.text
    );
    let json = capture(&store, async |s, o| verify_to(s, true, o).await)
        .await
        .unwrap();
    assert_eq!(json.code, ExitCode::FAILURE);
    let json = json.json();
    assert_eq!(json["ok"], false);
    assert_eq!(json["first_bad"]["seq"], seq);
    assert!(
        json["first_bad"]["chain"]
            .as_str()
            .is_some_and(|c| c.contains("sub_")),
        "{json}"
    );
    assert!(json["entries"].as_u64().unwrap() < entries as u64);
}
