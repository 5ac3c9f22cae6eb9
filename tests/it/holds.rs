//! Gates, holds, manual review and route kill switches, end to end on both store backends: the
//! real engine (`plan_some`, `deliver_due`) against the scripted sink on manual time, and the
//! operators' commands (`junction holds|review|route`) run as the binary against the same store.
//! Nothing sleeps; nothing is timed.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use junction::config;
use junction::pipeline::instances::HostCatalog;
use junction::pipeline::{Engine, Options};
use junction::services::clock::ManualClock;
use junction::store::{
    AuditEntry, AuditKind, Delivery, DeliveryState, Intake, NewChange, Operation, Store,
};
use serde_json::{Value, json};

use crate::support::{Backend, SCRIPTED, TestStore, host};

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;
const PIPELINE: &str = "payouts";
/// A bank account number as the source sends it: masked `first6last4` in every view.
const ACCOUNT: &str = "DE89370400440532013000";
/// A secret the engine has and the operator's shell does not.
const SECRET_VAR: &str = "JUNCTION_HOLDS_TEST_WEBHOOK_SECRET";

fn pipeline() -> String {
    format!(
        r#"
[pipeline]
name = "{PIPELINE}"

[connectors.source]
module = "{SCRIPTED}"
# Set for the engine, not for the operators' commands, which never connect.
secrets = {{ webhook = "env:{SECRET_VAR}" }}

[connectors.target]
module = "{SCRIPTED}"

[ownership]
payment = "source"
invoice = "source"

[[source]]
connector = "source"
webhook = "/hooks/scripted"
objects = ["payment", "invoice"]

[[route]]
name = "payouts"
from = "source"
to = "target"
object = "payment"
confirm = {{ fields = ["id"], within = "30s", interval = "1s" }}
retry = {{ attempts = 4, initial = "1s", max = "8s", jitter = "none" }}

[[route]]
name = "invoices"
from = "source"
to = "target"
object = "invoice"
confirm = {{ fields = ["id"], within = "30s", interval = "1s" }}
retry = {{ attempts = 4, initial = "1s", max = "8s", jitter = "none" }}

[gates.kyc]
before = ["payment"]
require = "change.after.kyc_status == 'verified'"

[masking]
"payment.account_number" = "first6last4"
"#
    )
}

struct Bench {
    clock: ManualClock,
    engine: Arc<Engine>,
    db: TestStore,
    file: PathBuf,
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

impl Bench {
    async fn start(backend: Backend) -> Bench {
        let clock = ManualClock::new(T0);
        let db = backend.store().await;
        let file = std::env::temp_dir().join(format!(
            "junction-holds-{}-{}.toml",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::write(&file, pipeline()).expect("write the pipeline file");
        let catalog = HostCatalog::new(host());
        let env = |name: &str| (name == SECRET_VAR).then(|| "whsec_test".to_owned());
        let loaded = config::load_str(&file, &pipeline(), &env, &catalog)
            .unwrap_or_else(|d| panic!("the pipeline does not load:\n{d}"));
        let store = Store::open(&db.url).await.expect("store");
        let options = Options {
            worker_id: "w-test".into(),
            lease: Duration::from_secs(30),
            max_in_flight: 8,
            clock: clock.clock(),
        };
        let engine = Engine::new(loaded.plans, store, &host(), options)
            .await
            .expect("engine starts");
        Bench {
            clock,
            engine,
            db,
            file,
        }
    }

    fn store(&self) -> &Store {
        &self.engine.store
    }

    fn at(&self, offset_ms: i64) {
        self.clock.set(T0 + offset_ms);
    }

    /// Stores a change (not planned yet).
    async fn receive(
        &self,
        object: &str,
        event: &str,
        key: &str,
        version: i64,
        before: Option<Value>,
        after: Value,
    ) {
        let change = NewChange {
            pipeline: PIPELINE.into(),
            source: "source".into(),
            source_event_id: event.into(),
            object: object.into(),
            key: key.into(),
            operation: Operation::Update,
            before: before.map(|b| b.to_string()),
            after: Some(after.to_string()),
            occurred_at_ms: self.clock.now_ms(),
            effective_at_ms: None,
            source_version: version,
            metadata: "{}".into(),
            correlation_id: format!("c-{key}-{version}"),
        };
        let stored = self.store().intake(&[change]).await.expect("intake");
        assert!(
            matches!(stored[..], [Intake::Accepted { .. }]),
            "{stored:?}"
        );
    }

    /// Receives and plans a change; returns its one delivery.
    async fn change(
        &self,
        object: &str,
        event: &str,
        key: &str,
        version: i64,
        before: Option<Value>,
        after: Value,
    ) -> Delivery {
        self.receive(object, event, key, version, before, after)
            .await;
        assert_eq!(self.engine.plan_some().await.expect("plan"), 1);
        let change = self
            .store()
            .newest_change(PIPELINE, object, key)
            .await
            .unwrap()
            .expect("stored");
        let deliveries = self.store().deliveries_of_change(change.id).await.unwrap();
        assert_eq!(deliveries.len(), 1, "{deliveries:?}");
        deliveries.into_iter().next().unwrap()
    }

    /// Receives and plans a payout of `po_1` at `version` with that KYC status.
    async fn payout(&self, event: &str, version: i64, kyc: &str) -> Delivery {
        self.change(
            "payment",
            event,
            "po_1",
            version,
            None,
            payment("po_1", kyc),
        )
        .await
    }

    /// Stores a payout of `po_1` without planning it.
    async fn receive_payout(&self, event: &str, version: i64, kyc: &str) {
        self.receive(
            "payment",
            event,
            "po_1",
            version,
            None,
            payment("po_1", kyc),
        )
        .await;
    }

    async fn delivery(&self, id: i64) -> Delivery {
        self.store().delivery(id).await.unwrap().expect("delivery")
    }

    async fn state(&self, id: i64) -> DeliveryState {
        self.delivery(id).await.state
    }

    /// Delivers until nothing is due now (each write applied, then read back).
    async fn settle(&self) {
        for _ in 0..50 {
            if self.engine.deliver_due().await.expect("deliver") == 0 {
                return;
            }
        }
        panic!("still delivering after 50 rounds");
    }

    /// The source versions of `key` in the order they were confirmed.
    async fn confirmed_order(&self, key: &str) -> Vec<i64> {
        self.store()
            .trace(key)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.kind == AuditKind::Confirmed && e.key == key)
            .filter_map(|e| e.detail["source_version"].as_i64())
            .collect()
    }

    async fn last_entry(&self, d: &Delivery, kind: AuditKind) -> AuditEntry {
        self.store()
            .trace(&d.idempotency_key)
            .await
            .unwrap()
            .into_iter()
            .rev()
            .find(|e| e.delivery_id == Some(d.id) && e.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} entry for delivery {}", d.id))
    }

    /// Runs `junction ARGS... --store URL` as the binary.
    fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_junction-cli"))
            .args(args)
            .args(["--store", &self.db.url])
            .env("USER", "operator-env")
            .env_remove(SECRET_VAR)
            .env(
                "JUNCTION_CACHE_DIR",
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../target/junction-test-cache"),
            )
            .output()
            .expect("the junction CLI runs")
    }

    fn file(&self) -> &str {
        self.file.to_str().expect("a UTF-8 temp path")
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn invoice(key: &str, total: i64) -> Value {
    json!({ "id": key, "customer_id": "cus_1", "status": "open", "currency": "eur",
            "total": total, "metadata": {} })
}

fn payment(key: &str, kyc: &str) -> Value {
    json!({ "id": key, "amount": 25_000, "currency": "eur", "status": "pending",
            "kyc_status": kyc, "account_number": ACCOUNT, "metadata": {} })
}

/// A payout held by the KYC gate is released by a later change that passes it, and goes first
/// in its lane: the earlier write is confirmed before the later one.
async fn a_later_change_that_passes_the_gate_releases_the_held_payout(backend: Backend) {
    let b = Bench::start(backend).await;
    let held = b.payout("evt_1", 1, "pending").await;
    assert_eq!(held.state, DeliveryState::Held);
    assert!(
        held.state_reason
            .as_deref()
            .unwrap_or("")
            .starts_with("gate kyc"),
        "{held:?}"
    );
    b.settle().await;
    assert_eq!(
        b.state(held.id).await,
        DeliveryState::Held,
        "nothing is written while held"
    );
    assert_eq!(
        b.engine.release_passing_holds().await.unwrap(),
        0,
        "the gate still fails"
    );

    b.at(5_000);
    let later = b.payout("evt_2", 2, "verified").await;
    assert_eq!(later.state, DeliveryState::Pending);
    assert_eq!(
        b.state(held.id).await,
        DeliveryState::Pending,
        "released right after planning"
    );
    let released = b.last_entry(&held, AuditKind::Released).await;
    assert_eq!(released.detail["by"], "gate kyc");
    assert_eq!(released.detail["override"], false);
    assert!(
        released.detail["reason"]
            .as_str()
            .unwrap()
            .contains("evt_2"),
        "{}",
        released.detail
    );

    b.settle().await;
    assert_eq!(
        b.confirmed_order("po_1").await,
        [1, 2],
        "the released write goes first"
    );
}

/// The sweep (the `gates` leader's loop) releases a hold whose gate passes on a change planned
/// elsewhere: here a newer change stored but not planned by this engine.
async fn the_sweep_releases_a_hold_whose_gate_passes(backend: Backend) {
    let b = Bench::start(backend).await;
    let held = b.payout("evt_1", 1, "pending").await;
    b.receive_payout("evt_2", 2, "verified").await;
    assert_eq!(b.engine.release_passing_holds().await.unwrap(), 1);
    assert_eq!(b.state(held.id).await, DeliveryState::Pending);
    b.engine.plan_some().await.unwrap();
    b.settle().await;
    assert_eq!(b.confirmed_order("po_1").await, [1, 2]);
}

/// `junction holds release` re-evaluates the gate: refused while it fails, allowed with
/// `--override`, audited with who, why and whether it was an override; shown masked.
async fn a_manual_release_is_refused_while_the_gate_fails_unless_overridden(backend: Backend) {
    let b = Bench::start(backend).await;
    let held = b.payout("evt_1", 1, "pending").await;
    let id = held.id.to_string();

    let list = b.cli(&["holds", "list", "--json"]);
    assert!(list.status.success(), "{}", text(&list));
    let listed: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(listed[0]["id"], held.id);
    assert_eq!(listed[0]["gate"], "kyc");
    assert!(
        listed[0]["next_action"]
            .as_str()
            .unwrap()
            .contains("change.after.kyc_status == 'verified'")
    );
    let show = b.cli(&["holds", "show", &id]);
    assert!(show.status.success(), "{}", text(&show));
    assert!(
        !text(&show).contains(ACCOUNT),
        "the account number leaked:\n{}",
        text(&show)
    );

    let refused = b.cli(&[
        "holds",
        "release",
        &id,
        "--reason",
        "customer called",
        "--file",
        b.file(),
    ]);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        text(&refused).contains("gate kyc still fails"),
        "{}",
        text(&refused)
    );
    assert!(text(&refused).contains("--override"), "{}", text(&refused));
    assert_eq!(b.state(held.id).await, DeliveryState::Held);

    let no_files = b.cli(&["holds", "release", &id, "--reason", "customer called"]);
    assert!(!no_files.status.success());
    assert!(text(&no_files).contains("--file"), "{}", text(&no_files));
    let blank = b.cli(&[
        "holds",
        "release",
        &id,
        "--reason",
        "  ",
        "--file",
        b.file(),
    ]);
    assert!(
        text(&blank).contains("--reason must say why"),
        "{}",
        text(&blank)
    );
    let unknown = b.cli(&[
        "holds",
        "release",
        "9999",
        "--reason",
        "x",
        "--file",
        b.file(),
    ]);
    assert!(
        text(&unknown).contains("no delivery 9999"),
        "{}",
        text(&unknown)
    );

    let forced = b.cli(&[
        "holds",
        "release",
        &id,
        "--reason",
        "KYC verified by phone",
        "--by",
        "ana",
        "--override",
        "--file",
        b.file(),
    ]);
    assert!(forced.status.success(), "{}", text(&forced));
    assert!(text(&forced).contains("OVERRIDE"), "{}", text(&forced));
    let entry = b.last_entry(&held, AuditKind::Released).await;
    assert_eq!(
        entry.detail,
        json!({ "by": "ana", "reason": "KYC verified by phone", "override": true })
    );
    let again = b.cli(&["holds", "release", &id, "--reason", "x", "--override"]);
    assert!(
        text(&again).contains("is not held: it is pending"),
        "{}",
        text(&again)
    );
    b.settle().await;
    assert_eq!(b.state(held.id).await, DeliveryState::Confirmed);
}

/// A manual release whose gate now passes on the entity's newest change (stored, not planned
/// yet) needs no override; `--by` defaults to $USER.
async fn a_manual_release_passes_on_the_newest_change(backend: Backend) {
    let b = Bench::start(backend).await;
    let held = b.payout("evt_1", 1, "pending").await;
    b.receive_payout("evt_2", 2, "verified").await;
    let out = b.cli(&[
        "holds",
        "release",
        &held.id.to_string(),
        "--reason",
        "verified now",
        "--file",
        b.file(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let entry = b.last_entry(&held, AuditKind::Released).await;
    assert_eq!(
        entry.detail,
        json!({ "by": "operator-env", "reason": "verified now", "override": false })
    );
}

/// A refund larger than what was paid goes to review, blocks its lane, and is delivered once
/// approved (by the CLI), under its original key, before the newer change.
async fn a_refund_larger_than_the_payment_is_reviewed_then_approved(backend: Backend) {
    let b = Bench::start(backend).await;
    let paid = json!({ "id": "py_1", "amount": 1_000, "currency": "eur", "status": "succeeded", "kyc_status": "verified", "account_number": ACCOUNT, "metadata": {} });
    let mut refund = paid.clone();
    refund["status"] = json!("refunded");
    refund["amount"] = json!(1_500);
    let flagged = b
        .change("payment", "evt_r", "py_1", 2, Some(paid.clone()), refund)
        .await;
    assert_eq!(flagged.state, DeliveryState::Review);
    assert!(
        flagged
            .state_reason
            .as_deref()
            .unwrap()
            .contains("1500 eur refunded, 1000 eur paid")
    );
    let next = b
        .change("payment", "evt_n", "py_1", 3, None, paid.clone())
        .await;
    b.settle().await;
    assert_eq!(
        b.state(next.id).await,
        DeliveryState::Pending,
        "review blocks the lane"
    );

    let id = flagged.id.to_string();
    let show = b.cli(&["review", "show", &id, "--json"]);
    assert!(show.status.success(), "{}", text(&show));
    assert!(!text(&show).contains(ACCOUNT), "{}", text(&show));
    let evidence: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(evidence["source_event_id"], "evt_r");
    assert_eq!(evidence["before"]["amount"], 1_000);
    assert_eq!(evidence["after"]["amount"], 1_500);
    assert_eq!(evidence["affected"]["entity"]["key"], "py_1");
    assert_ne!(evidence["after"]["account_number"], ACCOUNT);

    let approve = b.cli(&[
        "review",
        "approve",
        &id,
        "--reason",
        "partial refund agreed with finance",
        "--by",
        "ana",
    ]);
    assert!(approve.status.success(), "{}", text(&approve));
    let entry = b.last_entry(&flagged, AuditKind::Approved).await;
    assert_eq!(entry.detail["by"], "ana");
    assert_eq!(entry.detail["reason"], "partial refund agreed with finance");
    b.settle().await;
    assert_eq!(b.confirmed_order("py_1").await, [2, 3]);
    let attempt = b.last_entry(&flagged, AuditKind::Attempt).await;
    assert_eq!(
        attempt.idempotency_key.as_deref(),
        Some(flagged.idempotency_key.as_str())
    );
}

/// A credit note larger than the invoice goes to review; rejected, it is suppressed with the
/// reason and the lane moves on.
async fn a_credit_larger_than_the_invoice_is_reviewed_then_rejected(backend: Backend) {
    let b = Bench::start(backend).await;
    let invoice = invoice("in_1", 5_000);
    let mut credit = invoice.clone();
    credit["total"] = json!(-6_000);
    let flagged = b
        .change("invoice", "evt_c", "in_1", 2, Some(invoice.clone()), credit)
        .await;
    assert_eq!(flagged.state, DeliveryState::Review, "{flagged:?}");
    let next = b.change("invoice", "evt_n", "in_1", 3, None, invoice).await;
    let out = b.cli(&[
        "review",
        "reject",
        &flagged.id.to_string(),
        "--reason",
        "duplicate credit note",
        "--by",
        "bo",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let rejected = b.delivery(flagged.id).await;
    assert_eq!(rejected.state, DeliveryState::Suppressed);
    assert!(
        rejected
            .state_reason
            .unwrap()
            .contains("duplicate credit note")
    );
    assert_eq!(
        b.last_entry(&flagged, AuditKind::Rejected).await.detail["by"],
        "bo"
    );
    b.settle().await;
    assert_eq!(b.state(next.id).await, DeliveryState::Confirmed);
    let wrong = b.cli(&[
        "review",
        "approve",
        &flagged.id.to_string(),
        "--reason",
        "x",
    ]);
    assert!(
        text(&wrong).contains("is not in review: it is suppressed"),
        "{}",
        text(&wrong)
    );
}

/// A write with no source event goes to review; approved, it is delivered.
async fn a_write_without_a_source_event_is_reviewed(backend: Backend) {
    let b = Bench::start(backend).await;
    let flagged = b
        .change("payment", "", "po_9", 1, None, payment("po_9", "verified"))
        .await;
    assert_eq!(flagged.state, DeliveryState::Review);
    assert!(
        flagged
            .state_reason
            .as_deref()
            .unwrap()
            .starts_with("no source event")
    );
    // Another entity's change without an event: a write of its own, not the first one's key.
    let other = b
        .change("payment", "", "po_8", 1, None, payment("po_8", "verified"))
        .await;
    assert_ne!(other.idempotency_key, flagged.idempotency_key);
    assert_eq!(other.state, DeliveryState::Review);
    let list = b.cli(&["review", "list"]);
    assert!(text(&list).contains("no source event"), "{}", text(&list));
    b.store()
        .approve(flagged.id, "ana", "manual import")
        .await
        .unwrap();
    b.settle().await;
    assert_eq!(b.state(flagged.id).await, DeliveryState::Confirmed);
}

/// The target refuses the key as used for another request: retried once after the back-off,
/// then, the second time, sent to review with the attempt history; approved once the target
/// recovers, it is delivered under its original key.
async fn repeated_idempotency_conflicts_go_to_review(backend: Backend) {
    let b = Bench::start(backend).await;
    let mut doc = payment("po_k", "verified");
    doc["metadata"] = json!({ "apply": "key-conflict", "until_ms": (T0 + 60_000).to_string() });
    let d = b.change("payment", "evt_k", "po_k", 1, None, doc).await;
    assert_eq!(b.engine.deliver_due().await.unwrap(), 1);
    let after_one = b.delivery(d.id).await;
    assert_eq!(
        (after_one.state, after_one.attempts, after_one.key_conflicts),
        (DeliveryState::Pending, 1, 1)
    );
    assert_eq!(
        after_one.next_at_ms,
        T0 + 1_000,
        "the first conflict is retried after the back-off"
    );
    b.at(1_000);
    assert_eq!(b.engine.deliver_due().await.unwrap(), 1);
    let reviewed = b.delivery(d.id).await;
    assert_eq!(reviewed.state, DeliveryState::Review, "{reviewed:?}");
    assert!(
        reviewed
            .state_reason
            .as_deref()
            .unwrap()
            .contains("repeated idempotency conflicts")
    );
    let show = b.cli(&["review", "show", &d.id.to_string(), "--json"]);
    let evidence: Value =
        serde_json::from_slice(&show.stdout).unwrap_or_else(|_| panic!("{}", text(&show)));
    assert_eq!(evidence["attempts"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        evidence["attempts"][1]["error_class"],
        "idempotency-mismatch"
    );
    b.at(60_000);
    b.settle().await;
    assert_eq!(
        b.state(d.id).await,
        DeliveryState::Review,
        "waits for an operator"
    );
    b.store()
        .approve(d.id, "ana", "target fixed the key")
        .await
        .unwrap();
    b.settle().await;
    let done = b.delivery(d.id).await;
    assert_eq!(done.state, DeliveryState::Confirmed);
    assert_eq!(done.idempotency_key, d.idempotency_key);
}

/// A paused route keeps intake and planning going and writes nothing; other routes go on;
/// resumed, it delivers what waited in source order. Unknown routes are named in the error.
async fn a_paused_route_keeps_intake_and_resume_delivers_in_order(backend: Backend) {
    let b = Bench::start(backend).await;
    let out = b.cli(&[
        "route",
        "pause",
        "payouts",
        "--reason",
        "bank outage",
        "--by",
        "ana",
        "--file",
        b.file(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let unknown = b.cli(&[
        "route",
        "pause",
        "payout",
        "--reason",
        "x",
        "--file",
        b.file(),
    ]);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown).contains("unknown route `payout`"),
        "{}",
        text(&unknown)
    );
    assert!(
        text(&unknown).contains("payouts (pipeline payouts)"),
        "{}",
        text(&unknown)
    );

    let mut ids = Vec::new();
    for v in 1..=3 {
        ids.push(
            b.change(
                "payment",
                &format!("evt_{v}"),
                "po_1",
                v,
                None,
                payment("po_1", "verified"),
            )
            .await
            .id,
        );
    }
    let invoice = invoice("in_1", 5_000);
    let other = b.change("invoice", "evt_i", "in_1", 1, None, invoice).await;
    b.settle().await;
    assert_eq!(
        b.state(other.id).await,
        DeliveryState::Confirmed,
        "other routes go on"
    );
    for id in &ids {
        assert_eq!(
            b.state(*id).await,
            DeliveryState::Pending,
            "paused: nothing written"
        );
    }
    let list = b.cli(&["route", "list", "--json"]);
    let routes: Value =
        serde_json::from_slice(&list.stdout).unwrap_or_else(|_| panic!("{}", text(&list)));
    let payouts = routes
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["route"] == "payouts")
        .unwrap();
    assert_eq!(payouts["paused"], true);
    assert_eq!(payouts["paused_by"], "ana");
    assert_eq!(payouts["reason"], "bank outage");
    assert_eq!(payouts["waiting"], 3);

    let out = b.cli(&["route", "resume", "payouts", "--by", "ana"]);
    assert!(out.status.success(), "{}", text(&out));
    b.settle().await;
    assert_eq!(b.confirmed_order("po_1").await, [1, 2, 3]);
    let again = b.cli(&["route", "resume", "payouts"]);
    assert!(text(&again).contains("is not paused"), "{}", text(&again));
}

crate::support::on_both_backends!(
    a_later_change_that_passes_the_gate_releases_the_held_payout,
    the_sweep_releases_a_hold_whose_gate_passes,
    a_manual_release_is_refused_while_the_gate_fails_unless_overridden,
    a_manual_release_passes_on_the_newest_change,
    a_refund_larger_than_the_payment_is_reviewed_then_approved,
    a_credit_larger_than_the_invoice_is_reviewed_then_rejected,
    a_write_without_a_source_event_is_reviewed,
    repeated_idempotency_conflicts_go_to_review,
    a_paused_route_keeps_intake_and_resume_delivers_in_order,
);
