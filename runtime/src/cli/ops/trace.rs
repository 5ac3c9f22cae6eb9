//! `junction trace`: the chronology of one change or entity across systems, from the audit chain.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use serde::Serialize;
use serde_json::Value;

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
struct Outcome {
    id: i64,
    pipeline: String,
    route: String,
    target: String,
    object: String,
    key: String,
    source_event_id: String,
    source_version: i64,
    idempotency_key: String,
    state: DeliveryState,
    reason: Option<String>,
    attempts: i32,
    redrives: i32,
    target_ref: Option<String>,
    job_ref: Option<String>,
    next_at_ms: i64,
    /// The open dead letter, when the delivery is dead.
    dead_letter_id: Option<i64>,
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
            deliveries.extend(of_change.into_iter().map(|d| outcome(&entries, d)));
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
                row.push(entry.key.clone());
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

/// The summary of a delivery's state, in words.
fn final_state(d: &Outcome) -> String {
    let reason = d.reason.as_deref().unwrap_or("no reason recorded");
    let attempts = count(d.attempts.into(), "attempt");
    let mut state = match d.state {
        DeliveryState::Confirmed => match &d.target_ref {
            Some(target_ref) if !target_ref.is_empty() => {
                format!("confirmed as {target_ref} after {attempts}")
            }
            _ => format!("confirmed after {attempts}"),
        },
        DeliveryState::Dead => match d.dead_letter_id {
            Some(id) => format!(
                "DEAD: {reason} after {attempts} (dead letter {id}: junction dlq show {id})"
            ),
            None => format!("DEAD: {reason} after {attempts}"),
        },
        DeliveryState::Suppressed => format!("suppressed: {reason}"),
        DeliveryState::Held => format!("held: {reason}"),
        DeliveryState::Pending if d.attempts == 0 => format!("pending, due {}", utc(d.next_at_ms)),
        DeliveryState::Pending => format!("pending, {attempts} so far, next {}", utc(d.next_at_ms)),
        DeliveryState::InFlight => format!("in flight, {attempts} so far"),
        DeliveryState::AwaitingJob => format!(
            "awaiting job {}, next check {}",
            d.job_ref.as_deref().unwrap_or("?"),
            utc(d.next_at_ms)
        ),
        DeliveryState::Confirming => format!("confirming, next read-back {}", utc(d.next_at_ms)),
    };
    if d.redrives > 0 {
        state.push_str(&format!(" [redriven {}]", count(d.redrives.into(), "time")));
    }
    state
}

/// The essentials of one entry, from its (masked) detail, in one line.
fn essentials(entry: &AuditEntry) -> String {
    let d = &entry.detail;
    let mut parts: Vec<String> = Vec::new();
    let mut push = |part: Option<String>| parts.extend(part);
    match entry.kind {
        AuditKind::Received => {
            push(entry.event_id.as_ref().map(|e| format!("event {e}")));
            push(text(d, "operation"));
            push(int(d, "source_version").map(|v| format!("version {v}")));
            push(int(d, "occurred_at_ms").map(|t| format!("occurred {}", utc(t))));
            push(int(d, "effective_at_ms").map(|t| format!("effective {}", utc(t))));
        }
        AuditKind::Duplicate => {
            push(entry.event_id.as_ref().map(|e| format!("event {e} again")));
            push(int(d, "first_change_id").map(|c| format!("already stored as change {c}")));
        }
        AuditKind::Planned => {
            push(int(d, "effective_at_ms").map(|t| format!("effective {}", utc(t))));
            push(int(d, "not_before_ms").map(|t| format!("held until {} (future-dated)", utc(t))));
            push(document(d));
        }
        AuditKind::Suppressed | AuditKind::Held => {
            push(text(d, "reason"));
            if let (Some(version), Some(last)) =
                (int(d, "source_version"), int(d, "last_confirmed_version"))
            {
                push(Some(format!(
                    "version {version} is older than confirmed {last}"
                )));
            }
            push(document(d));
        }
        AuditKind::Released => push(text(d, "note")),
        AuditKind::Attempt => {
            push(int(d, "n").map(|n| format!("#{n}")));
            push(text(d, "outcome"));
            push(text(d, "error_class"));
            push(int(d, "status_code").map(|s| format!("HTTP {s}")));
            push(int(d, "latency_ms").map(|ms| format!("{ms} ms")));
            push(text(d, "message").map(|m| format!("\"{m}\"")));
        }
        AuditKind::RetryScheduled | AuditKind::NotConfirmed => {
            push(text(d, "error"));
            push(int(d, "next_at_ms").map(|t| format!("next try {}", utc(t))));
            push(int(d, "attempts").map(|n| format!("after {}", count(n, "attempt"))));
        }
        AuditKind::Accepted => {
            push(text(d, "job_ref").map(|j| format!("job {j}")));
            push(int(d, "confirm_deadline_ms").map(|t| format!("confirm by {}", utc(t))));
        }
        AuditKind::Applied | AuditKind::JobSucceeded => {
            push(text(d, "job_ref").map(|j| format!("job {j} done")));
            push(text(d, "target_ref").map(|r| format!("target ref {r}")));
            push(int(d, "confirm_deadline_ms").map(|t| format!("confirm by {}", utc(t))));
        }
        AuditKind::Confirmed => {
            push(text(d, "target_ref").map(|r| format!("read back {r}")));
            push(int(d, "source_version").map(|v| format!("version {v}")));
            push(int(d, "attempts").map(|n| format!("after {}", count(n, "attempt"))));
        }
        AuditKind::DeadLettered => {
            push(text(d, "reason"));
            push(int(d, "attempts").map(|n| format!("after {}", count(n, "attempt"))));
            push(int(d, "dead_letter_id").map(|id| format!("dead letter {id}")));
        }
        AuditKind::Redriven => {
            push(int(d, "dead_letter_id").map(|id| format!("dead letter {id}")));
            push(int(d, "redrives").map(|n| format!("redrive {n}")));
        }
        AuditKind::Replayed | AuditKind::Reconciled => push(Some(d.to_string())),
    }
    parts.join("  ")
}

/// A string field, or a non-null scalar as text.
fn text(detail: &Value, field: &str) -> Option<String> {
    match detail.get(field)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn int(detail: &Value, field: &str) -> Option<i64> {
    detail.get(field).and_then(Value::as_i64)
}

/// The masked document of a plan, as compact JSON.
fn document(detail: &Value) -> Option<String> {
    match detail.get("document")? {
        Value::Null => None,
        doc => Some(format!("document {doc}")),
    }
}
