//! `junction review list|show|approve|reject`: writes with a red flag, with the evidence an
//! operator decides on (source event, affected ids, times, attempts, before/after masked), and
//! the decision: approved writes are delivered under their original idempotency key, rejected
//! ones suppressed with the reason. Both audited with who and why.

use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::format::{Table, count, utc};
use super::waiting::{
    ByArg, delivery_in, filter_note, masked_document, reason, story, write_story, write_waiting,
};
use super::{Access, StoreArg, with_store, write_json};
use crate::store::{AuditKind, Delivery, DeliveryState, Store, WaitingFilter};

/// `junction review`.
#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// List writes waiting for review, oldest first, with their red flag.
    List(ListArgs),
    /// Show the evidence for one write in review.
    Show(ShowArgs),
    /// Approve a write: it is delivered under its original idempotency key.
    Approve(DecideArgs),
    /// Reject a write: it is suppressed with the reason, never written.
    Reject(DecideArgs),
}

/// `junction review list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this pipeline.
    #[arg(long)]
    pipeline: Option<String>,
    /// Only this route.
    #[arg(long)]
    route: Option<String>,
    /// Print the writes as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

/// `junction review show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The delivery's id (from `junction review list`).
    id: i64,
    /// Print the evidence as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

/// `junction review approve|reject`.
#[derive(Debug, Args)]
pub struct DecideArgs {
    /// The delivery's id (from `junction review list`).
    id: i64,
    /// Why (recorded in the audit log).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    by: ByArg,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

const LIST: &str = "junction review list";

/// Runs a `junction review` subcommand.
pub async fn review(command: ReviewCommand) -> anyhow::Result<ExitCode> {
    match command {
        ReviewCommand::List(args) => {
            with_store(&args.store.store, Access::Read, async |store, out| {
                list_to(store, &args, out).await
            })
            .await
        }
        ReviewCommand::Show(args) => {
            with_store(&args.store.store, Access::Read, async |store, out| {
                show_to(store, args.id, args.json, out).await
            })
            .await
        }
        ReviewCommand::Approve(args) => {
            with_store(&args.store.store, Access::Repair, async |store, out| {
                decide_to(store, Verdict::Approve, &args, out).await
            })
            .await
        }
        ReviewCommand::Reject(args) => {
            with_store(&args.store.store, Access::Repair, async |store, out| {
                decide_to(store, Verdict::Reject, &args, out).await
            })
            .await
        }
    }
}

fn summary(d: &Delivery) -> Value {
    json!({
        "id": d.id,
        "pipeline": d.pipeline,
        "route": d.route,
        "target": d.target,
        "object": d.object,
        "key": d.key,
        "source_version": d.source_version,
        "source_event_id": d.source_event_id,
        "reason": d.state_reason,
        // Nothing changes a delivery in review until it is decided: its last update is when
        // it was sent there.
        "in_review_since_ms": d.updated_at_ms,
    })
}

/// `junction review list` against an open store.
pub(super) async fn list_to(
    store: &Store,
    args: &ListArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let filter = WaitingFilter {
        pipeline: args.pipeline.clone(),
        route: args.route.clone(),
        ..WaitingFilter::default()
    };
    let waiting = store.waiting(DeliveryState::Review, &filter).await?;
    if args.json {
        write_json(out, &waiting.iter().map(summary).collect::<Vec<_>>())?;
        return Ok(ExitCode::SUCCESS);
    }
    if waiting.is_empty() {
        writeln!(out, "no writes in review{}", filter_note(&filter))?;
        return Ok(ExitCode::SUCCESS);
    }
    write_waiting(out, &waiting, "SINCE (UTC)", "RED FLAG")?;
    writeln!(
        out,
        "{} in review{}: `junction review show ID`, then approve or reject",
        count(waiting.len() as i64, "write"),
        filter_note(&filter)
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `junction review show` against an open store.
pub(super) async fn show_to(
    store: &Store,
    id: i64,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let d = delivery_in(store, id, DeliveryState::Review, LIST).await?;
    let entries = story(store, &d).await?;
    let attempts = store.attempts(d.id).await?;
    let targets = store.xref(&d.object, &d.source, &d.key).await?;
    let change = store.change(d.change_id).await?;
    // Before/after as the review entry recorded them, masked by the pipeline's policy.
    let sent = entries.iter().rev().find(|e| e.kind == AuditKind::Review);
    let value = |field: &str| {
        sent.and_then(|e| e.detail.get(field))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let evidence = json!({
        "delivery": summary(&d),
        "red_flag": d.state_reason,
        "source_event_id": d.source_event_id,
        "affected": {
            "entity": { "object": d.object, "system": d.source, "key": d.key },
            "xref": targets.iter().map(|(system, key)| json!({ "system": system, "key": key })).collect::<Vec<_>>(),
            "target": d.target,
            "target_ref": d.target_ref,
        },
        "times": {
            "occurred_at_ms": d.occurred_at_ms,
            "received_at_ms": change.as_ref().map(|c| c.received_at_ms),
            "planned_at_ms": d.created_at_ms,
            "in_review_since_ms": d.updated_at_ms,
            "first_attempt_ms": d.first_attempt_ms,
        },
        "idempotency_key": d.idempotency_key,
        "attempts": attempts,
        "before": value("before"),
        "after": value("after"),
        "document": masked_document(&entries),
        "audit": entries,
    });
    if json {
        write_json(out, &evidence)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "write {} in review", d.id)?;
    let mut fields = Table::default();
    let mut field = |name: &str, value: String| fields.row(vec![format!("  {name}"), value]);
    field("red flag", d.state_reason.clone().unwrap_or_default());
    field(
        "source event",
        if d.source_event_id.trim().is_empty() {
            "(none)".to_owned()
        } else {
            d.source_event_id.clone()
        },
    );
    field("pipeline", d.pipeline.clone());
    field("route", format!("{} -> {}", d.route, d.target));
    field(
        "entity",
        format!(
            "{} {} in {} (version {})",
            d.object, d.key, d.source, d.source_version
        ),
    );
    let ids: Vec<String> = targets.iter().map(|(s, k)| format!("{k} in {s}")).collect();
    field(
        "known as",
        if ids.is_empty() {
            "-".to_owned()
        } else {
            ids.join(", ")
        },
    );
    field("idempotency key", d.idempotency_key.clone());
    field("occurred", utc(d.occurred_at_ms));
    if let Some(c) = &change {
        field("received", utc(c.received_at_ms));
    }
    field("planned", utc(d.created_at_ms));
    field("in review since", utc(d.updated_at_ms));
    out.write_all(fields.render().as_bytes())?;
    for (name, doc) in [("before", value("before")), ("after", value("after"))] {
        writeln!(out, "{name} (masked):")?;
        for line in serde_json::to_string_pretty(&doc)?.lines() {
            writeln!(out, "  {line}")?;
        }
    }
    writeln!(out, "attempts ({}):", attempts.len())?;
    let mut table = Table::default();
    for a in &attempts {
        table.row(vec![
            format!("  #{}", a.n),
            utc(a.started_ms),
            a.outcome.clone(),
            a.error_class.clone().unwrap_or_else(|| "-".to_owned()),
            a.status_code
                .map_or_else(|| "-".to_owned(), |s| format!("HTTP {s}")),
            a.message.clone().unwrap_or_default(),
        ]);
    }
    out.write_all(table.render().as_bytes())?;
    writeln!(out, "audit ({}):", count(entries.len() as i64, "entry"))?;
    write_story(out, &entries)?;
    writeln!(
        out,
        "decide: junction review approve {id} --reason ... | junction review reject {id} --reason ..."
    )?;
    Ok(ExitCode::SUCCESS)
}

/// What an operator decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Approve,
    Reject,
}

/// `junction review approve|reject` against an open store.
pub(super) async fn decide_to(
    store: &Store,
    verdict: Verdict,
    args: &DecideArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let why = reason(&args.reason)?;
    let by = args.by.who()?;
    let d = delivery_in(store, args.id, DeliveryState::Review, LIST).await?;
    let decided = match verdict {
        Verdict::Approve => store.approve(d.id, &by, &why).await?,
        Verdict::Reject => store.reject(d.id, &by, &why).await?,
    };
    let Some(after) = decided else {
        bail!(
            "delivery {} was decided or changed meanwhile; nothing done",
            d.id
        );
    };
    if args.json {
        write_json(
            out,
            &json!({ "id": d.id, "state": after.state, "by": by, "reason": why }),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    match verdict {
        Verdict::Approve => writeln!(
            out,
            "approved delivery {} by {by}: it is delivered under its original key {}; a running `junction run` picks it up",
            d.id, d.idempotency_key
        )?,
        Verdict::Reject => writeln!(
            out,
            "rejected delivery {} by {by}: suppressed, never written ({why})",
            d.id
        )?,
    }
    Ok(ExitCode::SUCCESS)
}
