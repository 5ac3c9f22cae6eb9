//! NetSuite connector against the NetSuite simulator, through the real host (the
//! `builtin:netsuite` component). The simulator verifies every TBA signature, so each passing
//! call also proves the host's OAuth 1.0 signing; it behaves as SuiteBilling is documented
//! (subscriptions from a plan, lines changed only by dated change orders, references without
//! external ids), independently of the connector.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use junction::host::oauth1::Tba;
use junction::host::{
    Auth, CallContext, CallError, Connector, EgressPolicy, InstanceSpec, Limits, Origin,
};
use junction::services::secret::Secret;
use junction_connector_kit::{self as kit, JobState, Operation, Outcome, Write};
use junction_tests::sim::faults::Faults;
use junction_tests::sim::netsuite::{NetSuiteSim, NetSuiteSimConfig, setup};
use serde_json::{Value, json};

use crate::support::host;

const CUSTOMER: &str = "cus_NsTest1";
const SUBSCRIPTION: &str = "sub_NsTest1";

/// How writes are sent (the `write-mode` setting).
#[derive(Clone, Copy)]
enum Mode {
    Async,
    Sync,
}

/// A simulated account with the SuiteBilling setup and the test's products in its catalog.
async fn start() -> NetSuiteSim {
    let sim = NetSuiteSim::start(NetSuiteSimConfig::default())
        .await
        .expect("the NetSuite simulator starts");
    sim.add_item("prod_Team", "Team");
    sim.add_item("prod_Storage", "Storage");
    sim
}

/// The TBA credentials the simulator accepts.
fn tba(config: &NetSuiteSimConfig) -> Tba {
    Tba {
        realm: config.account.clone(),
        consumer_key: Secret::new(config.consumer_key.as_str()),
        consumer_secret: Secret::new(config.consumer_secret.as_str()),
        token: Secret::new(config.token_id.as_str()),
        token_secret: Secret::new(config.token_secret.as_str()),
    }
}

/// The NetSuite connector granted what a pipeline grants it, pointed at `sim`.
async fn connector(sim: &NetSuiteSim, mode: Mode, tba: Tba) -> Connector {
    let host = host();
    let module = host
        .load("builtin:netsuite", None)
        .await
        .expect("the NetSuite connector loads");
    let mode = match mode {
        Mode::Async => "async",
        Mode::Sync => "sync",
    };
    let settings = [
        ("account", "1234567"),
        ("base-url", sim.base_url()),
        ("write-mode", mode),
        ("subscription-plan", setup::SUBSCRIPTION_PLAN),
        ("price-book", setup::PRICE_BOOK),
        ("initial-term", setup::INITIAL_TERM),
        ("billing-schedule", setup::BILLING_SCHEDULE),
    ];
    let spec = InstanceSpec {
        name: "netsuite".into(),
        settings: settings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        secrets: BTreeMap::new(),
        egress: EgressPolicy {
            allow_hosts: vec!["127.0.0.1".into()],
            auth: Auth::OAuth1(tba),
            credential_origins: vec![Origin::of_url(sim.base_url()).expect("simulator URL")],
            timeout: Duration::from_secs(10),
        },
        limits: Limits::default(),
        ..InstanceSpec::default()
    };
    host.instantiate(module, spec)
}

fn customer(id: &str) -> Value {
    json!({
        "id": id, "email": format!("{id}@example.com"), "name": format!("Buyer {id}"), "phone": null,
        "currency": "usd", "address": null, "created_at": null, "deleted": false, "metadata": {"tier": "gold"},
    })
}

/// An active subscription that bills again at the period end and is scheduled to stop later
/// (so both `next_billing_at` and `billing_stop_at` are set, at times other than midnight).
/// Its stop date lies in the future (NetSuite takes terminations effective on a date).
fn subscription(id: &str, customer_id: &str) -> Value {
    json!({
        "id": id, "customer_id": customer_id, "status": "active", "currency": "usd",
        "items": [{
            "id": "si_NsTest1", "price_id": "price_Team", "product_id": "prod_Team", "quantity": 3,
            "unit_amount": 2000, "currency": "usd", "interval": "month", "interval_count": 1,
        }],
        "interval": "month",
        "current_period_start": "2026-01-01T09:30:00Z", "current_period_end": "2026-02-01T09:30:00Z",
        "next_billing_at": "2026-02-01T09:30:00Z", "cancel_at_period_end": false,
        "cancel_at": "2036-06-15T12:00:00Z", "canceled_at": null, "billing_stop_at": "2036-06-15T12:00:00Z",
        "started_at": "2026-01-01T09:30:00Z", "metadata": {"plan": "team", "seats": "3"},
    })
}

fn write(object: &str, document: &Value, idempotency_key: &str) -> Write {
    Write {
        object: object.into(),
        key: document["id"]
            .as_str()
            .expect("the document has an id")
            .into(),
        operation: Operation::Update,
        document: document.to_string(),
        effective_at: None,
        occurred_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
        idempotency_key: idempotency_key.into(),
        correlation_id: "connector-test".into(),
    }
}

async fn apply(
    c: &Connector,
    object: &str,
    document: &Value,
    idempotency_key: &str,
) -> Result<Outcome, CallError> {
    c.apply(
        &CallContext::default(),
        write(object, document, idempotency_key),
    )
    .await
    .result
}

async fn job_status(c: &Connector, job: &str) -> JobState {
    c.job_status(&CallContext::default(), job)
        .await
        .result
        .unwrap_or_else(|e| panic!("job-status {job}: {e}"))
}

/// Asks for the job's state until it is no longer pending.
async fn settled(c: &Connector, job: &str) -> JobState {
    for _ in 0..300 {
        match job_status(c, job).await {
            JobState::Pending => tokio::time::sleep(Duration::from_millis(100)).await,
            done => return done,
        }
    }
    panic!("job {job} still pending after 30 s")
}

/// Applies a write as the runtime does: each step's job followed until it succeeds, then the
/// write applied again, until NetSuite needs nothing more. Answers the final job's state (or
/// the `applied` record) and the steps' outcomes.
async fn drive(c: &Connector, w: &Write) -> (JobState, Vec<Outcome>) {
    let mut outcomes = Vec::new();
    for _ in 0..10 {
        let outcome = c
            .apply(&CallContext::default(), w.clone())
            .await
            .result
            .unwrap_or_else(|e| panic!("apply {}: {e}", w.key));
        outcomes.push(outcome.clone());
        match outcome {
            Outcome::InProgress(job) => match settled(c, &job).await {
                JobState::Succeeded(_) => continue,
                failed => return (failed, outcomes),
            },
            Outcome::Accepted(job) => return (settled(c, &job).await, outcomes),
            Outcome::Applied(id) => return (JobState::Succeeded(id), outcomes),
        }
    }
    panic!("{} still in progress after 10 steps: {outcomes:?}", w.key)
}

/// What NetSuite is expected to hold after `w` (the connector's `expected`).
async fn kept(c: &Connector, w: &Write) -> Value {
    let doc = c
        .expected(&CallContext::default(), w.clone())
        .await
        .result
        .expect("expected");
    serde_json::from_str(&doc).unwrap()
}

fn accepted(outcome: Result<Outcome, CallError>) -> String {
    match outcome {
        Ok(Outcome::Accepted(job)) => job,
        other => panic!("expected an async job, got {other:?}"),
    }
}

async fn fetch(c: &Connector, object: &str, key: &str) -> Option<Value> {
    let found = c
        .fetch(&CallContext::default(), object, key)
        .await
        .result
        .unwrap_or_else(|e| panic!("fetch {object} {key}: {e}"));
    found.map(|d| serde_json::from_str(&d).expect("the document is JSON"))
}

/// NetSuite's internal id of the record with this external id.
fn internal_id(sim: &NetSuiteSim, record_type: &str, external_id: &str) -> String {
    let record = sim
        .record(record_type, external_id)
        .unwrap_or_else(|| panic!("NetSuite holds no {record_type} {external_id}"));
    record["id"]
        .as_str()
        .expect("records have an id")
        .to_owned()
}

#[tokio::test]
async fn a_subscription_is_made_changed_and_ended_as_suitebilling_documents_it() {
    let sim = start().await;
    // Long enough that the first job-status call certainly finds a job still pending.
    sim.faults().set(Faults {
        async_pending_ms: 300,
        ..Faults::default()
    });
    let c = connector(&sim, Mode::Async, tba(sim.config())).await;
    let (cus, mut sub) = (customer(CUSTOMER), subscription(SUBSCRIPTION, CUSTOMER));

    let customer_job = accepted(apply(&c, "customer", &cus, "idem-cus-1").await);
    assert_eq!(job_status(&c, &customer_job).await, JobState::Pending);
    assert_eq!(
        settled(&c, &customer_job).await,
        JobState::Succeeded(internal_id(&sim, "customer", CUSTOMER))
    );

    // Created: billing account, price plan and subscription; then its line included; then
    // activated (and its scheduled end) by change orders.
    let w = write("subscription", &sub, "idem-sub-1");
    let (done, outcomes) = drive(&c, &w).await;
    assert!(matches!(done, JobState::Succeeded(_)), "{done:?}");
    assert!(
        outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::InProgress(_)))
            .count()
            >= 2,
        "{outcomes:?}"
    );
    let back = fetch(&c, "subscription", SUBSCRIPTION)
        .await
        .expect("written");
    assert_eq!(
        back,
        kept(&c, &w).await,
        "reads back as NetSuite keeps the write"
    );
    assert_eq!(back["items"][0]["quantity"], 3);
    assert_eq!(back["billing_stop_at"], "2036-06-15T00:00:00Z");
    assert!(
        sim.record("billingaccount", &format!("{CUSTOMER}-usd"))
            .is_some()
    );
    assert!(sim.record("priceplan", "price_Team").is_some());
    let orders = sim.records("subscriptionchangeorder");
    let actions: Vec<&str> = orders.iter().filter_map(|o| o["action"].as_str()).collect();
    assert_eq!(actions, ["ACTIVATE", "TERMINATE"], "{orders:#?}");
    assert_eq!(orders[0]["effectiveDate"], "2026-01-01");
    assert_eq!(orders[1]["effectiveDate"], "2036-06-15");

    // Upgraded (a new price of the product, more seats) and a product added.
    sub["items"][0]["price_id"] = json!("price_TeamPlus");
    sub["items"][0]["unit_amount"] = json!(3500);
    sub["items"][0]["quantity"] = json!(5);
    sub["items"].as_array_mut().unwrap().push(json!({
        "id": "si_NsTest2", "price_id": "price_Storage", "product_id": "prod_Storage", "quantity": 2,
        "unit_amount": 700, "currency": "usd", "interval": "month", "interval_count": 1,
    }));
    let w = write("subscription", &sub, "idem-sub-2");
    assert!(matches!(drive(&c, &w).await.0, JobState::Succeeded(_)));
    let back = fetch(&c, "subscription", SUBSCRIPTION).await.unwrap();
    assert_eq!(back, kept(&c, &w).await);
    assert_eq!(back["items"].as_array().map(Vec::len), Some(2));
    let orders = sim.records("subscriptionchangeorder");
    let modify = orders
        .iter()
        .find(|o| o["action"] == "MODIFY_PRICING")
        .expect("a modify pricing change order");
    assert_eq!(modify["subline"]["items"][0]["quantityNew"], 5);

    // A product removed, and the scheduled end dropped: the end is withdrawn, the line ends.
    sub["items"].as_array_mut().unwrap().pop();
    sub["billing_stop_at"] = Value::Null;
    sub["cancel_at"] = Value::Null;
    let w = write("subscription", &sub, "idem-sub-3");
    assert!(matches!(drive(&c, &w).await.0, JobState::Succeeded(_)));
    let back = fetch(&c, "subscription", SUBSCRIPTION).await.unwrap();
    assert_eq!(back, kept(&c, &w).await);
    assert_eq!(back["items"].as_array().map(Vec::len), Some(1));
    assert!(back["billing_stop_at"].is_null(), "{back}");

    // Cancelled: every line terminated on the stop date; the subscription is terminated.
    sub["status"] = json!("canceled");
    sub["billing_stop_at"] = json!(format!("{}T08:00:00Z", today()));
    sub["canceled_at"] = sub["billing_stop_at"].clone();
    let w = write("subscription", &sub, "idem-sub-4");
    assert!(matches!(drive(&c, &w).await.0, JobState::Succeeded(_)));
    let back = fetch(&c, "subscription", SUBSCRIPTION).await.unwrap();
    assert_eq!(back, kept(&c, &w).await);
    assert_eq!(back["status"], "canceled");

    // Every write went asynchronously with a key; none set a status or lines directly.
    for w in sim.applied_writes() {
        assert!(w.idempotency_key.is_some(), "{w:?}");
        assert!(
            w.body.get("status").is_none() && w.body.get("subscriptionLine").is_none(),
            "{w:?}"
        );
    }
    let back = fetch(&c, "customer", CUSTOMER)
        .await
        .expect("the customer was written");
    for field in ["id", "email", "name", "currency"] {
        assert_eq!(
            back[field], cus[field],
            "customer.{field} reads back as written\n{back}"
        );
    }
}

/// A busy day: the quantity rises and the price switches back and forth, each change its own
/// write. NetSuite allows one modify pricing change order per line and date, so every change
/// after the first updates that day's order; the last one is what NetSuite bills.
#[tokio::test]
async fn many_changes_on_one_day_update_that_days_change_order() {
    let sim = start().await;
    let c = connector(&sim, Mode::Async, tba(sim.config())).await;
    let customer_job = accepted(apply(&c, "customer", &customer(CUSTOMER), "idem-cus").await);
    assert!(matches!(
        settled(&c, &customer_job).await,
        JobState::Succeeded(_)
    ));
    let mut sub = subscription(SUBSCRIPTION, CUSTOMER);
    assert!(matches!(
        drive(&c, &write("subscription", &sub, "idem-day-0"))
            .await
            .0,
        JobState::Succeeded(_)
    ));
    for (n, (quantity, price, amount)) in [
        (4, "price_TeamPlus", 3500),
        (5, "price_Team", 2000),
        (6, "price_TeamPlus", 3500),
        (7, "price_Team", 2000),
        (8, "price_TeamPlus", 3500),
    ]
    .into_iter()
    .enumerate()
    {
        sub["items"][0]["quantity"] = json!(quantity);
        sub["items"][0]["price_id"] = json!(price);
        sub["items"][0]["unit_amount"] = json!(amount);
        let w = write("subscription", &sub, &format!("idem-day-{}", n + 1));
        assert!(matches!(drive(&c, &w).await.0, JobState::Succeeded(_)));
        let back = fetch(&c, "subscription", SUBSCRIPTION).await.unwrap();
        assert_eq!(back, kept(&c, &w).await, "after change {}", n + 1);
    }
    let modifies = sim
        .records("subscriptionchangeorder")
        .into_iter()
        .filter(|o| o["action"] == "MODIFY_PRICING")
        .count();
    assert_eq!(modifies, 1, "one modify pricing change order for the day");
}

/// Unpaid, then paid, then unpaid and cancelled: SUSPEND and REACTIVATE change orders, and a
/// suspended line reactivated before it is terminated ("to terminate a subscription line
/// item, it must have a status of Active or Pending Activation").
#[tokio::test]
async fn a_subscription_that_stops_being_paid_is_suspended_resumed_and_ended() {
    let sim = start().await;
    let c = connector(&sim, Mode::Async, tba(sim.config())).await;
    let customer_job = accepted(apply(&c, "customer", &customer(CUSTOMER), "idem-cus").await);
    assert!(matches!(
        settled(&c, &customer_job).await,
        JobState::Succeeded(_)
    ));
    let mut sub = subscription(SUBSCRIPTION, CUSTOMER);
    sub["billing_stop_at"] = Value::Null;
    sub["cancel_at"] = Value::Null;
    let steps = [
        ("past_due", "paused", "SUSPEND"),
        ("active", "active", "REACTIVATE"),
        ("unpaid", "paused", "SUSPEND"),
        ("canceled", "canceled", "TERMINATE"),
    ];
    for (n, (status, kept_as, action)) in steps.into_iter().enumerate() {
        sub["status"] = json!(status);
        if status == "canceled" {
            sub["billing_stop_at"] = json!(format!("{}T08:00:00Z", today()));
        }
        // One change a day, the last today: NetSuite takes one change order of a kind per
        // line and date.
        let mut w = write("subscription", &sub, &format!("idem-pay-{n}"));
        w.occurred_at -= (3 - n as i64) * 86_400_000;
        let (done, _) = drive(&c, &w).await;
        assert!(matches!(done, JobState::Succeeded(_)), "{status}: {done:?}");
        let back = fetch(&c, "subscription", SUBSCRIPTION).await.unwrap();
        assert_eq!(back, kept(&c, &w).await, "{status}");
        assert_eq!(back["status"], kept_as);
        let actions: Vec<String> = sim
            .records("subscriptionchangeorder")
            .iter()
            .filter_map(|o| o["action"].as_str().map(str::to_string))
            .collect();
        assert!(actions.iter().any(|a| a == action), "{status}: {actions:?}");
    }
    // The last suspension was lifted before the line could end.
    let actions: Vec<String> = sim
        .records("subscriptionchangeorder")
        .iter()
        .filter_map(|o| o["action"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        actions.iter().filter(|a| *a == "REACTIVATE").count(),
        2,
        "{actions:?}"
    );
}

fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    junction_connector_kit::time::date(secs)
}
#[tokio::test]
async fn the_same_write_under_the_same_idempotency_key_is_applied_once() {
    let sim = start().await;
    let c = connector(&sim, Mode::Async, tba(sim.config())).await;
    let cus = customer(CUSTOMER);
    let first = apply(&c, "customer", &cus, "idem-once").await;
    let job = accepted(first.clone());
    assert!(matches!(settled(&c, &job).await, JobState::Succeeded(_)));
    let (writes, jobs) = (sim.applied_writes().len(), sim.jobs().len());

    let again = apply(&c, "customer", &cus, "idem-once").await;
    assert_eq!(
        again, first,
        "a repeated key is answered with the original job"
    );
    assert_eq!(sim.jobs().len(), jobs, "no second job was submitted");
    assert_eq!(
        sim.applied_writes().len(),
        writes,
        "no second write was applied"
    );
    let for_customer = sim
        .applied_writes()
        .iter()
        .filter(|w| w.external_id.as_deref() == Some(CUSTOMER))
        .count();
    assert_eq!(for_customer, 1);
}

#[tokio::test]
async fn in_sync_mode_a_write_is_applied_at_once() {
    let sim = start().await;
    let c = connector(&sim, Mode::Sync, tba(sim.config())).await;
    let cus = customer(CUSTOMER);
    let outcome = apply(&c, "customer", &cus, "idem-sync").await;
    assert_eq!(
        outcome,
        Ok(Outcome::Applied(internal_id(&sim, "customer", CUSTOMER)))
    );
    assert!(sim.jobs().is_empty(), "no async job was involved");
    assert_eq!(
        fetch(&c, "customer", CUSTOMER)
            .await
            .map(|d| d["email"].clone()),
        Some(cus["email"].clone())
    );
}

#[tokio::test]
async fn list_pages_through_every_customer_exactly_once() {
    let sim = start().await;
    let c = connector(&sim, Mode::Sync, tba(sim.config())).await;
    let keys: HashSet<String> = (0..5).map(|i| format!("cus_List{i}")).collect();
    for key in &keys {
        assert!(matches!(
            apply(&c, "customer", &customer(key), &format!("idem-{key}")).await,
            Ok(Outcome::Applied(_))
        ));
    }

    let (mut seen, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let page = c
            .list(&CallContext::default(), "customer", cursor.as_deref(), 2)
            .await
            .result
            .expect("list");
        pages += 1;
        assert!(page.items.len() <= 2, "a page holds at most the limit");
        for item in &page.items {
            let doc: Value = serde_json::from_str(&item.document).unwrap();
            assert_eq!(
                (&doc["id"], &doc["email"]),
                (
                    &json!(item.key),
                    &json!(format!("{}@example.com", item.key))
                )
            );
        }
        seen.extend(page.items.into_iter().map(|i| i.key));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 10, "paging does not end: {seen:?}");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 5, "each customer once: {seen:?}");
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), keys);
}

#[tokio::test]
async fn fetch_of_a_record_netsuite_does_not_hold_is_none() {
    let sim = start().await;
    let c = connector(&sim, Mode::Async, tba(sim.config())).await;
    assert_eq!(fetch(&c, "customer", "cus_Missing").await, None);
    assert_eq!(fetch(&c, "subscription", "sub_Missing").await, None);
}

#[tokio::test]
async fn a_wrong_token_secret_is_unauthorized() {
    let sim = start().await;
    let wrong = Tba {
        token_secret: Secret::new("not-the-token-secret"),
        ..tba(sim.config())
    };
    let c = connector(&sim, Mode::Sync, wrong).await;
    let err = c
        .fetch(&CallContext::default(), "customer", CUSTOMER)
        .await
        .result
        .unwrap_err();
    assert!(
        matches!(err, CallError::Connector(kit::Error::Unauthorized(_))),
        "{err:?}"
    );
    let err = apply(&c, "customer", &customer(CUSTOMER), "idem-denied")
        .await
        .unwrap_err();
    assert!(
        matches!(err, CallError::Connector(kit::Error::Unauthorized(_))),
        "{err:?}"
    );
    assert!(sim.stats().auth_failures >= 2 && sim.applied_writes().is_empty());
}

/// The runtime retries `not-found` and dead-letters `rejected`: a subscription that arrives
/// before its customer must be retried, not given up on.
#[tokio::test]
async fn a_subscription_whose_customer_does_not_exist_yet_is_not_found() {
    let sim = start().await;
    let c = connector(&sim, Mode::Sync, tba(sim.config())).await;
    let err = apply(
        &c,
        "subscription",
        &subscription(SUBSCRIPTION, CUSTOMER),
        "idem-early",
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, CallError::Connector(kit::Error::NotFound(m)) if m.contains("customer")),
        "{err:?}"
    );
    assert!(sim.record("subscription", SUBSCRIPTION).is_none());
}

/// The steps' jobs fail `not-found`; the runtime's retry carries the same idempotency key, and
/// once the customer exists it must go through (under the keys' next generation) rather than
/// replay the failed jobs forever.
#[tokio::test]
async fn an_async_subscription_before_its_customer_goes_through_when_retried_after_it() {
    let sim = start().await;
    let c = connector(&sim, Mode::Async, tba(sim.config())).await;
    let sub = subscription(SUBSCRIPTION, CUSTOMER);
    let w = write("subscription", &sub, "idem-sub-early");
    let (failed, _) = drive(&c, &w).await;
    assert!(
        matches!(failed, JobState::Failed(kit::Error::NotFound(_))),
        "{failed:?}"
    );

    let customer_job = accepted(apply(&c, "customer", &customer(CUSTOMER), "idem-cus-late").await);
    assert!(matches!(
        settled(&c, &customer_job).await,
        JobState::Succeeded(_)
    ));
    let (done, _) = drive(&c, &w).await;
    assert!(matches!(done, JobState::Succeeded(_)), "{done:?}");
    let back = fetch(&c, "subscription", SUBSCRIPTION)
        .await
        .expect("written");
    assert_eq!(back["customer_id"], json!(CUSTOMER));
    assert_eq!(back, kept(&c, &w).await);
}

/// A source whose price ids do not change with the amount (Cleverbridge: the product is the
/// price) moves a subscription to a new amount under the same price id. That amount bills
/// with a price plan of its own from the change's date; the first plan keeps its rate, so
/// nothing billed with it before (or by another subscription) is repriced.
#[tokio::test]
async fn a_new_amount_under_the_same_price_id_gets_a_price_plan_of_its_own() {
    let sim = start().await;
    let c = connector(&sim, Mode::Async, tba(sim.config())).await;
    let customer_job = accepted(apply(&c, "customer", &customer(CUSTOMER), "idem-cus").await);
    assert!(matches!(
        settled(&c, &customer_job).await,
        JobState::Succeeded(_)
    ));
    let mut sub = subscription(SUBSCRIPTION, CUSTOMER);
    assert!(matches!(
        drive(&c, &write("subscription", &sub, "idem-same-0"))
            .await
            .0,
        JobState::Succeeded(_)
    ));
    sub["items"][0]["unit_amount"] = json!(2150);
    let w = write("subscription", &sub, "idem-same-1");
    assert!(matches!(drive(&c, &w).await.0, JobState::Succeeded(_)));
    let back = fetch(&c, "subscription", SUBSCRIPTION).await.unwrap();
    assert_eq!(back, kept(&c, &w).await);
    assert_eq!(back["items"][0]["price_id"], "price_Team");
    assert_eq!(back["items"][0]["unit_amount"], 2150);
    let first = sim
        .record("priceplan", "price_Team")
        .expect("the first plan");
    assert_eq!(first["priceTiers"]["items"][0]["value"], 20.0, "{first}");
    assert!(sim.record("priceplan", "price_Team--2150").is_some());
    let modify = sim
        .records("subscriptionchangeorder")
        .into_iter()
        .find(|o| o["action"] == "MODIFY_PRICING")
        .expect("a modify pricing change order");
    assert_eq!(modify["effectiveDate"], today(), "{modify}");
}
