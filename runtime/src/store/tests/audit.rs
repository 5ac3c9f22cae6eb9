//! The audit chain: intact after real work, and tampering is named by its seq.

use serde_json::json;

use super::{T0, memory, pending};
use crate::store::{AuditKind, NewAudit, Store};

/// Some history: receipts, plans, a claim, a confirmation.
async fn history(store: &Store) {
    pending(store, "evt_a", "sub_a", 1).await;
    pending(store, "evt_b", "sub_b", 1).await;
    let claimed = store.claim_due(T0, 10, "w1", 1_000).await.unwrap();
    store
        .confirmed(claimed[0].lease.as_ref().unwrap(), "ns_1")
        .await
        .unwrap();
}

#[tokio::test]
async fn the_chain_verifies_after_work() {
    let store = memory().await;
    assert_eq!(store.audit_verify().await.unwrap().entries, 0);
    history(&store).await;
    store
        .append_audit(&[NewAudit {
            pipeline: "p".into(),
            correlation_id: "c".into(),
            object: "subscription".into(),
            key: "sub_a".into(),
            event_id: None,
            change_id: None,
            delivery_id: None,
            idempotency_key: None,
            kind: AuditKind::Reconciled,
            detail: json!({ "differences": 0 }),
        }])
        .await
        .unwrap();

    let report = store.audit_verify().await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    // received + planned for two changes, confirmed, reconciled.
    assert_eq!(report.entries, 6);
}

#[tokio::test]
async fn an_edited_entry_is_named() {
    let store = memory().await;
    history(&store).await;

    sqlx::query("UPDATE audit SET detail = '{\"status\":\"forged\"}' WHERE seq = 3")
        .execute(&store.write)
        .await
        .unwrap();

    let report = store.audit_verify().await.unwrap();
    let bad = report.first_bad.expect("tampering is detected");
    assert_eq!(bad.seq, 3);
    assert!(bad.reason.contains("hash"), "{}", bad.reason);
    assert_eq!(report.entries, 2);
}

#[tokio::test]
async fn a_rehashed_edit_breaks_the_next_link() {
    let store = memory().await;
    history(&store).await;

    // Rewriting an entry's hash is caught at that entry, and still after the next entry's
    // link is rewritten to match.
    sqlx::query("UPDATE audit SET hash = 'f00d' WHERE seq = 2")
        .execute(&store.write)
        .await
        .unwrap();

    let bad = store.audit_verify().await.unwrap().first_bad.unwrap();
    assert_eq!(bad.seq, 2);
    sqlx::query("UPDATE audit SET prev_hash = 'f00d' WHERE seq = 3")
        .execute(&store.write)
        .await
        .unwrap();
    let bad = store.audit_verify().await.unwrap().first_bad.unwrap();
    assert_eq!(bad.seq, 2, "the first bad entry is still the edited one");
}

#[tokio::test]
async fn deleted_entries_are_noticed() {
    let store = memory().await;
    history(&store).await;
    let last: i64 = sqlx::query_scalar("SELECT MAX(seq) FROM audit")
        .fetch_one(&store.write)
        .await
        .unwrap();

    sqlx::query("DELETE FROM audit WHERE seq = ?1")
        .bind(last)
        .execute(&store.write)
        .await
        .unwrap();
    assert_eq!(
        store.audit_verify().await.unwrap().first_bad.unwrap().seq,
        last
    );

    sqlx::query("DELETE FROM audit WHERE seq = 2")
        .execute(&store.write)
        .await
        .unwrap();
    assert_eq!(
        store.audit_verify().await.unwrap().first_bad.unwrap().seq,
        2
    );
}
