//! Unit tests against a scripted host: mapping round trips, requests sent, answers understood.

use junction_connector_kit::testing::FakeHost;
use junction_connector_kit::{Connector, Error, JobState, Operation, Outcome, Write};
use serde_json::{Value, json};

use crate::NetSuite;
use crate::api::Kind;
use crate::mapping::{from_record, to_record};

const BASE: &str = "https://1234567-sb1.suitetalk.api.netsuite.com";
const JOB: &str = "/services/rest/async/v1/job/42";

fn host(mode: &str) -> FakeHost {
    FakeHost::at(1_760_000_000_000)
        .with_setting("account", "1234567_SB1")
        .with_setting("write-mode", mode)
}

fn rich_subscription() -> Value {
    json!({
        "id": "sub_1RichTest",
        "customer_id": "cus_Rich-1",
        "status": "past_due",
        "currency": "usd",
        "items": [
            {"id": "si_1", "price_id": "price_basic", "product_id": "prod_basic", "quantity": 3, "unit_amount": 1999,
             "currency": "usd", "interval": "month", "interval_count": 1},
            {"id": null, "price_id": "price_addon", "product_id": null, "quantity": 0, "unit_amount": 0,
             "currency": "usd", "interval": null, "interval_count": null},
        ],
        "interval": "month",
        "current_period_start": "2026-01-15T10:20:00Z",
        "current_period_end": "2026-02-15T10:20:00Z",
        "next_billing_at": "2026-02-15T10:20:00Z",
        "cancel_at_period_end": true,
        "cancel_at": "2026-02-15T10:20:00Z",
        "canceled_at": "2026-01-20T08:00:00.250Z",
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

/// NetSuite leaves empty fields out of a record it returns.
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// A written body as `GET ...?expandSubResources=true` shows it: ids, links, labels, no nulls.
fn as_netsuite_returns(kind: Kind, key: &str, body: &Value) -> Value {
    let mut record = without_nulls(body);
    record["id"] = json!("107");
    record["externalId"] = json!(key);
    record["links"] = json!([{"rel": "self", "href": format!("{BASE}/services/rest/record/v1/{}/107", kind.record_type())}]);
    if let Some(currency) = record.get_mut("currency") {
        currency["id"] = json!("2");
        currency["links"] = json!([]);
    }
    if kind == Kind::Subscription {
        record["status"]["refName"] = json!("Suspended");
        record["customer"] =
            json!({"id": "101", "refName": "Ada Ltd", "externalId": "cus_Rich-1", "links": []});
        let lines = record["subscriptionLine"]["items"].as_array_mut().unwrap();
        lines.reverse(); // order comes from lineNumber, not position
        for line in lines {
            line["item"]["id"] = json!("9");
            line["links"] = json!([]);
        }
        record["subscriptionLine"]["links"] = json!([]);
    }
    record
}

fn write(object: &str, key: &str, operation: Operation, document: &Value) -> Write {
    Write {
        object: object.into(),
        key: key.into(),
        operation,
        document: document.to_string(),
        effective_at: Some(1_768_472_400_000),
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

#[test]
fn describes_a_sink_for_customers_and_subscriptions() {
    let m = NetSuite::describe();
    assert_eq!((m.name.as_str(), m.version.as_str()), ("netsuite", "0.1.0"));
    assert_eq!(m.sink_objects, ["customer", "subscription"]);
    assert!(m.source_objects.is_empty() && m.secrets.is_empty() && !m.webhooks && !m.polling);
    assert!(m.async_writes && !m.future_dated_writes);
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
            ("write-mode", false)
        ]
    );
}

#[test]
fn subscription_round_trips_exactly_and_matches_the_schema() {
    let original = rich_subscription();
    assert_valid("subscription", &original);
    let body = to_record(
        Kind::Subscription,
        &original.to_string(),
        Some(1_768_472_400_000),
    )
    .unwrap();
    for record in [
        body.clone(),
        as_netsuite_returns(Kind::Subscription, "sub_1RichTest", &body),
    ] {
        let back: Value = serde_json::from_str(
            &from_record(Kind::Subscription, &record, "sub_1RichTest").unwrap(),
        )
        .unwrap();
        assert_valid("subscription", &back);
        assert_eq!(back, original);
    }
}

#[test]
fn subscription_record_carries_standard_and_exact_fields() {
    let body = to_record(
        Kind::Subscription,
        &rich_subscription().to_string(),
        Some(1_768_472_400_000),
    )
    .unwrap();
    assert_eq!(body["name"], "sub_1RichTest");
    assert_eq!(body["customer"], json!({"externalId": "cus_Rich-1"}));
    assert_eq!(
        (body["status"].clone(), body["custrecord_jn_status"].clone()),
        (json!({"id": "SUSPENDED"}), json!("past_due"))
    );
    assert_eq!(body["currency"], json!({"refName": "USD"}));
    assert_eq!(body["billingFrequency"], "MONTHLY");
    assert_eq!(
        (
            body["startDate"].as_str(),
            body["endDate"].as_str(),
            body["nextBillDate"].as_str()
        ),
        (Some("2025-11-15"), Some("2026-02-15"), Some("2026-02-15"))
    );
    assert_eq!(
        body["custrecord_jn_billing_stop_at"],
        "2026-02-15T10:20:00Z"
    );
    assert_eq!(body["custrecord_jn_cancel_at_period_end"], true);
    assert_eq!(body["custrecord_jn_effective_at"], "2026-01-15T10:20:00Z");
    assert!(
        body.get("externalId").is_none(),
        "the upsert's external id is in the URL"
    );
    let line = &body["subscriptionLine"]["items"][0];
    assert_eq!(line["lineNumber"], 1);
    assert_eq!(line["item"], json!({"externalId": "price_basic"}));
    assert_eq!(
        (
            line["quantity"].as_u64(),
            line["rate"].as_f64(),
            line["custcol_jn_unit_amount"].as_u64()
        ),
        (Some(3), Some(19.99), Some(1999))
    );
    assert_eq!(
        serde_json::from_str::<Value>(body["custrecord_jn_metadata"].as_str().unwrap()).unwrap(),
        rich_subscription()["metadata"]
    );
}

#[test]
fn rates_follow_the_currency_exponent() {
    let with = |currency: &str, unit_amount: u64| {
        let mut doc = rich_subscription();
        doc["currency"] = json!(currency);
        doc["items"] = json!([{"price_id": "price_x", "quantity": 1, "unit_amount": unit_amount, "currency": currency}]);
        let body = to_record(Kind::Subscription, &doc.to_string(), None).unwrap();
        let back: Value =
            serde_json::from_str(&from_record(Kind::Subscription, &body, "sub_1").unwrap())
                .unwrap();
        assert_eq!(back["items"][0]["unit_amount"], unit_amount);
        body["subscriptionLine"]["items"][0]["rate"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(with("usd", 2000), 20.0);
    assert_eq!(with("jpy", 2000), 2000.0);
    assert_eq!(with("kwd", 2000), 2.0);
    assert_eq!(with("kwd", 1234), 1.234);
}

#[test]
fn standard_fields_stand_in_for_records_junction_did_not_write() {
    let record = json!({
        "externalId": "sub_manual", "customer": {"id": "55", "refName": "Walk-in"}, "status": {"id": "ACTIVE", "refName": "Active"},
        "currency": {"refName": "EUR"}, "billingFrequency": "ANNUALLY", "startDate": "2026-01-15", "nextBillDate": "2027-01-15",
        "subscriptionLine": {"items": [{"lineNumber": 1, "item": {"id": "9", "externalId": "price_y"}, "quantity": 2.0, "rate": 12.5}]},
    });
    let doc: Value =
        serde_json::from_str(&from_record(Kind::Subscription, &record, "sub_manual").unwrap())
            .unwrap();
    assert_valid("subscription", &doc);
    assert_eq!(
        (
            doc["status"].as_str(),
            doc["customer_id"].as_str(),
            doc["interval"].as_str()
        ),
        (Some("active"), Some("55"), Some("year"))
    );
    assert_eq!(
        (doc["started_at"].as_str(), doc["next_billing_at"].as_str()),
        (Some("2026-01-15T00:00:00Z"), Some("2027-01-15T00:00:00Z"))
    );
    assert_eq!(
        (
            doc["items"][0]["quantity"].as_u64(),
            doc["items"][0]["unit_amount"].as_u64()
        ),
        (Some(2), Some(1250))
    );
}

#[test]
fn netsuite_status_wins_when_it_disagrees_with_the_exact_one() {
    let body = to_record(Kind::Subscription, &rich_subscription().to_string(), None).unwrap();
    let mut record = body.clone();
    record["status"] = json!({"id": "TERMINATED", "refName": "Terminated"}); // closed by hand in NetSuite
    let doc: Value =
        serde_json::from_str(&from_record(Kind::Subscription, &record, "sub_1RichTest").unwrap())
            .unwrap();
    assert_eq!(doc["status"], "canceled");
}

#[test]
fn customer_round_trips_and_matches_the_schema() {
    let original = customer();
    assert_valid("customer", &original);
    let body = to_record(Kind::Customer, &original.to_string(), None).unwrap();
    assert_eq!(
        (
            body["companyName"].as_str(),
            body["currency"].clone(),
            body["isInactive"].clone()
        ),
        (Some("Ada Ltd"), json!({"refName": "GBP"}), json!(false))
    );
    for record in [
        body.clone(),
        as_netsuite_returns(Kind::Customer, "cus_Rich-1", &body),
    ] {
        let back: Value =
            serde_json::from_str(&from_record(Kind::Customer, &record, "cus_Rich-1").unwrap())
                .unwrap();
        assert_valid("customer", &back);
        assert_eq!(back, original);
    }
}

#[test]
fn documents_that_cannot_be_mapped_are_rejected() {
    let mut doc = rich_subscription();
    doc["items"][0]["currency"] = json!("eur");
    let e: Error = to_record(Kind::Subscription, &doc.to_string(), None)
        .unwrap_err()
        .into();
    assert!(
        matches!(&e, Error::Rejected { field: Some(f), .. } if f == "items[0].currency"),
        "{e}"
    );
    let mut doc = rich_subscription();
    doc["customer_id"] = json!("cus|1");
    let e: Error = to_record(Kind::Subscription, &doc.to_string(), None)
        .unwrap_err()
        .into();
    assert!(
        matches!(&e, Error::Rejected { field: Some(f), .. } if f == "customer_id"),
        "{e}"
    );
    let e: Error = to_record(Kind::Subscription, "{\"id\": 1}", None)
        .unwrap_err()
        .into();
    assert!(matches!(e, Error::Rejected { field: None, .. }));
}

#[test]
fn async_apply_upserts_by_external_id_with_the_idempotency_key() {
    let host = host("async");
    host.respond(
        202,
        &[("Location", JOB), ("Preference-Applied", "respond-async")],
        "",
    );
    let outcome = NetSuite::apply(
        &host,
        write(
            "subscription",
            "sub_1RichTest",
            Operation::Update,
            &rich_subscription(),
        ),
    )
    .unwrap();
    assert_eq!(outcome, Outcome::Accepted(format!("{JOB}#sub_1RichTest")));
    let requests = host.requests.borrow();
    let put = &requests[0];
    assert_eq!(
        (put.method.as_str(), put.url.as_str()),
        (
            "PUT",
            &*format!("{BASE}/services/rest/record/v1/subscription/eid:sub_1RichTest")
        )
    );
    assert_eq!(header(put, "Prefer"), Some("respond-async"));
    assert_eq!(header(put, "X-NetSuite-Idempotency-Key"), Some("idem-7f3a"));
    assert_eq!(header(put, "Content-Type"), Some("application/json"));
    assert_eq!(
        header(put, "X-NetSuite-PropertyNameValidation"),
        Some("error")
    );
    assert_eq!(header(put, "Authorization"), None, "the host authenticates");
    assert_eq!(sent_body(&host, 0)["custrecord_jn_status"], "past_due");
}

#[test]
fn sync_apply_returns_the_internal_id() {
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
    assert_eq!(
        (
            header(put, "Prefer"),
            header(put, "X-NetSuite-Idempotency-Key")
        ),
        (None, None)
    );
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
fn a_reused_key_whose_job_failed_transiently_is_sent_again_synchronously() {
    let host = host("async");
    host.respond(400, &[("Location", JOB)], &idempotency_error());
    queue_finished_job(
        &host,
        "failed",
        500,
        &[],
        r#"{"o:errorDetails": [{"detail": "try later", "o:errorCode": "UNEXPECTED_ERROR"}]}"#,
    );
    host.respond(
        204,
        &[("Location", "/services/rest/record/v1/customer/101")],
        "",
    );
    let outcome = NetSuite::apply(
        &host,
        write("customer", "cus_Rich-1", Operation::Update, &customer()),
    )
    .unwrap();
    assert_eq!(outcome, Outcome::Applied("101".into()));
    let requests = host.requests.borrow();
    let resend = requests.last().unwrap();
    assert_eq!(
        (
            resend.method.as_str(),
            header(resend, "Prefer"),
            header(resend, "X-NetSuite-Idempotency-Key")
        ),
        ("PUT", None, None)
    );
    assert_eq!(resend.body, requests[0].body);
}

#[test]
fn a_reused_key_whose_job_found_no_customer_is_sent_again_once_it_may_exist() {
    let host = host("async");
    host.respond(400, &[("Location", JOB)], &idempotency_error());
    queue_finished_job(
        &host,
        "failed",
        400,
        &[],
        r#"{"o:errorDetails": [{"detail": "Invalid Field Value", "o:errorCode": "INVALID_CONTENT", "o:errorPath": "customer"}]}"#,
    );
    host.respond(
        204,
        &[("Location", "/services/rest/record/v1/subscription/202")],
        "",
    );
    let outcome = NetSuite::apply(
        &host,
        write(
            "subscription",
            "sub_1RichTest",
            Operation::Update,
            &rich_subscription(),
        ),
    )
    .unwrap();
    assert_eq!(outcome, Outcome::Applied("202".into()));
    let requests = host.requests.borrow();
    let resend = requests.last().unwrap();
    assert_eq!(
        (resend.method.as_str(), header(resend, "Prefer")),
        ("PUT", None)
    );
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
fn fetch_reads_back_by_external_id_and_none_when_missing() {
    let host = host("async");
    host.respond(404, &[], r#"{"status": 404, "o:errorDetails": [{"detail": "The record instance does not exist.", "o:errorCode": "NONEXISTENT_ID"}]}"#);
    assert_eq!(
        NetSuite::fetch(&host, "subscription", "sub_missing"),
        Ok(None)
    );
    assert_eq!(
        host.requests.borrow()[0].url,
        format!(
            "{BASE}/services/rest/record/v1/subscription/eid:sub_missing?expandSubResources=true"
        )
    );

    let body = to_record(Kind::Subscription, &rich_subscription().to_string(), None).unwrap();
    host.respond(
        200,
        &[],
        &as_netsuite_returns(Kind::Subscription, "sub_1RichTest", &body).to_string(),
    );
    let doc: Value = serde_json::from_str(
        &NetSuite::fetch(&host, "subscription", "sub_1RichTest")
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(doc, rich_subscription());

    host.respond(401, &[], r#"{"o:errorDetails": [{"detail": "Invalid login attempt.", "o:errorCode": "INVALID_LOGIN"}]}"#);
    assert!(matches!(
        NetSuite::fetch(&host, "customer", "cus_1"),
        Err(Error::Unauthorized(_))
    ));
}

#[test]
fn list_pages_through_records_by_offset() {
    let host = host("async");
    let body = to_record(Kind::Customer, &customer().to_string(), None).unwrap();
    host.respond(200, &[], r#"{"count": 2, "hasMore": true, "offset": 0, "totalResults": 3, "items": [{"id": "107", "links": []}, {"id": "108", "links": []}]}"#);
    host.respond(
        200,
        &[],
        &as_netsuite_returns(Kind::Customer, "cus_Rich-1", &body).to_string(),
    );
    host.respond(
        200,
        &[],
        &json!({"id": "108", "companyName": "Made by hand"}).to_string(),
    ); // no external id
    let page = NetSuite::list(&host, "customer", None, 2).unwrap();
    assert_eq!(page.next_cursor.as_deref(), Some("2"));
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].key, "cus_Rich-1");
    assert_eq!(
        serde_json::from_str::<Value>(&page.items[0].document).unwrap(),
        customer()
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
            format!("{BASE}/services/rest/record/v1/customer?limit=2&offset=0"),
            format!("{BASE}/services/rest/record/v1/customer/107?expandSubResources=true"),
            format!("{BASE}/services/rest/record/v1/customer/108?expandSubResources=true"),
        ]
    );

    host.respond(
        200,
        &[],
        r#"{"count": 0, "hasMore": false, "offset": 2, "totalResults": 2, "items": []}"#,
    );
    let last = NetSuite::list(&host, "customer", page.next_cursor, 5000).unwrap();
    assert_eq!((last.items.len(), last.next_cursor), (0, None));
    assert_eq!(
        host.requests.borrow()[3].url,
        format!("{BASE}/services/rest/record/v1/customer?limit=2&offset=2"),
        "offset stays a multiple of the limit"
    );
    assert!(matches!(
        NetSuite::list(&host, "customer", Some("x".into()), 10),
        Err(Error::Rejected { .. })
    ));
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
fn delete_closes_instead_of_deleting() {
    let host = host("sync");
    host.respond(204, &[], "");
    host.respond(204, &[], "");
    let outcome = NetSuite::apply(
        &host,
        write(
            "subscription",
            "sub_1RichTest",
            Operation::Delete,
            &Value::Null,
        ),
    )
    .unwrap();
    assert_eq!(outcome, Outcome::Applied("sub_1RichTest".into()));
    NetSuite::apply(
        &host,
        write("customer", "cus_Rich-1", Operation::Delete, &Value::Null),
    )
    .unwrap();
    let requests = host.requests.borrow();
    assert_eq!(
        (requests[0].method.as_str(), requests[0].url.as_str()),
        (
            "PATCH",
            &*format!("{BASE}/services/rest/record/v1/subscription/eid:sub_1RichTest")
        )
    );
    assert_eq!(
        sent_body(&host, 0),
        json!({"status": {"id": "TERMINATED"}, "custrecord_jn_status": "canceled", "custrecord_jn_effective_at": "2026-01-15T10:20:00Z"})
    );
    assert_eq!(sent_body(&host, 1)["isInactive"], true);
    assert!(requests.iter().all(|r| r.method != "DELETE"));
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

#[test]
fn delete_with_the_final_state_writes_it_whole() {
    let host = host("sync");
    host.respond(204, &[], "");
    let mut doc = rich_subscription();
    doc["status"] = json!("canceled");
    NetSuite::apply(
        &host,
        write("subscription", "sub_1RichTest", Operation::Delete, &doc),
    )
    .unwrap();
    let requests = host.requests.borrow();
    assert_eq!(requests[0].method, "PUT");
    let body = sent_body(&host, 0);
    assert_eq!(body["status"]["id"], "TERMINATED");
    assert_eq!(
        body["custrecord_jn_billing_stop_at"],
        doc["billing_stop_at"]
    );
}
