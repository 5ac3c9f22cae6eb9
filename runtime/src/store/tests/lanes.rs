//! Per-entity lanes: one write in flight per entity, in source order, stale writes suppressed.

use super::{T0, delivery, pending, plan};
use crate::store::{AuditKind, Delivery, DeliveryState, InitialState, Store};

const LEASE: i64 = 60_000;

async fn claim(store: &Store) -> Vec<Delivery> {
    store.claim_due(T0, 10, "w1", LEASE).await.unwrap()
}

fn versions(claimed: &[Delivery]) -> Vec<(&str, i64)> {
    claimed
        .iter()
        .map(|d| (d.key.as_str(), d.source_version))
        .collect()
}

async fn confirm(store: &Store, d: &Delivery) {
    let lease = d.lease.as_ref().expect("claimed delivery has a lease");
    store.confirmed(lease, "ns_1").await.unwrap();
}

async fn one_entity_is_written_one_delivery_at_a_time_in_source_order(store: Store) {
    // Planned out of source order: 3, 1, 2.
    pending(&store, "evt_c", "sub_a", 3).await;
    pending(&store, "evt_a", "sub_a", 1).await;
    pending(&store, "evt_b", "sub_a", 2).await;
    pending(&store, "evt_x", "sub_b", 7).await;

    // The other entity's delivery goes alongside sub_a's first one.
    let first = claim(&store).await;
    assert_eq!(versions(&first), [("sub_a", 1), ("sub_b", 7)]);
    assert_eq!(first[0].state, DeliveryState::InFlight);
    // Nothing else for sub_a while version 1 is in flight.
    assert!(claim(&store).await.is_empty());

    confirm(&store, &first[0]).await;
    let second = claim(&store).await;
    assert_eq!(versions(&second), [("sub_a", 2)]);
    confirm(&store, &second[0]).await;
    let third = claim(&store).await;
    assert_eq!(versions(&third), [("sub_a", 3)]);
}

async fn a_write_waits_until_its_lane_head_settles_even_if_that_waits_for_a_job(store: Store) {
    pending(&store, "evt_a", "sub_a", 1).await;
    pending(&store, "evt_b", "sub_a", 2).await;
    let head = &claim(&store).await[0];
    store
        .await_job(head.lease.as_ref().unwrap(), "job_1", T0 + 5_000, false)
        .await
        .unwrap();

    // Version 1 is parked (not due until T0 + 5s) but still unsettled: version 2 waits.
    assert!(claim(&store).await.is_empty());
    let polled = store.claim_due(T0 + 5_000, 10, "w1", LEASE).await.unwrap();
    assert_eq!(polled.len(), 1);
    assert_eq!(polled[0].id, head.id);
    assert_eq!(polled[0].state, DeliveryState::AwaitingJob);
    assert_eq!(polled[0].job_ref.as_deref(), Some("job_1"));
}

async fn lower_priority_number_goes_first(store: Store) {
    pending(&store, "evt_a", "sub_a", 1).await;
    let mut urgent = delivery("evt_b", "sub_b", 1);
    urgent.priority = 1;
    plan(&store, "evt_b", urgent).await;

    let claimed = store.claim_due(T0, 1, "w1", LEASE).await.unwrap();
    assert_eq!(versions(&claimed), [("sub_b", 1)]);
}

async fn a_change_older_than_the_last_confirmed_one_is_suppressed_as_stale(store: Store) {
    pending(&store, "evt_5", "sub_a", 5).await;
    let head = claim(&store).await;
    confirm(&store, &head[0]).await;

    // Version 3 arrives late, after 5 was confirmed; version 6 after it.
    let late = pending(&store, "evt_3", "sub_a", 3).await;
    pending(&store, "evt_6", "sub_a", 6).await;

    let claimed = claim(&store).await;
    assert_eq!(versions(&claimed), [("sub_a", 6)]);
    let late = store.delivery(late.id).await.unwrap().unwrap();
    assert_eq!(late.state, DeliveryState::Suppressed);
    assert_eq!(late.state_reason.as_deref(), Some("stale"));
    let entry = store
        .trace("evt_3")
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == AuditKind::Suppressed)
        .expect("stale suppression is audited");
    assert_eq!(entry.detail["reason"], "stale");
    assert_eq!(entry.detail["last_confirmed_version"], 5);
}

async fn a_future_dated_write_waits_for_its_timer(store: Store) {
    let mut later = delivery("evt_a", "sub_a", 1);
    later.not_before_ms = Some(T0 + 86_400_000);
    plan(&store, "evt_a", later).await;

    assert!(claim(&store).await.is_empty());
    let stats = store.stats(T0).await.unwrap();
    assert_eq!((stats.held, stats.pending), (1, 0));
    let due = store
        .claim_due(T0 + 86_400_000, 10, "w1", LEASE)
        .await
        .unwrap();
    assert_eq!(versions(&due), [("sub_a", 1)]);
}

async fn a_held_write_blocks_its_lane_until_resumed(store: Store) {
    let mut gated = delivery("evt_a", "sub_a", 1);
    gated.state = InitialState::Held {
        reason: "gate kyc: waiting for kyc_status = verified".into(),
    };
    let gated = plan(&store, "evt_a", gated).await;
    pending(&store, "evt_b", "sub_a", 2).await;

    assert!(claim(&store).await.is_empty());
    assert_eq!(store.held(10).await.unwrap()[0].id, gated.id);
    assert!(store.resume_held(gated.id, "kyc verified").await.unwrap());
    assert!(!store.resume_held(gated.id, "again").await.unwrap());

    assert_eq!(versions(&claim(&store).await), [("sub_a", 1)]);
}

async fn stats_count_each_state(store: Store) {
    pending(&store, "evt_a", "sub_a", 1).await;
    pending(&store, "evt_b", "sub_a", 2).await;
    pending(&store, "evt_c", "sub_b", 1).await;
    store
        .intake(&[super::change("evt_d", "sub_c", 1)])
        .await
        .unwrap();
    let claimed = claim(&store).await;
    confirm(&store, &claimed[1]).await;

    let stats = store.stats(T0 + 2_500).await.unwrap();
    assert_eq!(stats.unplanned, 1);
    assert_eq!(stats.pending, 1);
    assert_eq!(stats.in_flight, 1);
    assert_eq!(stats.confirmed, 1);
    assert_eq!(stats.oldest_pending_age_ms, 2_500);
}

/// Found by the crash test: Stripe retried an older event after a newer one was already being
/// written. The older one must wait for the newer write to finish, then be suppressed as stale,
/// never written over it.
async fn an_older_change_arriving_while_a_newer_one_is_in_flight_waits_then_is_stale(store: Store) {
    pending(&store, "evt_2", "sub_a", 2).await;
    let newer = claim(&store).await;
    assert_eq!(versions(&newer), [("sub_a", 2)]);
    store
        .await_job(newer[0].lease.as_ref().unwrap(), "job_2", T0, false)
        .await
        .unwrap();

    let late = pending(&store, "evt_1", "sub_a", 1).await;
    // Only the newer write's job poll is handed out; the late older change waits.
    let claimed = claim(&store).await;
    assert_eq!(
        claimed.iter().map(|d| d.id).collect::<Vec<_>>(),
        [newer[0].id]
    );
    confirm(&store, &claimed[0]).await;

    assert!(claim(&store).await.is_empty());
    let late = store.delivery(late.id).await.unwrap().unwrap();
    assert_eq!(
        (late.state, late.state_reason.as_deref()),
        (DeliveryState::Suppressed, Some("stale"))
    );
}

async fn a_busy_pipeline_does_not_starve_another(store: Store) {
    // A backlog of 20 entities in one pipeline, planned first; then one write in another.
    for n in 0..20 {
        pending(&store, &format!("evt_{n}"), &format!("sub_{n}"), 1).await;
    }
    let mut other = delivery("evt_other", "sub_other", 1);
    other.pipeline = "other-pipeline".into();
    other.idempotency_key = "other-pipeline/route/evt_other/netsuite".into();
    plan(&store, "evt_other", other).await;

    // Claims of 4 at a time: the other pipeline's write is in the first, not the sixth.
    let first = store.claim_due(T0, 4, "w1", LEASE).await.unwrap();
    assert_eq!(first.len(), 4);
    assert!(
        first.iter().any(|d| d.pipeline == "other-pipeline"),
        "{:?}",
        first.iter().map(|d| &d.key).collect::<Vec<_>>()
    );
    // The backlog still goes in planning order.
    let backlog: Vec<&str> = first
        .iter()
        .filter(|d| d.pipeline != "other-pipeline")
        .map(|d| d.key.as_str())
        .collect();
    assert_eq!(backlog, ["sub_0", "sub_1", "sub_2"]);
    // Alone, a pipeline gets the whole claim.
    assert_eq!(store.claim_due(T0, 4, "w1", LEASE).await.unwrap().len(), 4);
}

super::acceptance!(
    a_busy_pipeline_does_not_starve_another,
    one_entity_is_written_one_delivery_at_a_time_in_source_order,
    a_write_waits_until_its_lane_head_settles_even_if_that_waits_for_a_job,
    lower_priority_number_goes_first,
    a_change_older_than_the_last_confirmed_one_is_suppressed_as_stale,
    a_future_dated_write_waits_for_its_timer,
    a_held_write_blocks_its_lane_until_resumed,
    stats_count_each_state,
    an_older_change_arriving_while_a_newer_one_is_in_flight_waits_then_is_stale
);
