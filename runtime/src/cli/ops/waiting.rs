//! What `junction holds`, `junction review` and `junction route` share: who decides, the
//! pipeline files a decision is checked against, and a delivery's audit story.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

use super::describe::essentials;
use super::format::{Table, utc};
use crate::config::Plan;
use crate::store::{AuditEntry, Delivery, DeliveryState, Store, WaitingFilter};

/// `--by`: who makes a decision; audited with it.
#[derive(Debug, Clone, Args)]
pub struct ByArg {
    /// Who decides (recorded in the audit log); defaults to $USER.
    #[arg(long, value_name = "WHO")]
    by: Option<String>,
}

impl ByArg {
    /// The operator's name: `--by`, else `$USER`.
    pub(super) fn who(&self) -> anyhow::Result<String> {
        let who = self
            .by
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_default();
        if who.trim().is_empty() {
            bail!("who decides? pass --by WHO (USER is not set)");
        }
        Ok(who.trim().to_owned())
    }
}

/// `--file`: the pipeline files `junction run` runs, for commands that check a decision
/// against the pipeline (its gates, its routes).
#[derive(Debug, Clone, Default, Args)]
pub struct PipelineFiles {
    /// A pipeline file (TOML), as given to `junction run`; repeat for several.
    #[arg(long = "file", value_name = "FILE")]
    pub(super) files: Vec<PathBuf>,
    /// Compiled-component cache directory.
    #[arg(long, env = "JUNCTION_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

impl PipelineFiles {
    /// Loads and checks the files (every problem at once); none given, none loaded. Only the
    /// pipelines' gates, routes and masking are used: nothing connects, so `env:` secrets need
    /// not be set in the operator's shell (a placeholder stands in for any that is not).
    pub(super) fn load(&self) -> anyhow::Result<Vec<Plan>> {
        if self.files.is_empty() {
            return Ok(Vec::new());
        }
        let host = crate::host::Host::new(
            self.cache_dir
                .clone()
                .or_else(crate::host::cache::default_dir),
        )
        .context("cannot start the host to load the pipeline files")?;
        let catalog = crate::pipeline::instances::HostCatalog::new(host);
        let env = |name: &str| {
            let set = std::env::var(name).ok().filter(|v| !v.is_empty());
            Some(set.unwrap_or_else(|| "(not needed by this command)".into()))
        };
        let cwd = std::env::current_dir().unwrap_or_default();
        match crate::config::load(&self.files, &env, &catalog) {
            Ok(loaded) => Ok(loaded.plans),
            Err(diagnostics) => bail!(
                "the pipeline files do not load:\n{}",
                diagnostics.relative_to(&cwd)
            ),
        }
    }
}

/// A reason given on the command line, checked to say something.
pub(super) fn reason(text: &str) -> anyhow::Result<String> {
    let text = text.trim();
    if text.is_empty() {
        bail!("--reason must say why (it is empty)");
    }
    Ok(text.to_owned())
}

/// The delivery `id`, which must be in `state`; otherwise an error naming what it is.
pub(super) async fn delivery_in(
    store: &Store,
    id: i64,
    state: DeliveryState,
    list: &str,
) -> anyhow::Result<Delivery> {
    let Some(d) = store.delivery(id).await? else {
        bail!("no delivery {id} (see `{list}`)");
    };
    if d.state != state {
        let reason = d
            .state_reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        bail!(
            "delivery {id} is not {}: it is {}{reason} (see `{list}`)",
            shown(state),
            d.state
        );
    }
    Ok(d)
}

fn shown(state: DeliveryState) -> &'static str {
    match state {
        DeliveryState::Review => "in review",
        other => other.as_str(),
    }
}

/// The audit entries of one delivery and of the change it came from (not its other routes'
/// writes), oldest first.
pub(super) async fn story(store: &Store, d: &Delivery) -> anyhow::Result<Vec<AuditEntry>> {
    Ok(store
        .trace(&d.idempotency_key)
        .await?
        .into_iter()
        .filter(|e| {
            e.delivery_id == Some(d.id)
                || (e.delivery_id.is_none() && e.change_id == Some(d.change_id))
        })
        .collect())
}

/// Writes `entries` as a table of time, kind and essentials.
pub(super) fn write_story(out: &mut dyn Write, entries: &[AuditEntry]) -> anyhow::Result<()> {
    let mut table = Table::default();
    for e in entries {
        table.row(vec![
            format!("  {}", utc(e.at_ms)),
            e.kind.to_string(),
            essentials(e),
        ]);
    }
    out.write_all(table.render().as_bytes())?;
    Ok(())
}

/// The masked document of the entry that parked `d` (its `held` or `review` entry, else its
/// plan), as JSON; `null` if none is recorded.
pub(super) fn masked_document(entries: &[AuditEntry]) -> serde_json::Value {
    entries
        .iter()
        .rev()
        .find_map(|e| e.detail.get("document").filter(|d| !d.is_null()).cloned())
        .unwrap_or(serde_json::Value::Null)
}

/// `in pipeline P on route R`, for what a list was narrowed to.
pub(super) fn filter_note(filter: &WaitingFilter) -> String {
    let mut note = String::new();
    if let Some(p) = &filter.pipeline {
        note.push_str(&format!(" in pipeline {p}"));
    }
    if let Some(r) = &filter.route {
        note.push_str(&format!(" on route {r}"));
    }
    note
}

/// Writes waiting deliveries (held or in review) as a table: id, since when, where, which
/// entity, and why (`why` names that last column).
pub(super) fn write_waiting(
    out: &mut dyn Write,
    waiting: &[Delivery],
    since: &str,
    why: &str,
) -> anyhow::Result<()> {
    let mut table = Table::default();
    table.row(
        ["ID", since, "PIPELINE", "ROUTE -> TARGET", "ENTITY", why]
            .map(str::to_owned)
            .to_vec(),
    );
    // Nothing changes a waiting delivery until it is decided: its last update is when it
    // started waiting.
    for d in waiting {
        table.row(vec![
            d.id.to_string(),
            utc(d.updated_at_ms),
            d.pipeline.clone(),
            format!("{} -> {}", d.route, d.target),
            format!("{} {} v{}", d.object, d.key, d.source_version),
            d.state_reason.clone().unwrap_or_default(),
        ]);
    }
    out.write_all(table.render().as_bytes())?;
    Ok(())
}
