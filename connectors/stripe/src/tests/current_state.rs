//! `receive` reads the current state of an event's subscription or customer from the API and
//! makes it the change's `after` (Stripe does not deliver events in order; docs.stripe.com/webhooks,
//! "Best practices for using webhooks" > "Event ordering").

use junction_connector_kit::testing::FakeHost;
use junction_connector_kit::{Change, Connector, Error, Level};
use serde_json::{Value, json};

use super::{NOW, PERIOD, doc, event, fixture, hook, host, receive_on, subscription};
use crate::Stripe;

const SUB: &str = "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw";
const MISSING: &str = r#"{"error":{"code":"resource_missing","message":"No such subscription: 'sub_1Pgc6rB7WZ01zgkWNy0Cn5nw'","param":"id","type":"invalid_request_error"}}"#;

fn with_quantity(quantity: u64) -> Value {
    let mut sub = subscription();
    sub["items"]["data"][0]["quantity"] = json!(quantity);
    sub
}

/// `customer.subscription.updated`: quantity 1 -> `quantity`, at [`NOW`] - 10.
fn quantity_event(id: &str, quantity: u64) -> Value {
    let mut old_items = with_quantity(1)["items"].clone();
    old_items["data"][0]["quantity"] = json!(1);
    event(
        id,
        "customer.subscription.updated",
        with_quantity(quantity),
        Some(json!({ "items": old_items })),
    )
}

fn one(host: &FakeHost, event: &Value) -> Change {
    let mut changes = receive_on(host, event).expect("event accepted");
    assert_eq!(changes.len(), 1, "{changes:?}");
    changes.remove(0)
}

fn quantity(document: &Option<String>) -> Value {
    doc(document)["items"][0]["quantity"].clone()
}

#[test]
fn after_is_the_state_stripe_holds_now_and_before_what_the_event_says() {
    let host = host().with_setting("base-url", "http://127.0.0.1:9/");
    host.respond(200, &[], &with_quantity(4).to_string());
    let change = one(&host, &quantity_event("evt_older", 2));

    assert_eq!(quantity(&change.after), 4, "the state read from the API");
    assert_eq!(quantity(&change.before), 1, "previous_attributes");
    assert_eq!(
        (change.source_version, change.occurred_at),
        (NOW as u64, (NOW - 10) * 1000),
        "versioned by the reading (now), occurred at the event's own time"
    );
    let requests = host.requests.borrow();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        (requests[0].method.as_str(), requests[0].url.as_str()),
        (
            "GET",
            format!("http://127.0.0.1:9/v1/subscriptions/{SUB}").as_str()
        )
    );
    assert!(requests[0].body.is_empty());
    assert!(
        requests[0]
            .headers
            .iter()
            .any(|(n, v)| n == "Stripe-Version" && v == "2026-10-28.endive"),
        "{:?}",
        requests[0].headers
    );
}

#[test]
fn two_events_of_one_second_received_newest_first_both_carry_the_newest_state() {
    // Stripe made quantity 2, then 4, in one second, and delivered the second event first.
    let (older, newer) = (quantity_event("evt_q2", 2), quantity_event("evt_q4", 4));
    assert_eq!(older["created"], newer["created"]);
    let host = host();
    host.respond(200, &[], &with_quantity(4).to_string());
    host.respond(200, &[], &with_quantity(4).to_string());
    let first = one(&host, &newer);
    let second = one(&host, &older);
    assert_eq!(first.source_version, second.source_version, "a tie");
    // The runtime applies the tie in arrival order: the older event's change goes last and
    // must not take the subscription back to 2.
    assert_eq!(
        (quantity(&first.after), quantity(&second.after)),
        (json!(4), json!(4))
    );
}

#[test]
fn customer_events_read_the_customer() {
    let mut now = fixture("customer");
    now["email"] = json!("new@example.com");
    let host = host();
    host.respond(200, &[], &now.to_string());
    let change = one(
        &host,
        &event(
            "evt_cu",
            "customer.updated",
            fixture("customer"),
            Some(json!({ "email": "old@example.com" })),
        ),
    );
    assert_eq!(
        host.requests.borrow()[0].url,
        "https://api.stripe.com/v1/customers/cus_QXg1o8vcGmoR32"
    );
    assert_eq!(doc(&change.after)["email"], "new@example.com");
    assert_eq!(doc(&change.before)["email"], "old@example.com");
}

#[test]
fn a_customer_deleted_since_keeps_the_event_object_marked_deleted() {
    let mut then = fixture("customer");
    then["name"] = json!("Ada");
    let host = host();
    host.respond(
        200,
        &[],
        &json!({ "id": "cus_QXg1o8vcGmoR32", "object": "customer", "deleted": true }).to_string(),
    );
    let change = one(&host, &event("evt_cu", "customer.updated", then, None));
    let after = doc(&change.after);
    assert_eq!(
        (after["deleted"].clone(), after["name"].clone()),
        (json!(true), json!("Ada"))
    );
}

#[test]
fn the_cancellation_date_follows_the_current_state() {
    // The event scheduled a cancellation at the period end; by the time it is processed the
    // cancellation was taken back. The change must neither stop billing nor be dated.
    let mut scheduled = subscription();
    scheduled["cancel_at_period_end"] = json!(true);
    let event = event(
        "evt_cancel",
        "customer.subscription.updated",
        scheduled,
        Some(json!({ "cancel_at_period_end": false })),
    );
    let host = host();
    host.respond(200, &[], &subscription().to_string());
    let change = one(&host, &event);
    let after = doc(&change.after);
    assert_eq!(change.effective_at, None);
    assert_eq!(
        (
            after["cancel_at_period_end"].clone(),
            after["billing_stop_at"].clone()
        ),
        (json!(false), Value::Null)
    );

    // Still scheduled when processed: dated at the period end, as before.
    let host = self::host();
    let mut still = subscription();
    still["cancel_at_period_end"] = json!(true);
    host.respond(200, &[], &still.to_string());
    assert_eq!(one(&host, &event).effective_at, Some(PERIOD.1 * 1000));
}

#[test]
fn an_object_gone_at_stripe_keeps_the_event_object_and_says_so() {
    let host = host();
    host.respond(404, &[], MISSING);
    let change = one(&host, &quantity_event("evt_gone", 2));
    assert_eq!(quantity(&change.after), 2);
    assert!(
        host.logs
            .borrow()
            .iter()
            .any(|(level, line)| *level == Level::Warn
                && line.contains(SUB)
                && line.contains("evt_gone")),
        "{:?}",
        host.logs.borrow()
    );
}

#[test]
fn a_failed_read_fails_receive_with_its_error_class() {
    let failing = |respond: &dyn Fn(&FakeHost)| {
        let host = host();
        respond(&host);
        receive_on(&host, &quantity_event("evt_1", 2)).expect_err("receive fails")
    };
    let limited = r#"{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}"#;
    assert_eq!(
        failing(&|h| h.respond(429, &[("Retry-After", "1")], limited)),
        Error::RateLimited(Some(1000))
    );
    assert!(matches!(
        failing(&|h| h.respond(
            500,
            &[],
            r#"{"error":{"type":"api_error","message":"boom"}}"#
        )),
        Error::Transient { .. }
    ));
    assert!(matches!(
        failing(&|h| h.fail("connection refused")),
        Error::Transient { .. }
    ));
    assert!(matches!(
        failing(&|h| h.respond(
            401,
            &[],
            r#"{"error":{"type":"invalid_request_error","message":"Invalid API Key"}}"#
        )),
        Error::Unauthorized(_)
    ));
    // A 404 that is not Stripe's "no such object" (a wrong base-url) is no reason to fall back.
    assert!(matches!(
        failing(&|h| h.respond(404, &[], "<html>not found</html>")),
        Error::NotFound(_)
    ));
}

#[test]
fn a_current_state_junction_cannot_use_fails_receive() {
    let mut other = with_quantity(4);
    other["id"] = json!("sub_someone_else");
    let host = host();
    host.respond(200, &[], &other.to_string());
    assert!(matches!(
        receive_on(&host, &quantity_event("evt_1", 2)),
        Err(Error::Rejected { .. })
    ));
    let mut broken = with_quantity(4);
    broken["items"] = Value::Null;
    let host = self::host();
    host.respond(200, &[], &broken.to_string());
    assert!(matches!(
        receive_on(&host, &quantity_event("evt_1", 2)),
        Err(Error::Rejected { field: Some(f), .. }) if f == "items.data"
    ));
}

#[test]
fn a_forged_webhook_never_reaches_stripe() {
    let host = host();
    let body = quantity_event("evt_1", 2).to_string();
    let forged = format!("t={NOW},v1={}", "0".repeat(64));
    assert!(matches!(
        Stripe::receive(&host, hook(&forged, &body)),
        Err(Error::InvalidWebhook(_))
    ));
    assert!(host.requests.borrow().is_empty());
}

#[test]
fn invoice_events_keep_the_event_object() {
    let host = host();
    let change = one(
        &host,
        &event("evt_inv", "invoice.paid", fixture("invoice"), None),
    );
    assert_eq!(doc(&change.after)["total"], 1000);
    assert!(host.requests.borrow().is_empty());
}

#[test]
fn current_state_event_uses_the_event_object_without_a_request() {
    let host = host().with_setting("current-state", "event");
    let change = one(&host, &quantity_event("evt_1", 2));
    assert_eq!(quantity(&change.after), 2);
    assert!(host.requests.borrow().is_empty());

    let host = self::host().with_setting("current-state", "sometimes");
    assert!(matches!(
        receive_on(&host, &quantity_event("evt_1", 2)),
        Err(Error::Unsupported(m)) if m.contains("current-state")
    ));
}
