//! Writes, read-back and listing against scripted Stripe answers.

use junction_connector_kit::testing::FakeHost;
use junction_connector_kit::{Connector, Error, HttpRequest, Operation, Outcome, Write};
use serde_json::{Value, json};

use super::{assert_valid, fixture, host, subscription};
use crate::Stripe;

const MISSING: &str = r#"{"error":{"code":"resource_missing","message":"No such subscription: 'sub_x'","param":"id","type":"invalid_request_error"}}"#;

fn write(object: &str, key: &str, operation: Operation, document: Value) -> Write {
    Write {
        object: object.into(),
        key: key.into(),
        operation,
        document: document.to_string(),
        effective_at: None,
        occurred_at: 0,
        idempotency_key: "jx-route-evt_1-stripe".into(),
        correlation_id: "corr-1".into(),
    }
}

fn desired() -> Value {
    json!({
        "id": "sub_1", "customer_id": "cus_1", "status": "active", "currency": "usd",
        "items": [
            { "id": "si_1", "price_id": "price_team", "quantity": 5, "unit_amount": 2000, "currency": "usd" },
            { "price_id": "price_addon", "quantity": 1, "unit_amount": 500, "currency": "usd" }
        ],
        "cancel_at_period_end": false, "cancel_at": "2023-12-01T00:00:00Z",
        "metadata": { "source": "salesforce", "stale": "" }
    })
}

fn header<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn requests(host: &FakeHost) -> Vec<HttpRequest> {
    host.requests.borrow().clone()
}

fn body(request: &HttpRequest) -> String {
    String::from_utf8(request.body.clone()).expect("utf-8 body")
}

#[test]
fn update_posts_the_exact_form_with_the_idempotency_key() {
    let host = host()
        .with_setting("base-url", "http://127.0.0.1:9/")
        .with_setting("proration-behavior", "none");
    host.respond(
        200,
        &[],
        &json!({ "id": "sub_1", "object": "subscription" }).to_string(),
    );
    let outcome = Stripe::apply(
        &host,
        write("subscription", "sub_1", Operation::Update, desired()),
    );
    assert_eq!(outcome, Ok(Outcome::Applied("sub_1".into())));
    let sent = requests(&host);
    assert_eq!(sent.len(), 1);
    let post = &sent[0];
    assert_eq!(
        (post.method.as_str(), post.url.as_str()),
        ("POST", "http://127.0.0.1:9/v1/subscriptions/sub_1")
    );
    assert_eq!(
        body(post),
        "items%5B0%5D%5Bid%5D=si_1&items%5B0%5D%5Bprice%5D=price_team&items%5B0%5D%5Bquantity%5D=5\
         &items%5B1%5D%5Bprice%5D=price_addon&items%5B1%5D%5Bquantity%5D=1\
         &cancel_at_period_end=false&cancel_at=1701388800&proration_behavior=none\
         &metadata%5Bsource%5D=salesforce&metadata%5Bstale%5D="
    );
    assert_eq!(
        header(post, "idempotency-key"),
        Some("jx-route-evt_1-stripe")
    );
    assert_eq!(header(post, "stripe-version"), Some("2026-10-28.endive"));
    assert_eq!(
        header(post, "content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        header(post, "authorization"),
        None,
        "the host adds credentials"
    );
}

#[test]
fn cancel_at_period_end_is_sent_alone() {
    let host = host();
    host.respond(200, &[], r#"{"id":"sub_1"}"#);
    let mut doc = desired();
    doc["cancel_at_period_end"] = json!(true);
    doc["items"] = json!([]);
    doc["metadata"] = json!({});
    Stripe::apply(
        &host,
        write("subscription", "sub_1", Operation::Update, doc),
    )
    .expect("applied");
    assert_eq!(
        body(&requests(&host)[0]),
        "cancel_at_period_end=true&proration_behavior=create_prorations"
    );
}

#[test]
fn create_looks_the_key_up_then_creates() {
    let host = host();
    host.respond(404, &[], MISSING);
    host.respond(200, &[], r#"{"id":"sub_new","object":"subscription"}"#);
    let outcome = Stripe::apply(
        &host,
        write("subscription", "sf-a0B1", Operation::Create, desired()),
    );
    assert_eq!(outcome, Ok(Outcome::Applied("sub_new".into())));
    let sent = requests(&host);
    assert_eq!(
        (sent[0].method.as_str(), sent[0].url.as_str()),
        ("GET", "https://api.stripe.com/v1/subscriptions/sf-a0B1")
    );
    assert_eq!(
        (sent[1].method.as_str(), sent[1].url.as_str()),
        ("POST", "https://api.stripe.com/v1/subscriptions")
    );
    assert_eq!(
        body(&sent[1]),
        "customer=cus_1&items%5B0%5D%5Bprice%5D=price_team&items%5B0%5D%5Bquantity%5D=5\
         &items%5B1%5D%5Bprice%5D=price_addon&items%5B1%5D%5Bquantity%5D=1\
         &cancel_at=1701388800&metadata%5Bsource%5D=salesforce"
    );
    assert_eq!(
        header(&sent[1], "idempotency-key"),
        Some("jx-route-evt_1-stripe")
    );
}

#[test]
fn create_of_an_existing_subscription_updates_it() {
    let host = host();
    host.respond(200, &[], &subscription().to_string());
    host.respond(200, &[], r#"{"id":"sub_1"}"#);
    Stripe::apply(
        &host,
        write("subscription", "sub_1", Operation::Create, desired()),
    )
    .expect("applied");
    assert_eq!(
        requests(&host)[1].url,
        "https://api.stripe.com/v1/subscriptions/sub_1"
    );
}

#[test]
fn delete_cancels_now_and_a_repeat_counts_as_done() {
    let host = host();
    host.respond(200, &[], r#"{"id":"sub_1","status":"canceled"}"#);
    assert_eq!(
        Stripe::apply(
            &host,
            write("subscription", "sub_1", Operation::Delete, json!({}))
        ),
        Ok(Outcome::Applied("sub_1".into()))
    );
    assert_eq!(requests(&host)[0].method, "DELETE");

    let again = super::host();
    let refused = r#"{"error":{"message":"This subscription has already been canceled: sub_1","type":"invalid_request_error"}}"#;
    again.respond(400, &[], refused);
    again.respond(200, &[], r#"{"id":"sub_1","status":"canceled"}"#);
    assert_eq!(
        Stripe::apply(
            &again,
            write("subscription", "sub_1", Operation::Delete, json!({}))
        ),
        Ok(Outcome::Applied("sub_1".into()))
    );

    let live = super::host();
    live.respond(400, &[], refused);
    live.respond(200, &[], r#"{"id":"sub_1","status":"active"}"#);
    let outcome = Stripe::apply(
        &live,
        write("subscription", "sub_1", Operation::Delete, json!({})),
    );
    assert!(
        matches!(outcome, Err(Error::Rejected { .. })),
        "{outcome:?}"
    );
}

#[test]
fn a_document_that_is_not_a_subscription_is_rejected_before_any_request() {
    let host = host();
    let outcome = Stripe::apply(
        &host,
        write(
            "subscription",
            "sub_1",
            Operation::Update,
            json!({ "id": "sub_1" }),
        ),
    );
    assert!(
        matches!(outcome, Err(Error::Rejected { .. })),
        "{outcome:?}"
    );
    let mut doc = desired();
    doc["cancel_at"] = json!("next tuesday");
    let outcome = Stripe::apply(
        &host,
        write("subscription", "sub_1", Operation::Update, doc),
    );
    assert!(
        matches!(outcome, Err(Error::Rejected { field: Some(ref f), .. }) if f == "cancel_at"),
        "{outcome:?}"
    );
    assert!(requests(&host).is_empty());
}

#[test]
fn customer_update_sends_name_email_phone_and_metadata() {
    let host = host();
    host.respond(200, &[], r#"{"id":"cus_1","object":"customer"}"#);
    let doc = json!({ "id": "cus_1", "name": "Jenny Rosen", "email": "jenny@example.com", "phone": null, "metadata": { "tier": "gold" } });
    assert_eq!(
        Stripe::apply(&host, write("customer", "cus_1", Operation::Update, doc)),
        Ok(Outcome::Applied("cus_1".into()))
    );
    let post = &requests(&host)[0];
    assert_eq!(post.url, "https://api.stripe.com/v1/customers/cus_1");
    assert_eq!(
        body(post),
        "name=Jenny%20Rosen&email=jenny%40example.com&phone=&metadata%5Btier%5D=gold"
    );
}

#[test]
fn fetch_maps_the_subscription_and_answers_none_when_missing() {
    let host = host();
    host.respond(200, &[], &subscription().to_string());
    let found = Stripe::fetch(&host, "subscription", "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw")
        .expect("fetched")
        .expect("exists");
    assert_valid("subscription", &found);
    host.respond(404, &[], MISSING);
    assert_eq!(Stripe::fetch(&host, "subscription", "sub_x"), Ok(None));
    host.respond(
        200,
        &[],
        r#"{"id":"cus_gone","object":"customer","deleted":true}"#,
    );
    assert_eq!(Stripe::fetch(&host, "customer", "cus_gone"), Ok(None));
    // A 404 that is not "no such object" (a wrong base URL) stays an error.
    host.respond(
        404,
        &[],
        r#"{"error":{"message":"Unrecognized request URL","type":"invalid_request_error"}}"#,
    );
    assert!(matches!(
        Stripe::fetch(&host, "subscription", "sub_1"),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        Stripe::fetch(&host, "invoice", "in_1"),
        Err(Error::Unsupported(_))
    ));
    assert_eq!(
        requests(&host)[1].url,
        "https://api.stripe.com/v1/subscriptions/sub_x"
    );
}

#[test]
fn list_pages_with_starting_after() {
    let host = host();
    let list = json!({ "object": "list", "data": [fixture("customer")], "has_more": true, "url": "/v1/customers" });
    host.respond(200, &[], &list.to_string());
    let page = Stripe::list(&host, "customer", Some("cus_prev".into()), 500).expect("listed");
    assert_eq!(
        requests(&host)[0].url,
        "https://api.stripe.com/v1/customers?limit=100&starting_after=cus_prev"
    );
    assert_eq!(page.next_cursor.as_deref(), Some("cus_QXg1o8vcGmoR32"));
    assert_eq!(page.items[0].key, "cus_QXg1o8vcGmoR32");
    assert_valid("customer", &page.items[0].document);

    let last = json!({ "object": "list", "data": [subscription()], "has_more": false, "url": "/v1/subscriptions" });
    host.respond(200, &[], &last.to_string());
    let page = Stripe::list(&host, "subscription", None, 10).expect("listed");
    assert_eq!(
        requests(&host)[1].url,
        "https://api.stripe.com/v1/subscriptions?status=all&limit=10"
    );
    assert_eq!((page.items.len(), page.next_cursor), (1, None));
}
