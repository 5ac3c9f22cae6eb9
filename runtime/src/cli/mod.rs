//! The `junction` command line: one module per command group, all plain clap derive.

pub mod build;
mod campaign;
pub mod conformance;
mod connector;
mod ops;
mod pipeline;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Junction keeps subscription, billing, CRM and ERP systems consistent.
#[derive(Debug, Parser)]
#[command(name = "junction", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run pipelines: serve webhooks, plan, deliver and confirm until stopped.
    Run(pipeline::RunArgs),
    /// Check pipeline files; report every problem at once with file:line:col and a hint.
    Validate(pipeline::ValidateArgs),
    /// Print the JSON Schema of the pipeline format (for editors).
    Schema,
    /// Inspect and exercise connector modules.
    #[command(subcommand)]
    Connector(connector::ConnectorCommand),
    /// Tell the story of one change or entity across systems, from the audit log.
    Trace(ops::TraceArgs),
    /// List, inspect and redrive dead letters.
    #[command(subcommand)]
    Dlq(ops::DlqCommand),
    /// Compare both sides of a `[reconcile.NAME]` job now; report drift, and repair it with
    /// `--repair` (the owner's values win, through the route).
    Reconcile(ops::ReconcileArgs),
    /// Check the tamper-evident audit log.
    #[command(subcommand)]
    Audit(ops::AuditCommand),
    /// What shadow routes would have written, compared with what their targets hold.
    #[command(subcommand)]
    Shadow(ops::ShadowCommand),
    /// After an incident, send a window's confirmed writes again, in order, under their keys.
    Replay(ops::ReplayArgs),
    /// Take in the changes a source still lists that never arrived (lost webhooks).
    Recover(pipeline::RecoverArgs),
    /// Writes held by a gate: list, show, release (the gate re-evaluated first).
    #[command(subcommand)]
    Holds(ops::HoldsCommand),
    /// Writes with a red flag waiting for manual review: list, show, approve, reject.
    #[command(subcommand)]
    Review(ops::ReviewCommand),
    /// Route kill switches: pause, resume, list.
    #[command(subcommand)]
    Route(ops::RouteCommand),
    /// Prove the promise under faults: thousands of subscription changes through the flagship
    /// pipeline against the simulators, every fault kind and SIGKILLs, then a reconciliation
    /// and a table of what happened (0 lost, 0 applied twice, 0 unreconciled).
    Campaign(campaign::CampaignArgs),
    /// Junction's main job on a fresh clone, no setup: simulators and the flagship pipeline in
    /// one process, a live campaign with faults, the consistency table and a few stories.
    Demo(campaign::DemoArgs),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The campaign and the demo inject faults by the thousand; each retry's warning would bury
    // their progress display, so they show errors only unless JUNCTION_LOG asks for more.
    init_tracing(match cli.command {
        Command::Campaign(_) | Command::Demo(_) => "error",
        _ => "warn",
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => pipeline::run(args).await,
            Command::Validate(args) => pipeline::validate(args).await,
            Command::Schema => pipeline::schema(),
            Command::Connector(cmd) => connector::run(cmd).await,
            Command::Trace(args) => ops::trace(args).await,
            Command::Dlq(cmd) => ops::dlq(cmd).await,
            Command::Audit(cmd) => ops::audit(cmd).await,
            Command::Shadow(cmd) => ops::shadow(cmd).await,
            Command::Replay(args) => ops::replay(args).await,
            Command::Recover(args) => pipeline::recover(args).await,
            Command::Holds(cmd) => ops::holds(cmd).await,
            Command::Review(cmd) => ops::review(cmd).await,
            Command::Route(cmd) => ops::route(cmd).await,
            Command::Reconcile(args) => ops::reconcile(args).await,
            Command::Campaign(args) => campaign::campaign(args).await,
            Command::Demo(args) => campaign::demo(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            // Errors can quote a module or a file (a manifest's name, a loader's message).
            eprintln!("error: {}", crate::config::printable(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

/// A duration as the pipeline format writes it (`500ms`, `5s`, `2m`), for flags.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    crate::config::parse_duration(s).map_err(|e| e.to_string())
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("JUNCTION_LOG")
        .unwrap_or_else(|_| default.into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
