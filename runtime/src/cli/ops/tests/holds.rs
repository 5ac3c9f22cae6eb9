//! `junction holds` and `junction review` against a store planned by the real planner: what
//! they show (masked), the gate re-evaluated on release, and each decision audited.

use std::process::ExitCode;

use clap::Parser;
use serde_json::{Value, json};

use super::{T0, capture, temp_dir};
use crate::cli::ops::holds::{HoldsCommand, list_to, release_to, show_to};
use crate::cli::ops::review::{self, ReviewCommand, Verdict};
use crate::cli::{Cli, Command};
use crate::config::{ModuleCatalog, ModuleInfo, ModuleRef, Plan};
use crate::store::{AuditKind, DeliveryState, NewChange, Operation, Store};

/// A bank account number as the source sends it: it must never reach the output.
const ACCOUNT: &str = "DE89370400440532013000";

struct Catalog;

impl ModuleCatalog for Catalog {
    fn describe(&self, module: &ModuleRef) -> Result<ModuleInfo, String> {
        let objects = ["payment", "invoice"].map(String::from).to_vec();
        Ok(ModuleInfo {
            name: module.to_string(),
            source_objects: objects.clone(),
            sink_objects: objects,
            webhooks: true,
            ..ModuleInfo::default()
        })
    }
}

const PIPELINE: &str = r#"
[pipeline]
name = "payouts"
[connectors.stripe]
module = "builtin:stripe"
allow-hosts = ["api.stripe.com"]
[connectors.bank]
module = "builtin:bank"
allow-hosts = ["bank.example"]
[ownership]
payment = "stripe"
[[source]]
connector = "stripe"
webhook = "/hooks/stripe"
objects = ["payment"]
[[route]]
name = "payouts"
from = "stripe"
to = "bank"
object = "payment"
[gates.kyc]
before = ["payment"]
require = "change.after.kyc_status == 'verified'"
[masking]
"payment.account_number" = "first6last4"
"#;

pub(super) fn plan() -> Plan {
    let loaded = crate::config::load_str(
        std::path::Path::new("payouts.toml"),
        PIPELINE,
        &|_| None,
        &Catalog,
    )
    .unwrap_or_else(|d| panic!("{d}"));
    loaded.plans.into_iter().next().unwrap()
}

/// A store file with the test clock.
pub(super) async fn store() -> (std::path::PathBuf, Store) {
    let dir = temp_dir();
    let url = format!("sqlite://{}", dir.join("junction.db").display());
    let store = Store::open(&url)
        .await
        .unwrap()
        .with_clock(crate::services::clock::ManualClock::new(T0).clock());
    (dir, store)
}

/// Receives a payment change and plans it with the real planner; returns its delivery's id.
pub(super) async fn receive(
    store: &Store,
    plan: &Plan,
    event: &str,
    version: i64,
    before: Option<Value>,
    after: Value,
) -> i64 {
    let change = NewChange {
        pipeline: "payouts".into(),
        source: "stripe".into(),
        source_event_id: event.into(),
        object: "payment".into(),
        key: "py_1".into(),
        operation: Operation::Update,
        before: before.map(|b| b.to_string()),
        after: Some(after.to_string()),
        occurred_at_ms: T0 - 1_000,
        effective_at_ms: None,
        source_version: version,
        metadata: "{}".into(),
        correlation_id: format!("corr-{event}"),
    };
    let id = store.intake(&[change]).await.unwrap()[0].change_id();
    let stored = store.change(id).await.unwrap().unwrap();
    let (deliveries, audit) =
        crate::pipeline::planner::plan_change(plan, &stored, &Default::default(), T0);
    let planned = store.commit_plan(id, deliveries, audit).await.unwrap();
    planned.deliveries[0].delivery_id
}

pub(super) fn payment(kyc: &str) -> Value {
    json!({ "id": "py_1", "amount": 2_500, "currency": "eur", "status": "succeeded",
            "kyc_status": kyc, "account_number": ACCOUNT })
}

fn holds(args: &[&str]) -> HoldsCommand {
    let argv = ["junction", "holds"].iter().chain(args);
    match Cli::try_parse_from(argv).expect("valid arguments").command {
        Command::Holds(command) => command,
        other => panic!("parsed as {other:?}"),
    }
}

fn review_cmd(args: &[&str]) -> ReviewCommand {
    let argv = ["junction", "review"].iter().chain(args);
    match Cli::try_parse_from(argv).expect("valid arguments").command {
        Command::Review(command) => command,
        other => panic!("parsed as {other:?}"),
    }
}

fn no_account(text: &str) {
    assert!(
        !text.contains(ACCOUNT),
        "the account number leaked:\n{text}"
    );
}

#[tokio::test]
async fn held_writes_are_listed_and_shown_with_their_gate_masked() {
    let (dir, store) = store().await;
    let plan = plan();
    let id = receive(&store, &plan, "evt_1", 1, None, payment("pending")).await;

    let HoldsCommand::List(args) = holds(&["list"]) else {
        unreachable!()
    };
    let out = capture(&store, async |s, o| list_to(s, &args, o).await)
        .await
        .unwrap();
    no_account(&out.text);
    let row = out.text.lines().nth(1).expect("a row");
    for cell in [
        &id.to_string()[..],
        "2025-03-01T09:00:00.000Z",
        "payouts -> bank",
        "payment py_1 v1",
        "gate kyc",
    ] {
        assert!(row.contains(cell), "{cell} missing from {row:?}");
    }
    assert!(
        out.text.contains("released when `change.after.kyc_status == 'verified'` (gate kyc) holds for payment py_1"),
        "{}",
        out.text
    );
    assert!(
        out.text
            .contains(&format!("junction holds release {id} --reason")),
        "{}",
        out.text
    );

    let HoldsCommand::List(args) = holds(&["list", "--route", "other", "--json"]) else {
        unreachable!()
    };
    let out = capture(&store, async |s, o| list_to(s, &args, o).await)
        .await
        .unwrap();
    assert_eq!(out.json(), json!([]));

    let out = capture(&store, async |s, o| show_to(s, id, true, o).await)
        .await
        .unwrap();
    no_account(&out.text);
    let shown = out.json();
    assert_eq!(shown["gate"], "kyc");
    assert_eq!(shown["held_at_ms"], T0);
    assert_eq!(shown["document"]["amount"], 2_500);
    assert!(shown["document"]["account_number"].is_string());
    let kinds: Vec<&str> = shown["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["received", "held"]);

    let out = capture(&store, async |s, o| show_to(s, id, false, o).await)
        .await
        .unwrap();
    assert!(out.text.contains("  gate             kyc"), "{}", out.text);
    assert!(out.text.contains("document (masked):"), "{}", out.text);

    let err = capture(&store, async |s, o| show_to(s, 999, false, o).await)
        .await
        .err()
        .unwrap()
        .to_string();
    assert_eq!(err, "no delivery 999 (see `junction holds list`)");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn release_re_evaluates_the_gate_refuses_while_it_fails_and_audits_an_override() {
    let (dir, store) = store().await;
    let plan = plan();
    let id = receive(&store, &plan, "evt_1", 1, None, payment("pending")).await;
    let plans = [plan.clone()];
    let id_arg = id.to_string();

    let HoldsCommand::Release(args) =
        holds(&["release", &id_arg, "--reason", "called", "--by", "ana"])
    else {
        unreachable!()
    };
    let err = capture(&store, async |s, o| release_to(s, &plans, &args, o).await)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with("not released: gate kyc still fails for payment py_1"),
        "{err}"
    );
    assert!(err.contains("`change.after.kyc_status == 'verified'` is false on the newest change (event evt_1, version 1)"), "{err}");
    assert!(err.contains("--override"), "{err}");

    let err = capture(&store, async |s, o| release_to(s, &[], &args, o).await)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("pass --file FILE"), "{err}");
    let mut other = plan.clone();
    other.name = "elsewhere".into();
    let err = capture(&store, async |s, o| release_to(s, &[other], &args, o).await)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("pipeline `payouts` of delivery"), "{err}");
    assert!(err.contains("they define `elsewhere`"), "{err}");
    assert_eq!(
        store.delivery(id).await.unwrap().unwrap().state,
        DeliveryState::Held
    );

    let HoldsCommand::Release(args) = holds(&[
        "release",
        &id_arg,
        "--reason",
        "KYC by phone",
        "--by",
        "ana",
        "--override",
    ]) else {
        unreachable!()
    };
    let out = capture(&store, async |s, o| release_to(s, &plans, &args, o).await)
        .await
        .unwrap();
    assert_eq!(out.code, ExitCode::SUCCESS);
    assert!(
        out.text.contains("OVERRIDE: the gate still fails"),
        "{}",
        out.text
    );
    let d = store.delivery(id).await.unwrap().unwrap();
    assert_eq!(d.state, DeliveryState::Pending);
    let entry = store
        .trace(&d.idempotency_key)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == AuditKind::Released)
        .expect("audited");
    assert_eq!(
        entry.detail,
        json!({ "by": "ana", "reason": "KYC by phone", "override": true })
    );

    let err = capture(&store, async |s, o| release_to(s, &plans, &args, o).await)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with(&format!("delivery {id} is not held: it is pending")),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn release_passes_on_the_newest_change_without_override() {
    let (dir, store) = store().await;
    let plan = plan();
    let id = receive(&store, &plan, "evt_1", 1, None, payment("pending")).await;
    receive(&store, &plan, "evt_2", 2, None, payment("verified")).await;
    // Planning the newer change does not release the older one here (the engine does that):
    // the command re-evaluates the gate on the newest change itself.
    let HoldsCommand::Release(args) = holds(&[
        "release",
        &id.to_string(),
        "--reason",
        "verified",
        "--by",
        "bo",
    ]) else {
        unreachable!()
    };
    let out = capture(&store, async |s, o| {
        release_to(s, std::slice::from_ref(&plan), &args, o).await
    })
    .await
    .unwrap();
    assert!(out.text.contains("the gate passes (kyc)"), "{}", out.text);
    assert!(!out.text.contains("OVERRIDE"), "{}", out.text);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn red_flagged_writes_show_their_evidence_and_are_approved_or_rejected() {
    let (dir, store) = store().await;
    let plan = plan();
    let paid = payment("verified");
    let mut refund = paid.clone();
    refund["status"] = json!("refunded");
    refund["amount"] = json!(4_000);
    let id = receive(&store, &plan, "evt_r", 2, Some(paid.clone()), refund).await;
    assert_eq!(
        store.delivery(id).await.unwrap().unwrap().state,
        DeliveryState::Review
    );

    let ReviewCommand::List(args) = review_cmd(&["list"]) else {
        unreachable!()
    };
    let out = capture(&store, async |s, o| review::list_to(s, &args, o).await)
        .await
        .unwrap();
    assert!(
        out.text
            .contains("refund larger than the payment: 4000 eur refunded, 2500 eur paid"),
        "{}",
        out.text
    );
    assert!(out.text.contains("1 write in review"), "{}", out.text);

    let out = capture(&store, async |s, o| review::show_to(s, id, true, o).await)
        .await
        .unwrap();
    no_account(&out.text);
    let evidence = out.json();
    assert_eq!(evidence["source_event_id"], "evt_r");
    assert_eq!(evidence["before"]["amount"], 2_500);
    assert_eq!(evidence["after"]["amount"], 4_000);
    assert!(evidence["after"]["account_number"].is_string());
    assert_eq!(evidence["affected"]["entity"]["key"], "py_1");
    assert_eq!(evidence["times"]["planned_at_ms"], T0);
    assert_eq!(evidence["times"]["occurred_at_ms"], T0 - 1_000);
    assert_eq!(evidence["attempts"], json!([]));
    let out = capture(&store, async |s, o| review::show_to(s, id, false, o).await)
        .await
        .unwrap();
    no_account(&out.text);
    assert!(out.text.contains("source event     evt_r"), "{}", out.text);
    assert!(
        out.text.contains(&format!("junction review approve {id}")),
        "{}",
        out.text
    );

    let ReviewCommand::Approve(args) = review_cmd(&[
        "approve",
        &id.to_string(),
        "--reason",
        "agreed",
        "--by",
        "ana",
    ]) else {
        unreachable!()
    };
    let out = capture(&store, async |s, o| {
        review::decide_to(s, Verdict::Approve, &args, o).await
    })
    .await
    .unwrap();
    assert!(out.text.contains("under its original key"), "{}", out.text);
    assert_eq!(
        store.delivery(id).await.unwrap().unwrap().state,
        DeliveryState::Pending
    );
    let err = capture(&store, async |s, o| {
        review::decide_to(s, Verdict::Reject, &args, o).await
    })
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.starts_with(&format!("delivery {id} is not in review: it is pending")),
        "{err}"
    );

    // A second flagged write, rejected.
    let mut refund = paid.clone();
    refund["status"] = json!("refunded");
    refund["amount"] = json!(9_000);
    let second = receive(&store, &plan, "evt_s", 3, Some(paid), refund).await;
    let ReviewCommand::Reject(args) = review_cmd(&[
        "reject",
        &second.to_string(),
        "--reason",
        "fraud",
        "--by",
        "bo",
        "--json",
    ]) else {
        unreachable!()
    };
    let out = capture(&store, async |s, o| {
        review::decide_to(s, Verdict::Reject, &args, o).await
    })
    .await
    .unwrap();
    assert_eq!(out.json()["state"], "suppressed");
    let d = store.delivery(second).await.unwrap().unwrap();
    assert_eq!(
        d.state_reason.as_deref(),
        Some("rejected in review by bo: fraud")
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_commands_parse_and_refuse_what_is_missing() {
    for args in [
        &["holds", "list", "--pipeline", "p", "--route", "r", "--json"][..],
        &["holds", "show", "3", "--json"],
        &[
            "holds",
            "release",
            "3",
            "--reason",
            "x",
            "--by",
            "ana",
            "--override",
            "--file",
            "a.toml",
            "--file",
            "b.toml",
        ],
        &["review", "list", "--json"],
        &["review", "show", "3"],
        &["review", "approve", "3", "--reason", "ok"],
        &["review", "reject", "3", "--reason", "no", "--by", "bo"],
        &[
            "route",
            "pause",
            "payouts",
            "--pipeline",
            "p",
            "--reason",
            "outage",
            "--file",
            "a.toml",
        ],
        &["route", "resume", "payouts", "--by", "ana"],
        &["route", "list", "--json"],
    ] {
        let argv = std::iter::once(&"junction").chain(args);
        assert!(Cli::try_parse_from(argv).is_ok(), "{args:?}");
    }
    for args in [
        &["holds", "release", "3"][..],
        &["holds", "release", "three", "--reason", "x"],
        &["review", "approve", "3"],
        &["route", "pause", "payouts"],
        &["route", "pause", "--reason", "x"],
    ] {
        let argv = std::iter::once(&"junction").chain(args);
        assert!(
            Cli::try_parse_from(argv).is_err(),
            "{args:?} should be refused"
        );
    }
}
