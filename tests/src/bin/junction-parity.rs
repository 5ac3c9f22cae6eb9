//! `junction-parity`: the parity check's figures. The same Zendesk connector written in
//! TypeScript (connectors/zendesk), Python (parity/python) and Rust (parity/rust) is built with
//! `junction connector build`, loaded in one host, and called side by side in one run against
//! the Zendesk simulator: compile and cached-load times, instantiating, a call on a fresh instance that
//! does no I/O (`expected`), and a read-back (`fetch`: one HTTP round
//! trip to the simulator). Prints a Markdown table for BENCHMARKS.md.
//!
//! `cargo run --release -p junction-tests --bin junction-parity -- --calls 200`

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use junction::host::{
    Auth, CallContext, Connector, EgressPolicy, Host, InstanceSpec, Limits, Origin,
};
use junction::services::secret::Secret;
use junction_connector_kit::{Operation, Write};
use junction_sims::zendesk::{ZendeskSim, ZendeskSimConfig};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(name = "junction-parity")]
struct Args {
    /// Calls measured per case and language (after 5 unmeasured ones).
    #[arg(long, default_value_t = 200)]
    calls: usize,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

fn median_p90(mut d: Vec<Duration>) -> (Duration, Duration) {
    d.sort();
    (d[d.len() / 2], d[(d.len() * 9 / 10).min(d.len() - 1)])
}

fn us(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.1} s", d.as_secs_f64())
    } else if d >= Duration::from_millis(10) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.0} µs", d.as_secs_f64() * 1e6)
    }
}

fn write(key: &str, n: i64) -> Write {
    Write {
        object: "invoice".into(),
        key: key.into(),
        operation: Operation::Update,
        document: json!({
            "id": key, "customer_id": "cus_Parity", "customer_email": "parity@example.com",
            "subscription_id": null, "status": "open",
            "currency": "usd", "total": 4900 + n, "amount_due": 4900 + n, "amount_paid": 0,
            "metadata": {},
        })
        .to_string(),
        effective_at: None,
        occurred_at: 1_764_547_200_000,
        idempotency_key: format!("parity-{key}-{n}"),
        correlation_id: "parity".into(),
    }
}

async fn measure<F, Fut>(calls: usize, mut f: F) -> anyhow::Result<(Duration, Duration)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    for _ in 0..5 {
        f().await?;
    }
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        f().await?;
        times.push(t.elapsed());
    }
    Ok(median_p90(times))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let out = repo().join("target/connectors");
    let langs = [
        ("Rust", "parity/rust", "parity-rs"),
        ("TypeScript", "connectors/zendesk", "parity-ts"),
        ("Python", "parity/python", "parity-py"),
    ];
    let cache = std::env::temp_dir().join(format!("junction-parity-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    let sim = ZendeskSim::start(ZendeskSimConfig::default()).await?;
    let field = sim.add_ticket_field("Junction invoice", "textarea");
    let config = sim.config().clone();
    let spec = || InstanceSpec {
        name: "zendesk".into(),
        settings: [
            ("base-url".to_string(), sim.base_url().to_string()),
            ("invoice-field".to_string(), field.to_string()),
        ]
        .into(),
        egress: EgressPolicy {
            allow_hosts: vec!["127.0.0.1".into()],
            auth: Auth::Basic {
                username: Secret::new(format!("{}/token", config.email)),
                password: Secret::new(config.api_token.as_str()),
            },
            credential_origins: Origin::of_url(sim.base_url()).into_iter().collect(),
            timeout: Duration::from_secs(10),
        },
        limits: Limits {
            memory_bytes: 128 << 20,
            ..Limits::default()
        },
        ..InstanceSpec::default()
    };
    println!("| | Rust | TypeScript | Python |");
    println!("|---|---|---|---|");
    let mut rows: Vec<Vec<String>> = vec![Vec::new(); 7];
    for (lang, dir, name) in langs {
        let wasm = out.join(format!("{name}.wasm"));
        junction::cli::build::build(&repo().join(dir), Some(&wasm))
            .with_context(|| format!("building the {lang} connector"))?;
        let size = std::fs::metadata(&wasm)?.len();
        let path = wasm.display().to_string();
        let t = Instant::now();
        Host::new(Some(cache.clone()))?.load(&path, None).await?;
        let compile = t.elapsed();
        let host = Host::new(Some(cache.clone()))?;
        let t = Instant::now();
        let module = host.load(&path, None).await?;
        let cached = t.elapsed();
        let c: Connector = host.instantiate(module, spec());
        let ctx = CallContext::default();
        let key = format!("in_Parity{name}");
        c.apply(&ctx, write(&key, 0))
            .await
            .result
            .map_err(|e| anyhow::anyhow!("{lang} apply: {e:?}"))?;
        let instantiate = measure(args.calls, || async {
            c.warm()
                .await
                .map(drop)
                .map_err(|e| anyhow::anyhow!("{lang} instantiate: {e:?}"))
        })
        .await?;
        let expected = measure(args.calls, || async {
            c.expected(&ctx, write(&key, 0))
                .await
                .result
                .map(drop)
                .map_err(|e| anyhow::anyhow!("{lang} expected: {e:?}"))
        })
        .await?;
        let fetch = measure(args.calls, || async {
            c.fetch(&ctx, "invoice", &key)
                .await
                .result
                .map(drop)
                .map_err(|e| anyhow::anyhow!("{lang} fetch: {e:?}"))
        })
        .await?;
        rows[0].push(format!("{:.1} MiB", size as f64 / f64::from(1 << 20)));
        rows[1].push(us(compile));
        rows[2].push(us(cached));
        rows[3].push(format!("{} (p90 {})", us(instantiate.0), us(instantiate.1)));
        rows[4].push(format!("{} (p90 {})", us(expected.0), us(expected.1)));
        rows[5].push(format!("{} (p90 {})", us(fetch.0), us(fetch.1)));
        rows[6].push(format!("{}", sim.tickets_with_external_id(&key).len()));
    }
    let names = [
        "component size",
        "first load (compile, cold cache)",
        "load from the compiled cache",
        "instantiate (`Connector::warm`), median",
        "`expected` on a fresh instance (no I/O), median",
        "`fetch` on a fresh instance (one GET to the simulator), median",
        "tickets after the run (must be 1)",
    ];
    for (name, row) in names.iter().zip(rows) {
        println!("| {name} | {} |", row.join(" | "));
    }
    println!("\n{} calls per case after 5 unmeasured ones.", args.calls);
    let _ = std::fs::remove_dir_all(&cache);
    Ok(())
}
