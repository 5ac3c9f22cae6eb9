//! Trace: one entity's or one event's story, in order, and nothing else.

use super::{T0, pending};
use crate::store::{AuditKind, Store};

async fn kinds(store: &Store, needle: &str) -> Vec<(String, AuditKind)> {
    store
        .trace(needle)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.key, e.kind))
        .collect()
}

async fn trace_by_key_and_by_event_id(store: Store) {
    pending(&store, "evt_a1", "sub_a", 1).await;
    pending(&store, "evt_b1", "sub_b", 1).await;
    let claimed = store.claim_due(T0, 10, "w1", 1_000).await.unwrap();
    let a = claimed.iter().find(|d| d.key == "sub_a").unwrap();
    store
        .confirmed(a.lease.as_ref().unwrap(), "ns_1")
        .await
        .unwrap();
    pending(&store, "evt_a2", "sub_a", 2).await;

    let a = |kind| ("sub_a".to_owned(), kind);
    assert_eq!(
        kinds(&store, "sub_a").await,
        [
            a(AuditKind::Received),
            a(AuditKind::Planned),
            a(AuditKind::Confirmed),
            a(AuditKind::Received),
            a(AuditKind::Planned),
        ]
    );
    assert_eq!(
        kinds(&store, "evt_a1").await,
        [
            a(AuditKind::Received),
            a(AuditKind::Planned),
            a(AuditKind::Confirmed),
        ]
    );
    // By correlation id: the same story.
    assert_eq!(kinds(&store, "corr-evt_a2").await.len(), 2);
    assert!(store.trace("sub_nobody").await.unwrap().is_empty());

    let trail = store.trace("sub_a").await.unwrap();
    assert!(trail.windows(2).all(|w| w[0].seq < w[1].seq));
    let confirmed = &trail[2];
    assert_eq!(confirmed.event_id.as_deref(), Some("evt_a1"));
    assert_eq!(confirmed.detail["target_ref"], "ns_1");
}

super::acceptance!(trace_by_key_and_by_event_id);
