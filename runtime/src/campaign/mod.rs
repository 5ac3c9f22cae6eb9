//! The consistency campaign: Junction's promise (nothing lost, nothing applied twice, both
//! systems agreeing) checked under every fault at once, and counted.
//!
//! A campaign runs the flagship pipeline (`pipelines/stripe-to-netsuite.toml`, the vendors
//! replaced by the simulators of `junction-sims`) and makes N subscription changes at Stripe:
//! new customers and subscriptions, upgrades, downgrades, quantity and price changes, profile
//! changes, cancellations now and at period end (a future-dated change: billing stops on a date
//! the change carries). Meanwhile the simulators inject every fault kind they have at a rate
//! (5xx, hangs past the call timeout, 429 with Retry-After, outage windows, writes dropped
//! silently, writes answered 5xx after they were applied, webhooks delivered twice and out of
//! order) and the Junction processes are killed with SIGKILL at random moments and restarted.
//!
//! Then it drains, counts each change's outcome from the store, looks for changes Stripe saw
//! acknowledged that the store does not hold (lost) and for business actions NetSuite applied
//! twice, edits some NetSuite customers by hand (drift, as a user makes it), compares every
//! entity on both sides, runs the pipeline's reconciliation with repair, and compares again.
//! [`Report`] holds the numbers; [`Report::clean`] is the promise.
//!
//! `junction campaign` runs it against `junction run` processes; `junction demo` runs a small
//! one inside its own process, with a progress display, and tells a few changes' stories.

pub mod check;
pub mod drive;
pub mod report;
pub mod workers;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use junction_sims::faults::Faults;
use junction_sims::netsuite::NetSuiteSim;
use junction_sims::stripe::{StripeSim, StripeSimConfig, WebhookEndpoint};
use junction_sims::wiring;

use crate::host::Host;
use crate::pipeline::instances::HostCatalog;
use crate::pipeline::reconcile::{Quiet, RunOptions};
use crate::pipeline::{Engine, Options as EngineOptions};
use crate::store::{OpenOptions, Store};
pub use check::Outcomes;
pub use drive::ChangeKind;
pub use report::{Examples, Report, Snapshot};

/// The pipeline a campaign runs.
pub const PIPELINE: &str = "stripe-to-netsuite";

/// Where the campaign's Junction runs.
#[derive(Debug, Clone)]
pub enum Runner {
    /// One engine inside this process (no kills).
    InProcess,
    /// `workers` `junction run` processes of `exe` on one store, one killed with SIGKILL
    /// about every `kill_every` (never, if `None`).
    Processes {
        /// The `junction` executable.
        exe: PathBuf,
        /// How many (more than one needs PostgreSQL).
        workers: usize,
        /// The period of SIGKILLs.
        kill_every: Option<Duration>,
    },
}

/// How a campaign runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Subscription changes to make (rounded up to whole customers of
    /// [`drive::CHANGES_PER_CUSTOMER`] changes each).
    pub changes: usize,
    /// The rate of each fault kind, `0.0..=1.0`.
    pub fault_rate: f64,
    /// Where Junction runs.
    pub runner: Runner,
    /// The store, which must hold no history of the pipeline yet.
    pub store: String,
    /// Seeds the changes, the fault dice and the kills; a campaign with the same seed makes the
    /// same changes.
    pub seed: u64,
    /// Changes made per second at Stripe.
    pub rate: f64,
    /// The longest wait for everything to settle after the last change.
    pub drain: Duration,
    /// Where the pipeline file and the processes' logs go.
    pub dir: PathBuf,
    /// The compiled-component cache.
    pub cache_dir: Option<PathBuf>,
}

/// Told what the campaign is doing, as it goes (a progress display).
pub trait Observer: Send + Sync {
    /// A new phase starts.
    fn phase(&self, _name: &str) {}
    /// Counts, a few times a second.
    fn progress(&self, _now: &Snapshot) {}
}

/// An observer that shows nothing.
#[derive(Debug)]
pub struct Silent;

impl Observer for Silent {}

/// The shipped pipeline as a campaign runs it against the simulators: their URLs, a customers
/// comparison beside the pipeline's subscriptions job, and the simulators' limits instead of
/// the vendors' (rates and concurrency up, back-off and windows in milliseconds, a call timeout
/// a hang can outlast), so thousands of changes drain in minutes. Everything else as shipped.
pub fn pipeline_text(stripe_url: &str, netsuite_url: &str) -> anyhow::Result<String> {
    let text = wiring::pipeline_for_simulators(stripe_url, netsuite_url)?;
    let edits = [
        ("within = \"2m\"", "within = \"5s\"", 2),
        ("interval = \"1s\"", "interval = \"100ms\"", 1),
        (
            // Every request of a SuiteBilling write (up to ~30 per attempt) meets the faults,
            // so a busy subscription's attempt fails somewhere more often than not.
            "attempts = 12, initial = \"1s\", max = \"10m\"",
            "attempts = 60, initial = \"50ms\", max = \"1s\"",
            2,
        ),
        (
            "rate = \"25/s\", concurrency = 4",
            "rate = \"5000/s\", concurrency = 16",
            1,
        ),
        (
            "call-timeout = \"10s\", rate = \"10/s\", concurrency = 4",
            "call-timeout = \"2s\", rate = \"5000/s\", concurrency = 16",
            1,
        ),
    ];
    let mut text = text;
    for (from, to, n) in edits {
        if text.matches(from).count() != n {
            bail!(
                "the shipped pipeline's `{from}` moved; update junction::campaign::pipeline_text"
            );
        }
        text = text.replace(from, to);
    }
    text.push_str(
        "\n# Added by the campaign: customers compared too (names edited by hand in NetSuite).\n\
         [reconcile.customers]\nbetween = [\"stripe\", \"netsuite\"]\nobject = \"customer\"\n\
         fields = [\"name\", \"email\", \"phone\", \"currency\"]\nevery = \"24h\"\nrepair = true\n",
    );
    Ok(text)
}

/// The faults at `rate` each: on NetSuite every request and write fault, on Stripe its API
/// errors and webhooks delivered twice and out of order. Outage windows come on top.
fn faults(rate: f64) -> (Faults, Faults) {
    let netsuite = Faults {
        error_rate: rate,
        timeout_rate: rate,
        // Past the campaign's 2 s call timeout: the connector gives up, the write is retried.
        hang_ms: 2500,
        rate_limit_rate: rate,
        retry_after_s: 1,
        silent_drop_rate: rate,
        error_after_write_rate: rate,
        // NetSuite's asynchronous jobs: Pending, then Processed.
        async_pending_ms: 100,
        ..Faults::default()
    };
    let stripe = Faults {
        error_rate: rate,
        rate_limit_rate: rate,
        retry_after_s: 1,
        duplicate_webhook_rate: rate,
        shuffle_webhooks: rate > 0.0,
        ..Faults::default()
    };
    (netsuite, stripe)
}

/// One outage window of this long, every `OUTAGE_MS / rate`: NetSuite is down `rate` of the time.
const OUTAGE_MS: u64 = 1000;

/// Runs a campaign.
pub async fn run(options: &Options, observer: &dyn Observer) -> anyhow::Result<Report> {
    let started = Instant::now();
    std::fs::create_dir_all(&options.dir)
        .with_context(|| format!("cannot create {}", options.dir.display()))?;
    let customers = options.changes.div_ceil(drive::CHANGES_PER_CUSTOMER).max(1);
    let store = open_empty(&options.store).await?;

    observer.phase("starting the simulators and Junction");
    let netsuite = NetSuiteSim::start(junction_sims::netsuite::NetSuiteSimConfig {
        seed: options.seed,
        ..wiring::netsuite_sim_config()
    })
    .await?;
    let ports = match &options.runner {
        Runner::InProcess => Vec::new(),
        Runner::Processes { workers, .. } => {
            if *workers == 0 {
                bail!("a campaign needs at least one worker");
            }
            if *workers > 1 && !options.store.starts_with("postgres") {
                bail!(
                    "{workers} workers need a PostgreSQL store (--store postgres://...); SQLite \
                     serves one worker"
                );
            }
            workers::ports(*workers)?
        }
    };
    let (front, front_listener) = match ports.as_slice() {
        [] => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            (listener.local_addr()?.to_string(), Some(listener))
        }
        [one] => (one.clone(), None),
        several => (workers::balancer(several.to_vec()).await?, None),
    };
    let stripe = StripeSim::start(StripeSimConfig {
        webhook: Some(WebhookEndpoint {
            url: format!("http://{front}/hooks/stripe"),
            secret: wiring::WEBHOOK_SECRET.into(),
        }),
        // Deliveries that fail while Junction restarts are retried far longer than that takes.
        webhook_retries: 16,
        webhook_retry_base: Duration::from_millis(100),
        seed: options.seed,
        ..StripeSimConfig::default()
    })
    .await?;
    let text = pipeline_text(&stripe.base_url(), netsuite.base_url())?;
    let file = options.dir.join("stripe-to-netsuite.toml");
    std::fs::write(&file, &text).with_context(|| format!("cannot write {}", file.display()))?;
    let secrets = wiring::simulator_env(netsuite.config());
    let host = Host::new(options.cache_dir.clone())?;
    let loaded = crate::config::load_str(&file, &text, &secrets, &HostCatalog::new(host.clone()))
        .map_err(|d| anyhow::anyhow!("the campaign's pipeline does not load:\n{d}"))?;
    // The engine this process keeps: in-process it is Junction; beside processes it runs the
    // reconciliation (the processes deliver its repairs) and reads both sides for the checks.
    let engine = Engine::new(loaded.plans, store, &host, EngineOptions::default()).await?;
    let shutdown = Arc::new(tokio::sync::Notify::new());
    let mut in_process_workers = None;
    if let Some(listener) = front_listener {
        in_process_workers = Some(engine.spawn_workers(shutdown.clone()));
        tokio::spawn(crate::server::serve(
            listener,
            crate::server::app(engine.clone()),
            crate::server::ListenLimits::default(),
            std::future::pending(),
        ));
    }
    let mut processes = Vec::new();
    if let Runner::Processes { exe, .. } = &options.runner {
        let env: Vec<(String, String)> = wiring::SIMULATOR_ENV
            .iter()
            .filter_map(|n| Some(((*n).to_owned(), secrets(n)?)))
            .collect();
        processes = workers::Process::cluster(
            &ports,
            &workers::Spawn {
                exe,
                pipeline: &file,
                store: &options.store,
                dir: &options.dir,
                env,
                cache_dir: options.cache_dir.as_deref(),
            },
        );
        for p in &mut processes {
            p.spawn()?;
            p.healthy().await?;
        }
    }

    // Faults on, outage windows, kills.
    let (ns_faults, stripe_faults) = faults(options.fault_rate);
    netsuite.faults().set(ns_faults);
    stripe.faults().set(stripe_faults);
    let stop = Arc::new(AtomicBool::new(false));
    let outages = AtomicU64::new(0);
    // NetSuite is down `fault_rate` of the time, in windows of OUTAGE_MS, from a quarter period
    // in until the first drain is done.
    let mut outage_windows = std::pin::pin!(async {
        if options.fault_rate <= 0.0 {
            return std::future::pending().await;
        }
        let period = Duration::from_millis((OUTAGE_MS as f64 / options.fault_rate) as u64);
        tokio::time::sleep(period / 4).await;
        loop {
            netsuite.faults().outage_for(OUTAGE_MS);
            outages.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(period).await;
        }
    });
    let kills = Arc::new(AtomicU64::new(0));
    let killer = match &options.runner {
        Runner::Processes {
            kill_every: Some(every),
            ..
        } => Some(AbortOnDrop(tokio::spawn(workers::killer(
            std::mem::take(&mut processes),
            *every,
            options.seed,
            stop.clone(),
            kills.clone(),
        )))),
        _ => None,
    };

    // The changes.
    let driven = Arc::new(AtomicU64::new(0));
    let total = (customers * drive::CHANGES_PER_CUSTOMER) as u64;
    let ticker = report::ticker(
        engine.store.clone(),
        stripe.state(),
        &netsuite,
        driven.clone(),
        total,
        kills.clone(),
        observer,
    );
    let drove = async {
        observer.phase("making changes at Stripe");
        let catalog = drive::Catalog::create(&stripe.state(), &netsuite)?;
        let mut made = BTreeMap::new();
        let ids = drive::customers(&stripe.state(), customers, &mut made)?;
        driven.fetch_add(ids.len() as u64, Ordering::Relaxed);
        drive::customers_at_netsuite(&netsuite, &ids, options.drain).await?;
        let pause = Duration::from_secs_f64(4.0 / options.rate.max(0.01));
        let (subs, more) = drive::subscriptions(
            stripe.state(),
            &catalog,
            &ids,
            options.seed,
            pause,
            driven.clone(),
        )
        .await?;
        for (k, n) in more {
            *made.entry(k).or_default() += n;
        }
        anyhow::Ok((ids, subs, made))
    };
    let drove = tokio::select! {
        drove = drove => drove,
        () = ticker.run() => unreachable_ticker(),
        () = &mut outage_windows => unreachable_ticker(),
    };
    stop.store(true, Ordering::Relaxed);
    if let Some(mut killer) = killer {
        processes = (&mut killer.0)
            .await
            .context("the kill schedule panicked")??;
    }
    let result = async {
        let (customer_ids, subs, made) = drove?;
        for p in &mut processes {
            p.healthy().await?;
        }
        observer.phase("draining");
        tokio::select! {
            drained = drain(&engine.store, &stripe, options.drain) => drained,
            () = ticker.run() => unreachable_ticker(),
            () = &mut outage_windows => unreachable_ticker(),
        }?;
        let injected_ns = netsuite.faults().injected();
        let injected_stripe = stripe.faults().injected();
        netsuite.faults().set(Faults::default());
        stripe.faults().set(Faults::default());

        observer.phase("checking");
        let events = stripe.events();
        let outcomes_rows = engine.store.change_outcomes(PIPELINE).await?;
        let lost = check::lost(&events, &outcomes_rows);
        let writes = netsuite.applied_writes();
        let twice = check::applied_twice(&writes);
        let entities = check::entities(&events);
        let hand_edits = drive::hand_edits(&netsuite, &customer_ids, options.fault_rate);
        let before = check::discrepancies(&engine, PIPELINE, &entities).await;

        observer.phase("reconciling");
        let mut reconciliation = Vec::new();
        for job in ["customers", "subscriptions"] {
            let r = engine
                .reconcile(
                    job,
                    &RunOptions {
                        repair: true,
                        ..RunOptions::default()
                    },
                    &Quiet,
                )
                .await
                .with_context(|| format!("reconciliation `{job}`"))?;
            reconciliation.push(report::Reconciled::of(&r));
        }
        tokio::select! {
            drained = drain(&engine.store, &stripe, options.drain) => drained,
            () = ticker.run() => unreachable_ticker(),
        }?;
        let after = check::discrepancies(&engine, PIPELINE, &entities).await;
        let audit = engine.store.audit_verify().await?;
        let stripe_stats = stripe.stats();
        let starts = processes.iter().map(workers::Process::starts).sum();
        anyhow::Ok(Report {
            seed: options.seed,
            pipeline: PIPELINE.into(),
            store: crate::store::redact(&options.store),
            workers: match &options.runner {
                Runner::InProcess => 0,
                Runner::Processes { workers, .. } => *workers,
            },
            changes: made,
            events: events.iter().filter(|e| check::is_change(e)).count() as u64,
            webhook_attempts: stripe_stats.webhook_attempts,
            faults: report::FaultsInjected {
                netsuite: injected_ns,
                stripe: injected_stripe,
                outage_windows: outages.load(Ordering::Relaxed),
                sigkills: kills.load(Ordering::Relaxed),
                starts,
                hand_edits,
            },
            outcomes: Outcomes::count(&outcomes_rows),
            duplicate_business_actions: twice,
            lost,
            unacknowledged: check::unacknowledged(&events),
            netsuite_writes: writes.len() as u64,
            discrepancies_before: before,
            reconciliation,
            discrepancies_after: after,
            audit_intact: audit.is_ok(),
            elapsed_ms: started.elapsed().as_millis() as u64,
            examples: Examples {
                edited_customer: (hand_edits > 0).then(|| customer_ids[0].clone()),
                subscriptions: subs.iter().take(40).cloned().collect(),
            },
        })
    }
    .await;
    stop.store(true, Ordering::Relaxed);
    for p in &mut processes {
        p.kill().await;
    }
    shutdown.notify_waiters();
    if let Some(mut w) = in_process_workers {
        w.abort_all();
    }
    engine.store.close().await;
    result
}

/// A task that stops when its handle goes: a campaign dropped half-way (Ctrl-C) must not leave
/// its kill schedule restarting processes.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a `select!` branch that loops forever answers if it ever ends.
fn unreachable_ticker<T>() -> anyhow::Result<T> {
    bail!("a campaign's background loop stopped")
}

/// Opens the store, refusing one that already holds the pipeline's history (the campaign's
/// counts cover the whole store).
async fn open_empty(url: &str) -> anyhow::Result<Store> {
    let store = Store::open_with(url, &OpenOptions::default()).await?;
    if !store.change_outcomes(PIPELINE).await?.is_empty() {
        bail!(
            "the store {} already holds changes of {PIPELINE}: a campaign counts everything in \
             it, so it needs an empty one (a new file, or an empty PostgreSQL database)",
            crate::store::redact(url)
        );
    }
    Ok(store)
}

/// Waits until Stripe has no webhook left to send and the store has nothing left to do, three
/// looks in a row.
async fn drain(store: &Store, stripe: &StripeSim, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    let mut quiet = 0;
    loop {
        let s = stripe.stats();
        let st = store.stats(store.clock().now_ms()).await?;
        let busy = st.unplanned + st.pending + st.in_flight + st.awaiting_job + st.confirming;
        if busy == 0 && s.webhooks_delivered + s.webhooks_abandoned >= s.events {
            quiet += 1;
            if quiet >= 3 {
                return Ok(());
            }
        } else {
            quiet = 0;
        }
        if Instant::now() >= deadline {
            bail!(
                "nothing settled within {} s: {} unplanned, {} pending, {} being written, {} \
                 awaiting NetSuite's job, {} being read back; Stripe has delivered {} of {} events",
                within.as_secs(),
                st.unplanned,
                st.pending,
                st.in_flight,
                st.awaiting_job,
                st.confirming,
                s.webhooks_delivered,
                s.events
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
