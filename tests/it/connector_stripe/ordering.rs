//! Events Stripe delivers out of order: two updates of one subscription within one second
//! (one `created` value), their webhooks delivered newest first. Stripe "doesn't guarantee
//! delivery of events in the order in which they're generated" (docs.stripe.com/webhooks, "Best
//! practices for using webhooks" > "Event ordering"), so `receive` reads the subscription's
//! current state from the API and makes it the change's `after`.

use std::time::Duration;

use junction::host::{CallContext, CallError};
use junction_connector_kit::{self as kit, Change, Webhook};
use junction_tests::sim::faults::Faults;
use junction_tests::sim::stripe::{
    Release, StripeSim, StripeSimConfig, WebhookEndpoint, sign_payload,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::source::{Delivery, receiver};
use super::{API_KEY, WEBHOOK_SECRET, connector, doc, start, subscribed};

/// A simulator delivering to a local receiver, and a subscription of quantity 1 whose
/// creation was delivered.
async fn delivering() -> (StripeSim, String, mpsc::UnboundedReceiver<Delivery>) {
    let (url, mut rx) = receiver().await;
    let sim = start(StripeSimConfig {
        webhook: Some(WebhookEndpoint {
            url,
            secret: WEBHOOK_SECRET.into(),
        }),
        ..StripeSimConfig::default()
    })
    .await;
    let (_, sub) = subscribed(&sim, 1);
    next_of(&mut rx, "customer.subscription.created").await;
    (sim, sub, rx)
}

/// The next delivery of an event of `kind` (others are passed over).
async fn next_of(rx: &mut mpsc::UnboundedReceiver<Delivery>, kind: &str) -> Delivery {
    let wait = async {
        while let Some(d) = rx.recv().await {
            if d.event()["type"] == kind {
                return d;
            }
        }
        panic!("the receiver stopped")
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .unwrap_or_else(|_| panic!("the simulator delivers a {kind} webhook"))
}

fn quantity(document: &Option<String>) -> Value {
    doc(document)["items"][0]["quantity"].clone()
}

async fn receive(c: &junction::host::Connector, hook: Webhook) -> Result<Vec<Change>, CallError> {
    c.receive(&CallContext::default(), hook).await.result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_older_event_of_one_second_received_last_carries_the_newest_state() {
    let (sim, sub, mut rx) = delivering().await;
    sim.hold_webhooks();
    let second = sim.freeze_clock();
    sim.update_subscription_quantity(&sub, 2).unwrap();
    sim.update_subscription_quantity(&sub, 4).unwrap();
    sim.resume_clock();
    sim.release_webhooks(Release::Reversed);
    let first = next_of(&mut rx, "customer.subscription.updated").await;
    let second_delivery = next_of(&mut rx, "customer.subscription.updated").await;
    let shown = |d: &Delivery| {
        let e = d.event();
        (
            e["created"].clone(),
            e["data"]["object"]["items"]["data"][0]["quantity"].clone(),
        )
    };
    assert_eq!(
        (shown(&first), shown(&second_delivery)),
        ((json!(second), json!(4)), (json!(second), json!(2))),
        "the newer event (quantity 4) arrives first, both in one second"
    );

    let c = connector(&sim, API_KEY).await;
    let newer = receive(&c, first.hook()).await.expect("accepted");
    let older = receive(&c, second_delivery.hook()).await.expect("accepted");
    let (newer, older) = (&newer[0], &older[0]);
    // Each is versioned by the second its state was read, in the order they were received:
    // the older event, read last, is applied last (a tie goes in arrival order).
    assert!(
        newer.source_version >= second as u64 && older.source_version >= newer.source_version,
        "versions {} (newer event) and {} (older event, read after it)",
        newer.source_version,
        older.source_version
    );
    assert_eq!(
        quantity(&older.after),
        4,
        "the change applied last must carry Stripe's newest state"
    );
    assert_eq!(quantity(&newer.after), 4);
    assert_eq!(
        (quantity(&newer.before), quantity(&older.before)),
        (json!(2), json!(1)),
        "`before` is what each event says the subscription was"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_read_fails_receive_so_the_webhook_is_not_acknowledged() {
    let (sim, sub, mut rx) = delivering().await;
    sim.update_subscription_quantity(&sub, 2).unwrap();
    let update = next_of(&mut rx, "customer.subscription.updated").await;
    let c = connector(&sim, API_KEY).await;

    sim.faults().set(Faults {
        rate_limit_rate: 1.0,
        retry_after_s: 2,
        ..Faults::default()
    });
    let err = receive(&c, update.hook()).await.unwrap_err();
    assert!(
        matches!(
            err,
            CallError::Connector(kit::Error::RateLimited(Some(2000)))
        ),
        "{err:?}"
    );
    sim.faults().set(Faults {
        outage: true,
        ..Faults::default()
    });
    let err = receive(&c, update.hook()).await.unwrap_err();
    assert!(
        matches!(err, CallError::Connector(kit::Error::Transient { .. })),
        "{err:?}"
    );

    // Stripe delivers it again once the API answers.
    sim.faults().set(Faults::default());
    let changes = receive(&c, update.hook()).await.expect("accepted");
    assert_eq!(quantity(&changes[0].after), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_stripe_no_longer_has_keeps_the_event_object() {
    let (sim, sub, mut rx) = delivering().await;
    sim.update_subscription_quantity(&sub, 2).unwrap();
    let mut event = next_of(&mut rx, "customer.subscription.updated")
        .await
        .event();
    event["data"]["object"]["id"] = json!("sub_gone");
    let body = serde_json::to_string_pretty(&event).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let delivery = Delivery {
        signature: sign_payload(WEBHOOK_SECRET, now, &body),
        body: body.into_bytes(),
    };
    let c = connector(&sim, API_KEY).await;
    let changes = receive(&c, delivery.hook()).await.expect("accepted");
    assert_eq!(changes[0].key, "sub_gone");
    assert_eq!(
        (
            doc(&changes[0].after)["id"].clone(),
            quantity(&changes[0].after)
        ),
        (json!("sub_gone"), json!(2))
    );
}
