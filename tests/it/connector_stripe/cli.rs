//! `junction connector receive builtin:stripe` with a webhook signed by Stripe's own Node library
//! (`tests/sim-node/sign.mjs`), and the same body with one byte changed. The connector reads the
//! subscription's current state from Stripe while it decodes, so the CLI is pointed at the
//! Stripe simulator (`--base-url`, `--bearer`), as an author would point it at Stripe's test mode.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use junction_tests::sim::stripe::StripeSimConfig;
use serde_json::{Value, json};

use super::{API_KEY, WEBHOOK_SECRET, start, subscribed};

fn sim_node() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sim-node")
}

/// Installs Stripe's Node library at the version `tests/sim-node/package-lock.json` pins when
/// it is missing (a fresh clone: `cargo test --workspace` needs no step before it), and fails,
/// rather than passing silently, when Node.js or npm is not there.
fn require_stripe_node() {
    static INSTALLED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let installed = INSTALLED.get_or_init(|| {
        let node = Command::new("node").arg("--version").output();
        if !node.is_ok_and(|o| o.status.success()) {
            return Err("this test needs `node` (Node.js) on PATH".into());
        }
        if sim_node().join("node_modules/stripe").is_dir() {
            return Ok(());
        }
        let npm = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(sim_node())
            .output()
            .map_err(|e| {
                format!("this test needs `npm` on PATH to install Stripe's Node library: {e}")
            })?;
        if !npm.status.success() {
            return Err(format!(
                "`npm ci` in tests/sim-node failed: {}",
                String::from_utf8_lossy(&npm.stderr)
            ));
        }
        Ok(())
    });
    if let Err(why) = installed {
        panic!("{why}");
    }
    assert!(
        sim_node().join("node_modules/stripe").is_dir(),
        "Stripe's Node library is still missing after `npm ci` in tests/sim-node"
    );
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

fn cli_receive(body: &Path, signature: &str, stripe_url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_junction-cli"))
        .args(["connector", "receive", "builtin:stripe", "--body"])
        .arg(body)
        .args([
            "--header",
            &format!("Stripe-Signature: {signature}"),
            "--secret",
            "webhook=env:WH",
            "--base-url",
            stripe_url,
            "--bearer",
            "env:SK",
        ])
        .env("WH", WEBHOOK_SECRET)
        .env("SK", API_KEY)
        .env(
            "JUNCTION_CACHE_DIR",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/junction-test-cache"),
        )
        .output()
        .expect("the junction CLI runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_decodes_a_webhook_signed_by_stripes_node_library_and_refuses_a_changed_byte() {
    require_stripe_node();
    let sim = start(StripeSimConfig::default()).await;
    let (_, sub) = subscribed(&sim, 1);
    sim.update_subscription_quantity(&sub, 3).unwrap();
    let event = sim
        .events()
        .into_iter()
        .rev()
        .find(|e| e["type"] == "customer.subscription.updated")
        .expect("the update event");
    // The subscription changes again before this webhook is processed.
    sim.update_subscription_quantity(&sub, 5).unwrap();
    let dir = std::env::temp_dir().join(format!(
        "junction-cli-receive-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("event.json");
    // Pretty-printed, as Stripe sends it.
    let body = serde_json::to_string_pretty(&event).unwrap();
    std::fs::write(&file, &body).unwrap();
    let signature = node_signature(&file);
    let run = |file: PathBuf, signature: String, url: String| {
        tokio::task::spawn_blocking(move || cli_receive(&file, &signature, &url))
    };

    let out = run(file.clone(), signature.clone(), sim.base_url())
        .await
        .unwrap();
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
        (&json!("subscription"), &json!(sub), &json!("update"))
    );
    assert_eq!(
        (
            &change["before"]["items"][0]["quantity"],
            &change["after"]["items"][0]["quantity"]
        ),
        (&json!(1), &json!(5)),
        "before from the event, after as Stripe holds it now"
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
    let out = run(file, signature, sim.base_url()).await.unwrap();
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
