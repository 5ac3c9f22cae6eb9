//! Operators' read and repair commands: `junction trace`, `junction dlq`, `junction audit`.
//!
//! Each command opens the store without creating it (a mistyped path is an error, not a new
//! empty database), read-only unless it repairs, then writes to a `&mut dyn Write` so tests
//! capture exactly what an operator sees. Everything shown comes from the audit chain, the
//! dead letters and the attempt history, which hold masked data only; deliveries' documents
//! (unmasked) are never printed.

mod audit;
mod describe;
mod dlq;
mod format;
mod trace;

#[cfg(test)]
mod tests;

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;

use crate::store::{self, OpenOptions, Store};

pub use audit::{AuditCommand, audit};
pub use dlq::{DlqCommand, dlq};
pub use trace::{TraceArgs, trace};

/// `--store`, shared by every operators' command.
#[derive(Debug, Clone, Args)]
pub struct StoreArg {
    /// The durable store `junction run` writes to.
    #[arg(long, default_value = "sqlite://junction.db", env = "JUNCTION_STORE")]
    store: String,
}

/// Whether a command only looks or also repairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Repair,
}

/// Opens an existing store; never creates one.
async fn open(url: &str, access: Access) -> anyhow::Result<Store> {
    let options = OpenOptions {
        create: false,
        read_only: access == Access::Read,
        ..OpenOptions::default()
    };
    match Store::open_with(url, &options).await {
        Ok(store) => Ok(store),
        Err(store::Error::Missing { path }) => bail!(
            "no store at {}: run `junction run` first or pass --store",
            path.display()
        ),
        Err(e) => Err(e.into()),
    }
}

/// Runs `command` against the store at `url`, writing to stdout, and closes the store.
async fn with_store<F>(url: &str, access: Access, command: F) -> anyhow::Result<ExitCode>
where
    F: AsyncFnOnce(&Store, &mut dyn Write) -> anyhow::Result<ExitCode>,
{
    let store = open(url, access).await?;
    let mut stdout = io::stdout();
    let result = command(&store, &mut stdout).await;
    store.close().await;
    match result {
        // `junction trace ... | head` closing the pipe early is not a failure.
        Err(e)
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            Ok(ExitCode::SUCCESS)
        }
        other => other,
    }
}

/// Writes `value` as pretty JSON and a newline.
fn write_json(out: &mut dyn Write, value: &impl serde::Serialize) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}
