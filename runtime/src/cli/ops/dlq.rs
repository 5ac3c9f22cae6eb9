//! `junction dlq list|show|redrive`: the dead letters, their attempt history, and sending them
//! back for delivery.

use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::format::{Table, count, utc};
use super::{Access, StoreArg, with_store, write_json};
use crate::store::{DeadLetter, DlqFilter, Redrive, Store};

/// `junction dlq`.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead letters not yet redriven, oldest first.
    List(ListArgs),
    /// Show one dead letter: why it died, its masked payload and every attempt.
    Show(ShowArgs),
    /// Send dead letters back for delivery, in source order; a running `junction run` picks
    /// them up. Idempotent: a letter already redriven is skipped.
    Redrive(RedriveArgs),
}

/// `junction dlq list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this pipeline.
    #[arg(long)]
    pipeline: Option<String>,
    /// Only this route.
    #[arg(long)]
    route: Option<String>,
    /// Also letters already redriven.
    #[arg(long)]
    all: bool,
    /// Print the letters (with their masked payloads) as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

/// `junction dlq show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The dead letter's id (from `junction dlq list`).
    id: i64,
    /// Print the letter and its attempts as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

/// `junction dlq redrive`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["ids", "all"]))]
pub struct RedriveArgs {
    /// Dead letters to redrive (ids from `junction dlq list`).
    #[arg(value_name = "ID")]
    ids: Vec<i64>,
    /// Every open dead letter (narrowed by --pipeline and --route).
    #[arg(long, conflicts_with = "ids")]
    all: bool,
    /// With --all: only this pipeline.
    #[arg(long, requires = "all", conflicts_with = "ids")]
    pipeline: Option<String>,
    /// With --all: only this route.
    #[arg(long, requires = "all", conflicts_with = "ids")]
    route: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

/// Runs a `junction dlq` subcommand.
pub async fn dlq(command: DlqCommand) -> anyhow::Result<ExitCode> {
    match command {
        DlqCommand::List(args) => {
            with_store(&args.store.store, Access::Read, async |store, out| {
                list_to(store, &args, out).await
            })
            .await
        }
        DlqCommand::Show(args) => {
            with_store(&args.store.store, Access::Read, async |store, out| {
                show_to(store, args.id, args.json, out).await
            })
            .await
        }
        DlqCommand::Redrive(args) => {
            with_store(&args.store.store, Access::Repair, async |store, out| {
                redrive_to(store, &args, out).await
            })
            .await
        }
    }
}

/// `junction dlq list` against an open store.
pub(super) async fn list_to(
    store: &Store,
    args: &ListArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let filter = DlqFilter {
        pipeline: args.pipeline.clone(),
        route: args.route.clone(),
        include_redriven: args.all,
        ..DlqFilter::default()
    };
    let letters = store.dlq_list(&filter).await?;
    if args.json {
        let mut values = Vec::with_capacity(letters.len());
        for letter in &letters {
            let mut value = serde_json::to_value(letter)?;
            value["payload"] = payload_value(&letter.payload);
            values.push(value);
        }
        write_json(out, &values)?;
        return Ok(ExitCode::SUCCESS);
    }
    if letters.is_empty() {
        let which = if args.all {
            "dead letters"
        } else {
            "open dead letters"
        };
        writeln!(out, "no {which}{}", filter_note(&filter))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::default();
    let mut header = vec![
        "ID",
        "DIED (UTC)",
        "PIPELINE",
        "ROUTE -> TARGET",
        "KEY",
        "ATTEMPTS",
    ];
    if args.all {
        header.push("REDRIVEN (UTC)");
    }
    header.push("REASON");
    table.row(header.into_iter().map(str::to_owned).collect());
    for l in &letters {
        let mut row = vec![
            l.id.to_string(),
            utc(l.created_at_ms),
            l.pipeline.clone(),
            format!("{} -> {}", l.route, l.target),
            l.key.clone(),
            l.attempts.to_string(),
        ];
        if args.all {
            row.push(l.redriven_at_ms.map_or_else(|| "-".to_owned(), utc));
        }
        row.push(l.reason.clone());
        table.row(row);
    }
    out.write_all(table.render().as_bytes())?;
    let open = letters
        .iter()
        .filter(|l| l.redriven_at_ms.is_none())
        .count();
    writeln!(
        out,
        "{}, {open} open{}",
        count(letters.len() as i64, "dead letter"),
        filter_note(&filter)
    )?;
    Ok(ExitCode::SUCCESS)
}

fn filter_note(filter: &DlqFilter) -> String {
    let mut note = String::new();
    if let Some(p) = &filter.pipeline {
        note.push_str(&format!(" in pipeline {p}"));
    }
    if let Some(r) = &filter.route {
        note.push_str(&format!(" on route {r}"));
    }
    note
}

/// `junction dlq show` against an open store.
pub(super) async fn show_to(
    store: &Store,
    id: i64,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let Some(detail) = store.dlq_show(id).await? else {
        bail!("no dead letter {id} (see `junction dlq list --all`)");
    };
    if json {
        // The payload is JSON text; show it as JSON, not as a string of JSON.
        let mut value = serde_json::to_value(&detail)?;
        value["letter"]["payload"] = payload_value(&detail.letter.payload);
        write_json(out, &value)?;
        return Ok(ExitCode::SUCCESS);
    }
    let l = &detail.letter;
    let status = match l.redriven_at_ms {
        Some(t) => format!("redriven {}", utc(t)),
        None => format!("open: junction dlq redrive {}", l.id),
    };
    writeln!(out, "dead letter {} ({status})", l.id)?;
    let mut fields = Table::default();
    let mut field = |name: &str, value: String| fields.row(vec![format!("  {name}"), value]);
    field("reason", l.reason.clone());
    field(
        "died",
        format!(
            "{} after {}",
            utc(l.created_at_ms),
            count(l.attempts.into(), "attempt")
        ),
    );
    field("pipeline", l.pipeline.clone());
    field("route", format!("{} -> {}", l.route, l.target));
    field(
        "entity",
        format!("{} {} (version {})", l.object, l.key, l.source_version),
    );
    field("event", l.source_event_id.clone());
    field("idempotency key", l.idempotency_key.clone());
    field("correlation id", l.correlation_id.clone());
    field("delivery", l.delivery_id.to_string());
    out.write_all(fields.render().as_bytes())?;

    writeln!(out, "payload (masked):")?;
    let pretty = serde_json::to_string_pretty(&payload_value(&l.payload))?;
    for line in pretty.lines() {
        writeln!(out, "  {line}")?;
    }

    writeln!(
        out,
        "attempts ({}, oldest first; numbering restarts after a redrive):",
        detail.attempts.len()
    )?;
    let mut attempts = Table::default();
    for a in &detail.attempts {
        attempts.row(vec![
            format!("  #{}", a.n),
            utc(a.started_ms),
            a.outcome.clone(),
            a.error_class.clone().unwrap_or_else(|| "-".to_owned()),
            a.status_code
                .map_or_else(|| "-".to_owned(), |s| format!("HTTP {s}")),
            format!("{} ms", a.latency_ms),
            a.message.clone().unwrap_or_default(),
        ]);
    }
    out.write_all(attempts.render().as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// A stored payload as JSON; text that is not JSON (never written by the engine) as a string.
fn payload_value(payload: &str) -> Value {
    serde_json::from_str(payload).unwrap_or_else(|_| Value::String(payload.to_owned()))
}

/// `junction dlq redrive` against an open store.
pub(super) async fn redrive_to(
    store: &Store,
    args: &RedriveArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let mut skipped: Vec<DeadLetter> = Vec::new();
    let which = if args.all {
        Redrive::Matching(DlqFilter {
            pipeline: args.pipeline.clone(),
            route: args.route.clone(),
            ..DlqFilter::default()
        })
    } else {
        // Check every id first: a mistyped one redrives nothing, rather than part of the list.
        let mut unknown = Vec::new();
        for &id in &args.ids {
            match store.dlq_show(id).await? {
                None => unknown.push(id.to_string()),
                Some(detail) if detail.letter.redriven_at_ms.is_some() => {
                    skipped.push(detail.letter);
                }
                Some(_) => {}
            }
        }
        if !unknown.is_empty() {
            bail!(
                "no dead letter {}; nothing was redriven (see `junction dlq list --all`)",
                unknown.join(", ")
            );
        }
        Redrive::Ids(args.ids.clone())
    };
    let redriven = store.redrive(&which).await?;
    if args.json {
        let skipped: Vec<i64> = skipped.iter().map(|l| l.id).collect();
        write_json(
            out,
            &json!({ "redriven": redriven, "already_redriven": skipped }),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    for l in &skipped {
        writeln!(
            out,
            "dead letter {}: already redriven {}; skipped",
            l.id,
            l.redriven_at_ms.map(utc).unwrap_or_default()
        )?;
    }
    if redriven == 0 {
        writeln!(out, "nothing to redrive")?;
    } else {
        writeln!(
            out,
            "redriven {} in source order; a running `junction run` delivers them",
            count(redriven as i64, "dead letter")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
