//! `junction-load --reconcile N`: `junction reconcile` over N customers per side, seeded
//! straight into the Stripe and NetSuite simulators (this process), with a little drift (one
//! in a thousand renamed at NetSuite, one in a thousand missing there and another in its place). The child runs under
//! `/usr/bin/time -v`, so the figures are its wall time and peak resident memory alone (the
//! simulators' millions of records live in this process).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use junction_tests::demo;
use junction_tests::sim::netsuite::NetSuiteSim;
use junction_tests::sim::stripe::{StripeSim, StripeSimConfig};

/// One measured run.
#[derive(Debug)]
pub struct ReconcileRun {
    pub entities: usize,
    pub seconds: f64,
    pub max_rss_kib: u64,
    pub report: serde_json::Value,
    pub errors: Vec<String>,
}

impl std::fmt::Display for ReconcileRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.report["counts"];
        writeln!(
            f,
            "reconcile {} customers per side: {:.1} s ({:.0} entities/s per side), peak RSS {:.1} MiB; \
             listed {} / {}, {} in sync, {} missing, {} extra, {} differing",
            self.entities,
            self.seconds,
            self.entities as f64 / self.seconds.max(1e-9),
            self.max_rss_kib as f64 / 1024.0,
            c["owner_listed"],
            c["target_listed"],
            c["in_sync"],
            c["missing"],
            c["extra"],
            c["differing"],
        )?;
        let t = &self.report["timings"];
        writeln!(
            f,
            "  time by step (the two sides run concurrently): owner list {} ms, owner through \
             route + expected {} ms, target list {} ms, spill writes {} ms, ordered compare {} ms",
            t["owner_list_ms"],
            t["owner_map_ms"],
            t["target_list_ms"],
            t["spill_ms"],
            t["compare_ms"]
        )
    }
}

/// Seeds both simulators with `n` customers and times `junction reconcile customers`.
pub async fn run(
    exe: &Path,
    work: &Path,
    cache_dir: &Path,
    n: usize,
) -> anyhow::Result<ReconcileRun> {
    let netsuite = NetSuiteSim::start(demo::netsuite_sim_config()).await?;
    let stripe = StripeSim::start(StripeSimConfig::default()).await?;
    let seeding = Instant::now();
    let ids = stripe.seed_customers(n, |i| {
        (format!("c{i}@example.com"), format!("Customer {i}"))
    });
    netsuite.seed_customers(n, |i| {
        let name = if i % 1000 == 7 {
            format!("Customer {i} (renamed)")
        } else {
            format!("Customer {i}")
        };
        // One in a thousand never reached NetSuite, which has another customer instead.
        let id = if i % 1000 == 3 {
            format!("cus_elsewhere_{i}")
        } else {
            ids[i].clone()
        };
        (id, name, format!("c{i}@example.com"))
    });
    eprintln!(
        "junction-load: seeded {n} customers per side in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let text = demo::pipeline_for_simulators(&stripe.base_url(), netsuite.base_url())?
        .replace("concurrency = 4 }", "concurrency = 64 }")
        .replace("rate = \"25/s\"", "rate = \"1000000/s\"")
        .replace("rate = \"10/s\"", "rate = \"1000000/s\"")
        + "\n[reconcile.customers]\nbetween = [\"stripe\", \"netsuite\"]\nobject = \"customer\"\n\
           fields = [\"name\", \"email\", \"phone\", \"currency\"]\nevery = \"24h\"\n";
    let pipeline = work.join("reconcile.toml");
    std::fs::write(&pipeline, text)?;
    let store = work.join("reconcile.db");
    let url = format!("sqlite://{}", store.display());
    junction::store::Store::open(&url).await?.close().await;

    let env = demo::simulator_env(netsuite.config());
    let vars: Vec<(&str, String)> = demo::SIMULATOR_ENV
        .iter()
        .filter_map(|k| env(k).map(|v| (*k, v)))
        .collect();
    let started = Instant::now();
    let out = tokio::process::Command::new("/usr/bin/time")
        .arg("-v")
        .arg(exe)
        .args([
            "reconcile",
            "customers",
            "--json",
            "--show",
            "5",
            "--pipeline",
        ])
        .arg(&pipeline)
        .arg("--store")
        .arg(&url)
        .arg("--cache-dir")
        .arg(cache_dir)
        .arg("--spill-dir")
        .arg(work)
        .envs(vars)
        .output()
        .await
        .context("cannot run /usr/bin/time -v junction reconcile")?;
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let max_rss_kib = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let report: serde_json::Value = match serde_json::from_slice(&out.stdout) {
        Ok(r) => r,
        Err(_) => bail!("junction reconcile printed no report:\n{stderr}"),
    };
    let mut errors = Vec::new();
    let c = &report["counts"];
    let expect_drift = (0..n).filter(|i| i % 1000 == 7).count() as i64;
    if c["owner_listed"] != n as i64 || c["target_listed"] != n as i64 {
        errors.push(format!(
            "listed {} / {}, seeded {n}",
            c["owner_listed"], c["target_listed"]
        ));
    }
    let expect_missing = (0..n).filter(|i| i % 1000 == 3).count() as i64;
    if c["differing"] != expect_drift
        || c["missing"] != expect_missing
        || c["extra"] != expect_missing
    {
        errors.push(format!(
            "{} differing, {} missing, {} extra; seeded {expect_drift}, {expect_missing}, {expect_missing}",
            c["differing"], c["missing"], c["extra"]
        ));
    }
    Ok(ReconcileRun {
        entities: n,
        seconds,
        max_rss_kib,
        report,
        errors,
    })
}
