//! `junction-load --hostile`: the resident memory of `junction run` while the hostile test
//! component (`tests/components/hostile`) does its worst through the webhook port, beside the
//! bound the operator configured: the connector's `memory` limit times its `concurrency`.
//!
//! Each misbehaviour is fired at twice the connector's concurrency (so calls also queue) for a
//! few rounds while `/proc/PID/status` is sampled every 10 ms. The run fails when the peak
//! exceeds idle + concurrency x memory + [`CONSTANT_MIB`], or when `/healthz` stopped
//! answering.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::child::{Junction, Launch};

/// Per-connector memory limit the pipeline sets.
const MEMORY_MIB: u64 = 32;
/// Calls of the connector at once.
const CONCURRENCY: usize = 8;
/// Host memory beyond the guests' own that a worst-case round may add: wasmtime's per-instance
/// bookkeeping, the webhook bodies and answers in flight, the log lines kept per call, and the
/// allocator's slack. `docs/security.md` documents it.
pub const CONSTANT_MIB: f64 = 64.0;

/// The misbehaviours measured, each with the webhook body it needs (`{sink}` is replaced by the
/// URL of a listener that accepts connections and never answers).
const MISBEHAVIOURS: &[(&str, &str)] = &[
    ("memory", ""),
    ("fields", ""),
    ("requests", "{sink}/never"),
    ("log-flood", ""),
    ("many", ""),
    ("loop", ""),
    ("wait", ""),
];

/// Rounds of each misbehaviour.
const ROUNDS: usize = 3;

/// One misbehaviour's figures.
#[derive(Debug)]
pub struct Row {
    name: &'static str,
    calls: usize,
    refused: usize,
    peak_mib: f64,
    after_mib: f64,
    took: Duration,
}

/// Everything `--hostile` measured.
#[derive(Debug, Default)]
pub struct HostileReport {
    pub idle_mib: f64,
    pub rows: Vec<Row>,
    pub hwm_mib: f64,
    pub errors: Vec<String>,
}

impl HostileReport {
    fn bound_mib(&self) -> f64 {
        self.idle_mib + (CONCURRENCY as u64 * MEMORY_MIB) as f64 + CONSTANT_MIB
    }
}

/// The pipeline: the hostile component as a webhook source, one webhook path per misbehaviour.
fn pipeline(module: &str) -> String {
    let mut text = format!(
        r#"[pipeline]
name = "hostile-memory"

[connectors.hostile]
module = "{module}"
allow-hosts = ["127.0.0.1"]
limits = {{ memory = "{MEMORY_MIB}MiB", call-timeout = "2s", concurrency = {CONCURRENCY} }}

[ownership]
customer = "hostile"
"#
    );
    for (name, _) in MISBEHAVIOURS {
        text.push_str(&format!(
            "\n[[source]]\nconnector = \"hostile\"\nwebhook = \"/hooks/{name}\"\nobjects = [\"customer\"]\n"
        ));
    }
    text
}

/// Starts `junction run` on the hostile pipeline and fires every misbehaviour at it.
pub async fn run(launch: &Launch, work: &Path) -> anyhow::Result<HostileReport> {
    let file = work.join("hostile.toml");
    std::fs::write(&file, pipeline(crate::HOSTILE))?;
    // A peer that accepts and never answers: the requests the `requests` bomb opens stay open.
    let sink = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sink_url = format!("http://{}", sink.local_addr()?);
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = sink.accept().await {
            open.push(socket);
        }
    });
    let j = launch
        .start(&file, &work.join("hostile.db"), &work.join("junction.log"))
        .await
        .context("starting junction run on the hostile pipeline")?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut report = HostileReport {
        idle_mib: j.memory_mib().0,
        ..HostileReport::default()
    };
    for &(name, body) in MISBEHAVIOURS {
        let row = misbehave(&j, &client, name, &body.replace("{sink}", &sink_url)).await;
        if !healthy(&client, &j).await {
            report
                .errors
                .push(format!("{name}: /healthz stopped answering"));
        }
        report.rows.push(row);
    }
    report.hwm_mib = j.memory_mib().1;
    if report.hwm_mib > report.bound_mib() {
        report.errors.push(format!(
            "peak resident memory {:.1} MiB is above the bound {:.1} MiB",
            report.hwm_mib,
            report.bound_mib()
        ));
    }
    j.kill().await;
    held.abort();
    Ok(report)
}

async fn misbehave(j: &Junction, client: &reqwest::Client, name: &'static str, body: &str) -> Row {
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        let pid = j.pid;
        tokio::spawn(async move {
            let mut peak = 0.0_f64;
            while sampling.load(Ordering::Relaxed) {
                peak = peak.max(crate::child::memory_of(pid).0);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            peak
        })
    };
    let url = format!("{}/hooks/{name}", j.base);
    let started = Instant::now();
    let mut calls = 0;
    let mut refused = 0;
    for _ in 0..ROUNDS {
        let answers = futures_join(
            (0..2 * CONCURRENCY)
                .map(|_| client.post(&url).body(body.to_string()).send())
                .collect(),
        )
        .await;
        for answer in answers {
            calls += 1;
            if !answer.is_ok_and(|r| r.status().is_success()) {
                refused += 1;
            }
        }
    }
    let took = started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    let peak_mib = sampler.await.unwrap_or(f64::NAN);
    // Let the runtime hand back what the calls used.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Row {
        name,
        calls,
        refused,
        peak_mib,
        after_mib: j.memory_mib().0,
        took,
    }
}

/// Awaits every request at once.
async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output>
where
    F: Send + 'static,
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok(v) = task.await {
            out.push(v);
        }
    }
    out
}

async fn healthy(client: &reqwest::Client, j: &Junction) -> bool {
    client
        .get(format!("{}/healthz", j.base))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

impl fmt::Display for HostileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "`junction run` with the hostile component as a webhook source: limits memory = {MEMORY_MIB} MiB, concurrency = {CONCURRENCY}, call-timeout = 2 s; {} calls of each misbehaviour at once, {ROUNDS} rounds",
            2 * CONCURRENCY
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "| misbehaviour | calls (refused) | peak RSS while it ran | RSS 0.5 s after | took |"
        )?;
        writeln!(f, "|---|---|---|---|---|")?;
        for r in &self.rows {
            writeln!(
                f,
                "| {} | {} ({}) | {:.1} MiB | {:.1} MiB | {:.1} s |",
                r.name,
                r.calls,
                r.refused,
                r.peak_mib,
                r.after_mib,
                r.took.as_secs_f64()
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "idle {:.1} MiB; peak (VmHWM) {:.1} MiB; bound idle + {CONCURRENCY} x {MEMORY_MIB} MiB + {CONSTANT_MIB} MiB = {:.1} MiB",
            self.idle_mib,
            self.hwm_mib,
            self.bound_mib()
        )
    }
}
