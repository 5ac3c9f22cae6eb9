//! The consistency campaign, small (`junction::campaign`): subscription changes of every kind
//! through `pipelines/stripe-to-netsuite.toml` while the simulators inject every fault kind at
//! 3 % and real `junction run` processes are killed with SIGKILL and restarted; then a
//! reconciliation after NetSuite customers were edited by hand. The promise, checked from the
//! outside: every event Stripe saw acknowledged is in the store and settled, no business
//! action ran twice at NetSuite, nothing is dead-lettered or held, both systems agree on every
//! entity after reconciliation, and the audit trail verifies.
//!
//! It runs twice: one worker on a SQLite file (the embedded default), and three workers on one
//! PostgreSQL database behind a round-robin balancer, killed at random in turn, so webhooks,
//! plans and deliveries are spread across workers and a killed worker's leases are taken over.
//!
//! CI makes 600 changes each; `JUNCTION_CAMPAIGN_CHANGES=10000` runs the full campaign.
//! `JUNCTION_CAMPAIGN_SEED` replays one (the same changes, fault dice and kill schedule).

use std::path::Path;
use std::time::Duration;

use junction::campaign::{self, Options, Runner, Silent};

use crate::support::Backend;

async fn campaign_holds_the_promise(backend: Backend, workers: usize) {
    let changes = std::env::var("JUNCTION_CAMPAIGN_CHANGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let seed = std::env::var("JUNCTION_CAMPAIGN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    let store = backend.store().await;
    let dir = std::env::temp_dir().join(format!(
        "junction-campaign-test-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    // Every restart runs the binary this test was built with, even if a build replaces the
    // one under target/ meanwhile (cargo replaces the file, so a hard link keeps this one).
    let exe = dir.join("junction-cli");
    let built = env!("CARGO_BIN_EXE_junction-cli");
    if std::fs::hard_link(built, &exe).is_err() {
        std::fs::copy(built, &exe).expect("copy junction-cli");
    }
    eprintln!(
        "campaign: {backend:?}, {workers} worker(s), {changes} changes, seed {seed} \
         (JUNCTION_CAMPAIGN_SEED={seed} replays it); files in {}",
        dir.display()
    );
    let options = Options {
        changes,
        fault_rate: 0.03,
        runner: Runner::Processes {
            exe,
            workers,
            kill_every: Some(Duration::from_millis(1500)),
        },
        store: store.url.clone(),
        seed,
        rate: 60.0,
        drain: Duration::from_secs(240),
        dir: dir.clone(),
        cache_dir: Some(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/junction-test-cache"),
        ),
    };
    let report = campaign::run(&options, &Silent).await.unwrap_or_else(|e| {
        panic!(
            "the campaign did not finish: {e:#}\n(files in {})",
            dir.display()
        )
    });
    let table = report.table();
    eprintln!("{table}");

    assert!(report.clean(), "{table}");
    // The promise was kept under pressure, not for want of it: every fault kind struck, the
    // processes were killed, and reconciliation had hand edits to find and repair.
    let injected = report.faults.netsuite.plus(report.faults.stripe);
    for (kind, n) in injected.by_kind() {
        if kind != "credentials echoed" {
            assert!(n > 0, "no `{kind}` fault was injected:\n{table}");
        }
    }
    assert!(report.faults.outage_windows > 0, "{table}");
    assert!(report.faults.sigkills >= 5, "{table}");
    assert!(report.faults.hand_edits > 0, "{table}");
    assert!(
        report.discrepancies_before.len() as u64 >= report.faults.hand_edits,
        "every hand edit is a discrepancy before reconciliation:\n{table}"
    );
    let repaired: u64 = report.reconciliation.iter().map(|r| r.repairs).sum();
    assert!(repaired >= report.faults.hand_edits, "{table}");
    assert_eq!(report.outcomes.total(), report.events, "{table}");
    assert!(report.outcomes.confirmed > 0, "{table}");
    assert!(
        report.changes.values().sum::<u64>() >= changes as u64,
        "{table}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_on_sqlite_sigkilled_under_every_fault_keeps_the_promise() {
    campaign_holds_the_promise(Backend::Sqlite, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_on_postgres_sigkilled_under_every_fault_keep_the_promise() {
    campaign_holds_the_promise(Backend::Postgres, 3).await;
}

/// `junction demo`, the README's main command, on a fresh folder: the table, the verdict and
/// the stories, exit 0. (Small here; the README runs 400 changes.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junction_demo_prints_the_consistency_table_and_stories() {
    let dir = std::env::temp_dir().join(format!(
        "junction-demo-test-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/junction-test-cache");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_junction-cli"))
        .args(["demo", "--changes", "40", "--rate", "40"])
        .arg("--dir")
        .arg(&dir)
        .arg("--cache-dir")
        .arg(&cache)
        .output()
        .await
        .expect("junction demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for expected in [
        "changes made at Stripe",
        "faults injected",
        "discrepancies after reconciliation",
        "0 lost, 0 applied twice, 0 unreconciled",
        "=== the subscription with the longest story",
        "=== a customer edited by hand in NetSuite",
        "reconcile:customers:",
    ] {
        assert!(stdout.contains(expected), "`{expected}` missing:\n{stdout}");
    }
    // The store stays for `junction trace`; a second demo starts over in the same folder.
    assert!(dir.join("demo.db").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A rate outside 0..1 is refused by name, before anything starts.
#[test]
fn a_fault_rate_outside_zero_to_one_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_junction-cli"))
        .args(["campaign", "--fault-rate", "3"])
        .output()
        .expect("junction campaign runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--fault-rate") && stderr.contains("not a rate from 0 to 1"),
        "{stderr}"
    );
}
