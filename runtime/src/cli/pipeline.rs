//! `junction run`, `junction validate` and `junction schema`: the operator's main commands.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::config::{self, Loaded};
use crate::host::{Host, cache};
use crate::pipeline::instances::HostCatalog;
use crate::pipeline::{Engine, Options};
use crate::store::{Durability, OpenOptions, Store};

/// `junction run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Pipeline files (TOML).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Address to serve webhooks, /metrics and /healthz on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "JUNCTION_LISTEN")]
    listen: SocketAddr,
    /// The durable store: `sqlite://PATH` (one worker, the embedded default) or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (any number of workers on one
    /// database; run `junction run` once per machine with the same `--store`).
    #[arg(long, default_value = "sqlite://junction.db", env = "JUNCTION_STORE")]
    store: String,
    /// Commit durability: `full` survives power loss (default), `normal` survives a process crash.
    #[arg(long, default_value = "full", value_parser = ["full", "normal"])]
    durability: String,
    /// Database connections this worker opens (PostgreSQL: keep workers x this under the
    /// server's `max_connections`; SQLite: readers beside the one writer).
    #[arg(long, default_value_t = 8, env = "JUNCTION_STORE_CONNECTIONS")]
    store_connections: u32,
    /// This worker's name in leases and logs (default: random). Give each worker its own.
    #[arg(long, env = "JUNCTION_WORKER_ID")]
    worker_id: Option<String>,
    /// How long a claimed delivery stays this worker's before another may take it over.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    lease: Duration,
    /// Deliveries worked on at once.
    #[arg(long, default_value_t = 64)]
    max_in_flight: usize,
    /// Webhook connections open at once (default: 1,024, or half the descriptor limit);
    /// more are answered 503 and closed.
    #[arg(long)]
    max_connections: Option<usize>,
    /// Compiled-component cache directory.
    #[arg(long, env = "JUNCTION_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

/// `junction validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Pipeline files (TOML).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print the diagnostics as JSON.
    #[arg(long)]
    json: bool,
    /// Compiled-component cache directory.
    #[arg(long, env = "JUNCTION_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

/// `junction recover`.
#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// Pipeline files (TOML), as given to `junction run`.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The source connector to list (one that can be polled, e.g. `stripe`).
    #[arg(long)]
    source: String,
    /// The pipeline, when several files have that connector.
    #[arg(long)]
    pipeline: Option<String>,
    /// Objects to list (repeat, or separate with commas); every object the source delivers by
    /// default.
    #[arg(long = "object", value_delimiter = ',')]
    objects: Vec<String>,
    /// Only changes that happened at or after this time: RFC 3339 or a duration ago (`2d`).
    #[arg(long)]
    since: Option<String>,
    /// The durable store `junction run` uses.
    #[arg(long, default_value = "sqlite://junction.db", env = "JUNCTION_STORE")]
    store: String,
    /// Print what was found as JSON.
    #[arg(long)]
    json: bool,
    /// Compiled-component cache directory.
    #[arg(long, env = "JUNCTION_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

/// Lists a source's changes from the oldest it still has and takes in those that never
/// arrived (lost webhooks); a running `junction run` plans and delivers them.
pub async fn recover(args: RecoverArgs) -> anyhow::Result<ExitCode> {
    let host = Host::new(args.cache_dir.clone().or_else(cache::default_dir))?;
    let loaded = match load(&host, &args.files) {
        Ok(loaded) => loaded,
        Err(diagnostics) => {
            eprint!("{diagnostics}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let candidates: Vec<&config::Plan> = loaded
        .plans
        .iter()
        .filter(|p| args.pipeline.as_ref().is_none_or(|n| *n == p.name))
        .filter(|p| p.sources.iter().any(|s| s.connector == args.source))
        .collect();
    let plan = match candidates.as_slice() {
        [plan] => (*plan).clone(),
        [] => anyhow::bail!(
            "no pipeline{} has a [[source]] with connector `{}`",
            args.pipeline
                .as_ref()
                .map(|p| format!(" named `{p}`"))
                .unwrap_or_default(),
            args.source
        ),
        several => anyhow::bail!(
            "`{}` is a source of several pipelines ({}); name one with --pipeline",
            args.source,
            several
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let objects: Vec<String> = if args.objects.is_empty() {
        plan.sources
            .iter()
            .filter(|s| s.connector == args.source)
            .flat_map(|s| s.objects.iter().cloned())
            .collect()
    } else {
        args.objects.clone()
    };
    let now = crate::services::clock::Clock::system().now_ms();
    let since_ms = match &args.since {
        Some(since) => super::ops::instant(since, now).context("--since")?,
        None => i64::MIN,
    };
    let store = Store::open_with(
        &args.store,
        &OpenOptions {
            create: false,
            ..OpenOptions::default()
        },
    )
    .await
    .with_context(|| format!("opening the store {}", args.store))?;
    let name = plan.name.clone();
    let engine = Engine::new(vec![plan], store, &host, Options::default()).await?;
    let mut results = Vec::new();
    for object in &objects {
        let found = engine
            .recover(&name, &args.source, object, since_ms)
            .await
            .with_context(|| format!("recovering `{object}` from `{}`", args.source))?;
        results.push(serde_json::json!({ "object": object, "found": found }));
        if !args.json {
            println!(
                "{name}: {object} from {}: {} listed, {} had never arrived and are stored now, {} had arrived already, {} older than --since",
                args.source, found.listed, found.recovered, found.already_had, found.older
            );
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    engine.store.close().await;
    Ok(ExitCode::SUCCESS)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    config::parse_duration(s).map_err(|e| e.to_string())
}

pub(super) fn load(host: &Host, files: &[PathBuf]) -> Result<Loaded, config::Diagnostics> {
    let catalog = HostCatalog::new(host.clone());
    let cwd = std::env::current_dir().unwrap_or_default();
    config::load(files, &|name| std::env::var(name).ok(), &catalog).map_err(|d| d.relative_to(&cwd))
}

/// Checks pipeline files and reports every problem at once.
pub async fn validate(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let host = Host::new(args.cache_dir.or_else(cache::default_dir))?;
    match load(&host, &args.files) {
        Ok(loaded) => {
            if args.json {
                let json = serde_json::to_string_pretty(&loaded.warnings)?;
                println!("{}", config::printable_json(&json));
            } else {
                if loaded.warnings.iter().next().is_some() {
                    eprint!("{}", loaded.warnings);
                }
                for plan in &loaded.plans {
                    println!(
                        "ok: {} ({}): {} connectors, {} routes",
                        plan.name,
                        plan.file.display(),
                        plan.connectors.len(),
                        plan.routes.len()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(diagnostics) => {
            if args.json {
                let json = serde_json::to_string_pretty(&diagnostics)?;
                println!("{}", config::printable_json(&json));
            } else {
                eprint!("{diagnostics}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Prints the JSON Schema of the pipeline format.
pub fn schema() -> anyhow::Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(&config::json_schema())?);
    Ok(ExitCode::SUCCESS)
}

/// Runs pipelines until Ctrl-C or SIGTERM.
pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let host = Host::new(args.cache_dir.or_else(cache::default_dir))?;
    let loaded = match load(&host, &args.files) {
        Ok(loaded) => loaded,
        Err(diagnostics) => {
            eprint!("{diagnostics}");
            return Ok(ExitCode::FAILURE);
        }
    };
    if loaded.warnings.iter().next().is_some() {
        eprint!("{}", loaded.warnings);
    }
    let durability = if args.durability == "normal" {
        Durability::Normal
    } else {
        Durability::Full
    };
    let store = Store::open_with(
        &args.store,
        &OpenOptions {
            durability,
            connections: args.store_connections.max(1),
            ..OpenOptions::default()
        },
    )
    .await?;
    let defaults = Options::default();
    let options = Options {
        lease: args.lease,
        max_in_flight: args.max_in_flight.max(1),
        worker_id: args.worker_id.unwrap_or(defaults.worker_id.clone()),
        ..defaults
    };
    let engine = Engine::new(loaded.plans, store, &host, options).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let shutdown = Arc::new(tokio::sync::Notify::new());
    let mut workers = engine.spawn_workers(shutdown.clone());
    let paths: Vec<&String> = engine.endpoints().keys().collect();
    tracing::info!(listen = %local, webhooks = ?paths, startup_ms = started.elapsed().as_millis() as u64, "junction is running");
    eprintln!(
        "junction: listening on http://{local} (webhooks: {paths:?}); started in {} ms",
        started.elapsed().as_millis()
    );
    let app = crate::server::app(engine.clone());
    let limits = crate::server::ListenLimits {
        max_connections: args
            .max_connections
            .unwrap_or_else(|| crate::server::ListenLimits::default().max_connections),
        ..crate::server::ListenLimits::default()
    };
    crate::server::serve(listener, app, limits, stop_signal()).await?;
    shutdown.notify_waiters();
    workers.abort_all();
    engine.store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
