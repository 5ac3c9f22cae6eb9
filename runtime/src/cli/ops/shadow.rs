//! `junction shadow report ROUTE`: what a shadow route would have written and how it differs
//! from what the target holds, so an operator can judge a mapping before going live.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::Value;

use super::format::{Table, count, utc};
use super::{Access, StoreArg, with_store, write_json};
use crate::store::{ShadowResult, Store};

/// `junction shadow`.
#[derive(Debug, Subcommand)]
pub enum ShadowCommand {
    /// What a shadow route would have written and how the target differs, field by field
    /// (documents masked). Nothing was written to the target.
    Report(ReportArgs),
}

/// `junction shadow report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The shadow route (`[[route]] name`, with mode = "shadow").
    route: String,
    /// Only this pipeline (routes are named per pipeline).
    #[arg(long)]
    pipeline: Option<String>,
    /// Only entities where the target differs from the intended write (or could not be read).
    #[arg(long)]
    differing: bool,
    /// At most this many entities, oldest first.
    #[arg(long, default_value_t = 1000)]
    limit: u32,
    /// Print the comparisons as JSON, with both documents.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

/// Runs a `junction shadow` subcommand.
pub async fn shadow(command: ShadowCommand) -> anyhow::Result<ExitCode> {
    match command {
        ShadowCommand::Report(args) => {
            with_store(&args.store.store, Access::Read, async |store, out| {
                report_to(store, &args, out).await
            })
            .await
        }
    }
}

/// `junction shadow report` against an open store.
pub(super) async fn report_to(
    store: &Store,
    args: &ReportArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let results = store
        .shadow_report(
            args.pipeline.as_deref(),
            &args.route,
            args.differing,
            args.limit,
        )
        .await?;
    if args.json {
        write_json(out, &results)?;
        return Ok(ExitCode::SUCCESS);
    }
    if results.is_empty() {
        writeln!(
            out,
            "no shadow comparisons for route `{}`{}: is it a shadow route (mode = \"shadow\"), and has `junction run` delivered changes on it?",
            args.route,
            args.pipeline
                .as_deref()
                .map(|p| format!(" in pipeline `{p}`"))
                .unwrap_or_default()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::default();
    table.row(
        [
            "COMPARED (UTC)",
            "KEY",
            "TARGET",
            "FIELD",
            "WOULD WRITE",
            "TARGET HOLDS",
        ]
        .map(str::to_owned)
        .to_vec(),
    );
    let mut same = 0;
    for r in &results {
        rows_of(r, &mut table, &mut same);
    }
    out.write_all(table.render().as_bytes())?;
    let differing = results.len() - same;
    writeln!(
        out,
        "{} compared: {} already as intended, {} would change; nothing was written",
        count(results.len() as i64, "entity"),
        same,
        differing
    )?;
    Ok(ExitCode::SUCCESS)
}

/// One entity's lines: a line per differing field, or one saying it matches.
fn rows_of(r: &ShadowResult, table: &mut Table, same: &mut usize) {
    let c = &r.comparison;
    let head = |field: String, intended: String, current: String| {
        vec![
            utc(r.compared_at_ms),
            r.key.clone(),
            format!("{} ({})", r.target, r.route),
            field,
            intended,
            current,
        ]
    };
    if let Some(error) = &c.error {
        table.row(head(
            "-".into(),
            "-".into(),
            format!("not compared: {error}"),
        ));
        return;
    }
    if c.differing.is_empty() {
        *same += 1;
        table.row(head("(all compared)".into(), "=".into(), "=".into()));
        return;
    }
    for field in &c.differing {
        let current = match &c.current {
            None => "(no record)".to_owned(),
            Some(doc) => shown(doc.get(field)),
        };
        table.row(head(field.clone(), shown(c.intended.get(field)), current));
    }
}

fn shown(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "null".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}
