//! One-line descriptions of audit entries and delivery states, for `junction trace`.

use serde_json::Value;

use super::format::{count, utc};
use super::trace::Outcome;
use crate::store::{AuditEntry, AuditKind, DeliveryState};

/// The summary of a delivery's state, in words.
pub(super) fn final_state(d: &Outcome) -> String {
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
        DeliveryState::Held => format!("held: {reason} (junction holds show {})", d.id),
        DeliveryState::Review => format!("IN REVIEW: {reason} (junction review show {})", d.id),
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
    if let Some(paused) = &d.paused {
        state.push_str(&format!(" [{paused}]"));
    }
    if d.redrives > 0 {
        state.push_str(&format!(" [redriven {}]", count(d.redrives.into(), "time")));
    }
    state
}

/// The essentials of one entry, from its (masked) detail, in one line.
pub(super) fn essentials(entry: &AuditEntry) -> String {
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
        AuditKind::Released
        | AuditKind::Approved
        | AuditKind::Rejected
        | AuditKind::RoutePaused
        | AuditKind::RouteResumed => {
            push(text(d, "note"));
            push(text(d, "by").map(|by| format!("by {by}")));
            push(text(d, "reason").map(|r| format!("\"{r}\"")));
            if d.get("override").and_then(Value::as_bool) == Some(true) {
                push(Some("OVERRIDE: the gate still failed".to_owned()));
            }
        }
        AuditKind::Review => {
            push(text(d, "reason"));
            push(document(d));
        }
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
            push(int(d, "repair").map(|n| format!("corrective write {n}")));
            push(text(d, "write_key").map(|k| format!("under key {k}")));
            push(int(d, "next_at_ms").map(|t| format!("next try {}", utc(t))));
            push(int(d, "attempts").map(|n| format!("after {}", count(n, "attempt"))));
        }
        AuditKind::Accepted => {
            let step = d
                .get("step_of_several")
                .and_then(serde_json::Value::as_bool)
                == Some(true);
            push(text(d, "job_ref").map(|j| {
                if step {
                    format!("job {j}, one step of several")
                } else {
                    format!("job {j}")
                }
            }));
            push(int(d, "confirm_deadline_ms").map(|t| format!("confirm by {}", utc(t))));
        }
        AuditKind::Applied | AuditKind::JobSucceeded => {
            push(text(d, "job_ref").map(|j| format!("job {j} done")));
            push(text(d, "next"));
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
        AuditKind::Conflict => {
            push(text(d, "rule"));
            let values = |side: &str| {
                d.get(side)
                    .and_then(|s| s.get("values"))
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(f, v)| format!("{f}={v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
            };
            let who = |side: &str| d.get(side).and_then(|s| text(s, "connector"));
            push(
                who("loser")
                    .zip(values("loser"))
                    .map(|(c, v)| format!("{c} sent {v}")),
            );
            push(
                who("owner")
                    .zip(values("owner"))
                    .map(|(c, v)| format!("{c} holds {v}: the owner wins")),
            );
            push(match d.get("repair") {
                Some(Value::Object(r)) => r
                    .get("route")
                    .and_then(Value::as_str)
                    .map(|route| format!("repaired through {route}")),
                Some(Value::String(why)) => Some(why.clone()),
                _ => None,
            });
        }
        AuditKind::Shadowed => {
            push(text(d, "route").map(|r| format!("shadow route {r}: nothing written")));
            push(match d.get("differing").and_then(Value::as_array) {
                Some(fields) if fields.is_empty() => Some("the target already holds it".into()),
                Some(fields) => Some(format!(
                    "would change {}",
                    fields
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                None => None,
            });
            push(text(d, "error"));
        }
        AuditKind::Replayed => {
            push(text(d, "note"));
            push(match d.get("in_window").and_then(Value::as_bool) {
                Some(false) => Some("a later write of the entity, sent again too".into()),
                _ => None,
            });
            push(text(d, "idempotency_key").map(|k| format!("under key {k}")));
        }
        AuditKind::Reconciled => {
            push(text(d, "job").map(|j| format!("reconciliation {j}")));
            push(int(d, "run").map(|r| format!("run {r}")));
            push(match (text(d, "owner"), text(d, "target")) {
                (Some(owner), Some(target)) => Some(format!("{target} repaired from {owner}")),
                _ => None,
            });
            push(
                d.get("before")
                    .filter(|v| !v.is_null())
                    .map(|v| format!("{} held {v}", text(d, "target").unwrap_or_default())),
            );
            push(
                d.get("after")
                    .filter(|v| !v.is_null())
                    .map(|v| format!("owner holds {v}")),
            );
        }
    }
    parts.join("  ")
}

/// A string field, or a non-null scalar as text.
pub(super) fn text(detail: &Value, field: &str) -> Option<String> {
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
/// What a write changes, field by field (`email: hash:1a.. -> hash:9f..`) when the source told
/// the previous values, else the whole document written.
fn document(detail: &Value) -> Option<String> {
    if let Some(changed) = detail.get("changed").and_then(Value::as_object) {
        if changed.is_empty() {
            return Some("changes nothing the target does not have from before".into());
        }
        let fields: Vec<String> = changed
            .iter()
            .map(|(field, c)| format!("{field}: {} -> {}", c["before"], c["after"]))
            .collect();
        return Some(format!("changes {}", fields.join("; ")));
    }
    match detail.get("document")? {
        Value::Null => None,
        doc => Some(format!("document {doc}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::essentials;
    use crate::store::{AuditEntry, AuditKind};

    fn entry(kind: AuditKind, detail: serde_json::Value) -> AuditEntry {
        AuditEntry {
            seq: 1,
            chain_seq: 1,
            at_ms: 0,
            pipeline: "p".into(),
            correlation_id: "c".into(),
            object: "customer".into(),
            key: "cus_1".into(),
            event_id: None,
            change_id: None,
            delivery_id: None,
            idempotency_key: None,
            kind,
            detail,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    /// Replays, repairs, conflicts and shadow comparisons read as sentences, not JSON dumps.
    #[test]
    fn the_consistency_entries_read_as_sentences() {
        let replayed = entry(
            AuditKind::Replayed,
            json!({"note": "replayed by ops: restore", "in_window": false, "idempotency_key": "jn-1"}),
        );
        assert_eq!(
            essentials(&replayed),
            "replayed by ops: restore  a later write of the entity, sent again too  under key jn-1"
        );
        let repaired = entry(
            AuditKind::Reconciled,
            json!({"job": "customers", "run": 4, "owner": "stripe", "target": "netsuite",
                   "before": {"name": "Old"}, "after": {"name": "New"}}),
        );
        assert_eq!(
            essentials(&repaired),
            "reconciliation customers  run 4  netsuite repaired from stripe  netsuite held {\"name\":\"Old\"}  owner holds {\"name\":\"New\"}"
        );
        let conflict = entry(
            AuditKind::Conflict,
            json!({"rule": "[ownership] customer: salesforce owns name",
                   "loser": {"connector": "stripe", "values": {"name": "Ada S."}},
                   "owner": {"connector": "salesforce", "values": {"name": "Ada Ltd"}},
                   "repair": {"route": "profiles-to-billing"}}),
        );
        assert_eq!(
            essentials(&conflict),
            "[ownership] customer: salesforce owns name  stripe sent name=\"Ada S.\"  salesforce holds name=\"Ada Ltd\": the owner wins  repaired through profiles-to-billing"
        );
        let shadowed = entry(
            AuditKind::Shadowed,
            json!({"route": "r", "differing": ["email"]}),
        );
        assert_eq!(
            essentials(&shadowed),
            "shadow route r: nothing written  would change email"
        );
    }
}
