//! Behaviour tests of the simulator over real HTTP, as the connector will use it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::header::{AUTHORIZATION, LOCATION};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use super::*;
use crate::faults::Faults;

struct Harness {
    sim: NetSuiteSim,
    http: reqwest::Client,
    nonce: AtomicU64,
}

impl Harness {
    async fn start() -> Self {
        Self::with(NetSuiteSimConfig::default()).await
    }

    async fn with(config: NetSuiteSimConfig) -> Self {
        Self {
            sim: NetSuiteSim::start(config).await.unwrap(),
            http: reqwest::Client::new(),
            nonce: AtomicU64::new(0),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/services/rest/{path}", self.sim.base_url())
    }

    fn auth(&self, method: &Method, url: &str) -> String {
        let nonce = format!("nonce-{}", self.nonce.fetch_add(1, Ordering::Relaxed));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        tba_authorization_header(
            method.as_str(),
            url,
            &self.sim.tba_credentials(),
            &nonce,
            now,
        )
    }

    /// A TBA-signed request to `/services/rest/<path>`.
    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = self.url(path);
        let auth = self.auth(&method, &url);
        self.http.request(method, &url).header(AUTHORIZATION, auth)
    }

    async fn get(&self, path: &str) -> Value {
        let resp = self.req(Method::GET, path).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "GET {path}");
        resp.json().await.unwrap()
    }

    async fn upsert(&self, path: &str, body: Value) -> Response {
        self.req(Method::PUT, path)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    fn set_faults(&self, faults: Faults) {
        self.sim.faults().set(faults);
    }
}

fn location(resp: &Response) -> String {
    resp.headers()
        .get(LOCATION)
        .expect("Location header")
        .to_str()
        .unwrap()
        .to_owned()
}

/// Status and the first `o:errorDetails` entry.
async fn error(resp: Response) -> (StatusCode, Value) {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], json!(status.as_u16()), "{body}");
    (status, body["o:errorDetails"][0].clone())
}

fn customer(name: &str) -> Value {
    json!({"companyName": name, "email": "a@example.com", "currency": {"refName": "USD"}})
}

/// A customer, its billing account and a catalog item: what a subscription needs first.
async fn billing_setup(h: &Harness) {
    assert_eq!(
        h.upsert("record/v1/customer/eid:cus_9", customer("Nine"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let account = json!({"customer": {"externalId": "cus_9"}, "currency": {"refName": "USD"},
                         "billingSchedule": {"id": setup::BILLING_SCHEDULE}, "startDate": "2026-01-15"});
    assert_eq!(
        h.upsert("record/v1/billingaccount/eid:cus_9-usd", account)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    h.sim.add_item("prod_cloud", "Cloud");
    h.sim.add_item("prod_storage", "Storage");
    let plan = json!({"currency": {"refName": "USD"}, "pricePlanType": "2",
                      "priceTiers": {"items": [{"fromVal": 0, "value": 20.0}]}});
    assert_eq!(
        h.upsert("record/v1/priceplan/eid:price_1", plan)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
}

fn subscription_body() -> Value {
    json!({"name": "sub_1", "customer": {"externalId": "cus_9"}, "billingAccount": {"externalId": "cus_9-usd"},
           "subscriptionPlan": {"id": setup::SUBSCRIPTION_PLAN}, "priceBook": {"id": setup::PRICE_BOOK},
           "initialTerm": {"id": setup::INITIAL_TERM}, "currency": {"refName": "USD"}, "startDate": "2026-01-15"})
}

/// Creates a change order synchronously; its answer.
async fn change_order(h: &Harness, body: Value) -> Response {
    h.req(Method::POST, "record/v1/subscriptionchangeorder")
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn day(offset_days: i64) -> String {
    let t =
        SystemTime::now() + std::time::Duration::from_secs((offset_days.max(0) * 86_400) as u64);
    let t = if offset_days < 0 {
        SystemTime::now() - std::time::Duration::from_secs((-offset_days * 86_400) as u64)
    } else {
        t
    };
    rfc3339(t)[..10].to_string()
}

#[tokio::test]
async fn tba_and_bearer_logins_are_verified() {
    let h = Harness::start().await;
    let ok = h
        .req(Method::GET, "record/v1/customer")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);

    let url = h.url("record/v1/customer");
    let replayed = h.auth(&Method::GET, &url);
    assert_eq!(
        h.http
            .get(&url)
            .header(AUTHORIZATION, &replayed)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let (status, detail) = error(
        h.http
            .get(&url)
            .header(AUTHORIZATION, &replayed)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, detail["o:errorCode"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("INVALID_LOGIN")),
        "reused nonce"
    );
    assert_eq!(detail["detail"], INVALID_LOGIN_DETAIL);

    let wrong = TbaCredentials {
        token_secret: "guess".into(),
        ..h.sim.tba_credentials()
    };
    let forged = tba_authorization_header(
        "GET",
        &url,
        &wrong,
        "fresh-nonce",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    );
    assert_eq!(
        h.http
            .get(&url)
            .header(AUTHORIZATION, forged)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let signed_for_other_path = h.auth(&Method::GET, &h.url("record/v1/subscription"));
    assert_eq!(
        h.http
            .get(&url)
            .header(AUTHORIZATION, signed_for_other_path)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.http.get(&url).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "no header"
    );

    assert_eq!(
        h.http
            .get(&url)
            .bearer_auth("sim-bearer-token")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        h.http
            .get(&url)
            .bearer_auth("other")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(h.sim.stats().auth_failures, 5);
}

#[tokio::test]
async fn create_answers_204_with_location_of_the_new_record() {
    let h = Harness::start().await;
    let mut body = customer("Acme");
    body["externalId"] = json!("cus_1");
    let resp = h
        .req(Method::POST, "record/v1/Customer")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let loc = location(&resp);
    let prefix = format!("{}/services/rest/record/v1/customer/", h.sim.base_url());
    let id = loc.strip_prefix(&prefix).expect("absolute record location");

    let rec = h.get(&format!("record/v1/customer/{id}")).await;
    assert_eq!(rec["id"], id);
    assert_eq!(rec["externalId"], "cus_1");
    assert_eq!(rec["links"][0], json!({"rel": "self", "href": loc}));
    assert_eq!(rec["companyName"], "Acme");
    assert_eq!(rec["currency"]["refName"], "USD");
    assert!(rec["currency"]["id"].is_string());
    assert_eq!(h.get("record/v1/customer/eid:cus_1").await["id"], id);

    // A second create with the same external id is refused, not duplicated.
    let (status, detail) = error(
        h.req(Method::POST, "record/v1/customer")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, detail["o:errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("USER_ERROR"))
    );
    assert_eq!(h.sim.records("customer").len(), 1);

    let (status, detail) = error(
        h.req(Method::GET, "record/v1/customer/eid:nobody")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, detail["o:errorCode"].as_str()),
        (StatusCode::NOT_FOUND, Some("NONEXISTENT_ID"))
    );
}

#[tokio::test]
async fn eid_upsert_creates_then_updates_one_record() {
    let h = Harness::start().await;
    let first = h
        .upsert("record/v1/customer/eid:cus_7", customer("Acme"))
        .await;
    assert_eq!(first.status(), StatusCode::NO_CONTENT);
    let second = h
        .upsert(
            "record/v1/customer/eid:cus_7",
            json!({"email": "new@example.com"}),
        )
        .await;
    assert_eq!(second.status(), StatusCode::NO_CONTENT);
    assert_eq!(location(&first), location(&second));

    let rec = h.sim.record("customer", "cus_7").unwrap();
    assert_eq!(
        (rec["email"].as_str(), rec["companyName"].as_str()),
        (Some("new@example.com"), Some("Acme"))
    );
    assert_eq!(h.sim.records("customer").len(), 1);
    // Repeating the same upsert changes nothing and is not a business write.
    assert_eq!(
        h.upsert(
            "record/v1/customer/eid:cus_7",
            json!({"email": "new@example.com"})
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    let actions: Vec<WriteAction> = h.sim.applied_writes().iter().map(|w| w.action).collect();
    assert_eq!(actions, [WriteAction::Create, WriteAction::Update]);

    let delete = h
        .req(Method::DELETE, "record/v1/customer/eid:cus_7")
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::NO_CONTENT);
    assert!(h.sim.record("customer", "cus_7").is_none());
}

#[tokio::test]
async fn a_subscription_needs_its_suitebilling_records_and_gets_its_lines_from_the_plan() {
    let h = Harness::start().await;
    // Referenced records must exist (customer, billing account): none is invented.
    let (status, detail) = error(
        h.upsert("record/v1/subscription/eid:sub_1", subscription_body())
            .await,
    )
    .await;
    assert_eq!(
        (status, detail["o:errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_CONTENT"))
    );
    assert!(
        matches!(
            detail["o:errorPath"].as_str(),
            Some("customer" | "billingAccount")
        ),
        "{detail}"
    );
    assert!(h.sim.records("customer").is_empty());
    billing_setup(&h).await;
    // "Subscription": a billing account, a plan, a price book and an initial term are needed.
    for field in [
        "billingAccount",
        "subscriptionPlan",
        "priceBook",
        "initialTerm",
    ] {
        let mut partial = subscription_body();
        partial.as_object_mut().unwrap().remove(field);
        let (status, detail) =
            error(h.upsert("record/v1/subscription/eid:sub_1", partial).await).await;
        assert_eq!(
            (
                status,
                detail["o:errorCode"].as_str(),
                detail["o:errorPath"].as_str()
            ),
            (
                StatusCode::BAD_REQUEST,
                Some("INVALID_CONTENT"),
                Some(field)
            )
        );
    }
    // The status and the lines are NetSuite's: a body that sets them is refused.
    for (field, value) in [
        ("status", json!({"id": "ACTIVE"})),
        (
            "subscriptionLine",
            json!({"items": [{"item": {"externalId": "prod_cloud"}}]}),
        ),
    ] {
        let mut body = subscription_body();
        body[field] = value;
        let (status, detail) =
            error(h.upsert("record/v1/subscription/eid:sub_1", body).await).await;
        assert_eq!(
            (
                status,
                detail["o:errorCode"].as_str(),
                detail["o:errorPath"].as_str()
            ),
            (StatusCode::BAD_REQUEST, Some("USER_ERROR"), Some(field))
        );
    }
    assert_eq!(
        h.upsert("record/v1/subscription/eid:sub_1", subscription_body())
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let rec = h
        .get("record/v1/subscription/eid:sub_1?expandSubResources=true")
        .await;
    // "Format of Selects and References": id, refName and links; no external id.
    let customer_id = h.sim.record("customer", "cus_9").unwrap()["id"].clone();
    assert_eq!(rec["customer"]["id"], customer_id);
    assert_eq!(rec["customer"]["refName"], "Nine");
    assert!(
        rec["customer"].get("externalId").is_none(),
        "{}",
        rec["customer"]
    );
    assert!(
        rec["customer"]["links"][0]["href"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/customer/{}", customer_id.as_str().unwrap()))
    );
    assert_eq!(rec["status"]["id"], "DRAFT");
    let lines = rec["subscriptionLine"]["items"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "one line per plan member");
    assert_eq!(
        lines
            .iter()
            .map(|l| (
                l["lineNumber"].as_u64(),
                l["status"]["id"].as_str(),
                l["item"]["refName"].as_str()
            ))
            .collect::<Vec<_>>(),
        [
            (Some(1), Some("NOT_INCLUDED"), Some("Cloud")),
            (Some(2), Some("NOT_INCLUDED"), Some("Storage"))
        ]
    );
    assert!(lines[0]["item"].get("externalId").is_none());
    // Following a reference's link gives the record's external id.
    let href = lines[0]["item"]["links"][0]["href"]
        .as_str()
        .unwrap()
        .to_string();
    let path = href.split("/services/rest/").nth(1).unwrap().to_string();
    assert_eq!(
        h.get(&format!("{path}?fields=externalId")).await["externalId"],
        "prod_cloud"
    );
    // Without expandSubResources a sublist is only a link, as in NetSuite.
    let collapsed = h.get("record/v1/subscription/eid:sub_1").await;
    assert!(collapsed["subscriptionLine"].get("items").is_none());

    let (status, detail) = error(
        h.req(Method::DELETE, "record/v1/customer/eid:cus_9")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, detail["o:errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("USER_ERROR")),
        "customer has a subscription"
    );
}

#[tokio::test]
async fn lines_change_only_through_change_orders_effective_on_their_date() {
    let h = Harness::start().await;
    billing_setup(&h).await;
    assert_eq!(
        h.upsert("record/v1/subscription/eid:sub_1", subscription_body())
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let rec = h
        .get("record/v1/subscription/eid:sub_1?expandSubResources=true")
        .await;
    let sub_id = rec["id"].as_str().unwrap().to_string();
    let line_id = rec["subscriptionLine"]["items"][0]["subscriptionLine"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let line_path = format!("record/v1/subscriptionline/{line_id}");
    // "Subscription Line": not created or deleted directly.
    let created = h
        .req(Method::POST, "record/v1/subscriptionline")
        .json(&json!({"quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(error(created).await.1["o:errorCode"], "USER_ERROR");
    let deleted = h.req(Method::DELETE, &line_path).send().await.unwrap();
    assert_eq!(error(deleted).await.1["o:errorCode"], "USER_ERROR");
    // Activation needs the line in Pending Activation first.
    let activate = |date: String| {
        json!({"action": "ACTIVATE", "subscription": {"id": sub_id}, "effectiveDate": date,
                                         "subline": {"items": [{"sequence": 1, "apply": true}]}})
    };
    assert_eq!(
        error(change_order(&h, activate(day(0))).await).await.1["o:errorCode"],
        "USER_ERROR"
    );
    let pending = json!({"subscriptionLineStatus": "PENDING_ACTIVATION", "quantity": 2, "pricePlan": {"externalId": "price_1"}});
    let patched = h
        .req(Method::PATCH, &line_path)
        .json(&pending)
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        change_order(&h, activate(day(0))).await.status(),
        StatusCode::NO_CONTENT
    );
    let line = h.get(&line_path).await;
    assert_eq!(
        (
            line["subscriptionLineStatus"]["id"].as_str(),
            line["quantity"].as_u64()
        ),
        (Some("ACTIVE"), Some(2))
    );
    assert_eq!(
        h.get("record/v1/subscription/eid:sub_1").await["status"]["id"],
        "ACTIVE"
    );
    // Once active, quantity and price change only through a change order.
    let direct = h
        .req(Method::PATCH, &line_path)
        .json(&json!({"quantity": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(error(direct).await.1["o:errorCode"], "USER_ERROR");
    let modify = |q: u64| {
        json!({"action": "MODIFY_PRICING", "subscription": {"id": sub_id}, "effectiveDate": day(0),
                                 "subline": {"items": [{"sequence": 1, "apply": true, "quantityNew": q}]}})
    };
    let first = change_order(&h, modify(5)).await;
    assert_eq!(first.status(), StatusCode::NO_CONTENT);
    let order_path = location(&first)
        .split("/services/rest/")
        .nth(1)
        .unwrap()
        .to_string();
    assert_eq!(h.get(&line_path).await["quantity"], 5);
    // "Only one change order of a specific type per subscription line item per date".
    assert_eq!(
        error(change_order(&h, modify(6)).await).await.1["o:errorCode"],
        "USER_ERROR"
    );
    // Updating that day's order merges its keyed sublist line ("Updating a Sublist").
    let update = json!({"subline": {"items": [{"sequence": 1, "quantityNew": 6}]}});
    let updated = h
        .req(Method::PATCH, &order_path)
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), StatusCode::NO_CONTENT);
    assert_eq!(h.get(&line_path).await["quantity"], 6);
    let order = h
        .get(&format!("{order_path}?expandSubResources=true"))
        .await;
    assert_eq!(
        order["subline"]["items"][0]["apply"], true,
        "merged, not replaced"
    );
    // A termination ahead: the line bills until then, and shows when it ends.
    let terminate = json!({"action": "TERMINATE", "subscription": {"id": sub_id}, "effectiveDate": day(30),
                           "subline": {"items": [{"sequence": 1, "apply": true}]}});
    let ahead = change_order(&h, terminate).await;
    assert_eq!(ahead.status(), StatusCode::NO_CONTENT);
    let line = h.get(&line_path).await;
    assert_eq!(
        (
            line["subscriptionLineStatus"]["id"].as_str(),
            line["endDate"].as_str()
        ),
        (Some("ACTIVE"), Some(&*day(30)))
    );
    assert_eq!(
        h.get("record/v1/subscription/eid:sub_1").await["endDate"],
        day(30)
    );
    // Not yet in effect, it can be withdrawn; one in effect cannot.
    let ahead_path = location(&ahead)
        .split("/services/rest/")
        .nth(1)
        .unwrap()
        .to_string();
    assert_eq!(
        h.req(Method::DELETE, &ahead_path)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        error(h.req(Method::DELETE, &order_path).send().await.unwrap())
            .await
            .1["o:errorCode"],
        "USER_ERROR"
    );
    let now = json!({"action": "TERMINATE", "subscription": {"id": sub_id}, "effectiveDate": day(0),
                     "subline": {"items": [{"sequence": 1, "apply": true}]}});
    assert_eq!(change_order(&h, now).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        h.get(&line_path).await["subscriptionLineStatus"]["id"],
        "TERMINATED"
    );
    assert_eq!(
        h.get("record/v1/subscription/eid:sub_1").await["status"]["id"],
        "TERMINATED"
    );
    let suspend = json!({"action": "SUSPEND", "subscription": {"id": sub_id}, "effectiveDate": day(0),
                         "subline": {"items": [{"sequence": 1, "apply": true}]}});
    assert_eq!(
        error(change_order(&h, suspend).await).await.1["o:errorCode"],
        "USER_ERROR",
        "a terminated line stays ended"
    );
}
#[tokio::test]
async fn unknown_and_undefined_custom_fields_are_refused_only_under_strict_validation() {
    let h = Harness::start().await;
    for field in ["nickname", "custentity_jn_metadata"] {
        let body = json!({"companyName": "Acme", field: "x"});
        let strict = h
            .req(Method::PUT, "record/v1/customer/eid:cus_2")
            .header("X-NetSuite-PropertyNameValidation", "error")
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, detail) = error(strict).await;
        assert_eq!(
            (
                status,
                detail["o:errorCode"].as_str(),
                detail["o:errorPath"].as_str()
            ),
            (
                StatusCode::BAD_REQUEST,
                Some("NONEXISTENT_FIELD"),
                Some(field)
            ),
            "the account defines no such field"
        );
        assert_eq!(
            h.upsert("record/v1/customer/eid:cus_2", body)
                .await
                .status(),
            StatusCode::NO_CONTENT
        );
        let rec = h.sim.record("customer", "cus_2").unwrap();
        assert!(
            rec.get(field).is_none(),
            "ignored, as NetSuite does without the header"
        );
    }

    // An account that defines the custom field keeps it.
    let defined = Harness::with(NetSuiteSimConfig {
        custom_fields: vec!["custentity_segment".into()],
        ..NetSuiteSimConfig::default()
    })
    .await;
    let strict = defined
        .req(Method::PUT, "record/v1/customer/eid:cus_3")
        .header("X-NetSuite-PropertyNameValidation", "error")
        .json(&json!({"companyName": "Acme", "custentity_segment": "smb"}))
        .send()
        .await
        .unwrap();
    assert_eq!(strict.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        defined.sim.record("customer", "cus_3").unwrap()["custentity_segment"],
        "smb"
    );

    let (status, detail) = error(
        h.upsert("record/v1/customer/eid:cus_2", json!({"isInactive": "yes"}))
            .await,
    )
    .await;
    assert_eq!(
        (status, detail["o:errorPath"].as_str()),
        (StatusCode::BAD_REQUEST, Some("isInactive"))
    );
}
#[tokio::test]
async fn collections_page_with_links_and_refuse_misaligned_offsets() {
    let h = Harness::start().await;
    for i in 0..5 {
        assert_eq!(
            h.upsert(&format!("record/v1/customer/eid:cus_{i}"), customer("C"))
                .await
                .status(),
            StatusCode::NO_CONTENT
        );
    }
    let page = h.get("record/v1/customer?limit=2&offset=2").await;
    assert_eq!(
        (
            page["count"].as_u64(),
            page["totalResults"].as_u64(),
            page["offset"].as_u64(),
            page["hasMore"].as_bool()
        ),
        (Some(2), Some(5), Some(2), Some(true))
    );
    let rels: Vec<(&str, &str)> = page["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["rel"].as_str().unwrap(), l["href"].as_str().unwrap()))
        .collect();
    let href = |o: u32| {
        format!(
            "{}/services/rest/record/v1/customer?limit=2&offset={o}",
            h.sim.base_url()
        )
    };
    assert_eq!(
        rels.iter()
            .map(|(r, h)| (*r, (*h).to_owned()))
            .collect::<Vec<_>>(),
        [
            ("previous", href(0)),
            ("next", href(4)),
            ("last", href(4)),
            ("self", href(2))
        ]
    );
    let item = &page["items"][0];
    assert_eq!(
        item.as_object().unwrap().len(),
        2,
        "items hold only id and links: {item}"
    );
    assert_eq!(
        item["links"][0]["href"],
        format!(
            "{}/services/rest/record/v1/customer/{}",
            h.sim.base_url(),
            item["id"].as_str().unwrap()
        )
    );

    let last = h.get("record/v1/customer?limit=2&offset=4").await;
    assert_eq!(
        (last["count"].as_u64(), last["hasMore"].as_bool()),
        (Some(1), Some(false))
    );
    let filtered = h
        .get("record/v1/customer?q=externalId%20IS%20%22cus_3%22")
        .await;
    assert_eq!(filtered["totalResults"], 1);

    for bad in ["limit=2&offset=3", "limit=1001", "limit=0"] {
        let (status, detail) = error(
            h.req(Method::GET, &format!("record/v1/customer?{bad}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, detail["o:errorCode"].as_str()),
            (StatusCode::BAD_REQUEST, Some("INVALID_PARAMETER")),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn async_write_runs_as_a_job_and_replays_its_result() {
    let h = Harness::start().await;
    h.set_faults(Faults {
        async_pending_ms: 3_600_000,
        ..Faults::default()
    });
    let resp = h
        .req(Method::PUT, "record/v1/customer/eid:cus_a")
        .header("Prefer", "respond-async")
        .json(&customer("Async"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(resp.headers()["preference-applied"], "respond-async");
    let job_path = location(&resp);
    let job_path = job_path
        .strip_prefix("/services/rest/")
        .expect("relative job location");

    let job = h.get(job_path).await;
    assert_eq!(
        (job["progress"].as_str(), job["completed"].as_bool()),
        (Some("pending"), Some(false))
    );
    assert!(
        h.sim.record("customer", "cus_a").is_none(),
        "not applied while pending"
    );

    h.set_faults(Faults::default());
    let job = h.get(job_path).await;
    assert_eq!(
        (job["progress"].as_str(), job["completed"].as_bool()),
        (Some("succeeded"), Some(true))
    );
    let tasks = h.get(&format!("{job_path}/task")).await;
    let task_href = tasks["items"][0]["links"][0]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    let task_path = task_href.strip_prefix(&h.url("")).unwrap();
    let task = h.get(task_path).await;
    assert_eq!(task["progress"], "succeeded");
    let related = task["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "related")
        .expect("result link");
    let result = h
        .req(
            Method::GET,
            related["href"]
                .as_str()
                .unwrap()
                .strip_prefix(&h.url(""))
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(result.status(), StatusCode::NO_CONTENT);
    let rec = h
        .sim
        .record("customer", "cus_a")
        .expect("applied when settled");
    assert_eq!(location(&result), rec["links"][0]["href"].as_str().unwrap());
}

#[tokio::test]
async fn duplicate_idempotency_key_is_refused_and_applied_once() {
    let h = Harness::start().await;
    const KEY: &str = "3f1c9a52-5d1e-4b7a-9c33-1d2e4f5a6b7c";
    let send = |name: &str, key: &str| {
        h.req(Method::PUT, "record/v1/customer/eid:cus_i")
            .header("Prefer", "respond-async")
            .header("X-NetSuite-Idempotency-Key", key)
            .json(&customer(name))
            .send()
    };
    // The documentation gives the key as a UUID; anything else is refused, naming the header.
    let (status, detail) = error(send("First", "key-1").await.unwrap()).await;
    assert_eq!(
        (
            status,
            detail["o:errorCode"].as_str(),
            detail["o:errorHeader"].as_str()
        ),
        (
            StatusCode::BAD_REQUEST,
            Some("INVALID_PARAMETER"),
            Some("X-NetSuite-Idempotency-Key")
        )
    );
    let first = send("First", KEY).await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let job = location(&first);
    assert_eq!(
        h.get(job.strip_prefix("/services/rest/").unwrap()).await["progress"],
        "succeeded"
    );

    let again = send("Second", KEY).await.unwrap();
    assert_eq!(location(&again), job);
    assert_eq!(again.headers()["preference-applied"], "respond-async");
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["status"], 400);
    assert_eq!(
        (
            body["title"].as_str(),
            body["o:errorDetails"][0]["o:errorCode"].as_str()
        ),
        (Some("Conflict"), Some("IDEMPOTENCY_ERROR"))
    );

    let writes = h.sim.applied_writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(
        (
            writes[0].idempotency_key.as_deref(),
            writes[0].job_id.is_some()
        ),
        (Some(KEY), true)
    );
    assert_eq!(
        h.sim.record("customer", "cus_i").unwrap()["companyName"],
        "First"
    );
    assert_eq!(h.sim.jobs().len(), 1);

    // A synchronous request has no idempotency: its key is ignored, and the write is recorded
    // as made without one.
    let sync = h
        .req(Method::PUT, "record/v1/customer/eid:cus_j")
        .header("X-NetSuite-Idempotency-Key", KEY)
        .json(&customer("Sync"))
        .send()
        .await
        .unwrap();
    assert_eq!(sync.status(), StatusCode::NO_CONTENT);
    assert_eq!(h.sim.applied_writes()[1].idempotency_key, None);
}
#[tokio::test]
async fn silent_drop_answers_success_but_changes_nothing() {
    let h = Harness::start().await;
    assert_eq!(
        h.upsert("record/v1/customer/eid:cus_s", customer("Kept"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    h.set_faults(Faults {
        silent_drop_rate: 1.0,
        ..Faults::default()
    });
    let resp = h
        .req(Method::PATCH, "record/v1/customer/eid:cus_s")
        .json(&json!({"companyName": "Lost"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        h.sim.record("customer", "cus_s").unwrap()["companyName"],
        "Kept"
    );
    assert_eq!(h.sim.applied_writes().len(), 1);
    assert_eq!(h.sim.stats().silent_drops, 1);
}

#[tokio::test]
async fn error_after_write_applies_then_fails() {
    let h = Harness::start().await;
    h.set_faults(Faults {
        error_after_write_rate: 1.0,
        ..Faults::default()
    });
    let (status, detail) = error(
        h.upsert("record/v1/customer/eid:cus_e", customer("Applied"))
            .await,
    )
    .await;
    assert_eq!(
        (status, detail["o:errorCode"].as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some("UNEXPECTED_ERROR"))
    );
    assert_eq!(
        h.sim.record("customer", "cus_e").unwrap()["companyName"],
        "Applied"
    );
    assert_eq!(h.sim.applied_writes().len(), 1);
}

#[tokio::test]
async fn request_faults_and_control_api() {
    let h = Harness::start().await;
    let control = |path: &str| format!("{}/_sim/{path}", h.sim.base_url());
    let set = h
        .http
        .put(control("faults"))
        .json(&json!({"rate_limit_rate": 1.0, "retry_after_s": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    let limited = h
        .req(Method::GET, "record/v1/customer")
        .send()
        .await
        .unwrap();
    assert_eq!(limited.headers()["retry-after"], "7");
    assert_eq!(error(limited).await.0, StatusCode::TOO_MANY_REQUESTS);

    h.http
        .put(control("faults"))
        .json(&json!({"outage": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        h.req(Method::GET, "record/v1/customer")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    let stats: Value = h
        .http
        .get(control("stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            stats["stats"]["throttled"].as_u64(),
            stats["stats"]["outages"].as_u64()
        ),
        (Some(1), Some(1))
    );

    h.http
        .put(control("faults"))
        .json(&json!({"error_rate": 1.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error(
            h.upsert("record/v1/customer/eid:cus_x", customer("X"))
                .await
        )
        .await
        .0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert!(
        h.sim.record("customer", "cus_x").is_none(),
        "a plain 500 happens before anything is applied"
    );

    h.http
        .put(control("faults"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        h.upsert("record/v1/customer/eid:cus_x", customer("X"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let rec: Value = h
        .http
        .get(control("records/customer/cus_x"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rec["companyName"], "X");
    let applied: Value = h
        .http
        .get(control("applied-writes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(applied["count"], 1);
    let unknown_field = h
        .http
        .put(control("faults"))
        .json(&json!({"no_such_fault": 1}))
        .send()
        .await
        .unwrap();
    assert!(unknown_field.status().is_client_error());
}

#[tokio::test]
async fn concurrency_cap_answers_429() {
    let h = Harness::with(NetSuiteSimConfig {
        max_concurrent: Some(1),
        ..NetSuiteSimConfig::default()
    })
    .await;
    h.set_faults(Faults {
        timeout_rate: 1.0,
        hang_ms: 600_000,
        ..Faults::default()
    });
    let hanging = tokio::spawn(h.req(Method::GET, "record/v1/customer").send());
    // Wait (on state, not time) until the hanging request holds the only slot.
    while h.sim.stats().requests == 0 {
        tokio::task::yield_now().await;
    }
    let (status, detail) = error(
        h.req(Method::GET, "record/v1/customer")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, detail["o:errorCode"].as_str()),
        (
            StatusCode::TOO_MANY_REQUESTS,
            Some("CONCURRENCY_LIMIT_EXCEEDED")
        )
    );
    hanging.abort();
}

#[tokio::test]
async fn sublists_merge_by_key_unless_replaced_and_bodies_need_a_length() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let h = Harness::start().await;
    let tiers =
        |items: Value| json!({"currency": {"refName": "USD"}, "priceTiers": {"items": items}});
    let put = |query: &str, body: Value| {
        h.req(
            Method::PUT,
            &format!("record/v1/priceplan/eid:price_t{query}"),
        )
        .json(&body)
        .send()
    };
    let first = put(
        "",
        tiers(json!([{"sequence": 1, "fromVal": 0, "value": 10.0}])),
    )
    .await
    .unwrap();
    assert_eq!(first.status(), StatusCode::NO_CONTENT);
    // "Updating a Sublist": a keyed line merges, another is added.
    let merged = put(
        "",
        tiers(
            json!([{"sequence": 1, "value": 12.0}, {"sequence": 2, "fromVal": 10, "value": 9.0}]),
        ),
    )
    .await
    .unwrap();
    assert_eq!(merged.status(), StatusCode::NO_CONTENT);
    let rec = h
        .get("record/v1/priceplan/eid:price_t?expandSubResources=true")
        .await;
    let values: Vec<(Option<u64>, Option<f64>)> = rec["priceTiers"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["fromVal"].as_u64(), t["value"].as_f64()))
        .collect();
    assert_eq!(values, [(Some(0), Some(12.0)), (Some(10), Some(9.0))]);
    // "Replacing a Sublist": `?replace=` sends it whole.
    let replaced = put(
        "?replace=priceTiers",
        tiers(json!([{"sequence": 1, "fromVal": 0, "value": 15.0}])),
    )
    .await
    .unwrap();
    assert_eq!(replaced.status(), StatusCode::NO_CONTENT);
    let rec = h
        .get("record/v1/priceplan/eid:price_t?expandSubResources=true")
        .await;
    assert_eq!(rec["priceTiers"]["items"].as_array().map(Vec::len), Some(1));

    // A body sent chunked, without Content-Length, is refused.
    let path = "/services/rest/record/v1/customer/eid:cus_chunked";
    let url = format!("{}{path}", h.sim.base_url());
    let authority = h.sim.base_url().trim_start_matches("http://").to_string();
    let auth = h.auth(&Method::PUT, &url);
    let body = r#"{"companyName": "Chunked"}"#;
    let request = format!(
        "PUT {path} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(&authority).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 411"), "{answer}");
    assert!(h.sim.record("customer", "cus_chunked").is_none());
}

/// The M2M token endpoint checks what NetSuite's help center requires of a client assertion
/// ("The Request Token Structure"): signature by the mapped certificate, `kid`, `iss`, `aud`,
/// a lifetime of at most 60 minutes, `rest_webservices` in the scope.
mod m2m_assertions {
    use super::*;

    const PRIVATE: &str = include_str!("../../../tests/keys/netsuite-m2m-ec.pem");
    const PUBLIC: &str = include_str!("../../../tests/keys/netsuite-m2m-ec.pub.pem");

    async fn sim() -> NetSuiteSim {
        NetSuiteSim::start(NetSuiteSimConfig {
            m2m: Some(M2mClient {
                client_id: "client-1".into(),
                certificate_id: "cert-1".into(),
                public_key_pem: PUBLIC.into(),
            }),
            ..NetSuiteSimConfig::default()
        })
        .await
        .unwrap()
    }

    fn assertion(kid: &str, claims: Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(kid.into());
        header.typ = Some("JWT".into());
        let key = jsonwebtoken::EncodingKey::from_ec_pem(PRIVATE.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }

    async fn ask(sim: &NetSuiteSim, assertion: &str) -> (StatusCode, Value) {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair(
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            )
            .append_pair("client_assertion", assertion)
            .finish();
        let answer = reqwest::Client::new()
            .post(sim.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        (answer.status(), answer.json().await.unwrap())
    }

    fn claims(sim: &NetSuiteSim, iat: i64, exp: i64, scope: Value) -> Value {
        json!({ "iss": "client-1", "scope": scope, "aud": sim.token_url(), "iat": iat, "exp": exp })
    }

    #[tokio::test]
    async fn a_valid_assertion_gets_an_hour_long_token_that_the_rest_api_accepts() {
        let sim = sim().await;
        let now = sim.m2m().now();
        let scope = json!(["restlets", "rest_webservices"]);
        let (status, answer) = ask(
            &sim,
            &assertion("cert-1", claims(&sim, now, now + 300, scope)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["expires_in"], "3600");
        assert_eq!(answer["token_type"], "bearer");
        let token = answer["access_token"].as_str().unwrap();
        let list = format!("{}/services/rest/record/v1/customer", sim.base_url());
        let http = reqwest::Client::new();
        let ok = http.get(&list).bearer_auth(token).send().await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
        // An hour later it is refused.
        sim.m2m().advance(3601);
        let late = http.get(&list).bearer_auth(token).send().await.unwrap();
        assert_eq!(late.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn assertions_that_break_a_rule_are_refused() {
        let sim = sim().await;
        let now = sim.m2m().now();
        let scope = json!("rest_webservices");
        let mut wrong_aud = claims(&sim, now, now + 300, scope.clone());
        wrong_aud["aud"] = json!("https://elsewhere.example/token");
        let mut wrong_iss = claims(&sim, now, now + 300, scope.clone());
        wrong_iss["iss"] = json!("client-2");
        let cases = [
            (
                "unknown kid",
                assertion("cert-9", claims(&sim, now, now + 300, scope.clone())),
                "invalid_client",
            ),
            (
                "other audience",
                assertion("cert-1", wrong_aud),
                "invalid_client",
            ),
            (
                "other issuer",
                assertion("cert-1", wrong_iss),
                "invalid_client",
            ),
            (
                "expired",
                assertion("cert-1", claims(&sim, now - 900, now - 600, scope.clone())),
                "invalid_grant",
            ),
            (
                "over an hour",
                assertion("cert-1", claims(&sim, now, now + 7200, scope.clone())),
                "invalid_grant",
            ),
            (
                "no REST scope",
                assertion("cert-1", claims(&sim, now, now + 300, json!("restlets"))),
                "invalid_scope",
            ),
        ];
        for (what, jwt, error) in cases {
            let (status, answer) = ask(&sim, &jwt).await;
            assert!(status.is_client_error(), "{what}: {status}");
            assert_eq!(answer["error"], error, "{what}: {answer}");
        }
        sim.m2m().revoke_client(true);
        let (_, answer) = ask(
            &sim,
            &assertion("cert-1", claims(&sim, now, now + 300, scope)),
        )
        .await;
        assert_eq!(answer["error"], "invalid_client", "a revoked mapping");
    }
}

/// "Billing Operations": a bill run invoices each active line's monthly charges up to its
/// bill-through date, at the quantity and rate in effect on each period's first day, once;
/// nothing on or after a termination's date.
#[tokio::test]
async fn a_bill_run_invoices_charges_up_to_its_date_and_nothing_after_a_termination() {
    let h = Harness::start().await;
    billing_setup(&h).await;
    assert_eq!(
        h.upsert("record/v1/subscription/eid:sub_1", subscription_body())
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let rec = h
        .get("record/v1/subscription/eid:sub_1?expandSubResources=true")
        .await;
    let sub_id = rec["id"].as_str().unwrap().to_string();
    let line_id = rec["subscriptionLine"]["items"][0]["subscriptionLine"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let pending = json!({"subscriptionLineStatus": "PENDING_ACTIVATION", "quantity": 2, "pricePlan": {"externalId": "price_1"}});
    let patched = h
        .req(
            Method::PATCH,
            &format!("record/v1/subscriptionline/{line_id}"),
        )
        .json(&pending)
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::NO_CONTENT);
    let order = |action: &str, date: &str, extra: Value| {
        let mut subline = json!({"sequence": 1, "apply": true});
        if let (Some(s), Some(e)) = (subline.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        json!({"action": action, "subscription": {"id": sub_id}, "effectiveDate": date,
               "subline": {"items": [subline]}})
    };
    for (action, date, extra) in [
        ("ACTIVATE", "2026-01-15", json!({})),
        ("MODIFY_PRICING", "2026-03-15", json!({"quantityNew": 3})),
        ("TERMINATE", "2026-04-15", json!({})),
    ] {
        let r = change_order(&h, order(action, date, extra)).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{action}");
    }
    let first = h.sim.bill_run("2026-02-20");
    assert_eq!(first.len(), 1);
    let periods: Vec<(&str, f64, f64)> = first[0]
        .lines
        .iter()
        .map(|l| (l.period_start.as_str(), l.quantity, l.amount))
        .collect();
    assert_eq!(
        periods,
        [("2026-01-15", 2.0, 40.0), ("2026-02-15", 2.0, 40.0)]
    );
    assert_eq!(first[0].subscription, "sub_1");
    assert_eq!(first[0].lines[0].item.as_deref(), Some("prod_cloud"));
    // The next run invoices only what came due since: March at the new quantity, then
    // nothing from the termination's day on.
    let second = h.sim.bill_run("2026-12-31");
    assert_eq!(second.len(), 1);
    let periods: Vec<(&str, f64)> = second[0]
        .lines
        .iter()
        .map(|l| (l.period_start.as_str(), l.amount))
        .collect();
    assert_eq!(periods, [("2026-03-15", 60.0)]);
    assert!(h.sim.bill_run("2027-12-31").is_empty());
    assert_eq!(h.sim.invoices().len(), 2);
}
