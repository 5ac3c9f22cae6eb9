//! The Cleverbridge pipelines, `pipelines/cleverbridge-price-change.toml` and
//! `pipelines/cleverbridge-to-netsuite.toml`, end to end: the files as shipped, pointed at the
//! Cleverbridge, NetSuite and Salesforce simulators, run in-process with Junction's webhook
//! listener receiving the Cleverbridge simulator's notifications. Time is the simulators':
//! Cleverbridge's clock stands still until the test advances it, and Junction's clock (the
//! store's, which the engine reads) moves with it, so "held until 16 May" is tested by moving
//! both to 16 May, not by waiting.
//!
//! The NetSuite simulator keeps no clock of its own: it reads change orders against the wall
//! date. The tests' dates (2026) lie before it, so a change order Junction writes on the
//! simulated 16 May, dated 16 May, is in effect at NetSuite as soon as it is written, as it
//! would be on that day; what NetSuite bills is asked of it with a bill run through a date.

use std::sync::Arc;
use std::time::Duration;

use junction::config;
use junction::pipeline::instances::HostCatalog;
use junction::pipeline::{Engine, Options};
use junction::services::clock::ShiftedClock;
use junction::store::{DlqFilter, Store};
use junction_tests::sim::cleverbridge::{
    CleverbridgeSim, CleverbridgeSimConfig, CustomerSpec, ItemSpec, NotificationAuth,
    NotificationEndpoint, OrderKind, ProductSpec, RenewalType, SubscriptionSpec, Taxes,
};
use junction_tests::sim::faults::Faults;
use junction_tests::sim::netsuite::NetSuiteSim;
use junction_tests::sim::salesforce::{SalesforceSim, SalesforceSimConfig};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::support::host;

const DAY: i64 = 86_400;
/// 2026-04-16T00:00:00Z: Cloudify Gold is bought; it bills next on 16 May.
const APRIL_16: i64 = 1_776_297_600;
const MAY_16: i64 = APRIL_16 + 30 * DAY;
/// 2026-01-01T00:00:00Z.
const JANUARY_1: i64 = 1_767_225_600;
const CB_WEBHOOK_SECRET: &str = "cb-pipeline-notification-secret-42";

fn pipeline_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../pipelines")
        .join(format!("{name}.toml"))
}

/// The credential the operator enters in Web Admin for the notification: derived from the
/// pipeline's `webhook` secret (docs/cleverbridge-mapping.md, "Authentication").
fn notification_password() -> String {
    let mac = junction_connector_kit::testing::hmac_sha256(
        CB_WEBHOOK_SECRET.as_bytes(),
        b"cleverbridge-notification",
    );
    mac.iter().map(|b| format!("{b:02x}")).collect()
}

struct Rig {
    pipeline: &'static str,
    cleverbridge: CleverbridgeSim,
    netsuite: NetSuiteSim,
    salesforce: Option<SalesforceSim>,
    engine: Arc<Engine>,
    /// Junction's clock: the simulators' date, running on at the wall clock's pace.
    offset: ShiftedClock,
    http: reqwest::Client,
    shutdown: Arc<Notify>,
    _workers: tokio::task::JoinSet<()>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.shutdown.notify_waiters();
    }
}

/// `text` with `from` replaced, failing loudly when the shipped file no longer has it.
fn swap(text: String, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the pipeline no longer has `{from}`");
    text.replace(from, to)
}

impl Rig {
    /// Starts the simulators (Cleverbridge's clock at `start`, frozen; renewal reminders
    /// `reminder_days` ahead) and Junction running the shipped pipeline `pipeline` against them.
    async fn start(
        pipeline: &'static str,
        start: i64,
        reminder_days: Option<u32>,
        salesforce: bool,
    ) -> Rig {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let text = std::fs::read_to_string(pipeline_path(pipeline)).expect("the pipeline file");
        let hook = text
            .lines()
            .find_map(|l| l.strip_prefix("webhook = \""))
            .and_then(|l| l.strip_suffix('"'))
            .expect("the pipeline's webhook path")
            .to_owned();
        let cleverbridge = CleverbridgeSim::start(CleverbridgeSimConfig {
            start_at: Some(start),
            frozen_clock: true,
            reminder_days,
            notifications: Some(NotificationEndpoint {
                url: format!("{url}{hook}"),
                auth: NotificationAuth::Basic {
                    user: "cleverbridge".into(),
                    password: notification_password(),
                },
            }),
            ..CleverbridgeSimConfig::default()
        })
        .await
        .expect("cleverbridge sim");
        let netsuite = NetSuiteSim::start(junction_tests::demo::netsuite_sim_config())
            .await
            .expect("netsuite sim");
        let salesforce = if salesforce {
            Some(
                SalesforceSim::start(SalesforceSimConfig::default())
                    .await
                    .expect("salesforce sim"),
            )
        } else {
            None
        };

        let mut text = swap(
            text,
            "base-url = \"https://rest.cleverbridge.com\"",
            &format!("base-url = \"{}\"", cleverbridge.base_url()),
        );
        text = swap(
            text,
            "allow-hosts = [\"rest.cleverbridge.com\"]",
            "allow-hosts = [\"127.0.0.1\"]",
        );
        text = junction_tests::demo::netsuite_for_simulator(&text, netsuite.base_url())
            .expect("the NetSuite connector moved");
        if let Some(sf) = &salesforce {
            text = swap(
                text,
                "allow-hosts = [\"mydomain.my.salesforce.com\"]",
                "allow-hosts = [\"127.0.0.1\"]",
            );
            text = swap(
                text,
                "token-url = \"https://mydomain.my.salesforce.com/services/oauth2/token\"",
                &format!("token-url = \"{}\"", sf.token_url()),
            );
        }
        // Test timings: confirmation windows and back-off in milliseconds.
        text = text
            .replace("within = \"2m\"", "within = \"3s\"")
            .replace("interval = \"1s\"", "interval = \"100ms\"")
            .replace(
                "attempts = 12, initial = \"1s\", max = \"10m\"",
                "attempts = 4, initial = \"50ms\", max = \"400ms\"",
            );

        let ns_env = junction_tests::demo::simulator_env(netsuite.config());
        let (cb_user, cb_password) = (
            cleverbridge.config().user.clone(),
            cleverbridge.config().password.clone(),
        );
        let sf = salesforce.as_ref().map(|s| s.config().clone());
        let env = move |name: &str| match name {
            "CB_API_USER" => Some(cb_user.clone()),
            "CB_API_PASSWORD" => Some(cb_password.clone()),
            "CB_WEBHOOK_SECRET" => Some(CB_WEBHOOK_SECRET.to_owned()),
            "SF_CLIENT_ID" => sf.as_ref().map(|s| s.client_id.clone()),
            "SF_CLIENT_SECRET" => sf.as_ref().map(|s| s.client_secret.clone()),
            other => ns_env(other),
        };
        let loaded = config::load_str(
            &pipeline_path(pipeline),
            &text,
            &env,
            &HostCatalog::new(host()),
        )
        .unwrap_or_else(|d| panic!("{pipeline} does not load:\n{d}"));

        let offset = ShiftedClock::new(start * 1000);
        // NetSuite's token endpoint checks assertion times on its clock: the same date.
        netsuite.m2m().advance(start - netsuite.m2m().now());
        let dir = std::env::temp_dir().join(format!(
            "junction-cb-rig-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.join("junction.db").display()))
            .await
            .expect("store");
        let options = Options {
            lease: Duration::from_secs(5),
            clock: offset.clock(),
            ..Options::default()
        };
        let engine = Engine::new(loaded.plans, store, &host(), options)
            .await
            .expect("engine starts");
        let shutdown = Arc::new(Notify::new());
        let workers = engine.spawn_workers(shutdown.clone());
        tokio::spawn(junction::server::serve(
            listener,
            junction::server::app(engine.clone()),
            junction::server::ListenLimits::default(),
            std::future::pending(),
        ));
        Rig {
            pipeline,
            cleverbridge,
            netsuite,
            salesforce,
            engine,
            offset,
            http: reqwest::Client::new(),
            shutdown,
            _workers: workers,
        }
    }

    /// Moves Cleverbridge's clock and Junction's by `secs` (renewals and reminders fall due at
    /// Cleverbridge; held deliveries at Junction).
    fn advance(&self, secs: i64) {
        self.offset.advance(Duration::from_millis(
            u64::try_from(secs * 1000).unwrap_or(0),
        ));
        self.cleverbridge.advance_clock(secs);
        // The host signs NetSuite's M2M assertions on Junction's clock; NetSuite checks them
        // on its own, so its clock moves with the others.
        self.netsuite.m2m().advance(secs);
    }

    /// Waits until Cleverbridge delivered every notification and Junction has nothing to do
    /// now (deliveries held for a later date may remain).
    async fn drain(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut quiet = 0;
        loop {
            let undelivered = self
                .cleverbridge
                .notifications()
                .iter()
                .filter(|n| n.delivered_at.is_none())
                .count();
            let st = self
                .engine
                .store
                .stats(self.offset.now_ms())
                .await
                .expect("stats");
            let busy = st.unplanned + st.pending + st.in_flight + st.awaiting_job + st.confirming;
            if busy == 0 && undelivered == 0 {
                quiet += 1;
                if quiet >= 3 {
                    return;
                }
            } else {
                quiet = 0;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "did not drain: {undelivered} notifications undelivered, junction {st:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A Subscription API call, as the operator's own tools (an intranet page) make it.
    async fn cleverbridge_api(&self, operation: &str, body: Value) -> Value {
        let c = self.cleverbridge.config();
        let answer = self
            .http
            .post(format!(
                "{}/subscription/{operation}",
                self.cleverbridge.base_url()
            ))
            .basic_auth(&c.user, Some(&c.password))
            .header("Accept", "application/json")
            .json(&body)
            .send()
            .await
            .expect("sent");
        let status = answer.status();
        let body: Value = answer.json().await.expect("JSON");
        assert!(status.is_success(), "{operation}: {status} {body}");
        body
    }

    /// The canonical document `connector` holds, read through the pipeline's connector.
    async fn read(&self, connector: &str, key: &str) -> Value {
        let c = self
            .engine
            .connector(self.pipeline, connector)
            .expect("connector");
        let doc = c
            .fetch(&Default::default(), "subscription", key)
            .await
            .result
            .unwrap_or_else(|e| panic!("reading {connector}: {e}"));
        let Some(doc) = doc else {
            panic!(
                "{connector} holds no subscription {key}; notifications {:?}\n{}",
                self.cleverbridge
                    .notifications()
                    .iter()
                    .map(|n| (n.kind.clone(), n.delivered_at, n.attempts))
                    .collect::<Vec<_>>(),
                self.story(key).await
            );
        };
        serde_json::from_str(&doc).expect("JSON")
    }

    /// Every audit entry of `key`, as `kind detail` lines, for failure messages.
    async fn story(&self, key: &str) -> String {
        let entries = self.engine.store.trace(key).await.unwrap_or_default();
        entries
            .iter()
            .map(|e| format!("{} {}", e.kind.as_str(), e.detail))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Targets with a confirmed write of `key`, after checking that every write planned for
    /// `key` was confirmed by a read-back (none is left pending, suppressed or dead).
    async fn confirmed_targets(&self, key: &str) -> Vec<String> {
        let entries = self.engine.store.trace(key).await.unwrap_or_default();
        let count = |kind: &str| entries.iter().filter(|e| e.kind.as_str() == kind).count();
        assert_eq!(
            count("planned"),
            count("confirmed"),
            "every planned write is confirmed:\n{}",
            self.story(key).await
        );
        let mut routes: Vec<String> = entries
            .iter()
            .filter(|e| e.kind.as_str() == "confirmed")
            .filter_map(|e| e.detail["target"].as_str().map(str::to_owned))
            .collect();
        routes.sort();
        routes.dedup();
        routes
    }

    async fn no_dead_letters(&self) {
        let letters = self
            .engine
            .store
            .dlq_list(&DlqFilter::default())
            .await
            .unwrap();
        let reasons: Vec<&str> = letters.iter().map(|l| l.reason.as_str()).collect();
        assert!(letters.is_empty(), "dead letters: {reasons:#?}");
    }

    /// A catalog product at Cleverbridge (gross, 19% VAT) and its item in NetSuite's catalog
    /// (External ID = the Cleverbridge product id, as the account setup asks).
    fn product(&self, name: &str, usd: f64) -> u64 {
        let id = self
            .cleverbridge
            .create_product(ProductSpec {
                id: None,
                name: name.into(),
                name_extension: "Monthly".into(),
                taxes: Taxes::Gross,
                vat_rate: 19.0,
                prices: [("USD".to_owned(), usd)].into(),
                sold: true,
            })
            .expect("product");
        self.netsuite.add_item(&id.to_string(), name);
        id
    }

    /// A checkout at Cleverbridge: a monthly, automatically renewing subscription.
    fn buy(&self, product: u64, seats: u32) -> (u64, u64) {
        let customer = self.cleverbridge.create_customer(CustomerSpec {
            email: "ada@example.com".into(),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            reference_id: Some("junction-ada".into()),
            reference_no: String::new(),
        });
        // The customer NetSuite bills (docs/cleverbridge-mapping.md: Cleverbridge reports no
        // customers, so NetSuite has them already, External ID = the Cleverbridge id).
        self.netsuite
            .add_customer(&customer.to_string(), "Lovelace Analytics", "USD");
        let sub = self
            .cleverbridge
            .create_subscription(SubscriptionSpec {
                customer_id: customer,
                currency: "USD".into(),
                interval_months: 1,
                interval_days: 0,
                grace_period_days: 0,
                renewal_type: RenewalType::Automatic,
                recurrence_count: None,
                items: vec![ItemSpec {
                    product_id: product,
                    quantity: seats,
                    price: None,
                }],
            })
            .expect("subscription");
        (customer, sub)
    }
}

/// The subscription's change orders at NetSuite: (action, effective date).
fn change_orders(netsuite: &NetSuiteSim) -> Vec<(String, String)> {
    netsuite
        .records("subscriptionchangeorder")
        .iter()
        .map(|o| {
            (
                o["action"].as_str().unwrap_or_default().to_owned(),
                o["effectiveDate"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_price_change_reaches_billing_and_the_crm_on_the_next_billing_date_not_before() {
    let rig = Rig::start("cleverbridge-price-change", APRIL_16, Some(7), true).await;
    let sf = rig.salesforce.as_ref().expect("salesforce");
    let gold = rig.product("Cloudify Gold", 95.19);
    let (customer, sub) = rig.buy(gold, 1);
    let key = sub.to_string();
    // The account team's Account, keyed by the Cleverbridge customer id (the CRM owns it).
    sf.seed_record(
        "Account",
        json!({"Name": "Lovelace Analytics", "Cleverbridge_Customer_Id__c": customer.to_string()}),
    )
    .expect("account");
    rig.drain().await;
    let billed = rig.read("netsuite", &key).await;
    assert_eq!(billed["items"][0]["unit_amount"], 9519, "{billed}");
    assert_eq!(billed["status"], "active");
    let crm = rig.read("salesforce", &key).await;
    assert_eq!(crm["items"][0]["unit_amount"], 9519, "{crm}");

    // 20 April: the price change, aligned to the next billing date (no charge now).
    rig.advance(4 * DAY);
    rig.cleverbridge_api(
        "updatesubscriptionitemprice",
        json!({"SubscriptionId": format!("S{sub}"), "RunningNumber": 1,
               "CustomerPrice": {"Currency": "USD", "IsGross": true, "Value": 100.0},
               "Quantity": 1, "AlignmentSettings": {"AlignToCurrentInterval": false}}),
    )
    .await;
    // Read back from Cleverbridge: the next billing bills 100.00 (NextBillingCustomerGrossPrice),
    // on the same date, and nothing was charged now.
    let at_cleverbridge = rig.read("cleverbridge", &key).await;
    assert_eq!(at_cleverbridge["items"][0]["unit_amount"], 10000);
    assert_eq!(at_cleverbridge["next_billing_at"], "2026-05-16T00:00:00Z");
    assert_eq!(rig.cleverbridge.orders_of(sub).len(), 1);
    // 9 May: Cleverbridge reminds of the renewal; Junction learns the new price, effective on
    // 16 May, and holds both writes until then.
    rig.advance(19 * DAY);
    rig.drain().await;
    let reminded = rig
        .cleverbridge
        .notifications()
        .iter()
        .any(|n| n.kind == "SubscriptionReminderChargeNotification");
    assert!(reminded, "the reminder went out");
    let st = rig.engine.store.stats(rig.offset.now_ms()).await.unwrap();
    assert_eq!(st.held, 2, "both routes hold the change: {st:?}");
    let story = rig.story(&key).await;
    let held_until: Vec<i64> = rig
        .engine
        .store
        .trace(&key)
        .await
        .unwrap()
        .iter()
        .filter_map(|e| e.detail["not_before_ms"].as_i64())
        .collect();
    assert_eq!(held_until, [MAY_16 * 1000, MAY_16 * 1000], "{story}");
    // Not before: on 15 May both still show 95.19, and NetSuite has no price change order.
    rig.advance(6 * DAY);
    rig.drain().await;
    assert_eq!(
        rig.read("netsuite", &key).await["items"][0]["unit_amount"],
        9519
    );
    assert_eq!(
        rig.read("salesforce", &key).await["items"][0]["unit_amount"],
        9519
    );
    assert!(
        !change_orders(&rig.netsuite)
            .iter()
            .any(|(a, _)| a == "MODIFY_PRICING"),
        "{:?}",
        change_orders(&rig.netsuite)
    );

    // 16 May: the renewal Cleverbridge runs bills 100.00, and the held writes go out.
    rig.advance(DAY + 60);
    rig.drain().await;
    let orders = rig.cleverbridge.orders_of(sub);
    let renewal = orders.last().expect("orders");
    assert_eq!(
        (renewal.kind, renewal.gross, renewal.created),
        (OrderKind::Renewal, 100.0, MAY_16)
    );
    assert_eq!(orders[0].gross, 95.19, "April was billed at the old price");
    let billed = rig.read("netsuite", &key).await;
    assert_eq!(billed["items"][0]["unit_amount"], 10000, "{billed}");
    assert!(
        change_orders(&rig.netsuite).contains(&("MODIFY_PRICING".into(), "2026-05-16".into())),
        "{:?}",
        change_orders(&rig.netsuite)
    );
    let crm = rig.read("salesforce", &key).await;
    assert_eq!(crm["items"][0]["unit_amount"], 10000, "{crm}");
    let record = sf
        .record("Subscription__c", "Cleverbridge_Subscription_Id__c", &key)
        .expect("the subscription record");
    assert_eq!(record["Amount__c"], 100.0, "{record}");
    // Confirmed by read-back on both routes, nothing dead-lettered.
    assert_eq!(
        rig.confirmed_targets(&key).await,
        ["netsuite", "salesforce"],
        "{}",
        rig.story(&key).await
    );
    rig.no_dead_letters().await;
    // NetSuite's own billing agrees: 95.19 for the period from 16 April, 100.00 from 16 May;
    // the first price plan kept its rate.
    let invoices = rig.netsuite.bill_run("2026-05-31");
    let charged: Vec<(String, f64)> = invoices
        .iter()
        .flat_map(|i| i.lines.iter())
        .map(|l| (l.period_start.clone(), l.amount))
        .collect();
    assert_eq!(
        charged,
        [
            ("2026-04-16".to_owned(), 95.19),
            ("2026-05-16".to_owned(), 100.0)
        ]
    );
    assert!(rig.engine.store.audit_verify().await.unwrap().is_ok());
}

/// A downgrade at period end (Cleverbridge's `UpdateAction: Downgrade` without alignment to
/// the current interval): the customer keeps two seats until the next billing date, so billing
/// hears of one seat on that date and not before, and the renewal bills the new quantity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_downgrade_at_period_end_reaches_billing_on_the_next_billing_date() {
    let rig = Rig::start("cleverbridge-to-netsuite", JANUARY_1, None, false).await;
    let platinum = rig.product("Cloudify Platinum", 150.0);
    let (_, sub) = rig.buy(platinum, 2);
    let key = sub.to_string();
    rig.drain().await;
    assert_eq!(rig.read("netsuite", &key).await["items"][0]["quantity"], 2);

    // 16 January: down to one seat from the next billing date, 1 February.
    rig.advance(15 * DAY);
    rig.cleverbridge_api(
        "updatesubscriptionitem",
        json!({"SubscriptionId": format!("S{sub}"), "RunningNumber": 1, "ProductId": platinum,
               "Quantity": 1, "UpdateAction": "Downgrade",
               "AlignmentSettings": {"AlignToCurrentInterval": false}}),
    )
    .await;
    rig.drain().await;
    // 31 January: still two seats at NetSuite, and no change order dated before 1 February.
    rig.advance(15 * DAY);
    rig.drain().await;
    assert_eq!(
        rig.read("netsuite", &key).await["items"][0]["quantity"],
        2,
        "{}",
        rig.story(&key).await
    );
    assert!(
        !change_orders(&rig.netsuite)
            .iter()
            .any(|(a, _)| a == "MODIFY_PRICING"),
        "{:?}",
        change_orders(&rig.netsuite)
    );
    // 1 February: the renewal at one seat, and billing follows on that date.
    rig.advance(DAY + 60);
    rig.drain().await;
    let downgraded = rig.read("netsuite", &key).await;
    assert_eq!(downgraded["items"][0]["quantity"], 1, "{downgraded}");
    assert!(
        change_orders(&rig.netsuite).contains(&("MODIFY_PRICING".into(), "2026-02-01".into())),
        "{:?}",
        change_orders(&rig.netsuite)
    );
    let renewal = rig.cleverbridge.orders_of(sub).pop().expect("orders");
    assert_eq!(renewal.kind, OrderKind::Renewal);
    assert!(rig.engine.store.audit_verify().await.unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_downgrades_and_a_cancellation_reach_billing_and_nothing_is_invoiced_after_it() {
    let rig = Rig::start("cleverbridge-to-netsuite", JANUARY_1, None, false).await;
    // Cleverbridge delivers every notification twice (at-least-once), and NetSuite's jobs stay
    // pending a while before they run.
    rig.cleverbridge.faults().set(Faults {
        duplicate_webhook_rate: 1.0,
        ..Faults::default()
    });
    rig.netsuite.faults().set(Faults {
        async_pending_ms: 200,
        ..Faults::default()
    });
    let gold = rig.product("Cloudify Gold", 95.19);
    let platinum = rig.product("Cloudify Platinum", 150.0);
    let (_, sub) = rig.buy(gold, 2);
    let key = sub.to_string();
    rig.drain().await;
    let billed = rig.read("netsuite", &key).await;
    assert_eq!(billed["status"], "active", "{billed}");
    assert_eq!(billed["items"][0]["product_id"], gold.to_string());
    assert_eq!(billed["items"][0]["quantity"], 2);

    // 11 January: an upgrade to Platinum, charged now for the rest of the interval.
    rig.advance(10 * DAY);
    rig.cleverbridge_api(
        "updatesubscriptionitem",
        json!({"SubscriptionId": format!("S{sub}"), "RunningNumber": 1, "ProductId": platinum,
               "Quantity": 2, "UpdateAction": "Upgrade",
               "AlignmentSettings": {"AlignToCurrentInterval": true}}),
    )
    .await;
    rig.drain().await;
    let upgraded = rig.read("netsuite", &key).await;
    let items = upgraded["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "Gold no longer bills: {upgraded}");
    assert_eq!(items[0]["product_id"], platinum.to_string());
    assert_eq!(items[0]["unit_amount"], 15000);
    let orders = change_orders(&rig.netsuite);
    assert!(
        orders.contains(&("TERMINATE".into(), "2026-01-11".into()))
            && orders.contains(&("ACTIVATE".into(), "2026-01-11".into())),
        "{orders:?}"
    );

    // 16 January: a downgrade to one seat from the next billing date; NetSuite hears of it
    // with the renewal on 1 February, not before.
    rig.advance(5 * DAY);
    rig.cleverbridge_api(
        "updatesubscriptionitem",
        json!({"SubscriptionId": format!("S{sub}"), "RunningNumber": 1, "ProductId": platinum,
               "Quantity": 1, "UpdateAction": "Downgrade",
               "AlignmentSettings": {"AlignToCurrentInterval": false}}),
    )
    .await;
    rig.drain().await;
    assert_eq!(rig.read("netsuite", &key).await["items"][0]["quantity"], 2);
    rig.advance(16 * DAY + 60);
    rig.drain().await;
    let renewal = rig.cleverbridge.orders_of(sub).pop().expect("orders");
    assert_eq!((renewal.kind, renewal.gross), (OrderKind::Renewal, 150.0));
    let downgraded = rig.read("netsuite", &key).await;
    assert_eq!(downgraded["items"][0]["quantity"], 1, "{downgraded}");
    assert!(
        change_orders(&rig.netsuite).contains(&("MODIFY_PRICING".into(), "2026-02-01".into())),
        "{:?}",
        change_orders(&rig.netsuite)
    );

    // 10 February: the customer cancels; the subscription ends at its next billing date, and
    // NetSuite's billing stops there.
    rig.advance(9 * DAY);
    rig.cleverbridge_api(
        "updatesubscriptionrenewaltype",
        json!({"SubscriptionId": format!("S{sub}"), "RenewalType": "Manual"}),
    )
    .await;
    rig.drain().await;
    let cancelled = rig.read("netsuite", &key).await;
    assert_eq!(
        cancelled["billing_stop_at"],
        "2026-03-01T00:00:00Z",
        "{cancelled}\n{}",
        rig.story(&key).await
    );
    assert!(
        change_orders(&rig.netsuite).contains(&("TERMINATE".into(), "2026-03-01".into())),
        "{:?}",
        change_orders(&rig.netsuite)
    );
    // Cleverbridge renews no more...
    rig.advance(60 * DAY);
    rig.drain().await;
    assert_eq!(
        rig.cleverbridge.orders_of(sub).len(),
        3,
        "new, upgrade, renewal"
    );
    // ...and NetSuite's billing, run through the end of the year, invoices nothing on or after
    // the billing stop date.
    let invoices = rig.netsuite.bill_run("2026-12-31");
    let periods: Vec<&str> = invoices
        .iter()
        .flat_map(|i| i.lines.iter())
        .map(|l| l.period_start.as_str())
        .collect();
    assert!(
        !periods.is_empty(),
        "what was due before the stop was invoiced"
    );
    assert!(
        periods.iter().all(|p| *p < "2026-03-01"),
        "invoiced after the billing stop date: {invoices:#?}"
    );
    assert_eq!(rig.confirmed_targets(&key).await, ["netsuite"]);
    rig.no_dead_letters().await;
    // Every notification came twice; no business action happened twice at NetSuite.
    assert!(rig.cleverbridge.stats().notification_duplicates >= 4);
    let mut per_key = std::collections::BTreeMap::<String, usize>::new();
    for w in rig.netsuite.applied_writes() {
        if let Some(k) = w.idempotency_key {
            *per_key.entry(k).or_default() += 1;
        }
    }
    assert!(per_key.values().all(|&n| n == 1), "{per_key:?}");
}

/// Each shipped Cleverbridge pipeline loads as it is (what `junction validate` checks), with
/// the real connector modules' manifests and every secret its environment would give.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_cleverbridge_pipelines_validate_as_they_are() {
    let env = |name: &str| match name {
        "NS_M2M_PRIVATE_KEY" => Some(include_str!("../keys/netsuite-m2m-rsa.pem").to_owned()),
        _ => Some(format!("value-of-{name}")),
    };
    for name in ["cleverbridge-price-change", "cleverbridge-to-netsuite"] {
        let loaded = config::load(&[pipeline_path(name)], &env, &HostCatalog::new(host()))
            .unwrap_or_else(|d| panic!("{name} does not validate:\n{d}"));
        assert_eq!(
            loaded.warnings.iter().count(),
            0,
            "{name}: {}",
            loaded.warnings
        );
        assert_eq!(loaded.plans[0].name, name);
    }
    // Loaded together (one `junction run` of every shipped file), names and webhook paths do
    // not collide.
    let all: Vec<_> = [
        "stripe-to-netsuite",
        "cleverbridge-price-change",
        "cleverbridge-to-netsuite",
    ]
    .iter()
    .map(|n| pipeline_path(n))
    .collect();
    let loaded = config::load(&all, &env, &HostCatalog::new(host()))
        .unwrap_or_else(|d| panic!("the shipped pipelines do not load together:\n{d}"));
    assert_eq!(loaded.plans.len(), 3);
}
