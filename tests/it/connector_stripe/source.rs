//! The source side: webhooks the simulator delivers, verified and decoded, and `/v1/events` polled.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use junction::host::{CallContext, CallError};
use junction_connector_kit::{self as kit, Operation, Webhook};
use junction_tests::sim::stripe::{StripeSim, StripeSimConfig, WebhookEndpoint};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{API_KEY, WEBHOOK_SECRET, connector, doc, poll, start, subscribed};

/// A webhook as it reached the receiver: the exact body bytes and `Stripe-Signature`.
pub(super) struct Delivery {
    pub(super) body: Vec<u8>,
    pub(super) signature: String,
}

impl Delivery {
    pub(super) fn event(&self) -> Value {
        serde_json::from_slice(&self.body).expect("Stripe delivers JSON")
    }

    /// The webhook as the runtime hands it to the connector (header names lower case).
    pub(super) fn hook(&self) -> Webhook {
        Webhook {
            method: "POST".into(),
            path: "/hooks/stripe".into(),
            headers: vec![
                (
                    "content-type".into(),
                    "application/json; charset=utf-8".into(),
                ),
                ("stripe-signature".into(), self.signature.clone()),
            ],
            body: self.body.clone(),
        }
    }
}

/// A receiver on 127.0.0.1:0 that answers 200 and passes every delivery on; returns its URL.
pub(super) async fn receiver() -> (String, mpsc::UnboundedReceiver<Delivery>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handler = move |headers: HeaderMap, body: Bytes| {
        let signature = headers
            .get("stripe-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let _ = tx.send(Delivery {
            body: body.to_vec(),
            signature,
        });
        async {}
    };
    let app = axum::Router::new().route("/hooks/stripe", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/stripe", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

/// A subscription whose quantity went from 1 to 3, and the `customer.subscription.updated`
/// webhook the simulator delivered for it.
async fn quantity_update_webhook() -> (StripeSim, String, Delivery) {
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
    sim.update_subscription_quantity(&sub, 3).unwrap();
    let wait = async {
        while let Some(d) = rx.recv().await {
            if d.event()["type"] == "customer.subscription.updated" {
                return d;
            }
        }
        panic!("the receiver stopped")
    };
    let delivery = tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the simulator delivers the update webhook");
    (sim, sub, delivery)
}

#[tokio::test]
async fn a_webhook_delivered_by_stripe_decodes_to_an_update_with_before_and_after() {
    let (sim, sub, delivery) = quantity_update_webhook().await;
    let c = connector(&sim, API_KEY).await;
    let changes = c
        .receive(&CallContext::default(), delivery.hook())
        .await
        .result
        .expect("a genuine webhook is accepted");
    assert_eq!(changes.len(), 1, "{changes:?}");
    let change = &changes[0];
    assert_eq!(
        (
            change.object.as_str(),
            change.key.as_str(),
            change.operation
        ),
        ("subscription", sub.as_str(), Operation::Update)
    );
    assert_eq!(
        Some(change.source_event_id.as_str()),
        delivery.event()["id"].as_str()
    );
    let (before, after) = (doc(&change.before), doc(&change.after));
    assert_eq!(
        (
            &before["items"][0]["quantity"],
            &after["items"][0]["quantity"]
        ),
        (&json!(1), &json!(3))
    );
    assert_eq!(
        (
            &after["id"],
            &after["status"],
            &after["items"][0]["unit_amount"]
        ),
        (&json!(sub), &json!("active"), &json!(2000))
    );
}

#[tokio::test]
async fn the_same_webhook_with_one_byte_changed_is_refused() {
    let (sim, _, mut delivery) = quantity_update_webhook().await;
    let needle = b"\"quantity\": 3";
    let at = delivery
        .body
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the delivered event shows the new quantity")
        + needle.len()
        - 1;
    delivery.body[at] = b'4';
    let c = connector(&sim, API_KEY).await;
    let err = c
        .receive(&CallContext::default(), delivery.hook())
        .await
        .result
        .unwrap_err();
    assert!(
        matches!(err, CallError::Connector(kit::Error::InvalidWebhook(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn poll_returns_changes_oldest_first_and_the_cursor_moves_past_them() {
    let sim = start(StripeSimConfig::default()).await;
    let c = connector(&sim, API_KEY).await;
    let (_, sub) = subscribed(&sim, 1);
    sim.update_subscription_quantity(&sub, 2).unwrap();
    let subscription_events = || -> Vec<String> {
        let events = sim.events();
        let about_subs = events.iter().filter(|e| {
            e["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("customer.subscription."))
        });
        about_subs
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };

    let first = poll(&c, None).await;
    let seen: Vec<(&str, Operation)> = first
        .changes
        .iter()
        .map(|ch| (ch.key.as_str(), ch.operation))
        .collect();
    assert_eq!(
        seen,
        [
            (sub.as_str(), Operation::Create),
            (sub.as_str(), Operation::Update)
        ]
    );
    let ids: Vec<String> = first
        .changes
        .iter()
        .map(|ch| ch.source_event_id.clone())
        .collect();
    assert_eq!(ids, subscription_events(), "oldest first");
    assert_eq!(first.next_cursor.as_ref(), ids.last());
    assert!(!first.has_more);

    let idle = poll(&c, first.next_cursor.as_deref()).await;
    assert!(idle.changes.is_empty(), "{:?}", idle.changes);
    assert_eq!(
        idle.next_cursor, first.next_cursor,
        "nothing new: the cursor stays"
    );

    sim.update_subscription_quantity(&sub, 5).unwrap();
    let second = poll(&c, first.next_cursor.as_deref()).await;
    assert_eq!(
        second.changes.len(),
        1,
        "only the new event: {:?}",
        second.changes
    );
    assert_eq!(doc(&second.changes[0].after)["items"][0]["quantity"], 5);
    assert_eq!(second.next_cursor.as_ref(), subscription_events().last());
}
