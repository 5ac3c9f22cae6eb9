//! Reconciliation against the simulators: drift made straight in NetSuite (a field changed, a
//! record deleted, one added) is reported with its kind and values (masked), repaired through
//! the route from Stripe so the next run is clean, a repair run twice writes once, and the
//! schedule inside `junction run` runs a job at `every` on the manual clock and not before.

use std::sync::Arc;
use std::time::Duration;

use junction::config;
use junction::pipeline::instances::HostCatalog;
use junction::pipeline::reconcile::{DriftKind, Quiet, Report, RunOptions};
use junction::pipeline::{Engine, Options};
use junction::services::clock::ManualClock;
use junction::store::{AuditKind, RepairOutcome, Store};
use junction_tests::sim::netsuite::NetSuiteSim;
use junction_tests::sim::stripe::{StripeSim, StripeSimConfig};
use serde_json::json;

use crate::rig::{Rig, env, fast, pipeline_text};
use crate::support::{Backend, host, on_both_backends};

/// A second job beside the pipeline's own `subscriptions`: customers, whose e-mail the
/// pipeline masks (hash) and whose phone it shows by its last four digits.
fn with_customers_job(text: String) -> String {
    format!(
        "{text}\n[reconcile.customers]\nbetween = [\"stripe\", \"netsuite\"]\nobject = \"customer\"\n\
         fields = [\"name\", \"email\", \"phone\", \"currency\"]\nevery = \"1h\"\nrepair = false\n"
    )
}

async fn run(engine: &Engine, job: &str, repair: bool) -> Report {
    let options = RunOptions {
        repair,
        ..RunOptions::default()
    };
    engine
        .reconcile(job, &options, &Quiet)
        .await
        .unwrap_or_else(|e| panic!("reconcile {job}: {e}"))
}

async fn drift_is_reported_with_kinds_and_values_then_repaired(backend: Backend) {
    let rig = Rig::start_on(backend, |t| with_customers_job(fast(t))).await;
    let s = &rig.stripe;
    let alpha = s.create_customer("alpha@example.com", "Alpha").unwrap();
    let bravo = s.create_customer("bravo@example.com", "Bravo").unwrap();
    let charlie = s.create_customer("charlie@example.com", "Charlie").unwrap();
    rig.drain().await;
    let clean = run(&rig.engine, "customers", false).await;
    assert_eq!(clean.out_of_sync(), 0, "{clean:#?}");
    assert_eq!(clean.counts.in_sync, 3);

    // Drift made in NetSuite itself: a name and an e-mail edited, a customer deleted, and one
    // that Stripe never had.
    assert!(rig.netsuite.edit_record("customer", &bravo, |f| {
        f.insert("companyName".into(), json!("Bravo (edited in NetSuite)"));
        f.insert("email".into(), json!("someone.else@example.com"));
    }));
    assert!(rig.netsuite.remove_record("customer", &charlie));
    rig.netsuite
        .add_customer("cus_only_in_netsuite", "Stray", "usd");

    let report = run(&rig.engine, "customers", false).await;
    assert_eq!(
        (
            report.counts.owner_listed,
            report.counts.target_listed,
            report.counts.in_sync,
            report.counts.missing,
            report.counts.extra,
            report.counts.differing,
            report.counts.repaired,
        ),
        (3, 3, 1, 1, 1, 1, 0),
        "{report:#?}"
    );
    let metrics = rig.engine.metrics.render(None);
    assert!(
        metrics.contains(
            "junction_reconcile_out_of_sync{pipeline=\"stripe-to-netsuite\",job=\"customers\"} 3"
        ),
        "{metrics}"
    );
    let kind_of = |key: &str| report.drift.iter().find(|d| d.key == key).map(|d| d.kind);
    assert_eq!(kind_of(&alpha), None);
    assert_eq!(kind_of(&bravo), Some(DriftKind::Differing));
    assert_eq!(kind_of(&charlie), Some(DriftKind::Missing));
    assert_eq!(kind_of("cus_only_in_netsuite"), Some(DriftKind::Extra));
    let mut keys: Vec<&str> = report.drift.iter().map(|d| d.key.as_str()).collect();
    let sorted = {
        let mut k = keys.clone();
        k.sort_unstable();
        k
    };
    assert_eq!(keys, sorted, "drift comes in key order");
    keys.clear();
    let bravo_drift = report.drift.iter().find(|d| d.key == bravo).unwrap();
    let fields: Vec<&str> = bravo_drift
        .fields
        .iter()
        .map(|f| f.field.as_str())
        .collect();
    assert_eq!(fields, ["name", "email"], "{bravo_drift:#?}");
    assert_eq!(bravo_drift.fields[0].owner, json!("Bravo"));
    assert_eq!(
        bravo_drift.fields[0].target,
        json!("Bravo (edited in NetSuite)")
    );
    // E-mail addresses are masked (hashed), both sides, and still differ.
    let email = &bravo_drift.fields[1];
    let shown = serde_json::to_string(email).unwrap();
    assert!(!shown.contains("@example.com"), "unmasked: {shown}");
    assert_ne!(email.owner, email.target);
    // The run is recorded.
    let runs = rig
        .engine
        .store
        .reconcile_runs(crate::rig::PIPELINE, "customers", 5)
        .await
        .unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(
        (runs[0].id, runs[0].status.as_str(), runs[0].differing),
        (report.run_id, "ok", 1)
    );
    assert!(!runs[0].summary.as_deref().unwrap().contains("@example.com"));

    // Repair: Stripe owns customers, so its values win; the stray is never deleted.
    let repair = run(&rig.engine, "customers", true).await;
    assert_eq!(repair.repairs.queued, 2, "{repair:#?}");
    assert_eq!(repair.counts.repaired, 2);
    rig.drain().await;
    let after = run(&rig.engine, "customers", false).await;
    assert_eq!(
        (
            after.counts.missing,
            after.counts.differing,
            after.counts.extra
        ),
        (0, 0, 1),
        "{after:#?}"
    );
    assert!(
        rig.netsuite
            .record("customer", "cus_only_in_netsuite")
            .is_some()
    );
    let restored = rig
        .netsuite
        .record("customer", &charlie)
        .expect("recreated");
    assert_eq!(restored["companyName"], "Charlie");
    // Each repair is audited with the target's values before and the owner's after, masked.
    let story = rig.engine.store.trace(&bravo).await.unwrap();
    let reconciled: Vec<_> = story
        .iter()
        .filter(|e| e.kind == AuditKind::Reconciled)
        .collect();
    assert_eq!(reconciled.len(), 1, "{story:#?}");
    let detail = &reconciled[0].detail;
    assert_eq!(detail["before"]["name"], "Bravo (edited in NetSuite)");
    assert_eq!(detail["after"]["name"], "Bravo");
    assert!(!detail.to_string().contains("@example.com"), "{detail}");
    // And it went the normal way: planned, written, confirmed.
    assert!(
        story.iter().any(|e| e.kind == AuditKind::Confirmed
            && e.event_id
                .as_deref()
                .is_some_and(|id| id.starts_with("reconcile:customers:"))),
        "{story:#?}"
    );
}

async fn a_repair_run_twice_writes_once(backend: Backend) {
    let rig = Rig::start_on(backend, |t| with_customers_job(fast(t))).await;
    let delta = rig
        .stripe
        .create_customer("delta@example.com", "Delta")
        .unwrap();
    rig.drain().await;
    assert!(rig.netsuite.edit_record("customer", &delta, |f| {
        f.insert("companyName".into(), json!("Delta typo"));
    }));
    // NetSuite takes its time with writes (202, then a job pending for a while), so the first
    // repair is still under way when the second run looks.
    rig.netsuite
        .faults()
        .set(junction_tests::sim::faults::Faults {
            async_pending_ms: 600,
            ..Default::default()
        });
    let first = run(&rig.engine, "customers", true).await;
    assert_eq!(first.repairs.queued, 1, "{first:#?}");
    let second = run(&rig.engine, "customers", true).await;
    assert_eq!(
        (
            second.counts.differing,
            second.repairs.queued,
            second.repairs.in_flight
        ),
        (1, 0, 1),
        "{second:#?}"
    );
    assert_eq!(second.drift[0].repair, Some(RepairOutcome::InFlight));
    rig.drain().await;
    let third = run(&rig.engine, "customers", true).await;
    assert_eq!(third.out_of_sync(), 0, "{third:#?}");
    assert_eq!(third.repairs.queued, 0);
    // One repair, so one write planned for it.
    let story = rig.engine.store.trace(&delta).await.unwrap();
    let planned: Vec<_> = story
        .iter()
        .filter(|e| {
            e.kind == AuditKind::Planned
                && e.event_id
                    .as_deref()
                    .is_some_and(|id| id.starts_with("reconcile:"))
        })
        .collect();
    assert_eq!(planned.len(), 1, "{story:#?}");
    assert_eq!(
        story
            .iter()
            .filter(|e| e.kind == AuditKind::Reconciled)
            .count(),
        1
    );
    assert_eq!(
        rig.netsuite.record("customer", &delta).unwrap()["companyName"],
        "Delta"
    );
}

/// The same repair stored again (same run, same entity) is a duplicate at intake.
async fn the_same_repair_is_stored_once(backend: Backend) {
    let test_store = backend.store().await;
    let store = Store::open(&test_store.url).await.unwrap();
    let repair = junction::store::Repair {
        change: junction::store::NewChange {
            pipeline: "p".into(),
            source: "stripe".into(),
            source_event_id: "reconcile:customers:7:cus_1".into(),
            object: "customer".into(),
            key: "cus_1".into(),
            operation: junction::store::Operation::Snapshot,
            before: None,
            after: Some(r#"{"id":"cus_1"}"#.into()),
            occurred_at_ms: 1,
            effective_at_ms: None,
            source_version: 0,
            metadata: "{}".into(),
            correlation_id: "c-1".into(),
        },
        target: "netsuite".into(),
        job: "customers".into(),
        run_id: 7,
        before: json!({ "name": "x" }),
        after: json!({ "name": "y" }),
    };
    let first = store
        .reconcile_repairs(std::slice::from_ref(&repair))
        .await
        .unwrap();
    let again = store.reconcile_repairs(&[repair]).await.unwrap();
    assert_eq!(first, [RepairOutcome::Queued]);
    assert_eq!(again, [RepairOutcome::Duplicate]);
    let story = store.trace("cus_1").await.unwrap();
    assert_eq!(
        story
            .iter()
            .filter(|e| e.kind == AuditKind::Reconciled)
            .count(),
        1
    );
}

/// Writes still unsettled past their route's confirmation window are counted per route, for
/// the `deliveries_overdue` metric; on manual time.
async fn overdue_writes_are_counted_per_route(backend: Backend) {
    let test_store = backend.store().await;
    let clock = ManualClock::new(1_740_819_600_000);
    let store = Store::open(&test_store.url)
        .await
        .unwrap()
        .with_clock(clock.clock());
    let change = junction::store::NewChange {
        pipeline: "p".into(),
        source: "stripe".into(),
        source_event_id: "evt_1".into(),
        object: "customer".into(),
        key: "cus_1".into(),
        operation: junction::store::Operation::Update,
        before: None,
        after: Some(r#"{"id":"cus_1"}"#.into()),
        occurred_at_ms: 1,
        effective_at_ms: None,
        source_version: 1,
        metadata: "{}".into(),
        correlation_id: "c-1".into(),
    };
    let change_id = store.intake(&[change]).await.unwrap()[0].change_id();
    let delivery = junction::store::NewDelivery {
        pipeline: "p".into(),
        route: "customer-to-netsuite".into(),
        target: "netsuite".into(),
        object: "customer".into(),
        key: "cus_1".into(),
        operation: junction::store::Operation::Update,
        document: r#"{"id":"cus_1"}"#.into(),
        effective_at_ms: None,
        occurred_at_ms: 1,
        source_version: 1,
        idempotency_key: "jn-1".into(),
        priority: 1,
        not_before_ms: None,
        state: junction::store::InitialState::Pending,
        correlation_id: "c-1".into(),
        confirm: Some(junction::store::ConfirmSpec {
            fields: vec!["name".into()],
            within_ms: 30_000,
        }),
        max_attempts: 3,
        on_behalf_of: None,
    };
    store
        .commit_plan(change_id, vec![delivery], vec![])
        .await
        .unwrap();
    let now = clock.clock().now_ms();
    assert!(
        store
            .overdue_by_route(now + 30_000)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.overdue_by_route(now + 30_001).await.unwrap(),
        [("p".to_owned(), "customer-to-netsuite".to_owned(), 1)]
    );
    let metrics = junction::pipeline::Metrics::default();
    metrics.set_overdue(&store.overdue_by_route(now + 30_001).await.unwrap());
    assert!(
        metrics.render(None).contains(
            "junction_deliveries_overdue{pipeline=\"p\",route=\"customer-to-netsuite\"} 1"
        ),
        "{}",
        metrics.render(None)
    );
}

/// An engine over the Stripe -> NetSuite pipeline on `clock` and the store at `url`, without
/// workers: the test drives the scheduler's step itself.
async fn engine_on(
    stripe: &StripeSim,
    netsuite: &NetSuiteSim,
    url: &str,
    clock: &ManualClock,
) -> Arc<Engine> {
    let text = pipeline_text(&stripe.base_url(), netsuite.base_url(), |t| {
        with_customers_job(fast(t))
    });
    let file = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../pipelines/stripe-to-netsuite.toml"
    ));
    let loaded = config::load_str(
        file,
        &text,
        &env(netsuite.config()),
        &HostCatalog::new(host()),
    )
    .unwrap_or_else(|d| panic!("pipeline does not load:\n{d}"));
    let store = Store::open(url).await.expect("store");
    let options = Options {
        clock: clock.clock(),
        ..Options::default()
    };
    Engine::new(loaded.plans, store, &host(), options)
        .await
        .expect("engine starts")
}

async fn a_scheduled_run_happens_at_every_and_not_before(backend: Backend) {
    let netsuite = NetSuiteSim::start(junction_tests::demo::netsuite_sim_config())
        .await
        .unwrap();
    let stripe = StripeSim::start(StripeSimConfig::default()).await.unwrap();
    stripe.create_customer("echo@example.com", "Echo").unwrap();
    let test_store = backend.store().await;
    let clock = ManualClock::new(junction::services::clock::Clock::system().now_ms());
    let engine = engine_on(&stripe, &netsuite, &test_store.url, &clock).await;
    let ran = |r: &[(String, Result<Report, _>)]| -> Vec<String> {
        r.iter().map(|(job, _)| job.clone()).collect()
    };

    // First sight: both jobs are scheduled one interval ahead (customers 1h, subscriptions
    // 24h), nothing runs now.
    assert!(ran(&engine.reconcile_due().await).is_empty());
    clock.advance(Duration::from_secs(3600) - Duration::from_millis(1));
    netsuite.m2m().advance(3600);
    assert!(ran(&engine.reconcile_due().await).is_empty(), "ran early");
    clock.advance(Duration::from_millis(1));
    let due = engine.reconcile_due().await;
    assert_eq!(ran(&due), ["customers"]);
    let report = due[0].1.as_ref().expect("the scheduled run succeeds");
    // The customer is missing at NetSuite (nothing delivered it), and the job does not repair.
    assert_eq!((report.counts.missing, report.repairs.queued), (1, 0));
    let runs = engine
        .store
        .reconcile_runs(crate::rig::PIPELINE, "customers", 5)
        .await
        .unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].trigger, "scheduled");
    assert_eq!(runs[0].started_at_ms, clock.clock().now_ms());

    // Once per interval: not again at once, nor after a restart.
    assert!(ran(&engine.reconcile_due().await).is_empty());
    let restarted = engine_on(&stripe, &netsuite, &test_store.url, &clock).await;
    assert!(
        ran(&restarted.reconcile_due().await).is_empty(),
        "a restart reran it"
    );
    // A worker down for two and a half intervals runs once when it is back, not three times.
    clock.advance(Duration::from_secs(9000));
    netsuite.m2m().advance(9000);
    assert_eq!(ran(&restarted.reconcile_due().await), ["customers"]);
    assert!(ran(&restarted.reconcile_due().await).is_empty());
    clock.advance(Duration::from_secs(1800));
    netsuite.m2m().advance(1800);
    assert_eq!(ran(&restarted.reconcile_due().await), ["customers"]);
}

on_both_backends!(
    drift_is_reported_with_kinds_and_values_then_repaired,
    a_repair_run_twice_writes_once,
    the_same_repair_is_stored_once,
    a_scheduled_run_happens_at_every_and_not_before,
    overdue_writes_are_counted_per_route,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_jobs_and_lists_that_fail_are_named() {
    let rig = Rig::start(|t| with_customers_job(fast(t))).await;
    let err = rig
        .engine
        .reconcile("custmers", &RunOptions::default(), &Quiet)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no reconcile job `custmers`")
            && err.contains("`customers`")
            && err.contains("`subscriptions`"),
        "{err}"
    );
    for i in 0..3 {
        rig.stripe
            .create_customer(&format!("f{i}@example.com"), &format!("F{i}"))
            .unwrap();
    }
    rig.drain().await;
    // NetSuite goes down: the run fails naming the side and how far it got, and is recorded.
    rig.netsuite
        .faults()
        .set(junction_tests::sim::faults::Faults {
            outage: true,
            ..Default::default()
        });
    let err = rig
        .engine
        .reconcile("customers", &RunOptions::default(), &Quiet)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("listing `customer` at `netsuite` failed after 0 entities"),
        "{err}"
    );
    let runs = rig
        .engine
        .store
        .reconcile_runs(crate::rig::PIPELINE, "customers", 1)
        .await
        .unwrap();
    assert_eq!(runs[0].status, "failed");
    assert!(runs[0].error.as_deref().unwrap().contains("netsuite"));
}

/// The pipeline's own job: after a subscription lifecycle the two sides agree as NetSuite
/// keeps them (dates without a time, its coarser status): no false drift.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_in_sync_show_no_drift() {
    let rig = Rig::start(fast).await;
    let basic = rig.price(2000, "Cloud");
    let cus = rig
        .stripe
        .create_customer("golf@example.com", "Golf")
        .unwrap();
    let sub = rig
        .stripe
        .create_subscription(&cus, &[(&basic, 2)])
        .unwrap();
    rig.drain().await;
    let report = run(&rig.engine, "subscriptions", false).await;
    assert_eq!(report.out_of_sync(), 0, "{report:#?}");
    assert_eq!(report.counts.in_sync, 1);
    rig.stripe.cancel_now(&sub).unwrap();
    rig.drain().await;
    let report = run(&rig.engine, "subscriptions", false).await;
    assert_eq!(report.out_of_sync(), 0, "{report:#?}");
}
