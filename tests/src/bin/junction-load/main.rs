//! `junction-load`: end-to-end figures for BENCHMARKS.md. Runs `junction run` on the example
//! pipeline as a child process against a zero-latency NetSuite simulator and measures durable
//! intake (burst and steady), delivered-and-confirmed changes/s, resident memory and start-up,
//! each beside the raw HTTP floor from the same senders. Exits non-zero when a webhook was not
//! acknowledged, an acknowledged one was not committed, or a change was not confirmed in time.

mod child;
mod events;
mod fire;
mod hostile;
mod reconcile;
mod report;
mod stores;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use junction_tests::demo;
use junction_tests::sim::faults::Faults;
use junction_tests::sim::netsuite::NetSuiteSim;
use junction_tests::sim::stripe::{StripeSim, StripeSimConfig};

use crate::child::Launch;
use crate::events::{Kind, Templates};
use crate::report::{Report, Stage};

/// Fires signed Stripe webhooks at `junction run` and measures what comes out.
#[derive(Debug, Parser)]
#[command(name = "junction-load")]
struct Args {
    /// The `junction` binary (default: the one beside this binary).
    #[arg(long)]
    junction: Option<PathBuf>,
    /// Webhooks in the intake burst.
    #[arg(long, default_value_t = 20_000)]
    webhooks: usize,
    /// Concurrent senders in the burst.
    #[arg(long, default_value_t = 32)]
    senders: usize,
    /// Webhooks per second in the steady run.
    #[arg(long, default_value_t = 1000)]
    steady_rate: u32,
    /// Seconds of the steady run.
    #[arg(long, default_value_t = 10)]
    steady_secs: u32,
    /// Changes per stage of the delivery run (customers first, then their subscriptions).
    #[arg(long, default_value_t = 3000)]
    changes: usize,
    /// Commit durability of the store: full (fsync per commit, the default) or normal.
    #[arg(long, default_value = "full", value_parser = ["full", "normal"])]
    durability: String,
    /// Start-ups timed with a warm component cache.
    #[arg(long, default_value_t = 5)]
    starts: usize,
    /// Longest any phase may run, seconds.
    #[arg(long, default_value_t = 180)]
    phase_timeout: u64,
    /// Port Junction listens on (127.0.0.1).
    #[arg(long, default_value_t = 18080)]
    port: u16,
    /// Where stores, pipelines and Junction's log go (default: a fresh temp dir).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Measure only the resident memory of `junction run` while the hostile test component
    /// misbehaves in every way it knows (see hostile.rs).
    #[arg(long)]
    hostile: bool,
    /// Measure only delivery on SQLite with one worker beside PostgreSQL with 1, 2 and 4
    /// workers, NetSuite at 0 and 50 ms (see stores.rs). PostgreSQL is
    /// JUNCTION_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432/postgres).
    #[arg(long)]
    compare_stores: bool,
    /// Measure only `junction reconcile` over this many customers per side, seeded straight
    /// into the simulators (see reconcile.rs).
    #[arg(long)]
    reconcile: Option<usize>,
}

/// The hostile test component, built by the tests crate's build script.
const HOSTILE: &str = env!("JUNCTION_TEST_COMPONENT_HOSTILE");

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.hostile {
        let run = run_hostile(&args).await;
        return finish(run.map(|r| {
            let errors = r.errors.clone();
            (r.to_string(), errors)
        }));
    }
    if let Some(n) = args.reconcile {
        let run = run_reconcile(&args, n).await;
        return finish(run.map(|r| (r.to_string(), r.errors)));
    }
    if args.compare_stores {
        let run = run_compare(&args).await;
        return finish(run.map(|c| (c.to_string(), c.errors)));
    }
    let run = run(args).await;
    finish(run.map(|r| (r.to_string(), r.errors)))
}

/// Prints a run's report and its errors; fails when there were any, or when it could not run.
fn finish(run: anyhow::Result<(String, Vec<String>)>) -> ExitCode {
    match run {
        Ok((report, errors)) => {
            print!("{report}");
            if errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "junction-load: {} errors:\n  {}",
                    errors.len(),
                    errors.join("\n  ")
                );
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("junction-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The example pipeline for the load: simulators' URLs, connector limits lifted (they are the
/// operator's protection of real vendors), confirmation checked every 20 ms instead of 1 s.
fn pipeline(stripe: &str, netsuite: &str, shadow: bool) -> anyhow::Result<String> {
    let text = demo::pipeline_for_simulators(stripe, netsuite)?
        .replace("concurrency = 4 }", "concurrency = 64 }")
        .replace("rate = \"25/s\"", "rate = \"1000000/s\"")
        .replace("rate = \"10/s\"", "rate = \"1000000/s\"")
        .replace("interval = \"1s\"", "interval = \"20ms\"")
        .replace(
            "within = \"2m\" }",
            "within = \"2m\", interval = \"20ms\" }",
        );
    if text.matches("1000000/s").count() != 2 || text.matches("interval = \"20ms\"").count() != 2 {
        bail!("the example pipeline's limits or confirm settings moved; update junction-load");
    }
    Ok(if shadow {
        text.replace("mode = \"write\"", "mode = \"shadow\"")
    } else {
        text
    })
}

/// The `junction` binary and the work folder the arguments name.
fn exe_and_work(args: &Args) -> anyhow::Result<(PathBuf, PathBuf)> {
    let exe = match &args.junction {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("no directory beside this binary")?
            .join("junction"),
    };
    let work = match &args.work_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("junction-load-{}", std::process::id())),
    };
    std::fs::create_dir_all(&work)?;
    Ok((exe, work))
}

async fn run_hostile(args: &Args) -> anyhow::Result<hostile::HostileReport> {
    let (exe, work) = exe_and_work(args)?;
    let launch = Launch {
        exe,
        listen: format!("127.0.0.1:{}", args.port),
        cache_dir: work.join("components"),
        durability: args.durability.clone(),
        env: Vec::new(),
    };
    hostile::run(&launch, &work).await
}

async fn run_reconcile(args: &Args, n: usize) -> anyhow::Result<reconcile::ReconcileRun> {
    let (exe, work) = exe_and_work(args)?;
    reconcile::run(&exe, &work, &work.join("components"), n).await
}

async fn run_compare(args: &Args) -> anyhow::Result<stores::Comparison> {
    let (exe, work) = exe_and_work(args)?;
    let stripe = StripeSim::start(StripeSimConfig::default()).await?;
    let templates = Templates::from_sim(&stripe)?;
    let netsuite = NetSuiteSim::start(junction_tests::demo::netsuite_sim_config()).await?;
    let product = stripe
        .product_of(&templates.price)
        .ok_or_else(|| anyhow::anyhow!("the simulator's price has no product"))?;
    netsuite.add_item(&product, "Load");
    let secrets = demo::simulator_env(netsuite.config());
    let launch = Launch {
        exe,
        listen: String::new(),
        cache_dir: work.join("components"),
        durability: args.durability.clone(),
        env: junction_tests::demo::SIMULATOR_ENV
            .iter()
            .filter_map(|n| Some((*n, secrets(n)?)))
            .collect(),
    };
    let pipeline_file = work.join("compare.toml");
    std::fs::write(
        &pipeline_file,
        pipeline(&stripe.base_url(), netsuite.base_url(), false)?,
    )?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()?;
    stores::compare(&stores::Setup {
        launch: &launch,
        pipeline: &pipeline_file,
        work: &work,
        netsuite: &netsuite,
        templates: &templates,
        client: &client,
        port: args.port,
        senders: args.senders,
        changes: args.changes,
        limit: Duration::from_secs(args.phase_timeout),
    })
    .await
}

async fn run(args: Args) -> anyhow::Result<Report> {
    let (exe, work) = exe_and_work(&args)?;
    let limit = Duration::from_secs(args.phase_timeout);
    let stripe = StripeSim::start(StripeSimConfig::default()).await?;
    let templates = Templates::from_sim(&stripe)?;
    let netsuite = NetSuiteSim::start(junction_tests::demo::netsuite_sim_config()).await?;
    let product = stripe
        .product_of(&templates.price)
        .ok_or_else(|| anyhow::anyhow!("the simulator's price has no product"))?;
    netsuite.add_item(&product, "Load");
    let secrets = demo::simulator_env(netsuite.config());
    let names = junction_tests::demo::SIMULATOR_ENV;
    let launch = Launch {
        exe,
        listen: format!("127.0.0.1:{}", args.port),
        cache_dir: work.join("components"),
        durability: args.durability.clone(),
        env: names
            .iter()
            .filter_map(|n| Some((*n, secrets(n)?)))
            .collect(),
    };
    let (shadow_file, write_file) = (work.join("intake.toml"), work.join("delivery.toml"));
    std::fs::write(
        &shadow_file,
        pipeline(&stripe.base_url(), netsuite.base_url(), true)?,
    )?;
    std::fs::write(
        &write_file,
        pipeline(&stripe.base_url(), netsuite.base_url(), false)?,
    )?;
    let log = work.join("junction.log");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut report = Report {
        senders: args.senders,
        durability: args.durability.clone(),
        ..Report::default()
    };

    // Start-up: the first start compiles the connectors into the cache; the rest load from it.
    let store = work.join("startup.db");
    launch
        .start(&write_file, &store, &log)
        .await
        .context("first start (filling the component cache)")?
        .kill()
        .await;
    for _ in 0..args.starts {
        let j = launch.start(&write_file, &store, &log).await?;
        report.startups.push(j.startup);
        j.kill().await;
    }

    // The raw HTTP floor: the same senders and bodies against a handler that only answers.
    let shots = Arc::new(templates.shots(Kind::SubscriptionUpdated, "burst", 0, args.webhooks));
    report.floor = Some(floor(&client, shots.clone(), args.senders, limit).await?);

    // Durable intake, route in shadow mode so the figure is intake (the planner still runs).
    let j = launch
        .start(&shadow_file, &work.join("intake.db"), &log)
        .await?;
    report.rss_idle = j.memory_mib().0;
    let url = format!("{}/hooks/stripe", j.base);
    let burst = fire::burst(&client, &url, shots, args.senders, limit).await;
    check_run(&mut report, "burst", &burst, args.webhooks);
    report.burst = Some(burst);
    let steady_n = (args.steady_rate * args.steady_secs) as usize;
    let steady_shots =
        Arc::new(templates.shots(Kind::SubscriptionUpdated, "steady", args.webhooks, steady_n));
    let steady = fire::steady(&client, &url, steady_shots, args.steady_rate, 4096).await;
    check_run(&mut report, "steady", &steady, steady_n);
    report.steady = Some(steady);
    let committed = j
        .metric(
            &client,
            "junction_intake_changes_total",
            "outcome=\"accepted\"",
        )
        .await? as usize;
    if committed != args.webhooks + steady_n {
        report.errors.push(format!(
            "intake: {} webhooks acknowledged, {committed} changes committed",
            args.webhooks + steady_n
        ));
    }
    report.rss_after_intake = j.memory_mib().0;
    j.kill().await;

    // Delivered and confirmed: customers, then their subscriptions, each confirmed by read-back.
    let j = launch
        .start(&write_file, &work.join("delivery.db"), &log)
        .await?;
    let n = args.changes;
    // The last stage slows NetSuite down so every worker slot is busy: memory under load.
    let stages = [
        ("customers", "cus", Kind::CustomerCreated, n, 0),
        ("subscriptions", "sub", Kind::SubscriptionCreated, n, 0),
        (
            "subscription updates, NetSuite 200 ms latency",
            "upd",
            Kind::SubscriptionUpdated,
            n.min(1000),
            200,
        ),
    ];
    for (stage, tag, kind, n, latency_ms) in stages {
        netsuite.faults().set(Faults {
            latency_ms,
            ..Faults::default()
        });
        let shots = Arc::new(templates.shots(kind, tag, 0, n));
        let before = j.metric(&client, "junction_confirmed_total", "").await?;
        let started = Instant::now();
        let sent = fire::burst(
            &client,
            &format!("{}/hooks/stripe", j.base),
            shots,
            args.senders,
            limit,
        )
        .await;
        check_run(&mut report, stage, &sent, n);
        let mut peak_in_flight = 0.0_f64;
        let done = loop {
            let confirmed = j.metric(&client, "junction_confirmed_total", "").await? - before;
            let in_flight = j
                .metric(&client, "junction_deliveries_in_flight", "")
                .await?;
            peak_in_flight = peak_in_flight.max(in_flight);
            let rss = j.memory_mib().0;
            report.rss_delivery = report.rss_delivery.max(rss);
            if in_flight >= 64.0 {
                report.rss_64_in_flight = report.rss_64_in_flight.max(rss);
            }
            if confirmed >= n as f64 {
                break Some(started.elapsed());
            }
            if started.elapsed() > limit {
                report.errors.push(format!(
                    "{stage}: {confirmed} of {n} confirmed after {} s",
                    limit.as_secs()
                ));
                break None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        report.delivery.push(Stage {
            name: stage,
            changes: n,
            took: done,
            peak_in_flight,
            netsuite_latency_ms: latency_ms,
        });
    }
    report.rss_peak = j.memory_mib().1;
    let dead = j.metric(&client, "junction_dead_letters", "").await?;
    if dead > 0.0 {
        report.errors.push(format!(
            "delivery: {dead} dead letters (see `junction dlq list --store sqlite://{}`)",
            work.join("delivery.db").display()
        ));
    }
    j.kill().await;
    report.netsuite_requests = netsuite.stats().requests;
    Ok(report)
}

fn check_run(report: &mut Report, what: &str, run: &fire::Run, expected: usize) {
    if run.ok != expected {
        report.errors.push(format!(
            "{what}: {} of {expected} answered 2xx; {} failed, e.g. {:?}",
            run.ok, run.failed, run.failures
        ));
    }
}

/// The same burst against a trivial axum handler in this process.
async fn floor(
    client: &reqwest::Client,
    shots: Arc<Vec<events::Shot>>,
    senders: usize,
    limit: Duration,
) -> anyhow::Result<fire::Run> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hooks/stripe", listener.local_addr()?);
    let app = axum::Router::new().route(
        "/hooks/stripe",
        axum::routing::post(|_body: axum::body::Bytes| async { "{\"received\":1}" }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let run = fire::burst(client, &url, shots, senders, limit).await;
    server.abort();
    Ok(run)
}
