//! The first real pipeline, `pipelines/stripe-to-netsuite.toml`, end to end against the
//! simulators, with NetSuite as SuiteBilling documents it (subscriptions from a plan, lines
//! changed only by dated change orders, references without external ids): upgrade,
//! downgrade, a product removed, cancellation at period end and in the current period
//! (billing stop date set), asynchronous jobs pending then processed, and a silent validation
//! drop that gets bounded corrective writes under new keys and then a dead letter rather than
//! a false "done".

use std::collections::BTreeMap;

use junction::store::DlqFilter;
use junction_tests::sim::faults::Faults;
use junction_tests::sim::stripe::{ItemChange, SubChange};

use crate::rig::{Rig, fast};
use crate::support::Backend;

async fn subscription_lifecycle_reaches_billing_and_a_silent_drop_is_dead_lettered(
    backend: Backend,
) {
    let rig = Rig::start_on(backend, fast).await;
    // NetSuite answers every write 202 and its jobs stay pending for a while first.
    rig.netsuite.faults().set(Faults {
        async_pending_ms: 300,
        ..Faults::default()
    });

    let s = &rig.stripe;
    let basic = rig.price(2000, "Cloud");
    let pro = rig.price_like(&basic, 5000);
    let storage = rig.price(700, "Storage");
    let mut subs = Vec::new();
    for i in 0..3 {
        let cus = s
            .create_customer(&format!("buyer{i}@example.com"), &format!("Buyer {i}"))
            .unwrap();
        subs.push(s.create_subscription(&cus, &[(&basic, 1)]).unwrap());
    }
    // A fourth with two products; one is removed later.
    let cus = s.create_customer("buyer3@example.com", "Buyer 3").unwrap();
    subs.push(
        s.create_subscription(&cus, &[(&basic, 2), (&storage, 5)])
            .unwrap(),
    );
    rig.drain().await;
    for sub in &subs {
        rig.subscription_matches(sub)
            .await
            .unwrap_or_else(|e| panic!("after creation: {e}"));
    }
    let two = rig.ns(&subs[3]).await;
    assert_eq!(two["items"].as_array().map(Vec::len), Some(2), "{two}");
    assert_eq!(two["status"], "active");
    s.update_subscription_price(&subs[0], &pro).unwrap(); // upgrade
    s.update_subscription_price(&subs[1], &pro).unwrap();
    s.update_subscription_quantity(&subs[1], 3).unwrap();
    s.update_subscription_price(&subs[1], &basic).unwrap(); // downgrade
    s.cancel_at_period_end(&subs[1]).unwrap(); // billing stops at period end
    s.cancel_now(&subs[2]).unwrap(); // cancellation in the current period
    let storage_item = s.subscription(&subs[3]).unwrap()["items"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["price"]["id"] == storage.as_str())
        .and_then(|i| i["id"].as_str())
        .unwrap()
        .to_string();
    s.update_subscription(
        &subs[3],
        &SubChange {
            items: vec![ItemChange {
                id: Some(storage_item),
                deleted: true,
                ..ItemChange::default()
            }],
            ..SubChange::default()
        },
    )
    .unwrap(); // a product removed
    rig.drain().await;

    for sub in &subs {
        rig.subscription_matches(sub)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let upgraded = rig.ns(&subs[0]).await;
    assert_eq!(upgraded["items"][0]["unit_amount"], 5000);
    let downgraded = rig.ns(&subs[1]).await;
    assert_eq!(
        (
            downgraded["items"][0]["unit_amount"].clone(),
            downgraded["items"][0]["quantity"].clone()
        ),
        (2000.into(), 3.into())
    );
    assert_eq!(downgraded["cancel_at_period_end"], true);
    assert!(
        downgraded["billing_stop_at"].is_string(),
        "cancel at period end must carry a billing stop date: {downgraded}"
    );
    let canceled = rig.ns(&subs[2]).await;
    assert_eq!(canceled["status"], "canceled");
    assert!(canceled["billing_stop_at"].is_string(), "{canceled}");
    let reduced = rig.ns(&subs[3]).await;
    assert_eq!(
        reduced["items"].as_array().map(Vec::len),
        Some(1),
        "the removed product no longer bills: {reduced}"
    );
    assert_eq!(reduced["items"][0]["price_id"], basic.as_str());
    // Those changes went as SuiteBilling documents them: dated change orders, never a write of
    // the subscription's status or lines.
    let orders = rig.netsuite.records("subscriptionchangeorder");
    let actions: Vec<&str> = orders.iter().filter_map(|o| o["action"].as_str()).collect();
    for action in ["ACTIVATE", "MODIFY_PRICING", "TERMINATE"] {
        assert!(
            actions.contains(&action),
            "no {action} change order: {actions:?}"
        );
    }
    assert!(
        orders.iter().all(|o| o["effectiveDate"].is_string()),
        "every change order carries its effective date"
    );
    assert!(
        rig.netsuite.jobs().len() >= 9,
        "writes went through NetSuite's async jobs"
    );

    // A validation rule at NetSuite now drops writes silently: 202, job "succeeded", nothing
    // changes. Junction must not call that done.
    rig.netsuite.faults().set(Faults {
        silent_drop_rate: 1.0,
        ..Faults::default()
    });
    s.update_subscription_quantity(&subs[0], 7).unwrap();
    rig.drain().await;
    assert_eq!(
        rig.ns(&subs[0]).await["items"][0]["quantity"],
        1,
        "the simulator really dropped the write"
    );
    let letters = rig
        .engine
        .store
        .dlq_list(&DlqFilter::default())
        .await
        .unwrap();
    let reasons: Vec<(&str, &str, &str)> = letters
        .iter()
        .map(|l| (l.route.as_str(), l.key.as_str(), l.reason.as_str()))
        .collect();
    assert_eq!(letters.len(), 1, "{reasons:#?}");
    assert!(
        letters[0].reason.contains("not confirmed") && letters[0].reason.contains("items"),
        "{}",
        letters[0].reason
    );
    assert_eq!(letters[0].route, "subscription-to-billing");
    // Before giving up, Junction sent bounded corrective writes, each under a new key derived
    // from the original (the original key would only replay the dropped job).
    let story = rig.engine.store.trace(&subs[0]).await.unwrap();
    let repairs: Vec<&serde_json::Value> = story
        .iter()
        .filter(|e| e.kind.as_str() == "not_confirmed")
        .map(|e| &e.detail)
        .collect();
    assert_eq!(repairs.len(), 2, "{repairs:#?}");
    assert_eq!(repairs[0]["repair"], 1);
    assert_ne!(repairs[0]["write_key"], repairs[1]["write_key"]);

    // No business action happened twice at NetSuite: every idempotency key applied once.
    let mut per_key: BTreeMap<String, usize> = BTreeMap::new();
    for w in rig.netsuite.applied_writes() {
        if let Some(k) = w.idempotency_key {
            *per_key.entry(k).or_default() += 1;
        }
    }
    assert!(per_key.values().all(|&n| n == 1), "{per_key:?}");

    // The operator can tell the whole story of one subscription.
    let story = rig.engine.store.trace(&subs[1]).await.unwrap();
    let kinds: Vec<&str> = story.iter().map(|e| e.kind.as_str()).collect();
    for expected in [
        "received",
        "planned",
        "attempt",
        "accepted",
        "job_succeeded",
        "confirmed",
    ] {
        assert!(
            kinds.contains(&expected),
            "trace lacks {expected}: {kinds:?}"
        );
    }
    assert!(rig.engine.store.audit_verify().await.unwrap().is_ok());
    // Every NetSuite request went with an OAuth 2.0 M2M token the host obtained by a signed
    // assertion (the simulated account accepts no other bearer), and none was refused.
    assert!(rig.netsuite.m2m().requests() >= 1);
    assert_eq!(rig.netsuite.stats().auth_failures, 0);
}

/// A NetSuite that drops every write silently while a subscription moves to a new price: the
/// price plan's job reports success and nothing appears, so the connector asks for the same
/// step again. That must end in a dead letter, not go on forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_that_never_show_up_end_in_a_dead_letter() {
    let rig = Rig::start(fast).await;
    let s = &rig.stripe;
    let basic = rig.price(2000, "Cloud");
    let pro = rig.price_like(&basic, 5000);
    let cus = s.create_customer("drop@example.com", "Drop").unwrap();
    let sub = s.create_subscription(&cus, &[(&basic, 1)]).unwrap();
    rig.drain().await;
    rig.subscription_matches(&sub)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    rig.netsuite.faults().set(Faults {
        silent_drop_rate: 1.0,
        ..Faults::default()
    });
    s.update_subscription_price(&sub, &pro).unwrap();
    rig.drain().await;
    let letters = rig
        .engine
        .store
        .dlq_list(&DlqFilter::default())
        .await
        .unwrap();
    let letter = letters
        .iter()
        .find(|l| l.key == sub)
        .unwrap_or_else(|| panic!("no dead letter for {sub}: {letters:?}"));
    assert!(letter.reason.contains("steps"), "{}", letter.reason);
    assert!(
        rig.netsuite.record("priceplan", &pro).is_none(),
        "the drop was real"
    );
}

crate::support::on_both_backends!(
    subscription_lifecycle_reaches_billing_and_a_silent_drop_is_dead_lettered
);
