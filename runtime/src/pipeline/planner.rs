//! Planning one change: which routes carry it, whether its source owns the object, the `when`
//! filter, gates, the mapping, the effective date, and a deterministic idempotency key. The
//! result (deliveries, suppressions, holds and their audit) is committed in one transaction.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::expr;
use crate::config::{ConfirmFields, FutureDated, GateTarget, Mode, Plan, Priority, Route, Scope};
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

/// The newest change each system of record reported about the entity being planned, by
/// connector: what a non-owner's values are held against ([`owners_to_consult`]).
pub type OwnerChanges = BTreeMap<String, StoredChange>;

/// The connectors whose newest change about `change`'s entity the planner needs: the owners of
/// the fields `change.source` does not own, when the object's fields are owned by several
/// connectors and `change.source` owns some of them (so a value it sends for a field it does
/// not own is a conflict to resolve, not a stray).
pub fn owners_to_consult(plan: &Plan, change: &StoredChange) -> Vec<String> {
    let Some(ownership) = plan.ownership.get(&change.object) else {
        return Vec::new();
    };
    if ownership.fields.is_empty()
        || !plan
            .routes
            .iter()
            .any(|r| r.from == change.source && r.object == change.object)
    {
        return Vec::new();
    }
    let mut owners: Vec<String> = std::iter::once(&ownership.owner)
        .chain(ownership.fields.values())
        .filter(|o| **o != change.source)
        .cloned()
        .collect();
    owners.sort();
    owners.dedup();
    owners
}

/// Plans `change` under `plan` at `now_ms`; `owners` holds the newest changes of the other
/// systems of record for the entity ([`owners_to_consult`]).
pub fn plan_change(
    plan: &Plan,
    change: &StoredChange,
    owners: &OwnerChanges,
    now_ms: i64,
) -> (Vec<NewDelivery>, Vec<NewAudit>) {
    let routes: Vec<&Route> = plan
        .routes
        .iter()
        .filter(|r| r.from == change.source && r.object == change.object)
        .collect();
    if routes.is_empty() {
        let reason = match plan.ownership.get(&change.object) {
            Some(o) if o.owner != change.source => {
                format!("not the owner: {} owns {}", o.owner, change.object)
            }
            _ => format!("no route carries {} from {}", change.object, change.source),
        };
        return (
            vec![],
            vec![change.audit(AuditKind::Suppressed, None, json!({ "reason": reason }))],
        );
    }
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
        let (delivery, entry) = plan_route(plan, route, change, change, key, now_ms);
        deliveries.push(delivery);
        entries.push(entry);
    }
    for (delivery, entry) in conflicts(plan, change, owners, now_ms) {
        deliveries.extend(delivery);
        entries.push(entry);
    }
    (deliveries, entries)
}

/// One delivery of `from` (a stored change) on `route`, under `key`, planned as part of
/// `change` (the change being planned; `from` itself, or an owner's change re-sent to repair a
/// conflict), with its audit entry.
fn plan_route(
    plan: &Plan,
    route: &Route,
    change: &StoredChange,
    from: &StoredChange,
    key: String,
    now_ms: i64,
) -> (NewDelivery, NewAudit) {
    let ctx = expr::change_value(from);
    let (document, state) = decide(plan, route, from, &ctx);
    // A shadow route plans like any other; its delivery reads the target and compares.
    let state = match (state, route.mode) {
        (InitialState::Pending, Mode::Shadow) => InitialState::Shadow,
        (s, _) => s,
    };
    let state = super::review::screen(state, from, &ctx);
    let future = from.effective_at_ms.filter(|&t| t > now_ms);
    let not_before_ms = match route.future_dated {
        FutureDated::Hold => future,
        FutureDated::Pass => None,
    };
    let mut shown = document.clone();
    mask_document(&plan.masking, &from.object, &mut shown);
    let changed = changed_fields(plan, from, &document, &shown);
    let (kind, mut detail) = match &state {
        InitialState::Pending => (
            AuditKind::Planned,
            json!({ "route": route.name, "target": route.to, "document": shown, "effective_at_ms": from.effective_at_ms, "not_before_ms": not_before_ms }),
        ),
        InitialState::Shadow => (
            AuditKind::Planned,
            json!({ "route": route.name, "target": route.to, "document": shown, "effective_at_ms": from.effective_at_ms, "not_before_ms": not_before_ms, "shadow": "the target is read and compared, never written" }),
        ),
        InitialState::Held { reason } => (
            AuditKind::Held,
            json!({ "route": route.name, "target": route.to, "reason": reason, "document": shown }),
        ),
        InitialState::Review { reason } => {
            let mut detail = super::review::evidence(Some(plan), from);
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
    if let (Some(changed), Some(fields)) = (changed, detail.as_object_mut()) {
        fields.insert("changed".into(), changed);
    }
    let entry = change.audit(kind, Some(key.clone()), detail);
    // The read-back covers exactly what the write carries: the fields the route's source owns.
    let fields = match &route.confirm.fields {
        ConfirmFields::All => document
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default(),
        ConfirmFields::Only(fields) => fields
            .iter()
            .filter(|f| carries(plan, route, f))
            .cloned()
            .collect(),
    };
    let delivery = NewDelivery {
        pipeline: plan.name.clone(),
        route: route.name.clone(),
        target: route.to.clone(),
        object: from.object.clone(),
        key: from.key.clone(),
        operation: from.operation,
        document: document.to_string(),
        effective_at_ms: from.effective_at_ms,
        // Every write is dated: a target never assumes "now" (a retry a day later still
        // dates the change when it happened).
        occurred_at_ms: from.occurred_at_ms,
        source_version: from.source_version,
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
        on_behalf_of: (from.id != change.id)
            .then(|| (from.source.clone(), from.source_event_id.clone())),
    };
    (delivery, entry)
}

/// The fields the write changes, each with its value before (as the source last told it) and
/// the value written, both masked: what `junction trace` shows field by field. `None` when the
/// source does not tell the previous values.
fn changed_fields(
    plan: &Plan,
    from: &StoredChange,
    document: &Value,
    shown: &Value,
) -> Option<Value> {
    let before: Value = serde_json::from_str(from.before.as_deref()?).ok()?;
    let mut masked = before.clone();
    mask_document(&plan.masking, &from.object, &mut masked);
    let (before, after) = (before.as_object()?, document.as_object()?);
    // Compared as they are (two e-mails masked alike still differ), shown masked.
    let changed: serde_json::Map<String, Value> = after
        .iter()
        .filter(|(field, value)| before.get(*field).unwrap_or(&Value::Null) != *value)
        .map(|(field, _)| {
            let was = masked.get(field).cloned().unwrap_or(Value::Null);
            let now = shown.get(field).cloned().unwrap_or(Value::Null);
            (field.clone(), json!({ "before": was, "after": now }))
        })
        .collect();
    Some(Value::Object(changed))
}

/// Whether `route` carries `field`: its source owns it (`id`, which names the entity, always).
fn carries(plan: &Plan, route: &Route, field: &str) -> bool {
    field == "id"
        || match &route.scope {
            Scope::Object => plan
                .ownership
                .get(&route.object)
                .is_none_or(|o| o.owner_of(field) == route.from),
            Scope::Fields(fields) => fields.iter().any(|f| f == field),
        }
}

/// `document` with only the fields `route` carries.
fn owned_part(plan: &Plan, route: &Route, mut document: Value) -> Value {
    if let Some(fields) = document.as_object_mut() {
        fields.retain(|f, _| carries(plan, route, f));
    }
    document
}

/// Values `change` gives to fields another system owns, where that differs from what the
/// owner last said (and, when the source tells the previous values, where `change` changed
/// them): the owner's value wins. Each owner's disagreement is audited with both versions, and
/// the loser is repaired through the owner's route to it, re-sending the owner's newest change
/// under a key derived from that change and the values overruled (so one disagreement is
/// repaired once, however often the loser repeats it).
fn conflicts(
    plan: &Plan,
    change: &StoredChange,
    owners: &OwnerChanges,
    now_ms: i64,
) -> Vec<(Option<NewDelivery>, NewAudit)> {
    let Some(ownership) = plan.ownership.get(&change.object) else {
        return Vec::new();
    };
    let document = |text: &Option<String>| -> Option<serde_json::Map<String, Value>> {
        text.as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .and_then(|v| match v {
                Value::Object(m) => Some(m),
                _ => None,
            })
    };
    let Some(after) = document(&change.after) else {
        return Vec::new();
    };
    let before = document(&change.before);
    // owner -> (field, the loser's value, the owner's value)
    let mut disputes: BTreeMap<&str, Vec<(&String, &Value, Value)>> = BTreeMap::new();
    for (field, value) in &after {
        let owner = ownership.owner_of(field);
        if field == "id" || owner == change.source {
            continue;
        }
        if before.as_ref().is_some_and(|b| b.get(field) == Some(value)) {
            continue;
        }
        let Some(theirs) = owners.get(owner).and_then(|c| document(&c.after)) else {
            continue;
        };
        let owned = theirs.get(field).cloned().unwrap_or(Value::Null);
        if owned != *value {
            disputes
                .entry(owner)
                .or_default()
                .push((field, value, owned));
        }
    }
    let mut out = Vec::new();
    for (owner, fields) in disputes {
        let owner_change = &owners[owner];
        let (mut lost, mut won) = (serde_json::Map::new(), serde_json::Map::new());
        for (field, value, owned) in &fields {
            lost.insert((*field).clone(), (*value).clone());
            won.insert((*field).clone(), owned.clone());
        }
        let overruled = Sha256::digest(Value::Object(lost.clone()).to_string());
        let (mut lost, mut won) = (Value::Object(lost), Value::Object(won));
        mask_document(&plan.masking, &change.object, &mut lost);
        mask_document(&plan.masking, &change.object, &mut won);
        let repair_route = plan
            .routes
            .iter()
            .find(|r| r.from == owner && r.to == change.source && r.object == change.object);
        let repair = repair_route.map(|route| {
            let event = format!(
                "repair:{}:{}",
                owner_change.source_event_id,
                &hex::encode(overruled)[..16]
            );
            let key = idempotency_key(&plan.name, &route.name, owner, &event, &route.to);
            // The owner's state re-sent as it is, whatever that change itself changed: a
            // repair writes even when the owner's newest change left these fields alone.
            let state = StoredChange {
                before: None,
                ..owner_change.clone()
            };
            plan_route(plan, route, change, &state, key, now_ms)
        });
        let detail = json!({
            "rule": format!("[ownership] {}: {owner} owns {}", change.object,
                fields.iter().map(|(f, _, _)| f.as_str()).collect::<Vec<_>>().join(", ")),
            "resolution": "the owner's value wins",
            "loser": { "connector": change.source, "event": change.source_event_id, "values": lost },
            "owner": { "connector": owner, "event": owner_change.source_event_id, "values": won },
            "repair": match &repair {
                Some((d, _)) => json!({ "route": d.route, "idempotency_key": d.idempotency_key }),
                None => json!(format!("no route from {owner} to {} carries {}; {} keeps its value until one does", change.source, change.object, change.source)),
            },
        });
        let entry = change.audit(AuditKind::Conflict, None, detail);
        match repair {
            Some((delivery, planned)) => {
                out.push((None, entry));
                out.push((Some(delivery), planned));
            }
            None => out.push((None, entry)),
        }
    }
    out
}

/// The document to write and the delivery's initial state.
fn decide(plan: &Plan, route: &Route, change: &StoredChange, ctx: &Value) -> (Value, InitialState) {
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
    let mut document = owned_part(plan, route, base);
    // A route that carries some fields only writes when one of them changed: the rest of the
    // change is another system's to propagate (and an echo of its own write changes nothing).
    if let (Scope::Fields(fields), Value::Object(before)) = (&route.scope, &ctx["before"]) {
        let after = &ctx["after"];
        if !after.is_null() && fields.iter().all(|f| before.get(f) == after.get(f)) {
            return (
                document,
                InitialState::Suppressed {
                    reason: format!(
                        "none of the fields {} owns changed ({})",
                        route.from,
                        fields.join(", ")
                    ),
                },
            );
        }
    }
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

        let (deliveries, audit) = plan_change(&plan, &sub("active"), &OwnerChanges::new(), 0);
        assert_eq!(deliveries.len(), 2);
        assert_eq!(deliveries[0].state, InitialState::Pending);
        let doc: Value = serde_json::from_str(&deliveries[0].document).unwrap();
        assert_eq!(doc["interval"], "year", "the map overrides the field");
        assert_eq!(deliveries[1].state, InitialState::Shadow);
        assert_eq!(audit.len(), 2);

        let (deliveries, _) = plan_change(&plan, &sub("incomplete"), &OwnerChanges::new(), 0);
        assert!(
            matches!(&deliveries[0].state, InitialState::Suppressed { reason } if reason.contains("when"))
        );

        let unverified = change(
            "payment",
            "src",
            json!({"id": "k1", "kyc_status": "pending"}),
        );
        let (deliveries, _) = plan_change(&plan, &unverified, &OwnerChanges::new(), 0);
        assert!(
            matches!(&deliveries[0].state, InitialState::Held { reason } if reason.contains("gate kyc"))
        );
        let verified = change(
            "payment",
            "src",
            json!({"id": "k1", "kyc_status": "verified"}),
        );
        assert_eq!(
            plan_change(&plan, &verified, &OwnerChanges::new(), 0).0[0].state,
            InitialState::Pending
        );

        let foreign = change(
            "subscription",
            "dst",
            json!({"id": "k1", "status": "active"}),
        );
        let (deliveries, audit) = plan_change(&plan, &foreign, &OwnerChanges::new(), 0);
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

    /// Salesforce owns customers but Stripe owns their e-mail, both ways round.
    const SPLIT: &str = r#"
[pipeline]
name = "p"
[connectors.stripe]
module = "builtin:src"
allow-hosts = ["src.example"]
[connectors.salesforce]
module = "builtin:dst"
allow-hosts = ["dst.example"]
[ownership]
customer = { owner = "salesforce", fields = { email = "stripe" } }
[[source]]
connector = "stripe"
webhook = "/hooks/stripe"
objects = ["customer"]
[[source]]
connector = "salesforce"
webhook = "/hooks/salesforce"
objects = ["customer"]
[[route]]
name = "email-to-crm"
from = "stripe"
to = "salesforce"
object = "customer"
[[route]]
name = "customers-to-billing"
from = "salesforce"
to = "stripe"
object = "customer"
confirm = { fields = ["name", "phone"] }
[masking]
"customer.email" = "redact"
"#;

    fn split() -> Plan {
        crate::config::load_str(std::path::Path::new("p.toml"), SPLIT, &|_| None, &Catalog)
            .unwrap_or_else(|d| panic!("{d}"))
            .plans
            .remove(0)
    }

    fn doc(d: &NewDelivery) -> Value {
        serde_json::from_str(&d.document).unwrap()
    }

    #[test]
    fn a_route_carries_and_confirms_only_the_fields_its_source_owns() {
        let plan = split();
        let stripe = change(
            "customer",
            "stripe",
            json!({"id": "cus_1", "email": "ada@example.com", "name": "Ada", "phone": "1"}),
        );
        let (deliveries, _) = plan_change(&plan, &stripe, &OwnerChanges::new(), 0);
        assert_eq!(deliveries.len(), 1);
        assert_eq!(
            doc(&deliveries[0]),
            json!({"id": "cus_1", "email": "ada@example.com"})
        );
        let confirm = deliveries[0].confirm.as_ref().unwrap();
        assert_eq!(confirm.fields, ["email", "id"]);

        let crm = change(
            "customer",
            "salesforce",
            json!({"id": "cus_1", "email": "old@example.com", "name": "Ada Ltd", "phone": "2"}),
        );
        let (deliveries, _) = plan_change(&plan, &crm, &OwnerChanges::new(), 0);
        assert_eq!(
            doc(&deliveries[0]),
            json!({"id": "cus_1", "name": "Ada Ltd", "phone": "2"}),
            "the owner of the object does not carry the e-mail Stripe owns"
        );
        assert_eq!(
            deliveries[0].confirm.as_ref().unwrap().fields,
            ["name", "phone"]
        );
    }

    #[test]
    fn an_echo_that_changes_no_owned_field_writes_nothing() {
        let plan = split();
        let mut echo = change(
            "customer",
            "stripe",
            json!({"id": "cus_1", "email": "ada@example.com", "name": "Ada Ltd"}),
        );
        echo.before =
            Some(json!({"id": "cus_1", "email": "ada@example.com", "name": "Ada"}).to_string());
        let (deliveries, _) = plan_change(&plan, &echo, &OwnerChanges::new(), 0);
        assert!(
            matches!(&deliveries[0].state, InitialState::Suppressed { reason } if reason.contains("none of the fields stripe owns changed")),
            "{:?}",
            deliveries[0].state
        );
    }

    #[test]
    fn the_owners_value_wins_a_conflict_and_the_loser_is_repaired_once() {
        let plan = split();
        let mut owner = change(
            "customer",
            "salesforce",
            json!({"id": "cus_1", "email": "ada@example.com", "name": "Ada Ltd", "phone": "2"}),
        );
        owner.source_event_id = "sf_7".into();
        owner.source_version = 7;
        let owners = OwnerChanges::from([("salesforce".to_string(), owner)]);
        // Stripe renames the customer (Salesforce owns the name) and changes the e-mail.
        let mut stripe = change(
            "customer",
            "stripe",
            json!({"id": "cus_1", "email": "new@example.com", "name": "Ada", "phone": "2"}),
        );
        stripe.before = Some(
            json!({"id": "cus_1", "email": "ada@example.com", "name": "Ada Ltd", "phone": "2"})
                .to_string(),
        );
        let (deliveries, audit) = plan_change(&plan, &stripe, &owners, 0);
        assert_eq!(
            deliveries.len(),
            2,
            "the e-mail to Salesforce and the repair to Stripe"
        );
        assert_eq!(
            doc(&deliveries[0]),
            json!({"id": "cus_1", "email": "new@example.com"})
        );
        let repair = &deliveries[1];
        assert_eq!(repair.route, "customers-to-billing");
        assert_eq!(repair.target, "stripe");
        assert_eq!(
            doc(repair),
            json!({"id": "cus_1", "name": "Ada Ltd", "phone": "2"})
        );
        assert_eq!(
            repair.source_version, 7,
            "dated and ordered as the owner's change"
        );
        assert_eq!(repair.state, InitialState::Pending);

        let conflict = audit
            .iter()
            .find(|a| a.kind == AuditKind::Conflict)
            .unwrap();
        assert_eq!(conflict.detail["loser"]["values"], json!({"name": "Ada"}));
        assert_eq!(
            conflict.detail["owner"]["values"],
            json!({"name": "Ada Ltd"})
        );
        assert_eq!(conflict.detail["repair"]["route"], "customers-to-billing");
        let planned = audit.iter().find(|a| a.kind == AuditKind::Planned).unwrap();
        assert_eq!(
            planned.detail["changed"],
            json!({"email": {"before": "***", "after": "***"}}),
            "what the write changes, field by field, masked"
        );
        assert_eq!(conflict.detail["resolution"], "the owner's value wins");

        // Stripe repeating the same value (its echo of another event) is the same dispute:
        // the repair has the same key, so the store keeps one write.
        let mut again = stripe.clone();
        again.source_event_id = "evt_2".into();
        again.before = None;
        let (deliveries2, _) = plan_change(&plan, &again, &owners, 0);
        assert_eq!(deliveries2[1].idempotency_key, repair.idempotency_key);
        // A different overruled value is a new dispute.
        let mut other = again.clone();
        other.after =
            Some(json!({"id": "cus_1", "email": "new@example.com", "name": "Bob"}).to_string());
        let (deliveries3, _) = plan_change(&plan, &other, &owners, 0);
        assert_ne!(deliveries3[1].idempotency_key, repair.idempotency_key);
    }

    #[test]
    fn agreeing_with_the_owner_or_an_unknown_owner_is_no_conflict() {
        let plan = split();
        let stripe = change(
            "customer",
            "stripe",
            json!({"id": "cus_1", "email": "new@example.com", "name": "Ada Ltd"}),
        );
        let (_, audit) = plan_change(&plan, &stripe, &OwnerChanges::new(), 0);
        assert!(audit.iter().all(|a| a.kind != AuditKind::Conflict));
        let owner = change(
            "customer",
            "salesforce",
            json!({"id": "cus_1", "name": "Ada Ltd"}),
        );
        let owners = OwnerChanges::from([("salesforce".to_string(), owner)]);
        let (deliveries, audit) = plan_change(&plan, &stripe, &owners, 0);
        assert_eq!(deliveries.len(), 1);
        assert!(audit.iter().all(|a| a.kind != AuditKind::Conflict));
    }

    #[test]
    fn conflicts_are_masked_in_the_audit() {
        let plan = split();
        // Stripe's newest change was about something else: the e-mail it owns stayed.
        let mut owner = change(
            "customer",
            "stripe",
            json!({"id": "cus_1", "email": "ada@example.com", "name": "Ada"}),
        );
        owner.before =
            Some(json!({"id": "cus_1", "email": "ada@example.com", "name": "A."}).to_string());
        let owners = OwnerChanges::from([("stripe".to_string(), owner)]);
        let crm = change(
            "customer",
            "salesforce",
            json!({"id": "cus_1", "email": "typo@example.com", "name": "Ada"}),
        );
        assert_eq!(owners_to_consult(&plan, &crm), ["stripe"]);
        let (deliveries, audit) = plan_change(&plan, &crm, &owners, 0);
        let conflict = audit
            .iter()
            .find(|a| a.kind == AuditKind::Conflict)
            .unwrap();
        let text = conflict.detail.to_string();
        assert!(!text.contains("typo@") && !text.contains("ada@"), "{text}");
        assert_eq!(deliveries[1].route, "email-to-crm");
        assert_eq!(
            deliveries[1].state,
            InitialState::Pending,
            "the repair goes although the owner's newest change left the e-mail alone"
        );
        assert_eq!(
            doc(&deliveries[1]),
            json!({"id": "cus_1", "email": "ada@example.com"})
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
