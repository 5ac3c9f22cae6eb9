//! Records in memory and the save order Salesforce documents: field checks (unknown, read-only,
//! types, lengths, picklists, lookups), required fields, validation rules, unique indexes;
//! then the write, stamped from the simulated clock, counted and logged.

use std::collections::{BTreeMap, HashMap};

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::clock::{format_datetime, parse_date, parse_datetime};
use super::error::{ApiError, ErrorItem};
use super::ids;
use super::schema::{FieldDef, Kind, ObjectDef, Schema, ValidationRule};

/// One stored record. `fields` holds canonical names and normalized values.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: String,
    pub object: String,
    pub fields: Map<String, Value>,
    pub created_ms: i64,
    pub modified_ms: i64,
    pub deleted: bool,
}

/// Counters a test reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SalesforceStats {
    /// Every request to `/services/...` (token endpoint included).
    pub requests: u64,
    /// Requests that counted toward the daily API limit.
    pub api_calls: u64,
    /// `POST /services/oauth2/token` requests, successful or not.
    pub token_requests: u64,
    pub tokens_issued: u64,
    pub token_failures: u64,
    /// 401 `INVALID_SESSION_ID` answers.
    pub auth_failures: u64,
    /// 403 `REQUEST_LIMIT_EXCEEDED` answers.
    pub limit_refusals: u64,
    /// Answers decided by the fault switches (5xx, 429, hangs, outages, echoes).
    pub faults_injected: u64,
    pub silent_drops: u64,
    pub errors_after_write: u64,
    /// Writes refused `UNABLE_TO_LOCK_ROW`.
    pub lock_refusals: u64,
    /// Record writes applied (creates + updates + deletes).
    pub writes: u64,
    pub creates: u64,
    pub updates: u64,
    pub deletes: u64,
    /// SOQL queries and query-more pages answered.
    pub queries: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteAction {
    Create,
    Update,
    Delete,
}

/// A write that changed state, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppliedWrite {
    pub seq: u64,
    pub object: String,
    pub action: WriteAction,
    pub id: String,
    /// `SystemModstamp` of the write.
    pub at: String,
}

/// What an upsert did.
#[derive(Debug, Clone, PartialEq)]
pub enum Upserted {
    Created(String),
    Updated(String),
    /// Several records carry the external id: nothing written (fact sheet §2, 300).
    Multiple(Vec<String>),
}

/// The part of the store an `allOrNone` rollback restores.
#[derive(Debug, Clone)]
pub struct Snapshot {
    tables: BTreeMap<String, BTreeMap<String, Record>>,
    counters: HashMap<String, u64>,
    stats: SalesforceStats,
    applied: usize,
}

#[derive(Debug)]
pub struct Store {
    pub schema: Schema,
    pub rules: Vec<ValidationRule>,
    /// Object name -> id -> record; deleted records stay (the recycle bin).
    tables: BTreeMap<String, BTreeMap<String, Record>>,
    /// Key prefix or auto-number field -> last number handed out.
    counters: HashMap<String, u64>,
    /// Record id -> writes still to refuse with `UNABLE_TO_LOCK_ROW`.
    locks: HashMap<String, u32>,
    pub stats: SalesforceStats,
    applied: Vec<AppliedWrite>,
    pub user_id: String,
}

/// System fields are stamped to the second: Salesforce shows them as `...:40.000+0000`, so
/// writes within one second share a `SystemModstamp`.
fn stamp(now_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(1000)
}

fn json_token(v: &Value) -> &'static str {
    match v {
        Value::Null => "VALUE_NULL",
        Value::Bool(true) => "VALUE_TRUE",
        Value::Bool(false) => "VALUE_FALSE",
        Value::Number(n) if n.is_f64() => "VALUE_NUMBER_FLOAT",
        Value::Number(_) => "VALUE_NUMBER_INT",
        Value::String(_) => "VALUE_STRING",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
    }
}

/// Fact sheet §4 `JSON_PARSER_ERROR`: a value of the wrong JSON type for the field.
fn cannot_deserialize(kind: &str, v: &Value) -> ErrorItem {
    let shown = match v {
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => String::new(),
        other => other.to_string(),
    };
    ErrorItem::new(
        "JSON_PARSER_ERROR",
        format!(
            "Cannot deserialize instance of {kind} from {} value {shown} or request may be missing a required field",
            json_token(v)
        ),
    )
}

fn read_only(field: &str) -> ErrorItem {
    ErrorItem::new(
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        format!(
            "Unable to create/update fields: {field}. Please check the security settings of this field and verify that it is read/write for your profile or permission set."
        ),
    )
    .on(&[field])
}

fn plausible_email(s: &str) -> bool {
    s.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.contains('@')
            && domain.split('.').count() >= 2
            && domain.split('.').all(|p| !p.is_empty())
            && !s.contains(char::is_whitespace)
    })
}

impl Store {
    pub fn new(schema: Schema, user_id: String) -> Self {
        Self {
            schema,
            rules: Vec::new(),
            tables: BTreeMap::new(),
            counters: HashMap::new(),
            locks: HashMap::new(),
            stats: SalesforceStats::default(),
            applied: Vec::new(),
            user_id,
        }
    }

    pub fn object(&self, name: &str) -> Result<ObjectDef, ApiError> {
        self.schema
            .object(name)
            .cloned()
            .ok_or_else(ApiError::not_found)
    }

    pub fn next_id(&mut self, prefix: &str) -> String {
        let n = self.counters.entry(prefix.to_owned()).or_default();
        *n += 1;
        ids::make(prefix, *n)
    }

    pub fn applied(&self) -> &[AppliedWrite] {
        &self.applied
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            tables: self.tables.clone(),
            counters: self.counters.clone(),
            stats: self.stats.clone(),
            applied: self.applied.len(),
        }
    }

    /// Undoes every write since `snapshot` (requests and refusals stay counted).
    pub fn restore(&mut self, snapshot: Snapshot) {
        let keep = self.stats.clone();
        self.tables = snapshot.tables;
        self.counters = snapshot.counters;
        self.stats = SalesforceStats {
            writes: snapshot.stats.writes,
            creates: snapshot.stats.creates,
            updates: snapshot.stats.updates,
            deletes: snapshot.stats.deletes,
            ..keep
        };
        self.applied.truncate(snapshot.applied);
    }

    pub fn lock(&mut self, id: &str, writes: u32) {
        let id = ids::normalize(id).unwrap_or_else(|| id.to_owned());
        self.locks.insert(id, writes);
    }

    /// Fact sheet §4 `UNABLE_TO_LOCK_ROW`: the switch refuses the next N writes to a record.
    fn take_lock(&mut self, id: &str) -> Result<(), ErrorItem> {
        match self.locks.get_mut(id) {
            Some(n) if *n > 0 => {
                *n -= 1;
                self.stats.lock_refusals += 1;
                Err(ErrorItem::new(
                    "UNABLE_TO_LOCK_ROW",
                    format!("unable to obtain exclusive access to this record or 1 records: {id}"),
                )
                .on(&[]))
            }
            _ => Ok(()),
        }
    }

    /// Every record of an object, deleted ones too, in id (creation) order.
    pub fn all(&self, object: &str) -> impl Iterator<Item = &Record> {
        self.tables.get(object).into_iter().flat_map(|t| t.values())
    }

    pub fn live(&self, object: &str) -> impl Iterator<Item = &Record> {
        self.all(object).filter(|r| !r.deleted)
    }

    pub fn get(&self, object: &str, id: &str) -> Option<&Record> {
        self.tables.get(object)?.get(id)
    }

    /// Ids of live records whose `field` matches `value` under the field's index comparison.
    pub fn matching(&self, od: &ObjectDef, field: &FieldDef, value: &Value) -> Vec<String> {
        let Some(key) = field.key(value) else {
            return Vec::new();
        };
        self.live(&od.name)
            .filter(|r| {
                r.fields
                    .get(&field.name)
                    .and_then(|v| field.key(v))
                    .is_some_and(|k| k == key)
            })
            .map(|r| r.id.clone())
            .collect()
    }

    /// The canonical id a path segment names, for an object (fact sheet §2 on bad ids).
    pub fn resolve_id(&self, od: &ObjectDef, segment: &str) -> Result<String, ApiError> {
        let Some(id) = ids::normalize(segment) else {
            // Not shaped like an id: Salesforce reads the segment as an external-id field name.
            return Err(ApiError::one(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!(
                    "Provided external ID field does not exist or is not accessible: {segment}"
                ),
            ));
        };
        if !id.starts_with(&od.key_prefix) {
            return Err(ApiError::bad(vec![
                ErrorItem::new(
                    "MALFORMED_ID",
                    format!("{} ID: id value of incorrect type: {segment}", od.label),
                )
                .on(&["Id"]),
            ]));
        }
        Ok(id)
    }

    /// The value of any readable field, system fields computed.
    pub fn value(&self, rec: &Record, name: &str) -> Value {
        match name {
            "Id" => json!(rec.id),
            "IsDeleted" => json!(rec.deleted),
            "CreatedDate" => json!(format_datetime(rec.created_ms)),
            "LastModifiedDate" | "SystemModstamp" => json!(format_datetime(rec.modified_ms)),
            "CreatedById" | "LastModifiedById" => json!(self.user_id),
            other => rec.fields.get(other).cloned().unwrap_or(Value::Null),
        }
    }

    /// A record as retrieve and SOQL show it: `attributes`, then the fields asked for.
    pub fn render(&self, rec: &Record, fields: &[String], version: &str) -> Value {
        let mut out = Map::new();
        out.insert(
            "attributes".into(),
            json!({"type": rec.object,
                   "url": format!("/services/data/v{version}/sobjects/{}/{}", rec.object, rec.id)}),
        );
        for name in fields {
            out.insert(name.clone(), self.value(rec, name));
        }
        Value::Object(out)
    }

    /// Checks and normalizes one value for a field (fact sheet §4 codes).
    fn normalize(&self, fd: &FieldDef, v: &Value) -> Result<Value, ErrorItem> {
        let at = [fd.name.as_str()];
        if v.is_null() {
            return Ok(match fd.kind {
                Kind::Checkbox => json!(false),
                _ => Value::Null,
            });
        }
        let text = |kind: &str| v.as_str().ok_or_else(|| cannot_deserialize(kind, v));
        let too_long = |s: &str, max: usize| {
            ErrorItem::new(
                "STRING_TOO_LONG",
                format!("{}: data value too large: {s} (max length={max})", fd.label),
            )
            .on(&at)
        };
        match &fd.kind {
            Kind::Text { length } => {
                let s = text("string")?;
                if s.chars().count() > *length {
                    return Err(too_long(s, *length));
                }
                // Salesforce stores an empty text as null.
                Ok(if s.is_empty() { Value::Null } else { json!(s) })
            }
            Kind::Email => {
                let s = text("string")?;
                if s.chars().count() > 80 {
                    return Err(too_long(s, 80));
                }
                if s.is_empty() {
                    return Ok(Value::Null);
                }
                if !plausible_email(s) {
                    return Err(ErrorItem::new(
                        "INVALID_EMAIL_ADDRESS",
                        format!("{}: invalid email address: {s}", fd.label),
                    )
                    .on(&at));
                }
                Ok(json!(s))
            }
            Kind::Picklist { values } => {
                let s = text("string")?;
                if s.is_empty() {
                    return Ok(Value::Null);
                }
                if !values.iter().any(|p| p == s) {
                    return Err(ErrorItem::new(
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        format!("{}: bad value for restricted picklist field: {s}", fd.label),
                    )
                    .on(&at));
                }
                Ok(json!(s))
            }
            Kind::Number => v
                .is_number()
                .then(|| v.clone())
                .ok_or_else(|| cannot_deserialize("double", v)),
            Kind::Checkbox => v
                .is_boolean()
                .then(|| v.clone())
                .ok_or_else(|| cannot_deserialize("boolean", v)),
            Kind::Date => {
                let s = text("date")?;
                parse_date(s)
                    .map(|_| json!(s))
                    .ok_or_else(|| cannot_deserialize("date", v))
            }
            Kind::DateTime => {
                let s = text("datetime")?;
                parse_datetime(s)
                    .map(|ms| json!(format_datetime(ms)))
                    .ok_or_else(|| cannot_deserialize("datetime", v))
            }
            Kind::Reference { to } => {
                let s = text("string")?;
                if s.is_empty() {
                    return Ok(Value::Null);
                }
                self.lookup(fd, to, s).map(Value::String)
            }
            Kind::AutoNumber { .. } => Err(read_only(&fd.name)),
        }
    }

    /// A lookup id: of the target's key prefix, naming a live record.
    fn lookup(&self, fd: &FieldDef, to: &str, s: &str) -> Result<String, ErrorItem> {
        let at = [fd.name.as_str()];
        let target = self.schema.object(to);
        let id = ids::normalize(s)
            .filter(|id| target.is_some_and(|t| id.starts_with(&t.key_prefix)))
            .ok_or_else(|| {
                ErrorItem::new(
                    "MALFORMED_ID",
                    format!("{}: id value of incorrect type: {s}", fd.label),
                )
                .on(&at)
            })?;
        let name = target.map(|t| t.name.clone()).unwrap_or_default();
        match self.get(&name, &id) {
            Some(r) if !r.deleted => Ok(id),
            Some(_) => Err(ErrorItem::new("ENTITY_IS_DELETED", "entity is deleted").on(&at)),
            None => Err(ErrorItem::new(
                "INVALID_CROSS_REFERENCE_KEY",
                "invalid cross reference id",
            )
            .on(&at)),
        }
    }

    /// A lookup set by the parent's external id: `"Account__r": {"Stripe_Customer_Id__c": "cus_1"}`
    /// (fact sheet §2, related records by external id).
    fn relationship(&self, fd: &FieldDef, v: &Value) -> Result<Value, ErrorItem> {
        let Kind::Reference { to } = &fd.kind else {
            return Err(ErrorItem::new("INVALID_FIELD", "not a relationship"));
        };
        let Some(body) = v.as_object() else {
            return Err(cannot_deserialize(&format!("SObject {to}"), v));
        };
        let keys: Vec<(&String, &Value)> =
            body.iter().filter(|(k, _)| *k != "attributes").collect();
        let target = self
            .object(to)
            .map_err(|_| ErrorItem::new("INVALID_TYPE", to.clone()))?;
        let [(key, value)] = keys.as_slice() else {
            return Err(ErrorItem::new(
                "INVALID_FIELD",
                format!("Foreign key external ID must name exactly one field for entity {to}"),
            ));
        };
        let ext = target.find(key).filter(|f| f.external_id).ok_or_else(|| {
            ErrorItem::new(
                "INVALID_FIELD",
                format!("Field {key} is not an External ID or indexed field for {to}"),
            )
        })?;
        let shown = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned);
        match self.matching(&target, ext, value).as_slice() {
            [id] => Ok(json!(id)),
            [] => Err(ErrorItem::new(
                "INVALID_FIELD",
                format!(
                    "Foreign key external ID: {shown} not found for field {} in entity {to}",
                    ext.name
                ),
            )),
            many => Err(ErrorItem::new(
                "DUPLICATE_EXTERNAL_ID",
                format!(
                    "Foreign key external ID: {shown} for field {} in entity {to} matched more than one record: [{}]",
                    ext.name,
                    many.join(", ")
                ),
            )),
        }
    }

    /// The body as canonical, normalized changes; the first field error refuses the save.
    pub fn changes(
        &self,
        od: &ObjectDef,
        body: &Map<String, Value>,
        creating: bool,
    ) -> Result<Map<String, Value>, ErrorItem> {
        let mut out = Map::new();
        for (key, value) in body {
            if key == "attributes" {
                continue;
            }
            if key.eq_ignore_ascii_case("Id") {
                // Fact sheet §2: "The Id field should not be specified in the sobject data."
                return Err(if creating {
                    ErrorItem::new(
                        "INVALID_FIELD_FOR_INSERT_UPDATE",
                        "cannot specify Id in an insert call",
                    )
                    .on(&["Id"])
                } else {
                    ErrorItem::new(
                        "INVALID_FIELD",
                        "The Id field should not be specified in the sobject data.",
                    )
                });
            }
            if let Some(system) = ObjectDef::system(key) {
                return Err(read_only(system));
            }
            if let Some(fd) = od.find(key) {
                out.insert(fd.name.clone(), self.normalize(fd, value)?);
                continue;
            }
            let related = od.fields.iter().find(|f| {
                f.relationship_name()
                    .is_some_and(|r| r.eq_ignore_ascii_case(key))
            });
            match related {
                Some(fd) => {
                    out.insert(fd.name.clone(), self.relationship(fd, value)?);
                }
                None => {
                    return Err(ErrorItem::new(
                        "INVALID_FIELD",
                        format!("No such column '{key}' on sobject of type {}", od.name),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Required fields, validation rules and unique indexes against the record as it would be
    /// saved. Validation rules all report; the others stop at their step.
    fn check_save(
        &self,
        od: &ObjectDef,
        existing: Option<&Record>,
        changes: &Map<String, Value>,
    ) -> Result<(), Vec<ErrorItem>> {
        let merged = |name: &str| -> Value {
            changes
                .get(name)
                .cloned()
                .or_else(|| existing.map(|r| self.value(r, name)))
                .unwrap_or(Value::Null)
        };
        let missing: Vec<String> = od
            .fields
            .iter()
            .filter(|f| f.required && !matches!(f.kind, Kind::AutoNumber { .. }))
            .filter(|f| merged(&f.name).is_null())
            .map(|f| f.name.clone())
            .collect();
        if !missing.is_empty() {
            return Err(vec![
                ErrorItem::new(
                    "REQUIRED_FIELD_MISSING",
                    format!("Required fields are missing: [{}]", missing.join(", ")),
                )
                .on_fields(missing),
            ]);
        }
        let get =
            |name: &str| -> Value { od.readable(name).map(|n| merged(&n)).unwrap_or(Value::Null) };
        let failed: Vec<ErrorItem> = self
            .rules
            .iter()
            .filter(|r| r.object.eq_ignore_ascii_case(&od.name) && r.when.holds(&get))
            .map(|r| {
                ErrorItem::new("FIELD_CUSTOM_VALIDATION_EXCEPTION", r.error_message.clone())
                    .on_fields(r.error_field.iter().cloned().collect())
            })
            .collect();
        if !failed.is_empty() {
            return Err(failed);
        }
        for fd in od.fields.iter().filter(|f| f.unique) {
            let Some(value) = changes.get(&fd.name).filter(|v| !v.is_null()) else {
                continue;
            };
            let clash = self
                .matching(od, fd, value)
                .into_iter()
                .find(|id| existing.is_none_or(|r| &r.id != id));
            if let Some(other) = clash {
                return Err(vec![
                    ErrorItem::new(
                        "DUPLICATE_VALUE",
                        format!(
                            "duplicate value found: {} duplicates value on record with id: {other}",
                            fd.name
                        ),
                    )
                    .on(&[]),
                ]);
            }
        }
        Ok(())
    }

    fn log(&mut self, object: &str, action: WriteAction, id: &str, at_ms: i64) {
        self.stats.writes += 1;
        match action {
            WriteAction::Create => self.stats.creates += 1,
            WriteAction::Update => self.stats.updates += 1,
            WriteAction::Delete => self.stats.deletes += 1,
        }
        self.applied.push(AppliedWrite {
            seq: self.applied.len() as u64 + 1,
            object: object.to_owned(),
            action,
            id: id.to_owned(),
            at: format_datetime(at_ms),
        });
    }

    /// Creates a record; `drop` answers as if it were saved and keeps nothing (the
    /// silent-drop fault). Returns the id.
    pub fn create(
        &mut self,
        od: &ObjectDef,
        body: &Map<String, Value>,
        now_ms: i64,
        drop: bool,
    ) -> Result<String, Vec<ErrorItem>> {
        let changes = self.changes(od, body, true).map_err(|e| vec![e])?;
        self.insert(od, changes, now_ms, drop)
    }

    fn insert(
        &mut self,
        od: &ObjectDef,
        mut fields: Map<String, Value>,
        now_ms: i64,
        drop: bool,
    ) -> Result<String, Vec<ErrorItem>> {
        self.check_save(od, None, &fields)?;
        let id = self.next_id(&od.key_prefix);
        if drop {
            self.stats.silent_drops += 1;
            return Ok(id);
        }
        for fd in &od.fields {
            if let Kind::AutoNumber { format } = &fd.kind {
                let key = format!("{}.{}", od.name, fd.name);
                let n = self.counters.entry(key).or_default();
                *n += 1;
                fields.insert(fd.name.clone(), json!(auto_number(format, *n)));
            }
        }
        let at = stamp(now_ms);
        let record = Record {
            id: id.clone(),
            object: od.name.clone(),
            fields,
            created_ms: at,
            modified_ms: at,
            deleted: false,
        };
        self.tables
            .entry(od.name.clone())
            .or_default()
            .insert(id.clone(), record);
        self.log(&od.name, WriteAction::Create, &id, at);
        Ok(id)
    }

    /// The live record a write addresses: 404 `NOT_FOUND`, or `ENTITY_IS_DELETED` in the bin.
    fn writable(&self, od: &ObjectDef, id: &str) -> Result<(), ApiError> {
        match self.get(&od.name, id) {
            Some(r) if !r.deleted => Ok(()),
            Some(_) => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                vec![ErrorItem::new("ENTITY_IS_DELETED", "entity is deleted").on(&[])],
            )),
            None => Err(ApiError::not_found()),
        }
    }

    pub fn update(
        &mut self,
        od: &ObjectDef,
        id: &str,
        body: &Map<String, Value>,
        now_ms: i64,
        drop: bool,
    ) -> Result<(), ApiError> {
        self.writable(od, id)?;
        self.take_lock(id).map_err(|e| ApiError::bad(vec![e]))?;
        let changes = self
            .changes(od, body, false)
            .map_err(|e| ApiError::bad(vec![e]))?;
        self.apply_update(od, id, changes, now_ms, drop)
            .map_err(ApiError::bad)
    }

    fn apply_update(
        &mut self,
        od: &ObjectDef,
        id: &str,
        changes: Map<String, Value>,
        now_ms: i64,
        drop: bool,
    ) -> Result<(), Vec<ErrorItem>> {
        self.check_save(od, self.get(&od.name, id), &changes)?;
        if drop {
            self.stats.silent_drops += 1;
            return Ok(());
        }
        let at = stamp(now_ms);
        if let Some(rec) = self.tables.get_mut(&od.name).and_then(|t| t.get_mut(id)) {
            rec.fields.extend(changes);
            // Every save moves LastModifiedDate and SystemModstamp, changed values or not.
            rec.modified_ms = at;
        }
        self.log(&od.name, WriteAction::Update, id, at);
        Ok(())
    }

    /// Fact sheet §2, upsert by external ID. `value` is the path's external-id value.
    #[expect(
        clippy::too_many_arguments,
        reason = "one upsert's inputs, named at the call"
    )]
    pub fn upsert(
        &mut self,
        od: &ObjectDef,
        field: &FieldDef,
        value: &Value,
        body: &Map<String, Value>,
        update_only: bool,
        now_ms: i64,
        drop: bool,
    ) -> Result<Upserted, ApiError> {
        let ids = self.matching(od, field, value);
        match ids.as_slice() {
            [] if update_only => Err(ApiError::not_found()),
            [] => {
                let mut changes = self
                    .changes(od, body, true)
                    .map_err(|e| ApiError::bad(vec![e]))?;
                let value = self
                    .normalize(field, value)
                    .map_err(|e| ApiError::bad(vec![e]))?;
                changes.insert(field.name.clone(), value);
                self.insert(od, changes, now_ms, drop)
                    .map(Upserted::Created)
                    .map_err(ApiError::bad)
            }
            [id] => {
                let id = id.clone();
                self.update(od, &id, body, now_ms, drop)?;
                Ok(Upserted::Updated(id))
            }
            _ => Ok(Upserted::Multiple(ids)),
        }
    }

    pub fn delete(
        &mut self,
        od: &ObjectDef,
        id: &str,
        now_ms: i64,
        drop: bool,
    ) -> Result<(), ApiError> {
        self.writable(od, id)?;
        self.take_lock(id).map_err(|e| ApiError::bad(vec![e]))?;
        if drop {
            self.stats.silent_drops += 1;
            return Ok(());
        }
        let at = stamp(now_ms);
        if let Some(rec) = self.tables.get_mut(&od.name).and_then(|t| t.get_mut(id)) {
            rec.deleted = true;
            rec.modified_ms = at;
        }
        self.log(&od.name, WriteAction::Delete, id, at);
        Ok(())
    }

    /// Adds a record as the org already holds it (test setup): checked like an API create,
    /// but neither counted nor logged as a write.
    pub fn seed(
        &mut self,
        object: &str,
        body: &Map<String, Value>,
        now_ms: i64,
    ) -> Result<String, ApiError> {
        let od = self.object(object)?;
        let (stats, applied) = (self.stats.clone(), self.applied.len());
        let id = self
            .create(&od, body, now_ms, false)
            .map_err(ApiError::bad)?;
        self.stats = stats;
        self.applied.truncate(applied);
        Ok(id)
    }
}

impl Store {
    /// A user's edit of a record in Salesforce's own UI: saved like an update (validation
    /// rules, SystemModstamp), but neither an API request nor an applied write.
    pub fn edit(
        &mut self,
        object: &str,
        id: &str,
        body: &Map<String, Value>,
        now_ms: i64,
    ) -> Result<(), ApiError> {
        let od = self.object(object)?;
        let (stats, applied) = (self.stats.clone(), self.applied.len());
        self.update(&od, id, body, now_ms, false)?;
        self.stats = stats;
        self.applied.truncate(applied);
        Ok(())
    }
}

/// `SUB-{000000}` with 7 -> `SUB-000007`.
fn auto_number(format: &str, n: u64) -> String {
    match (format.find('{'), format.find('}')) {
        (Some(open), Some(close)) if open < close => {
            let width = close - open - 1;
            format!("{}{n:0width$}{}", &format[..open], &format[close + 1..])
        }
        _ => format!("{format}{n}"),
    }
}
