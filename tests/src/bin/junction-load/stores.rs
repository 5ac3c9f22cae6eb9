//! `junction-load --compare-stores`: the same delivery load on SQLite with one worker and on
//! PostgreSQL with 1, 2 and 4 workers, with NetSuite answering at once and after 50 ms, all in
//! one run so the figures compare side by side. Webhooks go to the workers in turn, as a
//! round-robin balancer would send them.
//!
//! On a 2-core machine more workers cannot add CPU; what the table shows is what PostgreSQL
//! costs per change against SQLite, and whether vendor waits overlap across workers.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use junction::store::testing::TestDatabase;
use junction_tests::sim::faults::Faults;
use junction_tests::sim::netsuite::NetSuiteSim;

use crate::child::{Junction, Launch};
use crate::events::{Kind, Templates};
use crate::fire;

/// One configuration's figures.
#[derive(Debug)]
pub struct Row {
    pub store: &'static str,
    pub workers: usize,
    pub netsuite_latency_ms: u64,
    /// Customer webhooks acknowledged per second (while delivery runs too).
    pub intake_per_s: f64,
    /// Subscriptions delivered and confirmed per second, from the first webhook to the last
    /// confirmation (each is several NetSuite requests).
    pub confirmed_per_s: Option<f64>,
}

/// The whole comparison.
#[derive(Debug, Default)]
pub struct Comparison {
    pub changes: usize,
    pub rows: Vec<Row>,
    pub errors: Vec<String>,
}

/// What the comparison needs from the harness.
pub struct Setup<'a> {
    pub launch: &'a Launch,
    pub pipeline: &'a Path,
    pub work: &'a Path,
    pub netsuite: &'a NetSuiteSim,
    pub templates: &'a Templates,
    pub client: &'a reqwest::Client,
    pub port: u16,
    pub senders: usize,
    pub changes: usize,
    pub limit: Duration,
}

pub async fn compare(setup: &Setup<'_>) -> anyhow::Result<Comparison> {
    let mut comparison = Comparison {
        changes: setup.changes,
        ..Comparison::default()
    };
    let configs: [(&'static str, usize); 4] = [
        ("SQLite", 1),
        ("PostgreSQL", 1),
        ("PostgreSQL", 2),
        ("PostgreSQL", 4),
    ];
    let mut run = 0;
    for latency_ms in [0, 50] {
        for (store, workers) in configs {
            run += 1;
            setup.netsuite.faults().set(Faults {
                latency_ms,
                ..Faults::default()
            });
            // A fresh store each time, so every row starts from the same empty database.
            let (url, database) = if store == "SQLite" {
                let file = setup.work.join(format!("compare-{run}.db"));
                (format!("sqlite://{}", file.display()), None)
            } else {
                let database = TestDatabase::create().await;
                (database.url().to_owned(), Some(database))
            };
            let row = measure(
                setup,
                store,
                &url,
                workers,
                latency_ms,
                run,
                &mut comparison,
            )
            .await;
            comparison.rows.push(row?);
            drop(database);
        }
    }
    setup.netsuite.faults().set(Faults::default());
    Ok(comparison)
}

async fn measure(
    setup: &Setup<'_>,
    store: &'static str,
    url: &str,
    workers: usize,
    netsuite_latency_ms: u64,
    run: usize,
    comparison: &mut Comparison,
) -> anyhow::Result<Row> {
    let mut cluster: Vec<Junction> = Vec::new();
    for w in 0..workers {
        let launch = Launch {
            listen: format!("127.0.0.1:{}", setup.port + w as u16),
            ..setup.launch.clone()
        };
        let id = format!("load-{w}");
        let log = setup.work.join(format!("compare-{run}-{w}.log"));
        cluster.push(
            launch
                .start_on(setup.pipeline, url, &["--worker-id", &id], &log)
                .await?,
        );
    }
    let urls: Vec<String> = cluster
        .iter()
        .map(|j| format!("{}/hooks/stripe", j.base))
        .collect();
    let n = setup.changes;
    let tag = format!("cmp{run}");
    let what = format!("{store} x{workers}, NetSuite {netsuite_latency_ms} ms");

    // Customers first: a subscription needs its customer at NetSuite.
    let customers = Arc::new(setup.templates.shots(
        Kind::CustomerCreated,
        &format!("{tag}c"),
        run * 1_000_000,
        n,
    ));
    let acked =
        fire::burst_spread(setup.client, &urls, customers, setup.senders, setup.limit).await;
    if acked.ok != n {
        comparison.errors.push(format!(
            "{what}: {} of {n} customer webhooks acknowledged; e.g. {:?}",
            acked.ok, acked.failures
        ));
    }
    let intake_per_s = acked.rate();
    wait_confirmed(setup, &cluster, n as f64, &what, comparison).await?;

    let subscriptions = Arc::new(setup.templates.shots(
        Kind::SubscriptionCreated,
        &format!("{tag}s"),
        run * 1_000_000,
        n,
    ));
    let started = Instant::now();
    let sent = fire::burst_spread(
        setup.client,
        &urls,
        subscriptions,
        setup.senders,
        setup.limit,
    )
    .await;
    if sent.ok != n {
        comparison.errors.push(format!(
            "{what}: {} of {n} subscription webhooks acknowledged; e.g. {:?}",
            sent.ok, sent.failures
        ));
    }
    let done = wait_confirmed(setup, &cluster, 2.0 * n as f64, &what, comparison).await?;
    let confirmed_per_s = done.then(|| n as f64 / started.elapsed().as_secs_f64());
    for j in cluster {
        j.kill().await;
    }
    Ok(Row {
        store,
        workers,
        netsuite_latency_ms,
        intake_per_s,
        confirmed_per_s,
    })
}

/// Waits until the workers together confirmed `target` deliveries; false on time-out.
async fn wait_confirmed(
    setup: &Setup<'_>,
    cluster: &[Junction],
    target: f64,
    what: &str,
    comparison: &mut Comparison,
) -> anyhow::Result<bool> {
    let started = Instant::now();
    loop {
        let mut confirmed = 0.0;
        for j in cluster {
            confirmed += j
                .metric(setup.client, "junction_confirmed_total", "")
                .await?;
        }
        if confirmed >= target {
            return Ok(true);
        }
        if started.elapsed() > setup.limit {
            comparison.errors.push(format!(
                "{what}: {confirmed} of {target} confirmed after {} s",
                setup.limit.as_secs()
            ));
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "| store | workers | NetSuite latency | customer webhooks acked/s | subscriptions \
             confirmed/s ({} each) | vs SQLite x1 |",
            self.changes
        )?;
        writeln!(f, "|---|---|---|---|---|---|")?;
        for row in &self.rows {
            let base = self
                .rows
                .iter()
                .find(|r| r.store == "SQLite" && r.netsuite_latency_ms == row.netsuite_latency_ms)
                .and_then(|r| r.confirmed_per_s);
            let confirmed = row
                .confirmed_per_s
                .map_or("did not finish".to_owned(), |c| format!("{c:.0}"));
            let ratio = match (row.confirmed_per_s, base) {
                (Some(c), Some(b)) if b > 0.0 => format!("{:.2}", c / b),
                _ => "-".to_owned(),
            };
            writeln!(
                f,
                "| {} | {} | {} ms | {:.0} | {confirmed} | {ratio} |",
                row.store, row.workers, row.netsuite_latency_ms, row.intake_per_s
            )?;
        }
        Ok(())
    }
}
