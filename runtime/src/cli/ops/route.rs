//! `junction route pause|resume|list`: kill switches per route. A paused route's writes wait
//! (pending, in order) while intake and planning go on; resuming delivers what waited.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};
use serde::Serialize;

use super::format::{Table, utc};
use super::waiting::{ByArg, PipelineFiles, reason};
use super::{Access, StoreArg, with_store, write_json};
use crate::config::Plan;
use crate::store::{PausedRoute, Store};

/// `junction route`.
#[derive(Debug, Subcommand)]
pub enum RouteCommand {
    /// Stop a route's writes until it is resumed; intake and planning go on.
    Pause(PauseArgs),
    /// Resume a paused route: what waited is delivered, in source order per entity.
    Resume(ResumeArgs),
    /// List routes: paused or not, since when, by whom, why, writes waiting.
    List(ListArgs),
}

/// `junction route pause`.
#[derive(Debug, Args)]
pub struct PauseArgs {
    /// The route's name (`[[route]] name`).
    name: String,
    /// The route's pipeline (needed when several pipelines have a route of that name).
    #[arg(long)]
    pipeline: Option<String>,
    /// Why (recorded with the pause and in the audit log).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    by: ByArg,
    #[command(flatten)]
    files: PipelineFiles,
    #[command(flatten)]
    store: StoreArg,
}

/// `junction route resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The route's name.
    name: String,
    /// The route's pipeline (needed when several pipelines have a route of that name).
    #[arg(long)]
    pipeline: Option<String>,
    /// Why (recorded in the audit log).
    #[arg(long, default_value = "resumed")]
    reason: String,
    #[command(flatten)]
    by: ByArg,
    #[command(flatten)]
    store: StoreArg,
}

/// `junction route list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print the routes as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    files: PipelineFiles,
    #[command(flatten)]
    store: StoreArg,
}

/// Runs a `junction route` subcommand.
pub async fn route(command: RouteCommand) -> anyhow::Result<ExitCode> {
    match command {
        RouteCommand::Pause(args) => {
            let plans = args.files.load()?;
            with_store(&args.store.store, Access::Repair, async |store, out| {
                pause_to(store, &plans, &args, out).await
            })
            .await
        }
        RouteCommand::Resume(args) => {
            with_store(&args.store.store, Access::Repair, async |store, out| {
                resume_to(store, &args, out).await
            })
            .await
        }
        RouteCommand::List(args) => {
            let plans = args.files.load()?;
            with_store(&args.store.store, Access::Read, async |store, out| {
                list_to(store, &plans, args.json, out).await
            })
            .await
        }
    }
}

/// One route as `list` shows it.
#[derive(Debug, Serialize)]
struct Row {
    pipeline: String,
    route: String,
    paused: bool,
    paused_at_ms: Option<i64>,
    paused_by: Option<String>,
    reason: Option<String>,
    /// Writes waiting to be delivered.
    waiting: i64,
    /// Writes held by a gate or in review.
    parked: i64,
}

/// Every route known from the plans, the store's deliveries and its pauses.
async fn rows(store: &Store, plans: &[Plan]) -> anyhow::Result<BTreeMap<(String, String), Row>> {
    let mut rows = BTreeMap::new();
    let mut add = |pipeline: &str, route: &str| {
        rows.entry((pipeline.to_owned(), route.to_owned()))
            .or_insert_with(|| Row {
                pipeline: pipeline.to_owned(),
                route: route.to_owned(),
                paused: false,
                paused_at_ms: None,
                paused_by: None,
                reason: None,
                waiting: 0,
                parked: 0,
            });
    };
    for plan in plans {
        for route in &plan.routes {
            add(&plan.name, &route.name);
        }
    }
    let activity = store.route_activity().await?;
    let paused = store.paused_routes().await?;
    for a in &activity {
        add(&a.pipeline, &a.route);
    }
    for p in &paused {
        add(&p.pipeline, &p.route);
    }
    for a in activity {
        if let Some(row) = rows.get_mut(&(a.pipeline, a.route)) {
            row.waiting = a.waiting;
            row.parked = a.parked;
        }
    }
    for p in paused {
        if let Some(row) = rows.get_mut(&(p.pipeline, p.route)) {
            row.paused = true;
            row.paused_at_ms = Some(p.paused_at_ms);
            row.paused_by = Some(p.paused_by);
            row.reason = Some(p.reason);
        }
    }
    Ok(rows)
}

/// The one (pipeline, route) that `name` (in `pipeline`, if given) names; otherwise an error
/// naming the unknown route and the known ones.
fn resolve(
    known: &BTreeMap<(String, String), Row>,
    name: &str,
    pipeline: Option<&str>,
    from_files: bool,
) -> anyhow::Result<(String, String)> {
    let matching: Vec<&(String, String)> = known
        .keys()
        .filter(|(p, r)| r == name && pipeline.is_none_or(|want| want == p))
        .collect();
    match matching[..] {
        [one] => Ok(one.clone()),
        [] => {
            let within = pipeline
                .map(|p| format!(" in pipeline `{p}`"))
                .unwrap_or_default();
            let names: Vec<String> = known
                .keys()
                .filter(|(p, _)| pipeline.is_none_or(|want| want == p))
                .map(|(p, r)| format!("{r} (pipeline {p})"))
                .collect();
            let hint = if from_files {
                String::new()
            } else {
                "; a route that has planned nothing yet is known only from its pipeline file: \
                 pass --file FILE"
                    .to_owned()
            };
            if names.is_empty() {
                bail!("unknown route `{name}`{within}: no routes are known{hint}");
            }
            bail!(
                "unknown route `{name}`{within}; known routes: {}{hint}",
                names.join(", ")
            )
        }
        _ => bail!(
            "route `{name}` is in several pipelines ({}): pass --pipeline",
            matching
                .iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `junction route pause` against an open store.
pub(super) async fn pause_to(
    store: &Store,
    plans: &[Plan],
    args: &PauseArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let why = reason(&args.reason)?;
    let by = args.by.who()?;
    // With files, the route must be in them; without, the store must know it.
    let known = if plans.is_empty() {
        rows(store, plans).await?
    } else {
        rows(store, plans)
            .await?
            .into_iter()
            .filter(|((p, r), _)| {
                plans
                    .iter()
                    .any(|plan| &plan.name == p && plan.route(r).is_some())
            })
            .collect()
    };
    let (pipeline, route) = resolve(
        &known,
        &args.name,
        args.pipeline.as_deref(),
        !plans.is_empty(),
    )?;
    let (pause, new) = store.pause_route(&pipeline, &route, &by, &why).await?;
    if new {
        writeln!(
            out,
            "paused route {route} of pipeline {pipeline} by {by}: its writes wait until `junction route resume {route}`; intake and planning go on"
        )?;
    } else {
        writeln!(
            out,
            "route {route} of pipeline {pipeline} was already {}",
            paused_note(&pause)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn paused_note(p: &PausedRoute) -> String {
    format!(
        "paused since {} by {}: {}",
        utc(p.paused_at_ms),
        p.paused_by,
        p.reason
    )
}

/// `junction route resume` against an open store.
pub(super) async fn resume_to(
    store: &Store,
    args: &ResumeArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let why = reason(&args.reason)?;
    let by = args.by.who()?;
    let known = rows(store, &[]).await?;
    let (pipeline, route) = resolve(&known, &args.name, args.pipeline.as_deref(), false)?;
    match store.resume_route(&pipeline, &route, &by, &why).await? {
        Some(p) => {
            let waiting = known
                .get(&(pipeline.clone(), route.clone()))
                .map_or(0, |r| r.waiting);
            writeln!(
                out,
                "resumed route {route} of pipeline {pipeline} by {by} ({}); {waiting} waiting write(s) are delivered in source order",
                paused_note(&p)
            )?;
        }
        None => writeln!(
            out,
            "route {route} of pipeline {pipeline} is not paused; nothing to do"
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `junction route list` against an open store.
pub(super) async fn list_to(
    store: &Store,
    plans: &[Plan],
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let rows = rows(store, plans).await?;
    if json {
        write_json(out, &rows.values().collect::<Vec<_>>())?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        writeln!(
            out,
            "no routes known (pass --file FILE to list a pipeline's routes)"
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::default();
    table.row(
        [
            "PIPELINE",
            "ROUTE",
            "STATE",
            "SINCE (UTC)",
            "BY",
            "WAITING",
            "HELD/REVIEW",
            "REASON",
        ]
        .map(str::to_owned)
        .to_vec(),
    );
    for r in rows.values() {
        table.row(vec![
            r.pipeline.clone(),
            r.route.clone(),
            if r.paused { "PAUSED" } else { "running" }.to_owned(),
            r.paused_at_ms.map_or_else(|| "-".to_owned(), utc),
            r.paused_by.clone().unwrap_or_else(|| "-".to_owned()),
            r.waiting.to_string(),
            r.parked.to_string(),
            r.reason.clone().unwrap_or_default(),
        ]);
    }
    out.write_all(table.render().as_bytes())?;
    let paused = rows.values().filter(|r| r.paused).count();
    writeln!(out, "{} route(s), {paused} paused", rows.len())?;
    Ok(ExitCode::SUCCESS)
}
