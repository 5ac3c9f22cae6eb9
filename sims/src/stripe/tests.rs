//! Behaviour clients rely on, checked over HTTP against a started simulator.

use std::time::Duration;

use axum::http::HeaderMap;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use super::*;
use crate::faults::Faults;

const KEY: &str = "sk_test_junction";

async fn start() -> StripeSim {
    StripeSim::start(StripeSimConfig::default())
        .await
        .expect("simulator starts")
}

async fn call(
    sim: &StripeSim,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", sim.base_url()))
        .bearer_auth(KEY)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("request sent")
}

async fn json_of(r: Response) -> Value {
    r.json().await.expect("json body")
}

/// A customer, a monthly and a yearly price.
fn basics(sim: &StripeSim) -> (String, String, String) {
    let customer = sim
        .create_customer("ada@example.com", "Ada")
        .expect("customer");
    let monthly = sim.create_price(2000, "usd", "month").expect("price");
    let yearly = sim.create_price(20000, "usd", "year").expect("price");
    (customer, monthly, yearly)
}

#[test]
fn signature_matches_stripe_node_known_answer() {
    let header = sign_payload(
        "whsec_test_secret",
        1_700_000_000,
        r#"{"id":"evt_test_webhook","object":"event"}"#,
    );
    assert_eq!(
        header,
        "t=1700000000,v1=d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990"
    );
}

#[tokio::test]
async fn replays_a_saved_response_once_executed() {
    let sim = start().await;
    let key = [("Idempotency-Key", "k-1")];
    let first = call(
        &sim,
        "POST",
        "/v1/customers",
        "email=a%40example.com&metadata[tier]=gold",
        &key,
    )
    .await;
    assert_eq!(first.status(), 200);
    assert!(
        first.headers()["request-id"]
            .to_str()
            .is_ok_and(|v| v.starts_with("req_"))
    );
    assert_eq!(first.headers()["idempotency-key"], "k-1");
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = json_of(first).await;
    assert_eq!(first["metadata"], json!({ "tier": "gold" }));

    let again = call(
        &sim,
        "POST",
        "/v1/customers",
        "metadata[tier]=gold&email=a%40example.com",
        &key,
    )
    .await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(json_of(again).await, first);
    let id = first["id"].as_str().expect("id");
    assert_eq!(sim.mutations(id), 1);
    assert_eq!(
        sim.events()
            .iter()
            .filter(|e| e["type"] == "customer.created")
            .count(),
        1
    );
}

#[tokio::test]
async fn same_key_with_other_params_is_an_idempotency_error() {
    let sim = start().await;
    let key = [("Idempotency-Key", "k-2")];
    call(&sim, "POST", "/v1/customers", "email=a%40example.com", &key).await;
    let other = call(&sim, "POST", "/v1/customers", "email=b%40example.com", &key).await;
    assert_eq!(other.status(), 400);
    let body = json_of(other).await;
    assert_eq!(body["error"]["type"], "idempotency_error");
    assert_eq!(
        body["error"]["message"],
        "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than 'k-2' if you meant to execute a different request."
    );
}

#[tokio::test]
async fn validation_failures_are_not_saved_but_server_errors_after_a_write_are() {
    let sim = start().await;
    let (customer, price, _) = basics(&sim);
    let key = [("Idempotency-Key", "k-3")];
    let bad = call(
        &sim,
        "POST",
        "/v1/subscriptions",
        &format!("customer={customer}"),
        &key,
    )
    .await;
    assert_eq!(bad.status(), 400);
    assert_eq!(json_of(bad).await["error"]["param"], "items");

    sim.faults().set(Faults {
        error_after_write_rate: 1.0,
        ..Faults::default()
    });
    let body = format!("customer={customer}&items[0][price]={price}&items[0][quantity]=2");
    let failed = call(&sim, "POST", "/v1/subscriptions", &body, &key).await;
    assert_eq!(failed.status(), 500);
    assert_eq!(json_of(failed).await["error"]["type"], "api_error");

    sim.faults().set(Faults::default());
    let retried = call(&sim, "POST", "/v1/subscriptions", &body, &key).await;
    assert_eq!(retried.status(), 500, "the saved 500 is replayed");
    assert_eq!(retried.headers()["idempotent-replayed"], "true");
    let subs = sim
        .events()
        .iter()
        .filter(|e| e["type"] == "customer.subscription.created")
        .count();
    assert_eq!(subs, 1, "the write happened exactly once");
}

#[tokio::test]
async fn lists_page_newest_first_and_hide_canceled_by_default() {
    let sim = start().await;
    let (customer, price, _) = basics(&sim);
    let ids: Vec<String> = (0..5)
        .map(|_| {
            sim.create_subscription(&customer, &[(&price, 1)])
                .expect("sub")
        })
        .collect();
    let mut seen = Vec::new();
    let mut path = "/v1/subscriptions?limit=2".to_owned();
    loop {
        let page = json_of(call(&sim, "GET", &path, "", &[]).await).await;
        assert_eq!(page["object"], "list");
        let data = page["data"].as_array().expect("data");
        seen.extend(
            data.iter()
                .map(|s| s["id"].as_str().expect("id").to_owned()),
        );
        if page["has_more"] == false {
            break;
        }
        path = format!(
            "/v1/subscriptions?limit=2&starting_after={}",
            seen.last().expect("a page")
        );
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);

    let before = json_of(
        call(
            &sim,
            "GET",
            &format!("/v1/subscriptions?limit=2&ending_before={}", ids[1]),
            "",
            &[],
        )
        .await,
    )
    .await;
    let before: Vec<&str> = before["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(before, [ids[3].as_str(), ids[2].as_str()]);

    sim.cancel_now(&ids[0]).expect("cancel");
    let active = json_of(call(&sim, "GET", "/v1/subscriptions?limit=100", "", &[]).await).await;
    assert_eq!(active["data"].as_array().map(Vec::len), Some(4));
    let all = json_of(
        call(
            &sim,
            "GET",
            "/v1/subscriptions?limit=100&status=all",
            "",
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(all["data"].as_array().map(Vec::len), Some(5));
    let bad = call(&sim, "GET", "/v1/subscriptions?limit=101", "", &[]).await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn an_update_event_carries_the_old_values_of_changed_keys() {
    let sim = start().await;
    let (customer, monthly, _) = basics(&sim);
    let upgrade = sim.create_price(5000, "usd", "month").expect("price");
    let sub = sim
        .create_subscription(&customer, &[(&monthly, 1)])
        .expect("sub");
    let item = sim.subscription(&sub).expect("sub")["items"]["data"][0]["id"]
        .as_str()
        .expect("item")
        .to_owned();
    let body = format!("items[0][id]={item}&items[0][price]={upgrade}&proration_behavior=none");
    let updated = call(
        &sim,
        "POST",
        &format!("/v1/subscriptions/{sub}"),
        &body,
        &[("Idempotency-Key", "up-1")],
    )
    .await;
    assert_eq!(updated.status(), 200);
    assert_eq!(
        json_of(updated).await["items"]["data"][0]["price"]["id"],
        upgrade.as_str()
    );

    let events = sim.events();
    let event = events
        .iter()
        .rfind(|e| e["type"] == "customer.subscription.updated")
        .expect("updated event");
    let previous = event["data"]["previous_attributes"]
        .as_object()
        .expect("previous_attributes");
    assert_eq!(
        previous.keys().collect::<Vec<_>>(),
        ["items"],
        "only what changed"
    );
    assert_eq!(previous["items"]["object"], "list");
    assert_eq!(
        previous["items"]["data"][0]["price"]["id"],
        monthly.as_str()
    );
    assert_eq!(event["request"]["idempotency_key"], "up-1");
    assert!(
        event["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("evt_"))
    );

    sim.cancel_at_period_end(&sub)
        .expect("cancel at period end");
    let events = sim.events();
    let event = events.last().expect("event");
    let previous = &event["data"]["previous_attributes"];
    assert_eq!(previous["cancel_at_period_end"], false);
    assert_eq!(previous["cancel_at"], Value::Null);
    assert_eq!(
        event["data"]["object"]["cancel_at"],
        event["data"]["object"]["items"]["data"][0]["current_period_end"]
    );
}

#[tokio::test]
async fn period_fields_follow_the_requested_api_version() {
    let sim = start().await;
    let (customer, price, _) = basics(&sim);
    let sub = sim
        .create_subscription(&customer, &[(&price, 1)])
        .expect("sub");
    let path = format!("/v1/subscriptions/{sub}");
    let basil = json_of(
        call(
            &sim,
            "GET",
            &path,
            "",
            &[("Stripe-Version", "2025-03-31.basil")],
        )
        .await,
    )
    .await;
    assert!(basil.get("current_period_end").is_none());
    assert!(
        basil["items"]["data"][0]["current_period_end"]
            .as_i64()
            .is_some()
    );
    let acacia = json_of(
        call(
            &sim,
            "GET",
            &path,
            "",
            &[("Stripe-Version", "2024-09-30.acacia")],
        )
        .await,
    )
    .await;
    assert!(acacia["current_period_end"].as_i64().is_some());
    assert!(
        acacia["items"]["data"][0]
            .get("current_period_end")
            .is_none()
    );
    let bad = call(&sim, "GET", &path, "", &[("Stripe-Version", "yesterday")]).await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn periods_renew_and_scheduled_cancellations_end_on_their_own() {
    let sim = start().await;
    let (customer, price, _) = basics(&sim);
    let sub = sim
        .create_subscription(&customer, &[(&price, 1)])
        .expect("sub");
    let end = sim.subscription(&sub).expect("sub")["items"]["data"][0]["current_period_end"]
        .as_i64()
        .expect("end");
    sim.advance_clock(32 * 86_400);
    let renewed = sim.subscription(&sub).expect("sub");
    assert_eq!(renewed["items"]["data"][0]["current_period_start"], end);
    let events = sim.events();
    let renewal = events.last().expect("renewal event");
    assert_eq!(renewal["type"], "customer.subscription.updated");
    assert_eq!(renewal["request"]["id"], Value::Null, "automatic change");

    sim.cancel_at_period_end(&sub).expect("schedule");
    assert_eq!(sim.subscription(&sub).expect("sub")["status"], "active");
    sim.advance_clock(32 * 86_400);
    let ended = sim.subscription(&sub).expect("sub");
    assert_eq!(ended["status"], "canceled");
    assert_eq!(
        sim.events().last().expect("event")["type"],
        "customer.subscription.deleted"
    );
}

#[tokio::test]
async fn events_filter_by_wildcard_type() {
    let sim = start().await;
    let (customer, price, _) = basics(&sim);
    let sub = sim
        .create_subscription(&customer, &[(&price, 1)])
        .expect("sub");
    sim.update_subscription_quantity(&sub, 3).expect("quantity");
    let page = json_of(
        call(
            &sim,
            "GET",
            "/v1/events?type=customer.subscription.*",
            "",
            &[],
        )
        .await,
    )
    .await;
    let types: Vec<&str> = page["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(
        types,
        [
            "customer.subscription.updated",
            "customer.subscription.created"
        ]
    );
    let one = &page["data"][0];
    let fetched = json_of(
        call(
            &sim,
            "GET",
            &format!("/v1/events/{}", one["id"].as_str().expect("id")),
            "",
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(&fetched, one);
    let missing = call(&sim, "GET", "/v1/events/evt_nope", "", &[]).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(json_of(missing).await["error"]["code"], "resource_missing");
}

#[tokio::test]
async fn requests_without_a_valid_key_get_401() {
    let sim = start().await;
    let url = format!("{}/v1/customers", sim.base_url());
    let none = reqwest::get(&url).await.expect("sent");
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert!(none.headers().contains_key("request-id"));
    assert_eq!(
        json_of(none).await["error"]["type"],
        "invalid_request_error"
    );
    let wrong = reqwest::Client::new()
        .get(&url)
        .bearer_auth("sk_test_wrong_key_9999")
        .send()
        .await
        .expect("sent");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let message = json_of(wrong).await["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.starts_with("Invalid API Key provided: sk_test_") && message.ends_with("9999"),
        "{message}"
    );
}

#[tokio::test]
async fn rate_limit_fault_answers_429_with_retry_after_but_spares_the_control_api() {
    let sim = start().await;
    sim.faults().set(Faults {
        rate_limit_rate: 1.0,
        retry_after_s: 7,
        ..Faults::default()
    });
    let limited = call(&sim, "GET", "/v1/customers", "", &[]).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["retry-after"], "7");
    assert_eq!(json_of(limited).await["error"]["code"], "rate_limit");
    let stats = reqwest::get(format!("{}/_sim/stats", sim.base_url()))
        .await
        .expect("sent");
    assert_eq!(stats.status(), 200);
    assert_eq!(json_of(stats).await["faults_injected"], 1);
}

/// A receiver that reports what it got and answers 200, or 500 to the first delivery if
/// `fail_first`.
async fn receiver(
    fail_first: bool,
) -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(HeaderMap, String)>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let first = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(fail_first));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| async move {
            let _ = tx.send((headers, body));
            if first.swap(false, std::sync::atomic::Ordering::SeqCst) {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

#[tokio::test]
async fn webhooks_are_signed_and_retried_after_a_failure() {
    let (url, mut deliveries) = receiver(true).await;
    let secret = "whsec_receiver_test";
    let config = StripeSimConfig {
        webhook: Some(WebhookEndpoint {
            url,
            secret: secret.into(),
        }),
        webhook_retry_base: Duration::from_millis(10),
        ..StripeSimConfig::default()
    };
    let sim = StripeSim::start(config).await.expect("start");
    let customer = sim
        .create_customer("ada@example.com", "Ada")
        .expect("customer");

    let mut ids = Vec::new();
    for _ in 0..2 {
        let (headers, body) = deliveries.recv().await.expect("a delivery");
        assert_eq!(headers["content-type"], "application/json; charset=utf-8");
        assert_eq!(
            headers["user-agent"],
            "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
        );
        let signature = headers["stripe-signature"].to_str().expect("ascii");
        let t: i64 = signature
            .strip_prefix("t=")
            .and_then(|s| s.split(',').next())
            .and_then(|t| t.parse().ok())
            .expect("t");
        // Recompute independently of the simulator's signer.
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(format!("{t}.{body}").as_bytes());
        assert_eq!(
            signature,
            format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
        );
        let event: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(event["data"]["object"]["id"], customer.as_str());
        ids.push(event["id"].clone());
    }
    assert_eq!(ids[0], ids[1], "the failed delivery was retried");
    // The stats update right after the 2xx arrives; wait for it without timing assumptions.
    while sim.stats().webhooks_delivered == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(sim.events()[0]["pending_webhooks"], 0);
}

#[tokio::test]
async fn duplicate_fault_delivers_an_event_twice() {
    let (url, mut deliveries) = receiver(false).await;
    let webhook = Some(WebhookEndpoint {
        url,
        secret: "whsec_dup".into(),
    });
    let sim = StripeSim::start(StripeSimConfig {
        webhook,
        ..StripeSimConfig::default()
    })
    .await
    .expect("start");
    sim.faults().set(Faults {
        duplicate_webhook_rate: 1.0,
        ..Faults::default()
    });
    sim.create_customer("ada@example.com", "Ada")
        .expect("customer");
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (_, body) = deliveries.recv().await.expect("a delivery");
        ids.push(serde_json::from_str::<Value>(&body).expect("json")["id"].clone());
    }
    assert_eq!(ids[0], ids[1]);
}

#[tokio::test]
async fn the_control_api_drives_a_scenario_from_another_process() {
    let sim = start().await;
    let http = reqwest::Client::new();
    let control = |path: &str| format!("{}/_sim{path}", sim.base_url());
    let post = |path: String, body: Value| {
        let req = http.post(path).json(&body);
        async move { json_of(req.send().await.expect("sent")).await }
    };
    let customer = post(
        control("/customers"),
        json!({ "email": "a@example.com", "name": "A" }),
    )
    .await;
    let price = post(
        control("/prices"),
        json!({ "unit_amount": 900, "currency": "eur", "interval": "month" }),
    )
    .await;
    let items = json!([{ "price": price["id"] }]);
    let sub = post(
        control("/subscriptions"),
        json!({ "customer": customer["id"], "items": items }),
    )
    .await;
    let sub_id = sub["id"].as_str().expect("id");
    let updated = post(
        control(&format!("/subscriptions/{sub_id}")),
        json!({ "quantity": 4 }),
    )
    .await;
    assert_eq!(updated["items"]["data"][0]["quantity"], 4);
    let canceled = post(
        control(&format!("/subscriptions/{sub_id}/cancel")),
        json!({}),
    )
    .await;
    assert_eq!(canceled["status"], "canceled");
    let faults = http
        .put(control("/faults"))
        .json(&json!({ "outage": true }))
        .send()
        .await
        .expect("sent");
    assert_eq!(json_of(faults).await["outage"], true);
    assert_eq!(
        call(&sim, "GET", "/v1/customers", "", &[]).await.status(),
        503
    );

    let events: Vec<Value> = http
        .get(control("/events"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types,
        [
            "customer.created",
            "price.created",
            "customer.subscription.created",
            "customer.subscription.updated",
            "customer.subscription.deleted"
        ]
    );
    let stats = json_of(http.get(control("/stats")).send().await.expect("sent")).await;
    assert_eq!(stats["mutations"][sub_id], 3);
}

#[tokio::test]
async fn held_events_of_one_frozen_second_are_delivered_newest_first() {
    let (url, mut deliveries) = receiver(false).await;
    let sim = StripeSim::start(StripeSimConfig {
        webhook: Some(WebhookEndpoint {
            url,
            secret: "whsec_order".into(),
        }),
        ..StripeSimConfig::default()
    })
    .await
    .expect("start");
    sim.hold_webhooks();
    let second = sim.freeze_clock();
    let (customer, monthly, _) = basics(&sim);
    let sub = sim
        .create_subscription(&customer, &[(&monthly, 1)])
        .expect("subscription");
    sim.update_subscription_quantity(&sub, 2).expect("update");
    sim.update_subscription_quantity(&sub, 4).expect("update");
    sim.resume_clock();
    let events = sim.events();
    assert!(
        events.iter().all(|e| e["created"] == second),
        "one second: {events:?}"
    );
    assert_eq!(sim.stats().webhook_attempts, 0, "nothing leaves while held");

    let released = sim.release_webhooks(Release::Reversed);
    let created: Vec<Value> = events.iter().map(|e| e["id"].clone()).collect();
    let newest_first: Vec<Value> = created.iter().rev().cloned().collect();
    assert_eq!(
        released.iter().map(|id| json!(id)).collect::<Vec<_>>(),
        newest_first
    );
    let mut got = Vec::new();
    for _ in 0..created.len() {
        let (_, body) = deliveries.recv().await.expect("a delivery");
        let event: Value = serde_json::from_str(&body).expect("json");
        got.push(event["id"].clone());
    }
    assert_eq!(got, newest_first, "delivered newest first");
    let quantities: Vec<Value> = events
        .iter()
        .filter(|e| e["type"] == "customer.subscription.updated")
        .map(|e| e["data"]["object"]["items"]["data"][0]["quantity"].clone())
        .collect();
    assert_eq!(quantities, [json!(2), json!(4)]);

    // Released, later events go out at once, and the clock runs again.
    sim.update_subscription_quantity(&sub, 5).expect("update");
    let (_, body) = deliveries.recv().await.expect("a delivery");
    let event: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(event["data"]["object"]["items"]["data"][0]["quantity"], 5);
    assert!(event["created"].as_i64() >= Some(second));
}

#[tokio::test]
async fn the_control_api_holds_and_releases_webhooks_and_freezes_the_clock() {
    let sim = start().await;
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        let req = http
            .post(format!("{}/_sim{path}", sim.base_url()))
            .json(&body);
        async move { json_of(req.send().await.expect("sent")).await }
    };
    let frozen = post("/clock/freeze", json!({})).await["now"].clone();
    assert_eq!(post("/webhooks/hold", json!({})).await["holding"], true);
    let a = post(
        "/customers",
        json!({ "email": "a@example.com", "name": "A" }),
    )
    .await;
    let b = post(
        "/customers",
        json!({ "email": "b@example.com", "name": "B" }),
    )
    .await;
    assert_eq!((&a["created"], &b["created"]), (&frozen, &frozen));
    let released = post("/webhooks/release", json!({ "order": "reversed" })).await;
    let ids: Vec<Value> = sim.events().iter().map(|e| e["id"].clone()).rev().collect();
    assert_eq!(released["released"], json!(ids));
    post("/clock/resume", json!({})).await;
}
