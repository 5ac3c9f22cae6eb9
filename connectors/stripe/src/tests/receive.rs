//! Events decoded into canonical changes.

use junction_connector_kit::time::rfc3339;
use junction_connector_kit::{Error, Operation};
use serde_json::{Value, json};

use super::{
    NOW, PERIOD, assert_valid, doc, event, fixture, host, receive, receive_on, subscription,
};

fn one(event: &Value) -> junction_connector_kit::Change {
    let mut changes = receive(event).expect("event accepted");
    assert_eq!(changes.len(), 1, "{changes:?}");
    changes.remove(0)
}

#[test]
fn subscription_update_carries_before_and_after() {
    let mut sub = subscription();
    sub["items"]["data"][0]["quantity"] = json!(3);
    sub["metadata"] = json!({ "plan": "team", "seats": "3" });
    let mut old_items = sub["items"].clone();
    old_items["data"][0]["quantity"] = json!(1);
    let previous = json!({ "items": old_items, "metadata": { "seats": "1", "plan": null } });
    let change = one(&event(
        "evt_upd",
        "customer.subscription.updated",
        sub,
        Some(previous),
    ));

    assert_eq!(
        (change.source_event_id.as_str(), change.object.as_str()),
        ("evt_upd", "subscription")
    );
    assert_eq!(
        (change.key.as_str(), change.operation),
        ("sub_1Pgc6rB7WZ01zgkWNy0Cn5nw", Operation::Update)
    );
    // Occurred at the event's time; versioned by the second its current state was read.
    assert_eq!(
        (change.occurred_at, change.source_version),
        ((NOW - 10) * 1000, NOW as u64)
    );
    assert_eq!(
        change.effective_at, None,
        "nothing about the cancellation changed"
    );
    let (before, after) = (doc(&change.before), doc(&change.after));
    assert_eq!(after["items"][0]["quantity"], 3);
    assert_eq!(before["items"][0]["quantity"], 1);
    assert_eq!(after["metadata"], json!({ "plan": "team", "seats": "3" }));
    assert_eq!(
        before["metadata"],
        json!({ "seats": "1" }),
        "a key absent before is absent"
    );
    assert_eq!(
        after["items"][0]["price_id"],
        "price_1PgafmB7WZ01zgkW6dKueIc5"
    );
    assert_eq!(after["items"][0]["product_id"], "prod_QXg1hqf4jFNsqG");
    assert_eq!(
        (
            after["items"][0]["unit_amount"].clone(),
            after["interval"].clone()
        ),
        (json!(2000), json!("month"))
    );
    assert_eq!(after["next_billing_at"], rfc3339(PERIOD.1));
    assert_valid("subscription", change.after.as_deref().unwrap_or_default());
    assert_valid("subscription", change.before.as_deref().unwrap_or_default());
    let meta: Vec<(&str, &str)> = change
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        meta,
        [
            ("event_type", "customer.subscription.updated"),
            ("api_version", "2026-10-28.endive"),
            ("request_id", "req_abc"),
            ("idempotency_key", "idem-1"),
            ("livemode", "false"),
        ]
    );
}

#[test]
fn period_comes_from_items_since_basil_and_from_the_subscription_before() {
    let basil = doc(&one(&event(
        "evt_b",
        "customer.subscription.created",
        subscription(),
        None,
    ))
    .after);
    let mut old = subscription();
    let item = old["items"]["data"][0].as_object_mut().expect("item");
    item.remove("current_period_start");
    item.remove("current_period_end");
    old["current_period_start"] = json!(PERIOD.0);
    old["current_period_end"] = json!(PERIOD.1);
    let pre_basil = doc(&one(&event("evt_p", "customer.subscription.created", old, None)).after);
    for canonical in [&basil, &pre_basil] {
        assert_eq!(canonical["current_period_start"], rfc3339(PERIOD.0));
        assert_eq!(canonical["current_period_end"], rfc3339(PERIOD.1));
    }
    assert_eq!(basil, pre_basil);
}

#[test]
fn cancel_at_period_end_stops_billing_at_the_period_end() {
    let mut sub = subscription();
    sub["cancel_at_period_end"] = json!(true);
    sub["cancel_at"] = json!(PERIOD.1);
    sub["canceled_at"] = json!(NOW - 10);
    let previous = json!({ "cancel_at_period_end": false, "cancel_at": null, "canceled_at": null });
    let change = one(&event(
        "evt_c",
        "customer.subscription.updated",
        sub,
        Some(previous),
    ));
    let (before, after) = (doc(&change.before), doc(&change.after));
    assert_eq!(change.effective_at, Some(PERIOD.1 * 1000));
    assert_eq!(after["billing_stop_at"], rfc3339(PERIOD.1));
    assert_eq!(after["next_billing_at"], Value::Null);
    assert_eq!(after["cancel_at_period_end"], true);
    assert_eq!(
        (
            before["billing_stop_at"].clone(),
            before["next_billing_at"].clone()
        ),
        (Value::Null, json!(rfc3339(PERIOD.1)))
    );
    assert_valid("subscription", change.after.as_deref().unwrap_or_default());
}

#[test]
fn cancel_at_a_date_takes_effect_then() {
    let at = PERIOD.0 + 86_400;
    let mut sub = subscription();
    sub["cancel_at"] = json!(at);
    let change = one(&event(
        "evt_d",
        "customer.subscription.updated",
        sub,
        Some(json!({ "cancel_at": null })),
    ));
    let after = doc(&change.after);
    assert_eq!(change.effective_at, Some(at * 1000));
    assert_eq!(
        (
            after["billing_stop_at"].clone(),
            after["next_billing_at"].clone()
        ),
        (json!(rfc3339(at)), Value::Null)
    );
    // A cancellation after the period end leaves the next renewal in place.
    let mut later = subscription();
    later["cancel_at"] = json!(PERIOD.1 + 86_400 * 60);
    let after = doc(&one(&event(
        "evt_e",
        "customer.subscription.updated",
        later,
        Some(json!({ "cancel_at": null })),
    ))
    .after);
    assert_eq!(after["next_billing_at"], rfc3339(PERIOD.1));
}

#[test]
fn a_deleted_subscription_is_a_delete_holding_its_final_state() {
    let mut sub = subscription();
    sub["status"] = json!("canceled");
    sub["ended_at"] = json!(NOW - 20);
    sub["canceled_at"] = json!(NOW - 20);
    sub["customer"] = json!({ "id": "cus_expanded", "object": "customer" });
    let change = one(&event(
        "evt_del",
        "customer.subscription.deleted",
        sub,
        None,
    ));
    let after = doc(&change.after);
    assert_eq!(
        (change.operation, change.before.as_deref()),
        (Operation::Delete, None)
    );
    assert_eq!(change.effective_at, Some((NOW - 20) * 1000));
    assert_eq!(after["status"], "canceled");
    assert_eq!(after["customer_id"], "cus_expanded");
    assert_eq!(
        (
            after["billing_stop_at"].clone(),
            after["next_billing_at"].clone()
        ),
        (json!(rfc3339(NOW - 20)), Value::Null)
    );
    assert_valid("subscription", change.after.as_deref().unwrap_or_default());
}

#[test]
fn customers_and_invoices_map_to_their_schemas() {
    let created = one(&event(
        "evt_cus",
        "customer.created",
        fixture("customer"),
        None,
    ));
    assert_eq!(
        (created.object.as_str(), created.operation),
        ("customer", Operation::Create)
    );
    assert_eq!(doc(&created.after)["created_at"], "2009-02-13T23:31:30Z");
    assert_valid("customer", created.after.as_deref().unwrap_or_default());
    // Stripe answers a deleted customer with a stub; the event's object stays, marked deleted.
    let host = host();
    host.respond(
        200,
        &[],
        &json!({ "id": "cus_QXg1o8vcGmoR32", "object": "customer", "deleted": true }).to_string(),
    );
    let mut last = fixture("customer");
    last["email"] = json!("gone@example.com");
    let mut changes = receive_on(&host, &event("evt_cd", "customer.deleted", last, None))
        .expect("event accepted");
    let deleted = changes.remove(0);
    let after = doc(&deleted.after);
    assert_eq!(
        (deleted.operation, after["deleted"].clone()),
        (Operation::Delete, json!(true))
    );
    assert_eq!(after["email"], "gone@example.com");

    let paid = one(&event("evt_inv", "invoice.paid", fixture("invoice"), None));
    let invoice = doc(&paid.after);
    assert_eq!(
        (paid.object.as_str(), paid.operation, paid.key.as_str()),
        ("invoice", Operation::Update, "in_1Pgc6tB7WZ01zgkWu9fdqL6I")
    );
    assert_eq!(
        (invoice["total"].clone(), invoice["customer_id"].clone()),
        (json!(1000), json!("cus_QXg1o8vcGmoR32"))
    );
    assert_eq!(
        invoice["subscription_id"], "subscription",
        "basil moved it under parent.subscription_details"
    );
    assert_eq!(
        invoice["customer_email"],
        Value::Null,
        "the fixture's is null"
    );
    let mut billed = fixture("invoice");
    billed["customer_email"] = json!("ada@example.com");
    let failed = one(&event("evt_inv2", "invoice.payment_failed", billed, None));
    assert_eq!(doc(&failed.after)["customer_email"], "ada@example.com");
    assert_valid("invoice", paid.after.as_deref().unwrap_or_default());
}

#[test]
fn unmapped_event_types_give_no_changes_and_read_nothing() {
    let host = host();
    assert_eq!(
        receive_on(&host, &fixture("event")),
        Ok(vec![]),
        "plan.created"
    );
    assert_eq!(
        receive_on(&host, &event("evt_u", "invoice.upcoming", json!({}), None)),
        Ok(vec![])
    );
    assert_eq!(
        receive_on(
            &host,
            &event("evt_s", "customer.source.created", json!({}), None)
        ),
        Ok(vec![])
    );
    assert!(host.requests.borrow().is_empty());
}

#[test]
fn a_mapped_event_missing_required_fields_is_refused() {
    let mut sub = subscription();
    sub.as_object_mut().expect("object").remove("customer");
    let host = host();
    match receive_on(
        &host,
        &event("evt_bad", "customer.subscription.created", sub, None),
    ) {
        Err(Error::InvalidWebhook(reason)) => assert!(
            reason.contains("evt_bad") && reason.contains("`customer`"),
            "{reason}"
        ),
        other => panic!("expected invalid-webhook, got {other:?}"),
    }
    assert!(
        host.requests.borrow().is_empty(),
        "refused before asking Stripe"
    );
}

/// Values the canonical schema cannot hold are refused naming the Stripe field, instead of
/// being passed on for the host to reject (found by the `stripe_webhook` fuzz target).
#[test]
fn values_outside_the_canonical_schema_are_refused_naming_the_field() {
    let cases: [(&str, fn(&mut Value)); 5] = [
        ("`currency`", |s| s["currency"] = json!(")sd")),
        ("`status`", |s| s["status"] = json!("on_fire")),
        ("`cancel_at`", |s| s["cancel_at"] = json!(-5)),
        ("`items.data[0].price.recurring.interval_count`", |s| {
            s["items"]["data"][0]["price"]["recurring"]["interval_count"] = json!(0);
        }),
        ("`items.data[0].price.currency`", |s| {
            s["items"]["data"][0]["price"]["currency"] = json!("USD");
        }),
    ];
    for (field, spoil) in cases {
        let mut sub = subscription();
        spoil(&mut sub);
        match receive(&event(
            "evt_odd",
            "customer.subscription.updated",
            sub,
            None,
        )) {
            Err(Error::InvalidWebhook(reason)) => assert!(
                reason.contains("evt_odd") && reason.contains(field),
                "{field}: {reason}"
            ),
            other => panic!("{field}: expected invalid-webhook, got {other:?}"),
        }
    }
}
