//! Salesforce connector against the Salesforce simulator, through the real host (the
//! `builtin:salesforce` component), authenticated as a pipeline would be: OAuth 2.0 client
//! credentials with `instance-url = true`, so the connector's `base-url` is the token's
//! `instance_url` and the connector never sees a token.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use junction::host::oauth2::{Grant, OAuth2, TokenSource};
use junction::host::{
    Auth, CallContext, CallError, Connector, EgressPolicy, InstanceSpec, Limits, Origin,
};
use junction::services::secret::Secret;
use junction_connector_kit::{Error as KitError, Operation, Outcome, Write};
use junction_tests::sim::salesforce::{
    Condition, SalesforceSim, SalesforceSimConfig, ValidationRule,
};
use serde_json::{Value, json};

use crate::support::host;

async fn start() -> SalesforceSim {
    SalesforceSim::start(SalesforceSimConfig::default())
        .await
        .expect("the Salesforce simulator starts")
}

/// The connector with the grants a pipeline gives it; `poll-lag-seconds = 0` because the
/// simulator's clock, not the host's, stamps records (the test moves it instead).
async fn connector(sim: &SalesforceSim) -> Connector {
    let host = host();
    let module = host
        .load("builtin:salesforce", None)
        .await
        .expect("the Salesforce connector loads");
    let config = sim.config().clone();
    let source = TokenSource::new(
        "salesforce",
        OAuth2 {
            token_url: sim.token_url(),
            grant: Grant::ClientSecret {
                client_id: Secret::new(config.client_id),
                client_secret: Secret::new(config.client_secret),
            },
            instance_url: true,
        },
    )
    .expect("token source");
    let spec = InstanceSpec {
        name: "salesforce".into(),
        settings: [("poll-lag-seconds", "0")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        secrets: BTreeMap::new(),
        egress: EgressPolicy {
            allow_hosts: vec!["127.0.0.1".into()],
            auth: Auth::OAuth2(Arc::new(source)),
            credential_origins: vec![Origin::of_url(sim.base_url()).expect("simulator URL")],
            timeout: Duration::from_secs(10),
        },
        limits: Limits::default(),
        ..InstanceSpec::default()
    };
    host.instantiate(module, spec)
}

fn customer(id: &str) -> Value {
    json!({"id": id, "email": format!("{id}@example.com"), "name": format!("Buyer {id}"),
           "phone": "+1 555 0100", "currency": "usd",
           "address": {"line1": "1 Main St", "line2": null, "city": "Springfield", "postal_code": "12345",
                       "state": null, "country": "US"},
           "created_at": null, "deleted": false, "metadata": {"tier": "gold"}})
}

fn subscription(id: &str, customer_id: &str, quantity: u64) -> Value {
    json!({"id": id, "customer_id": customer_id, "status": "active", "currency": "usd",
           "items": [{"id": "si_1", "price_id": "price_Team", "product_id": "prod_Team", "quantity": quantity,
                      "unit_amount": 2000, "currency": "usd", "interval": "month", "interval_count": 1}],
           "interval": "month", "current_period_start": "2026-01-01T09:30:00Z",
           "current_period_end": "2026-02-01T09:30:00Z", "next_billing_at": "2026-02-01T09:30:00Z",
           "cancel_at_period_end": false, "cancel_at": null, "canceled_at": null, "billing_stop_at": null,
           "started_at": "2026-01-01T09:30:00Z", "metadata": {}})
}

fn write(object: &str, document: &Value) -> Write {
    Write {
        object: object.into(),
        key: document["id"].as_str().expect("an id").into(),
        operation: Operation::Update,
        document: document.to_string(),
        effective_at: None,
        occurred_at: 1_767_225_600_000,
        idempotency_key: format!("idem-{}", document["id"]),
        correlation_id: "connector-test".into(),
    }
}

async fn apply(c: &Connector, object: &str, document: &Value) -> Result<Outcome, CallError> {
    c.apply(&CallContext::default(), write(object, document))
        .await
        .result
}

async fn fetch(c: &Connector, object: &str, key: &str) -> Option<Value> {
    c.fetch(&CallContext::default(), object, key)
        .await
        .result
        .unwrap_or_else(|e| panic!("fetch {object} {key}: {e}"))
        .map(|d| serde_json::from_str(&d).expect("JSON"))
}

async fn expected(c: &Connector, object: &str, document: &Value) -> Value {
    let text = c
        .expected(&CallContext::default(), write(object, document))
        .await
        .result
        .expect("expected");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn upserts_create_then_update_and_read_back_as_expected() {
    let sim = start().await;
    let c = connector(&sim).await;
    let cus = customer("cus_SfTest1");
    let Ok(Outcome::Applied(account_id)) = apply(&c, "customer", &cus).await else {
        panic!("the customer is applied");
    };
    assert!(account_id.starts_with("001"), "{account_id}");
    let mut sub = subscription("sub_SfTest1", "cus_SfTest1", 3);
    let Ok(Outcome::Applied(sub_id)) = apply(&c, "subscription", &sub).await else {
        panic!("the subscription is applied");
    };
    let writes = sim.applied_writes();
    assert_eq!(writes.len(), 2, "{writes:?}");

    // Updated in place: same record, one more write, no duplicate.
    sub["items"][0]["quantity"] = json!(5);
    sub["cancel_at_period_end"] = json!(true);
    assert_eq!(
        apply(&c, "subscription", &sub).await,
        Ok(Outcome::Applied(sub_id.clone()))
    );
    // The same write again (a retry under the same key) lands on the same record.
    assert_eq!(
        apply(&c, "subscription", &sub).await,
        Ok(Outcome::Applied(sub_id.clone()))
    );
    assert_eq!(sim.records("Subscription__c").len(), 1);
    assert_eq!(sim.records("Account").len(), 1);

    let record = sim
        .record(
            "Subscription__c",
            "Stripe_Subscription_Id__c",
            "sub_SfTest1",
        )
        .expect("Salesforce holds the subscription");
    assert_eq!(record["Account__c"], json!(account_id));
    assert_eq!(record["Quantity__c"], json!(5));
    assert_eq!(record["Amount__c"], json!(100.0));

    // Fetch after apply shows the document written, as Salesforce keeps it.
    let back = fetch(&c, "subscription", "sub_SfTest1").await.unwrap();
    assert_eq!(back, expected(&c, "subscription", &sub).await);
    assert_eq!(back["customer_id"], "cus_SfTest1");
    assert_eq!(back["items"][0]["quantity"], 5);
    assert_eq!(back["cancel_at_period_end"], true);
    let back = fetch(&c, "customer", "cus_SfTest1").await.unwrap();
    assert_eq!(back, expected(&c, "customer", &cus).await);
    assert_eq!(back["name"], "Buyer cus_SfTest1");
    assert_eq!(fetch(&c, "customer", "cus_Nobody").await, None);
}

#[tokio::test]
async fn a_subscription_before_its_account_is_not_found_and_passes_once_the_account_lands() {
    let sim = start().await;
    let c = connector(&sim).await;
    let sub = subscription("sub_Early", "cus_Late", 1);
    assert!(matches!(
        apply(&c, "subscription", &sub).await,
        Err(CallError::Connector(KitError::NotFound(_)))
    ));
    apply(&c, "customer", &customer("cus_Late")).await.unwrap();
    assert!(matches!(
        apply(&c, "subscription", &sub).await,
        Ok(Outcome::Applied(_))
    ));
}

#[tokio::test]
async fn list_pages_through_every_record_exactly_once() {
    let sim = start().await;
    let c = connector(&sim).await;
    for n in 0..230 {
        sim.seed_record(
            "Account",
            json!({"Name": format!("Seeded {n}"), "Stripe_Customer_Id__c": format!("cus_L{n:03}")}),
        )
        .unwrap();
    }
    // Made in Salesforce, from no source: not listed for reconciliation.
    sim.seed_record("Account", json!({"Name": "Local only"}))
        .unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = c
            .list(&CallContext::default(), "customer", cursor.as_deref(), 200)
            .await
            .result
            .expect("list");
        pages += 1;
        seen.extend(page.items.into_iter().map(|i| i.key));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 2, "230 records in batches of 200");
    assert_eq!(seen.len(), 230);
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), 230, "nothing listed twice");
}

#[tokio::test]
async fn poll_picks_up_changes_made_in_salesforce_once_each() {
    let sim = start().await;
    let c = connector(&sim).await;
    apply(&c, "customer", &customer("cus_P1")).await.unwrap();
    sim.seed_record("Account", json!({"Name": "Made in Salesforce"}))
        .unwrap();
    let poll = |cursor: Option<String>, limit: u32| {
        let c = c.clone();
        async move {
            c.poll(
                &CallContext::default(),
                "customer",
                cursor.as_deref(),
                limit,
            )
            .await
            .result
            .expect("poll")
        }
    };
    // Two records in one second, polled one at a time: each exactly once.
    let first = poll(None, 1).await;
    assert_eq!(first.changes.len(), 1);
    assert!(first.has_more);
    let second = poll(first.next_cursor.clone(), 1).await;
    assert_eq!(second.changes.len(), 1);
    let keys: Vec<&str> = first
        .changes
        .iter()
        .chain(&second.changes)
        .map(|c| c.key.as_str())
        .collect();
    assert!(keys.contains(&"cus_P1"), "{keys:?}");
    assert_eq!(first.changes[0].operation, Operation::Create);
    let empty = poll(second.next_cursor.clone(), 10).await;
    assert!(empty.changes.is_empty() && !empty.has_more);

    // Later, the customer is changed and another account made.
    sim.advance_clock(2);
    let mut cus = customer("cus_P1");
    cus["name"] = json!("Renamed");
    apply(&c, "customer", &cus).await.unwrap();
    sim.seed_record(
        "Account",
        json!({"Name": "New", "Stripe_Customer_Id__c": "cus_P2"}),
    )
    .unwrap();
    let next = poll(empty.next_cursor.clone(), 10).await;
    let got: Vec<(&str, Operation)> = next
        .changes
        .iter()
        .map(|c| (c.key.as_str(), c.operation))
        .collect();
    assert_eq!(
        got,
        [("cus_P1", Operation::Update), ("cus_P2", Operation::Create)]
    );
    let renamed: Value = serde_json::from_str(next.changes[0].after.as_deref().unwrap()).unwrap();
    assert_eq!(renamed["name"], "Renamed");
    assert!(poll(next.next_cursor.clone(), 10).await.changes.is_empty());
}

#[tokio::test]
async fn a_validation_rule_rejection_names_the_field() {
    let sim = start().await;
    let c = connector(&sim).await;
    sim.add_validation_rule(ValidationRule {
        object: "Account".into(),
        name: "Phone_Required".into(),
        error_message: "Accounts need a phone number".into(),
        error_field: Some("Phone".into()),
        when: Condition::Blank {
            field: "Phone".into(),
        },
    });
    let mut cus = customer("cus_NoPhone");
    cus["phone"] = Value::Null;
    match apply(&c, "customer", &cus).await {
        Err(CallError::Connector(KitError::Rejected { message, field })) => {
            assert_eq!(field.as_deref(), Some("Phone"));
            assert!(
                message.contains("FIELD_CUSTOM_VALIDATION_EXCEPTION")
                    && message.contains("Accounts need a phone number"),
                "{message}"
            );
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert!(sim.records("Account").is_empty());
}

#[tokio::test]
async fn a_locked_row_is_a_retryable_conflict() {
    let sim = start().await;
    let c = connector(&sim).await;
    let cus = customer("cus_Locked");
    let Ok(Outcome::Applied(id)) = apply(&c, "customer", &cus).await else {
        panic!("applied");
    };
    sim.lock_record(&id, 1);
    assert!(matches!(
        apply(&c, "customer", &cus).await,
        Err(CallError::Connector(KitError::Conflict(m))) if m.contains("UNABLE_TO_LOCK_ROW")
    ));
    // Tried again, it goes through.
    assert_eq!(apply(&c, "customer", &cus).await, Ok(Outcome::Applied(id)));
}

#[tokio::test]
async fn the_limit_header_makes_the_connector_back_off_before_the_org_runs_out() {
    let sim = start().await;
    let c = connector(&sim).await;
    apply(&c, "customer", &customer("cus_Budget"))
        .await
        .unwrap();
    // The org has almost nothing left: the next answer's Sforce-Limit-Info is past 90 %.
    sim.set_daily_api_limit(sim.api_usage() + 1);
    match c
        .fetch(&CallContext::default(), "customer", "cus_Budget")
        .await
        .result
    {
        Err(CallError::Connector(KitError::RateLimited(Some(ms)))) => {
            assert!((60_000..=3_600_000).contains(&ms), "{ms}");
        }
        other => panic!("expected rate-limited, got {other:?}"),
    }
    // Used up: Salesforce's own 403 REQUEST_LIMIT_EXCEEDED is rate-limited too.
    assert!(matches!(
        apply(&c, "customer", &customer("cus_Budget")).await,
        Err(CallError::Connector(KitError::RateLimited(Some(_))))
    ));
    assert!(sim.stats().limit_refusals >= 1);
}
