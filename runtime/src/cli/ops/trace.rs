//! `junction trace`: the chronology of one change or entity across systems, from the audit chain.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use serde::Serialize;
use serde_json::Value;

use super::describe::{essentials, final_state, text};
use super::format::{Table, count, utc};
use super::{Access, StoreArg, with_store, write_json};
use crate::store::{AuditEntry, AuditKind, Delivery, DeliveryState, Store};

/// `junction trace`.
#[derive(Debug, Args)]
#[command(after_help = "Times are UTC. Documents and messages are shown masked, as stored.")]
pub struct TraceArgs {
    /// An entity key (e.g. `sub_123`), a source event id, an idempotency key or a correlation
    /// id.
    #[arg(value_name = "KEY|EVENT-ID|IDEMPOTENCY-KEY|CORRELATION-ID")]
    needle: String,
    /// Print the audit entries and the deliveries' final states as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

/// Prints the story of one change or entity.
pub async fn trace(args: TraceArgs) -> anyhow::Result<ExitCode> {
    with_store(&args.store.store, Access::Read, async |store, out| {
        trace_to(store, &args.needle, args.json, out).await
    })
    .await
}

/// [`trace`] against an open store.
pub(super) async fn trace_to(
    store: &Store,
    needle: &str,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let story = Story::load(store, needle).await?;
    if json {
        write_json(out, &story)?;
    } else {
        out.write_all(story.render().as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What `junction trace NEEDLE` prints, as text.
pub(crate) async fn trace_text(store: &Store, needle: &str) -> anyhow::Result<String> {
    Ok(Story::load(store, needle).await?.render())
}

/// Everything `trace` shows.
#[derive(Serialize)]
struct Story {
    /// What was looked up.
    query: String,
    /// The audit entries, in chain order.
    entries: Vec<AuditEntry>,
    /// Where each delivery ended up (or stands now).
    deliveries: Vec<Outcome>,
    /// Changes that planned no delivery, and why.
    undelivered: Vec<Undelivered>,
    /// Each change's source system, for lines about the change itself.
    #[serde(skip)]
    sources: BTreeMap<i64, String>,
}

/// A delivery's final (or current) state.
#[derive(Serialize)]
pub(super) struct Outcome {
    pub(super) id: i64,
    pub(super) pipeline: String,
    pub(super) route: String,
    pub(super) target: String,
    pub(super) object: String,
    pub(super) key: String,
    pub(super) source_event_id: String,
    pub(super) source_version: i64,
    pub(super) idempotency_key: String,
    pub(super) state: DeliveryState,
    pub(super) reason: Option<String>,
    pub(super) attempts: i32,
    pub(super) redrives: i32,
    pub(super) target_ref: Option<String>,
    pub(super) job_ref: Option<String>,
    pub(super) next_at_ms: i64,
    /// The open dead letter, when the delivery is dead.
    pub(super) dead_letter_id: Option<i64>,
    /// The pause of its route, when its write waits for `junction route resume`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) paused: Option<String>,
}

/// A change with no delivery: suppressed as a whole, or not planned yet.
#[derive(Serialize)]
struct Undelivered {
    change_id: i64,
    pipeline: String,
    object: String,
    key: String,
    event_id: Option<String>,
    /// Why it was suppressed; `None` when nothing was planned for it (yet).
    suppressed: Option<String>,
}

impl Story {
    async fn load(store: &Store, needle: &str) -> anyhow::Result<Story> {
        let entries = store.trace(needle).await?;
        if entries.is_empty() {
            bail!(
                "nothing in the store matches `{needle}` (looked for an entity key, a source \
                 event id, an idempotency key and a correlation id)"
            );
        }
        let change_ids: BTreeSet<i64> = entries.iter().filter_map(|e| e.change_id).collect();
        let paused = store.paused_routes().await?;
        let mut sources = BTreeMap::new();
        let mut deliveries = Vec::new();
        let mut undelivered = Vec::new();
        for &change_id in &change_ids {
            if let Some(change) = store.change(change_id).await? {
                sources.insert(change_id, change.source);
            }
            let of_change = store.deliveries_of_change(change_id).await?;
            if of_change.is_empty() {
                undelivered.extend(undelivered_change(&entries, change_id));
            }
            deliveries.extend(of_change.into_iter().map(|d| {
                let mut outcome = outcome(&entries, d);
                if matches!(
                    outcome.state,
                    DeliveryState::Pending | DeliveryState::InFlight
                ) {
                    outcome.paused = paused
                        .iter()
                        .find(|p| p.pipeline == outcome.pipeline && p.route == outcome.route)
                        .map(|p| {
                            format!(
                                "route paused since {} by {}: {}; junction route resume {}",
                                utc(p.paused_at_ms),
                                p.paused_by,
                                p.reason,
                                p.route
                            )
                        });
                }
                outcome
            }));
        }
        Ok(Story {
            query: needle.to_owned(),
            entries,
            deliveries,
            undelivered,
            sources,
        })
    }

    fn render(&self) -> String {
        let keys: BTreeSet<(&str, &str)> = self
            .entries
            .iter()
            .map(|e| (e.object.as_str(), e.key.as_str()))
            .collect();
        let objects = keys.iter().map(|(o, _)| o).collect::<BTreeSet<_>>().len();
        let events: BTreeSet<&str> = self
            .entries
            .iter()
            .filter_map(|e| e.event_id.as_deref())
            .collect();
        let routes: BTreeMap<i64, String> = self
            .deliveries
            .iter()
            .map(|d| (d.id, format!("{} -> {}", d.route, d.target)))
            .collect();

        let entities: Vec<String> = keys.iter().map(|(o, k)| format!("{o} {k}")).collect();
        let mut text = format!(
            "trace of `{}`: {}, {}, {} (times UTC)\n",
            self.query,
            entities.join(", "),
            count(events.len() as i64, "event"),
            count(self.entries.len() as i64, "audit entry"),
        );
        let mut table = Table::default();
        for entry in &self.entries {
            let mut row = vec![utc(entry.at_ms), entry.pipeline.clone()];
            // Only when the story spans several entities or events do lines need to say which.
            if keys.len() > 1 {
                row.push(if objects > 1 {
                    format!("{} {}", entry.object, entry.key)
                } else {
                    entry.key.clone()
                });
            }
            if events.len() > 1 {
                row.push(entry.event_id.clone().unwrap_or_default());
            }
            row.push(self.system(entry, &routes));
            row.push(entry.kind.as_str().replace('_', " "));
            row.push(essentials(entry));
            table.row(row);
        }
        text.push_str(&table.render());

        text.push_str("summary:\n");
        let mut summary = Table::default();
        for d in &self.deliveries {
            summary.row(vec![
                format!("  delivery {}", d.id),
                d.key.clone(),
                format!("{} -> {}", d.route, d.target),
                format!("v{}", d.source_version),
                final_state(d),
            ]);
        }
        for u in &self.undelivered {
            let state = match &u.suppressed {
                Some(reason) => format!("suppressed: {reason}"),
                None => "received, no delivery planned (yet)".to_owned(),
            };
            summary.row(vec![
                format!("  change {}", u.change_id),
                u.key.clone(),
                u.event_id.clone().unwrap_or_default(),
                String::new(),
                state,
            ]);
        }
        text.push_str(&summary.render());
        text
    }

    /// The system a line is about: the route and target for a delivery, else the source.
    fn system(&self, entry: &AuditEntry, routes: &BTreeMap<i64, String>) -> String {
        if let Some(route) = entry.delivery_id.and_then(|id| routes.get(&id)) {
            return route.clone();
        }
        let detail = &entry.detail;
        if let (Some(route), Some(target)) = (text(detail, "route"), text(detail, "target")) {
            return format!("{route} -> {target}");
        }
        text(detail, "source")
            .or_else(|| {
                entry
                    .change_id
                    .and_then(|id| self.sources.get(&id).cloned())
            })
            .unwrap_or_else(|| "-".to_owned())
    }
}

fn outcome(entries: &[AuditEntry], d: Delivery) -> Outcome {
    let dead_letter_id = (d.state == DeliveryState::Dead)
        .then(|| {
            entries
                .iter()
                .rev()
                .filter(|e| e.delivery_id == Some(d.id) && e.kind == AuditKind::DeadLettered)
                .find_map(|e| e.detail.get("dead_letter_id").and_then(Value::as_i64))
        })
        .flatten();
    Outcome {
        id: d.id,
        pipeline: d.pipeline,
        route: d.route,
        target: d.target,
        object: d.object,
        key: d.key,
        source_event_id: d.source_event_id,
        source_version: d.source_version,
        idempotency_key: d.idempotency_key,
        state: d.state,
        reason: d.state_reason,
        attempts: d.attempts,
        redrives: d.redrives,
        target_ref: d.target_ref,
        job_ref: d.job_ref,
        next_at_ms: d.next_at_ms,
        dead_letter_id,
        paused: None,
    }
}

fn undelivered_change(entries: &[AuditEntry], change_id: i64) -> Option<Undelivered> {
    let first = entries.iter().find(|e| e.change_id == Some(change_id))?;
    let suppressed = entries
        .iter()
        .filter(|e| {
            e.change_id == Some(change_id)
                && e.delivery_id.is_none()
                && e.kind == AuditKind::Suppressed
        })
        .find_map(|e| text(&e.detail, "reason"));
    Some(Undelivered {
        change_id,
        pipeline: first.pipeline.clone(),
        object: first.object.clone(),
        key: first.key.clone(),
        event_id: first.event_id.clone(),
        suppressed,
    })
}
