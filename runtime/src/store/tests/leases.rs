//! Leases and transitions: crash recovery, late workers, the path from write to confirmed.

use super::{T0, pending};
use crate::store::{Attempt, AuditKind, DeliveryState, Error, Store};

fn attempt(n: i32, outcome: &str) -> Attempt {
    Attempt {
        n,
        started_ms: T0 + i64::from(n),
        latency_ms: 12,
        outcome: outcome.into(),
        error_class: (outcome != "applied").then(|| "transient".into()),
        status_code: Some(if outcome == "applied" { 200 } else { 503 }),
        message: (outcome != "applied").then(|| "service unavailable".into()),
    }
}

async fn an_expired_lease_is_reclaimed_by_another_worker(store: Store) {
    let d = pending(&store, "evt_a", "sub_a", 1).await;
    let first = store.claim_due(T0, 10, "w1", 1_000).await.unwrap();
    assert_eq!(first.len(), 1);

    // While the lease runs nobody else gets it; once it expires (w1 died), w2 does.
    assert!(
        store
            .claim_due(T0 + 999, 10, "w2", 1_000)
            .await
            .unwrap()
            .is_empty()
    );
    let second = store.claim_due(T0 + 1_000, 10, "w2", 1_000).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].id, d.id);
    assert_eq!(second[0].state, DeliveryState::InFlight);
    let lease = second[0].lease.as_ref().unwrap();
    assert_eq!(lease.worker, "w2");
    assert_ne!(lease.token, first[0].lease.as_ref().unwrap().token);
    assert_eq!(second[0].idempotency_key, d.idempotency_key);
}

async fn a_late_worker_cannot_overwrite_the_new_holder(store: Store) {
    let d = pending(&store, "evt_a", "sub_a", 1).await;
    let late = store.claim_due(T0, 10, "w1", 1_000).await.unwrap()[0]
        .lease
        .clone()
        .unwrap();
    let current = store.claim_due(T0 + 5_000, 10, "w1", 1_000).await.unwrap()[0]
        .lease
        .clone()
        .unwrap();

    // The same worker name does not help: the lease token changed with the reclaim.
    let refused = [
        store.record_attempt(&late, &attempt(1, "applied")).await,
        store.retry_later(&late, T0, "boom").await,
        store.start_confirm(&late, "ns_1", T0).await,
        store.confirmed(&late, "ns_1").await,
        store.dead_letter(&late, "rejected", "{}").await.map(drop),
        store.release(&late).await,
    ];
    for result in refused {
        assert!(
            matches!(result, Err(Error::LeaseLost { delivery_id }) if delivery_id == d.id),
            "{result:?}"
        );
    }
    let unchanged = store.delivery(d.id).await.unwrap().unwrap();
    assert_eq!(unchanged.state, DeliveryState::InFlight);
    assert_eq!(unchanged.attempts, 0);
    assert_eq!(unchanged.lease.as_ref(), Some(&current));

    store.confirmed(&current, "ns_1").await.unwrap();
    let settled = store.delivery(d.id).await.unwrap().unwrap();
    assert_eq!(settled.state, DeliveryState::Confirmed);
    assert_eq!(settled.lease, None);
    // Settled: even the last holder's lease is spent.
    assert!(matches!(
        store.release(&current).await,
        Err(Error::LeaseLost { .. })
    ));
}

async fn a_failed_attempt_backs_off_and_keeps_its_history(store: Store) {
    let d = pending(&store, "evt_a", "sub_a", 1).await;
    let claimed = store.claim_due(T0, 10, "w1", 1_000).await.unwrap();
    let lease = claimed[0].lease.as_ref().unwrap();
    store
        .record_attempt(lease, &attempt(1, "transient"))
        .await
        .unwrap();
    store
        .retry_later(lease, T0 + 2_000, "503 service unavailable")
        .await
        .unwrap();

    let waiting = store.delivery(d.id).await.unwrap().unwrap();
    assert_eq!(waiting.state, DeliveryState::Pending);
    assert_eq!(waiting.attempts, 1);
    assert_eq!(waiting.first_attempt_ms, Some(T0 + 1));
    assert_eq!(
        waiting.last_error.as_deref(),
        Some("503 service unavailable")
    );
    assert!(
        store
            .claim_due(T0 + 1_999, 10, "w1", 1_000)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store.claim_due(T0 + 2_000, 10, "w1", 1_000).await.unwrap();
    assert_eq!(again[0].attempts, 1);
}

async fn a_release_hands_the_delivery_back_without_an_attempt(store: Store) {
    let d = pending(&store, "evt_a", "sub_a", 1).await;
    let claimed = store.claim_due(T0, 10, "w1", 60_000).await.unwrap();
    store
        .release(claimed[0].lease.as_ref().unwrap())
        .await
        .unwrap();

    let back = store.claim_due(T0, 10, "w2", 60_000).await.unwrap();
    assert_eq!(back[0].id, d.id);
    assert_eq!(back[0].attempts, 0);
}

async fn an_async_write_is_polled_then_confirmed_and_linked_across_systems(store: Store) {
    let d = pending(&store, "evt_a", "sub_a", 1).await;
    let c = &store.claim_due(T0, 10, "w1", 1_000).await.unwrap()[0];
    let lease = c.lease.as_ref().unwrap();
    store
        .record_attempt(lease, &attempt(1, "applied"))
        .await
        .unwrap();
    store
        .await_job(lease, "job_9", T0 + 100, false)
        .await
        .unwrap();

    let parked = store.delivery(d.id).await.unwrap().unwrap();
    assert_eq!(parked.state, DeliveryState::AwaitingJob);
    assert_eq!(parked.confirm_deadline_ms, Some(T0 + 30_000));

    let c = &store.claim_due(T0 + 100, 10, "w1", 1_000).await.unwrap()[0];
    store
        .start_confirm(c.lease.as_ref().unwrap(), "ns_77", T0 + 200)
        .await
        .unwrap();
    let c = &store.claim_due(T0 + 200, 10, "w1", 1_000).await.unwrap()[0];
    assert_eq!(c.state, DeliveryState::Confirming);
    assert_eq!(c.target_ref.as_deref(), Some("ns_77"));
    // The deadline set when the job was accepted still runs.
    assert_eq!(c.confirm_deadline_ms, Some(T0 + 30_000));
    store
        .confirmed(c.lease.as_ref().unwrap(), "ns_77")
        .await
        .unwrap();

    assert_eq!(
        store.xref("subscription", "stripe", "sub_a").await.unwrap(),
        [("netsuite".to_owned(), "ns_77".to_owned())]
    );
    assert_eq!(
        store
            .xref("subscription", "netsuite", "ns_77")
            .await
            .unwrap(),
        [("stripe".to_owned(), "sub_a".to_owned())]
    );
    let kinds: Vec<_> = store
        .trace(&d.idempotency_key)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            AuditKind::Received,
            AuditKind::Planned,
            AuditKind::Attempt,
            AuditKind::Accepted,
            AuditKind::JobSucceeded,
            AuditKind::Confirmed,
        ]
    );
}

async fn a_write_that_never_shows_up_is_written_again(store: Store) {
    let d = pending(&store, "evt_a", "sub_a", 1).await;
    let c = &store.claim_due(T0, 10, "w1", 1_000).await.unwrap()[0];
    let lease = c.lease.as_ref().unwrap();
    store.start_confirm(lease, "ns_1", T0 + 10).await.unwrap();
    let c = &store.claim_due(T0 + 31_000, 10, "w1", 1_000).await.unwrap()[0];
    store
        .not_confirmed(
            c.lease.as_ref().unwrap(),
            T0 + 32_000,
            "status still active",
        )
        .await
        .unwrap();

    let again = store.delivery(d.id).await.unwrap().unwrap();
    assert_eq!(again.state, DeliveryState::Pending);
    assert_eq!(again.confirm_deadline_ms, None);
    assert_eq!(again.next_at_ms, T0 + 32_000);
    let last = store.trace("evt_a").await.unwrap().pop().unwrap();
    assert_eq!(last.kind, AuditKind::NotConfirmed);
}

async fn a_write_that_did_not_show_is_corrected_under_a_derived_key_and_steps_continue(
    store: Store,
) {
    let d = pending(&store, "evt_r", "sub_r", 1).await;
    assert_eq!(
        d.write_key(),
        d.idempotency_key,
        "the first write goes under the key"
    );

    // A step of several: its job succeeding sends the write back for its next step.
    let claimed = store.claim_due(T0, 10, "w1", 1_000).await.unwrap();
    let lease = claimed[0].lease.clone().unwrap();
    store
        .await_job(&lease, "job_1", T0 + 10, true)
        .await
        .unwrap();
    let waiting = store.delivery(d.id).await.unwrap().unwrap();
    assert!(waiting.job_continues);
    let claimed = store.claim_due(T0 + 10, 10, "w1", 1_000).await.unwrap();
    let lease = claimed[0].lease.clone().unwrap();
    store.continue_write(&lease).await.unwrap();
    let next = store.delivery(d.id).await.unwrap().unwrap();
    assert_eq!(
        (next.state, next.job_ref.as_deref(), next.job_continues),
        (DeliveryState::Pending, None, false)
    );
    assert_eq!(
        next.write_key(),
        d.idempotency_key,
        "the same write, the same key"
    );
    assert_eq!(next.steps, 1, "a step that succeeded is not a failure");

    // The read-back disagreed: each correction goes under its own key, derived from the
    // original (the original would only replay the write the target already took).
    let mut keys = vec![next.write_key()];
    for repair in 1..=2 {
        let claimed = store
            .claim_due(T0 + 100_000, 10, "w1", 1_000)
            .await
            .unwrap();
        let lease = claimed[0].lease.clone().unwrap();
        store.start_confirm(&lease, "ns_1", T0).await.unwrap();
        let claimed = store
            .claim_due(T0 + 100_000, 10, "w1", 1_000)
            .await
            .unwrap();
        let lease = claimed[0].lease.clone().unwrap();
        store
            .not_confirmed(&lease, T0, "read-back differs in items")
            .await
            .unwrap();
        let after = store.delivery(d.id).await.unwrap().unwrap();
        assert_eq!(after.repairs, repair);
        assert_eq!(
            after.write_key(),
            format!("{}/repair-{repair}", d.idempotency_key)
        );
        keys.push(after.write_key());
    }
    keys.dedup();
    assert_eq!(keys.len(), 3);
    let story = store.trace("sub_r").await.unwrap();
    let repairs: Vec<&serde_json::Value> = story
        .iter()
        .filter(|e| e.kind == AuditKind::NotConfirmed)
        .map(|e| &e.detail)
        .collect();
    assert_eq!(repairs.len(), 2);
    assert_eq!(repairs[1]["repair"], 2);
    assert_eq!(repairs[1]["write_key"], keys[2].as_str());
}

super::acceptance!(
    an_expired_lease_is_reclaimed_by_another_worker,
    a_late_worker_cannot_overwrite_the_new_holder,
    a_failed_attempt_backs_off_and_keeps_its_history,
    a_release_hands_the_delivery_back_without_an_attempt,
    an_async_write_is_polled_then_confirmed_and_linked_across_systems,
    a_write_that_never_shows_up_is_written_again,
    a_write_that_did_not_show_is_corrected_under_a_derived_key_and_steps_continue
);
