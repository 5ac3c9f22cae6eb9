//! Behaviour tests of the simulator over real HTTP, as a connector uses it.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

use super::clock::{format_datetime, parse_datetime};
use super::*;
use crate::faults::Faults;

const V: &str = "v62.0";

struct Harness {
    sim: SalesforceSim,
    http: reqwest::Client,
    token: String,
}

fn start_ms() -> i64 {
    parse_datetime("2026-01-15T10:00:00Z").unwrap()
}

fn config() -> SalesforceSimConfig {
    SalesforceSimConfig {
        start_ms: Some(start_ms()),
        ..SalesforceSimConfig::default()
    }
}

impl Harness {
    async fn start() -> Self {
        Self::with(config()).await
    }

    async fn with(config: SalesforceSimConfig) -> Self {
        let sim = SalesforceSim::start(config).await.unwrap();
        let http = reqwest::Client::new();
        let mut h = Self {
            sim,
            http,
            token: String::new(),
        };
        h.token = h.new_token().await;
        h
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> Response {
        self.http
            .post(self.sim.token_url())
            .form(form)
            .send()
            .await
            .unwrap()
    }

    async fn new_token(&self) -> String {
        let c = self.sim.config();
        let resp = self
            .token_request(&[
                ("grant_type", "client_credentials"),
                ("client_id", &c.client_id),
                ("client_secret", &c.client_secret),
            ])
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    fn url(&self, path: &str) -> String {
        format!("{}/services/data/{V}/{path}", self.sim.base_url())
    }

    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header(AUTHORIZATION, format!("Bearer {}", self.token))
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut req = self.req(method, path);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        let resp = self.send(Method::GET, path, None).await;
        assert_eq!(resp.status(), StatusCode::OK, "GET {path}");
        resp.json().await.unwrap()
    }

    async fn create(&self, object: &str, body: Value) -> String {
        let resp = self
            .send(Method::POST, &format!("sobjects/{object}"), Some(body))
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let body: Value = resp.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    async fn query(&self, q: &str) -> Response {
        self.req(Method::GET, "query")
            .query(&[("q", q)])
            .send()
            .await
            .unwrap()
    }

    async fn control(&self, path: &str, body: Value) -> Response {
        self.http
            .post(format!("{}/_sim/{path}", self.sim.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

/// Status and the error array's first entry.
async fn error(resp: Response) -> (StatusCode, Value) {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert!(body.is_array(), "errors are an array: {body}");
    (status, body[0].clone())
}

fn is_sf_datetime(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 28 && s.ends_with(".000+0000") && parse_datetime(s).is_some())
}

// --- OAuth ---

#[tokio::test]
async fn client_credentials_token_has_the_documented_fields_only() {
    let h = Harness::start().await;
    let resp = h
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", "sim-consumer-key"),
            ("client_secret", "sim-consumer-secret"),
        ])
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("sforce-limit-info").is_none());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["instance_url"], h.sim.base_url());
    assert_eq!(body["scope"], "api");
    assert!(body.get("expires_in").is_none());
    assert!(body.get("refresh_token").is_none());
    let token = body["access_token"].as_str().unwrap();
    assert!(token.starts_with(&h.sim.org_id()[..15]) && token[15..].starts_with("!AR"));
    let issued_at = body["issued_at"].as_str().unwrap();
    let issued: i64 = issued_at.parse().unwrap();
    assert!((issued - start_ms()).abs() < 60_000, "{issued}");
    let id = body["id"].as_str().unwrap();
    assert_eq!(
        id,
        format!(
            "{}/id/{}/{}",
            h.sim.base_url(),
            h.sim.org_id(),
            h.sim.user_id()
        )
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(b"sim-consumer-secret").unwrap();
    mac.update(format!("{id}{issued_at}").as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(body["signature"], expected);
}

#[tokio::test]
async fn http_basic_client_auth_is_accepted() {
    let h = Harness::start().await;
    let resp = h
        .http
        .post(h.sim.token_url())
        .basic_auth("sim-consumer-key", Some("sim-consumer-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn token_errors_follow_the_oauth_format_and_are_counted() {
    let h = Harness::start().await;
    let cases = [
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "sim-consumer-key"),
                ("client_secret", "wrong"),
            ],
            "invalid_client",
            "invalid client credentials",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
                ("client_secret", "sim-consumer-secret"),
            ],
            "invalid_client_id",
            "client identifier invalid",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", "sim-consumer-key"),
            ],
            "unsupported_grant_type",
            "grant type not supported",
        ),
    ];
    for (form, error, description) in cases {
        let resp = h.token_request(&form).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            body,
            json!({"error": error, "error_description": description})
        );
    }
    let stats = h.sim.stats();
    assert_eq!(
        stats.token_requests, 4,
        "one from the harness, three refused"
    );
    assert_eq!(stats.token_failures, 3);
    assert_eq!(stats.tokens_issued, 1);
}

#[tokio::test]
async fn a_missing_unknown_or_expired_token_gets_invalid_session_id() {
    let h = Harness::start().await;
    let expected =
        json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]);
    let none = h.http.get(h.url("limits")).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(none.json::<Value>().await.unwrap(), expected);
    let unknown = h
        .http
        .get(h.url("limits"))
        .bearer_auth("00Dbogus!ARxyz")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(
        h.send(Method::GET, "limits", None).await.status(),
        StatusCode::OK
    );
    h.sim.advance_clock(2 * 3600 - 5);
    assert_eq!(
        h.send(Method::GET, "limits", None).await.status(),
        StatusCode::OK
    );
    h.sim.advance_clock(10);
    let expired = h.send(Method::GET, "limits", None).await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(expired.json::<Value>().await.unwrap(), expected);
    assert_eq!(h.sim.stats().auth_failures, 3);
}

#[tokio::test]
async fn session_timeout_is_configurable_and_the_clock_advances_over_http() {
    let h = Harness::with(SalesforceSimConfig {
        session_timeout: std::time::Duration::from_secs(60),
        ..config()
    })
    .await;
    let resp = h.control("clock/advance", json!({"secs": 61})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        h.send(Method::GET, "limits", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn revoked_tokens_and_a_rotated_secret() {
    let mut h = Harness::start().await;
    assert_eq!(
        h.control("tokens/revoke", json!({})).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.send(Method::GET, "limits", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    h.token = h.new_token().await;
    assert_eq!(
        h.send(Method::GET, "limits", None).await.status(),
        StatusCode::OK
    );
    h.control("client-secret", json!({"secret": "rotated"}))
        .await;
    let resp = h
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", "sim-consumer-key"),
            ("client_secret", "sim-consumer-secret"),
        ])
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    // Tokens issued before the rotation stay valid.
    assert_eq!(
        h.send(Method::GET, "limits", None).await.status(),
        StatusCode::OK
    );
    let resp = h
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", "sim-consumer-key"),
            ("client_secret", "rotated"),
        ])
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
}

// --- Versions and limits ---

#[tokio::test]
async fn versions_are_listed_without_auth_or_limit_header() {
    let h = Harness::with(SalesforceSimConfig {
        api_versions: vec!["45.0".into(), "62.0".into()],
        ..config()
    })
    .await;
    let resp = h
        .http
        .get(format!("{}/services/data/", h.sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("sforce-limit-info").is_none());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!([{"label": "Spring '19", "url": "/services/data/v45.0", "version": "45.0"},
               {"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"}])
    );
    let unknown = h
        .http
        .get(format!("{}/services/data/v30.0/limits", h.sim.base_url()))
        .bearer_auth(&h.token)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(h.sim.api_usage(), 0);
}

#[tokio::test]
async fn every_rest_response_reports_usage_and_the_limit_is_a_403() {
    let h = Harness::with(SalesforceSimConfig {
        daily_api_limit: 3,
        ..config()
    })
    .await;
    for used in 1..=3 {
        let resp = h.send(Method::GET, "limits", None).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()["sforce-limit-info"],
            format!("api-usage={used}/3").as_str()
        );
    }
    let refused = h
        .send(Method::GET, "sobjects/Account/001000000000000", None)
        .await;
    assert_eq!(refused.headers()["sforce-limit-info"], "api-usage=3/3");
    let (status, e) = error(refused).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(e["errorCode"], "REQUEST_LIMIT_EXCEEDED");
    assert_eq!(h.sim.stats().limit_refusals, 1);
    // The limit is over a rolling 24 hours.
    h.sim.advance_clock(24 * 3600);
    let mut h = h;
    h.token = h.new_token().await;
    let resp = h.send(Method::GET, "limits", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["sforce-limit-info"], "api-usage=1/3");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["DailyApiRequests"], json!({"Max": 3, "Remaining": 2}));
}

// --- sObjects ---

#[tokio::test]
async fn create_and_retrieve_an_account() {
    let h = Harness::start().await;
    let resp = h
        .send(
            Method::POST,
            "sobjects/Account/",
            Some(json!({"Name": "Acme", "Stripe_Customer_Id__c": "cus_1"})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let location = resp.headers()[LOCATION].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(body, json!({"id": id, "success": true, "errors": []}));
    assert_eq!(id.len(), 18);
    assert!(id.starts_with("001"));
    assert_eq!(
        location,
        format!("/services/data/{V}/sobjects/Account/{id}")
    );

    let rec = h.get(&format!("sobjects/Account/{id}")).await;
    assert_eq!(
        rec["attributes"],
        json!({"type": "Account", "url": location})
    );
    assert_eq!(rec["Id"], id.as_str());
    assert_eq!(rec["Name"], "Acme");
    assert_eq!(rec["Phone"], Value::Null);
    assert_eq!(rec["CreatedDate"], "2026-01-15T10:00:00.000+0000");
    for f in ["CreatedDate", "LastModifiedDate", "SystemModstamp"] {
        assert!(is_sf_datetime(&rec[f]), "{f}: {}", rec[f]);
    }
    let some = h
        .get(&format!(
            "sobjects/Account/{id}?fields=Name,stripe_customer_id__c"
        ))
        .await;
    let keys: Vec<&String> = some.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3, "{some}");
    assert_eq!(some["Stripe_Customer_Id__c"], "cus_1");
    // A 15-character id names the same record.
    let short = h.get(&format!("sobjects/Account/{}", &id[..15])).await;
    assert_eq!(short["Id"], id.as_str());
    assert_eq!(h.sim.stats().creates, 1);
}

#[tokio::test]
async fn update_is_204_and_moves_the_modstamp() {
    let h = Harness::start().await;
    let id = h.create("Account", json!({"Name": "Acme"})).await;
    h.sim.advance_clock(90);
    let resp = h
        .send(
            Method::PATCH,
            &format!("sobjects/Account/{id}"),
            Some(json!({"Phone": "555"})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(resp.bytes().await.unwrap().is_empty());
    let rec = h.get(&format!("sobjects/Account/{id}")).await;
    assert_eq!(rec["Phone"], "555");
    assert_eq!(rec["Name"], "Acme");
    assert_eq!(rec["CreatedDate"], "2026-01-15T10:00:00.000+0000");
    assert_eq!(rec["SystemModstamp"], "2026-01-15T10:01:30.000+0000");
    let (status, e) = error(
        h.send(
            Method::PATCH,
            &format!("sobjects/Account/{id}"),
            Some(json!({"Id": id, "Phone": "1"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        e,
        json!({"message": "The Id field should not be specified in the sobject data.", "errorCode": "INVALID_FIELD"})
    );
}

#[tokio::test]
async fn delete_then_not_found_and_entity_is_deleted() {
    let h = Harness::start().await;
    let id = h.create("Account", json!({"Name": "Acme"})).await;
    let path = format!("sobjects/Account/{id}");
    assert_eq!(
        h.send(Method::DELETE, &path, None).await.status(),
        StatusCode::NO_CONTENT
    );
    let (status, e) = error(h.send(Method::GET, &path, None).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        e,
        json!({"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"})
    );
    let (status, e) = error(h.send(Method::DELETE, &path, None).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(e["errorCode"], "ENTITY_IS_DELETED");
    assert!(h.sim.records("Account").is_empty());
    assert_eq!(h.sim.record_by_id(&id).unwrap()["IsDeleted"], true);
}

#[tokio::test]
async fn ids_of_another_object_or_no_id_at_all() {
    let h = Harness::start().await;
    let contact = h.create("Contact", json!({"LastName": "Ng"})).await;
    let (status, e) = error(
        h.send(Method::GET, &format!("sobjects/Account/{contact}"), None)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["errorCode"], "MALFORMED_ID");
    assert_eq!(e["fields"], json!(["Id"]));
    assert_eq!(
        e["message"],
        format!("Account ID: id value of incorrect type: {contact}")
    );
    let (status, e) = error(h.send(Method::GET, "sobjects/Account/nope", None).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(e["errorCode"], "NOT_FOUND");
    let (status, _) = error(h.send(Method::GET, "sobjects/Nope__c/x", None).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn field_checks_answer_the_documented_codes() {
    let h = Harness::start().await;
    let cases = [
        (
            json!({"Phone": "1"}),
            json!({"message": "Required fields are missing: [Name]", "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["Name"]}),
        ),
        (
            json!({"Name": "A", "Nope__c": 1}),
            json!({"message": "No such column 'Nope__c' on sobject of type Account", "errorCode": "INVALID_FIELD"}),
        ),
        (
            json!({"Name": "A", "BillingCity": "x".repeat(41)}),
            json!({"message": format!("Billing City: data value too large: {} (max length=40)", "x".repeat(41)),
                   "errorCode": "STRING_TOO_LONG", "fields": ["BillingCity"]}),
        ),
        (
            json!({"Name": "A", "Payment_Status__c": "Late"}),
            json!({"message": "Payment Status: bad value for restricted picklist field: Late",
                   "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "fields": ["Payment_Status__c"]}),
        ),
        (
            json!({"Name": "A", "Billing_Email__c": "not-an-email"}),
            json!({"message": "Billing Email: invalid email address: not-an-email",
                   "errorCode": "INVALID_EMAIL_ADDRESS", "fields": ["Billing_Email__c"]}),
        ),
        (
            json!({"Name": "A", "CreatedDate": "2020-01-01T00:00:00Z"}),
            json!({"message": "Unable to create/update fields: CreatedDate. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                   "errorCode": "INVALID_FIELD_FOR_INSERT_UPDATE", "fields": ["CreatedDate"]}),
        ),
    ];
    for (body, expected) in cases {
        let (status, e) = error(h.send(Method::POST, "sobjects/Account", Some(body)).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(e, expected);
    }
    let (_, e) = error(
        h.send(Method::POST, "sobjects/Account", Some(json!({"Name": 5})))
            .await,
    )
    .await;
    assert_eq!(e["errorCode"], "JSON_PARSER_ERROR");
    let broken = h
        .req(Method::POST, "sobjects/Account")
        .header(CONTENT_TYPE, "application/json")
        .body("{\"Name\": ")
        .send()
        .await
        .unwrap();
    let (status, e) = error(broken).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["errorCode"], "JSON_PARSER_ERROR");
    let xml = h
        .req(Method::POST, "sobjects/Account")
        .header(CONTENT_TYPE, "text/plain")
        .body("Name=A")
        .send()
        .await
        .unwrap();
    assert_eq!(xml.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // An auto-number Name is Salesforce's to set.
    let account = h.create("Account", json!({"Name": "A"})).await;
    let (_, e) = error(
        h.send(
            Method::POST,
            "sobjects/Subscription__c",
            Some(json!({"Name": "mine", "Account__c": account})),
        )
        .await,
    )
    .await;
    assert_eq!(e["errorCode"], "INVALID_FIELD_FOR_INSERT_UPDATE");
    assert_eq!(h.sim.stats().writes, 1);
}

#[tokio::test]
async fn unique_fields_refuse_duplicates_case_insensitively() {
    let h = Harness::start().await;
    let first = h
        .create(
            "Account",
            json!({"Name": "A", "Stripe_Customer_Id__c": "cus_ABC"}),
        )
        .await;
    let (status, e) = error(
        h.send(
            Method::POST,
            "sobjects/Account",
            Some(json!({"Name": "B", "Stripe_Customer_Id__c": "cus_abc"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["errorCode"], "DUPLICATE_VALUE");
    assert_eq!(
        e["message"],
        format!(
            "duplicate value found: Stripe_Customer_Id__c duplicates value on record with id: {first}"
        )
    );
}

#[tokio::test]
async fn validation_rules_fail_with_their_message_and_location() {
    let h = Harness::start().await;
    h.sim.add_validation_rule(ValidationRule {
        object: "Account".into(),
        name: "Balance_Not_Negative".into(),
        error_message: "Balance cannot be negative".into(),
        error_field: Some("Balance__c".into()),
        when: Condition::LessThan {
            field: "Balance__c".into(),
            value: 0.0,
        },
    });
    let resp = h
        .control(
            "validation-rules",
            json!({"object": "Account", "name": "No_Delinquent_Without_Email", "error_message": "Delinquent accounts need a billing email",
                   "when": {"op": "all", "of": [{"op": "equals", "field": "Delinquent__c", "value": true},
                                                 {"op": "blank", "field": "Billing_Email__c"}]}}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = h
        .send(
            Method::POST,
            "sobjects/Account",
            Some(json!({"Name": "A", "Balance__c": -5, "Delinquent__c": true})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!([{"message": "Balance cannot be negative", "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "fields": ["Balance__c"]},
               {"message": "Delinquent accounts need a billing email", "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "fields": []}])
    );
    h.create("Account", json!({"Name": "A", "Balance__c": 5}))
        .await;
}

#[tokio::test]
async fn lookups_by_id_and_by_the_parent_external_id() {
    let h = Harness::start().await;
    let account = h
        .create(
            "Account",
            json!({"Name": "A", "Stripe_Customer_Id__c": "cus_1"}),
        )
        .await;
    let sub = h
        .create(
            "Subscription__c",
            json!({"Account__r": {"Stripe_Customer_Id__c": "cus_1"}, "Status__c": "active",
                   "Current_Period_End__c": "2026-02-15T10:00:00Z"}),
        )
        .await;
    assert!(sub.starts_with("a0X"));
    let rec = h.get(&format!("sobjects/Subscription__c/{sub}")).await;
    assert_eq!(rec["Account__c"], account.as_str());
    assert_eq!(rec["Name"], "SUB-000001");
    assert_eq!(rec["Current_Period_End__c"], "2026-02-15T10:00:00.000+0000");
    let (_, e) = error(
        h.send(
            Method::POST,
            "sobjects/Subscription__c",
            Some(json!({"Account__r": {"Stripe_Customer_Id__c": "cus_2"}})),
        )
        .await,
    )
    .await;
    assert_eq!(
        e,
        json!({"message": "Foreign key external ID: cus_2 not found for field Stripe_Customer_Id__c in entity Account", "errorCode": "INVALID_FIELD"})
    );
    let (_, e) = error(
        h.send(
            Method::POST,
            "sobjects/Subscription__c",
            Some(json!({"Account__c": sub})),
        )
        .await,
    )
    .await;
    assert_eq!(e["errorCode"], "MALFORMED_ID");
}

#[tokio::test]
async fn a_locked_record_refuses_the_next_writes() {
    let h = Harness::start().await;
    let id = h.create("Account", json!({"Name": "A"})).await;
    h.control("lock", json!({"id": id, "writes": 2})).await;
    let path = format!("sobjects/Account/{id}");
    for _ in 0..2 {
        let resp = h
            .send(Method::PATCH, &path, Some(json!({"Phone": "1"})))
            .await;
        let (status, e) = error(resp).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            e,
            json!({"message": format!("unable to obtain exclusive access to this record or 1 records: {id}"),
                   "errorCode": "UNABLE_TO_LOCK_ROW", "fields": []})
        );
    }
    assert_eq!(
        h.send(Method::PATCH, &path, Some(json!({"Phone": "1"})))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(h.sim.stats().lock_refusals, 2);
}

// --- Upsert by external id ---

#[tokio::test]
async fn upsert_creates_201_then_updates_200() {
    let h = Harness::start().await;
    let path = "sobjects/Account/Stripe_Customer_Id__c/cus_9";
    let resp = h
        .send(Method::PATCH, path, Some(json!({"Name": "Nine"})))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = resp.json().await.unwrap();
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        body,
        json!({"id": id, "success": true, "errors": [], "created": true})
    );
    let resp = h
        .send(Method::PATCH, path, Some(json!({"Name": "Nine v2"})))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"id": id, "success": true, "errors": [], "created": false})
    );
    let rec = h
        .sim
        .record("Account", "Stripe_Customer_Id__c", "cus_9")
        .unwrap();
    assert_eq!(rec["Name"], "Nine v2");
    assert_eq!(h.sim.records("Account").len(), 1);
    let got = h.get(path).await;
    assert_eq!(got["Id"], id.as_str());
}

#[tokio::test]
async fn upsert_update_is_204_before_api_46() {
    let h = Harness::with(SalesforceSimConfig {
        api_versions: vec!["45.0".into()],
        ..config()
    })
    .await;
    let url = format!(
        "{}/services/data/v45.0/sobjects/Account/Stripe_Customer_Id__c/cus_9",
        h.sim.base_url()
    );
    let send = || {
        h.http
            .patch(&url)
            .bearer_auth(&h.token)
            .json(&json!({"Name": "Nine"}))
            .send()
    };
    let created = send().await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let body: Value = created.json().await.unwrap();
    assert!(body.get("created").is_none(), "{body}");
    let updated = send().await.unwrap();
    assert_eq!(updated.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn upsert_refusals_and_several_matches() {
    let h = Harness::start().await;
    for name in ["A", "B"] {
        h.sim
            .seed_record(
                "Account",
                json!({"Name": name, "NetSuite_Customer_Id__c": "ns-1"}),
            )
            .unwrap();
    }
    let resp = h
        .send(
            Method::PATCH,
            "sobjects/Account/NetSuite_Customer_Id__c/ns-1",
            Some(json!({"Name": "C"})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::MULTIPLE_CHOICES);
    let urls: Vec<String> = resp.json().await.unwrap();
    assert_eq!(urls.len(), 2);
    assert!(urls[0].starts_with(&format!("/services/data/{V}/sobjects/Account/001")));
    assert_eq!(
        h.send(
            Method::GET,
            "sobjects/Account/NetSuite_Customer_Id__c/ns-1",
            None
        )
        .await
        .status(),
        StatusCode::MULTIPLE_CHOICES
    );
    assert_eq!(h.sim.stats().writes, 0);

    let (status, e) = error(
        h.send(
            Method::PATCH,
            "sobjects/Account/Name/Acme",
            Some(json!({"Phone": "1"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(e["errorCode"], "NOT_FOUND");

    let (status, _) = error(
        h.send(
            Method::PATCH,
            "sobjects/Account/Stripe_Customer_Id__c/cus_new?updateOnly=true",
            Some(json!({"Name": "X"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    for body in [
        json!({"Name": "X", "Stripe_Customer_Id__c": "cus_new"}),
        json!({"Name": "X", "Id": "001000000000000AAA"}),
    ] {
        let (status, e) = error(
            h.send(
                Method::PATCH,
                "sobjects/Account/Stripe_Customer_Id__c/cus_new",
                Some(body),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(e["errorCode"], "INVALID_FIELD");
    }
    assert!(
        h.sim
            .record("Account", "Stripe_Customer_Id__c", "cus_new")
            .is_none()
    );
}

// --- sObject Collections ---

#[tokio::test]
async fn collection_create_reports_each_record_in_order() {
    let h = Harness::start().await;
    let resp = h
        .send(
            Method::POST,
            "composite/sobjects",
            Some(json!({"allOrNone": false, "records": [
                {"attributes": {"type": "Account"}, "Name": "A"},
                {"attributes": {"type": "Account"}, "Phone": "1"},
                {"attributes": {"type": "Contact"}, "LastName": "Ng"},
            ]})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body[0]["success"], true);
    assert!(body[0]["id"].as_str().unwrap().starts_with("001"));
    assert_eq!(
        body[1],
        json!({"id": null, "success": false, "errors": [
            {"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [Name]", "fields": ["Name"]}]})
    );
    assert!(body[2]["id"].as_str().unwrap().starts_with("003"));
    assert_eq!(h.sim.stats().creates, 2);
}

#[tokio::test]
async fn collection_all_or_none_rolls_everything_back() {
    let h = Harness::start().await;
    let existing = h.create("Account", json!({"Name": "Old"})).await;
    let resp = h
        .send(
            Method::PATCH,
            "composite/sobjects",
            Some(json!({"allOrNone": true, "records": [
                {"attributes": {"type": "Account"}, "id": existing, "Name": "New"},
                {"attributes": {"type": "Account"}, "id": existing, "Payment_Status__c": "Bogus"},
                {"attributes": {"type": "Account"}, "Name": "no id"},
            ]})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body[0]["errors"],
        json!([{"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
                "fields": []}])
    );
    assert_eq!(
        body[1]["errors"][0]["statusCode"],
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    );
    assert_eq!(body[2]["errors"][0]["statusCode"], "MISSING_ARGUMENT");
    assert_eq!(h.sim.record_by_id(&existing).unwrap()["Name"], "Old");
    assert_eq!(h.sim.stats().updates, 0);

    let resp = h
        .send(
            Method::POST,
            "composite/sobjects",
            Some(json!({"allOrNone": true, "records": [
                {"attributes": {"type": "Account"}, "Name": "A"},
                {"attributes": {"type": "Account"}},
            ]})),
        )
        .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body[0]["id"], Value::Null);
    assert_eq!(h.sim.records("Account").len(), 1);
}

#[tokio::test]
async fn collection_upsert_delete_and_retrieve() {
    let h = Harness::start().await;
    let records = |name: &str| {
        json!({"allOrNone": false, "records": [
            {"attributes": {"type": "Account"}, "Stripe_Customer_Id__c": "cus_1", "Name": name},
            {"attributes": {"type": "Account"}, "Stripe_Customer_Id__c": "cus_2", "Name": name},
        ]})
    };
    let path = "composite/sobjects/Account/Stripe_Customer_Id__c";
    let first: Value = h
        .send(Method::PATCH, path, Some(records("one")))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first[0]["created"], true);
    assert_eq!(first[1]["created"], true);
    let again = h.send(Method::PATCH, path, Some(records("two"))).await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again[0]["created"], false);
    assert_eq!(again[0]["id"], first[0]["id"]);
    assert_eq!(h.sim.records("Account").len(), 2);

    let (a, b) = (
        first[0]["id"].as_str().unwrap(),
        first[1]["id"].as_str().unwrap(),
    );
    let got: Value = h
        .get(&format!(
            "composite/sobjects/Account?ids={a},001000000000000AAA&fields=Name"
        ))
        .await;
    assert_eq!(got[0]["Name"], "two");
    assert_eq!(got[1], Value::Null);

    let resp = h
        .send(
            Method::DELETE,
            &format!("composite/sobjects?ids={a},{b}&allOrNone=false"),
            None,
        )
        .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body[0], json!({"id": a, "success": true, "errors": []}));
    assert!(h.sim.records("Account").is_empty());

    let many: Vec<Value> = (0..201)
        .map(|i| json!({"attributes": {"type": "Account"}, "Name": format!("n{i}")}))
        .collect();
    let (status, e) = error(
        h.send(
            Method::POST,
            "composite/sobjects",
            Some(json!({"records": many})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["errorCode"], "EXCEEDED_ID_LIMIT");
}

// --- SOQL ---

#[tokio::test]
async fn soql_filters_and_refuses_what_it_cannot_parse() {
    let h = Harness::start().await;
    for (name, status) in [("A", "Current"), ("B", "Past Due"), ("C", "Current")] {
        h.create(
            "Account",
            json!({"Name": name, "Payment_Status__c": status}),
        )
        .await;
    }
    let body: Value = h
        .query(
            "SELECT Id, Name FROM Account WHERE Payment_Status__c = 'current' ORDER BY Name DESC",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["totalSize"], 2);
    assert_eq!(body["done"], true);
    assert!(body.get("nextRecordsUrl").is_none());
    assert_eq!(body["records"][0]["Name"], "C");
    assert_eq!(body["records"][0]["attributes"]["type"], "Account");
    let body: Value = h
        .query("select name from account where name in ('A', 'B') limit 1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["totalSize"], 1);
    assert_eq!(body["records"][0]["Name"], "A");

    for (q, code) in [
        ("SELECT Id FROM Account WHRE Name = 'A'", "MALFORMED_QUERY"),
        ("SELECT COUNT() FROM Account", "MALFORMED_QUERY"),
        (
            "SELECT Id FROM Account WHERE Name = 'A' AND Phone = '1' OR Name = 'B'",
            "MALFORMED_QUERY",
        ),
        ("SELECT Nope__c FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Nope__c", "INVALID_TYPE"),
        (
            "SELECT Id FROM Account WHERE SystemModstamp > '2026-01-01T00:00:00Z'",
            "INVALID_QUERY_FILTER_OPERATOR",
        ),
    ] {
        let (status, e) = error(h.query(q).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(e["errorCode"], code, "{q}: {e}");
    }
    let (_, e) = error(h.query("SELECT Id FROM Account WHRE Name = 'A'").await).await;
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("ERROR at Row:1:Column:24"),
        "{e}"
    );
}

#[tokio::test]
async fn soql_pages_with_next_records_url() {
    let h = Harness::start().await;
    for i in 0..450 {
        h.sim
            .seed_record("Account", json!({"Name": format!("a{i:03}")}))
            .unwrap();
    }
    let mut resp = h
        .req(Method::GET, "query")
        .header("Sforce-Query-Options", "batchSize=200")
        .query(&[("q", "SELECT Id, Name FROM Account ORDER BY Name")])
        .send()
        .await
        .unwrap();
    let mut names = Vec::new();
    let mut pages = 0;
    loop {
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().await.unwrap();
        pages += 1;
        assert_eq!(body["totalSize"], 450);
        names.extend(
            body["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["Name"].as_str().unwrap().to_owned()),
        );
        let Some(next) = body["nextRecordsUrl"].as_str() else {
            assert_eq!(body["done"], true);
            break;
        };
        assert_eq!(body["done"], false);
        let (prefix, offset) = next.rsplit_once('-').unwrap();
        assert!(
            prefix.starts_with(&format!("/services/data/{V}/query/01g")),
            "{next}"
        );
        assert_eq!(offset.parse::<usize>().unwrap(), names.len());
        resp = h
            .http
            .get(format!("{}{next}", h.sim.base_url()))
            .bearer_auth(&h.token)
            .send()
            .await
            .unwrap();
    }
    assert_eq!(pages, 3);
    assert_eq!(names.len(), 450);
    assert!(names.windows(2).all(|w| w[0] < w[1]));
    // Below the documented minimum the batch size is 200; the default is 2000.
    let tiny: Value = h
        .req(Method::GET, "query")
        .header("Sforce-Query-Options", "batchSize=5")
        .query(&[("q", "SELECT Id FROM Account")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tiny["records"].as_array().unwrap().len(), 200);
    let all: Value = h
        .query("SELECT Id FROM Account")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["records"].as_array().unwrap().len(), 450);
    let (status, e) = error(
        h.send(Method::GET, "query/01gXXXXXXXXXXXXXXX-200", None)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["errorCode"], "INVALID_QUERY_LOCATOR");
}

#[tokio::test]
async fn soql_reads_changes_since_a_system_modstamp() {
    let h = Harness::start().await;
    let old = h.create("Account", json!({"Name": "old"})).await;
    h.sim.advance_clock(60);
    let mark = format_datetime(h.sim.now_ms() - 1000);
    let new = h.create("Account", json!({"Name": "new"})).await;
    h.sim.advance_clock(60);
    h.send(
        Method::PATCH,
        &format!("sobjects/Account/{old}"),
        Some(json!({"Phone": "1"})),
    )
    .await;
    let q = format!(
        "SELECT Id, SystemModstamp FROM Account WHERE SystemModstamp > {mark} ORDER BY SystemModstamp, Id LIMIT 10"
    );
    let body: Value = h.query(&q).await.json().await.unwrap();
    let ids: Vec<&str> = body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![new.as_str(), old.as_str()]);
    // Keyset paging on (SystemModstamp, Id), the form a connector resumes with.
    let first = &body["records"][0];
    let q = format!(
        "SELECT Id FROM Account WHERE (SystemModstamp > {stamp}) OR (SystemModstamp = {stamp} AND Id > '{id}') ORDER BY SystemModstamp, Id",
        stamp = first["SystemModstamp"].as_str().unwrap(),
        id = first["Id"].as_str().unwrap()
    );
    let body: Value = h.query(&q).await.json().await.unwrap();
    assert_eq!(body["totalSize"], 1);
    assert_eq!(body["records"][0]["Id"], old.as_str());

    h.send(Method::DELETE, &format!("sobjects/Account/{new}"), None)
        .await;
    let live: Value = h
        .query("SELECT Id FROM Account")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(live["totalSize"], 1);
    let all: Value = h
        .req(Method::GET, "queryAll")
        .query(&[(
            "q",
            "SELECT Id, IsDeleted FROM Account WHERE IsDeleted = true",
        )])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["totalSize"], 1);
    assert_eq!(all["records"][0]["Id"], new.as_str());
}

// --- Faults ---

#[tokio::test]
async fn shared_faults_apply_before_anything() {
    let h = Harness::start().await;
    h.sim.faults().set(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let (status, e) = error(h.send(Method::GET, "limits", None).await).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(e["errorCode"], "UNKNOWN_EXCEPTION");
    h.sim.faults().set(Faults {
        rate_limit_rate: 1.0,
        retry_after_s: 7,
        ..Faults::default()
    });
    let resp = h.send(Method::GET, "limits", None).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()[RETRY_AFTER], "7");
    let resp = h
        .http
        .put(format!("{}/_sim/faults", h.sim.base_url()))
        .json(&json!({"outage": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        h.send(Method::GET, "limits", None).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Refused at the edge: nothing counted toward the org's limit.
    assert_eq!(h.sim.api_usage(), 0);
    assert_eq!(h.sim.stats().faults_injected, 3);
    h.sim.faults().set(Faults::default());
    assert_eq!(
        h.send(Method::GET, "limits", None).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn silent_drop_and_error_after_write() {
    let h = Harness::start().await;
    h.sim.faults().set(Faults {
        silent_drop_rate: 1.0,
        ..Faults::default()
    });
    let resp = h
        .send(
            Method::PATCH,
            "sobjects/Account/Stripe_Customer_Id__c/cus_1",
            Some(json!({"Name": "A"})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert!(h.sim.records("Account").is_empty());
    assert_eq!(h.sim.stats().silent_drops, 1);

    h.sim.faults().set(Faults {
        error_after_write_rate: 1.0,
        ..Faults::default()
    });
    let resp = h
        .send(
            Method::PATCH,
            "sobjects/Account/Stripe_Customer_Id__c/cus_1",
            Some(json!({"Name": "A"})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        h.sim
            .record("Account", "Stripe_Customer_Id__c", "cus_1")
            .is_some()
    );
    assert_eq!(h.sim.stats().errors_after_write, 1);
    h.sim.faults().set(Faults::default());
    // The retry is safe: the upsert finds the record the lost answer made.
    let resp = h
        .send(
            Method::PATCH,
            "sobjects/Account/Stripe_Customer_Id__c/cus_1",
            Some(json!({"Name": "A"})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(h.sim.records("Account").len(), 1);
}

// --- Inspection ---

#[tokio::test]
async fn control_api_shows_records_writes_and_stats() {
    let h = Harness::start().await;
    let id = h
        .create(
            "Account",
            json!({"Name": "A", "Stripe_Customer_Id__c": "cus_1"}),
        )
        .await;
    let base = h.sim.base_url();
    let rec: Value = h
        .http
        .get(format!(
            "{base}/_sim/records/Account/Stripe_Customer_Id__c/cus_1"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rec["Id"], id.as_str());
    let writes: Value = h
        .http
        .get(format!("{base}/_sim/writes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(writes["count"], 1);
    assert_eq!(writes["writes"][0]["action"], "create");
    let stats: Value = h
        .http
        .get(format!("{base}/_sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["records"]["Account"], 1);
    assert_eq!(stats["stats"]["token_requests"], 1);
    assert_eq!(stats["stats"]["writes"], 1);
    assert_eq!(stats["api_usage"], 1);
    assert_eq!(h.sim.applied_writes()[0].id, id);
}
