//! Native tests of every export against a scripted host, with Stripe's published object shapes
//! (`testdata/`, copied from `stripe/openapi` fixtures3.json) and the canonical JSON Schemas.

mod current_state;
mod errors;
mod poll;
mod receive;
mod reference;
mod signature;
mod sink;
mod typed;

use junction_connector_kit::testing::{FakeHost, hmac_sha256};
use junction_connector_kit::{Change, Connector, Error, Webhook};
use serde_json::{Value, json};

use crate::Stripe;

/// The fact sheet's webhook secret.
pub(crate) const SECRET: &str = "whsec_test_secret";
/// "Now" in every test, unix seconds.
pub(crate) const NOW: i64 = 1_700_000_000;
/// The subscription period used by [`subscription`].
pub(crate) const PERIOD: (i64, i64) = (1_699_000_000, 1_701_592_000);

/// A host at [`NOW`] holding the webhook secret.
pub(crate) fn host() -> FakeHost {
    FakeHost::at(NOW * 1000).with_secret("webhook", SECRET)
}

/// The `v1` signature Stripe sends for `body` at `t`.
pub(crate) fn sign(secret: &str, t: i64, body: &str) -> String {
    hmac_sha256(secret.as_bytes(), format!("{t}.{body}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A webhook as the runtime hands it over.
pub(crate) fn hook(signature: &str, body: &str) -> Webhook {
    Webhook {
        method: "POST".into(),
        path: "/hooks/stripe".into(),
        headers: vec![
            (
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            ),
            ("stripe-signature".into(), signature.into()),
        ],
        body: body.as_bytes().to_vec(),
    }
}

/// Signs `event` as Stripe would at [`NOW`] and runs `receive` on a host whose Stripe answers
/// the read of the event's subscription or customer with the event's own object: nothing
/// changed at Stripe since the event. (`current_state.rs` tests the read itself.)
pub(crate) fn receive(event: &Value) -> Result<Vec<Change>, Error> {
    let host = host();
    let kind = event["type"].as_str().unwrap_or_default();
    if kind.starts_with("customer.subscription.")
        || ["customer.created", "customer.updated"].contains(&kind)
    {
        host.respond(200, &[], &event["data"]["object"].to_string());
    }
    receive_on(&host, event)
}

/// Signs `event` as Stripe would at [`NOW`] and runs `receive` on `host`.
pub(crate) fn receive_on(host: &FakeHost, event: &Value) -> Result<Vec<Change>, Error> {
    let body = event.to_string();
    let header = format!("t={NOW},v1={}", sign(SECRET, NOW, &body));
    Stripe::receive(host, hook(&header, &body))
}

/// One of Stripe's published example objects.
pub(crate) fn fixture(name: &str) -> Value {
    let text = match name {
        "customer" => include_str!("../../testdata/customer.json"),
        "event" => include_str!("../../testdata/event.json"),
        "invoice" => include_str!("../../testdata/invoice.json"),
        _ => include_str!("../../testdata/subscription.json"),
    };
    serde_json::from_str(text).expect("testdata is JSON")
}

/// The published subscription made coherent: active, one monthly item, no cancellation, in the
/// basil shape (period on the item).
pub(crate) fn subscription() -> Value {
    let mut s = fixture("subscription");
    for (k, v) in [
        ("cancel_at", Value::Null),
        ("canceled_at", Value::Null),
        ("ended_at", Value::Null),
    ] {
        s[k] = v;
    }
    s["cancel_at_period_end"] = json!(false);
    s["start_date"] = json!(PERIOD.0);
    s["items"]["data"][0]["current_period_start"] = json!(PERIOD.0);
    s["items"]["data"][0]["current_period_end"] = json!(PERIOD.1);
    s
}

/// An event of `kind` about `object`, shaped like the published event.
pub(crate) fn event(id: &str, kind: &str, object: Value, previous: Option<Value>) -> Value {
    let mut e = fixture("event");
    e["id"] = json!(id);
    e["type"] = json!(kind);
    e["created"] = json!(NOW - 10);
    e["api_version"] = json!("2026-10-28.endive");
    e["request"] = json!({ "id": "req_abc", "idempotency_key": "idem-1" });
    e["data"] = json!({ "object": object });
    if let Some(previous) = previous {
        e["data"]["previous_attributes"] = previous;
    }
    e
}

/// Panics with every violation when `document` does not match `wit/schemas/<object>.v1.json`.
pub(crate) fn assert_valid(object: &str, document: &str) {
    let schema = match object {
        "customer" => include_str!("../../../../wit/schemas/customer.v1.json"),
        "invoice" => include_str!("../../../../wit/schemas/invoice.v1.json"),
        _ => include_str!("../../../../wit/schemas/subscription.v1.json"),
    };
    let schema: Value = serde_json::from_str(schema).expect("schema is JSON");
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("schema compiles");
    let instance: Value = serde_json::from_str(document).expect("document is JSON");
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{object} document violates its schema: {errors:?}\n{document}"
    );
}

/// A change's document as JSON.
pub(crate) fn doc(text: &Option<String>) -> Value {
    serde_json::from_str(text.as_deref().expect("document present")).expect("document is JSON")
}

#[test]
#[should_panic(expected = "violates its schema")]
fn schema_check_catches_a_bad_document() {
    assert_valid(
        "subscription",
        r#"{"id":"sub_1","customer_id":"cus_1","status":"active","currency":"USD","items":[]}"#,
    );
}

#[test]
fn manifest_declares_what_the_connector_needs() {
    let m = Stripe::describe();
    assert_eq!((m.name.as_str(), m.version.as_str()), ("stripe", "0.1.0"));
    assert_eq!(
        (m.source_objects, m.sink_objects),
        (
            vec![
                "customer".to_owned(),
                "subscription".into(),
                "invoice".into()
            ],
            vec!["subscription".to_owned(), "customer".into()]
        )
    );
    assert_eq!(
        (m.hosts, m.secrets),
        (
            vec!["api.stripe.com".to_owned()],
            vec!["webhook".to_owned()]
        )
    );
    let names: Vec<&str> = m.settings.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "base-url",
            "api-version",
            "webhook-tolerance-seconds",
            "proration-behavior",
            "current-state"
        ]
    );
    assert!(
        (
            m.webhooks,
            m.polling,
            !m.async_writes,
            m.future_dated_writes
        ) == (true, true, true, true)
    );
}
