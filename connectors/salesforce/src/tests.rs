//! Native tests against a scripted host: request shapes, both mappings against the canonical
//! schemas, each error class, paging and the poll cursor's ties.

use junction_connector_kit::testing::FakeHost;
use junction_connector_kit::{Connector, Error, Operation, Outcome, Write};
use serde_json::{Value, json};

use crate::Salesforce;
use crate::api::api_usage;

const BASE: &str = "https://acme.my.salesforce.com";
const ROOT: &str = "https://acme.my.salesforce.com/services/data/v62.0";
const LIMIT: (&str, &str) = ("Sforce-Limit-Info", "api-usage=18/5000");
/// 2026-01-01T00:00:10Z.
const NOW_MS: i64 = 1_767_225_610_000;

fn host() -> FakeHost {
    FakeHost::at(NOW_MS).with_setting("base-url", BASE)
}

fn schema(name: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(format!(
        "{}/../../wit/schemas/{name}.v1.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

fn valid(name: &str, doc: &str) -> Value {
    let v: Value = serde_json::from_str(doc).unwrap();
    let validator = schema(name);
    let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{name} {v}: {errors:?}");
    v
}

fn customer() -> Value {
    json!({"id": "cus_1", "email": "ada@example.com", "name": "Ada Ltd", "phone": "+44 20 1234",
           "currency": "gbp", "address": {"line1": "1 Main St", "line2": "Floor 2", "city": "London",
           "postal_code": "N1", "state": "LDN", "country": "GB"}, "created_at": "2025-01-01T00:00:00Z",
           "deleted": false, "metadata": {"tier": "gold"}})
}

fn subscription() -> Value {
    json!({"id": "sub_1", "customer_id": "cus_1", "status": "active", "currency": "usd",
           "items": [{"id": "si_1", "price_id": "price_Team", "product_id": "prod_Team", "quantity": 3,
                      "unit_amount": 2000, "currency": "usd", "interval": "month", "interval_count": 1}],
           "interval": "month", "current_period_start": "2026-01-01T09:30:00Z",
           "current_period_end": "2026-02-01T09:30:00Z", "next_billing_at": "2026-02-01T09:30:00Z",
           "cancel_at_period_end": true, "cancel_at": null, "canceled_at": null,
           "billing_stop_at": "2026-02-01T09:30:00Z", "started_at": "2026-01-01T09:30:00Z",
           "metadata": {}})
}

fn write(object: &str, doc: &Value) -> Write {
    Write {
        object: object.into(),
        key: doc["id"].as_str().unwrap().into(),
        operation: Operation::Update,
        document: doc.to_string(),
        effective_at: None,
        occurred_at: NOW_MS,
        idempotency_key: "k1".into(),
        correlation_id: "c1".into(),
    }
}

/// The Account Salesforce returns after the customer's upsert.
fn account_record() -> Value {
    json!({"attributes": {"type": "Account", "url": "/services/data/v62.0/sobjects/Account/001000000000001AAA"},
           "Id": "001000000000001AAA", "IsDeleted": false, "CreatedDate": "2026-01-01T00:00:00.000+0000",
           "SystemModstamp": "2026-01-01T00:00:00.000+0000", "Stripe_Customer_Id__c": "cus_1",
           "Name": "Ada Ltd", "Phone": "+44 20 1234", "Billing_Email__c": "ada@example.com",
           "BillingStreet": "1 Main St\nFloor 2", "BillingCity": "London", "BillingPostalCode": "N1",
           "BillingCountry": "GB"})
}

fn subscription_record(id: &str, ext: &str, stamp: &str) -> Value {
    json!({"attributes": {"type": "Subscription__c"}, "Id": id, "IsDeleted": false,
           "CreatedDate": "2026-01-01T00:00:00.000+0000", "SystemModstamp": stamp,
           "Stripe_Subscription_Id__c": ext, "Account__c": "001000000000001AAA", "Status__c": "active",
           "Plan__c": "price_Team", "Quantity__c": 3, "Amount__c": 60.0, "Currency__c": "USD",
           "Current_Period_Start__c": "2026-01-01T09:30:00.000+0000",
           "Current_Period_End__c": "2026-02-01T09:30:00.000+0000",
           "Cancel_At_Period_End__c": true, "Canceled_At__c": null})
}

fn accounts_answer() -> String {
    json!({"totalSize": 1, "done": true, "records": [
        {"attributes": {"type": "Account"}, "Id": "001000000000001AAA", "Stripe_Customer_Id__c": "cus_1"}]})
    .to_string()
}

fn body(h: &FakeHost, n: usize) -> Value {
    serde_json::from_slice(&h.requests.borrow()[n].body).unwrap()
}

fn url(h: &FakeHost, n: usize) -> String {
    h.requests.borrow()[n].url.clone()
}

/// The SOQL of a query request, decoded.
fn soql(h: &FakeHost, n: usize) -> String {
    let url = url(h, n);
    let q = url.split_once("?q=").unwrap().1;
    let bytes = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&q[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn manifest_declares_both_sides_and_the_settings() {
    let m = Salesforce::describe();
    assert_eq!(m.sink_objects, ["customer", "subscription"]);
    assert!(m.polling && !m.webhooks && !m.async_writes);
    let names: Vec<&str> = m.settings.iter().map(|s| s.name.as_str()).collect();
    for s in [
        "base-url",
        "api-version",
        "account-external-id",
        "subscription-external-id",
        "api-usage-share",
    ] {
        assert!(names.contains(&s), "{s}");
    }
    assert!(m.settings.iter().all(|s| !s.sensitive));
}

#[test]
fn a_customer_is_upserted_by_external_id_without_id_or_the_key_in_the_body() {
    let h = host();
    h.respond(
        201,
        &[LIMIT],
        r#"{"id":"001000000000001AAA","success":true,"errors":[],"created":true}"#,
    );
    let out = Salesforce::apply(&h, write("customer", &customer())).unwrap();
    assert_eq!(out, Outcome::Applied("001000000000001AAA".into()));
    let req = h.requests.borrow()[0].clone();
    assert_eq!(req.method, "PATCH");
    assert_eq!(
        req.url,
        format!("{ROOT}/sobjects/Account/Stripe_Customer_Id__c/cus_1")
    );
    assert!(
        req.headers
            .iter()
            .any(|(k, v)| k == "Content-Type" && v == "application/json")
    );
    assert!(!req.headers.iter().any(|(k, _)| k.contains("dempotency")));
    let b = body(&h, 0);
    assert!(b.get("Id").is_none() && b.get("Stripe_Customer_Id__c").is_none());
    assert_eq!(
        b,
        json!({"Name": "Ada Ltd", "Phone": "+44 20 1234", "Billing_Email__c": "ada@example.com",
               "BillingStreet": "1 Main St\nFloor 2", "BillingCity": "London",
               "BillingPostalCode": "N1", "BillingCountry": "GB"})
    );
    // Updated (API >= 46.0 answers 200), and the 204 of older versions.
    h.respond(
        200,
        &[LIMIT],
        r#"{"id":"001000000000001AAA","success":true,"errors":[],"created":false}"#,
    );
    h.respond(204, &[LIMIT], "");
    for _ in 0..2 {
        assert!(matches!(
            Salesforce::apply(&h, write("customer", &customer())),
            Ok(Outcome::Applied(_))
        ));
    }
}

/// A route that carries only the fields its source owns (Stripe owns the e-mail, the CRM the
/// rest): the Account's other fields are left as they are, and a null clears.
#[test]
fn a_customer_write_sends_only_the_fields_its_document_holds() {
    let h = host();
    h.respond(
        200,
        &[LIMIT],
        r#"{"id":"001000000000001AAA","created":false}"#,
    );
    let partial = json!({"id": "cus_1", "email": "new@example.com"});
    Salesforce::apply(&h, write("customer", &partial)).unwrap();
    assert_eq!(body(&h, 0), json!({"Billing_Email__c": "new@example.com"}));

    h.respond(
        200,
        &[LIMIT],
        r#"{"id":"001000000000001AAA","created":false}"#,
    );
    let cleared = json!({"id": "cus_1", "phone": null, "address": null});
    Salesforce::apply(&h, write("customer", &cleared)).unwrap();
    assert_eq!(
        body(&h, 1),
        json!({"Phone": null, "BillingStreet": null, "BillingCity": null,
               "BillingPostalCode": null, "BillingCountry": null})
    );
}

#[test]
fn settings_rename_objects_fields_and_the_version() {
    let h = host()
        .with_setting("api-version", "v58.0")
        .with_setting("account-external-id", "Cleverbridge_Customer_Id__c")
        .with_setting("subscription-object", "Sub__c")
        .with_setting("subscription-external-id", "Ext__c")
        .with_setting("subscription-account-field", "AccountId");
    h.respond(201, &[LIMIT], r#"{"id":"a0X000000000001AAA"}"#);
    Salesforce::apply(&h, write("subscription", &subscription())).unwrap();
    assert_eq!(
        url(&h, 0),
        format!("{BASE}/services/data/v58.0/sobjects/Sub__c/Ext__c/sub_1")
    );
    assert_eq!(
        body(&h, 0)["Account"],
        json!({"Cleverbridge_Customer_Id__c": "cus_1"})
    );
    let bad = host().with_setting("account-object", "Account; DROP");
    assert!(matches!(
        Salesforce::apply(&bad, write("customer", &customer())),
        Err(Error::Unauthorized(_))
    ));
    let no_base = FakeHost::at(NOW_MS);
    assert!(matches!(
        Salesforce::fetch(&no_base, "customer", "cus_1"),
        Err(Error::Unauthorized(_))
    ));
    // `expected` makes no request and needs no base URL.
    assert!(Salesforce::expected(&no_base, &write("customer", &customer())).is_ok());
}

#[test]
fn a_subscription_names_its_account_by_external_id_and_carries_its_billing_state() {
    let h = host();
    h.respond(201, &[LIMIT], r#"{"id":"a0X000000000001AAA"}"#);
    Salesforce::apply(&h, write("subscription", &subscription())).unwrap();
    assert_eq!(
        url(&h, 0),
        format!("{ROOT}/sobjects/Subscription__c/Stripe_Subscription_Id__c/sub_1")
    );
    assert_eq!(
        body(&h, 0),
        json!({"Account__r": {"Stripe_Customer_Id__c": "cus_1"}, "Status__c": "active",
               "Plan__c": "price_Team", "Quantity__c": 3, "Amount__c": 60.0, "Currency__c": "USD",
               "Current_Period_Start__c": "2026-01-01T09:30:00Z",
               "Current_Period_End__c": "2026-02-01T09:30:00Z",
               "Cancel_At_Period_End__c": true, "Canceled_At__c": null})
    );
    // A deleted subscription is written as cancelled, when it happened.
    let h = host();
    h.respond(200, &[LIMIT], r#"{"id":"a0X000000000001AAA"}"#);
    let mut w = write("subscription", &subscription());
    w.operation = Operation::Delete;
    Salesforce::apply(&h, w.clone()).unwrap();
    assert_eq!(body(&h, 0)["Status__c"], "canceled");
    assert_eq!(body(&h, 0)["Canceled_At__c"], "2026-01-01T00:00:10Z");
    let kept: Value = serde_json::from_str(&Salesforce::expected(&h, &w).unwrap()).unwrap();
    assert_eq!(kept["status"], "canceled");
    // Zero-decimal currencies are not divided.
    let mut yen = subscription();
    yen["currency"] = json!("jpy");
    yen["items"][0]["currency"] = json!("jpy");
    let h = host();
    h.respond(201, &[LIMIT], "{}");
    Salesforce::apply(&h, write("subscription", &yen)).unwrap();
    assert_eq!(body(&h, 0)["Amount__c"], json!(6000.0));
}

#[test]
fn fetch_maps_records_back_to_valid_documents_that_equal_expected() {
    let h = host();
    h.respond(200, &[LIMIT], &account_record().to_string());
    let doc = Salesforce::fetch(&h, "customer", "cus_1").unwrap().unwrap();
    let fetched = valid("customer", &doc);
    let expected = Salesforce::expected(&h, &write("customer", &customer())).unwrap();
    assert_eq!(fetched, valid("customer", &expected));
    // What Salesforce keeps: no currency, state, created_at or metadata.
    assert_eq!(fetched["currency"], Value::Null);
    assert_eq!(fetched["address"]["state"], Value::Null);
    assert_eq!(fetched["metadata"], json!({}));
    let u = url(&h, 0);
    assert!(
        u.starts_with(&format!(
            "{ROOT}/sobjects/Account/Stripe_Customer_Id__c/cus_1?fields="
        )),
        "{u}"
    );

    let h = host();
    h.respond(
        200,
        &[LIMIT],
        &subscription_record(
            "a0X000000000001AAA",
            "sub_1",
            "2026-01-01T00:00:00.000+0000",
        )
        .to_string(),
    );
    h.respond(200, &[LIMIT], &accounts_answer());
    let doc = Salesforce::fetch(&h, "subscription", "sub_1")
        .unwrap()
        .unwrap();
    let fetched = valid("subscription", &doc);
    let expected = Salesforce::expected(&h, &write("subscription", &subscription())).unwrap();
    assert_eq!(fetched, valid("subscription", &expected));
    assert_eq!(fetched["customer_id"], "cus_1");
    assert_eq!(fetched["items"][0]["unit_amount"], 2000);
    assert!(soql(&h, 1).contains("WHERE Id IN ('001000000000001AAA')"));

    // 404: nothing there.
    let h = host();
    h.respond(
        404,
        &[LIMIT],
        r#"[{"message":"The requested resource does not exist","errorCode":"NOT_FOUND"}]"#,
    );
    assert_eq!(Salesforce::fetch(&h, "customer", "cus_404").unwrap(), None);
}

#[test]
fn a_customer_without_a_name_is_named_by_email_and_expected_says_so() {
    let mut c = customer();
    c["name"] = Value::Null;
    c["address"] = Value::Null;
    let h = host();
    h.respond(201, &[LIMIT], "{}");
    Salesforce::apply(&h, write("customer", &c)).unwrap();
    assert_eq!(body(&h, 0)["Name"], "ada@example.com");
    let kept = valid(
        "customer",
        &Salesforce::expected(&h, &write("customer", &c)).unwrap(),
    );
    assert_eq!(kept["name"], "ada@example.com");
    assert_eq!(kept["address"], Value::Null);
}

#[test]
fn several_items_read_back_as_one_summed_line() {
    let mut s = subscription();
    s["items"] = json!([
        {"id": "si_1", "price_id": "price_A", "product_id": null, "quantity": 2, "unit_amount": 1000, "currency": "usd", "interval": null, "interval_count": null},
        {"id": "si_2", "price_id": "price_B", "product_id": null, "quantity": 1, "unit_amount": 500, "currency": "usd", "interval": null, "interval_count": null},
        {"id": "si_3", "price_id": "price_C", "product_id": null, "quantity": 0, "unit_amount": 900, "currency": "usd", "interval": null, "interval_count": null}
    ]);
    let h = host();
    h.respond(201, &[LIMIT], "{}");
    Salesforce::apply(&h, write("subscription", &s)).unwrap();
    let b = body(&h, 0);
    assert_eq!(
        (&b["Plan__c"], &b["Quantity__c"], &b["Amount__c"]),
        (&json!("price_A,price_B"), &json!(3), &json!(25.0))
    );
    let kept = valid(
        "subscription",
        &Salesforce::expected(&h, &write("subscription", &s)).unwrap(),
    );
    assert_eq!(
        kept["items"],
        json!([{"id": null, "price_id": "price_A,price_B", "product_id": null, "quantity": 3,
                "unit_amount": 833, "currency": "usd", "interval": null, "interval_count": null}])
    );
}

fn error_of(status: u16, headers: &[(&str, &str)], body: &str) -> Error {
    let h = host();
    h.respond(status, headers, body);
    Salesforce::apply(&h, write("customer", &customer())).unwrap_err()
}

#[test]
fn each_error_answer_has_its_class() {
    assert!(matches!(
        error_of(403, &[], r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#),
        Error::RateLimited(Some(ms)) if ms >= 60_000
    ));
    assert!(matches!(
        error_of(400, &[LIMIT], r#"[{"message":"unable to obtain exclusive access to this record or 1 records: 001XXXXXXXXXXXXXX","errorCode":"UNABLE_TO_LOCK_ROW","fields":[]}]"#),
        Error::Conflict(m) if m.contains("UNABLE_TO_LOCK_ROW")
    ));
    assert!(matches!(
        error_of(
            400,
            &[LIMIT],
            r#"[{"message":"CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY: UNABLE_TO_LOCK_ROW","errorCode":"CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"}]"#
        ),
        Error::Conflict(_)
    ));
    for (code, field) in [
        ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Phone"),
        ("REQUIRED_FIELD_MISSING", "Name"),
        ("INVALID_FIELD", "Website"),
        ("STRING_TOO_LONG", "BillingCity"),
        ("MALFORMED_ID", "Id"),
    ] {
        let body = json!([{"message": "no", "errorCode": code, "fields": [field]}]).to_string();
        assert_eq!(
            error_of(400, &[LIMIT], &body),
            Error::Rejected {
                message: format!("{code}: no"),
                field: Some(field.into())
            }
        );
    }
    assert!(matches!(
        error_of(400, &[LIMIT], r#"[{"message":"duplicate value found: Stripe_Customer_Id__c duplicates value on record with id: 001000000000002AAA","errorCode":"DUPLICATE_VALUE","fields":[]}]"#),
        Error::Rejected { field: Some(f), .. } if f == "Stripe_Customer_Id__c"
    ));
    // A validation rule shown at the top of the page names no field.
    assert!(matches!(
        error_of(400, &[LIMIT], r#"[{"message":"Accounts need a phone","errorCode":"FIELD_CUSTOM_VALIDATION_EXCEPTION","fields":[]}]"#),
        Error::Rejected { field: None, message } if message.contains("Accounts need a phone")
    ));
    assert!(matches!(
        error_of(
            401,
            &[],
            r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#
        ),
        Error::Unauthorized(_)
    ));
    assert!(matches!(
        error_of(
            404,
            &[LIMIT],
            r#"[{"message":"The requested resource does not exist","errorCode":"NOT_FOUND"}]"#
        ),
        Error::NotFound(_)
    ));
    assert!(matches!(
        error_of(
            500,
            &[LIMIT],
            r#"[{"message":"An unexpected error occurred","errorCode":"UNKNOWN_EXCEPTION"}]"#
        ),
        Error::Transient { .. }
    ));
    assert!(matches!(
        error_of(503, &[("Retry-After", "7")], "<html>down</html>"),
        Error::Transient {
            retry_after_ms: Some(7000),
            ..
        }
    ));
    let h = host();
    h.fail("connection reset");
    assert!(matches!(
        Salesforce::apply(&h, write("customer", &customer())),
        Err(Error::Transient { .. })
    ));
    // 300: several records carry the external id; the rejection names it.
    match error_of(
        300,
        &[LIMIT],
        r#"["/services/data/v62.0/sobjects/Account/001000000000001AAA","/services/data/v62.0/sobjects/Account/001000000000002AAA"]"#,
    ) {
        Error::Rejected { message, field } => {
            assert!(message.contains("`cus_1`") && message.contains("001000000000002AAA"));
            assert_eq!(field.as_deref(), Some("Stripe_Customer_Id__c"));
        }
        other => panic!("{other:?}"),
    }
    // A subscription whose account is not there yet may pass once the account lands.
    let h = host();
    h.respond(
        400,
        &[LIMIT],
        r#"[{"message":"Foreign key external ID: cus_1 not found for field Stripe_Customer_Id__c in entity Account","errorCode":"INVALID_FIELD"}]"#,
    );
    assert!(matches!(
        Salesforce::apply(&h, write("subscription", &subscription())),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn collection_results_use_status_code() {
    let items = crate::api::failures(
        &json!([{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "locked", "fields": []}]),
    );
    assert_eq!(items[0].code, "UNABLE_TO_LOCK_ROW");
}

#[test]
fn the_limit_header_makes_the_connector_back_off_before_the_org_runs_out() {
    let header = |v: &str| junction_connector_kit::HttpResponse {
        status: 200,
        headers: vec![("sforce-limit-info".into(), v.into())],
        body: vec![],
    };
    assert_eq!(
        api_usage(&header("api-usage=10018/100000; api-bursts=1/750")),
        Some((10018, 100_000))
    );
    assert_eq!(
        api_usage(&header("per-app-api-usage=17/250(appName=x)")),
        None
    );

    // 89 % used: fine. 90 % (the default share): rate-limited, even though the read worked.
    let h = host();
    h.respond(404, &[("Sforce-Limit-Info", "api-usage=89/100")], "[]");
    assert_eq!(Salesforce::fetch(&h, "customer", "cus_1"), Ok(None));
    h.respond(
        200,
        &[("Sforce-Limit-Info", "api-usage=90/100")],
        &account_record().to_string(),
    );
    match Salesforce::fetch(&h, "customer", "cus_1") {
        Err(Error::RateLimited(Some(ms))) => assert!((60_000..=3_600_000).contains(&ms), "{ms}"),
        other => panic!("{other:?}"),
    }
    assert!(
        h.logs
            .borrow()
            .iter()
            .any(|(_, l)| l.contains("90 of its 100"))
    );
    // Further over, a longer wait.
    let wait = |used: u64| crate::api::backoff_ms(used, 100, 0.9);
    assert!(wait(95) > wait(91) && wait(100) <= 3_600_000);
    // The share is a setting.
    let h = host().with_setting("api-usage-share", "50");
    h.respond(201, &[("Sforce-Limit-Info", "api-usage=60/100")], "{}");
    assert!(matches!(
        Salesforce::apply(&h, write("customer", &customer())),
        Err(Error::RateLimited(_))
    ));
}

/// The conformance kit (`junction connector test --sim salesforce`) found `list` answering
/// 200 records when asked for 2: the page size was Salesforce's batch size, whose minimum is
/// 200. Pages are now keyset pages of at most `limit`, continued after the last Id.
#[test]
fn list_answers_at_most_the_limit_and_continues_after_the_last_id() {
    let h = host();
    let record = |id: &str, key: &str| {
        let mut r = account_record();
        r["Id"] = json!(id);
        r["Stripe_Customer_Id__c"] = json!(key);
        r
    };
    // LIMIT 3 asked for; Salesforce answers all three (one more than the page of 2).
    let first = json!({"totalSize": 3, "done": true, "records": [
        record("001000000000001AAA", "cus_1"), record("001000000000002AAA", "cus_2"),
        record("001000000000003AAA", "cus_3")]});
    h.respond(200, &[LIMIT], &first.to_string());
    let page = Salesforce::list(&h, "customer", None, 2).unwrap();
    let keys: Vec<&str> = page.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["cus_1", "cus_2"], "at most the limit");
    valid("customer", &page.items[0].document);
    assert_eq!(page.next_cursor.as_deref(), Some("001000000000002AAA"));
    let q = soql(&h, 0);
    assert!(
        q.contains("FROM Account WHERE Stripe_Customer_Id__c != null ORDER BY Id LIMIT 3"),
        "{q}"
    );

    h.respond(
        200,
        &[LIMIT],
        &json!({"totalSize": 1, "done": true, "records": [record("001000000000003AAA", "cus_3")]})
            .to_string(),
    );
    let page = Salesforce::list(&h, "customer", page.next_cursor, 2).unwrap();
    let q = soql(&h, 1);
    assert!(
        q.contains(
            "WHERE Stripe_Customer_Id__c != null AND Id > '001000000000002AAA' ORDER BY Id LIMIT 3"
        ),
        "{q}"
    );
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].key, "cus_3");
    assert_eq!(page.next_cursor, None, "the last page");
    // A cursor that is not a record Id is refused, never put into a query or a URL.
    for bad in ["https://evil.example/x", "001' OR Name != '"] {
        assert!(matches!(
            Salesforce::list(&h, "customer", Some(bad.into()), 2),
            Err(Error::Rejected { .. })
        ));
    }
}

#[test]
fn poll_orders_by_modstamp_then_id_and_resumes_inside_a_shared_second() {
    let h = host();
    let stamp = "2026-01-01T00:00:05.000+0000";
    let records = [
        subscription_record("a0X000000000001AAA", "sub_1", stamp),
        subscription_record("a0X000000000002AAA", "sub_2", stamp),
        subscription_record("a0X000000000003AAA", "sub_3", stamp),
    ];
    h.respond(
        200,
        &[LIMIT],
        &json!({"totalSize": 3, "done": true, "records": records}).to_string(),
    );
    h.respond(200, &[LIMIT], &accounts_answer());
    let page = Salesforce::poll(&h, "subscription", None, 2).unwrap();
    assert_eq!(page.changes.len(), 2);
    assert!(page.has_more);
    let q = soql(&h, 0);
    assert!(
        q.ends_with(
            "WHERE SystemModstamp < 2026-01-01T00:00:08Z ORDER BY SystemModstamp, Id LIMIT 3"
        ),
        "{q}"
    );
    assert!(url(&h, 0).starts_with(&format!("{ROOT}/queryAll?q=")));
    let c = &page.changes[0];
    assert_eq!(
        (c.key.as_str(), c.object.as_str(), c.operation),
        ("sub_1", "subscription", Operation::Update)
    );
    assert_eq!(c.source_event_id, "a0X000000000001AAA@1767225605000");
    assert_eq!(c.occurred_at, 1_767_225_605_000);
    valid("subscription", c.after.as_deref().unwrap());
    let cursor = page.next_cursor.clone().unwrap();
    assert_eq!(cursor, "1767225605000|a0X000000000002AAA");

    // The next poll starts after the second record of that second: the third, once.
    h.respond(
        200,
        &[LIMIT],
        &json!({"totalSize": 1, "done": true, "records": [records[2].clone()]}).to_string(),
    );
    h.respond(200, &[LIMIT], &accounts_answer());
    let page = Salesforce::poll(&h, "subscription", Some(cursor), 2).unwrap();
    let q = soql(&h, 2);
    assert!(
        q.contains("WHERE (SystemModstamp > 2026-01-01T00:00:05Z OR (SystemModstamp = 2026-01-01T00:00:05Z AND Id > 'a0X000000000002AAA')) AND SystemModstamp < 2026-01-01T00:00:08Z"),
        "{q}"
    );
    assert_eq!(page.changes.len(), 1);
    assert!(!page.has_more);
    assert_eq!(
        page.next_cursor.as_deref(),
        Some("1767225605000|a0X000000000003AAA")
    );

    // Nothing new: the cursor stays.
    h.respond(200, &[LIMIT], r#"{"totalSize":0,"done":true,"records":[]}"#);
    let page = Salesforce::poll(&h, "subscription", page.next_cursor.clone(), 2).unwrap();
    assert!(page.changes.is_empty());
    assert_eq!(
        page.next_cursor.as_deref(),
        Some("1767225605000|a0X000000000003AAA")
    );
}

#[test]
fn poll_follows_next_records_url_and_marks_creates_and_deletes() {
    let h = host().with_setting("poll-lag-seconds", "0");
    let mut created = account_record();
    created["SystemModstamp"] = created["CreatedDate"].clone();
    let mut deleted = account_record();
    deleted["Id"] = json!("001000000000002AAA");
    deleted["IsDeleted"] = json!(true);
    deleted["SystemModstamp"] = json!("2026-01-01T00:00:03.000+0000");
    let mut unkeyed = account_record();
    unkeyed["Id"] = json!("001000000000003AAA");
    unkeyed["Stripe_Customer_Id__c"] = Value::Null;
    unkeyed["SystemModstamp"] = json!("2026-01-01T00:00:04.000+0000");
    h.respond(
        200,
        &[LIMIT],
        &json!({"totalSize": 3, "done": false, "nextRecordsUrl": "/services/data/v62.0/queryAll/01g1-1",
                "records": [created]})
        .to_string(),
    );
    h.respond(
        200,
        &[LIMIT],
        &json!({"totalSize": 3, "done": true, "records": [deleted, unkeyed]}).to_string(),
    );
    let page = Salesforce::poll(&h, "customer", None, 10).unwrap();
    assert!(!soql(&h, 0).contains("WHERE"));
    assert_eq!(
        url(&h, 1),
        format!("{BASE}/services/data/v62.0/queryAll/01g1-1")
    );
    let ops: Vec<_> = page
        .changes
        .iter()
        .map(|c| (c.key.as_str(), c.operation))
        .collect();
    assert_eq!(
        ops,
        [
            ("cus_1", Operation::Create),
            ("cus_1", Operation::Delete),
            // Made in Salesforce, without a Stripe id: keyed by its Salesforce id.
            ("001000000000003AAA", Operation::Update)
        ]
    );
    for c in &page.changes {
        valid("customer", c.after.as_deref().unwrap());
    }
    assert!(matches!(
        Salesforce::poll(&h, "customer", Some("garbage".into()), 10),
        Err(Error::Rejected { .. })
    ));
    assert!(matches!(
        Salesforce::poll(&h, "invoice", None, 10),
        Err(Error::Unsupported(_))
    ));
}
