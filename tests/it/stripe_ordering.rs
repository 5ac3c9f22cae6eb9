//! Stripe events of one second delivered out of order, end to end (issue 6, item 8): quantity 2
//! then 4 within one second (one `created` value, so one source version), the webhooks
//! delivered newest first. Stripe "doesn't guarantee delivery of events in the order in which
//! they're generated" (docs.stripe.com/webhooks, "Best practices for using webhooks" > "Event
//! ordering"). The runtime applies a tie in arrival order, so the older event goes last; it must
//! not take NetSuite back to 2.

use junction_tests::sim::stripe::Release;
use serde_json::Value;

use crate::rig::{Rig, fast};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_updates_of_one_second_delivered_newest_first_leave_netsuite_at_the_newest() {
    let rig = Rig::start(fast).await;
    let s = &rig.stripe;
    let price = rig.price(2000, "Seats");
    let cus = s.create_customer("order@example.com", "Order Ltd").unwrap();
    let sub = s.create_subscription(&cus, &[(&price, 1)]).unwrap();
    rig.drain().await;

    s.hold_webhooks();
    let second = s.freeze_clock();
    s.update_subscription_quantity(&sub, 2).unwrap();
    s.update_subscription_quantity(&sub, 4).unwrap();
    s.resume_clock();
    let updates: Vec<Value> = s
        .events()
        .into_iter()
        .filter(|e| e["type"] == "customer.subscription.updated")
        .collect();
    let shown: Vec<(Value, Value)> = updates
        .iter()
        .map(|e| {
            (
                e["created"].clone(),
                e["data"]["object"]["items"]["data"][0]["quantity"].clone(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (Value::from(second), Value::from(2)),
            (Value::from(second), Value::from(4))
        ],
        "two updates in one second"
    );
    let ids: Vec<String> = updates
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        s.release_webhooks(Release::Reversed),
        [ids[1].clone(), ids[0].clone()]
    );
    rig.drain().await;

    let story = rig.engine.store.trace(&sub).await.unwrap();
    let received: Vec<&str> = story
        .iter()
        .filter(|e| e.kind.as_str() == "received")
        .filter_map(|e| e.event_id.as_deref())
        .filter(|id| ids.iter().any(|u| u == id))
        .collect();
    assert_eq!(
        received,
        [ids[1].as_str(), ids[0].as_str()],
        "Junction received the newer event first"
    );
    let netsuite = rig
        .read("netsuite", "subscription", &sub)
        .await
        .expect("the subscription is at NetSuite");
    let lines: Vec<String> = story
        .iter()
        .map(|e| format!("{} {}", e.kind.as_str(), e.detail))
        .collect();
    assert_eq!(
        netsuite["items"][0]["quantity"],
        4,
        "Stripe says 4; NetSuite must not end at the older event's 2\ntrace:\n{}",
        lines.join("\n")
    );
}
