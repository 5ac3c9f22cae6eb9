//! Operators' read and repair commands: `junction trace`, `junction dlq`, `junction audit`,
//! `junction shadow`, `junction replay`, `junction holds`, `junction review`, `junction route`,
//! `junction reconcile`.
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
mod holds;
mod reconcile;
mod replay;
mod review;
mod route;
mod shadow;
mod trace;
mod waiting;

#[cfg(test)]
mod tests;

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;

use crate::store::{self, OpenOptions, Store};

pub use audit::{AuditCommand, audit};
pub use dlq::{DlqCommand, dlq};
pub use holds::{HoldsCommand, holds};
pub use reconcile::{ReconcileArgs, reconcile};
pub(crate) use replay::instant;
pub use replay::{ReplayArgs, replay};
pub use review::{ReviewCommand, review};
pub use route::{RouteCommand, route};
pub use shadow::{ShadowCommand, shadow};
pub(crate) use trace::trace_text;
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
    let mut stdout = Printable(io::stdout());
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

/// Stdout for what the store holds, much of it written by connectors and vendors (error text,
/// masked payloads): terminal escape sequences and other control characters are written as
/// visible escapes (`\u{1b}`), so stored text cannot clear the screen or recolour a report.
/// Line breaks pass: the reports are made of lines, and JSON escapes its own.
struct Printable<W>(W);

impl<W: Write> Write for Printable<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        if !text
            .chars()
            .any(|c| c != '\n' && crate::config::printable::needs_escape(c))
        {
            self.0.write_all(buf)?;
            return Ok(buf.len());
        }
        let escaped: String = text
            .split('\n')
            .map(|line| crate::config::printable::printable(line).into_owned())
            .collect::<Vec<_>>()
            .join("\n");
        self.0.write_all(escaped.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
#[test]
fn stored_text_cannot_send_terminal_escapes() {
    let mut out = Printable(Vec::new());
    write!(
        out,
        "reason: vendor said \u{1b}[2J\u{1b}[31merror: forged\nnext line"
    )
    .unwrap();
    let shown = String::from_utf8(out.0).unwrap();
    assert_eq!(
        shown,
        "reason: vendor said \\u{1b}[2J\\u{1b}[31merror: forged\nnext line"
    );
}

/// Writes `value` as pretty JSON and a newline.
fn write_json(out: &mut dyn Write, value: &impl serde::Serialize) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}
