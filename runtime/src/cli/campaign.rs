//! `junction campaign` and `junction demo`: the consistency campaign (`crate::campaign`) from
//! the command line, with a progress display on a terminal and the report as a table or JSON.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::campaign::{self, Observer, Options, Report, Runner, Snapshot};
use crate::host::cache;
use crate::store::{OpenOptions, Store};

/// `junction campaign`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exits 0 when nothing was lost, nothing applied twice and nothing is \
                        left unreconciled; 1 otherwise. The store and the processes' logs stay \
                        in --dir for `junction trace` and `junction dlq`."
)]
pub struct CampaignArgs {
    /// Subscription changes to make (new customers and subscriptions, upgrades, downgrades,
    /// quantity and price changes, profile changes, cancellations now and at period end).
    #[arg(long, default_value_t = 10_000)]
    changes: usize,
    /// The rate of each fault kind, from 0 to 1 (NetSuite: 5xx, hangs, 429, outage time, silent
    /// drops, 5xx after the write; Stripe: 5xx, 429, duplicate webhooks).
    #[arg(long, default_value_t = 0.03, value_parser = fault_rate)]
    fault_rate: f64,
    /// `junction run` processes on the store (more than one needs `--store postgres://...`).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Kill a Junction process with SIGKILL about this often ("0s": never).
    #[arg(long, default_value = "5s", value_parser = super::parse_duration)]
    kill_every: Duration,
    /// Changes made per second at Stripe.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// The longest wait for everything to settle.
    #[arg(long, default_value = "15m", value_parser = super::parse_duration)]
    drain: Duration,
    /// An empty store (default: a new SQLite file in --dir).
    #[arg(long)]
    store: Option<String>,
    /// Replays a campaign: the same changes, fault dice and kill schedule.
    #[arg(long)]
    seed: Option<u64>,
    /// Where the pipeline file, the store and the logs go (default: a new temporary folder).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Compiled-component cache directory.
    #[arg(long, env = "JUNCTION_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

/// `junction demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Subscription changes to make.
    #[arg(long, default_value_t = 400)]
    changes: usize,
    /// The rate of each fault kind, from 0 to 1.
    #[arg(long, default_value_t = 0.03, value_parser = fault_rate)]
    fault_rate: f64,
    /// Changes made per second at Stripe.
    #[arg(long, default_value_t = 40.0)]
    rate: f64,
    /// Replays a demo: the same changes and fault dice.
    #[arg(long)]
    seed: Option<u64>,
    /// Where the store and the pipeline file go (default: ./junction-demo, emptied first).
    #[arg(long, default_value = "junction-demo")]
    dir: PathBuf,
    /// Compiled-component cache directory.
    #[arg(long, env = "JUNCTION_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

fn fault_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "`{s}` is not a rate from 0 to 1 (e.g. 0.03 for 3 %)"
        )),
    }
}

/// Runs `junction campaign`.
pub async fn campaign(args: CampaignArgs) -> anyhow::Result<ExitCode> {
    let dir = match args.dir {
        Some(dir) => dir,
        None => std::env::temp_dir().join(format!(
            "junction-campaign-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        )),
    };
    let store = args
        .store
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("campaign.db").display()));
    let exe = std::env::current_exe()
        .map_err(|e| anyhow::anyhow!("cannot tell where this junction binary is: {e}"))?;
    let options = Options {
        changes: args.changes,
        fault_rate: args.fault_rate,
        runner: Runner::Processes {
            exe,
            workers: args.workers,
            kill_every: (!args.kill_every.is_zero()).then_some(args.kill_every),
        },
        store: store.clone(),
        seed: args.seed.unwrap_or_else(rand::random),
        rate: args.rate,
        drain: args.drain,
        dir: dir.clone(),
        cache_dir: args.cache_dir.or_else(cache::default_dir),
    };
    eprintln!(
        "campaign: {} changes, faults at {} % each, {} worker(s), seed {}; files in {}",
        options.changes,
        options.fault_rate * 100.0,
        args.workers,
        options.seed,
        dir.display()
    );
    let display = Display::new(args.json);
    let report = interruptible(campaign::run(&options, &display)).await;
    display.finish();
    let report = report?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
        println!(
            "\nthe store: {} (`junction trace KEY --store {}`)",
            crate::store::redact(&store),
            crate::store::redact(&store)
        );
    }
    Ok(verdict(&report))
}

/// Runs `junction demo`.
pub async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    // A demo starts over each time: its folder holds only what the last demo made.
    if args.dir.join("demo.db").exists() {
        for file in [
            "demo.db",
            "demo.db-wal",
            "demo.db-shm",
            "stripe-to-netsuite.toml",
        ] {
            let _ = std::fs::remove_file(args.dir.join(file));
        }
    }
    let store = format!("sqlite://{}", args.dir.join("demo.db").display());
    let options = Options {
        changes: args.changes,
        fault_rate: args.fault_rate,
        runner: Runner::InProcess,
        store: store.clone(),
        seed: args.seed.unwrap_or_else(rand::random),
        rate: args.rate,
        drain: Duration::from_secs(600),
        dir: args.dir.clone(),
        cache_dir: args.cache_dir.or_else(cache::default_dir),
    };
    println!(
        "Junction demo: Stripe and NetSuite simulators and pipelines/stripe-to-netsuite.toml in \
         this process, a SQLite store at {}.\n{} subscription changes are made at Stripe while \
         both simulators misbehave ({} % of requests each: 5xx, hangs, 429, outages, silently \
         dropped writes, errors after the write, duplicate and reordered webhooks).\n",
        args.dir.join("demo.db").display(),
        options.changes,
        options.fault_rate * 100.0
    );
    let display = Display::new(false);
    let report = interruptible(campaign::run(&options, &display)).await;
    display.finish();
    let report = report?;
    print!("{}", report.table());
    stories(&store, &report).await?;
    println!(
        "\nEverything above is in the store: `junction trace KEY --store {store}`, `junction dlq \
         list --store {store}`, `junction audit verify --store {store}`. `junction campaign` runs \
         the full campaign against real `junction run` processes killed with SIGKILL."
    );
    Ok(verdict(&report))
}

/// Runs `run` until it ends or Ctrl-C / SIGTERM stops it; stopping drops it, and with it the
/// `junction run` processes it started (killed, never left running).
async fn interruptible(
    run: impl std::future::Future<Output = anyhow::Result<Report>>,
) -> anyhow::Result<Report> {
    let interrupted = async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                },
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    };
    tokio::select! {
        report = run => report,
        () = interrupted => anyhow::bail!("interrupted; the Junction processes it started are stopped"),
    }
}

fn verdict(report: &Report) -> ExitCode {
    if report.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The stories `junction trace` tells of a few entities: the subscription with the most
/// eventful history among the first ones, and a customer edited by hand in NetSuite that
/// reconciliation repaired.
async fn stories(url: &str, report: &Report) -> anyhow::Result<()> {
    let store = Store::open_with(
        url,
        &OpenOptions {
            read_only: true,
            create: false,
            ..OpenOptions::default()
        },
    )
    .await?;
    let mut busiest: Option<(usize, &String)> = None;
    for sub in &report.examples.subscriptions {
        let n = store.trace(sub).await?.len();
        if busiest.is_none_or(|(m, _)| n > m) {
            busiest = Some((n, sub));
        }
    }
    let mut shown = Vec::new();
    if let Some((_, sub)) = busiest {
        shown.push((
            "the subscription with the longest story (retries, change orders, a cancellation)",
            sub.clone(),
        ));
    }
    if let Some(c) = &report.examples.edited_customer {
        shown.push((
            "a customer edited by hand in NetSuite, put right by reconciliation",
            c.clone(),
        ));
    }
    for (title, key) in shown {
        println!("\n=== {title}: `junction trace {key}`\n");
        let story = crate::cli::ops::trace_text(&store, &key).await?;
        let lines: Vec<&str> = story.lines().collect();
        // How the story starts (the first write, its retries and read-back) and how it ends
        // (the last change, a reconciliation's repair), then its summary; `junction trace`
        // prints it all.
        let summary = lines
            .iter()
            .position(|l| *l == "summary:")
            .unwrap_or(lines.len());
        let (head, tail) = if summary > STORY_HEAD + STORY_TAIL {
            (STORY_HEAD, summary - STORY_TAIL)
        } else {
            (summary, summary)
        };
        for line in &lines[..head] {
            println!("{}", shorten(line));
        }
        if head < tail {
            println!(
                "  ... {} more entries (`junction trace {key}`) ...",
                tail - head
            );
        }
        for line in &lines[tail..] {
            println!("{}", shorten(line));
        }
    }
    store.close().await;
    Ok(())
}

/// Lines of a story shown from its start and from its end.
const STORY_HEAD: usize = 10;
const STORY_TAIL: usize = 14;

/// A story's line cut to a terminal's width (documents run long; `junction trace` shows them).
fn shorten(line: &str) -> String {
    const WIDTH: usize = 200;
    match line.char_indices().nth(WIDTH) {
        Some((at, _)) => format!("{} ...", &line[..at]),
        None => line.to_owned(),
    }
}

/// The progress display: phases as lines, the counts on a bar (hidden when stderr is not a
/// terminal, and for `--json`).
struct Display {
    bar: Mutex<Option<ProgressBar>>,
    quiet: bool,
}

impl Display {
    fn new(quiet: bool) -> Display {
        Display {
            bar: Mutex::new(None),
            quiet,
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Display {
    fn phase(&self, name: &str) {
        if self.quiet {
            return;
        }
        let bar = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        match bar.as_ref() {
            Some(bar) => bar.println(format!("- {name}")),
            None => eprintln!("- {name}"),
        }
    }

    fn progress(&self, now: &Snapshot) {
        if self.quiet {
            return;
        }
        let mut bar = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        let bar = bar.get_or_insert_with(|| {
            let bar = ProgressBar::new(now.total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} changes made  {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
        bar.set_position(now.driven);
        bar.set_message(format!(
            "{} writes confirmed, {} on their way, {} dead-lettered, {} faults, {} kills",
            now.confirmed, now.busy, now.dead, now.faults, now.kills
        ));
    }
}
