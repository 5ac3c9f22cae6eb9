//! `junction connector receive builtin:stripe` with a webhook signed by Stripe's own Node library
//! (`tests/sim-node/sign.mjs`), and the same body with one byte changed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use super::WEBHOOK_SECRET;

fn sim_node() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sim-node")
}

/// Fails (rather than passing silently) when Stripe's Node library is not installed.
fn require_stripe_node() {
    let install = "run `npm install` in tests/sim-node (CI's .ci/run does)";
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "this test needs `node` on PATH; install Node.js, then {install}"
    );
    assert!(
        sim_node().join("node_modules/stripe").is_dir(),
        "Stripe's Node library is missing: {install}"
    );
}

/// A `customer.subscription.updated` event in Stripe's published shape (`testdata/`): quantity
/// 1 -> 3, pretty-printed as Stripe sends it.
fn subscription_updated_event() -> String {
    let read = |name: &str| -> Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../connectors/stripe/testdata")
            .join(name);
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut sub = read("subscription.json");
    for field in ["cancel_at", "canceled_at", "ended_at"] {
        sub[field] = Value::Null;
    }
    sub["cancel_at_period_end"] = json!(false);
    sub["status"] = json!("active");
    sub["start_date"] = json!(now - 86_400);
    sub["items"]["data"][0]["current_period_start"] = json!(now - 86_400);
    sub["items"]["data"][0]["current_period_end"] = json!(now + 29 * 86_400);
    sub["items"]["data"][0]["quantity"] = json!(3);
    let mut previous_items = sub["items"].clone();
    previous_items["data"][0]["quantity"] = json!(1);
    let mut event = read("event.json");
    event["id"] = json!("evt_cli_quantity_update");
    event["type"] = json!("customer.subscription.updated");
    event["created"] = json!(now);
    event["api_version"] = json!("2026-10-28.endive");
    event["data"] = json!({ "object": sub, "previous_attributes": { "items": previous_items } });
    serde_json::to_string_pretty(&event).unwrap()
}

/// `Stripe-Signature` for the file's bytes, made by `stripe.webhooks.generateTestHeaderString`.
fn node_signature(body: &Path) -> String {
    let out = Command::new("node")
        .arg(sim_node().join("sign.mjs"))
        .arg(WEBHOOK_SECRET)
        .arg(body)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "sign.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn cli_receive(body: &Path, signature: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_junction-cli"))
        .args(["connector", "receive", "builtin:stripe", "--body"])
        .arg(body)
        .args([
            "--header",
            &format!("Stripe-Signature: {signature}"),
            "--secret",
            "webhook=env:WH",
        ])
        .env("WH", WEBHOOK_SECRET)
        .env(
            "JUNCTION_CACHE_DIR",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/junction-test-cache"),
        )
        .output()
        .expect("the junction CLI runs")
}

#[test]
fn the_cli_decodes_a_webhook_signed_by_stripes_node_library_and_refuses_a_changed_byte() {
    require_stripe_node();
    let dir = std::env::temp_dir().join(format!(
        "junction-cli-receive-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("event.json");
    let body = subscription_updated_event();
    std::fs::write(&file, &body).unwrap();
    let signature = node_signature(&file);

    let out = cli_receive(&file, &signature);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let changes: Value = serde_json::from_str(&stdout).expect("the CLI prints JSON");
    let change = &changes[0];
    assert_eq!(changes.as_array().map(Vec::len), Some(1), "{changes}");
    assert_eq!(
        (&change["object"], &change["key"], &change["operation"]),
        (
            &json!("subscription"),
            &json!("sub_1Pgc6rB7WZ01zgkWNy0Cn5nw"),
            &json!("update")
        )
    );
    assert_eq!(
        (
            &change["before"]["items"][0]["quantity"],
            &change["after"]["items"][0]["quantity"]
        ),
        (&json!(1), &json!(3))
    );

    let tampered = body.replacen("\"quantity\": 3", "\"quantity\": 4", 1);
    assert_eq!(
        tampered
            .bytes()
            .zip(body.bytes())
            .filter(|(a, b)| a != b)
            .count(),
        1,
        "exactly one byte differs"
    );
    std::fs::write(&file, &tampered).unwrap();
    let out = cli_receive(&file, &signature);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "a changed body must be refused: {stdout}"
    );
    assert!(
        stdout.contains("invalid-webhook"),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
