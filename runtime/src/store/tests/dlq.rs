//! Dead letters: masked payload, attempt history, idempotent redrive in source order.

use super::{T0, pending};
use crate::store::{Attempt, AuditKind, Delivery, DeliveryState, DlqFilter, Redrive, Store};

const MASKED: &str = r#"{"status":"active","customer_email":"sha256:5d41402a"}"#;

/// Claims `d`, records one rejected attempt and dead-letters it.
async fn kill(store: &Store, d: &Delivery) -> i64 {
    let claimed = store.claim_due(T0, 10, "w1", 1_000).await.unwrap();
    let c = claimed.iter().find(|c| c.id == d.id).expect("claimable");
    let lease = c.lease.as_ref().unwrap();
    let rejected = Attempt {
        n: 1,
        started_ms: T0,
        latency_ms: 40,
        outcome: "rejected".into(),
        error_class: Some("rejected".into()),
        status_code: Some(400),
        message: Some("Invalid billing schedule".into()),
    };
    store.record_attempt(lease, &rejected).await.unwrap();
    store
        .dead_letter(lease, "rejected: Invalid billing schedule", MASKED)
        .await
        .unwrap()
}

async fn a_dead_letter_keeps_the_masked_payload_and_attempt_history(store: Store) {
    let d = pending(&store, "evt_a", "sub_a", 1).await;
    let id = kill(&store, &d).await;

    let listed = store.dlq_list(&DlqFilter::default()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].idempotency_key, d.idempotency_key);
    let shown = store.dlq_show(id).await.unwrap().unwrap();
    assert_eq!(shown.letter.payload, MASKED);
    assert_eq!(shown.letter.reason, "rejected: Invalid billing schedule");
    assert_eq!(shown.letter.attempts, 1);
    assert_eq!(shown.attempts.len(), 1);
    assert_eq!(shown.attempts[0].status_code, Some(400));
    assert_eq!(store.stats(T0).await.unwrap().dead, 1);
    assert!(store.dlq_show(id + 1).await.unwrap().is_none());
}

async fn redriving_twice_redrives_once_under_the_same_key(store: Store) {
    let d = pending(&store, "evt_a", "sub_a", 1).await;
    let id = kill(&store, &d).await;

    let all = Redrive::Matching(DlqFilter::default());
    assert_eq!(store.redrive(&all).await.unwrap(), 1);
    assert_eq!(store.redrive(&all).await.unwrap(), 0);
    assert_eq!(store.redrive(&Redrive::Ids(vec![id])).await.unwrap(), 0);

    let back = store.delivery(d.id).await.unwrap().unwrap();
    assert_eq!(back.state, DeliveryState::Pending);
    assert_eq!(back.attempts, 0, "a fresh attempt budget");
    assert_eq!(back.redrives, 1);
    assert_eq!(back.idempotency_key, d.idempotency_key);
    assert!(
        store
            .dlq_list(&DlqFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    let with_redriven = DlqFilter {
        include_redriven: true,
        ..DlqFilter::default()
    };
    let letters = store.dlq_list(&with_redriven).await.unwrap();
    assert_eq!(letters[0].redriven_at_ms, Some(T0));
    let redriven = store
        .trace("sub_a")
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == AuditKind::Redriven)
        .count();
    assert_eq!(redriven, 1);

    // It goes out again, and its history keeps the first attempt.
    let again = store.claim_due(T0, 10, "w1", 1_000).await.unwrap();
    assert_eq!(again[0].id, d.id);
    assert_eq!(store.dlq_show(id).await.unwrap().unwrap().attempts.len(), 1);
}

async fn redrive_by_id_and_by_filter_pick_only_their_letters(store: Store) {
    let a = pending(&store, "evt_a", "sub_a", 1).await;
    let id_a = kill(&store, &a).await;
    let b = pending(&store, "evt_b", "sub_b", 1).await;
    kill(&store, &b).await;

    assert_eq!(store.redrive(&Redrive::Ids(vec![id_a])).await.unwrap(), 1);
    let other_pipeline = DlqFilter {
        pipeline: Some("elsewhere".into()),
        ..DlqFilter::default()
    };
    assert_eq!(
        store
            .redrive(&Redrive::Matching(other_pipeline))
            .await
            .unwrap(),
        0
    );
    let b_now = store.delivery(b.id).await.unwrap().unwrap();
    assert_eq!(b_now.state, DeliveryState::Dead);
}

super::acceptance!(
    a_dead_letter_keeps_the_masked_payload_and_attempt_history,
    redriving_twice_redrives_once_under_the_same_key,
    redrive_by_id_and_by_filter_pick_only_their_letters
);
