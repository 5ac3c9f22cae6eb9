//! The first real pipeline, `pipelines/stripe-to-netsuite.toml`, end to end against the
//! simulators: upgrade, downgrade (effective from the next period: no proration),
//! cancellation at period end and in the current period (billing stop date set), NetSuite's
//! asynchronous jobs pending then processed, and a silent validation drop that ends in a
//! dead letter rather than a false "done".

use std::collections::BTreeMap;

use junction::store::DlqFilter;
use junction_tests::sim::faults::Faults;

use crate::rig::{Rig, fast};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_lifecycle_reaches_billing_and_a_silent_drop_is_dead_lettered() {
    let rig = Rig::start(fast).await;
    // NetSuite answers every write 202 and its jobs stay pending for a while first.
    rig.netsuite.faults().set(Faults {
        async_pending_ms: 300,
        ..Faults::default()
    });

    let s = &rig.stripe;
    let basic = s.create_price(2000, "usd", "month").unwrap();
    let pro = s.create_price(5000, "usd", "month").unwrap();
    let mut subs = Vec::new();
    for i in 0..3 {
        let cus = s
            .create_customer(&format!("buyer{i}@example.com"), &format!("Buyer {i}"))
            .unwrap();
        subs.push(s.create_subscription(&cus, &[(&basic, 1)]).unwrap());
    }
    rig.drain().await;
    s.update_subscription_price(&subs[0], &pro).unwrap(); // upgrade
    s.update_subscription_price(&subs[1], &pro).unwrap();
    s.update_subscription_quantity(&subs[1], 3).unwrap();
    s.update_subscription_price(&subs[1], &basic).unwrap(); // downgrade
    s.cancel_at_period_end(&subs[1]).unwrap(); // billing stops at period end
    s.cancel_now(&subs[2]).unwrap(); // cancellation in the current period
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
    assert!(downgraded["next_billing_at"].is_null());
    let canceled = rig.ns(&subs[2]).await;
    assert_eq!(canceled["status"], "canceled");
    assert!(canceled["billing_stop_at"].is_string(), "{canceled}");
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
        letters[0].reason.contains("not confirmed"),
        "{}",
        letters[0].reason
    );
    assert_eq!(letters[0].route, "subscription-to-billing");

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
}

impl Rig {
    async fn ns(&self, sub: &str) -> serde_json::Value {
        self.read("netsuite", "subscription", sub)
            .await
            .expect("record exists at NetSuite")
    }
}
