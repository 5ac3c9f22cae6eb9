//! Stripe connector against the Stripe simulator: every export through the real host (the
//! `builtin:stripe` component), `junction connector receive` with a webhook signed by
//! Stripe's own Node library, and events of one second delivered out of order.

mod cli;
mod ordering;
mod sink;
mod source;

use std::collections::BTreeMap;
use std::time::Duration;

use junction::host::{Auth, CallContext, Connector, EgressPolicy, InstanceSpec, Limits, Origin};
use junction::services::secret::Secret;
use junction_connector_kit::{ChangePage, Operation, Write};
use junction_tests::sim::stripe::{StripeSim, StripeSimConfig};
use serde_json::Value;

use crate::support::host;

const API_KEY: &str = "sk_test_junction";
const WEBHOOK_SECRET: &str = "whsec_connector_test_0123456789";

/// The Stripe connector granted what a pipeline grants it, pointed at `sim`.
async fn connector(sim: &StripeSim, api_key: &str) -> Connector {
    let host = host();
    let module = host
        .load("builtin:stripe", None)
        .await
        .expect("the Stripe connector loads");
    let spec = InstanceSpec {
        name: "stripe".into(),
        settings: BTreeMap::from([("base-url".to_owned(), sim.base_url())]),
        secrets: BTreeMap::from([("webhook".to_owned(), Secret::new(WEBHOOK_SECRET))]),
        egress: EgressPolicy {
            allow_hosts: vec!["127.0.0.1".into()],
            auth: Auth::Bearer(Secret::new(api_key)),
            credential_origins: vec![Origin::of_url(&sim.base_url()).expect("simulator URL")],
            timeout: Duration::from_secs(10),
        },
        limits: Limits::default(),
        ..InstanceSpec::default()
    };
    host.instantiate(module, spec)
}

async fn start(config: StripeSimConfig) -> StripeSim {
    StripeSim::start(config)
        .await
        .expect("the Stripe simulator starts")
}

/// A customer with one monthly 20.00 USD subscription of `quantity` units: (customer, subscription).
fn subscribed(sim: &StripeSim, quantity: u64) -> (String, String) {
    let customer = sim
        .create_customer("ada@example.com", "Ada Lovelace")
        .unwrap();
    let price = sim.create_price(2000, "usd", "month").unwrap();
    let sub = sim
        .create_subscription(&customer, &[(&price, quantity)])
        .unwrap();
    (customer, sub)
}

fn doc(text: &Option<String>) -> Value {
    serde_json::from_str(text.as_deref().expect("a document")).expect("the document is JSON")
}

async fn fetch(c: &Connector, object: &str, key: &str) -> Option<Value> {
    let found = c
        .fetch(&CallContext::default(), object, key)
        .await
        .result
        .unwrap_or_else(|e| panic!("fetch {object} {key}: {e}"));
    found.map(|d| serde_json::from_str(&d).expect("the document is JSON"))
}

async fn poll(c: &Connector, cursor: Option<&str>) -> ChangePage {
    c.poll(&CallContext::default(), "subscription", cursor, 100)
        .await
        .result
        .expect("poll")
}

fn update(key: &str, document: &Value, idempotency_key: &str) -> Write {
    Write {
        object: "subscription".into(),
        key: key.into(),
        operation: Operation::Update,
        document: document.to_string(),
        effective_at: None,
        occurred_at: 0,
        idempotency_key: idempotency_key.into(),
        correlation_id: "connector-test".into(),
    }
}
