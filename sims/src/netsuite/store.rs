//! The simulator's state: records by type and internal id, the log of applied writes, counters,
//! and the one function that applies a write (shared by synchronous requests and async jobs).

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::error::{NsError, SimResponse};
use super::jobs::Job;
use super::rfc3339;
use super::schema::{self, Kind, RecordType};
use crate::faults::{Fault, FaultState};

/// A record as stored: the body fields (canonical names, references as objects), no links.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    pub id: u64,
    pub external_id: Option<String>,
    pub fields: Map<String, Value>,
    created: SystemTime,
    modified: SystemTime,
}

/// What a business write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteAction {
    Create,
    Update,
    Delete,
}

/// One write that changed state: what tests count to prove no business action ran twice.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppliedWrite {
    pub seq: u64,
    pub record_type: String,
    pub action: WriteAction,
    pub internal_id: String,
    pub external_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub job_id: Option<String>,
    pub body: Value,
}

/// Counters for the control API and load harness.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SimStats {
    pub requests: u64,
    pub auth_failures: u64,
    pub throttled: u64,
    pub server_errors: u64,
    pub outages: u64,
    pub hangs: u64,
    pub applied_writes: u64,
    pub noop_writes: u64,
    pub rejected_writes: u64,
    pub silent_drops: u64,
    pub errors_after_write: u64,
    pub jobs: u64,
}

/// A record addressed by internal id or `eid:<external id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Internal(u64),
    External(String),
}

impl Target {
    pub fn parse(s: &str) -> Result<Self, NsError> {
        match s.strip_prefix("eid:") {
            Some(eid) => Ok(Target::External(eid.to_owned())),
            None => s.parse().map(Target::Internal).map_err(|_| {
                NsError::nonexistent_id(format!(
                    "The record instance does not exist. Provide a valid record instance ID: {s}."
                ))
            }),
        }
    }
}

#[derive(Debug, Clone)]
pub enum WriteOp {
    Create,
    Update(Target),
    Upsert(String),
    Delete(Target),
}

/// A write request, kept whole so an async job can apply it later.
#[derive(Debug, Clone)]
pub struct Write {
    pub rt: RecordType,
    pub op: WriteOp,
    pub body: Value,
    pub strict: bool,
    pub idempotency_key: Option<String>,
    pub job: Option<u64>,
    /// Sublists named by `?replace=` ("Replacing a Sublist"): replaced whole instead of merged.
    pub replace: Vec<String>,
}

#[derive(Debug)]
pub struct Store {
    pub base: String,
    records: BTreeMap<RecordType, BTreeMap<u64, StoredRecord>>,
    next_id: u64,
    /// Stable ids for references to record types the simulator does not hold (currency, item).
    refs: HashMap<(String, String), u64>,
    applied: Vec<AppliedWrite>,
    pub jobs: BTreeMap<u64, Job>,
    pub next_job: u64,
    pub idempotency: HashMap<String, u64>,
    pub stats: SimStats,
    /// Custom fields the account defines (none unless a test sets them up).
    pub custom_fields: Vec<String>,
    /// Invoices bill runs made, oldest first (`invoicing.rs`).
    pub invoices: Vec<super::invoicing::Invoice>,
    /// Charges invoiced: (subscription line's internal id, period start).
    pub invoiced: std::collections::HashSet<(u64, String)>,
    pub next_invoice: u64,
}

fn missing(rt: RecordType, target: &Target) -> NsError {
    let shown = match target {
        Target::Internal(id) => id.to_string(),
        Target::External(eid) => format!("eid:{eid}"),
    };
    NsError::nonexistent_id(format!(
        "The record instance does not exist. Provide a valid record instance ID: {}/{shown}.",
        rt.id()
    ))
}

/// "PENDING_ACTIVATION" -> "Pending Activation", the way NetSuite labels list values.
fn label(id: &str) -> String {
    if !id.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
        return id.to_owned();
    }
    id.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| format!("{}{}", &w[..1], w[1..].to_ascii_lowercase()))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Store {
    pub fn new(base: String) -> Self {
        Self {
            base,
            records: BTreeMap::new(),
            next_id: 100,
            refs: HashMap::new(),
            applied: Vec::new(),
            jobs: BTreeMap::new(),
            next_job: 1,
            idempotency: HashMap::new(),
            stats: SimStats::default(),
            custom_fields: Vec::new(),
            invoices: Vec::new(),
            invoiced: std::collections::HashSet::new(),
            next_invoice: 0,
        }
    }

    pub fn href(&self, rt: RecordType, id: u64) -> String {
        format!("{}/services/rest/record/v1/{}/{id}", self.base, rt.id())
    }

    pub fn applied(&self) -> &[AppliedWrite] {
        &self.applied
    }

    pub fn find(&self, rt: RecordType, target: &Target) -> Option<&StoredRecord> {
        let table = self.records.get(&rt)?;
        match target {
            Target::Internal(id) => table.get(id),
            Target::External(eid) => table
                .values()
                .find(|r| r.external_id.as_deref() == Some(eid)),
        }
    }

    /// The record with this external id, to change in place (drift: a user editing it in the
    /// UI; no write is logged).
    pub fn find_external_mut(
        &mut self,
        rt: RecordType,
        external_id: &str,
    ) -> Option<&mut StoredRecord> {
        self.records
            .get_mut(&rt)?
            .values_mut()
            .find(|r| r.external_id.as_deref() == Some(external_id))
    }

    /// Removes a record outright (drift: deleted by a user; no write is logged).
    pub fn remove_external(&mut self, rt: RecordType, external_id: &str) -> bool {
        let Some(table) = self.records.get_mut(&rt) else {
            return false;
        };
        let id = table
            .values()
            .find(|r| r.external_id.as_deref() == Some(external_id))
            .map(|r| r.id);
        id.is_some_and(|id| table.remove(&id).is_some())
    }

    /// How many records of one type there are.
    pub fn count(&self, rt: RecordType) -> usize {
        self.records.get(&rt).map_or(0, BTreeMap::len)
    }

    /// Records of one type in internal-id order.
    pub fn all(&self, rt: RecordType) -> impl Iterator<Item = &StoredRecord> {
        self.records.get(&rt).into_iter().flat_map(|t| t.values())
    }

    /// Applies a write and answers it as NetSuite would synchronously, rolling the write faults.
    pub fn execute(&mut self, w: &Write, faults: &FaultState) -> SimResponse {
        match self.try_execute(w, faults) {
            Ok(response) => response,
            Err(e) => {
                self.stats.rejected_writes += 1;
                e.into()
            }
        }
    }

    fn try_execute(&mut self, w: &Write, faults: &FaultState) -> Result<SimResponse, NsError> {
        let rt = w.rt;
        let custom = self.custom_fields.clone();
        let (existing, prepared) = match &w.op {
            WriteOp::Delete(target) => return self.delete(w, target, faults),
            WriteOp::Create => (None, schema::prepare(rt, &w.body, w.strict, &custom)?),
            WriteOp::Update(target) => {
                let id = self.find(rt, target).ok_or_else(|| missing(rt, target))?.id;
                (Some(id), schema::prepare(rt, &w.body, w.strict, &custom)?)
            }
            WriteOp::Upsert(eid) => {
                schema::check_external_id(eid, "externalId")?;
                let mut p = schema::prepare(rt, &w.body, w.strict, &custom)?;
                if p.external_id.as_ref().is_some_and(|given| given != eid) {
                    return Err(NsError::invalid_content(
                        "The externalId in the body differs from the eid: in the URL.",
                        "externalId",
                    ));
                }
                p.external_id = Some(eid.clone());
                (
                    self.find(rt, &Target::External(eid.clone())).map(|r| r.id),
                    p,
                )
            }
        };
        if let Some(eid) = &prepared.external_id
            && self
                .find(rt, &Target::External(eid.clone()))
                .is_some_and(|r| Some(r.id) != existing)
        {
            let detail = format!(
                "Error while accessing resource: A {} record with the external ID {eid} already exists.",
                rt.id()
            );
            return Err(NsError::new(400, "USER_ERROR", detail).at("externalId"));
        }
        let fields = self.resolve(rt, prepared.fields)?;
        for required in rt.required() {
            let absent = fields.get(*required).is_none_or(Value::is_null);
            if (existing.is_none() && absent) || fields.get(*required).is_some_and(Value::is_null) {
                return Err(NsError::invalid_content(
                    format!("Please enter value(s) for: {required}"),
                    *required,
                ));
            }
        }
        self.billing_rules(rt, w, existing, &fields)?;
        if faults.strikes(Fault::SilentDrop) {
            self.stats.silent_drops += 1;
            let id = existing.unwrap_or_else(|| self.alloc());
            return Ok(self.success(w, rt, id));
        }
        let now = SystemTime::now();
        let (id, action, changed) = match existing
            .and_then(|id| self.records.get_mut(&rt)?.get_mut(&id))
        {
            Some(rec) => {
                let before = (rec.external_id.clone(), rec.fields.clone());
                for (name, value) in fields {
                    let replace = w.replace.iter().any(|r| r.eq_ignore_ascii_case(&name));
                    match (rt.field(&name), rec.fields.get_mut(&name)) {
                        (Some((_, Kind::Sublist)), Some(old)) if !replace && !value.is_null() => {
                            merge_lines(old, &value);
                        }
                        _ => {
                            rec.fields.insert(name, value);
                        }
                    }
                }
                if prepared.external_id.is_some() {
                    rec.external_id = prepared.external_id.clone();
                }
                let changed = before != (rec.external_id.clone(), rec.fields.clone());
                if changed {
                    rec.modified = now;
                }
                (rec.id, WriteAction::Update, changed)
            }
            None => {
                let id = self.alloc();
                let rec = StoredRecord {
                    id,
                    external_id: prepared.external_id.clone(),
                    fields,
                    created: now,
                    modified: now,
                };
                self.records.entry(rt).or_default().insert(id, rec);
                (id, WriteAction::Create, true)
            }
        };
        if rt == RecordType::Subscription && action == WriteAction::Create {
            self.create_lines(id);
        }
        if changed {
            self.log(w, action, id, prepared.external_id);
        } else {
            self.stats.noop_writes += 1;
        }
        Ok(self.after_write(faults, self.success(w, rt, id)))
    }

    fn delete(
        &mut self,
        w: &Write,
        target: &Target,
        faults: &FaultState,
    ) -> Result<SimResponse, NsError> {
        let rt = w.rt;
        let id = self.find(rt, target).ok_or_else(|| missing(rt, target))?.id;
        self.billing_delete(rt, id)?;
        let referenced = rt == RecordType::Customer
            && self.all(RecordType::Subscription).any(|s| {
                s.fields.get("customer").and_then(|c| c.get("id")) == Some(&json!(id.to_string()))
            });
        if referenced {
            return Err(NsError::new(
                400,
                "USER_ERROR",
                "Error while accessing resource: This record cannot be deleted because it has dependent records.",
            ));
        }
        if faults.strikes(Fault::SilentDrop) {
            self.stats.silent_drops += 1;
            return Ok(SimResponse::no_content(None));
        }
        let removed = self.records.get_mut(&rt).and_then(|t| t.remove(&id));
        self.log(
            w,
            WriteAction::Delete,
            id,
            removed.and_then(|r| r.external_id),
        );
        Ok(self.after_write(faults, SimResponse::no_content(None)))
    }

    fn alloc(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn success(&self, w: &Write, rt: RecordType, id: u64) -> SimResponse {
        match w.op {
            WriteOp::Create | WriteOp::Upsert(_) => {
                SimResponse::no_content(Some(self.href(rt, id)))
            }
            WriteOp::Update(_) | WriteOp::Delete(_) => SimResponse::no_content(None),
        }
    }

    /// The write is in; maybe the answer gets lost anyway (`error_after_write_rate`).
    fn after_write(&mut self, faults: &FaultState, ok: SimResponse) -> SimResponse {
        if faults.strikes(Fault::ErrorAfterWrite) {
            self.stats.errors_after_write += 1;
            return NsError::unexpected("Please try again later.").into();
        }
        ok
    }

    fn log(&mut self, w: &Write, action: WriteAction, id: u64, external_id: Option<String>) {
        self.stats.applied_writes += 1;
        self.applied.push(AppliedWrite {
            seq: self.applied.len() as u64 + 1,
            record_type: w.rt.id().to_owned(),
            action,
            internal_id: id.to_string(),
            external_id,
            idempotency_key: w.idempotency_key.clone(),
            job_id: w.job.map(|j| j.to_string()),
            body: w.body.clone(),
        });
    }

    /// Resolves references: held types must exist (stored as `{"id"}`); others get a stable id.
    fn resolve(
        &mut self,
        rt: RecordType,
        mut fields: Map<String, Value>,
    ) -> Result<Map<String, Value>, NsError> {
        for (name, value) in fields.iter_mut() {
            match rt.field(name).map(|(_, kind)| kind) {
                Some(Kind::Ref(Some(target))) if value.is_object() => {
                    let id = self.held_id(target, value);
                    *value =
                        json!({ "id": id.ok_or_else(|| schema::wrong(value, name))?.to_string() });
                }
                Some(Kind::Ref(None)) => self.intern(name, value),
                Some(Kind::Sublist) => {
                    let sublist = name.clone();
                    for (i, line) in value
                        .get_mut("items")
                        .and_then(Value::as_array_mut)
                        .into_iter()
                        .flatten()
                        .enumerate()
                    {
                        for (k, v) in line.as_object_mut().into_iter().flatten() {
                            let is_ref = v.get("id").is_some()
                                || v.get("externalId").is_some()
                                || v.get("refName").is_some();
                            match rt.line_reference(&sublist, k) {
                                Some(target) if is_ref => {
                                    let path = format!("{sublist}.items[{i}].{k}");
                                    let id = self
                                        .held_id(target, v)
                                        .ok_or_else(|| schema::wrong(v, &path))?;
                                    *v = json!({ "id": id.to_string() });
                                }
                                _ if is_ref => self.intern(k, v),
                                _ => {}
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(fields)
    }

    /// The internal id a reference to a held record type names (`{"id"}`, `{"externalId"}`,
    /// or both, which must agree), if that record exists.
    fn held_id(&self, target: RecordType, value: &Value) -> Option<u64> {
        let by_id = value
            .get("id")
            .and_then(Value::as_str)
            .map(|id| id.parse().map(Target::Internal).ok());
        let by_eid = value
            .get("externalId")
            .and_then(Value::as_str)
            .map(|e| Target::External(e.to_owned()));
        let found = |t: Option<Target>| t.and_then(|t| self.find(target, &t)).map(|r| r.id);
        match (by_id, by_eid) {
            (Some(i), Some(e)) => found(i).filter(|id| Some(*id) == found(Some(e))),
            (Some(i), None) => found(i),
            (None, e) => found(e),
        }
    }

    /// Stores a new record as NetSuite itself does (lines made from a plan): no write logged.
    pub fn insert_record(
        &mut self,
        rt: RecordType,
        external_id: Option<String>,
        fields: Map<String, Value>,
    ) -> u64 {
        let id = self.alloc();
        self.seed_at(rt, id, external_id, fields);
        id
    }

    /// Stores a record under a chosen internal id (the account's setup records).
    pub fn seed_at(
        &mut self,
        rt: RecordType,
        id: u64,
        external_id: Option<String>,
        fields: Map<String, Value>,
    ) {
        let now = SystemTime::now();
        let rec = StoredRecord {
            id,
            external_id,
            fields,
            created: now,
            modified: now,
        };
        self.records.entry(rt).or_default().insert(id, rec);
    }

    /// A held reference as `GET` shows it, if `value` names an existing record.
    pub fn held_ref(&self, target: RecordType, value: &Value) -> Option<Value> {
        let id: u64 = value.get("id")?.as_str()?.parse().ok()?;
        self.find(target, &Target::Internal(id))?;
        Some(self.present_held_ref(target, value))
    }

    /// Adds a record the way the account's own users would (the item catalog): no write is
    /// logged, no fault rolled. Answers the internal id.
    pub fn seed(&mut self, rt: RecordType, external_id: &str, fields: Map<String, Value>) -> u64 {
        if let Some(existing) = self.find(rt, &Target::External(external_id.to_owned())) {
            return existing.id;
        }
        self.insert_record(rt, Some(external_id.to_owned()), fields)
    }

    /// Appends an item to a plan's members (optional), and gives every subscription on that
    /// plan its line for it, as NetSuite does when a plan gains a member.
    pub fn add_plan_member(&mut self, plan: u64, item: u64) {
        let Some(rec) = self
            .records
            .get_mut(&RecordType::SubscriptionPlan)
            .and_then(|t| t.get_mut(&plan))
        else {
            return;
        };
        let members = rec
            .fields
            .entry("member")
            .or_insert_with(|| json!({"items": []}));
        if let Some(items) = members["items"].as_array_mut() {
            let entry = json!({"item": {"id": item.to_string()}, "isRequired": false});
            if !items.iter().any(|m| m["item"] == entry["item"]) {
                items.push(entry);
            }
        }
        let subscriptions: Vec<u64> = self
            .all(RecordType::Subscription)
            .filter(|s| {
                s.fields.get("subscriptionPlan").and_then(|p| p.get("id"))
                    == Some(&json!(plan.to_string()))
            })
            .map(|s| s.id)
            .collect();
        for s in subscriptions {
            self.create_lines(s);
        }
    }

    fn intern(&mut self, field: &str, value: &mut Value) {
        let Some(object) = value.as_object_mut() else {
            return;
        };
        if object.contains_key("id") {
            return;
        }
        let key = object
            .get("externalId")
            .or_else(|| object.get("refName"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let next = self.refs.len() as u64 + 1;
        let id = *self
            .refs
            .entry((field.to_ascii_lowercase(), key))
            .or_insert(next);
        object.insert("id".into(), json!(id.to_string()));
    }

    /// The record as `GET` returns it; sublists collapse to a link unless `expand`.
    pub fn present(&self, rt: RecordType, rec: &StoredRecord, expand: bool) -> Value {
        let href = self.href(rt, rec.id);
        let mut out = Map::new();
        out.insert("links".into(), json!([{"rel": "self", "href": href}]));
        out.insert("id".into(), json!(rec.id.to_string()));
        if let Some(eid) = &rec.external_id {
            out.insert("externalId".into(), json!(eid));
        }
        out.insert("dateCreated".into(), json!(rfc3339(rec.created)));
        out.insert("lastModifiedDate".into(), json!(rfc3339(rec.modified)));
        // NetSuite leaves empty fields out of a record.
        for (name, value) in rec.fields.iter().filter(|(_, v)| !v.is_null()) {
            let shown = match rt.field(name).map(|(_, kind)| kind) {
                Some(Kind::Ref(Some(target))) => self.present_held_ref(target, value),
                Some(Kind::Ref(None)) => present_ref(value),
                Some(Kind::Sublist) if expand => {
                    let lines: Vec<Value> = value["items"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|line| {
                            let mut line: Map<String, Value> =
                                line.as_object().cloned().unwrap_or_default();
                            for (k, v) in line.iter_mut().filter(|(_, v)| v.get("id").is_some()) {
                                *v = match rt.line_reference(name, k) {
                                    Some(target) => self.present_held_ref(target, v),
                                    None => present_ref(v),
                                };
                            }
                            line.insert("links".into(), json!([]));
                            Value::Object(line)
                        })
                        .collect();
                    let link = json!([{"rel": "self", "href": format!("{href}/{name}")}]);
                    json!({"links": link, "items": lines, "totalResults": lines.len()})
                }
                Some(Kind::Sublist) => {
                    json!({"links": [{"rel": "self", "href": format!("{href}/{name}")}]})
                }
                _ => value.clone(),
            };
            out.insert(name.clone(), shown);
        }
        self.present_billing(rt, rec, &mut out, expand);
        Value::Object(out)
    }

    fn present_held_ref(&self, target: RecordType, value: &Value) -> Value {
        let id = value
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| id.parse().ok());
        let Some(rec) = id.and_then(|id| self.find(target, &Target::Internal(id))) else {
            return present_ref(value);
        };
        let name = ["companyName", "entityId", "itemId", "name"]
            .iter()
            .find_map(|f| rec.fields.get(*f).and_then(Value::as_str));
        // "Format of Selects and References": a reference is its id, its refName and links;
        // the referenced record's external id is not part of it.
        json!({
            "links": [{"rel": "self", "href": self.href(target, rec.id)}],
            "id": rec.id.to_string(),
            "refName": name.map_or_else(|| rec.id.to_string(), str::to_owned),
        })
    }

    /// Does `rec` satisfy the collection filter `field IS value`?
    pub fn matches(&self, rt: RecordType, rec: &StoredRecord, field: &str, value: &str) -> bool {
        if field.eq_ignore_ascii_case("externalId") {
            return rec.external_id.as_deref() == Some(value);
        }
        if field.eq_ignore_ascii_case("id") {
            return rec.id.to_string() == value;
        }
        let name = rt.field(field).map_or(field, |(canonical, _)| canonical);
        match rec.fields.get(name) {
            Some(Value::String(s)) => s == value,
            Some(Value::Object(o)) => ["id", "refName", "externalId"]
                .iter()
                .any(|k| o.get(*k).and_then(Value::as_str) == Some(value)),
            // Numbers and booleans compare by their JSON spelling.
            Some(other) => serde_json::from_str::<Value>(value).is_ok_and(|v| v == *other),
            None => false,
        }
    }
}

/// A reference to a record type the simulator does not hold: what was written, plus
/// `refName` (a list label for select values) and empty links.
fn present_ref(value: &Value) -> Value {
    let mut out = value.as_object().cloned().unwrap_or_default();
    // Shown as NetSuite shows references: id, refName, links; no external id.
    let external_id = out.remove("externalId");
    if !out.contains_key("refName") {
        let name = external_id
            .as_ref()
            .or_else(|| out.get("id"))
            .and_then(Value::as_str)
            .map(label)
            .unwrap_or_default();
        out.insert("refName".into(), json!(name));
    }
    out.insert("links".into(), json!([]));
    Value::Object(out)
}

/// "Updating a Sublist": a line whose key (`lineNumber`) matches an existing line is merged into
/// it; every other line is appended. Lines are never removed this way: that takes
/// `?replace=<sublist>` ("Replacing a Sublist").
pub fn merge_lines(existing: &mut Value, update: &Value) {
    let incoming = update["items"].as_array().cloned().unwrap_or_default();
    let Some(lines) = existing.get_mut("items").and_then(Value::as_array_mut) else {
        *existing = update.clone();
        return;
    };
    for line in incoming {
        let key = line.get(schema::LINE_KEY).filter(|k| !k.is_null()).cloned();
        let matching = key.and_then(|key| {
            lines
                .iter_mut()
                .find(|l| l.get(schema::LINE_KEY) == Some(&key))
        });
        match (matching, line.as_object()) {
            (Some(old), Some(fields)) => {
                if let Some(old) = old.as_object_mut() {
                    old.extend(fields.clone());
                }
            }
            _ => lines.push(line),
        }
    }
}
