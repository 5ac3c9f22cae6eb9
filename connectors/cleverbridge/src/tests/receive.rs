//! Notifications: authentication, confirmation by `getsubscription`, mapping, unknown types.

use base64::Engine as _;
use junction_connector_kit::{Connector, Error, Operation, Webhook};
use serde_json::{Value, json};

use super::*;
use crate::Cleverbridge;

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn hook(authorization: Option<String>, body: &Value) -> Webhook {
    Webhook {
        method: "POST".into(),
        path: "/hooks/cleverbridge".into(),
        headers: authorization
            .map(|a| vec![("authorization".to_owned(), a)])
            .unwrap_or_default(),
        body: body.to_string().into_bytes(),
    }
}

fn meta(kind: &str) -> Value {
    json!({"type": kind, "date": "2026-01-15T10:20:30.123456",
           "schemaUrl": format!("https://www.cleverbridge.com/JsonNotificationSchemas/{kind}")})
}

/// The subscription model (status notifications).
fn status_notification(kind: &str, status: &str) -> Value {
    json!({"meta": meta(kind), "subscriptionId": 67560422, "customerId": 157656971,
           "status": status, "renewalType": "Automatic", "nextBillingDate": "2026-02-01T00:00:00Z"})
}

/// The purchase model (`PaidOrderNotification`), for a renewal or the first purchase.
fn paid(event: &str) -> Value {
    json!({"meta": meta("PaidOrderNotification"), "purchaseId": 912345, "status": "Paid",
           "customerGrossPrice": 95.19,
           "items": [{"runningNumber": 1, "productId": 293076, "quantity": 1,
                      "recurringBilling": {"subscriptionId": 67560422, "subscriptionEventtypeId": event,
                                           "renewalType": "Automatic"}}]})
}

fn authed(body: &Value) -> Webhook {
    hook(Some(basic("cleverbridge", &credential())), body)
}

#[test]
fn a_renewal_is_confirmed_by_fetching_the_subscription_and_mapped_to_the_schema() {
    let h = host();
    h.respond(200, &[], &ok_with(&subscription(3, 100.0)));
    let changes = Cleverbridge::receive(&h, authed(&paid("Renewed"))).expect("received");
    let requests = h.requests.borrow();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(
        requests[0].url,
        "https://cb.test/subscription/getsubscription?subscriptionId=S67560422&isCurrent=true"
    );
    assert!(
        requests[0]
            .headers
            .iter()
            .any(|(n, v)| n == "Accept" && v == "application/json")
    );
    assert!(
        requests[0]
            .headers
            .iter()
            .all(|(n, _)| !n.eq_ignore_ascii_case("authorization")),
        "credentials are the host's"
    );
    assert_eq!(changes.len(), 1);
    let c = &changes[0];
    assert_eq!(
        (c.object.as_str(), c.key.as_str()),
        ("subscription", "67560422")
    );
    assert_eq!(c.operation, Operation::Update);
    assert_eq!(
        c.source_event_id,
        "PaidOrderNotification:67560422:912345:2026-01-15T10:20:30.123456"
    );
    assert_eq!(c.occurred_at, 1_768_472_430_123);
    assert_eq!(c.source_version, NOW_MS as u64);
    assert!(
        c.metadata
            .contains(&("subscription_event".into(), "Renewed".into()))
    );
    let after: Value = serde_json::from_str(c.after.as_deref().expect("after")).expect("JSON");
    assert_canonical(&after);
    assert_eq!(after["status"], "active");
    assert_eq!(after["currency"], "usd");
    assert_eq!(after["customer_id"], "157656971");
    assert_eq!(after["interval"], "month");
    assert_eq!(after["next_billing_at"], "2026-02-01T00:00:00Z");
    assert_eq!(after["billing_stop_at"], Value::Null);
    // Only the live version of running number 1; 300.00 gross for 3 seats is 100.00 each.
    assert_eq!(
        after["items"],
        json!([{"id": "1", "price_id": "293076", "product_id": "293076", "quantity": 3,
                "unit_amount": 10000, "currency": "usd", "interval": "month", "interval_count": 1}])
    );
}

#[test]
fn the_first_purchase_is_a_create() {
    let h = host();
    h.respond(200, &[], &ok_with(&subscription(1, 95.19)));
    let changes = Cleverbridge::receive(&h, authed(&paid("New"))).expect("received");
    assert_eq!(changes[0].operation, Operation::Create);
    let after: Value = serde_json::from_str(changes[0].after.as_deref().unwrap()).unwrap();
    assert_eq!(after["items"][0]["unit_amount"], 9519);
}

#[test]
fn statuses_map_to_canonical_ones() {
    for (kind, status, canonical) in [
        (
            "RecurringBillingCanceledNotification",
            "Deactivated",
            "canceled",
        ),
        ("RecurringBillingReinstatedNotification", "Active", "active"),
        ("RecurringBillingOnGraceNotification", "Grace", "past_due"),
        (
            "RecurringBillingGracePeriodNotification",
            "Grace",
            "past_due",
        ),
        ("RecurringBillingOnHoldNotification", "Hold", "unpaid"),
        (
            "SubscriptionRenewalTypeChangedNotification",
            "Deactivated",
            "canceled",
        ),
        ("RefundNotification", "Deactivated", "canceled"),
        (
            "RecurringBillingCanceledNotification",
            "Finished",
            "canceled",
        ),
        ("PaidOrderNotification", "New", "incomplete"),
    ] {
        let h = host();
        let mut sub = subscription(2, 95.19);
        sub["Status"] = json!(status);
        if status == "Deactivated" {
            sub["RenewalType"] = json!("Manual");
            sub["EndDate"] = json!("2026-02-01T00:00:00Z");
            sub["Items"][1]["Status"] = json!("Deactivated");
        }
        h.respond(200, &[], &ok_with(&sub));
        let body = if kind == "PaidOrderNotification" {
            paid("New")
        } else {
            status_notification(kind, "Active")
        };
        let changes = Cleverbridge::receive(&h, authed(&body)).expect(kind);
        let after: Value = serde_json::from_str(changes[0].after.as_deref().unwrap()).unwrap();
        assert_canonical(&after);
        assert_eq!(after["status"], canonical, "{kind} {status}");
        if status == "Deactivated" {
            assert_eq!(after["next_billing_at"], Value::Null);
            assert_eq!(after["billing_stop_at"], "2026-02-01T00:00:00Z");
            assert_eq!(after["cancel_at_period_end"], true);
            assert_eq!(
                after["items"].as_array().map(Vec::len),
                Some(1),
                "the last billed item stays"
            );
        }
    }
}

#[test]
fn the_notification_s_claims_are_not_trusted_only_cleverbridge_s_state() {
    // A notification that says "canceled" about an active subscription yields the truth.
    let h = host();
    h.respond(200, &[], &ok_with(&subscription(1, 95.19)));
    let lie = status_notification("RecurringBillingCanceledNotification", "Deactivated");
    let changes = Cleverbridge::receive(&h, authed(&lie)).expect("received");
    let after: Value = serde_json::from_str(changes[0].after.as_deref().unwrap()).unwrap();
    assert_eq!(after["status"], "active");
}

#[test]
fn a_notification_about_a_subscription_cleverbridge_does_not_know_changes_nothing() {
    let h = host();
    h.respond(404, &[], r#"{"ResultMessage":"Item not found."}"#);
    let changes = Cleverbridge::receive(&h, authed(&paid("Renewed"))).expect("acknowledged");
    assert!(changes.is_empty());
}

#[test]
fn a_forged_notification_is_refused_before_any_request() {
    let bodies = [
        None,
        Some(basic("cleverbridge", "guessed")),
        Some(basic("cleverbridge", &credential()[1..])),
        Some("Bearer abc".to_owned()),
        Some(format!("Basic {}", credential())),
    ];
    for authorization in bodies {
        let h = host();
        let err = Cleverbridge::receive(&h, hook(authorization.clone(), &paid("Renewed")))
            .expect_err("refused");
        assert!(
            matches!(err, Error::InvalidWebhook(_)),
            "{authorization:?}: {err:?}"
        );
        assert!(
            h.requests.borrow().is_empty(),
            "no request for a forged notification"
        );
    }
}

#[test]
fn the_credential_may_come_in_a_header_of_the_operator_s_choice() {
    let h = host().with_setting("webhook-header", "X-Junction-Token");
    h.respond(200, &[], &ok_with(&subscription(1, 95.19)));
    let mut good = hook(None, &paid("Renewed"));
    good.headers.push(("x-junction-token".into(), credential()));
    assert_eq!(Cleverbridge::receive(&h, good).expect("received").len(), 1);
    let mut bad = hook(None, &paid("Renewed"));
    bad.headers.push(("x-junction-token".into(), "nope".into()));
    assert!(matches!(
        Cleverbridge::receive(&h, bad),
        Err(Error::InvalidWebhook(_))
    ));
}

#[test]
fn without_the_secret_the_instance_is_unauthorized() {
    let h = FakeHost::at(NOW_MS);
    let err = Cleverbridge::receive(&h, authed(&paid("Renewed"))).expect_err("no secret");
    assert!(matches!(err, Error::Unauthorized(_)), "{err:?}");
}

#[test]
fn unknown_and_unrelated_types_are_acknowledged_with_no_change() {
    for kind in [
        "CustomerProfileUpdateNotification",
        "QuoteNotification",
        "SomethingNew",
    ] {
        let h = host();
        let body = status_notification(kind, "Active");
        assert!(
            Cleverbridge::receive(&h, authed(&body))
                .expect(kind)
                .is_empty()
        );
        assert!(h.requests.borrow().is_empty());
    }
    let h = host();
    let body = json!({"meta": meta("PaidOrderNotification"), "purchaseId": 1, "items": [{"productId": 5}]});
    assert!(
        Cleverbridge::receive(&h, authed(&body))
            .expect("one-off purchase")
            .is_empty()
    );
}

#[test]
fn a_body_that_is_not_a_notification_is_invalid() {
    for body in [&b"not json"[..], br#"{"subscriptionId": 1}"#] {
        let h = host();
        let mut w = authed(&json!({}));
        w.body = body.to_vec();
        assert!(matches!(
            Cleverbridge::receive(&h, w),
            Err(Error::InvalidWebhook(_))
        ));
    }
}

#[test]
fn a_failed_confirmation_fails_the_call_so_cleverbridge_delivers_again() {
    let h = host();
    h.respond(503, &[], "");
    assert!(matches!(
        Cleverbridge::receive(&h, authed(&paid("Renewed"))),
        Err(Error::Transient { .. })
    ));
    let h = host();
    h.respond(
        429,
        &[("Retry-After", "30")],
        r#"{"ResultMessage":"Rate limit reached."}"#,
    );
    assert_eq!(
        Cleverbridge::receive(&h, authed(&paid("Renewed"))),
        Err(Error::RateLimited(Some(30_000)))
    );
}

#[test]
fn a_subscription_named_in_both_models_is_read_once() {
    let h = host();
    h.respond(200, &[], &ok_with(&subscription(1, 95.19)));
    let mut body = paid("Renewed");
    body["subscriptionId"] = json!("S67560422");
    let again = body["items"][0].clone();
    body["items"].as_array_mut().unwrap().push(again);
    assert_eq!(
        Cleverbridge::receive(&h, authed(&body))
            .expect("received")
            .len(),
        1
    );
    assert_eq!(h.requests.borrow().len(), 1);
}

#[test]
fn what_tells_of_the_next_billing_takes_effect_there_and_payments_when_they_happen() {
    let next_billing = 1_769_904_000_000; // 2026-02-01T00:00:00Z, the subscription's
    for (kind, effective) in [
        ("SubscriptionReminderChargeNotification", Some(next_billing)),
        ("RecurringBillingCanceledNotification", Some(next_billing)),
        ("RecurringBillingReinstatedNotification", Some(next_billing)),
        (
            "SubscriptionRenewalTypeChangedNotification",
            Some(next_billing),
        ),
        ("PaidOrderNotification", None),
        ("RefundNotification", None),
        ("RecurringBillingOnHoldNotification", None),
    ] {
        let h = host();
        h.respond(200, &[], &ok_with(&subscription(1, 100.0)));
        let body = if kind == "PaidOrderNotification" {
            paid("Renewed")
        } else {
            status_notification(kind, "Active")
        };
        let changes = Cleverbridge::receive(&h, authed(&body)).expect("received");
        assert_eq!(changes.len(), 1, "{kind}");
        assert_eq!(changes[0].effective_at, effective, "{kind}");
    }
}
