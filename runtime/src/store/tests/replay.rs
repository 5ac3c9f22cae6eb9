//! Incident replay and shadow comparisons: what the store hands out again, in which order, and
//! what it keeps of a shadow delivery.

use serde_json::json;

use super::{T0, delivery, pending, plan};
use crate::store::{
    AuditKind, Delivery, DeliveryState, InitialState, ReplayFilter, ShadowComparison, Store,
};

const LEASE: i64 = 60_000;

async fn claim(store: &Store, at: i64) -> Vec<Delivery> {
    store.claim_due(at, 10, "w1", LEASE).await.unwrap()
}

/// Delivers and confirms everything due, one lane head at a time; returns (key, version) in
/// the order they were confirmed.
async fn confirm_all(store: &Store, at: i64) -> Vec<(String, i64)> {
    let mut order = Vec::new();
    loop {
        let claimed = claim(store, at).await;
        if claimed.is_empty() {
            return order;
        }
        for d in claimed {
            store
                .confirmed(d.lease.as_ref().unwrap(), "ns_1")
                .await
                .unwrap();
            order.push((d.key.clone(), d.source_version));
        }
    }
}

fn window(since_ms: i64, until_ms: Option<i64>) -> ReplayFilter {
    ReplayFilter {
        since_ms,
        until_ms,
        note: "replayed by ops: NetSuite restored from last night's backup".into(),
        ..ReplayFilter::default()
    }
}

async fn a_replay_sends_a_windows_writes_again_and_every_later_one_of_their_entities(store: Store) {
    // Occurred at 1001, 1002, 1003 (versions 1-3) for sub_a; 1005 for sub_b.
    for (event, key, version) in [
        ("e1", "sub_a", 1),
        ("e2", "sub_a", 2),
        ("e3", "sub_a", 3),
        ("e5", "sub_b", 5),
    ] {
        pending(&store, event, key, version).await;
    }
    assert_eq!(confirm_all(&store, T0).await.len(), 4);

    // The window holds sub_a's versions 1 and 2 only; version 3 goes again too, so sub_a ends
    // at its newest state, not at version 2.
    let dry = ReplayFilter {
        dry_run: true,
        ..window(1_001, Some(1_003))
    };
    let planned = store.replay(&dry).await.unwrap();
    let shown: Vec<(&str, i64, bool)> = planned
        .iter()
        .map(|r| (r.key.as_str(), r.source_version, r.in_window))
        .collect();
    assert_eq!(
        shown,
        [("sub_a", 1, true), ("sub_a", 2, true), ("sub_a", 3, false)]
    );
    assert!(
        claim(&store, T0).await.is_empty(),
        "a dry run changes nothing"
    );

    let replayed = store.replay(&window(1_001, Some(1_003))).await.unwrap();
    assert_eq!(replayed, planned);
    let d = store
        .delivery(replayed[0].delivery_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((d.state, d.attempts), (DeliveryState::Pending, 0));
    assert_eq!(
        d.idempotency_key,
        super::idem("e1"),
        "under the original key"
    );
    // In source order, none suppressed as stale although the lane had confirmed version 3.
    assert_eq!(
        confirm_all(&store, T0).await,
        [
            ("sub_a".to_owned(), 1),
            ("sub_a".to_owned(), 2),
            ("sub_a".to_owned(), 3)
        ]
    );
    let trail = store.trace("sub_a").await.unwrap();
    let replays: Vec<_> = trail
        .iter()
        .filter(|e| e.kind == AuditKind::Replayed)
        .collect();
    assert_eq!(replays.len(), 3);
    assert!(
        replays[0].detail["note"]
            .as_str()
            .unwrap()
            .contains("backup")
    );

    // Nothing in a window: nothing replayed.
    assert!(store.replay(&window(5_000, None)).await.unwrap().is_empty());
}

async fn a_replay_goes_financial_first_and_skips_what_is_not_settled_or_only_shadowed(
    store: Store,
) {
    let mut financial = delivery("f1", "pay_1", 1);
    financial.priority = 0;
    financial.route = "payments".into();
    plan(&store, "f1", financial).await;
    pending(&store, "s1", "sub_a", 2).await;
    let mut shadow = delivery("sh", "sub_b", 3);
    shadow.state = InitialState::Shadow;
    plan(&store, "sh", shadow).await;
    // Settle all three: the shadow one as a comparison.
    for d in claim(&store, T0).await {
        let lease = d.lease.clone().unwrap();
        if d.shadow {
            let found = ShadowComparison {
                intended: json!({"status": "active"}),
                current: None,
                differing: vec!["status".into()],
                error: None,
            };
            store.shadow_compared(&lease, &found).await.unwrap();
        } else {
            store.confirmed(&lease, "ns_1").await.unwrap();
        }
    }
    // An unsettled write of the same entity is still on its way: not replayed.
    pending(&store, "s2", "sub_c", 4).await;

    let all = ReplayFilter {
        dry_run: true,
        ..window(0, None)
    };
    let replayed = store.replay(&all).await.unwrap();
    let order: Vec<(&str, i32)> = replayed
        .iter()
        .map(|r| (r.key.as_str(), r.priority))
        .collect();
    assert_eq!(order, [("pay_1", 0), ("sub_a", 10)]);

    let only = ReplayFilter {
        priorities: vec![0],
        ..window(0, None)
    };
    let replayed = store.replay(&only).await.unwrap();
    assert_eq!(replayed.len(), 1);
    assert_eq!(replayed[0].route, "payments");

    // What the shadow delivery found is kept for the report, and it wrote nothing.
    let report = store
        .shadow_report(None, "subscription-to-billing", true, 100)
        .await
        .unwrap();
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].key, "sub_b");
    assert_eq!(report[0].comparison.differing, ["status"]);
    let d = store
        .delivery(report[0].delivery_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.state, DeliveryState::Suppressed);
    assert!(
        d.state_reason
            .unwrap()
            .contains("1 field(s) differ: status")
    );
}

super::acceptance!(
    a_replay_sends_a_windows_writes_again_and_every_later_one_of_their_entities,
    a_replay_goes_financial_first_and_skips_what_is_not_settled_or_only_shadowed,
);
