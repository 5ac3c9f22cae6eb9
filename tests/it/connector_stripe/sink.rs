//! The sink side: fetch, list and apply against the simulator, and how its failures are classified.

use std::collections::HashSet;

use junction::host::{CallContext, CallError};
use junction_connector_kit::{self as kit, Outcome};
use junction_tests::sim::faults::Faults;
use junction_tests::sim::stripe::StripeSimConfig;
use serde_json::{Value, json};

use super::{API_KEY, connector, fetch, start, subscribed, update};

#[tokio::test]
async fn fetch_reads_a_subscription_and_a_customer_and_none_for_a_missing_id() {
    let sim = start(StripeSimConfig::default()).await;
    let c = connector(&sim, API_KEY).await;
    let (customer, sub) = subscribed(&sim, 2);

    let s = fetch(&c, "subscription", &sub)
        .await
        .expect("the subscription exists");
    assert_eq!(
        (&s["id"], &s["customer_id"], &s["status"], &s["currency"]),
        (
            &json!(sub),
            &json!(customer),
            &json!("active"),
            &json!("usd")
        )
    );
    assert_eq!(
        (
            &s["items"][0]["quantity"],
            &s["items"][0]["unit_amount"],
            &s["interval"]
        ),
        (&json!(2), &json!(2000), &json!("month"))
    );
    assert!(
        s["next_billing_at"].is_string(),
        "an open subscription bills again: {s}"
    );
    let cus = fetch(&c, "customer", &customer)
        .await
        .expect("the customer exists");
    assert_eq!(
        (&cus["email"], &cus["name"], &cus["deleted"]),
        (
            &json!("ada@example.com"),
            &json!("Ada Lovelace"),
            &json!(false)
        )
    );

    assert_eq!(fetch(&c, "subscription", "sub_doesnotexist").await, None);
    assert_eq!(fetch(&c, "customer", "cus_doesnotexist").await, None);
}

#[tokio::test]
async fn list_pages_through_every_subscription_exactly_once() {
    let sim = start(StripeSimConfig::default()).await;
    let c = connector(&sim, API_KEY).await;
    let customer = sim.create_customer("buyer@example.com", "Buyer").unwrap();
    let price = sim.create_price(1000, "usd", "month").unwrap();
    let created: HashSet<String> = (0..5)
        .map(|_| sim.create_subscription(&customer, &[(&price, 1)]).unwrap())
        .collect();

    let (mut seen, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let page = c
            .list(
                &CallContext::default(),
                "subscription",
                cursor.as_deref(),
                2,
            )
            .await
            .result
            .expect("list");
        pages += 1;
        assert!(page.items.len() <= 2, "a page holds at most the limit");
        seen.extend(page.items.iter().map(|i| i.key.clone()));
        assert!(
            page.items.iter().all(
                |i| serde_json::from_str::<Value>(&i.document).unwrap()["id"] == i.key.as_str()
            )
        );
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 10, "paging does not end: {seen:?}");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 5, "each subscription once: {seen:?}");
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), created);
}

#[tokio::test]
async fn apply_makes_stripe_show_the_new_price_quantity_and_cancellation() {
    let sim = start(StripeSimConfig::default()).await;
    let c = connector(&sim, API_KEY).await;
    let (_, sub) = subscribed(&sim, 1);
    let pro = sim.create_price(5000, "usd", "month").unwrap();
    let mut desired = fetch(&c, "subscription", &sub)
        .await
        .expect("the subscription exists");
    desired["items"][0]["price_id"] = json!(pro);
    desired["items"][0]["unit_amount"] = json!(5000);
    desired["items"][0]["quantity"] = json!(4);
    desired["cancel_at_period_end"] = json!(true);

    let outcome = c
        .apply(&CallContext::default(), update(&sub, &desired, "upgrade-1"))
        .await
        .result
        .expect("the write is applied");
    assert_eq!(outcome, Outcome::Applied(sub.clone()));
    let at_stripe = sim.subscription(&sub).unwrap();
    let items = at_stripe["items"]["data"].as_array().unwrap();
    assert_eq!(
        items.len(),
        1,
        "the price change replaced the item: {items:?}"
    );
    assert_eq!(
        (&items[0]["price"]["id"], &items[0]["quantity"]),
        (&json!(pro), &json!(4))
    );
    assert_eq!(at_stripe["cancel_at_period_end"], true);
    let read_back = fetch(&c, "subscription", &sub).await.unwrap();
    assert!(
        read_back["billing_stop_at"].is_string() && read_back["next_billing_at"].is_null(),
        "{read_back}"
    );
}

#[tokio::test]
async fn a_retried_write_is_replayed_and_a_reused_key_with_another_document_is_refused() {
    let sim = start(StripeSimConfig::default()).await;
    let c = connector(&sim, API_KEY).await;
    let (_, sub) = subscribed(&sim, 1);
    let mut desired = fetch(&c, "subscription", &sub).await.unwrap();
    desired["items"][0]["quantity"] = json!(2);
    let ctx = CallContext::default();
    assert_eq!(
        c.apply(&ctx, update(&sub, &desired, "seats-1"))
            .await
            .result,
        Ok(Outcome::Applied(sub.clone()))
    );
    let mutations = sim.mutations(&sub);

    assert_eq!(
        c.apply(&ctx, update(&sub, &desired, "seats-1"))
            .await
            .result,
        Ok(Outcome::Applied(sub.clone())),
        "a retry gets the first answer"
    );
    assert_eq!(
        sim.mutations(&sub),
        mutations,
        "the retry did not write again"
    );

    desired["items"][0]["quantity"] = json!(9);
    let err = c
        .apply(&ctx, update(&sub, &desired, "seats-1"))
        .await
        .result
        .unwrap_err();
    assert!(
        matches!(
            err,
            CallError::Connector(kit::Error::IdempotencyMismatch(_))
        ),
        "{err:?}"
    );
    assert_eq!(
        sim.subscription(&sub).unwrap()["items"]["data"][0]["quantity"],
        2
    );
}

#[tokio::test]
async fn a_429_is_rate_limited_with_the_retry_after_in_milliseconds() {
    let sim = start(StripeSimConfig::default()).await;
    let c = connector(&sim, API_KEY).await;
    let (_, sub) = subscribed(&sim, 1);
    let desired = fetch(&c, "subscription", &sub).await.unwrap();
    sim.faults().set(Faults {
        rate_limit_rate: 1.0,
        retry_after_s: 7,
        ..Faults::default()
    });
    let throttled = CallError::Connector(kit::Error::RateLimited(Some(7000)));
    assert_eq!(
        c.fetch(&CallContext::default(), "subscription", &sub)
            .await
            .result
            .unwrap_err(),
        throttled
    );
    assert_eq!(
        c.apply(
            &CallContext::default(),
            update(&sub, &desired, "throttled-1")
        )
        .await
        .result
        .unwrap_err(),
        throttled
    );
}

#[tokio::test]
async fn a_wrong_api_key_is_unauthorized() {
    let sim = start(StripeSimConfig::default()).await;
    let (customer, _) = subscribed(&sim, 1);
    let c = connector(&sim, "sk_test_wrong_key_0000").await;
    let err = c
        .fetch(&CallContext::default(), "customer", &customer)
        .await
        .result
        .unwrap_err();
    assert!(
        matches!(&err, CallError::Connector(kit::Error::Unauthorized(m)) if m.contains("Invalid API Key")),
        "{err:?}"
    );
}
