//! Unit tests against a scripted host: what NetSuite is expected to keep of a document, how a
//! subscription reads back from SuiteBilling records, requests sent, answers understood. The
//! whole SuiteBilling flow runs against the simulator in `tests/it/connector_netsuite.rs`.

use junction_connector_kit::testing::FakeHost;
use junction_connector_kit::{Connector, Error, HttpRequest, JobState, Operation, Outcome, Write};
use serde_json::{Value, json};

use crate::billing::{self, Line, State};
use crate::mapping;
use crate::{NetSuite, api};

const BASE: &str = "https://1234567-sb1.suitetalk.api.netsuite.com";
const JOB: &str = "/services/rest/async/v1/job/42";

fn host(mode: &str) -> FakeHost {
    FakeHost::at(1_760_000_000_000)
        .with_setting("account", "1234567_SB1")
        .with_setting("write-mode", mode)
        .with_setting("subscription-plan", "11")
        .with_setting("price-book", "12")
        .with_setting("initial-term", "14")
        .with_setting("billing-schedule", "13")
}

fn rich_subscription() -> Value {
    json!({
        "id": "sub_1RichTest",
        "customer_id": "cus_Rich-1",
        "status": "past_due",
        "currency": "usd",
        "items": [
            {"id": "si_2", "price_id": "price_storage", "product_id": "prod_storage", "quantity": 2, "unit_amount": 700,
             "currency": "usd", "interval": "month", "interval_count": 1},
            {"id": "si_1", "price_id": "price_basic", "product_id": "prod_basic", "quantity": 3, "unit_amount": 1999,
             "currency": "usd", "interval": "month", "interval_count": 1},
        ],
        "interval": "month",
        "current_period_start": "2026-01-15T10:20:00Z",
        "current_period_end": "2026-02-15T10:20:00Z",
        "next_billing_at": "2026-02-15T10:20:00Z",
        "cancel_at_period_end": true,
        "cancel_at": "2026-02-15T10:20:00Z",
        "canceled_at": null,
        "billing_stop_at": "2026-02-15T10:20:00Z",
        "started_at": "2025-11-15T10:20:00Z",
        "metadata": {"plan": "basic", "note": "a \"quoted\" | value"},
    })
}

fn customer() -> Value {
    json!({
        "id": "cus_Rich-1", "email": "ada@example.com", "name": "Ada Ltd", "phone": "+44 20 7946 0000",
        "currency": "gbp", "deleted": false, "metadata": {"segment": "smb"},
    })
}

fn assert_valid(object: &str, document: &Value) {
    let schema: Value = serde_json::from_str(match object {
        "customer" => include_str!("../../../wit/schemas/customer.v1.json"),
        _ => include_str!("../../../wit/schemas/subscription.v1.json"),
    })
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(document)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{object} does not match its schema: {errors:?}\n{document}"
    );
}

fn write(object: &str, key: &str, operation: Operation, document: &Value) -> Write {
    Write {
        object: object.into(),
        key: key.into(),
        operation,
        document: document.to_string(),
        effective_at: Some(1_768_472_400_000),
        occurred_at: 1_768_400_000_000,
        idempotency_key: "idem-7f3a".into(),
        correlation_id: "corr-1".into(),
    }
}

fn header<'a>(request: &'a junction_connector_kit::HttpRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn sent_body(host: &FakeHost, index: usize) -> Value {
    serde_json::from_slice(&host.requests.borrow()[index].body).unwrap()
}

fn expected(w: &Write) -> Value {
    serde_json::from_str(&NetSuite::expected(&host("async"), w).unwrap()).unwrap()
}

#[test]
fn describes_a_sink_for_customers_and_suitebilling_subscriptions() {
    let m = NetSuite::describe();
    assert_eq!((m.name.as_str(), m.version.as_str()), ("netsuite", "0.2.0"));
    assert_eq!(m.sink_objects, ["customer", "subscription"]);
    assert!(m.source_objects.is_empty() && m.secrets.is_empty() && !m.webhooks && !m.polling);
    assert!(m.async_writes && m.future_dated_writes);
    assert_eq!(m.hosts, ["*.suitetalk.api.netsuite.com"]);
    let names: Vec<(&str, bool)> = m
        .settings
        .iter()
        .map(|s| (s.name.as_str(), s.required))
        .collect();
    assert_eq!(
        names,
        [
            ("account", true),
            ("base-url", false),
            ("write-mode", false),
            ("subscription-plan", true),
            ("price-book", true),
            ("initial-term", true),
            ("billing-schedule", true),
        ]
    );
}

#[test]
fn a_subscription_is_expected_back_as_suitebilling_keeps_it() {
    let w = write(
        "subscription",
        "sub_1RichTest",
        Operation::Update,
        &rich_subscription(),
    );
    let kept = expected(&w);
    assert_valid("subscription", &kept);
    // NetSuite's coarser status, dates at midnight UTC, no Stripe item ids, intervals,
    // periods or metadata; items in product order.
    assert_eq!(kept["status"], "paused");
    assert_eq!(kept["started_at"], "2025-11-15T00:00:00Z");
    assert_eq!(kept["billing_stop_at"], "2026-02-15T00:00:00Z");
    assert_eq!(kept["cancel_at_period_end"], true);
    for field in [
        "next_billing_at",
        "current_period_start",
        "current_period_end",
        "cancel_at",
        "interval",
    ] {
        assert!(kept[field].is_null(), "{field}: {kept}");
    }
    assert_eq!(kept["metadata"], json!({}));
    assert_eq!(
        kept["items"],
        json!([
            {"id": null, "price_id": "price_basic", "product_id": "prod_basic", "quantity": 3, "unit_amount": 1999,
             "currency": "usd", "interval": null, "interval_count": null},
            {"id": null, "price_id": "price_storage", "product_id": "prod_storage", "quantity": 2, "unit_amount": 700,
             "currency": "usd", "interval": null, "interval_count": null},
        ])
    );
    for (status, kept_as) in [
        ("trialing", "active"),
        ("active", "active"),
        ("unpaid", "paused"),
        ("incomplete_expired", "canceled"),
        ("canceled", "canceled"),
    ] {
        let mut doc = rich_subscription();
        doc["status"] = json!(status);
        let kept = expected(&write("subscription", "sub_1", Operation::Update, &doc));
        assert_eq!(kept["status"], kept_as, "{status}");
        assert_eq!(
            kept["cancel_at_period_end"],
            kept_as != "canceled",
            "{status}"
        );
    }
    // A delete is a cancellation: billing stops on its stop date.
    let kept = expected(&write(
        "subscription",
        "sub_1",
        Operation::Delete,
        &rich_subscription(),
    ));
    assert_eq!(
        (
            kept["status"].as_str(),
            kept["cancel_at_period_end"].as_bool()
        ),
        (Some("canceled"), Some(false))
    );
}

#[test]
fn a_customer_keeps_everything_but_its_metadata() {
    let w = write("customer", "cus_Rich-1", Operation::Update, &customer());
    let kept = expected(&w);
    assert_valid("customer", &kept);
    let mut want = customer();
    want["metadata"] = json!({});
    assert_eq!(kept, want);
    // And the record body carries only standard fields, read back to the same document.
    let body = mapping::customer_record(&w.document).unwrap();
    assert!(
        body.as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("cust")),
        "no custom fields: {body}"
    );
    let mut record = body.clone();
    record["currency"] = json!({"id": "2", "refName": "GBP", "links": []});
    record["externalId"] = json!("cus_Rich-1");
    let read: Value =
        serde_json::from_str(&mapping::customer_from(&record, "cus_Rich-1").unwrap()).unwrap();
    assert_eq!(read, kept);
}

/// A route that carries only the fields its source owns: the record keeps the others (an
/// upsert leaves out what its body does not name), and a null clears.
#[test]
fn a_customer_body_holds_only_the_fields_its_document_holds() {
    let body = mapping::customer_record(r#"{"id": "cus_1", "email": "new@example.com"}"#).unwrap();
    assert_eq!(body, json!({"email": "new@example.com"}));
    let body = mapping::customer_record(r#"{"id": "cus_1", "phone": null}"#).unwrap();
    assert_eq!(body, json!({"phone": null}));
}

fn line(number: u64, product: &str, status: &str, quantity: u64, price: (&str, u64)) -> Line {
    Line {
        number,
        record: format!("50{number}"),
        product: Some(product.into()),
        status: status.into(),
        quantity,
        price: Some((price.0.into(), price.1)),
        start: Some("2025-11-15".into()),
        end: None,
    }
}

fn state(status: &str, lines: Vec<Line>) -> State {
    State {
        internal_id: "208".into(),
        external_id: Some("sub_1RichTest".into()),
        customer: Some("cus_Rich-1".into()),
        status: status.into(),
        currency: Some("usd".into()),
        start_date: Some("2025-11-15".into()),
        lines,
    }
}

#[test]
fn a_subscription_reads_back_from_its_lines_and_change_orders() {
    // Active with one product removed (its line terminated) and a scheduled end on the rest.
    let mut removed = line(1, "prod_old", "TERMINATED", 1, ("price_old", 500));
    removed.end = Some("2026-01-01".into());
    let mut basic = line(2, "prod_basic", "ACTIVE", 3, ("price_basic", 1999));
    basic.end = Some("2026-02-15".into());
    let mut storage = line(3, "prod_storage", "SUSPENDED", 2, ("price_storage", 700));
    storage.end = Some("2026-02-15".into());
    let not_included = Line {
        start: None,
        price: None,
        ..line(4, "prod_never", "NOT_INCLUDED", 1, ("", 0))
    };
    let s = billing::canonical(
        &state("SUSPENDED", vec![removed, basic, storage, not_included]),
        "sub_1RichTest",
    )
    .unwrap();
    let doc = serde_json::to_value(&s).unwrap();
    assert_valid("subscription", &doc);
    let w = write(
        "subscription",
        "sub_1RichTest",
        Operation::Update,
        &rich_subscription(),
    );
    assert_eq!(
        doc,
        expected(&w),
        "read-back equals what the write is expected to leave"
    );

    // Terminated: nothing bills any more; billing stopped when the last line ended.
    let mut a = line(1, "prod_old", "TERMINATED", 1, ("price_old", 500));
    a.end = Some("2026-01-01".into());
    let mut b = line(2, "prod_basic", "TERMINATED", 3, ("price_basic", 1999));
    b.end = Some("2026-03-01".into());
    let s = billing::canonical(&state("TERMINATED", vec![a, b]), "sub_1RichTest").unwrap();
    assert!(s.items.is_empty());
    assert_eq!(s.billing_stop_at.as_deref(), Some("2026-03-01T00:00:00Z"));
    assert!(!s.cancel_at_period_end);
}

/// A subscription record as NetSuite sends it: references are id, refName and a self link
/// ("Format of Selects and References"), never the referenced record's external id.
fn subscription_on_the_wire() -> Value {
    let link = |rt: &str, id: &str| json!([{"rel": "self", "href": format!("{BASE}/services/rest/record/v1/{rt}/{id}")}]);
    json!({
        "links": link("subscription", "208"), "id": "208", "externalId": "sub_1RichTest",
        "customer": {"id": "101", "refName": "Ada Ltd", "links": link("customer", "101")},
        "currency": {"id": "1", "refName": "USD", "links": []},
        "status": {"id": "ACTIVE", "refName": "Active", "links": []},
        "startDate": "2025-11-15",
        "subscriptionLine": {"links": [], "items": [
            {"lineNumber": 1, "subscriptionLine": {"id": "501", "refName": "501", "links": link("subscriptionline", "501")},
             "item": {"id": "9", "refName": "Basic", "links": link("servicesaleitem", "9")},
             "status": {"id": "ACTIVE", "refName": "Active", "links": []}, "quantity": 3,
             "pricePlan": {"id": "77", "refName": "77", "links": link("priceplan", "77")}, "startDate": "2025-11-15"},
            {"lineNumber": 2, "subscriptionLine": {"id": "502", "refName": "502", "links": link("subscriptionline", "502")},
             "item": {"id": "10", "refName": "Storage", "links": link("servicesaleitem", "10")},
             "status": {"id": "NOT_INCLUDED", "refName": "Not Included", "links": []}, "quantity": 1},
        ]},
    })
}

#[test]
fn fetch_follows_references_to_their_external_ids() {
    let host = host("async");
    host.respond(200, &[], &subscription_on_the_wire().to_string());
    host.respond(
        200,
        &[],
        r#"{"links": [], "id": "9", "externalId": "prod_basic"}"#,
    );
    host.respond(200, &[], r#"{"links": [], "id": "77", "externalId": "price_basic", "currency": {"id": "1", "refName": "USD"}, "priceTiers": {"items": [{"fromVal": 0, "value": 19.99}]}}"#);
    host.respond(
        200,
        &[],
        r#"{"links": [], "id": "10", "externalId": "prod_storage"}"#,
    );
    host.respond(
        200,
        &[],
        r#"{"links": [], "id": "101", "externalId": "cus_Rich-1"}"#,
    );
    let doc: Value = serde_json::from_str(
        &NetSuite::fetch(&host, "subscription", "sub_1RichTest")
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(doc["customer_id"], "cus_Rich-1", "not the internal id 101");
    assert_eq!(doc["status"], "active");
    assert_eq!(
        doc["items"],
        json!([{"id": null, "price_id": "price_basic", "product_id": "prod_basic", "quantity": 3,
                "unit_amount": 1999, "currency": "usd", "interval": null, "interval_count": null}])
    );
    let urls: Vec<String> = host
        .requests
        .borrow()
        .iter()
        .map(|r| r.url.clone())
        .collect();
    assert_eq!(
        urls,
        [
            format!(
                "{BASE}/services/rest/record/v1/subscription/eid:sub_1RichTest?expandSubResources=true"
            ),
            format!("{BASE}/services/rest/record/v1/servicesaleitem/9?fields=externalId"),
            format!("{BASE}/services/rest/record/v1/priceplan/77?expandSubResources=true"),
            format!("{BASE}/services/rest/record/v1/servicesaleitem/10?fields=externalId"),
            format!("{BASE}/services/rest/record/v1/customer/101?fields=externalId"),
        ]
    );
}

#[test]
fn references_are_followed_only_within_the_account() {
    let host = host("async");
    let mut record = subscription_on_the_wire();
    record["customer"]["links"][0]["href"] =
        json!("https://evil.example/services/rest/record/v1/customer/101");
    record["subscriptionLine"]["items"] = json!([]);
    host.respond(200, &[], &record.to_string());
    assert!(matches!(
        NetSuite::fetch(&host, "subscription", "sub_1RichTest"),
        Err(Error::Transient { .. })
    ));
    assert_eq!(
        host.requests.borrow().len(),
        1,
        "nothing was fetched from elsewhere"
    );
}

#[test]
fn a_new_subscription_starts_with_its_billing_account_price_plans_and_record() {
    let host = host("async");
    host.respond(404, &[], r#"{"status": 404, "o:errorDetails": [{"detail": "The record instance does not exist.", "o:errorCode": "NONEXISTENT_ID"}]}"#);
    // The customer's billing account, then the two price plans: none there yet.
    for _ in 0..3 {
        host.respond(404, &[], r#"{"status": 404, "o:errorDetails": [{"o:errorCode": "NONEXISTENT_ID", "detail": "none"}]}"#);
    }
    for n in 1..=4 {
        host.respond(
            202,
            &[("Location", &format!("/services/rest/async/v1/job/{n}"))],
            "",
        );
    }
    let mut doc = rich_subscription();
    doc["status"] = json!("active");
    let w = write("subscription", "sub_1RichTest", Operation::Create, &doc);
    let outcome = NetSuite::apply(&host, w).unwrap();
    // More steps follow once the subscription exists (its lines come from the plan).
    assert_eq!(
        outcome,
        Outcome::InProgress("/services/rest/async/v1/job/4#sub_1RichTest".into())
    );
    let requests = host.requests.borrow();
    let writes: Vec<(&str, &str)> = requests
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| (r.method.as_str(), r.url.as_str()))
        .collect();
    assert_eq!(
        writes,
        [
            (
                "PUT",
                &*format!("{BASE}/services/rest/record/v1/billingaccount/eid:cus_Rich-1-usd")
            ),
            (
                "PUT",
                &*format!(
                    "{BASE}/services/rest/record/v1/priceplan/eid:price_basic?replace=priceTiers"
                )
            ),
            (
                "PUT",
                &*format!(
                    "{BASE}/services/rest/record/v1/priceplan/eid:price_storage?replace=priceTiers"
                )
            ),
            (
                "PUT",
                &*format!("{BASE}/services/rest/record/v1/subscription/eid:sub_1RichTest")
            ),
        ]
    );
    // Every write is asynchronous, with its own UUID key, and none sets a status or lines.
    let mut keys = std::collections::BTreeSet::new();
    for r in requests.iter().filter(|r| r.method != "GET") {
        assert_eq!(header(r, "Prefer"), Some("respond-async"));
        let key = header(r, "X-NetSuite-Idempotency-Key").expect("a key");
        assert_eq!(key.len(), 36, "{key}");
        keys.insert(key.to_string());
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(
            body.get("status").is_none() && body.get("subscriptionLine").is_none(),
            "{body}"
        );
    }
    assert_eq!(keys.len(), 4, "one key per step");
    let created = sent_body(&host, requests.len() - 1);
    assert_eq!(created["subscriptionPlan"], json!({"id": "11"}));
    assert_eq!(created["priceBook"], json!({"id": "12"}));
    assert_eq!(created["initialTerm"], json!({"id": "14"}));
    assert_eq!(
        created["billingAccount"],
        json!({"externalId": "cus_Rich-1-usd"})
    );
    assert_eq!(created["startDate"], "2025-11-15");
    let plan = sent_body(&host, 5);
    assert_eq!(plan["priceTiers"]["items"][0]["value"], 19.99);
}

#[test]
fn a_subscription_write_without_the_suitebilling_setup_pauses_with_the_setting_named() {
    let host = FakeHost::at(0).with_setting("account", "1234567");
    let e = NetSuite::apply(
        &host,
        write(
            "subscription",
            "sub_1",
            Operation::Update,
            &rich_subscription(),
        ),
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::Unauthorized(m) if m.contains("subscription-plan")),
        "{e}"
    );
    assert!(host.requests.borrow().is_empty());
}

#[test]
fn customer_apply_upserts_by_external_id_with_a_uuid_key() {
    let host = host("async");
    host.respond(
        202,
        &[("Location", JOB), ("Preference-Applied", "respond-async")],
        "",
    );
    let outcome = NetSuite::apply(
        &host,
        write("customer", "cus_Rich-1", Operation::Update, &customer()),
    )
    .unwrap();
    assert_eq!(outcome, Outcome::Accepted(format!("{JOB}#cus_Rich-1")));
    let put = &host.requests.borrow()[0];
    assert_eq!(
        (put.method.as_str(), put.url.as_str()),
        (
            "PUT",
            &*format!("{BASE}/services/rest/record/v1/customer/eid:cus_Rich-1")
        )
    );
    assert_eq!(header(put, "Prefer"), Some("respond-async"));
    assert_eq!(
        header(put, "X-NetSuite-Idempotency-Key"),
        Some(crate::keys::idempotency_uuid("idem-7f3a/customer", 0).as_str())
    );
    assert_eq!(header(put, "Content-Type"), Some("application/json"));
    assert_eq!(
        header(put, "X-NetSuite-PropertyNameValidation"),
        Some("error")
    );
    assert_eq!(header(put, "Authorization"), None, "the host authenticates");
}

#[test]
fn sync_apply_returns_the_internal_id_and_still_sends_the_key() {
    let host = host("sync").with_setting("base-url", "http://127.0.0.1:9999/");
    host.respond(
        204,
        &[(
            "Location",
            "http://127.0.0.1:9999/services/rest/record/v1/customer/647",
        )],
        "",
    );
    let outcome = NetSuite::apply(
        &host,
        write("customer", "cus_Rich-1", Operation::Create, &customer()),
    )
    .unwrap();
    assert_eq!(outcome, Outcome::Applied("647".into()));
    let put = &host.requests.borrow()[0];
    assert_eq!(
        put.url,
        "http://127.0.0.1:9999/services/rest/record/v1/customer/eid:cus_Rich-1"
    );
    assert_eq!(header(put, "Prefer"), None);
    assert!(header(put, "X-NetSuite-Idempotency-Key").is_some());
}

fn idempotency_error() -> String {
    json!({"type": "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.10", "title": "Conflict", "status": 400,
           "o:errorDetails": [{"detail": "A request with the same idempotency key is already submitted.", "o:errorCode": "IDEMPOTENCY_ERROR"}]})
    .to_string()
}

#[test]
fn a_reused_idempotency_key_follows_the_original_job() {
    let host = host("async");
    host.respond(400, &[("Location", JOB)], &idempotency_error());
    host.respond(
        200,
        &[],
        r#"{"completed": false, "id": "42", "progress": "pending"}"#,
    );
    let outcome = NetSuite::apply(
        &host,
        write("customer", "cus_Rich-1", Operation::Update, &customer()),
    )
    .unwrap();
    assert_eq!(outcome, Outcome::Accepted(format!("{JOB}#cus_Rich-1")));
    assert_eq!(
        host.requests.borrow().len(),
        2,
        "nothing is sent again while the original job runs"
    );
}

/// NetSuite dropped a step (a validation rule, or the record deleted since): the billing
/// account the connector has just found missing was "made" by the job its key already ran.
/// The later steps would fail on the missing account and the same key can never make it, so
/// the call ends in progress on that job; the runtime's bound on steps then sends a corrective
/// write under a derived key.
#[test]
fn a_step_whose_key_ran_but_whose_record_is_missing_ends_the_call() {
    let host = host("async");
    let missing = r#"{"status": 404, "o:errorDetails": [{"o:errorCode": "NONEXISTENT_ID", "detail": "none"}]}"#;
    host.respond(404, &[], missing); // the subscription
    host.respond(404, &[], missing); // its customer's billing account
    host.respond(404, &[], missing); // the two price plans
    host.respond(404, &[], missing);
    host.respond(400, &[("Location", JOB)], &idempotency_error());
    queue_finished_job(&host, "succeeded", 204, &[], "");
    let mut doc = rich_subscription();
    doc["status"] = json!("active");
    let w = write("subscription", "sub_1RichTest", Operation::Create, &doc);
    let outcome = NetSuite::apply(&host, w).unwrap();
    assert_eq!(outcome, Outcome::InProgress(format!("{JOB}#sub_1RichTest")));
    let writes: Vec<String> = host
        .requests
        .borrow()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| r.url.clone())
        .collect();
    assert_eq!(
        writes,
        [format!(
            "{BASE}/services/rest/record/v1/billingaccount/eid:cus_Rich-1-usd"
        )],
        "nothing after the dropped step"
    );
}

/// A read answered with a server error is asked again within the call (reads change nothing);
/// a write is not (its retry is the runtime's, under its idempotency key).
#[test]
fn a_read_that_fails_with_a_server_error_is_asked_again_but_a_write_is_not() {
    let host = host("async");
    host.respond(500, &[], "{}");
    host.respond(503, &[], "{}");
    host.respond(
        200,
        &[],
        &json!({"id": "7", "externalId": "cus_Rich-1"}).to_string(),
    );
    let got = api::send(&host, HttpRequest::new("GET", format!("{BASE}/x"))).unwrap();
    assert_eq!((got.status, host.requests.borrow().len()), (200, 3));

    let host = host_with_failures(api::READ_RETRIES + 1);
    let got = api::send(&host, HttpRequest::new("GET", format!("{BASE}/x"))).unwrap();
    assert_eq!(
        (got.status, host.requests.borrow().len()),
        (500, api::READ_RETRIES + 1),
        "bounded"
    );

    let host = host_with_failures(1);
    let got = api::send(&host, HttpRequest::new("PUT", format!("{BASE}/x"))).unwrap();
    assert_eq!((got.status, host.requests.borrow().len()), (500, 1));
}

fn host_with_failures(n: usize) -> FakeHost {
    let host = host("async");
    for _ in 0..n {
        host.respond(500, &[], "{}");
    }
    host
}

fn queue_finished_job(
    host: &FakeHost,
    progress: &str,
    result_status: u16,
    result_headers: &[(&str, &str)],
    result_body: &str,
) {
    host.respond(
        200,
        &[],
        r#"{"completed": true, "id": "42", "progress": "x"}"#,
    );
    host.respond(
        200,
        &[],
        r#"{"count": 1, "hasMore": false, "items": [{"id": "42", "links": []}]}"#,
    );
    host.respond(
        200,
        &[],
        &json!({"completed": true, "id": "42", "progress": progress}).to_string(),
    );
    host.respond(result_status, result_headers, result_body);
}

#[test]
fn a_reused_key_whose_job_failed_transiently_is_sent_again_under_the_next_key() {
    let host = host("async");
    host.respond(400, &[("Location", JOB)], &idempotency_error());
    queue_finished_job(
        &host,
        "failed",
        500,
        &[],
        r#"{"o:errorDetails": [{"detail": "try later", "o:errorCode": "UNEXPECTED_ERROR"}]}"#,
    );
    host.respond(202, &[("Location", "/services/rest/async/v1/job/43")], "");
    let outcome = NetSuite::apply(
        &host,
        write("customer", "cus_Rich-1", Operation::Update, &customer()),
    )
    .unwrap();
    assert_eq!(
        outcome,
        Outcome::Accepted("/services/rest/async/v1/job/43#cus_Rich-1".into())
    );
    let requests = host.requests.borrow();
    let resend = requests.last().unwrap();
    // Asynchronously again, under the key's next generation: never without a key, never
    // under the spent one (NetSuite would answer it with the failed job).
    assert_eq!(
        (
            resend.method.as_str(),
            header(resend, "Prefer"),
            header(resend, "X-NetSuite-Idempotency-Key")
        ),
        (
            "PUT",
            Some("respond-async"),
            Some(crate::keys::idempotency_uuid("idem-7f3a/customer", 1).as_str())
        )
    );
    assert_ne!(
        header(resend, "X-NetSuite-Idempotency-Key"),
        header(&requests[0], "X-NetSuite-Idempotency-Key")
    );
    assert_eq!(resend.body, requests[0].body);
}

#[test]
fn job_status_reports_pending_success_and_failure() {
    let job = format!("{JOB}#sub_1RichTest");
    let host = host("async");
    host.respond(
        200,
        &[],
        r#"{"completed": false, "id": "42", "progress": "pending"}"#,
    );
    assert_eq!(NetSuite::job_status(&host, &job), Ok(JobState::Pending));
    assert_eq!(host.requests.borrow()[0].url, format!("{BASE}{JOB}"));

    queue_finished_job(
        &host,
        "succeeded",
        204,
        &[(
            "Location",
            &format!("{BASE}/services/rest/record/v1/subscription/108"),
        )],
        "",
    );
    assert_eq!(
        NetSuite::job_status(&host, &job),
        Ok(JobState::Succeeded("108".into()))
    );
    let urls: Vec<String> = host.requests.borrow()[1..]
        .iter()
        .map(|r| r.url.clone())
        .collect();
    assert_eq!(
        urls,
        [
            format!("{BASE}{JOB}"),
            format!("{BASE}{JOB}/task/"),
            format!("{BASE}{JOB}/task/42"),
            format!("{BASE}{JOB}/task/42/result")
        ]
    );

    // A PATCH result names no record: the external id does.
    queue_finished_job(&host, "succeeded", 204, &[], "");
    assert_eq!(
        NetSuite::job_status(&host, &job),
        Ok(JobState::Succeeded("sub_1RichTest".into()))
    );

    let invalid = json!({"status": 400, "o:errorDetails": [{"detail": "Invalid Field Value 9 for item", "o:errorCode": "INVALID_CONTENT", "o:errorPath": "subscriptionLine.items[0].item"}]});
    queue_finished_job(&host, "failed", 400, &[], &invalid.to_string());
    assert_eq!(
        NetSuite::job_status(&host, &job),
        Ok(JobState::Failed(Error::Rejected {
            message: "Invalid Field Value 9 for item".into(),
            field: Some("subscriptionLine.items[0].item".into())
        }))
    );
}

#[test]
fn job_status_refuses_references_that_are_not_jobs() {
    let host = host("async");
    for job in [
        "",
        "/services/rest/record/v1/customer/1",
        "/services/rest/async/v1/job/../../x",
    ] {
        assert!(
            matches!(NetSuite::job_status(&host, job), Err(Error::NotFound(_))),
            "{job}"
        );
    }
    assert!(host.requests.borrow().is_empty());
}

#[test]
fn keys_netsuite_would_misread_are_rejected_before_sending() {
    let host = host("async");
    for key in ["sub|1", "sub 1", "sub/1", "", "süb"] {
        let e = NetSuite::apply(
            &host,
            write("subscription", key, Operation::Update, &rich_subscription()),
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::Rejected { message, .. } if message.contains("letters, digits")),
            "{key}: {e}"
        );
        assert!(matches!(
            NetSuite::fetch(&host, "customer", key),
            Err(Error::Rejected { .. })
        ));
    }
    assert!(host.requests.borrow().is_empty());
}

#[test]
fn failures_keep_their_retry_class() {
    let host = host("async");
    host.fail("connection reset");
    assert!(matches!(
        NetSuite::apply(
            &host,
            write("customer", "cus_1", Operation::Update, &customer())
        ),
        Err(Error::Transient { .. })
    ));
    host.respond(429, &[("Retry-After", "3")], r#"{"o:errorDetails": [{"detail": "Too many", "o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED"}]}"#);
    assert_eq!(
        NetSuite::apply(
            &host,
            write("customer", "cus_1", Operation::Update, &customer())
        ),
        Err(Error::RateLimited(Some(3000)))
    );
    assert!(matches!(
        NetSuite::apply(
            &host,
            write("invoice", "in_1", Operation::Update, &customer())
        ),
        Err(Error::Unsupported(_))
    ));
    let unconfigured = FakeHost::at(0);
    assert!(matches!(
        NetSuite::fetch(&unconfigured, "customer", "cus_1"),
        Err(Error::Unauthorized(_))
    ));
}
