//! `junction audit verify`: recompute the audit hash chain and name the first bad entry.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use super::format::count;
use super::{Access, StoreArg, with_store, write_json};
use crate::store::Store;

/// `junction audit`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain from the first entry; exit 1 naming the first bad entry.
    Verify(VerifyArgs),
}

/// `junction audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

/// Runs a `junction audit` subcommand.
pub async fn audit(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify(args) => {
            with_store(&args.store.store, Access::Read, async |store, out| {
                verify_to(store, args.json, out).await
            })
            .await
        }
    }
}

/// `junction audit verify` against an open store.
pub(super) async fn verify_to(
    store: &Store,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let report = store.audit_verify().await?;
    if json {
        let value = json!({
            "ok": report.is_ok(),
            "entries": report.entries,
            "chains": report.chains,
            "first_bad": report.first_bad,
        });
        write_json(out, &value)?;
    } else {
        match &report.first_bad {
            None => writeln!(
                out,
                "ok: {} in {}",
                count(report.entries as i64, "entry"),
                count(report.chains as i64, "chain")
            )?,
            Some(bad) => writeln!(
                out,
                "audit chain broken at seq {}: {} (chain {}; {} before it verified)",
                bad.seq,
                bad.reason,
                bad.chain,
                count(report.entries as i64, "entry")
            )?,
        }
    }
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
