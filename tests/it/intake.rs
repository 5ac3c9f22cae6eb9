//! Webhook intake as a sender sees it: 2xx only after commit, duplicates acknowledged and
//! suppressed, forged requests refused and stored nowhere, a late (older) event never taking
//! an entity back (it carries Stripe's current state), future-dated changes held on a durable
//! timer; plus /healthz and /metrics.

use junction::services::clock::Clock;
use junction_tests::sim::stripe::sign_payload;
use serde_json::Value;

use crate::rig::{Rig, WEBHOOK_SECRET, fast};
use crate::support::Backend;

async fn post(rig: &Rig, body: &str, signature: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/hooks/stripe", rig.url))
        .header("stripe-signature", signature)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn signed(body: &str) -> String {
    sign_payload(WEBHOOK_SECRET, Clock::system().now_ms() / 1000, body)
}

async fn duplicates_forgeries_and_late_events(backend: Backend) {
    let rig = Rig::start_on(backend, fast).await;
    let cus = rig
        .stripe
        .create_customer("late@example.com", "Late Ltd")
        .unwrap();
    rig.drain().await;
    let created = rig
        .stripe
        .events()
        .into_iter()
        .find(|e| e["type"] == "customer.created")
        .expect("customer.created");
    let body = created.to_string();

    // The simulator delivered it already: a second delivery is acknowledged as a duplicate.
    let (status, answer) = post(&rig, &body, &signed(&body)).await;
    assert_eq!(
        (status, answer["duplicates"].as_u64()),
        (200, Some(1)),
        "{answer}"
    );

    // A forged or altered request is refused and stored nowhere.
    let forged = body.replace("Late Ltd", "Evil Ltd");
    let (status, answer) = post(&rig, &forged, &signed(&body)).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"], "invalid-webhook");
    let story = rig.engine.store.trace(&cus).await.unwrap();
    assert_eq!(
        story
            .iter()
            .filter(|e| e.kind.as_str() == "received")
            .count(),
        1
    );
    assert_eq!(
        story
            .iter()
            .filter(|e| e.kind.as_str() == "duplicate")
            .count(),
        1
    );

    // A newer change lands; then an older one arrives late under a new event id: it must not
    // overwrite the newer state. The connector reads the customer as Stripe holds it now, so
    // the late change carries the current state, versioned by that reading, never its own stale
    // copy ("Stale Name").
    rig.stripe
        .update_subscription_quantity(
            &rig.stripe
                .create_subscription(&cus, &[(&rig.price(100, "Starter"), 1)])
                .unwrap(),
            1,
        )
        .ok();
    rig.drain().await;
    let mut late = created.clone();
    late["id"] = Value::String(format!("{}_late", created["id"].as_str().unwrap()));
    late["created"] = Value::from(created["created"].as_i64().unwrap() - 3600);
    late["data"]["object"]["name"] = Value::String("Stale Name".into());
    let late_body = late.to_string();
    let (status, _) = post(&rig, &late_body, &signed(&late_body)).await;
    assert_eq!(status, 200);
    rig.drain().await;
    let ns = rig.read("netsuite", "customer", &cus).await.unwrap();
    assert_eq!(
        ns["name"], "Late Ltd",
        "a late, older change overwrote newer state"
    );
    let story = rig.engine.store.trace(&cus).await.unwrap();
    let late_plan = story
        .iter()
        .find(|e| e.kind.as_str() == "planned" && e.event_id.as_deref() == late["id"].as_str())
        .unwrap_or_else(|| panic!("the late change is planned: {story:#?}"));
    assert_eq!(
        late_plan.detail["document"]["name"], "Late Ltd",
        "the late change carries Stripe's current state"
    );

    // Health and metrics.
    let health = reqwest::get(format!("{}/healthz", rig.url)).await.unwrap();
    assert_eq!(health.status(), 200);
    let metrics = reqwest::get(format!("{}/metrics", rig.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        "junction_intake_changes_total{pipeline=\"stripe-to-netsuite\",outcome=\"accepted\"}",
        "junction_intake_changes_total{pipeline=\"stripe-to-netsuite\",outcome=\"duplicate\"}",
        "junction_intake_changes_total{pipeline=\"stripe-to-netsuite\",outcome=\"invalid\"}",
        "junction_delivery_attempts_total{",
        "junction_confirm_latency_seconds_bucket{",
        "junction_deliveries_pending ",
        "junction_oldest_pending_age_seconds ",
    ] {
        assert!(
            metrics.contains(series),
            "/metrics lacks {series}:\n{metrics}"
        );
    }
    assert!(
        !metrics.contains(&cus),
        "metrics labels must not carry entity keys"
    );
}

async fn a_future_dated_change_waits_on_a_durable_timer(backend: Backend) {
    let rig = Rig::start_on(backend, |t| {
        fast(t).replace("future-dated = \"pass\"", "future-dated = \"hold\"")
    })
    .await;
    let price = rig.price(900, "Plus");
    let cus = rig
        .stripe
        .create_customer("later@example.com", "Later")
        .unwrap();
    let sub = rig
        .stripe
        .create_subscription(&cus, &[(&price, 1)])
        .unwrap();
    rig.drain().await;
    rig.stripe.cancel_at_period_end(&sub).unwrap();
    // Wait until the change is planned; it must then sit on its timer, not be written.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let held = loop {
        let d = rig.engine.store.trace(&sub).await.unwrap();
        if let Some(p) = d
            .iter()
            .rev()
            .find(|e| e.kind.as_str() == "planned" && !e.detail["not_before_ms"].is_null())
        {
            break p.detail["not_before_ms"].as_i64().unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the cancellation was never planned with a timer"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        held > Clock::system().now_ms() + 86_400_000,
        "held until the period end, weeks away"
    );
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let story: Vec<String> = rig
        .engine
        .store
        .trace(&sub)
        .await
        .unwrap()
        .iter()
        .map(|e| format!("{} {}", e.kind.as_str(), e.detail))
        .collect();
    let ns = rig
        .read("netsuite", "subscription", &sub)
        .await
        .unwrap_or_else(|| panic!("no subscription at NetSuite:\n{}", story.join("\n")));
    assert_eq!(
        ns["cancel_at_period_end"], false,
        "a future-dated change was applied early"
    );
    let stats = rig
        .engine
        .store
        .stats(rig.engine.clock().now_ms())
        .await
        .unwrap();
    assert_eq!(
        stats.held, 1,
        "the timer-held delivery is counted as held: {stats:?}"
    );
}

crate::support::on_both_backends!(
    duplicates_forgeries_and_late_events,
    a_future_dated_change_waits_on_a_durable_timer
);
