//! Cleverbridge connector against the Cleverbridge simulator, through the real host (the
//! `builtin:cleverbridge` component): the host adds the API user's Basic credentials, the
//! simulator checks them and behaves as the fact sheet documents Cleverbridge (versioned
//! items, prices taking effect at the next billing date, renewals on its own clock, JSON
//! notifications with the operator's credential), independently of the connector.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::HeaderMap;
use junction::host::{
    Auth, CallContext, CallError, Connector, EgressPolicy, InstanceSpec, Limits, Origin,
};
use junction::services::secret::Secret;
use junction_connector_kit::{self as kit, Operation, Outcome, Write};
use junction_tests::sim::cleverbridge::{
    CleverbridgeSim, CleverbridgeSimConfig, CustomerSpec, ItemSpec, NotificationAuth,
    NotificationEndpoint, OrderKind, ProductSpec, RenewalType, SubscriptionSpec, Taxes,
};
use junction_tests::sim::faults::Faults;
use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::support::host;

/// 2026-01-01T00:00:00Z.
const START: i64 = 1_767_225_600;
const DAY: i64 = 86_400;
/// The secret the pipeline grants as `webhook`.
const WEBHOOK_SECRET: &str = "cb-notification-secret-0123456789";

/// The credential the operator enters in Web Admin for the HTTPS notification: derived from
/// the `webhook` secret (see the connector's `auth.rs`).
fn notification_password() -> String {
    let mac = kit::testing::hmac_sha256(WEBHOOK_SECRET.as_bytes(), b"cleverbridge-notification");
    mac.iter().map(|b| format!("{b:02x}")).collect()
}

/// A notification as it reached the receiver.
type Delivered = (HeaderMap, String);

/// A receiver standing in for Junction's webhook listener: it records what arrives.
async fn receiver() -> (String, UnboundedReceiver<Delivered>) {
    let (tx, rx) = unbounded_channel();
    let app = axum::Router::new().route(
        "/hooks/cleverbridge",
        axum::routing::post(move |headers: HeaderMap, body: String| async move {
            let _ = tx.send((headers, body));
            axum::http::StatusCode::OK
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/hooks/cleverbridge",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

async fn start(notify_to: Option<String>) -> CleverbridgeSim {
    CleverbridgeSim::start(CleverbridgeSimConfig {
        start_at: Some(START),
        frozen_clock: true,
        notifications: notify_to.map(|url| NotificationEndpoint {
            url,
            auth: NotificationAuth::Basic {
                user: "cleverbridge".into(),
                password: notification_password(),
            },
        }),
        ..CleverbridgeSimConfig::default()
    })
    .await
    .expect("the Cleverbridge simulator starts")
}

/// The connector granted what a pipeline grants it, pointed at `sim`.
async fn connector(sim: &CleverbridgeSim, password: &str, settings: &[(&str, &str)]) -> Connector {
    let host = host();
    let module = host
        .load("builtin:cleverbridge", None)
        .await
        .expect("the Cleverbridge connector loads");
    let mut all = BTreeMap::from([("base-url".to_owned(), sim.base_url().to_owned())]);
    all.extend(
        settings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let spec = InstanceSpec {
        name: "cleverbridge".into(),
        settings: all,
        secrets: BTreeMap::from([("webhook".to_owned(), Secret::new(WEBHOOK_SECRET))]),
        egress: EgressPolicy {
            allow_hosts: vec!["127.0.0.1".into()],
            auth: Auth::Basic {
                username: Secret::new(sim.config().user.as_str()),
                password: Secret::new(password),
            },
            credential_origins: vec![Origin::of_url(sim.base_url()).expect("simulator URL")],
            timeout: Duration::from_secs(10),
        },
        limits: Limits::default(),
        ..InstanceSpec::default()
    };
    host.instantiate(module, spec)
}

async fn standard(sim: &CleverbridgeSim, settings: &[(&str, &str)]) -> Connector {
    let password = sim.config().password.clone();
    connector(sim, &password, settings).await
}

/// Cloudify Gold at 95.19 USD gross (19% VAT), monthly, `seats` seats.
fn cloudify_gold(sim: &CleverbridgeSim, seats: u32) -> u64 {
    let product = sim
        .create_product(ProductSpec {
            id: None,
            name: "Cloudify Gold".into(),
            name_extension: "Monthly".into(),
            taxes: Taxes::Gross,
            vat_rate: 19.0,
            prices: [("USD".to_owned(), 95.19)].into(),
            sold: true,
        })
        .expect("product");
    let customer = sim.create_customer(CustomerSpec {
        email: "ada@example.com".into(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        reference_id: Some("junction-ada".into()),
        reference_no: String::new(),
    });
    sim.create_subscription(SubscriptionSpec {
        customer_id: customer,
        currency: "USD".into(),
        interval_months: 1,
        interval_days: 0,
        grace_period_days: 0,
        renewal_type: RenewalType::Automatic,
        recurrence_count: None,
        items: vec![ItemSpec {
            product_id: product,
            quantity: seats,
            price: None,
        }],
    })
    .expect("subscription")
}

async fn fetch(c: &Connector, key: &str) -> Option<Value> {
    c.fetch(&CallContext::default(), "subscription", key)
        .await
        .result
        .unwrap_or_else(|e| panic!("fetch {key}: {e}"))
        .map(|d| serde_json::from_str(&d).expect("the document is JSON"))
}

fn write(document: &Value) -> Write {
    Write {
        object: "subscription".into(),
        key: document["id"].as_str().expect("an id").into(),
        operation: Operation::Update,
        document: document.to_string(),
        effective_at: None,
        occurred_at: START * 1000,
        idempotency_key: "cb-test".into(),
        correlation_id: "connector-test".into(),
    }
}

async fn apply(c: &Connector, w: &Write) -> Result<Outcome, CallError> {
    c.apply(&CallContext::default(), w.clone()).await.result
}

async fn expected(c: &Connector, w: &Write) -> Value {
    let doc = c
        .expected(&CallContext::default(), w.clone())
        .await
        .result
        .expect("expected");
    serde_json::from_str(&doc).expect("JSON")
}

/// The live item `running_no` as the simulator holds it.
fn live_item(sim: &CleverbridgeSim, sub: u64, running_no: u64) -> Value {
    let held = sim.subscription(sub).expect("the subscription");
    let items = held["Items"].as_array().expect("items");
    items
        .iter()
        .rfind(|i| i["RunningNo"] == running_no)
        .cloned()
        .expect("the item")
}

/// The fields a route confirms (`confirm = { fields = [...] }`), as the runtime compares them.
const CONFIRMED: [&str; 5] = [
    "status",
    "items",
    "next_billing_at",
    "billing_stop_at",
    "currency",
];

fn assert_confirms(read: &Value, want: &Value) {
    for field in CONFIRMED {
        assert_eq!(read[field], want[field], "read-back of `{field}`");
    }
}

#[tokio::test]
async fn cloudify_gold_moves_from_95_19_to_100_00_at_the_next_billing_date() {
    let sim = start(None).await;
    let sub = cloudify_gold(&sim, 1);
    let c = standard(&sim, &[]).await;
    let key = sub.to_string();
    let before = fetch(&c, &key).await.expect("the subscription");
    assert_eq!(before["items"][0]["unit_amount"], 9519);
    assert_eq!(before["next_billing_at"], "2026-02-01T00:00:00Z");

    let mut doc = before.clone();
    doc["items"][0]["unit_amount"] = json!(10000);
    let w = write(&doc);
    sim.advance_clock(10 * DAY);
    assert_eq!(
        apply(&c, &w).await.expect("applied"),
        Outcome::Applied(key.clone())
    );

    // Nothing is billed now (no alignment charge): the new price waits for the next billing.
    assert_eq!(sim.orders_of(sub).len(), 1);
    let item = live_item(&sim, sub, 1);
    assert_eq!(item["NextBillingCustomerGrossPrice"], 100.0);
    assert_eq!(item["Quantity"], 1);
    let read = fetch(&c, &key).await.expect("read back");
    assert_eq!(read["items"][0]["unit_amount"], 10000);
    assert_eq!(
        read["next_billing_at"], "2026-02-01T00:00:00Z",
        "the billing date stays"
    );
    assert_confirms(&read, &expected(&c, &w).await);

    // Applied again (a retry): the read shows it done, nothing is written.
    let writes = sim.stats().writes;
    apply(&c, &w).await.expect("applied again");
    assert_eq!(sim.stats().writes, writes);

    // The clock passes the next billing date: the renewal bills 100.00.
    sim.advance_clock(21 * DAY + 1);
    let orders = sim.orders_of(sub);
    assert_eq!(orders.len(), 2);
    assert_eq!(orders[0].gross, 95.19, "what was billed stays billed");
    assert_eq!(orders[1].kind, OrderKind::Renewal);
    assert_eq!(orders[1].gross, 100.0);
    let after = fetch(&c, &key).await.expect("read back");
    assert_eq!(after["items"][0]["unit_amount"], 10000);
    assert_eq!(after["next_billing_at"], "2026-03-01T00:00:00Z");
}

#[tokio::test]
async fn a_price_change_keeps_every_seat() {
    let sim = start(None).await;
    let sub = cloudify_gold(&sim, 25);
    let c = standard(&sim, &[]).await;
    let mut doc = fetch(&c, &sub.to_string()).await.expect("the subscription");
    doc["items"][0]["unit_amount"] = json!(10000);
    apply(&c, &write(&doc)).await.expect("applied");
    let item = live_item(&sim, sub, 1);
    assert_eq!(item["Quantity"], 25, "Quantity defaults to 1 when left out");
    assert_eq!(item["NextBillingCustomerGrossPrice"], 2500.0);
}

#[tokio::test]
async fn preview_mode_changes_nothing() {
    let sim = start(None).await;
    let sub = cloudify_gold(&sim, 3);
    let c = standard(&sim, &[("preview-only", "true")]).await;
    let held = sim.subscription(sub);
    let writes = sim.stats().writes;
    let mut doc = fetch(&c, &sub.to_string()).await.expect("the subscription");
    doc["items"][0]["unit_amount"] = json!(10000);
    apply(&c, &write(&doc)).await.expect("previewed");
    doc["items"][0]["quantity"] = json!(5);
    apply(&c, &write(&doc)).await.expect("previewed");
    doc["cancel_at_period_end"] = json!(true);
    apply(&c, &write(&doc)).await.expect("previewed");
    assert_eq!(sim.subscription(sub), held);
    assert_eq!(sim.stats().writes, writes);
    assert_eq!(sim.orders_of(sub).len(), 1);
}

fn webhook(delivered: &Delivered) -> kit::Webhook {
    let (headers, body) = delivered;
    kit::Webhook {
        method: "POST".into(),
        path: "/hooks/cleverbridge".into(),
        headers: headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body: body.clone().into_bytes(),
    }
}

async fn next_of(rx: &mut UnboundedReceiver<Delivered>, kind: &str) -> Delivered {
    loop {
        let delivered = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {kind} within 20 s"))
            .expect("the receiver runs");
        let body: Value = serde_json::from_str(&delivered.1).expect("JSON");
        if body["meta"]["type"] == kind {
            return delivered;
        }
    }
}

async fn receive(c: &Connector, hook: kit::Webhook) -> Result<Vec<kit::Change>, CallError> {
    c.receive(&CallContext::default(), hook).await.result
}

#[tokio::test]
async fn a_notification_is_confirmed_by_a_fetch_of_the_subscription() {
    let (url, mut rx) = receiver().await;
    let sim = start(Some(url)).await;
    let sub = cloudify_gold(&sim, 2);
    let c = standard(&sim, &[]).await;

    let paid = next_of(&mut rx, "PaidOrderNotification").await;
    let requests = sim.stats().requests;
    let changes = receive(&c, webhook(&paid)).await.expect("received");
    assert_eq!(sim.stats().requests, requests + 1, "one getsubscription");
    assert_eq!(changes.len(), 1);
    let change = &changes[0];
    assert_eq!(change.key, sub.to_string());
    assert_eq!(change.operation, Operation::Create);
    let after: Value = serde_json::from_str(change.after.as_deref().expect("after")).unwrap();
    assert_eq!(Some(&after), fetch(&c, &sub.to_string()).await.as_ref());
    assert_eq!(after["status"], "active");
    assert_eq!(after["items"][0]["quantity"], 2);
    assert_eq!(after["items"][0]["unit_amount"], 9519);

    // A cancellation through the connector comes back as notifications, each confirmed.
    let mut doc = after.clone();
    doc["cancel_at_period_end"] = json!(true);
    let w = write(&doc);
    apply(&c, &w).await.expect("cancelled");
    let cancelled = next_of(&mut rx, "RecurringBillingCanceledNotification").await;
    let changes = receive(&c, webhook(&cancelled)).await.expect("received");
    let after: Value = serde_json::from_str(changes[0].after.as_deref().unwrap()).unwrap();
    assert_eq!(after["status"], "canceled");
    assert_eq!(after["next_billing_at"], Value::Null);
    assert_eq!(after["billing_stop_at"], "2026-02-01T00:00:00Z");
    assert_confirms(&after, &expected(&c, &w).await);

    // The renewal after reinstatement is a PaidOrderNotification of a renewal.
    let mut back = doc.clone();
    back["cancel_at_period_end"] = json!(false);
    apply(&c, &write(&back)).await.expect("reinstated");
    next_of(&mut rx, "RecurringBillingReinstatedNotification").await;
    sim.advance_clock(31 * DAY);
    let renewal = next_of(&mut rx, "PaidOrderNotification").await;
    let changes = receive(&c, webhook(&renewal)).await.expect("received");
    assert_eq!(changes[0].operation, Operation::Update);
    assert!(
        changes[0]
            .metadata
            .contains(&("subscription_event".into(), "Renewed".into()))
    );
    let after: Value = serde_json::from_str(changes[0].after.as_deref().unwrap()).unwrap();
    assert_eq!(after["next_billing_at"], "2026-03-01T00:00:00Z");
}

#[tokio::test]
async fn a_forged_notification_changes_nothing() {
    let (url, mut rx) = receiver().await;
    let sim = start(Some(url)).await;
    let sub = cloudify_gold(&sim, 1);
    let c = standard(&sim, &[]).await;
    let real = next_of(&mut rx, "PaidOrderNotification").await;

    // Without the operator's credential: refused before any request to Cleverbridge.
    let requests = sim.stats().requests;
    let mut forged = webhook(&real);
    forged.headers.retain(|(n, _)| n != "authorization");
    forged.headers.push((
        "authorization".into(),
        "Basic Y2xldmVyYnJpZGdlOmd1ZXNzZWQ=".into(),
    ));
    let refused = receive(&c, forged).await;
    assert!(
        matches!(
            refused,
            Err(CallError::Connector(kit::Error::InvalidWebhook(_)))
        ),
        "{refused:?}"
    );
    assert_eq!(
        sim.stats().requests,
        requests,
        "a forged notification calls nobody"
    );

    // With the credential (leaked) but a made-up story: only Cleverbridge's state comes out.
    let mut lie = webhook(&real);
    lie.body = json!({
        "meta": {"type": "RecurringBillingCanceledNotification", "date": "2026-01-01T00:00:00.000000"},
        "subscriptionId": sub, "status": "Deactivated", "statusId": "DEA",
    })
    .to_string()
    .into_bytes();
    let changes = receive(&c, lie.clone()).await.expect("received");
    let after: Value = serde_json::from_str(changes[0].after.as_deref().unwrap()).unwrap();
    assert_eq!(after["status"], "active", "Cleverbridge says it is active");

    // A subscription Cleverbridge does not know yields no change at all.
    lie.body = json!({
        "meta": {"type": "RecurringBillingCanceledNotification", "date": "2026-01-01T00:00:00.000000"},
        "subscriptionId": 99_999_999u64,
    })
    .to_string()
    .into_bytes();
    assert!(receive(&c, lie).await.expect("acknowledged").is_empty());
    assert_eq!(sim.orders_of(sub).len(), 1);
}

#[tokio::test]
async fn unknown_notification_types_are_acknowledged_with_no_change() {
    let sim = start(None).await;
    let c = standard(&sim, &[]).await;
    let hook = kit::Webhook {
        method: "POST".into(),
        path: "/hooks/cleverbridge".into(),
        headers: vec![(
            "authorization".into(),
            format!(
                "Basic {}",
                base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    format!("cleverbridge:{}", notification_password())
                )
            ),
        )],
        body:
            br#"{"meta":{"type":"CustomerProfileUpdateNotification","date":"2026-01-01T00:00:00"}}"#
                .to_vec(),
    };
    assert!(receive(&c, hook).await.expect("acknowledged").is_empty());
    assert_eq!(sim.stats().requests, 0);
}

#[tokio::test]
async fn errors_arrive_as_their_class() {
    let sim = start(None).await;
    let sub = cloudify_gold(&sim, 1);
    let wrong = connector(&sim, "not-the-password", &[]).await;
    let read = wrong
        .fetch(&CallContext::default(), "subscription", &sub.to_string())
        .await
        .result;
    assert!(
        matches!(read, Err(CallError::Connector(kit::Error::Unauthorized(_)))),
        "{read:?}"
    );

    let c = standard(&sim, &[]).await;
    let mut doc = fetch(&c, &sub.to_string()).await.expect("the subscription");
    doc["items"][0]["currency"] = json!("eur");
    let refused = apply(&c, &write(&doc)).await;
    assert!(
        matches!(&refused, Err(CallError::Connector(kit::Error::Rejected { field: Some(f), .. })) if f == "items[0].currency"),
        "{refused:?}"
    );
    assert_eq!(fetch(&c, "12345").await, None);

    sim.faults().set(Faults {
        rate_limit_rate: 1.0,
        retry_after_s: 7,
        ..Faults::default()
    });
    let limited = c
        .fetch(&CallContext::default(), "subscription", &sub.to_string())
        .await
        .result;
    assert!(
        matches!(
            limited,
            Err(CallError::Connector(kit::Error::RateLimited(Some(7000))))
        ),
        "{limited:?}"
    );
    sim.faults().set(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let failed = c
        .fetch(&CallContext::default(), "subscription", &sub.to_string())
        .await
        .result;
    assert!(
        matches!(
            failed,
            Err(CallError::Connector(kit::Error::Transient { .. }))
        ),
        "{failed:?}"
    );
}
