//! The audit chains: intact after real work; any single-row edit, deletion, insertion, a
//! reordering or a row moved between chains is named by its seq; writers of different
//! entities do not wait for each other.

use serde_json::json;

use super::{T0, pending, scalar, tamper};
use crate::store::{AuditKind, NewAudit, Store};

/// Some history: receipts, plans, a claim, a confirmation. In seq order: 1 received sub_a,
/// 2 planned sub_a, 3 received sub_b, 4 planned sub_b, 5 confirmed sub_a.
async fn history(store: &Store) {
    pending(store, "evt_a", "sub_a", 1).await;
    pending(store, "evt_b", "sub_b", 1).await;
    let claimed = store.claim_due(T0, 10, "w1", 1_000).await.unwrap();
    store
        .confirmed(claimed[0].lease.as_ref().unwrap(), "ns_1")
        .await
        .unwrap();
}

fn note(key: &str) -> NewAudit {
    NewAudit {
        pipeline: "p".into(),
        correlation_id: "c".into(),
        object: "subscription".into(),
        key: key.into(),
        event_id: None,
        change_id: None,
        delivery_id: None,
        idempotency_key: None,
        kind: AuditKind::Reconciled,
        detail: json!({ "differences": 0 }),
    }
}

/// The seq of the entry at `position` in the chain of the entry `seq`.
async fn same_chain(store: &Store, seq: i64, position: i64) -> i64 {
    scalar(
        store,
        &format!(
            "SELECT seq FROM audit WHERE chain_seq = {position}
               AND chain = (SELECT chain FROM audit WHERE seq = {seq})"
        ),
    )
    .await
}

async fn first_bad(store: &Store) -> (i64, String) {
    let bad = store
        .audit_verify()
        .await
        .unwrap()
        .first_bad
        .expect("tampering is detected");
    (bad.seq, bad.reason)
}

async fn the_chain_verifies_after_work(store: Store) {
    assert_eq!(store.audit_verify().await.unwrap().entries, 0);
    history(&store).await;
    store.append_audit(&[note("sub_a")]).await.unwrap();

    let report = store.audit_verify().await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    // received + planned for two changes, confirmed, reconciled (p's own chain).
    assert_eq!(report.entries, 6);
    assert_eq!(report.chains, 3);
    // One entity's entries are one chain, in order, from 1.
    let trail = store.trace("sub_a").await.unwrap();
    let positions: Vec<i64> = trail
        .iter()
        .filter(|e| e.pipeline != "p")
        .map(|e| e.chain_seq)
        .collect();
    assert_eq!(positions, [1, 2, 3]);
}

async fn an_edited_entry_is_named(store: Store) {
    history(&store).await;
    tamper(
        &store,
        "UPDATE audit SET detail = '{\"status\":\"forged\"}' WHERE seq = 3",
    )
    .await;
    let (seq, reason) = first_bad(&store).await;
    assert_eq!(seq, 3);
    assert!(reason.contains("hash"), "{reason}");
}

async fn a_rehashed_edit_breaks_the_next_link(store: Store) {
    history(&store).await;
    // Rewriting an entry's hash is caught at that entry, and still after the next entry's
    // link is rewritten to match.
    tamper(&store, "UPDATE audit SET hash = 'f00d' WHERE seq = 2").await;
    assert_eq!(first_bad(&store).await.0, 2);
    let next = same_chain(&store, 2, 3).await;
    assert_eq!(next, 5);
    tamper(
        &store,
        &format!("UPDATE audit SET prev_hash = 'f00d' WHERE seq = {next}"),
    )
    .await;
    assert_eq!(
        first_bad(&store).await.0,
        2,
        "the first bad entry is still the edited one"
    );
}

async fn a_deleted_last_entry_is_noticed(store: Store) {
    history(&store).await;
    tamper(&store, "DELETE FROM audit WHERE seq = 5").await;
    let (seq, reason) = first_bad(&store).await;
    assert_eq!(seq, 5, "{reason}");
    assert!(reason.contains("cut off"), "{reason}");
}

async fn a_deleted_middle_entry_is_noticed(store: Store) {
    history(&store).await;
    tamper(&store, "DELETE FROM audit WHERE seq = 2").await;
    let (seq, reason) = first_bad(&store).await;
    assert_eq!(seq, 5, "the entry after the gap: {reason}");
    assert!(reason.contains("gap"), "{reason}");
}

async fn a_chain_whose_entries_are_all_gone_is_noticed(store: Store) {
    history(&store).await;
    tamper(
        &store,
        "DELETE FROM audit WHERE chain = (SELECT chain FROM audit WHERE seq = 3)",
    )
    .await;
    let (seq, reason) = first_bad(&store).await;
    assert_eq!(seq, 4, "the head names the last entry: {reason}");
    assert!(reason.contains("head"), "{reason}");
}

async fn a_deleted_head_is_noticed(store: Store) {
    history(&store).await;
    tamper(
        &store,
        "DELETE FROM audit_chains WHERE chain = (SELECT chain FROM audit WHERE seq = 3)",
    )
    .await;
    let (seq, reason) = first_bad(&store).await;
    assert_eq!(seq, 4, "{reason}");
    assert!(reason.contains("no head"), "{reason}");
}

async fn an_inserted_entry_is_noticed(store: Store) {
    history(&store).await;
    // A copy of the last entry of sub_b's chain, appended after it with a correct link and
    // its own correct hash cannot be computed without rehashing, but even a row whose link
    // matches ends the chain past its head.
    tamper(
        &store,
        "INSERT INTO audit (chain, chain_seq, at_ms, pipeline, correlation_id, object,
                            entity_key, event_id, change_id, delivery_id, idempotency_key,
                            kind, detail, prev_hash, hash)
         SELECT chain, chain_seq + 1, at_ms, pipeline, correlation_id, object, entity_key,
                event_id, change_id, delivery_id, idempotency_key, kind, detail, hash, hash
         FROM audit WHERE seq = 4",
    )
    .await;
    let (_, reason) = first_bad(&store).await;
    assert!(
        reason.contains("hash") || reason.contains("head"),
        "{reason}"
    );
}

async fn reordered_entries_are_noticed(store: Store) {
    history(&store).await;
    // Swap the positions of sub_a's first two entries.
    tamper(&store, "UPDATE audit SET chain_seq = -1 WHERE seq = 1").await;
    tamper(&store, "UPDATE audit SET chain_seq = 1 WHERE seq = 2").await;
    tamper(&store, "UPDATE audit SET chain_seq = 2 WHERE seq = 1").await;
    let (seq, reason) = first_bad(&store).await;
    assert_eq!(seq, 2, "{reason}");
}

async fn an_entry_moved_to_another_chain_is_noticed(store: Store) {
    history(&store).await;
    tamper(
        &store,
        "UPDATE audit SET chain = (SELECT chain FROM audit WHERE seq = 3), chain_seq = 3
         WHERE seq = 5",
    )
    .await;
    let (seq, reason) = first_bad(&store).await;
    assert_eq!(seq, 5, "{reason}");
}

/// The point of one chain per entity: a transaction that has appended to one entity's chain
/// and not committed yet does not hold up an append to another entity's. (Before, every
/// append updated one head row: the second append would wait for the first to commit.)
async fn writers_of_different_entities_do_not_wait_for_each_other(store: Store) {
    if store.dialect() == crate::store::Dialect::Sqlite {
        // SQLite has one writer at a time whatever the layout; nothing to show there.
        return;
    }
    let mut open = store.begin().await.unwrap();
    super::super::audit::append(&mut open, T0, &[note("sub_a")])
        .await
        .unwrap();
    // If this waited for `open`, it would wait forever: `open` commits only after it.
    let other = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        store.append_audit(&[note("sub_b")]),
    )
    .await;
    assert!(
        matches!(other, Ok(Ok(()))),
        "an append to another entity waited for an open transaction"
    );
    open.commit().await.unwrap();
    store.append_audit(&[note("sub_a")]).await.unwrap();
    let report = store.audit_verify().await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.entries, 3);
}

/// Many concurrent appenders on a few entities: every chain stays whole.
async fn concurrent_appends_keep_every_chain_whole(store: Store) {
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..16 {
        let store = store.clone();
        tasks.spawn(async move {
            for i in 0..10 {
                let batch = [note(&format!("sub_{}", (n + i) % 4)), note("sub_shared")];
                store.append_audit(&batch).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let report = store.audit_verify().await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.entries, 320);
    assert_eq!(report.chains, 5);
}

super::acceptance!(
    the_chain_verifies_after_work,
    an_edited_entry_is_named,
    a_rehashed_edit_breaks_the_next_link,
    a_deleted_last_entry_is_noticed,
    a_deleted_middle_entry_is_noticed,
    a_chain_whose_entries_are_all_gone_is_noticed,
    a_deleted_head_is_noticed,
    an_inserted_entry_is_noticed,
    reordered_entries_are_noticed,
    an_entry_moved_to_another_chain_is_noticed,
    writers_of_different_entities_do_not_wait_for_each_other,
    concurrent_appends_keep_every_chain_whole,
);
