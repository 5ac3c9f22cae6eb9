//! Holds, manual review and paused routes: each blocks what it should, keeps lane order, and
//! each decision is audited with who and why.

use serde_json::json;

use super::{T0, delivery, pending, plan, scalar, tamper};
use crate::store::{
    Attempt, AuditKind, Decision, Delivery, DeliveryState, InitialState, KEY_CONFLICT_CLASS, Store,
    WaitingFilter,
};

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
    store
        .confirmed(d.lease.as_ref().expect("leased"), "ns_1")
        .await
        .unwrap();
}

async fn last_audit(store: &Store, d: &Delivery) -> crate::store::AuditEntry {
    let entries = store.trace(&d.idempotency_key).await.unwrap();
    entries
        .into_iter()
        .rev()
        .find(|e| e.delivery_id == Some(d.id))
        .expect("an audit entry about the delivery")
}

async fn held(store: &Store, event: &str, key: &str, version: i64) -> Delivery {
    let mut d = delivery(event, key, version);
    d.state = InitialState::Held {
        reason: "gate kyc: `change.after.kyc_status == 'verified'` is false".into(),
    };
    plan(store, event, d).await
}

async fn a_released_hold_goes_first_in_its_lane_and_is_audited(store: Store) {
    let gated = held(&store, "evt_a", "sub_a", 1).await;
    pending(&store, "evt_b", "sub_a", 2).await;
    assert!(
        claim(&store).await.is_empty(),
        "the held write blocks its lane"
    );

    let listed = store
        .waiting(DeliveryState::Held, &WaitingFilter::default())
        .await
        .unwrap();
    assert_eq!(listed.iter().map(|d| d.id).collect::<Vec<_>>(), [gated.id]);
    assert_eq!(listed[0].updated_at_ms, T0, "held since planning");
    let other = WaitingFilter {
        route: Some("another-route".into()),
        ..WaitingFilter::default()
    };
    assert!(
        store
            .waiting(DeliveryState::Held, &other)
            .await
            .unwrap()
            .is_empty()
    );
    let second = held(&store, "evt_c", "sub_c", 1).await;
    let page = |after_id, limit| WaitingFilter {
        after_id,
        limit: Some(limit),
        ..WaitingFilter::default()
    };
    let first_page = store
        .waiting(DeliveryState::Held, &page(None, 1))
        .await
        .unwrap();
    assert_eq!(
        first_page.iter().map(|d| d.id).collect::<Vec<_>>(),
        [gated.id]
    );
    let next_page = store
        .waiting(DeliveryState::Held, &page(Some(gated.id), 10))
        .await
        .unwrap();
    assert_eq!(
        next_page.iter().map(|d| d.id).collect::<Vec<_>>(),
        [second.id]
    );
    assert_eq!(
        store
            .held_of_entity(super::PIPELINE, "subscription", "sub_a")
            .await
            .unwrap()
            .len(),
        1
    );

    let decision = Decision {
        by: "ana".into(),
        reason: "KYC checked by phone".into(),
        overridden: true,
    };
    let released = store.release_hold(gated.id, &decision).await.unwrap();
    assert_eq!(released.map(|d| d.state), Some(DeliveryState::Pending));
    assert!(
        store
            .release_hold(gated.id, &decision)
            .await
            .unwrap()
            .is_none(),
        "released once"
    );
    let entry = last_audit(&store, &gated).await;
    assert_eq!(entry.kind, AuditKind::Released);
    assert_eq!(
        entry.detail,
        json!({ "by": "ana", "reason": "KYC checked by phone", "override": true })
    );

    let first = claim(&store).await;
    assert_eq!(versions(&first), [("sub_a", 1)]);
    confirm(&store, &first[0]).await;
    assert_eq!(versions(&claim(&store).await), [("sub_a", 2)]);
}

async fn a_write_in_review_blocks_its_lane_until_approved(store: Store) {
    let mut flagged = delivery("evt_a", "sub_a", 1);
    flagged.state = InitialState::Review {
        reason: "refund larger than the payment".into(),
    };
    let flagged = plan(&store, "evt_a", flagged).await;
    assert_eq!(flagged.state, DeliveryState::Review);
    pending(&store, "evt_b", "sub_a", 2).await;
    assert!(claim(&store).await.is_empty(), "review blocks the lane");
    assert_eq!(store.stats(T0).await.unwrap().review, 1);
    assert!(
        store
            .release_hold(
                flagged.id,
                &Decision {
                    by: "ana".into(),
                    reason: "x".into(),
                    overridden: false,
                }
            )
            .await
            .unwrap()
            .is_none(),
        "a write in review is not a held one"
    );

    let approved = store
        .approve(flagged.id, "ana", "refund agreed")
        .await
        .unwrap();
    assert_eq!(approved.map(|d| d.state), Some(DeliveryState::Pending));
    let entry = last_audit(&store, &flagged).await;
    assert_eq!(entry.kind, AuditKind::Approved);
    assert_eq!(entry.detail["by"], "ana");
    assert_eq!(entry.detail["reason"], "refund agreed");
    assert!(
        store
            .approve(flagged.id, "ana", "again")
            .await
            .unwrap()
            .is_none()
    );

    let first = claim(&store).await;
    assert_eq!(versions(&first), [("sub_a", 1)]);
    assert_eq!(
        first[0].idempotency_key, flagged.idempotency_key,
        "approved writes go under their original key"
    );
}

async fn a_rejected_write_is_suppressed_with_the_reason(store: Store) {
    let mut flagged = delivery("evt_a", "sub_a", 1);
    flagged.state = InitialState::Review {
        reason: "no source event".into(),
    };
    let flagged = plan(&store, "evt_a", flagged).await;
    pending(&store, "evt_b", "sub_a", 2).await;
    let rejected = store
        .reject(flagged.id, "bo", "not a real refund")
        .await
        .unwrap()
        .expect("rejected");
    assert_eq!(rejected.state, DeliveryState::Suppressed);
    assert_eq!(
        rejected.state_reason.as_deref(),
        Some("rejected in review by bo: not a real refund")
    );
    let entry = last_audit(&store, &flagged).await;
    assert_eq!(entry.kind, AuditKind::Rejected);
    assert_eq!(entry.detail["by"], "bo");
    assert_eq!(versions(&claim(&store).await), [("sub_a", 2)]);
}

async fn the_second_key_conflict_is_counted_and_review_starts_a_fresh_budget(store: Store) {
    let d = pending(&store, "evt_a", "sub_a", 1).await;
    let conflict = |n: i32| Attempt {
        n,
        started_ms: T0,
        latency_ms: 5,
        outcome: "failed".into(),
        error_class: Some(KEY_CONFLICT_CLASS.into()),
        status_code: Some(409),
        message: Some("idempotency key reused".into()),
    };
    let lease = claim(&store).await[0].lease.clone().unwrap();
    store.record_attempt(&lease, &conflict(1)).await.unwrap();
    store.retry_later(&lease, T0, "conflict").await.unwrap();
    let lease = claim(&store).await[0].lease.clone().unwrap();
    store.record_attempt(&lease, &conflict(2)).await.unwrap();
    let now = store.delivery(d.id).await.unwrap().unwrap();
    assert_eq!((now.attempts, now.key_conflicts), (2, 2));

    store
        .send_to_review(
            &lease,
            "repeated idempotency conflicts",
            json!({ "key_conflicts": 2 }),
        )
        .await
        .unwrap();
    let now = store.delivery(d.id).await.unwrap().unwrap();
    assert_eq!(now.state, DeliveryState::Review);
    assert!(now.lease.is_none());
    let entry = last_audit(&store, &d).await;
    assert_eq!(entry.kind, AuditKind::Review);
    assert_eq!(entry.detail["key_conflicts"], 2);
    assert_eq!(entry.detail["reason"], "repeated idempotency conflicts");
    assert!(claim(&store).await.is_empty());
    assert!(
        store
            .send_to_review(&lease, "again", json!({}))
            .await
            .is_err(),
        "the lease is gone once in review"
    );

    store.approve(d.id, "ana", "key cleared").await.unwrap();
    let now = store.delivery(d.id).await.unwrap().unwrap();
    assert_eq!((now.attempts, now.key_conflicts), (0, 0));
    assert_eq!(store.attempts(d.id).await.unwrap().len(), 2, "history kept");
}

async fn a_paused_route_waits_in_order_and_others_go_on(store: Store) {
    pending(&store, "evt_a", "sub_a", 1).await;
    pending(&store, "evt_b", "sub_a", 2).await;
    let mut elsewhere = delivery("evt_c", "sub_c", 1);
    elsewhere.route = "other-route".into();
    elsewhere.idempotency_key = "other-route/evt_c".into();
    plan(&store, "evt_c", elsewhere).await;

    let (pause, new) = store
        .pause_route(
            super::PIPELINE,
            "subscription-to-billing",
            "ana",
            "NetSuite outage",
        )
        .await
        .unwrap();
    assert!(new);
    assert_eq!((pause.paused_by.as_str(), pause.paused_at_ms), ("ana", T0));
    let (again, new) = store
        .pause_route(super::PIPELINE, "subscription-to-billing", "bo", "twice")
        .await
        .unwrap();
    assert!(!new, "a second pause leaves the first");
    assert_eq!(again.reason, "NetSuite outage");

    assert_eq!(versions(&claim(&store).await), [("sub_c", 1)]);
    // Intake and planning go on while paused.
    pending(&store, "evt_d", "sub_a", 3).await;
    assert!(claim(&store).await.is_empty());
    let activity = store.route_activity().await.unwrap();
    let paused_route = activity
        .iter()
        .find(|a| a.route == "subscription-to-billing")
        .unwrap();
    assert_eq!(paused_route.waiting, 3);
    assert_eq!(store.paused_routes().await.unwrap().len(), 1);

    let lifted = store
        .resume_route(
            super::PIPELINE,
            "subscription-to-billing",
            "ana",
            "outage over",
        )
        .await
        .unwrap();
    assert_eq!(lifted.map(|p| p.reason), Some("NetSuite outage".into()));
    assert!(
        store
            .resume_route(super::PIPELINE, "subscription-to-billing", "ana", "again")
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.paused_routes().await.unwrap().is_empty());
    for version in 1..=3 {
        let due = claim(&store).await;
        assert_eq!(versions(&due), [("sub_a", version)]);
        confirm(&store, &due[0]).await;
    }
    let kinds: Vec<AuditKind> = store
        .trace("route/subs-to-billing/subscription-to-billing")
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, [AuditKind::RoutePaused, AuditKind::RouteResumed]);
    assert!(store.audit_verify().await.unwrap().is_ok());
}

async fn the_newest_change_of_an_entity_is_found(store: Store) {
    pending(&store, "evt_b", "sub_a", 2).await;
    pending(&store, "evt_a", "sub_a", 1).await;
    pending(&store, "evt_x", "sub_b", 9).await;
    let newest = store
        .newest_change(super::PIPELINE, "subscription", "sub_a")
        .await
        .unwrap()
        .expect("a change");
    assert_eq!(
        (newest.source_event_id.as_str(), newest.source_version),
        ("evt_b", 2)
    );
    assert!(
        store
            .newest_change(super::PIPELINE, "subscription", "nobody")
            .await
            .unwrap()
            .is_none()
    );
}

async fn the_rebuilt_deliveries_table_keeps_its_references(store: Store) {
    let d = pending(&store, "evt_a", "sub_a", 1).await;
    assert_eq!(scalar(&store, "SELECT COUNT(*) FROM deliveries").await, 1);
    // Foreign keys still hold: an attempt of no delivery is refused.
    let refused = crate::store::db::on!(store.db.writer(), |db| sqlx::query(
        "INSERT INTO attempts (delivery_id, n, started_ms, latency_ms, outcome)
         VALUES (999, 1, 0, 0, 'x')"
    )
    .execute(db)
    .await
    .map(drop));
    assert!(
        refused.is_err(),
        "the attempts table still references deliveries"
    );
    tamper(
        &store,
        &format!("UPDATE deliveries SET state = 'review' WHERE id = {}", d.id),
    )
    .await;
    assert_eq!(
        store.delivery(d.id).await.unwrap().unwrap().state,
        DeliveryState::Review
    );
}

super::acceptance!(
    a_released_hold_goes_first_in_its_lane_and_is_audited,
    a_write_in_review_blocks_its_lane_until_approved,
    a_rejected_write_is_suppressed_with_the_reason,
    the_second_key_conflict_is_counted_and_review_starts_a_fresh_budget,
    a_paused_route_waits_in_order_and_others_go_on,
    the_newest_change_of_an_entity_is_found,
    the_rebuilt_deliveries_table_keeps_its_references,
);

/// A SQLite store written by the previous version (migrations 1 to 4) keeps every row, its
/// ids and its references through the rebuild of `deliveries`.
#[tokio::test]
async fn a_sqlite_store_from_before_review_migrates_with_its_rows() {
    use std::str::FromStr;

    let dir = super::TempDir::new();
    let url = dir.url("old.db");
    let old = dir.0.join("migrations");
    std::fs::create_dir_all(&old).unwrap();
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for entry in std::fs::read_dir(&all).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.as_str() < "0005" {
            std::fs::copy(&path, old.join(&name)).unwrap();
        }
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
        .unwrap()
        .create_if_missing(true)
        .foreign_keys(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::migrate::Migrator::new(old.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    for sql in [
        "INSERT INTO changes (pipeline, source, source_event_id, object, entity_key, operation,
                              occurred_at_ms, source_version, metadata, correlation_id,
                              received_at_ms)
         VALUES ('p', 'stripe', 'evt_1', 'payment', 'py_1', 'update', 1, 1, '{}', 'c', 1)",
        "INSERT INTO deliveries (pipeline, route, change_id, source, source_event_id, target,
                                 object, entity_key, operation, document, source_version,
                                 idempotency_key, priority, correlation_id, state, state_reason,
                                 next_at_ms, max_attempts, created_at_ms, updated_at_ms)
         VALUES ('p', 'payouts', 1, 'stripe', 'evt_1', 'netsuite', 'payment', 'py_1', 'update',
                 '{}', 1, 'key-1', 0, 'c', 'held', 'gate kyc: waiting', 1, 3, 1, 1)",
        "INSERT INTO attempts (delivery_id, n, started_ms, latency_ms, outcome)
         VALUES (1, 1, 1, 1, 'failed')",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;

    let store = Store::open(&url).await.expect("migrates");
    let d = store.delivery(1).await.unwrap().expect("the row is kept");
    assert_eq!(
        (d.state, d.state_reason.as_deref(), d.key_conflicts),
        (DeliveryState::Held, Some("gate kyc: waiting"), 0)
    );
    assert_eq!(store.attempts(1).await.unwrap().len(), 1);
    let next = pending(&store, "evt_2", "sub_2", 1).await;
    assert_eq!(next.id, 2, "ids go on from the old table's");
    store.close().await;
}
