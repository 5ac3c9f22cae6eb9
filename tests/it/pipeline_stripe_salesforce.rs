//! `pipelines/stripe-to-salesforce.toml` end to end, as shipped, against the Stripe and
//! Salesforce simulators: first in shadow mode (every change planned and compared with what the
//! target holds; nothing written to either system), then the same file switched to write mode on
//! the same store, where each system's fields reach the other, and a change Stripe makes to a
//! field Salesforce owns is overruled: the CRM's value wins, is written back to Stripe, and both
//! versions are in the audit trail.
//!
//! Time is real here: Stripe delivers webhooks and Junction polls Salesforce as they would; the
//! test waits for outcomes (never for a fixed time) with a deadline.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use junction::config;
use junction::pipeline::instances::HostCatalog;
use junction::pipeline::reconcile::{Quiet, RunOptions};
use junction::pipeline::{Engine, Options};
use junction::store::{AuditKind, DlqFilter, Store};
use junction_tests::sim::salesforce::{SalesforceSim, SalesforceSimConfig};
use junction_tests::sim::stripe::{StripeSim, StripeSimConfig, WebhookEndpoint};
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use crate::support::{TestStore, host};

const PIPELINE: &str = "stripe-to-salesforce";

fn pipeline_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/stripe-to-salesforce.toml")
}

/// `text` with `from` replaced, failing loudly when the shipped file no longer has it.
fn swap(text: String, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the pipeline no longer has `{from}`");
    text.replace(from, to)
}

struct Sims {
    stripe: StripeSim,
    salesforce: SalesforceSim,
    /// Where Junction listens (Stripe's webhook endpoint points here), bound until the first
    /// run takes it; later runs bind the same address again.
    listener: Option<tokio::net::TcpListener>,
    addr: std::net::SocketAddr,
}

/// Junction running the pipeline; stopped when dropped.
struct Running {
    engine: Arc<Engine>,
    shutdown: Arc<Notify>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    _workers: tokio::task::JoinSet<()>,
}

impl Running {
    /// Stops the workers and the listener, and waits until the port is free again.
    async fn stop(mut self) {
        self.shutdown.notify_waiters();
        self.server.abort();
        let _ = (&mut self.server).await;
    }
}

async fn sims() -> Sims {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://{addr}");
    let stripe = StripeSim::start(StripeSimConfig {
        webhook: Some(WebhookEndpoint {
            url: format!("{url}/hooks/stripe-crm"),
            secret: junction_tests::demo::WEBHOOK_SECRET.into(),
        }),
        webhook_retries: 8,
        ..StripeSimConfig::default()
    })
    .await
    .expect("stripe sim");
    let salesforce = SalesforceSim::start(SalesforceSimConfig::default())
        .await
        .expect("salesforce sim");
    Sims {
        stripe,
        salesforce,
        listener: Some(listener),
        addr,
    }
}

impl Sims {
    /// The shipped file pointed at the simulators, with test timings; `write` switches every
    /// route from shadow to write mode, as an operator going live would.
    fn pipeline(&self, write: bool) -> String {
        let text = std::fs::read_to_string(pipeline_path()).expect("the pipeline file");
        let mut text = swap(
            text,
            "base-url = \"https://api.stripe.com\"",
            &format!("base-url = \"{}\"", self.stripe.base_url()),
        );
        text = swap(
            text,
            "allow-hosts = [\"api.stripe.com\"]",
            "allow-hosts = [\"127.0.0.1\"]",
        );
        text = swap(
            text,
            "allow-hosts = [\"mydomain.my.salesforce.com\"]",
            "allow-hosts = [\"127.0.0.1\"]",
        );
        text = swap(
            text,
            "token-url = \"https://mydomain.my.salesforce.com/services/oauth2/token\"",
            &format!("token-url = \"{}\"", self.salesforce.token_url()),
        );
        text = swap(text, "poll = \"1m\"", "poll = \"1s\"");
        text = text
            .replace("within = \"2m\"", "within = \"5s\"")
            .replace("interval = \"1s\"", "interval = \"100ms\"")
            .replace(
                "attempts = 12, initial = \"1s\", max = \"10m\"",
                "attempts = 6, initial = \"50ms\", max = \"400ms\"",
            );
        if write {
            assert_eq!(
                text.matches("mode = \"shadow\"").count(),
                3,
                "three shadow routes"
            );
            text = text.replace("mode = \"shadow\"", "mode = \"write\"");
        }
        text
    }

    /// Starts Junction on `store` running the pipeline (in write mode or not), serving Stripe's
    /// webhooks on the one listener the simulator posts to.
    async fn run(&mut self, store: &TestStore, write: bool) -> Running {
        let sf = self.salesforce.config().clone();
        let env = move |name: &str| match name {
            "STRIPE_API_KEY" => Some("sk_test_junction".to_owned()),
            "STRIPE_WEBHOOK_SECRET" => Some(junction_tests::demo::WEBHOOK_SECRET.to_owned()),
            "SF_CLIENT_ID" => Some(sf.client_id.clone()),
            "SF_CLIENT_SECRET" => Some(sf.client_secret.clone()),
            "JUNCTION_MASKING_KEY" => Some(junction_tests::demo::MASKING_KEY.to_owned()),
            _ => None,
        };
        let loaded = config::load_str(
            &pipeline_path(),
            &self.pipeline(write),
            &env,
            &HostCatalog::new(host()),
        )
        .unwrap_or_else(|d| panic!("{PIPELINE} does not load:\n{d}"));
        let opened = Store::open(&store.url).await.expect("store");
        let options = Options {
            lease: Duration::from_secs(5),
            ..Options::default()
        };
        let engine = Engine::new(loaded.plans, opened, &host(), options)
            .await
            .expect("engine starts");
        let shutdown = Arc::new(Notify::new());
        let workers = engine.spawn_workers(shutdown.clone());
        let listener = match self.listener.take() {
            Some(l) => l,
            None => tokio::net::TcpListener::bind(self.addr)
                .await
                .expect("the webhook port again"),
        };
        let server = tokio::spawn(junction::server::serve(
            listener,
            junction::server::app(engine.clone()),
            junction::server::ListenLimits::default(),
            std::future::pending(),
        ));
        Running {
            engine,
            shutdown,
            server,
            _workers: workers,
        }
    }

    fn account(&self, customer: &str) -> Value {
        self.salesforce
            .record("Account", "Stripe_Customer_Id__c", customer)
            .expect("the account")
    }
}

/// Waits until `check` holds, failing with what it last said after 30 s.
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let last = match check().await {
            Ok(()) => return,
            Err(e) => e,
        };
        assert!(tokio::time::Instant::now() < deadline, "{what}: {last}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn fields(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect()
}

async fn shadow(engine: &Engine, route: &str) -> Vec<junction::store::ShadowResult> {
    engine
        .store
        .shadow_report(Some(PIPELINE), route, false, 1000)
        .await
        .expect("shadow report")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_mode_writes_nothing_and_reports_then_write_mode_converges_with_each_owner_winning()
{
    let mut sims = sims().await;
    let store = crate::support::Backend::Sqlite.store().await;

    // A customer billed in Stripe whose account the CRM keeps under its Stripe id.
    sims.stripe.hold_webhooks();
    let customer = sims
        .stripe
        .create_customer("ada@billing.example", "Ada")
        .unwrap();
    let account = sims
        .salesforce
        .seed_record(
            "Account",
            json!({"Name": "Ada Ltd", "Stripe_Customer_Id__c": customer,
                   "Billing_Email__c": "ada@crm.example", "Phone": "+44 20 7946 0000"}),
        )
        .unwrap();
    let price = sims.stripe.create_price(4900, "usd", "month").unwrap();
    let subscription = sims
        .stripe
        .create_subscription(&customer, &[(price.as_str(), 2)])
        .unwrap();

    // Shadow mode: everything is planned and compared, nothing is written.
    let running = sims.run(&store, false).await;
    sims.stripe
        .release_webhooks(junction_tests::sim::stripe::Release::AsCreated);
    sims.stripe
        .update_customer(&customer, fields(&[("email", "ada@new.example")]))
        .unwrap();
    let engine = running.engine.clone();
    let (c, s) = (customer.clone(), subscription.clone());
    eventually("shadow comparisons on all three routes", || {
        let (engine, c, s) = (engine.clone(), c.clone(), s.clone());
        async move {
            let email = shadow(&engine, "billing-email-to-crm").await;
            let newest = email
                .iter()
                .rev()
                .find(|r| r.key == c)
                .ok_or("no e-mail comparison yet")?;
            if newest.comparison.differing != ["email"] {
                return Err(format!("e-mail comparison: {newest:?}"));
            }
            let profile = shadow(&engine, "profiles-to-billing").await;
            let p = profile
                .iter()
                .find(|r| r.key == c)
                .ok_or("no profile comparison yet")?;
            if !p.comparison.differing.contains(&"name".to_owned()) {
                return Err(format!("profile comparison: {p:?}"));
            }
            let subs = shadow(&engine, "subscriptions-to-crm").await;
            let sub = subs
                .iter()
                .find(|r| r.key == s)
                .ok_or("no subscription comparison yet")?;
            if sub.comparison.current.is_some() {
                return Err(format!("the CRM has the subscription already: {sub:?}"));
            }
            Ok(())
        }
    })
    .await;
    let report = shadow(&running.engine, "billing-email-to-crm").await;
    let shown = serde_json::to_string(&report).unwrap();
    assert!(
        !shown.contains("ada@new.example") && !shown.contains("ada@crm.example"),
        "the report masks e-mail addresses: {shown}"
    );
    assert!(
        sims.salesforce.applied_writes().is_empty(),
        "shadow mode wrote to Salesforce: {:?}",
        sims.salesforce.applied_writes()
    );
    assert_eq!(
        sims.stripe.customer(&customer).unwrap()["name"],
        "Ada",
        "nor to Stripe"
    );
    assert!(
        sims.salesforce
            .record(
                "Subscription__c",
                "Stripe_Subscription_Id__c",
                &subscription
            )
            .is_none()
    );
    running.stop().await;

    // The same file in write mode, on the same store. The subscription Stripe created while
    // the route was in shadow mode is brought over by the pipeline's reconciliation.
    let running = sims.run(&store, true).await;
    let report = running
        .engine
        .reconcile(
            "subscriptions",
            &RunOptions {
                repair: true,
                ..RunOptions::default()
            },
            &Quiet,
        )
        .await
        .expect("reconcile");
    assert_eq!(report.counts.missing, 1, "{report:#?}");
    let sims_ref = &sims;
    eventually("the reconciliation's repair reaches the CRM", || async {
        match sims_ref.salesforce.record(
            "Subscription__c",
            "Stripe_Subscription_Id__c",
            &subscription,
        ) {
            Some(sub) if sub["Quantity__c"] == json!(2.0) || sub["Quantity__c"] == json!(2) => {
                Ok(())
            }
            other => Err(format!("subscription at the CRM: {other:?}")),
        }
    })
    .await;
    // Stripe owns the billing e-mail: it reaches the CRM.
    sims.stripe
        .update_customer(&customer, fields(&[("email", "ada@invoices.example")]))
        .unwrap();
    // The CRM owns the profile: a rename there reaches Stripe.
    sims.salesforce
        .edit_record("Account", &account, json!({"Name": "Ada Lovelace Ltd"}))
        .unwrap();
    sims.stripe
        .update_subscription_quantity(&subscription, 3)
        .unwrap();
    let sims = &sims;
    eventually("each system's fields reach the other", || async {
        let a = sims.account(&customer);
        let c = sims
            .stripe
            .customer(&customer)
            .map_err(|e| format!("{e:?}"))?;
        let sub = sims.salesforce.record(
            "Subscription__c",
            "Stripe_Subscription_Id__c",
            &subscription,
        );
        match (a["Billing_Email__c"].as_str(), c["name"].as_str(), sub) {
            (Some("ada@invoices.example"), Some("Ada Lovelace Ltd"), Some(sub))
                if sub["Quantity__c"] == json!(3.0) || sub["Quantity__c"] == json!(3) =>
            {
                Ok(())
            }
            (email, name, sub) => Err(format!(
                "account e-mail {email:?}, stripe name {name:?}, subscription {sub:?}"
            )),
        }
    })
    .await;
    assert_eq!(
        sims.account(&customer)["Name"],
        "Ada Lovelace Ltd",
        "the e-mail route never carries the name Stripe had"
    );

    // Someone renames the customer in Stripe: a field the CRM owns. The CRM's name wins and
    // is written back to Stripe; the CRM keeps its own.
    sims.stripe
        .update_customer(&customer, fields(&[("name", "Ada S.")]))
        .unwrap();
    let engine = running.engine.clone();
    eventually(
        "the owner's value is restored in Stripe and the conflict audited",
        || {
            let (engine, customer) = (engine.clone(), customer.clone());
            async move {
                let name = sims
                    .stripe
                    .customer(&customer)
                    .map_err(|e| format!("{e:?}"))?["name"]
                    .clone();
                let trail = engine
                    .store
                    .trace(&customer)
                    .await
                    .map_err(|e| e.to_string())?;
                let conflict = trail.iter().find(|e| {
                    e.kind == AuditKind::Conflict && e.detail["loser"]["connector"] == "stripe"
                });
                match (name.as_str(), conflict) {
                    (Some("Ada Lovelace Ltd"), Some(entry)) => {
                        assert_eq!(entry.detail["loser"]["values"], json!({"name": "Ada S."}));
                        assert_eq!(
                            entry.detail["owner"]["values"],
                            json!({"name": "Ada Lovelace Ltd"})
                        );
                        assert_eq!(entry.detail["repair"]["route"], "profiles-to-billing");
                        Ok(())
                    }
                    (name, conflict) => Err(format!("stripe name {name:?}, conflict {conflict:?}")),
                }
            }
        },
    )
    .await;
    assert_eq!(sims.account(&customer)["Name"], "Ada Lovelace Ltd");
    let dead = running
        .engine
        .store
        .dlq_list(&DlqFilter::default())
        .await
        .unwrap();
    assert!(dead.is_empty(), "nothing dead-lettered: {dead:?}");
}
