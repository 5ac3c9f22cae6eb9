//! An end-to-end rig: the Stripe and NetSuite simulators, and Junction running the real
//! `pipelines/stripe-to-netsuite.toml` in-process against them (base URLs and allow-lists
//! pointed at the simulators, secrets given through the loader's environment lookup).

use std::sync::Arc;
use std::time::Duration;

use junction::config;
use junction::pipeline::instances::HostCatalog;
use junction::pipeline::{Engine, Options};
use junction::store::Store;
use junction_tests::sim::netsuite::{NetSuiteSim, NetSuiteSimConfig};
use junction_tests::sim::stripe::{StripeSim, StripeSimConfig, WebhookEndpoint};
use serde_json::Value;
use tokio::sync::Notify;

use crate::support::{Backend, TestStore, host};

pub const PIPELINE: &str = "stripe-to-netsuite";
pub use junction_tests::demo::WEBHOOK_SECRET;

pub struct Rig {
    pub stripe: StripeSim,
    pub netsuite: NetSuiteSim,
    pub engine: Arc<Engine>,
    pub url: String,
    shutdown: Arc<Notify>,
    _workers: tokio::task::JoinSet<()>,
    _store: TestStore,
}

/// Rewrites the example pipeline for the simulators; `edit` may change timings further.
pub fn pipeline_text(
    stripe_url: &str,
    netsuite_url: &str,
    edit: impl Fn(String) -> String,
) -> String {
    edit(
        junction_tests::demo::pipeline_for_simulators(stripe_url, netsuite_url)
            .expect("example pipeline"),
    )
}

/// Secrets the rig grants, as the environment would.
pub fn env(ns: &NetSuiteSimConfig) -> impl Fn(&str) -> Option<String> + use<> {
    junction_tests::demo::simulator_env(ns)
}

/// Test timings: confirmation windows and back-off in milliseconds rather than minutes.
pub fn fast(text: String) -> String {
    text.replace("within = \"2m\"", "within = \"1500ms\"")
        .replace("interval = \"1s\"", "interval = \"100ms\"")
        .replace(
            "attempts = 12, initial = \"1s\", max = \"10m\"",
            "attempts = 4, initial = \"50ms\", max = \"400ms\"",
        )
}

impl Rig {
    /// The rig on a SQLite store.
    pub async fn start(edit: impl Fn(String) -> String) -> Rig {
        Rig::start_on(Backend::Sqlite, edit).await
    }

    /// The rig on a fresh store of `backend`.
    pub async fn start_on(backend: Backend, edit: impl Fn(String) -> String) -> Rig {
        Rig::start_with(backend, edit, junction::services::clock::Clock::system()).await
    }

    /// The rig on a fresh store of `backend`, Junction on `clock` (a `ShiftedClock` lets a test
    /// jump Junction's time forward: an outage of ten minutes without waiting ten minutes).
    pub async fn start_with(
        backend: Backend,
        edit: impl Fn(String) -> String,
        clock: junction::services::clock::Clock,
    ) -> Rig {
        let netsuite = NetSuiteSim::start(junction_tests::demo::netsuite_sim_config())
            .await
            .expect("netsuite sim");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stripe = StripeSim::start(StripeSimConfig {
            webhook: Some(WebhookEndpoint {
                url: format!("{url}/hooks/stripe"),
                secret: WEBHOOK_SECRET.into(),
            }),
            webhook_retries: 8,
            ..StripeSimConfig::default()
        })
        .await
        .expect("stripe sim");
        let text = pipeline_text(&stripe.base_url(), netsuite.base_url(), edit);
        let catalog = HostCatalog::new(host());
        let file = std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../pipelines/stripe-to-netsuite.toml"
        ));
        let loaded = config::load_str(file, &text, &env(netsuite.config()), &catalog)
            .unwrap_or_else(|d| panic!("pipeline does not load:\n{d}"));
        let test_store = backend.store().await;
        let store = Store::open(&test_store.url).await.expect("store");
        let options = Options {
            lease: Duration::from_secs(5),
            clock,
            ..Options::default()
        };
        let engine = Engine::new(loaded.plans, store, &host(), options)
            .await
            .expect("engine starts");
        let shutdown = Arc::new(Notify::new());
        let workers = engine.spawn_workers(shutdown.clone());
        let app = junction::server::app(engine.clone());
        tokio::spawn(junction::server::serve(
            listener,
            app,
            junction::server::ListenLimits::default(),
            std::future::pending(),
        ));
        Rig {
            stripe,
            netsuite,
            engine,
            url,
            shutdown,
            _workers: workers,
            _store: test_store,
        }
    }

    /// A monthly USD price of a new product at Stripe, and the NetSuite catalog item that
    /// product bills as (the account setup docs/netsuite-mapping.md asks for: a service sale
    /// item whose External ID is the Stripe product id, a member of the subscription plan).
    pub fn price(&self, unit_amount: i64, name: &str) -> String {
        let price = self
            .stripe
            .create_price(unit_amount, "usd", "month")
            .expect("stripe price");
        let product = self.stripe.product_of(&price).expect("the price's product");
        self.netsuite.add_item(&product, name);
        price
    }

    /// A new Stripe customer subscribed to `items` ((price, quantity)); returns the customer's
    /// and the subscription's ids.
    pub fn subscriber(&self, email: &str, name: &str, items: &[(&str, u64)]) -> (String, String) {
        let customer = self
            .stripe
            .create_customer(email, name)
            .expect("stripe customer");
        let subscription = self
            .stripe
            .create_subscription(&customer, items)
            .expect("stripe subscription");
        (customer, subscription)
    }

    /// Another monthly USD price of the product `price` belongs to (an upgrade or downgrade
    /// within one product: a price change at NetSuite, not a new line).
    pub fn price_like(&self, price: &str, unit_amount: i64) -> String {
        let product = self.stripe.product_of(price).expect("the price's product");
        self.stripe
            .create_price_of(&product, unit_amount, "usd", "month")
            .expect("stripe price")
    }

    /// Waits until every event Stripe emitted was delivered and Junction has nothing left to do.
    pub async fn drain(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        let mut quiet = 0;
        loop {
            let (s, st) = self.counts().await;
            let busy = st.unplanned + st.pending + st.in_flight + st.awaiting_job + st.confirming;
            let webhooks_settled = s.webhooks_delivered + s.webhooks_abandoned >= s.events;
            if busy == 0 && webhooks_settled {
                quiet += 1;
                if quiet >= 3 {
                    return;
                }
            } else {
                quiet = 0;
            }
            if tokio::time::Instant::now() >= deadline {
                let reasons: Vec<String> = self
                    .dead_letters()
                    .await
                    .iter()
                    .map(|l| format!("{}: {}", l.key, l.reason))
                    .collect();
                panic!("did not drain: stripe {s:?}, junction {st:?}, dead letters {reasons:#?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What Stripe has sent, and where Junction's work stands now by its clock.
    async fn counts(
        &self,
    ) -> (
        junction_tests::sim::stripe::StripeStats,
        junction::store::Stats,
    ) {
        let st = self
            .engine
            .store
            .stats(self.engine.clock().now_ms())
            .await
            .expect("stats");
        (self.stripe.stats(), st)
    }

    /// Drains, then checks what every scenario ends with: each of `subscriptions` reads the
    /// same at Stripe and NetSuite, nothing is dead-lettered, and no business action happened
    /// twice at NetSuite.
    pub async fn converged(&self, subscriptions: &[&str]) {
        self.drain().await;
        for sub in subscriptions {
            self.subscription_matches(sub)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let dead = self.dead_letters().await;
        assert!(dead.is_empty(), "dead-lettered: {dead:#?}");
        let twice = applied_twice(&self.netsuite.applied_writes());
        assert!(twice.is_empty(), "{twice:#?}");
    }

    /// The open dead letters.
    pub async fn dead_letters(&self) -> Vec<junction::store::DeadLetter> {
        self.engine
            .store
            .dlq_list(&junction::store::DlqFilter::default())
            .await
            .expect("dead letters")
    }

    /// The subscription as NetSuite holds it (canonical), which must exist.
    pub async fn ns(&self, sub: &str) -> Value {
        self.read("netsuite", "subscription", sub)
            .await
            .expect("record exists at NetSuite")
    }

    /// Waits until every event Stripe emitted is stored and planned (deliveries may still be
    /// on their way).
    pub async fn wait_for_intake(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (s, st) = self.counts().await;
            if s.webhooks_delivered + s.webhooks_abandoned >= s.events && st.unplanned == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "intake did not finish: stripe {s:?}, junction {st:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Works every delivery due now by Junction's clock to its next durable state (as the
    /// delivery loop does on its own), until none is due: after moving a shifted clock, what
    /// has come due is tried before the test goes on.
    pub async fn settle_due(&self) {
        while self.engine.deliver_due().await.expect("deliver") > 0 {}
    }

    /// The canonical document each side holds, read through the pipeline's own connectors.
    pub async fn read(&self, connector: &str, object: &str, key: &str) -> Option<Value> {
        let c = self
            .engine
            .connector(PIPELINE, connector)
            .expect("connector");
        let doc = c
            .fetch(&Default::default(), object, key)
            .await
            .result
            .expect("read back");
        doc.map(|d| serde_json::from_str(&d).expect("json"))
    }

    /// Fields the pipeline confirms for subscriptions, compared between Stripe's document as
    /// NetSuite keeps it (the connector's `expected`) and NetSuite's.
    pub async fn subscription_matches(&self, id: &str) -> Result<(), String> {
        let stripe = self
            .read("stripe", "subscription", id)
            .await
            .ok_or("missing at stripe")?;
        let stripe = as_kept(&self.engine, "subscription", id, &stripe).await?;
        let netsuite = self
            .read("netsuite", "subscription", id)
            .await
            .ok_or("missing at netsuite")?;
        for f in compared_fields("subscription") {
            if stripe[f] != netsuite[f] {
                let story: Vec<String> = self
                    .engine
                    .store
                    .trace(id)
                    .await
                    .unwrap_or_default()
                    .iter()
                    .map(|e| format!("{} {}", e.kind.as_str(), e.detail))
                    .collect();
                return Err(format!(
                    "{id}.{f}: stripe {} vs netsuite {}\ntrace:\n{}",
                    stripe[f],
                    netsuite[f],
                    story.join("\n")
                ));
            }
        }
        Ok(())
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.shutdown.notify_waiters();
    }
}

pub use junction::campaign::check::{applied_twice, compared_fields};

/// Stripe's document as NetSuite keeps it: what a NetSuite read-back must equal.
pub async fn as_kept(
    engine: &Engine,
    object: &str,
    key: &str,
    doc: &Value,
) -> Result<Value, String> {
    junction::campaign::check::as_kept(engine, PIPELINE, object, key, doc).await
}
