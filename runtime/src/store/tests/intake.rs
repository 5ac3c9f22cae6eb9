//! Intake dedupe and idempotent planning.

use super::{T0, change, delivery, pending, planned_entry};
use crate::store::{AuditKind, DeliveryState, InitialState, Intake, Store};

async fn a_duplicate_within_one_batch_is_stored_once(store: Store) {
    let outcomes = store
        .intake(&[
            change("evt_1", "sub_1", 1),
            change("evt_1", "sub_1", 1),
            change("evt_2", "sub_1", 2),
        ])
        .await
        .unwrap();

    let first = outcomes[0].change_id();
    assert_eq!(outcomes[0], Intake::Accepted { change_id: first });
    assert_eq!(outcomes[1], Intake::Duplicate { change_id: first });
    assert!(matches!(outcomes[2], Intake::Accepted { change_id } if change_id != first));
    let stored = store.unplanned_changes(10).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].source_event_id, "evt_1");
    assert_eq!(stored[0].key, "sub_1");

    let kinds: Vec<_> = store
        .trace("sub_1")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            AuditKind::Received,
            AuditKind::Duplicate,
            AuditKind::Received
        ]
    );
}

async fn a_duplicate_in_a_later_batch_points_at_the_first_arrival(store: Store) {
    let first = store.intake(&[change("evt_1", "sub_1", 1)]).await.unwrap();
    let again = store.intake(&[change("evt_1", "sub_1", 1)]).await.unwrap();

    assert!(!first[0].is_duplicate());
    assert_eq!(
        again,
        [Intake::Duplicate {
            change_id: first[0].change_id()
        }]
    );
    assert_eq!(store.unplanned_changes(10).await.unwrap().len(), 1);
}

async fn one_event_may_carry_several_entities(store: Store) {
    let outcomes = store
        .intake(&[change("evt_1", "sub_1", 1), change("evt_1", "sub_2", 1)])
        .await
        .unwrap();
    assert!(outcomes.iter().all(|o| !o.is_duplicate()));
}

async fn planning_an_existing_idempotency_key_writes_nothing_new(store: Store) {
    let original = pending(&store, "evt_1", "sub_1", 1).await;

    // A second change whose plan reuses the key, with a different document.
    let intake = store.intake(&[change("evt_2", "sub_1", 2)]).await.unwrap();
    let mut reuse = delivery("evt_1", "sub_1", 2);
    reuse.document = r#"{"status":"canceled"}"#.into();
    let result = store
        .commit_plan(intake[0].change_id(), vec![reuse], vec![])
        .await
        .unwrap();

    assert!(!result.already_planned);
    assert!(!result.deliveries[0].inserted);
    assert_eq!(result.deliveries[0].delivery_id, original.id);
    let stored = store.delivery(original.id).await.unwrap().unwrap();
    assert_eq!(stored.document, original.document);
    assert_eq!(stored.source_version, 1);
    assert_eq!(store.stats(T0).await.unwrap().pending, 1);
}

async fn committing_a_plan_twice_writes_it_once(store: Store) {
    let intake = store.intake(&[change("evt_1", "sub_1", 1)]).await.unwrap();
    let change_id = intake[0].change_id();
    let d = delivery("evt_1", "sub_1", 1);
    let entry = planned_entry(&d, "evt_1");

    let first = store
        .commit_plan(change_id, vec![d.clone()], vec![entry.clone()])
        .await
        .unwrap();
    let second = store
        .commit_plan(change_id, vec![d], vec![entry])
        .await
        .unwrap();

    assert!(first.deliveries[0].inserted);
    assert!(second.already_planned);
    assert!(store.unplanned_changes(10).await.unwrap().is_empty());
    let planned = store
        .trace("sub_1")
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == AuditKind::Planned)
        .count();
    assert_eq!(planned, 1);
}

async fn plan_audit_entries_are_linked_to_the_change_and_delivery(store: Store) {
    let d = pending(&store, "evt_1", "sub_1", 1).await;
    let planned = store
        .trace(&d.idempotency_key)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == AuditKind::Planned)
        .unwrap();
    assert_eq!(planned.change_id, Some(d.change_id));
    assert_eq!(planned.delivery_id, Some(d.id));
}

async fn planning_an_unknown_change_is_an_error(store: Store) {
    let err = store
        .commit_plan(42, vec![delivery("evt_1", "sub_1", 1)], vec![])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("change 42 not found"), "{err}");
}

async fn suppressed_and_held_plans_are_recorded_with_their_reason(store: Store) {
    let intake = store
        .intake(&[change("evt_1", "sub_1", 1), change("evt_2", "sub_2", 1)])
        .await
        .unwrap();
    let mut suppressed = delivery("evt_1", "sub_1", 1);
    suppressed.state = InitialState::Suppressed {
        reason: "not the owner".into(),
    };
    let mut held = delivery("evt_2", "sub_2", 1);
    held.state = InitialState::Held {
        reason: "gate kyc".into(),
    };
    for (outcome, d) in intake.iter().zip([suppressed, held]) {
        store
            .commit_plan(outcome.change_id(), vec![d], vec![])
            .await
            .unwrap();
    }

    let stats = store.stats(T0).await.unwrap();
    assert_eq!((stats.suppressed, stats.held, stats.pending), (1, 1, 0));
    let d = &store
        .deliveries_of_change(intake[0].change_id())
        .await
        .unwrap()[0];
    assert_eq!(d.state, DeliveryState::Suppressed);
    assert_eq!(d.state_reason.as_deref(), Some("not the owner"));
    assert!(
        store
            .claim_due(T0 + 1_000_000, 10, "w1", 1_000)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn planners_on_several_workers_take_different_changes(store: Store) {
    store
        .intake(&[change("evt_1", "sub_1", 1), change("evt_2", "sub_2", 1)])
        .await
        .unwrap();
    let first = store.claim_unplanned(1, "w1", 30_000).await.unwrap();
    assert_eq!(first.len(), 1);
    let second = store.claim_unplanned(10, "w2", 30_000).await.unwrap();
    if store.dialect() == crate::store::Dialect::Postgres {
        // w1's claim holds: w2 gets only the other change.
        assert_eq!(second.len(), 1);
        assert_ne!(second[0].id, first[0].id);
    } else {
        // One worker on SQLite: a claim is the plain read.
        assert_eq!(second.len(), 2);
    }
    // Claimed or not, each change is planned once.
    let d = delivery("evt_1", "sub_1", 1);
    let entry = planned_entry(&d, "evt_1");
    let planned = store
        .commit_plan(first[0].id, vec![d.clone()], vec![entry.clone()])
        .await
        .unwrap();
    assert!(!planned.already_planned);
    let again = store
        .commit_plan(first[0].id, vec![d], vec![entry])
        .await
        .unwrap();
    assert!(again.already_planned);
}

super::acceptance!(
    planners_on_several_workers_take_different_changes,
    a_duplicate_within_one_batch_is_stored_once,
    a_duplicate_in_a_later_batch_points_at_the_first_arrival,
    one_event_may_carry_several_entities,
    planning_an_existing_idempotency_key_writes_nothing_new,
    committing_a_plan_twice_writes_it_once,
    plan_audit_entries_are_linked_to_the_change_and_delivery,
    planning_an_unknown_change_is_an_error,
    suppressed_and_held_plans_are_recorded_with_their_reason
);
