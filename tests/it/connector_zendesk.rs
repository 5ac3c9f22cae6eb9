//! The Zendesk connector (TypeScript, connectors/zendesk): it passes the conformance kit
//! against the Zendesk simulator, and `pipelines/payment-failure-to-support.toml` runs end to
//! end: a failed payment opens one ticket, a retry after a lost answer and a duplicate webhook
//! open none, a second failure updates the ticket, the payment solves it, and the customer's
//! e-mail appears in nothing Junction writes.

use std::sync::Arc;
use std::time::Duration;

use junction::cli::conformance::{Options, Vendor, Verdict, run_kit};
use junction::config;
use junction::pipeline::instances::HostCatalog;
use junction::pipeline::{Engine, Options as EngineOptions};
use junction::services::clock::Clock;
use junction::store::Store;
use junction_tests::sim::faults::Faults;
use junction_tests::sim::stripe::{StripeSim, StripeSimConfig, sign_payload};
use junction_tests::sim::zendesk::{ZendeskSim, ZendeskSimConfig};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::polyglot::typescript;
use crate::support::{Backend, host};

const WEBHOOK_SECRET: &str = "whsec_support_rig_0123456789";
const MASKING_KEY: &str = "support-masking-key-not-for-production";
const EMAIL: &str = "ada.billing@example.com";

#[tokio::test]
async fn zendesk_passes_the_conformance_kit() {
    let module = typescript("connectors/zendesk");
    let report = run_kit(&host(), &Options::new(&module, Vendor::Zendesk))
        .await
        .unwrap_or_else(|e| panic!("the kit runs {module}: {e:#}"));
    assert!(report.passed(), "{}", report.table());
    assert_eq!(report.name, "zendesk");
    // Every sink check ran and passed; only the webhook checks do not apply.
    for r in &report.results {
        match &r.verdict {
            Verdict::Pass(_) => {}
            Verdict::NotApplicable(why) if r.id.starts_with("webhook.") => {
                assert!(why.contains("webhooks = false"), "{why}");
            }
            other => panic!("{}: {other:?}\n{}", r.id, report.table()),
        }
    }
}

/// A Stripe invoice event, built from Stripe's published invoice object.
fn event(id: &str, kind: &str, created: i64, invoice: impl Fn(&mut Value)) -> String {
    let mut object: Value = serde_json::from_str(include_str!(
        "../../connectors/stripe/testdata/invoice.json"
    ))
    .expect("the invoice fixture");
    object["id"] = json!("in_Support1");
    object["customer"] = json!("cus_Support1");
    object["customer_email"] = json!(EMAIL);
    object["metadata"] = json!({"plan": "team"});
    object["status"] = json!("open");
    object["total"] = json!(4900);
    object["amount_due"] = json!(4900);
    object["amount_paid"] = json!(0);
    invoice(&mut object);
    json!({
        "id": id, "object": "event", "type": kind, "created": created, "livemode": false,
        "api_version": "2025-03-31.basil", "pending_webhooks": 1,
        "data": {"object": object},
    })
    .to_string()
}

struct SupportRig {
    zendesk: ZendeskSim,
    _stripe: StripeSim,
    engine: Arc<Engine>,
    url: String,
    shutdown: Arc<Notify>,
    _store: crate::support::TestStore,
}

impl Drop for SupportRig {
    fn drop(&mut self) {
        self.shutdown.notify_waiters();
    }
}

impl SupportRig {
    async fn start() -> SupportRig {
        let module = typescript("connectors/zendesk");
        let zendesk = ZendeskSim::start(ZendeskSimConfig::default())
            .await
            .expect("zendesk sim");
        let field = zendesk.add_ticket_field("Junction invoice", "textarea");
        let stripe = StripeSim::start(StripeSimConfig::default())
            .await
            .expect("stripe sim");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let file = std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../pipelines/payment-failure-to-support.toml"
        ));
        let text = std::fs::read_to_string(file).expect("the pipeline file");
        let replace = |text: String, from: &str, to: &str| {
            assert!(text.contains(from), "the pipeline no longer holds `{from}`");
            text.replace(from, to)
        };
        let mut text = replace(text, "https://api.stripe.com", &stripe.base_url());
        text = replace(text, "[\"api.stripe.com\"]", "[\"127.0.0.1\"]");
        text = replace(text, "https://SUBDOMAIN.zendesk.com", zendesk.base_url());
        text = replace(text, "[\"SUBDOMAIN.zendesk.com\"]", "[\"127.0.0.1\"]");
        text = replace(
            text,
            "\"../target/connectors/zendesk.wasm\"",
            &format!("{module:?}"),
        );
        text = replace(text, "\"360000000001\"", &format!("\"{field}\""));
        text = replace(
            text,
            "within = \"2m\", interval = \"1s\"",
            "within = \"3s\", interval = \"100ms\"",
        );
        text = replace(
            text,
            "attempts = 12, initial = \"1s\", max = \"10m\"",
            "attempts = 6, initial = \"50ms\", max = \"400ms\"",
        );
        let zd = zendesk.config().clone();
        let env = move |name: &str| match name {
            "STRIPE_API_KEY" => Some("sk_test_junction".to_string()),
            "STRIPE_WEBHOOK_SECRET" => Some(WEBHOOK_SECRET.to_string()),
            "ZENDESK_USER" => Some(format!("{}/token", zd.email)),
            "ZENDESK_API_TOKEN" => Some(zd.api_token.clone()),
            "JUNCTION_MASKING_KEY" => Some(MASKING_KEY.to_string()),
            _ => None,
        };
        let loaded = config::load_str(file, &text, &env, &HostCatalog::new(host()))
            .unwrap_or_else(|d| panic!("pipeline does not load:\n{d}"));
        let test_store = Backend::Sqlite.store().await;
        let store = Store::open(&test_store.url).await.expect("store");
        let engine = Engine::new(
            loaded.plans,
            store,
            &host(),
            EngineOptions {
                lease: Duration::from_secs(5),
                ..EngineOptions::default()
            },
        )
        .await
        .expect("engine starts");
        let shutdown = Arc::new(Notify::new());
        // The workers run until the rig is dropped.
        std::mem::forget(engine.spawn_workers(shutdown.clone()));
        tokio::spawn(junction::server::serve(
            listener,
            junction::server::app(engine.clone()),
            junction::server::ListenLimits::default(),
            std::future::pending(),
        ));
        SupportRig {
            zendesk,
            _stripe: stripe,
            engine,
            url,
            shutdown,
            _store: test_store,
        }
    }

    async fn post(&self, body: &str) -> (u16, Value) {
        let signature = sign_payload(WEBHOOK_SECRET, Clock::system().now_ms() / 1000, body);
        let r = reqwest::Client::new()
            .post(format!("{}/hooks/stripe-billing", self.url))
            .header("stripe-signature", signature)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// Waits until Junction has nothing left to do.
    async fn drain(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut quiet = 0;
        loop {
            let st = self
                .engine
                .store
                .stats(self.engine.clock().now_ms())
                .await
                .expect("stats");
            let busy = st.unplanned + st.pending + st.in_flight + st.awaiting_job + st.confirming;
            quiet = if busy == 0 { quiet + 1 } else { 0 };
            if quiet >= 3 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "did not drain: {st:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_failures_open_one_ticket_per_invoice_and_payment_solves_it() {
    let rig = SupportRig::start().await;
    let now = Clock::system().now_ms() / 1000;

    // The first failure: Zendesk creates the ticket but its answer is lost (a 500 after the
    // write). Junction tries again; the connector finds the ticket by its external id and
    // opens no second one.
    rig.zendesk.faults().set(Faults {
        error_after_write_rate: 1.0,
        ..Faults::default()
    });
    let failed = event("evt_Fail1", "invoice.payment_failed", now - 30, |_| {});
    let (status, _) = rig.post(&failed).await;
    assert_eq!(status, 200);
    rig.drain().await;
    rig.zendesk.faults().set(Faults::default());
    let stats = rig.zendesk.stats();
    assert_eq!(
        (stats.faults_injected, stats.tickets_created),
        (1, 1),
        "{stats:?}"
    );
    // The creation carried the write's idempotency key.
    assert_eq!(rig.zendesk.idempotency_keys().len(), 1);
    let tickets = rig.zendesk.tickets_with_external_id("in_Support1");
    assert_eq!(tickets.len(), 1, "{tickets:#?}");
    let ticket = &tickets[0];
    assert_eq!(ticket.status, "open");
    assert_eq!(ticket.priority.as_deref(), Some("high"));
    assert!(
        ticket.tags.contains(&"invoice_open".to_string()),
        "{:?}",
        ticket.tags
    );
    assert_eq!(
        rig.zendesk.requester_email(ticket.id).as_deref(),
        Some(EMAIL)
    );
    assert!(
        ticket.comments[0].body.contains("49.00 USD due"),
        "{:?}",
        ticket.comments
    );
    assert!(!ticket.comments[0].public);

    // Stripe delivers the same event again: stored once, nothing written.
    let (status, answer) = rig.post(&failed).await;
    assert_eq!(
        (status, answer["duplicates"].as_u64()),
        (200, Some(1)),
        "{answer}"
    );
    rig.drain().await;

    // The retry fails again after part was paid: the same ticket gets a comment.
    let again = event("evt_Fail2", "invoice.payment_failed", now - 20, |inv| {
        inv["amount_due"] = json!(2900);
        inv["amount_paid"] = json!(2000);
    });
    assert_eq!(rig.post(&again).await.0, 200);
    rig.drain().await;
    let tickets = rig.zendesk.tickets_with_external_id("in_Support1");
    assert_eq!(tickets.len(), 1, "{tickets:#?}");
    assert_eq!(tickets[0].comments.len(), 2, "{:?}", tickets[0].comments);
    assert!(
        tickets[0].comments[1]
            .body
            .contains("failed again: 29.00 USD due")
    );

    // An event support does not act on changes nothing.
    let finalized = event("evt_Final", "invoice.finalized", now - 15, |inv| {
        inv["amount_due"] = json!(100);
    });
    assert_eq!(rig.post(&finalized).await.0, 200);
    // Paid: the ticket is solved.
    let paid = event("evt_Paid", "invoice.paid", now - 10, |inv| {
        inv["status"] = json!("paid");
        inv["amount_due"] = json!(0);
        inv["amount_paid"] = json!(4900);
    });
    assert_eq!(rig.post(&paid).await.0, 200);
    rig.drain().await;
    let tickets = rig.zendesk.tickets_with_external_id("in_Support1");
    assert_eq!(tickets.len(), 1, "{tickets:#?}");
    assert_eq!(tickets[0].status, "solved");
    assert_eq!(tickets[0].comments.len(), 3, "{:?}", tickets[0].comments);
    assert_eq!(rig.zendesk.stats().tickets_created, 1);

    // Nothing was dead-lettered, and the e-mail is in no audit entry of the invoice's story.
    let dead = rig
        .engine
        .store
        .dlq_list(&junction::store::DlqFilter::default())
        .await
        .unwrap();
    assert!(dead.is_empty(), "{dead:#?}");
    let story = rig.engine.store.trace("in_Support1").await.unwrap();
    assert!(story.len() >= 6, "{story:#?}");
    // The planned writes carry the invoice, its e-mail field included, masked.
    assert!(
        story
            .iter()
            .any(|e| format!("{e:?}").contains("customer_email")),
        "{story:#?}"
    );
    for entry in &story {
        let text = format!("{entry:?}");
        assert!(
            !text.contains(EMAIL),
            "the e-mail leaked into the audit log: {text}"
        );
        assert!(!text.contains("ada.billing"), "{text}");
    }
}
