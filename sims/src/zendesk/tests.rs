//! The simulator against its documentation: authentication, headers, idempotent creation,
//! cursor pagination, the rate limit, validation and faults.

use base64::Engine as _;
use serde_json::{Value, json};

use super::{ZendeskSim, ZendeskSimConfig};
use crate::faults::Faults;

struct Client {
    sim: ZendeskSim,
    http: reqwest::Client,
    auth: String,
}

async fn start(config: ZendeskSimConfig) -> Client {
    let sim = ZendeskSim::start(config).await.unwrap();
    let c = sim.config();
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}/token:{}", c.email, c.api_token))
    );
    Client {
        sim,
        http: reqwest::Client::new(),
        auth,
    }
}

impl Client {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .request(method, self.url(path))
            .header("authorization", &self.auth)
            .header("accept", "application/json");
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        req.send().await.unwrap()
    }

    async fn create(&self, ticket: Value, key: Option<&str>) -> reqwest::Response {
        self.send(
            reqwest::Method::POST,
            "/api/v2/tickets.json",
            Some(&json!({"ticket": ticket})),
            key,
        )
        .await
    }
}

fn ticket(ext: &str) -> Value {
    json!({"subject": "Payment failed", "comment": {"body": "It failed", "public": false},
           "external_id": ext, "priority": "high", "tags": ["Billing Junction"]})
}

#[tokio::test]
async fn wrong_token_is_401_and_accept_is_required() {
    let c = start(ZendeskSimConfig::default()).await;
    let r = c
        .http
        .get(c.url("/api/v2/tickets.json"))
        .header("accept", "application/json")
        .header("authorization", "Basic bm8vdG9rZW46bm8=")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .http
        .get(c.url("/api/v2/tickets.json"))
        .header("authorization", &c.auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
    assert_eq!(c.sim.stats().auth_failures, 1);
}

#[tokio::test]
async fn the_same_idempotency_key_creates_one_ticket_and_a_different_body_is_refused() {
    let c = start(ZendeskSimConfig::default()).await;
    let first = c.create(ticket("in_1"), Some("k1")).await;
    assert_eq!(first.status(), 201);
    assert_eq!(first.headers()["x-idempotency-lookup"], "miss");
    let first: Value = first.json().await.unwrap();
    let again = c.create(ticket("in_1"), Some("k1")).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["x-idempotency-lookup"], "hit");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["ticket"]["id"], again["ticket"]["id"]);
    assert_eq!(c.sim.tickets().len(), 1);

    let other = c.create(ticket("in_2"), Some("k1")).await;
    assert_eq!(other.status(), 400);
    let body: Value = other.json().await.unwrap();
    assert_eq!(body["error"], "IdempotentRequestError");

    // Two hours later the key is forgotten: the same request creates a second ticket.
    c.sim.advance_clock(2 * 60 * 60);
    assert_eq!(c.create(ticket("in_1"), Some("k1")).await.status(), 201);
    assert_eq!(c.sim.tickets_with_external_id("in_1").len(), 2);
}

#[tokio::test]
async fn tickets_keep_tags_lower_case_and_closed_tickets_do_not_change() {
    let c = start(ZendeskSimConfig::default()).await;
    let r: Value = c.create(ticket("in_1"), None).await.json().await.unwrap();
    assert_eq!(r["ticket"]["tags"], json!(["billing", "junction"]));
    assert_eq!(r["ticket"]["status"], "new");
    let id = r["ticket"]["id"].as_u64().unwrap();
    let bad = c.create(json!({"subject": "no comment"}), None).await;
    assert_eq!(bad.status(), 422);
    let bad = c
        .create(
            json!({"comment": {"body": "x"}, "priority": "critical"}),
            None,
        )
        .await;
    assert_eq!(bad.status(), 422);
    let bad = c
        .create(
            json!({"comment": {"body": "x"}, "custom_fields": [{"id": 1, "value": "v"}]}),
            None,
        )
        .await;
    assert_eq!(bad.status(), 422, "a field the account lacks");

    let put = |status: &str| json!({"ticket": {"status": status, "comment": {"body": "update", "public": false}}});
    let path = format!("/api/v2/tickets/{id}.json");
    let r = c
        .send(reqwest::Method::PUT, &path, Some(&put("solved")), None)
        .await;
    assert_eq!(r.status(), 200);
    assert!(c.sim.set_status(id, "closed"));
    let r = c
        .send(reqwest::Method::PUT, &path, Some(&put("open")), None)
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(c.sim.tickets()[0].comments.len(), 2);
}

#[tokio::test]
async fn cursor_pagination_walks_every_ticket_once() {
    let c = start(ZendeskSimConfig::default()).await;
    for i in 0..7 {
        assert_eq!(
            c.create(ticket(&format!("in_{i}")), None).await.status(),
            201
        );
    }
    let bad = c
        .send(
            reqwest::Method::GET,
            "/api/v2/tickets.json?page[size]=101",
            None,
            None,
        )
        .await;
    assert_eq!(bad.status(), 400);
    let mut seen = Vec::new();
    let mut path = "/api/v2/tickets.json?page[size]=3".to_string();
    loop {
        let page: Value = c
            .send(reqwest::Method::GET, &path, None, None)
            .await
            .json()
            .await
            .unwrap();
        for t in page["tickets"].as_array().unwrap() {
            seen.push(t["external_id"].as_str().unwrap().to_string());
        }
        if !page["meta"]["has_more"].as_bool().unwrap() {
            assert!(page["links"]["next"].is_null());
            break;
        }
        let cursor = page["meta"]["after_cursor"].as_str().unwrap();
        path = format!("/api/v2/tickets.json?page[size]=3&page[after]={cursor}");
    }
    assert_eq!(seen, (0..7).map(|i| format!("in_{i}")).collect::<Vec<_>>());
    let by_ext: Value = c
        .send(
            reqwest::Method::GET,
            "/api/v2/tickets.json?external_id=in_4",
            None,
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_ext["count"], 1);
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after_until_the_next_minute() {
    let c = start(ZendeskSimConfig {
        rate_limit_per_minute: 3,
        ..ZendeskSimConfig::default()
    })
    .await;
    // Start on a minute boundary of the simulator's clock, so the window is predictable.
    let now = c.sim.shared.clock.now();
    c.sim.advance_clock(60 - now.rem_euclid(60));
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = c
            .send(reqwest::Method::GET, "/api/v2/tickets.json", None, None)
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-rate-limit"], "3");
        remaining.push(
            r.headers()["x-rate-limit-remaining"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let r = c
        .send(reqwest::Method::GET, "/api/v2/tickets.json", None, None)
        .await;
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    c.sim.advance_clock(60);
    let r = c
        .send(reqwest::Method::GET, "/api/v2/tickets.json", None, None)
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn faults_answer_5xx_and_429_and_silent_drops_change_nothing() {
    let c = start(ZendeskSimConfig::default()).await;
    c.sim.faults().set(Faults {
        rate_limit_rate: 1.0,
        retry_after_s: 7,
        ..Faults::default()
    });
    let r = c
        .send(reqwest::Method::GET, "/api/v2/tickets.json", None, None)
        .await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    c.sim.faults().set(Faults {
        outage: true,
        ..Faults::default()
    });
    let r = c
        .send(reqwest::Method::GET, "/api/v2/tickets.json", None, None)
        .await;
    assert_eq!(r.status(), 503);
    c.sim.faults().set(Faults {
        silent_drop_rate: 1.0,
        ..Faults::default()
    });
    assert_eq!(c.create(ticket("in_1"), None).await.status(), 201);
    assert!(c.sim.tickets().is_empty());
    assert_eq!(c.sim.stats().silently_dropped, 1);
}
