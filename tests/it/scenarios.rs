//! The scenario suite: one test per way a subscription change goes wrong in the field, each
//! against the simulators, each on both store backends. `pipelines/stripe-to-netsuite.toml`
//! runs as shipped (URLs pointed at the simulators, test timings), so what is tested is what an
//! operator runs.
//!
//! Cases tested elsewhere, where they live:
//!
//! | case | test |
//! |---|---|
//! | the whole lifecycle in one (upgrade, downgrade, a product removed, cancellations) | `pipeline_e2e::subscription_lifecycle_reaches_billing_and_a_silent_drop_is_dead_lettered` |
//! | a downgrade at period end: billing hears of it on the next billing date, not before | `pipeline_cleverbridge::a_downgrade_at_period_end_reaches_billing_on_the_next_billing_date` |
//! | out-of-order delivery | `stripe_ordering`, `intake::duplicates_forgeries_and_late_events` |
//! | a future-dated change applied on its date and not before | `intake::a_future_dated_change_waits_on_a_durable_timer`, `pipeline_cleverbridge::a_price_change...` |
//! | SIGKILL mid-flight, every fault at once, then reconciliation | `campaign::` |
//! | concurrent updates from two systems; shadow mode writing nothing and reporting the diff | `pipeline_stripe_salesforce` |
//! | masking of personal data in every output | `masking::planted_secrets_and_personal_data_appear_in_no_output` |
//! | each delivery decision on manual time (back-off, Retry-After, deadlines) | `delivery_states` |
//! | a gate holding a payout, then released; manual review | `holds` |
//! | drift injected straight into the target and repaired by reconciliation | `reconcile::drift_is_reported_with_kinds_and_values_then_repaired` |

use std::time::Duration;

use junction::services::clock::{Clock, ShiftedClock};
use junction::store::Redrive;
use junction_tests::sim::faults::Faults;
use junction_tests::sim::stripe::sign_payload;

use crate::rig::{Rig, WEBHOOK_SECRET, applied_twice, fast};
use crate::support::Backend;

/// Every event Stripe sends arrives three times: twice from Stripe itself (a retry after a lost
/// acknowledgement) and once more by hand. NetSuite sees one business action per change.
async fn duplicate_webhooks_make_one_business_action(backend: Backend) {
    let rig = Rig::start_on(backend, fast).await;
    rig.stripe.faults().set(Faults {
        duplicate_webhook_rate: 1.0,
        ..Faults::default()
    });
    let price = rig.price(2500, "Cloud");
    let (_, sub) = rig.subscriber("dup@example.com", "Dup Ltd", &[(&price, 1)]);
    rig.stripe.update_subscription_quantity(&sub, 4).unwrap();
    rig.drain().await;
    let http = reqwest::Client::new();
    for event in rig.stripe.events() {
        let body = event.to_string();
        let signature = sign_payload(WEBHOOK_SECRET, Clock::system().now_ms() / 1000, &body);
        let answer = http
            .post(format!("{}/hooks/stripe", rig.url))
            .header("stripe-signature", signature)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "a duplicate is acknowledged");
    }
    rig.drain().await;

    rig.subscription_matches(&sub).await.unwrap();
    assert_eq!(rig.ns(&sub).await["items"][0]["quantity"], 4);
    let stats = rig.stripe.stats();
    assert!(
        stats.webhook_attempts >= 2 * stats.events,
        "Stripe sent each event twice: {stats:?}"
    );
    let twice = applied_twice(&rig.netsuite.applied_writes());
    assert!(twice.is_empty(), "{twice:#?}");
    let subscriptions = rig.netsuite.records("subscription");
    assert_eq!(subscriptions.len(), 1, "one subscription at NetSuite");
}

/// NetSuite fails some requests with a 5xx, hangs some past the call timeout, throttles some
/// with 429 and Retry-After, and fails some after applying them (2 % each). Every change still
/// lands once, and nothing is dead-lettered.
///
/// The rates are per request, and one attempt at a SuiteBilling write makes up to ~30 (reads
/// of the subscription, its lines, price plans, change orders): at 5 % each, an attempt
/// rarely gets through, and 30 attempts ran out once in four runs. Retrying idempotent reads
/// within a call is the connector's lever for that (the throughput issue).
async fn transient_failures_timeouts_and_429s_converge_without_a_second_action(backend: Backend) {
    let rig = Rig::start_on(backend, |text| {
        fast(text)
            .replace("call-timeout = \"10s\"", "call-timeout = \"1s\"")
            .replace(
                "attempts = 4, initial = \"50ms\", max = \"400ms\"",
                "attempts = 40, initial = \"50ms\", max = \"400ms\"",
            )
            .replace("within = \"1500ms\"", "within = \"5s\"")
    })
    .await;
    let price = rig.price(1000, "Cloud");
    let bigger = rig.price_like(&price, 3000);
    rig.netsuite.faults().set(Faults {
        error_rate: 0.02,
        timeout_rate: 0.02,
        hang_ms: 2_500,
        rate_limit_rate: 0.02,
        retry_after_s: 1,
        error_after_write_rate: 0.02,
        ..Faults::default()
    });
    let mut subs = Vec::new();
    for i in 0..4 {
        let (_, sub) = rig.subscriber(
            &format!("flaky{i}@example.com"),
            &format!("Flaky {i}"),
            &[(&price, 1)],
        );
        rig.stripe.update_subscription_price(&sub, &bigger).unwrap();
        subs.push(sub);
    }
    rig.drain().await;
    rig.netsuite.faults().set(Faults::default());
    let subs: Vec<&str> = subs.iter().map(String::as_str).collect();
    rig.converged(&subs).await;
}

/// NetSuite is down for ten minutes. Junction keeps every change, backs off on its own clock,
/// and once NetSuite is back delivers and confirms them all: nothing lost, nothing
/// dead-lettered. Junction's clock is moved forward a minute at a time rather than waited for.
async fn a_ten_minute_outage_is_ridden_out(backend: Backend) {
    let clock = ShiftedClock::new(Clock::system().now_ms());
    // The shipped retry policy: 12 attempts from 1 s, at most 10 minutes apart.
    let rig = Rig::start_with(
        backend,
        |text| {
            text.replace("within = \"2m\"", "within = \"3s\"")
                .replace("interval = \"1s\"", "interval = \"100ms\"")
                .replace("jitter = \"full\"", "jitter = \"none\"")
        },
        clock.clock(),
    )
    .await;
    let price = rig.price(1500, "Cloud");
    let mut subs = Vec::new();
    for i in 0..3 {
        let (_, sub) = rig.subscriber(
            &format!("outage{i}@example.com"),
            &format!("Outage {i}"),
            &[(&price, 2)],
        );
        subs.push(sub);
    }
    rig.wait_for_intake().await;
    rig.netsuite.faults().set(Faults {
        outage: true,
        ..Faults::default()
    });
    // Ten minutes of outage, a minute at a time: each minute the deliveries due are tried
    // and fail with 503.
    let minute = Duration::from_secs(60);
    for _ in 0..10 {
        rig.settle_due().await;
        clock.advance(minute);
        rig.netsuite.m2m().advance(60);
    }
    let st = rig.engine.store.stats(clock.now_ms()).await.unwrap();
    assert_eq!(st.dead, 0, "nothing given up during the outage: {st:?}");
    assert!(
        st.confirmed == 0,
        "nothing confirmed while NetSuite was down: {st:?}"
    );
    rig.netsuite.faults().set(Faults::default());
    // Back: the next retries (at most ten minutes away) go through.
    for _ in 0..11 {
        clock.advance(minute);
        rig.netsuite.m2m().advance(60);
        rig.settle_due().await;
    }
    let subs: Vec<&str> = subs.iter().map(String::as_str).collect();
    rig.converged(&subs).await;
}

/// A Stripe product NetSuite's catalog does not have yet: the subscription is refused and
/// dead-lettered with the reason. The operator adds the item and redrives; it is delivered and
/// confirmed under its original key.
async fn a_dead_letter_is_redriven_after_the_fix(backend: Backend) {
    let rig = Rig::start_on(backend, fast).await;
    let price = rig.stripe.create_price(9900, "usd", "month").unwrap();
    let product = rig.stripe.product_of(&price).unwrap();
    let (_, sub) = rig.subscriber("fix@example.com", "Fix Ltd", &[(&price, 1)]);
    rig.drain().await;
    let dead = rig.dead_letters().await;
    let letter = dead
        .iter()
        .find(|l| l.key == sub)
        .unwrap_or_else(|| panic!("the subscription is dead-lettered: {dead:#?}"));
    assert!(letter.reason.contains(&product), "{}", letter.reason);

    rig.netsuite.add_item(&product, "Enterprise");
    let redriven = rig
        .engine
        .store
        .redrive(&Redrive::Ids(vec![letter.id]))
        .await
        .unwrap();
    assert_eq!(redriven, 1);
    rig.converged(&[&sub]).await;
}

/// Stripe's webhooks to Junction are lost (an endpoint misconfigured for a day, say). Junction
/// lists Stripe's events of the last 30 days, oldest first, takes in the changes that never
/// arrived, and delivers them; the late webhooks, when they come after all, are duplicates.
async fn lost_webhooks_are_recovered_from_stripes_event_list(backend: Backend) {
    let rig = Rig::start_on(backend, fast).await;
    let price = rig.price(1200, "Cloud");
    rig.stripe.hold_webhooks();
    let (_, sub) = rig.subscriber("lost@example.com", "Lost Ltd", &[(&price, 2)]);
    rig.stripe.update_subscription_quantity(&sub, 5).unwrap();
    let pipeline = crate::rig::PIPELINE;
    let mut recovered = 0;
    for object in ["customer", "subscription"] {
        let found = rig
            .engine
            .recover(pipeline, "stripe", object, 0)
            .await
            .unwrap();
        assert_eq!(found.already_had, 0, "{object}: {found:?}");
        recovered += found.recovered;
    }
    assert!(
        recovered >= 3,
        "the customer and both subscription changes: {recovered}"
    );
    // Listing again finds nothing new.
    let again = rig
        .engine
        .recover(pipeline, "stripe", "subscription", 0)
        .await
        .unwrap();
    assert_eq!(again.recovered, 0, "{again:?}");
    // The webhooks arrive after all: duplicates, acknowledged and dropped.
    rig.stripe
        .release_webhooks(junction_tests::sim::stripe::Release::AsCreated);
    rig.drain().await;
    rig.subscription_matches(&sub)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rig.ns(&sub).await["items"][0]["quantity"], 5);
    let twice = applied_twice(&rig.netsuite.applied_writes());
    assert!(twice.is_empty(), "{twice:#?}");
    let unknown = rig
        .engine
        .recover(pipeline, "netsuite", "subscription", 0)
        .await;
    assert!(
        unknown.unwrap_err().to_string().contains("no [[source]]"),
        "a connector that is not a source is named"
    );
}

/// NetSuite is restored from last night's backup and loses the customer Junction wrote and
/// confirmed this morning (one with no transactions yet). `junction replay` sends the window's
/// writes again under their original keys; NetSuite answers a key it has seen with its earlier
/// success, the read-back finds nothing, and a corrective write under a derived key puts the
/// customer back, confirmed. What NetSuite kept is written again and confirmed as it is.
async fn a_replay_after_a_restore_puts_lost_records_back(backend: Backend) {
    let rig = Rig::start_on(backend, fast).await;
    let price = rig.price(2200, "Cloud");
    let (_, sub) = rig.subscriber("kept@example.com", "Kept Ltd", &[(&price, 1)]);
    let lost = rig
        .stripe
        .create_customer("restored@example.com", "Restored Ltd")
        .unwrap();
    rig.drain().await;
    assert!(rig.read("netsuite", "customer", &lost).await.is_some());
    assert!(
        rig.netsuite.remove_record("customer", &lost),
        "the restore loses it"
    );
    assert!(rig.read("netsuite", "customer", &lost).await.is_none());

    let replayed = rig
        .engine
        .store
        .replay(&junction::store::ReplayFilter {
            since_ms: 0,
            note: "replayed by ops: NetSuite restored from backup".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let keys: Vec<&str> = replayed.iter().map(|r| r.key.as_str()).collect();
    assert!(
        keys.contains(&lost.as_str()) && keys.contains(&sub.as_str()),
        "{keys:?}"
    );
    rig.converged(&[&sub]).await;
    let back = rig
        .read("netsuite", "customer", &lost)
        .await
        .expect("the customer is back at NetSuite");
    assert_eq!(back["name"], "Restored Ltd");
}

/// During an incident, billing writes wait while the customer records are put right: the
/// subscription route is paused until the `customers` reconciliation runs clean. A run that
/// still finds drift leaves it paused (it repairs); the next, clean run resumes it, and what
/// waited is delivered in order.
async fn a_route_paused_until_a_reconciliation_is_clean_resumes_on_the_clean_run(backend: Backend) {
    let rig = Rig::start_on(backend, |text| {
        format!(
            "{}\n[reconcile.customers]\nbetween = [\"stripe\", \"netsuite\"]\nobject = \"customer\"\n\
             fields = [\"name\", \"email\"]\nevery = \"24h\"\nrepair = true\n",
            fast(text)
        )
    })
    .await;
    let price = rig.price(1800, "Cloud");
    let (cus, sub) = rig.subscriber("paused@example.com", "Paused Ltd", &[(&price, 1)]);
    rig.drain().await;
    // Drift made in NetSuite itself.
    assert!(rig.netsuite.edit_record("customer", &cus, |f| {
        f.insert(
            "companyName".into(),
            serde_json::json!("Paused (edited in NetSuite)"),
        );
    }));
    let pipeline = crate::rig::PIPELINE;
    let store = &rig.engine.store;
    store
        .pause_route_until_clean(
            pipeline,
            "subscription-to-billing",
            "ops",
            "replay",
            "customers",
        )
        .await
        .unwrap();
    rig.stripe.update_subscription_quantity(&sub, 3).unwrap();
    rig.wait_for_intake().await;
    rig.settle_due().await;
    assert_eq!(
        rig.ns(&sub).await["items"][0]["quantity"],
        1,
        "the paused route waits"
    );

    let engine = rig.engine.clone();
    let run = |repair: bool| {
        let engine = engine.clone();
        async move {
            let options = junction::pipeline::reconcile::RunOptions {
                repair,
                ..Default::default()
            };
            engine
                .reconcile("customers", &options, &junction::pipeline::reconcile::Quiet)
                .await
                .expect("reconcile")
        }
    };
    let dirty = run(true).await;
    assert_eq!(dirty.out_of_sync(), 1, "{dirty:#?}");
    assert_eq!(
        store.paused_routes().await.unwrap().len(),
        1,
        "still paused after drift"
    );
    // The repair goes through the customer route, which is not paused.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while rig.read("netsuite", "customer", &cus).await.unwrap()["name"] != "Paused Ltd" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the repair did not land"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let clean = run(false).await;
    assert_eq!(clean.out_of_sync(), 0, "{clean:#?}");
    assert!(
        store.paused_routes().await.unwrap().is_empty(),
        "resumed by the clean run"
    );
    rig.drain().await;
    assert_eq!(rig.ns(&sub).await["items"][0]["quantity"], 3);
    let resumed = store
        .trace(&format!("{pipeline}/subscription-to-billing"))
        .await;
    assert!(resumed.is_ok());
}

/// An upgrade in Stripe (a dearer price of the same product) reaches billing as NetSuite
/// documents it: a change order, never a write of the line itself, confirmed at the new rate.
async fn an_upgrade_reaches_billing_at_the_new_price(backend: Backend) {
    let rig = Rig::start_on(backend, fast).await;
    let basic = rig.price(2000, "Cloud");
    let pro = rig.price_like(&basic, 5000);
    let (_, sub) = rig.subscriber("upgrade@example.com", "Upgrade Ltd", &[(&basic, 2)]);
    rig.converged(&[&sub]).await;
    assert_eq!(rig.ns(&sub).await["items"][0]["unit_amount"], 2000);
    rig.stripe.update_subscription_price(&sub, &pro).unwrap();
    rig.converged(&[&sub]).await;
    let billed = rig.ns(&sub).await;
    assert_eq!(billed["items"][0]["unit_amount"], 5000, "{billed}");
    assert_eq!(billed["items"][0]["quantity"], 2, "{billed}");
    let orders = rig.netsuite.records("subscriptionchangeorder");
    assert!(
        orders.iter().any(|o| o["action"] == "MODIFY_PRICING"),
        "the upgrade went as a change order: {orders:#?}"
    );
}

/// A cancellation in the current period sets the billing stop date, and NetSuite's billing,
/// run half a year ahead, invoices nothing of that subscription on or after it, while one left
/// running bills on.
async fn a_cancellation_in_the_current_period_stops_billing(backend: Backend) {
    let rig = Rig::start_on(backend, fast).await;
    let price = rig.price(3000, "Cloud");
    let mut subs = Vec::new();
    for name in ["Stopping", "Running"] {
        let email = format!("{}@example.com", name.to_lowercase());
        subs.push(rig.subscriber(&email, name, &[(&price, 1)]).1);
    }
    let (stopping, running) = (subs[0].as_str(), subs[1].as_str());
    rig.converged(&[stopping, running]).await;
    rig.stripe.cancel_now(stopping).unwrap();
    rig.converged(&[stopping, running]).await;
    let canceled = rig.ns(stopping).await;
    assert_eq!(canceled["status"], "canceled");
    let stop = canceled["billing_stop_at"]
        .as_str()
        .unwrap_or_else(|| panic!("a billing stop date: {canceled}"))[..10]
        .to_owned();

    // It started today (NetSuite bills against the wall date).
    let started = canceled["started_at"].as_str().unwrap_or_default()[..10].to_owned();
    let today = started.as_str();
    let through = format!("{}-12-31", today[..4].parse::<i32>().unwrap() + 1);
    let invoices = rig.netsuite.bill_run(&through);
    let periods = |sub: &str| -> Vec<String> {
        invoices
            .iter()
            .filter(|i| i.subscription == sub)
            .flat_map(|i| i.lines.iter().map(|l| l.period_start.clone()))
            .collect()
    };
    assert!(
        periods(stopping).iter().all(|p| *p < stop),
        "invoiced on or after the billing stop date {stop}: {:?}",
        periods(stopping)
    );
    assert!(
        periods(running).iter().any(|p| p.as_str() > today),
        "the running subscription bills on: {:?}",
        periods(running)
    );
}

/// NetSuite answers a write 202 and runs it later: the job stays Pending (here until the test
/// lets it run). Junction counts nothing done meanwhile: the delivery waits on the job, no
/// read-back is confirmed, and the record is not at NetSuite. Once the job is Processed, the
/// read-back confirms it, in that order in the audit trail.
async fn a_write_pending_at_netsuite_counts_only_once_processed(backend: Backend) {
    let rig = Rig::start_on(backend, |t| {
        fast(t).replace("within = \"1500ms\"", "within = \"5s\"")
    })
    .await;
    rig.netsuite.faults().set(Faults {
        async_pending_ms: 3_600_000,
        ..Faults::default()
    });
    let price = rig.price(1200, "Cloud");
    let (customer, sub) = rig.subscriber("pending@example.com", "Pending Ltd", &[(&price, 1)]);
    let store = &rig.engine.store;
    // Waits for the write to reach NetSuite's queue (a failure, not a hang, if it never does).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let waiting = loop {
        let st = store.stats(rig.engine.clock().now_ms()).await.unwrap();
        if st.awaiting_job > 0 {
            break st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no write reached NetSuite's queue within 30 s: {st:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        waiting.confirmed, 0,
        "nothing is done while NetSuite's job pends: {waiting:?}"
    );
    let jobs = rig.netsuite.jobs();
    assert!(
        !jobs.is_empty() && jobs.iter().all(|j| j.result.is_none()),
        "{jobs:?}"
    );
    assert!(rig.netsuite.record("customer", &customer).is_none());

    // NetSuite runs its queue.
    rig.netsuite.faults().set(Faults::default());
    rig.converged(&[&sub]).await;
    let kinds: Vec<&str> = store
        .trace(&customer)
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind.as_str())
        .filter(|k| ["accepted", "job_succeeded", "confirmed"].contains(k))
        .collect();
    let first = |k: &str| kinds.iter().position(|x| *x == k);
    assert!(
        first("accepted") < first("job_succeeded") && first("job_succeeded") < first("confirmed"),
        "accepted, then processed, then confirmed: {kinds:?}"
    );
}

/// A validation rule at NetSuite drops a write silently: 202, the job "succeeds", nothing
/// changes. The read-back shows the old values, so Junction sends at most two corrective
/// writes under keys derived from the original, then dead-letters the change as not confirmed,
/// naming the field; it never calls the write done. Once the rule is fixed, a redrive lands it.
async fn a_silently_dropped_write_is_never_called_done(backend: Backend) {
    let rig = Rig::start_on(backend, fast).await;
    let price = rig.price(1800, "Cloud");
    let (_, sub) = rig.subscriber("dropped@example.com", "Dropped Ltd", &[(&price, 1)]);
    rig.converged(&[&sub]).await;
    rig.netsuite.faults().set(Faults {
        silent_drop_rate: 1.0,
        ..Faults::default()
    });
    rig.stripe.update_subscription_quantity(&sub, 6).unwrap();
    rig.drain().await;
    assert_eq!(
        rig.ns(&sub).await["items"][0]["quantity"],
        1,
        "the drop was real"
    );
    let letters = rig.dead_letters().await;
    let letter = letters
        .iter()
        .find(|l| l.key == sub)
        .unwrap_or_else(|| panic!("the dropped write is dead-lettered: {letters:#?}"));
    assert!(
        letter.reason.contains("not confirmed") && letter.reason.contains("items"),
        "{}",
        letter.reason
    );
    let corrective = rig
        .engine
        .store
        .trace(&sub)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind.as_str() == "not_confirmed")
        .count();
    assert_eq!(corrective, 2, "two corrective writes, then the dead letter");
    assert!(applied_twice(&rig.netsuite.applied_writes()).is_empty());

    rig.netsuite.faults().set(Faults::default());
    let redriven = rig
        .engine
        .store
        .redrive(&Redrive::Ids(vec![letter.id]))
        .await
        .unwrap();
    assert_eq!(redriven, 1);
    rig.converged(&[&sub]).await;
    assert_eq!(rig.ns(&sub).await["items"][0]["quantity"], 6);
}

crate::support::on_both_backends!(
    an_upgrade_reaches_billing_at_the_new_price,
    a_cancellation_in_the_current_period_stops_billing,
    a_route_paused_until_a_reconciliation_is_clean_resumes_on_the_clean_run,
    a_replay_after_a_restore_puts_lost_records_back,
    lost_webhooks_are_recovered_from_stripes_event_list,
    duplicate_webhooks_make_one_business_action,
    transient_failures_timeouts_and_429s_converge_without_a_second_action,
    a_ten_minute_outage_is_ridden_out,
    a_dead_letter_is_redriven_after_the_fix,
    a_write_pending_at_netsuite_counts_only_once_processed,
    a_silently_dropped_write_is_never_called_done,
);
