//! The connector conformance kit (`junction connector test MODULE --sim VENDOR`): every
//! first-party connector passes it against its vendor's simulator, checks that do not apply
//! say why, a module that breaks the contract fails the checks it breaks (named, with what was
//! sent and what came back), and bad input is a clear error, through the real CLI as well.

use std::process::{Command, Output};

use junction::cli::conformance::{Options, Report, Vendor, Verdict, run_kit};
use serde_json::Value;

use crate::support::{CARELESS_SINK, HOSTILE, host};

async fn kit(module: &str, vendor: Vendor) -> Report {
    run_kit(&host(), &Options::new(module, vendor))
        .await
        .unwrap_or_else(|e| panic!("the kit runs {module}: {e:#}"))
}

fn assert_passes(report: &Report) {
    assert!(report.passed(), "{}", report.table());
    assert_eq!(
        report.results.len(),
        junction::cli::conformance::CHECKS.len()
    );
}

/// The reason a check did not apply; panics if it did.
fn not_applicable<'a>(report: &'a Report, id: &str) -> &'a str {
    match &report.result(id).expect("the check ran").verdict {
        Verdict::NotApplicable(why) => why,
        other => panic!("{id} applied: {other:?}\n{}", report.table()),
    }
}

fn passed(report: &Report, id: &str) -> bool {
    matches!(
        report.result(id).map(|r| &r.verdict),
        Some(Verdict::Pass(_))
    )
}

#[tokio::test]
async fn stripe_passes_the_conformance_kit() {
    let report = kit("builtin:stripe", Vendor::Stripe).await;
    assert_passes(&report);
    // Stripe has every capability the kit checks: nothing is left out.
    assert!(
        report
            .results
            .iter()
            .all(|r| matches!(r.verdict, Verdict::Pass(_))),
        "{}",
        report.table()
    );
}

#[tokio::test]
async fn netsuite_passes_the_conformance_kit_and_takes_no_webhooks() {
    let report = kit("builtin:netsuite", Vendor::Netsuite).await;
    assert_passes(&report);
    for id in ["webhook.forged", "webhook.stale"] {
        assert!(
            not_applicable(&report, id).contains("describe declares webhooks = false"),
            "{}",
            report.table()
        );
    }
    // Its asynchronous writes were followed to the end, once under one key.
    assert!(passed(&report, "apply.idempotent") && passed(&report, "apply.read-back"));
}

#[tokio::test]
async fn salesforce_passes_the_conformance_kit() {
    let report = kit("builtin:salesforce", Vendor::Salesforce).await;
    assert_passes(&report);
    assert!(not_applicable(&report, "webhook.forged").contains("webhooks = false"));
    assert!(passed(&report, "list.exactly-once"), "{}", report.table());
}

#[tokio::test]
async fn cleverbridge_passes_the_conformance_kit_and_has_no_list() {
    let report = kit("builtin:cleverbridge", Vendor::Cleverbridge).await;
    assert_passes(&report);
    assert!(
        not_applicable(&report, "list.exactly-once").contains("does not list"),
        "{}",
        report.table()
    );
    // No signature to check a timestamp with: the stale notification is confirmed instead.
    assert!(passed(&report, "webhook.stale") && passed(&report, "webhook.forged"));
}

/// The hostile test component declares webhooks but answers every webhook path it does not
/// know with `rejected`: the webhook checks fail, naming what was sent and what came back, and
/// the sink checks do not apply (it declares no sink objects).
#[tokio::test]
async fn a_module_that_breaks_the_contract_fails_the_checks_it_breaks() {
    let report = kit(HOSTILE, Vendor::Stripe).await;
    assert!(!report.passed());
    let Verdict::Fail(forged) = &report.result("webhook.forged").expect("ran").verdict else {
        panic!("webhook.forged passed:\n{}", report.table());
    };
    assert!(forged.sent.contains("receive("), "{forged:?}");
    assert!(forged.got.contains("\"class\":\"rejected\""), "{forged:?}");
    assert_eq!(forged.wanted, "invalid-webhook");
    assert!(matches!(
        report.result("describe.source").map(|r| &r.verdict),
        Some(Verdict::Fail(_))
    ));
    assert!(
        not_applicable(&report, "apply.idempotent").contains("no sink objects"),
        "{}",
        report.table()
    );
    let table = report.table();
    assert!(table.contains("webhook.forged       FAIL"), "{table}");
    assert!(table.contains("sent:") && table.contains("got:"), "{table}");
}

#[tokio::test]
async fn an_unknown_check_or_a_missing_module_is_an_error_not_a_report() {
    let mut options = Options::new("builtin:stripe", Vendor::Stripe);
    options.checks = vec!["webhook.nonsense".into()];
    let e = run_kit(&host(), &options).await.unwrap_err();
    assert!(
        format!("{e:#}").contains("unknown check `webhook.nonsense`"),
        "{e:#}"
    );
    let e = run_kit(
        &host(),
        &Options::new("/nonexistent/connector.wasm", Vendor::Stripe),
    )
    .await
    .unwrap_err();
    assert!(
        format!("{e:#}").contains("cannot read connector module"),
        "{e:#}"
    );
    let e = run_kit(&host(), &Options::new("builtin:paypal", Vendor::Stripe))
        .await
        .unwrap_err();
    assert!(
        format!("{e:#}").contains("unknown built-in connector `paypal`"),
        "{e:#}"
    );
}

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_junction-cli"))
        .args(["connector", "test"])
        .args(args)
        .env(
            "JUNCTION_CACHE_DIR",
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/junction-test-cache"),
        )
        .output()
        .expect("the junction CLI runs")
}

#[test]
fn the_cli_reports_json_a_table_and_exit_codes() {
    let out = cli(&["builtin:netsuite", "--sim", "netsuite", "--json"]);
    assert!(
        out.status.success(),
        "{:?}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["passed"], true);
    assert_eq!(report["simulator"], "netsuite");
    let checks = report["checks"].as_array().expect("checks");
    let forged = checks
        .iter()
        .find(|c| c["id"] == "webhook.forged")
        .expect("webhook.forged");
    assert_eq!(forged["result"], "not-applicable");
    assert!(
        forged["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("webhooks = false")
    );

    // One failing check is exit code 1, and the table names it.
    let out = cli(&[HOSTILE, "--sim", "stripe", "--check", "webhook.forged"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("webhook.forged") && table.contains("FAIL"),
        "{table}"
    );
    assert!(table.contains("1 checks: 0 passed, 1 failed"), "{table}");

    // Bad input: a clear message and exit code 2, never a panic.
    let out = cli(&["/nonexistent/connector.wasm", "--sim", "stripe"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot read connector module") && !err.contains("panicked"),
        "{err}"
    );
    let out = cli(&["builtin:stripe", "--sim", "paypal"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("invalid value 'paypal'") && err.contains("stripe"),
        "{err}"
    );
}

/// Found by `errors.rate-limited` against NetSuite, in about one `junction` process in three:
/// NetSuite's gateway, and the simulator, answer 429 before reading a request's body and close
/// the connection; the connector kit sent the body only after the request had gone out, so
/// the body write failed and the write came back `transient` ("writing the request body:
/// StreamError::Closed") instead of `rate-limited` with NetSuite's Retry-After. A small body
/// now travels with the headers (`connectors/kit/src/guest.rs`). Ten processes in a row.
#[test]
fn a_429_answered_before_the_body_was_read_is_rate_limited_in_every_run() {
    for run in 0..10 {
        let out = cli(&[
            "builtin:netsuite",
            "--sim",
            "netsuite",
            "--check",
            "errors.rate-limited",
        ]);
        assert!(
            out.status.success(),
            "run {run}:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// A sink that says `applied` but writes nothing, finds nothing and lists one page for ever
/// fails the sink checks, each named with what was sent and what came back.
#[tokio::test]
async fn a_sink_that_writes_nothing_fails_the_sink_checks() {
    let report = kit(CARELESS_SINK, Vendor::Netsuite).await;
    assert!(!report.passed());
    let failure = |id: &str| match &report.result(id).expect("ran").verdict {
        Verdict::Fail(f) => f.clone(),
        other => panic!("{id}: {other:?}\n{}", report.table()),
    };
    let idempotent = failure("apply.idempotent");
    assert!(idempotent.sent.contains("apply(customer"), "{idempotent:?}");
    assert!(
        idempotent.got.contains("no business action"),
        "{idempotent:?}"
    );
    let read_back = failure("apply.read-back");
    assert_eq!(read_back.got, "none");
    assert!(failure("list.exactly-once").got.contains("again"));
    for id in [
        "errors.rate-limited",
        "errors.server-error",
        "errors.unauthorized",
    ] {
        assert_eq!(failure(id).got, "success", "{id}");
    }
    assert!(passed(&report, "describe.manifest"), "{}", report.table());
}
