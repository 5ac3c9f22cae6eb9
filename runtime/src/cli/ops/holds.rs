//! `junction holds list|show|release`: writes held by a gate, why, since when, what releases
//! them, and releasing one by hand (the gate re-evaluated first; `--override` to release
//! although it fails), audited with who and why.

use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::format::{Table, count, utc};
use super::waiting::{
    ByArg, PipelineFiles, delivery_in, filter_note, masked_document, reason, story, write_story,
    write_waiting,
};
use super::{Access, StoreArg, with_store, write_json};
use crate::config::Plan;
use crate::pipeline::gates::{self, Verdict};
use crate::store::{Decision, Delivery, DeliveryState, Store, WaitingFilter};

/// `junction holds`.
#[derive(Debug, Subcommand)]
pub enum HoldsCommand {
    /// List held writes, oldest first: why, since when, and what releases them.
    List(ListArgs),
    /// Show one held write: its gate, its masked document and its audit story.
    Show(ShowArgs),
    /// Release a held write: its gate is re-evaluated on the newest change of its entity and
    /// the write released only if it passes (or with --override). Audited with who and why.
    Release(ReleaseArgs),
}

/// `junction holds list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this pipeline.
    #[arg(long)]
    pipeline: Option<String>,
    /// Only this route.
    #[arg(long)]
    route: Option<String>,
    /// Print the held writes as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

/// `junction holds show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The held delivery's id (from `junction holds list`).
    id: i64,
    /// Print it as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

/// `junction holds release`.
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The held delivery's id (from `junction holds list`).
    id: i64,
    /// Why it is released (recorded in the audit log).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    by: ByArg,
    /// Release even though the gate still fails (audited as an override).
    #[arg(long = "override")]
    overridden: bool,
    #[command(flatten)]
    files: PipelineFiles,
    #[command(flatten)]
    store: StoreArg,
}

const LIST: &str = "junction holds list";

/// Runs a `junction holds` subcommand.
pub async fn holds(command: HoldsCommand) -> anyhow::Result<ExitCode> {
    match command {
        HoldsCommand::List(args) => {
            with_store(&args.store.store, Access::Read, async |store, out| {
                list_to(store, &args, out).await
            })
            .await
        }
        HoldsCommand::Show(args) => {
            with_store(&args.store.store, Access::Read, async |store, out| {
                show_to(store, args.id, args.json, out).await
            })
            .await
        }
        HoldsCommand::Release(args) => {
            // Check what can be checked before touching the store.
            let plans = args.files.load()?;
            with_store(&args.store.store, Access::Repair, async |store, out| {
                release_to(store, &plans, &args, out).await
            })
            .await
        }
    }
}

/// The gate a held write waits for and its condition, from the recorded reason.
fn gate_of(d: &Delivery) -> (Option<&str>, Option<&str>) {
    let gate = gates::held_by(d);
    let require = gate.and_then(|_| {
        let reason = d.state_reason.as_deref()?;
        let start = reason.find('`')? + 1;
        let end = start + reason[start..].find('`')?;
        Some(&reason[start..end])
    });
    (gate, require)
}

/// What releases a held write, in words.
fn next_action(d: &Delivery) -> String {
    match gate_of(d) {
        (Some(gate), Some(require)) => format!(
            "released when `{require}` (gate {gate}) holds for {} {}, or `junction holds release {} --reason ...`",
            d.object, d.key, d.id
        ),
        (Some(gate), None) => format!(
            "released when gate {gate} passes for {} {}, or `junction holds release {} --reason ...`",
            d.object, d.key, d.id
        ),
        _ => format!(
            "held because it could not be planned: fix the pipeline, or `junction holds release {} --override --reason ...`",
            d.id
        ),
    }
}

fn summary(d: &Delivery) -> Value {
    let (gate, require) = gate_of(d);
    json!({
        "id": d.id,
        "pipeline": d.pipeline,
        "route": d.route,
        "target": d.target,
        "object": d.object,
        "key": d.key,
        "source_version": d.source_version,
        "source_event_id": d.source_event_id,
        "state": d.state,
        "reason": d.state_reason,
        "gate": gate,
        "require": require,
        // Nothing changes a held delivery until it is released: its last update is its hold.
        "held_at_ms": d.updated_at_ms,
        "next_action": next_action(d),
    })
}

/// `junction holds list` against an open store.
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
    let held = store.waiting(DeliveryState::Held, &filter).await?;
    if args.json {
        write_json(out, &held.iter().map(summary).collect::<Vec<_>>())?;
        return Ok(ExitCode::SUCCESS);
    }
    if held.is_empty() {
        writeln!(out, "no held writes{}", filter_note(&filter))?;
        return Ok(ExitCode::SUCCESS);
    }
    write_waiting(out, &held, "HELD SINCE (UTC)", "REASON")?;
    writeln!(out, "next:")?;
    for d in &held {
        writeln!(out, "  {}: {}", d.id, next_action(d))?;
    }
    writeln!(
        out,
        "{}{}",
        count(held.len() as i64, "held write"),
        filter_note(&filter)
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `junction holds show` against an open store.
pub(super) async fn show_to(
    store: &Store,
    id: i64,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let d = delivery_in(store, id, DeliveryState::Held, LIST).await?;
    let entries = story(store, &d).await?;
    let document = masked_document(&entries);
    if json {
        let mut value = summary(&d);
        value["document"] = document;
        value["audit"] = serde_json::to_value(&entries)?;
        write_json(out, &value)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (gate, require) = gate_of(&d);
    writeln!(out, "held write {} ({})", d.id, d.state)?;
    let mut fields = Table::default();
    let mut field = |name: &str, value: String| fields.row(vec![format!("  {name}"), value]);
    field("reason", d.state_reason.clone().unwrap_or_default());
    field("gate", gate.unwrap_or("-").to_owned());
    field("requires", require.unwrap_or("-").to_owned());
    field("held since", utc(d.updated_at_ms));
    field("next", next_action(&d));
    field("pipeline", d.pipeline.clone());
    field("route", format!("{} -> {}", d.route, d.target));
    field(
        "entity",
        format!("{} {} (version {})", d.object, d.key, d.source_version),
    );
    field("event", d.source_event_id.clone());
    field("idempotency key", d.idempotency_key.clone());
    field("correlation id", d.correlation_id.clone());
    out.write_all(fields.render().as_bytes())?;
    writeln!(out, "document (masked):")?;
    for line in serde_json::to_string_pretty(&document)?.lines() {
        writeln!(out, "  {line}")?;
    }
    writeln!(out, "audit ({}):", count(entries.len() as i64, "entry"))?;
    write_story(out, &entries)?;
    Ok(ExitCode::SUCCESS)
}

/// `junction holds release` against an open store, with the plans of the files given.
pub(super) async fn release_to(
    store: &Store,
    plans: &[Plan],
    args: &ReleaseArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let why = reason(&args.reason)?;
    let by = args.by.who()?;
    let d = delivery_in(store, args.id, DeliveryState::Held, LIST).await?;
    let verdict = match plans.iter().find(|p| p.name == d.pipeline) {
        Some(plan) => {
            let Some(newest) = store.newest_change(&d.pipeline, &d.object, &d.key).await? else {
                bail!("delivery {}: its change is not in the store", d.id);
            };
            Some(gates::recheck(plan, &d, &newest))
        }
        None if args.overridden => None,
        None if plans.is_empty() => bail!(
            "not released: the gate of delivery {} cannot be re-evaluated without its pipeline: \
             pass --file FILE (the files `junction run` runs), or --override to release it \
             without re-evaluating",
            d.id
        ),
        None => bail!(
            "not released: pipeline `{}` of delivery {} is not in the files given (they define {})",
            d.pipeline,
            d.id,
            plans
                .iter()
                .map(|p| format!("`{}`", p.name))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let overridden = match &verdict {
        Some(Verdict::Passes { .. }) => false,
        Some(Verdict::Fails { gate, reason, .. }) if !args.overridden => bail!(
            "not released: gate {gate} still fails for {} {}: {reason}; pass --override to \
             release it anyway (audited as an override)",
            d.object,
            d.key
        ),
        Some(Verdict::NoGate { reason }) if !args.overridden => bail!(
            "not released: delivery {} is not held by a gate ({reason}), so there is nothing to \
             re-evaluate; pass --override to release it as planned",
            d.id
        ),
        Some(_) | None => true,
    };
    let decision = Decision {
        by: by.clone(),
        reason: why,
        overridden,
    };
    if store.release_hold(d.id, &decision).await?.is_none() {
        bail!(
            "delivery {} was released or changed meanwhile; nothing done",
            d.id
        );
    }
    let how = match (&verdict, overridden) {
        (Some(Verdict::Passes { gates }), _) => {
            format!("the gate passes ({})", gates.join(", "))
        }
        (None, _) => "OVERRIDE: the gate was not re-evaluated".to_owned(),
        _ => "OVERRIDE: the gate still fails".to_owned(),
    };
    writeln!(
        out,
        "released delivery {} ({} {} on route {}) by {by}: {how}; a running `junction run` delivers it",
        d.id, d.object, d.key, d.route
    )?;
    Ok(ExitCode::SUCCESS)
}
