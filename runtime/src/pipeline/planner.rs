//! Planning one change: which routes carry it, whether its source owns the object, the `when`
//! filter, gates, the mapping, the effective date, and a deterministic idempotency key. The
//! result (deliveries, suppressions, holds and their audit) is committed in one transaction.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::expr;
use crate::config::{ConfirmFields, FutureDated, GateTarget, Mode, Plan, Priority, Route};
use crate::services::masking::mask_document;
use crate::store::{AuditKind, ConfirmSpec, InitialState, NewAudit, NewDelivery, StoredChange};

/// The idempotency key of a write: the same (pipeline, route, source, source event, target)
/// always gives the same key, so a replan after a crash never becomes a second write.
pub fn idempotency_key(
    pipeline: &str,
    route: &str,
    source: &str,
    event_id: &str,
    target: &str,
) -> String {
    let digest = Sha256::digest(format!(
        "{pipeline}\u{1f}{route}\u{1f}{source}\u{1f}{event_id}\u{1f}{target}"
    ));
    format!("jn-{}", &hex::encode(digest)[..40])
}

fn priority(p: Priority) -> i32 {
    match p {
        Priority::Financial => 0,
        Priority::Normal => 1,
        Priority::Low => 2,
    }
}

/// Plans `change` under `plan` at `now_ms`.
pub fn plan_change(
    plan: &Plan,
    change: &StoredChange,
    now_ms: i64,
) -> (Vec<NewDelivery>, Vec<NewAudit>) {
    let routes: Vec<&Route> = plan
        .routes
        .iter()
        .filter(|r| r.from == change.source && r.object == change.object)
        .collect();
    let audit = |kind: AuditKind, idempotency_key: Option<String>, detail: Value| {
        change.audit(kind, idempotency_key, detail)
    };
    if routes.is_empty() {
        let reason = match plan.ownership.get(&change.object) {
            Some(o) if o.owner != change.source => {
                format!("not the owner: {} owns {}", o.owner, change.object)
            }
            _ => format!("no route carries {} from {}", change.object, change.source),
        };
        return (
            vec![],
            vec![audit(
                AuditKind::Suppressed,
                None,
                json!({ "reason": reason }),
            )],
        );
    }
    let ctx = expr::change_value(change);
    let mut deliveries = Vec::new();
    let mut entries = Vec::new();
    for route in routes {
        let key = idempotency_key(
            &plan.name,
            &route.name,
            &change.source,
            &super::review::key_event(change),
            &route.to,
        );
        let (document, state) = decide(plan, route, change, &ctx);
        let state = match (state, route.mode) {
            (InitialState::Pending, Mode::Shadow) => InitialState::Suppressed {
                reason: "shadow mode: planned, not written".into(),
            },
            (s, _) => s,
        };
        let state = super::review::screen(state, change, &ctx);
        let future = change.effective_at_ms.filter(|&t| t > now_ms);
        let not_before_ms = match route.future_dated {
            FutureDated::Hold => future,
            FutureDated::Pass => None,
        };
        let mut shown = document.clone();
        mask_document(&plan.masking, &change.object, &mut shown);
        let (kind, detail) = match &state {
            InitialState::Pending => (
                AuditKind::Planned,
                json!({ "route": route.name, "target": route.to, "document": shown, "effective_at_ms": change.effective_at_ms, "not_before_ms": not_before_ms }),
            ),
            InitialState::Held { reason } => (
                AuditKind::Held,
                json!({ "route": route.name, "target": route.to, "reason": reason, "document": shown }),
            ),
            InitialState::Review { reason } => {
                let mut detail = super::review::evidence(Some(plan), change);
                detail["route"] = json!(route.name);
                detail["target"] = json!(route.to);
                detail["reason"] = json!(reason);
                detail["document"] = shown.clone();
                (AuditKind::Review, detail)
            }
            InitialState::Suppressed { reason } => (
                AuditKind::Suppressed,
                json!({ "route": route.name, "target": route.to, "reason": reason, "document": shown }),
            ),
        };
        entries.push(audit(kind, Some(key.clone()), detail));
        let fields = match &route.confirm.fields {
            ConfirmFields::All => document
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
            ConfirmFields::Only(fields) => fields.clone(),
        };
        deliveries.push(NewDelivery {
            pipeline: plan.name.clone(),
            route: route.name.clone(),
            target: route.to.clone(),
            object: change.object.clone(),
            key: change.key.clone(),
            operation: change.operation,
            document: document.to_string(),
            effective_at_ms: change.effective_at_ms,
            // Every write is dated: a target never assumes "now" (a retry a day later still
            // dates the change when it happened).
            occurred_at_ms: change.occurred_at_ms,
            source_version: change.source_version,
            idempotency_key: key,
            priority: priority(route.priority),
            not_before_ms,
            state,
            correlation_id: change.correlation_id.clone(),
            confirm: Some(ConfirmSpec {
                fields,
                within_ms: route.confirm.within.as_millis() as i64,
            }),
            max_attempts: route.retry.attempts as i32,
        });
    }
    (deliveries, entries)
}

/// The document to write and the delivery's initial state.
fn decide(plan: &Plan, route: &Route, change: &StoredChange, ctx: &Value) -> (Value, InitialState) {
    if let Some(owner) = plan.ownership.get(&change.object).map(|o| o.owner.as_str()) {
        if owner != change.source {
            return (
                Value::Null,
                InitialState::Suppressed {
                    reason: format!("not the owner: {owner} owns {}", change.object),
                },
            );
        }
    }
    if let Some(when) = &route.when {
        match expr::holds(when, ctx) {
            Ok(true) => {}
            Ok(false) => {
                return (
                    Value::Null,
                    InitialState::Suppressed {
                        reason: format!("when `{}` is false", when.source),
                    },
                );
            }
            Err(e) => {
                return (
                    Value::Null,
                    InitialState::Held {
                        reason: format!("when: {e}"),
                    },
                );
            }
        }
    }
    let base = match (&ctx["after"], &ctx["before"]) {
        (Value::Null, Value::Null) => {
            return (
                Value::Null,
                InitialState::Suppressed {
                    reason: "the change carries no document".into(),
                },
            );
        }
        (Value::Null, before) => before.clone(),
        (after, _) => after.clone(),
    };
    let mut document = base;
    if let Some(map) = &route.map {
        for (field, e) in map {
            match expr::eval(e, ctx) {
                Ok(v) => {
                    if let Some(obj) = document.as_object_mut() {
                        obj.insert(field.clone(), v);
                    }
                }
                Err(err) => {
                    return (
                        document,
                        InitialState::Held {
                            reason: format!("map `{field}`: {err}"),
                        },
                    );
                }
            }
        }
    }
    for gate in plan.gates.values() {
        let applies = gate.before.iter().any(|t| match t {
            GateTarget::Object(o) => *o == change.object,
            GateTarget::Route(r) => *r == route.name,
        });
        if !applies {
            continue;
        }
        match expr::holds(&gate.require, ctx) {
            Ok(true) => {}
            Ok(false) => {
                return (
                    document,
                    InitialState::Held {
                        reason: format!(
                            "gate {}: `{}` is false: held, nothing is written",
                            gate.name, gate.require.source
                        ),
                    },
                );
            }
            Err(e) => {
                return (
                    document,
                    InitialState::Held {
                        reason: format!("gate {}: {e}", gate.name),
                    },
                );
            }
        }
    }
    (document, InitialState::Pending)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ModuleCatalog, ModuleInfo, ModuleRef};

    struct Catalog;

    impl ModuleCatalog for Catalog {
        fn describe(&self, module: &ModuleRef) -> Result<ModuleInfo, String> {
            let all = ["customer", "subscription", "payment"]
                .map(String::from)
                .to_vec();
            Ok(ModuleInfo {
                name: module.to_string(),
                source_objects: all.clone(),
                sink_objects: all,
                webhooks: true,
                ..ModuleInfo::default()
            })
        }
    }

    const PIPELINE: &str = r#"
[pipeline]
name = "p"
[connectors.src]
module = "builtin:src"
allow-hosts = ["src.example"]
[connectors.dst]
module = "builtin:dst"
allow-hosts = ["dst.example"]
[ownership]
subscription = "src"
payment = "src"
[[source]]
connector = "src"
webhook = "/hooks/src"
objects = ["subscription", "payment"]
[[route]]
name = "subs"
from = "src"
to = "dst"
object = "subscription"
when = "change.after.status != 'incomplete'"
map = { interval = "'year'" }
[[route]]
name = "subs-shadow"
from = "src"
to = "dst"
object = "subscription"
mode = "shadow"
[[route]]
name = "payouts"
from = "src"
to = "dst"
object = "payment"
[gates.kyc]
before = ["payment"]
require = "change.after.kyc_status == 'verified'"
"#;

    fn plan() -> Plan {
        let loaded = crate::config::load_str(
            std::path::Path::new("p.toml"),
            PIPELINE,
            &|_| None,
            &Catalog,
        )
        .unwrap_or_else(|d| panic!("{d}"));
        loaded.plans.into_iter().next().unwrap()
    }

    fn change(object: &str, source: &str, after: serde_json::Value) -> StoredChange {
        StoredChange {
            id: 1,
            pipeline: "p".into(),
            source: source.into(),
            source_event_id: "evt_1".into(),
            object: object.into(),
            key: "k1".into(),
            operation: crate::store::Operation::Update,
            before: None,
            after: Some(after.to_string()),
            occurred_at_ms: 1,
            effective_at_ms: None,
            source_version: 1,
            metadata: "{}".into(),
            correlation_id: "c-1".into(),
            received_at_ms: 1,
        }
    }

    #[test]
    fn when_map_shadow_gates_and_ownership_decide_each_delivery() {
        let plan = plan();
        let sub = |status: &str| {
            change(
                "subscription",
                "src",
                json!({"id": "k1", "status": status, "interval": "month"}),
            )
        };

        let (deliveries, audit) = plan_change(&plan, &sub("active"), 0);
        assert_eq!(deliveries.len(), 2);
        assert_eq!(deliveries[0].state, InitialState::Pending);
        let doc: Value = serde_json::from_str(&deliveries[0].document).unwrap();
        assert_eq!(doc["interval"], "year", "the map overrides the field");
        assert!(
            matches!(&deliveries[1].state, InitialState::Suppressed { reason } if reason.contains("shadow"))
        );
        assert_eq!(audit.len(), 2);

        let (deliveries, _) = plan_change(&plan, &sub("incomplete"), 0);
        assert!(
            matches!(&deliveries[0].state, InitialState::Suppressed { reason } if reason.contains("when"))
        );

        let unverified = change(
            "payment",
            "src",
            json!({"id": "k1", "kyc_status": "pending"}),
        );
        let (deliveries, _) = plan_change(&plan, &unverified, 0);
        assert!(
            matches!(&deliveries[0].state, InitialState::Held { reason } if reason.contains("gate kyc"))
        );
        let verified = change(
            "payment",
            "src",
            json!({"id": "k1", "kyc_status": "verified"}),
        );
        assert_eq!(
            plan_change(&plan, &verified, 0).0[0].state,
            InitialState::Pending
        );

        let foreign = change(
            "subscription",
            "dst",
            json!({"id": "k1", "status": "active"}),
        );
        let (deliveries, audit) = plan_change(&plan, &foreign, 0);
        assert!(deliveries.is_empty());
        assert!(
            audit[0].detail["reason"]
                .as_str()
                .unwrap()
                .contains("not the owner"),
            "{:?}",
            audit[0].detail
        );
    }

    #[test]
    fn idempotency_keys_are_deterministic_and_distinct() {
        let a = idempotency_key("p", "r", "stripe", "evt_1", "netsuite");
        assert_eq!(a, idempotency_key("p", "r", "stripe", "evt_1", "netsuite"));
        assert_ne!(a, idempotency_key("p", "r", "stripe", "evt_2", "netsuite"));
        assert_ne!(a, idempotency_key("p", "r2", "stripe", "evt_1", "netsuite"));
        assert_ne!(
            idempotency_key("p", "ab", "c", "e", "t"),
            idempotency_key("p", "a", "bc", "e", "t")
        );
    }
}
