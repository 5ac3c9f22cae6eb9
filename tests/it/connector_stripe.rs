//! Stripe connector against the Stripe simulator: every export through the real host (the
//! `builtin:stripe` component), and `junction connector receive` with a webhook signed by
//! Stripe's own Node library.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use junction::host::{Auth, CallContext, CallError, Connector, EgressPolicy, InstanceSpec, Limits};
use junction::services::secret::Secret;
use junction_connector_kit::{self as kit, ChangePage, Operation, Outcome, Webhook, Write};
use junction_tests::sim::faults::Faults;
use junction_tests::sim::stripe::{StripeSim, StripeSimConfig, WebhookEndpoint};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::host;

const API_KEY: &str = "sk_test_junction";
const WEBHOOK_SECRET: &str = "whsec_connector_test_0123456789";

/// The Stripe connector granted what a pipeline grants it, pointed at `sim`.
async fn connector(sim: &StripeSim, api_key: &str) -> Connector {
    let host = host();
    let module = host
        .load("builtin:stripe", None)
        .await
        .expect("the Stripe connector loads");
    let spec = InstanceSpec {
        name: "stripe".into(),
        settings: BTreeMap::from([("base-url".to_owned(), sim.base_url())]),
        secrets: BTreeMap::from([("webhook".to_owned(), Secret::new(WEBHOOK_SECRET))]),
        egress: EgressPolicy {
            allow_hosts: vec!["127.0.0.1".into()],
            auth: Auth::Bearer(Secret::new(api_key)),
            timeout: Duration::from_secs(10),
        },
        limits: Limits::default(),
    };
    host.instantiate(module, spec)
}

async fn start(config: StripeSimConfig) -> StripeSim {
    StripeSim::start(config)
        .await
        .expect("the Stripe simulator starts")
}

/// A customer with one monthly 20.00 USD subscription of `quantity` units: (customer, subscription).
fn subscribed(sim: &StripeSim, quantity: u64) -> (String, String) {
    let customer = sim
        .create_customer("ada@example.com", "Ada Lovelace")
        .unwrap();
    let price = sim.create_price(2000, "usd", "month").unwrap();
    let sub = sim
        .create_subscription(&customer, &[(&price, quantity)])
        .unwrap();
    (customer, sub)
}

fn doc(text: &Option<String>) -> Value {
    serde_json::from_str(text.as_deref().expect("a document")).expect("the document is JSON")
}

async fn fetch(c: &Connector, object: &str, key: &str) -> Option<Value> {
    let found = c
        .fetch(&CallContext::default(), object, key)
        .await
        .result
        .unwrap_or_else(|e| panic!("fetch {object} {key}: {e}"));
    found.map(|d| serde_json::from_str(&d).expect("the document is JSON"))
}

async fn poll(c: &Connector, cursor: Option<&str>) -> ChangePage {
    c.poll(&CallContext::default(), "subscription", cursor, 100)
        .await
        .result
        .expect("poll")
}

fn update(key: &str, document: &Value, idempotency_key: &str) -> Write {
    Write {
        object: "subscription".into(),
        key: key.into(),
        operation: Operation::Update,
        document: document.to_string(),
        effective_at: None,
        idempotency_key: idempotency_key.into(),
        correlation_id: "connector-test".into(),
    }
}

/// A webhook as it reached the receiver: the exact body bytes and `Stripe-Signature`.
struct Delivery {
    body: Vec<u8>,
    signature: String,
}

impl Delivery {
    fn event(&self) -> Value {
        serde_json::from_slice(&self.body).expect("Stripe delivers JSON")
    }

    /// The webhook as the runtime hands it to the connector (header names lower case).
    fn hook(&self) -> Webhook {
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
async fn receiver() -> (String, mpsc::UnboundedReceiver<Delivery>) {
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

// The command line, with Stripe's own signing code.

fn sim_node() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sim-node")
}

/// Fails (rather than passing silently) when Stripe's Node library is not installed.
fn require_stripe_node() {
    let install = "run `npm install` in tests/sim-node (CI's .ci/run does)";
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "this test needs `node` on PATH; install Node.js, then {install}"
    );
    assert!(
        sim_node().join("node_modules/stripe").is_dir(),
        "Stripe's Node library is missing: {install}"
    );
}

/// A `customer.subscription.updated` event in Stripe's published shape (`testdata/`): quantity
/// 1 -> 3, pretty-printed as Stripe sends it.
fn subscription_updated_event() -> String {
    let read = |name: &str| -> Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../connectors/stripe/testdata")
            .join(name);
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut sub = read("subscription.json");
    for field in ["cancel_at", "canceled_at", "ended_at"] {
        sub[field] = Value::Null;
    }
    sub["cancel_at_period_end"] = json!(false);
    sub["status"] = json!("active");
    sub["start_date"] = json!(now - 86_400);
    sub["items"]["data"][0]["current_period_start"] = json!(now - 86_400);
    sub["items"]["data"][0]["current_period_end"] = json!(now + 29 * 86_400);
    sub["items"]["data"][0]["quantity"] = json!(3);
    let mut previous_items = sub["items"].clone();
    previous_items["data"][0]["quantity"] = json!(1);
    let mut event = read("event.json");
    event["id"] = json!("evt_cli_quantity_update");
    event["type"] = json!("customer.subscription.updated");
    event["created"] = json!(now);
    event["api_version"] = json!("2026-10-28.endive");
    event["data"] = json!({ "object": sub, "previous_attributes": { "items": previous_items } });
    serde_json::to_string_pretty(&event).unwrap()
}

/// `Stripe-Signature` for the file's bytes, made by `stripe.webhooks.generateTestHeaderString`.
fn node_signature(body: &Path) -> String {
    let out = Command::new("node")
        .arg(sim_node().join("sign.mjs"))
        .arg(WEBHOOK_SECRET)
        .arg(body)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "sign.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn cli_receive(body: &Path, signature: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_junction-cli"))
        .args(["connector", "receive", "builtin:stripe", "--body"])
        .arg(body)
        .args([
            "--header",
            &format!("Stripe-Signature: {signature}"),
            "--secret",
            "webhook=env:WH",
        ])
        .env("WH", WEBHOOK_SECRET)
        .env(
            "JUNCTION_CACHE_DIR",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/junction-test-cache"),
        )
        .output()
        .expect("the junction CLI runs")
}

#[test]
fn the_cli_decodes_a_webhook_signed_by_stripes_node_library_and_refuses_a_changed_byte() {
    require_stripe_node();
    let dir = std::env::temp_dir().join(format!(
        "junction-cli-receive-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("event.json");
    let body = subscription_updated_event();
    std::fs::write(&file, &body).unwrap();
    let signature = node_signature(&file);

    let out = cli_receive(&file, &signature);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let changes: Value = serde_json::from_str(&stdout).expect("the CLI prints JSON");
    let change = &changes[0];
    assert_eq!(changes.as_array().map(Vec::len), Some(1), "{changes}");
    assert_eq!(
        (&change["object"], &change["key"], &change["operation"]),
        (
            &json!("subscription"),
            &json!("sub_1Pgc6rB7WZ01zgkWNy0Cn5nw"),
            &json!("update")
        )
    );
    assert_eq!(
        (
            &change["before"]["items"][0]["quantity"],
            &change["after"]["items"][0]["quantity"]
        ),
        (&json!(1), &json!(3))
    );

    let tampered = body.replacen("\"quantity\": 3", "\"quantity\": 4", 1);
    assert_eq!(
        tampered
            .bytes()
            .zip(body.bytes())
            .filter(|(a, b)| a != b)
            .count(),
        1,
        "exactly one byte differs"
    );
    std::fs::write(&file, &tampered).unwrap();
    let out = cli_receive(&file, &signature);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "a changed body must be refused: {stdout}"
    );
    assert!(
        stdout.contains("invalid-webhook"),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
