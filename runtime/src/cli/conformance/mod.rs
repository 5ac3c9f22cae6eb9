//! `junction connector test MODULE --sim VENDOR`: the connector conformance kit. It starts the
//! vendor's simulator in-process (127.0.0.1, a free port) for every check, grants the module
//! what that vendor needs ([`vendors`]), and runs one list of named contract checks
//! ([`checks::CHECKS`]) through the real host. Each check passes, fails (naming what was sent
//! and what came back) or does not apply (with the reason from the module's `describe`).

pub mod checks;
mod report;
pub mod vendors;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;

pub use checks::{CHECKS, Check, Failure, Verdict};
pub use report::Report;
pub use vendors::Vendor;

use crate::host::{Host, cache};

/// `junction connector test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// `builtin:NAME` or a path to a component (.wasm).
    pub module: String,
    /// The vendor whose simulator the module is tested against.
    #[arg(long, value_enum)]
    pub sim: Vendor,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Run only this check (repeatable); `--check list` prints the checks.
    #[arg(long = "check", value_name = "ID")]
    pub checks: Vec<String>,
    /// A setting for the module, `NAME=VALUE` (repeatable), over the vendor setup's.
    #[arg(long = "setting", value_name = "NAME=VALUE")]
    pub settings: Vec<String>,
    /// Request deadline of the module's instances.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Directory of the compiled-component cache (default: the user cache directory).
    #[arg(long, env = "JUNCTION_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::config::parse_duration(s).map_err(|e| e.to_string())
}

/// What to test, for [`run_kit`].
#[derive(Debug, Clone)]
pub struct Options {
    /// `builtin:NAME` or a component path.
    pub module: String,
    /// The simulator.
    pub vendor: Vendor,
    /// Check ids to run; empty: all.
    pub checks: Vec<String>,
    /// Extra settings.
    pub settings: BTreeMap<String, String>,
    /// Request deadline.
    pub timeout: Duration,
}

impl Options {
    /// Every check against `vendor`'s simulator, with the default deadline.
    pub fn new(module: impl Into<String>, vendor: Vendor) -> Self {
        Self {
            module: module.into(),
            vendor,
            checks: Vec::new(),
            settings: BTreeMap::new(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Runs the kit: loads the module (an error if it cannot be loaded, or a check id is unknown)
/// and runs the chosen checks, one after another, each against a simulator of its own.
pub async fn run_kit(host: &Host, options: &Options) -> anyhow::Result<Report> {
    for id in &options.checks {
        if !CHECKS.iter().any(|c| c.id == id) {
            bail!(
                "unknown check `{id}` (checks: {})",
                CHECKS.iter().map(|c| c.id).collect::<Vec<_>>().join(", ")
            );
        }
    }
    let module = host
        .load(&options.module, None)
        .await
        .with_context(|| format!("loading {}", options.module))?;
    let kit = checks::Kit {
        host: host.clone(),
        module: module.clone(),
        vendor: options.vendor,
        timeout: options.timeout,
        settings: options.settings.clone(),
    };
    let mut results = Vec::new();
    for check in CHECKS
        .iter()
        .filter(|c| options.checks.is_empty() || options.checks.iter().any(|id| id == c.id))
    {
        let started = Instant::now();
        let verdict = check.run(&kit).await;
        results.push(report::CheckResult {
            id: check.id,
            title: check.title,
            verdict,
            elapsed: started.elapsed(),
        });
    }
    Ok(Report {
        module: options.module.clone(),
        name: module.manifest.name.clone(),
        version: module.manifest.version.clone(),
        sha256: module.hash.clone(),
        vendor: options.vendor,
        results,
    })
}

/// Exit code when a check failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code when the kit could not run (unknown module, check or vendor: clap's usage error
/// code too).
pub const EXIT_BAD_INPUT: u8 = 2;

/// Runs `junction connector test`: 0 when every check passed or did not apply,
/// [`EXIT_FAILED`] when one failed, [`EXIT_BAD_INPUT`] when the kit could not run.
pub async fn run(args: TestArgs) -> anyhow::Result<ExitCode> {
    match run_checked(args).await {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("error: {}", crate::config::printable(&format!("{e:#}")));
            Ok(ExitCode::from(EXIT_BAD_INPUT))
        }
    }
}

async fn run_checked(args: TestArgs) -> anyhow::Result<ExitCode> {
    if args.checks.iter().any(|c| c == "list") {
        for c in CHECKS {
            println!("{:<22} {}", c.id, c.title);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut settings = BTreeMap::new();
    for s in &args.settings {
        let (k, v) = s
            .split_once('=')
            .with_context(|| format!("--setting `{s}` is not NAME=VALUE"))?;
        settings.insert(k.to_string(), v.to_string());
    }
    let host = Host::new(args.cache_dir.clone().or_else(cache::default_dir))?;
    let options = Options {
        module: args.module,
        vendor: args.sim,
        checks: args.checks,
        settings,
        timeout: args.timeout,
    };
    let report = run_kit(&host, &options).await?;
    if args.json {
        let text = serde_json::to_string_pretty(&report.json()).unwrap_or_default();
        println!("{}", crate::config::printable_json(&text));
    } else {
        print!("{}", report.table());
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}
