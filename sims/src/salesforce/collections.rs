//! sObject Collections, `/composite/sobjects` (fact sheet §3): up to 200 records per request,
//! results in request order, 200 with per-record results (errors keyed `statusCode`) even when
//! some fail, and `allOrNone` rolling every record back when one fails.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Shared;
use super::error::{ApiError, ErrorItem, json_reply};
use super::gate::Version;
use super::ids;
use super::schema::ObjectDef;
use super::sobjects::{field_list, read_json};
use super::store::{Store, Upserted};

type Reply = Result<Response, ApiError>;

/// Fact sheet §3: at most 200 records (or ids) per request.
const MAX_RECORDS: usize = 200;

#[derive(Deserialize)]
pub struct ObjectPath {
    object: String,
}

#[derive(Deserialize)]
pub struct UpsertPath {
    object: String,
    field: String,
}

/// One record's outcome.
struct Outcome {
    /// Known for updates, deletes and successful creates.
    id: Option<String>,
    result: Result<Option<bool>, Vec<ErrorItem>>,
    /// The record was created here: a rollback leaves it without an id.
    new: bool,
}

impl Outcome {
    fn ok(id: String, created: Option<bool>, new: bool) -> Self {
        Self {
            id: Some(id),
            result: Ok(created),
            new,
        }
    }

    fn failed(id: Option<String>, errors: Vec<ErrorItem>) -> Self {
        Self {
            id,
            result: Err(errors),
            new: false,
        }
    }
}

impl Outcome {
    fn json(&self) -> Value {
        let mut v = match &self.result {
            Ok(created) => {
                let mut v = json!({"success": true, "errors": []});
                if let Some(created) = created {
                    v["created"] = json!(created);
                }
                v
            }
            Err(errors) => json!({"success": false,
                "errors": errors.iter().map(ErrorItem::record_json).collect::<Vec<_>>()}),
        };
        v["id"] = self.id.as_ref().map_or(Value::Null, |id| json!(id));
        v
    }
}

fn too_many() -> ApiError {
    ApiError::bad(vec![ErrorItem::new(
        "EXCEEDED_ID_LIMIT",
        format!(
            "record limit reached. cannot submit more than {MAX_RECORDS} records into this call"
        ),
    )])
}

/// `{"allOrNone": bool, "records": [...]}`; anything else is a malformed request (400).
fn batch(headers: &HeaderMap, body: &Bytes) -> Result<(bool, Vec<Map<String, Value>>), ApiError> {
    let Value::Object(body) = read_json(headers, body)? else {
        return Err(ApiError::json_parser(
            "Cannot deserialize instance of SObjectCollection from START_ARRAY value",
        ));
    };
    if let Some(key) = body.keys().find(|k| *k != "allOrNone" && *k != "records") {
        return Err(ApiError::json_parser(format!(
            "Unrecognized field \"{key}\" (class SObjectCollectionRequest), not marked as ignorable"
        )));
    }
    let all_or_none = match body.get("allOrNone") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(ApiError::json_parser(format!(
                "Cannot deserialize instance of boolean from value {other}"
            )));
        }
    };
    let records = body
        .get("records")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::json_parser("records is required"))?;
    if records.len() > MAX_RECORDS {
        return Err(too_many());
    }
    let records = records
        .iter()
        .map(|r| {
            r.as_object().cloned().ok_or_else(|| {
                ApiError::json_parser("Cannot deserialize instance of SObject from VALUE_STRING")
            })
        })
        .collect::<Result<_, _>>()?;
    Ok((all_or_none, records))
}

/// The record's `attributes.type`, resolved.
fn record_type(store: &Store, rec: &Map<String, Value>) -> Result<ObjectDef, Vec<ErrorItem>> {
    let name = rec
        .get("attributes")
        .and_then(|a| a.get("type"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            vec![ErrorItem::new(
                "INVALID_TYPE",
                "Must specify a type in attributes for every record",
            )]
        })?;
    store.object(name).map_err(|_| {
        vec![ErrorItem::new(
            "INVALID_TYPE",
            format!("sObject type '{name}' is not supported."),
        )]
    })
}

/// Runs one operation per record under one lock. With `allOrNone`, a failure rolls every
/// write back and the records that had succeeded report `ALL_OR_NONE_OPERATION_ROLLED_BACK`.
fn run<T>(
    sim: &Shared,
    all_or_none: bool,
    items: &[T],
    mut op: impl FnMut(&mut Store, &T, i64, bool) -> Outcome,
) -> Reply {
    let (now, drop) = (sim.now_ms(), sim.roll_drop());
    let outcomes = {
        let mut store = sim.store();
        let snapshot = all_or_none.then(|| store.snapshot());
        let mut outcomes: Vec<Outcome> = items
            .iter()
            .map(|item| op(&mut store, item, now, drop))
            .collect();
        let failed = outcomes.iter().any(|o| o.result.is_err());
        if let (Some(snapshot), true) = (snapshot, failed) {
            store.restore(snapshot);
            for o in outcomes.iter_mut().filter(|o| o.result.is_ok()) {
                if o.new {
                    o.id = None;
                }
                o.result = Err(vec![ErrorItem::new(
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "Record rolled back because not all records were valid and the request was using AllOrNone header",
                )
                .on(&[])]);
            }
        }
        outcomes
    };
    let body = Value::Array(outcomes.iter().map(Outcome::json).collect());
    match sim.lose_answer() {
        Some(e) => Err(e),
        None => Ok(json_reply(StatusCode::OK, &body)),
    }
}

/// `POST /composite/sobjects`: create; every record has `attributes.type` and no id.
pub async fn create(State(sim): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Reply {
    let (all_or_none, records) = batch(&headers, &body)?;
    run(
        &sim,
        all_or_none,
        &records,
        |store, rec, now, drop| match record_type(store, rec)
            .and_then(|od| store.create(&od, rec, now, drop))
        {
            Ok(id) => Outcome::ok(id, None, true),
            Err(errors) => Outcome::failed(None, errors),
        },
    )
}

/// `PATCH /composite/sobjects`: update; every record has `attributes.type` and `id`.
pub async fn update(State(sim): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Reply {
    let (all_or_none, records) = batch(&headers, &body)?;
    run(&sim, all_or_none, &records, |store, rec, now, drop| {
        let given = rec
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("id"))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_owned);
        let result = (|| {
            let od = record_type(store, rec)?;
            let given = given.clone().ok_or_else(|| {
                vec![
                    ErrorItem::new("MISSING_ARGUMENT", "Id not specified in an update call")
                        .on(&[]),
                ]
            })?;
            let id = store.resolve_id(&od, &given).map_err(|e| e.items)?;
            let mut fields = rec.clone();
            fields.retain(|k, _| !k.eq_ignore_ascii_case("id"));
            store
                .update(&od, &id, &fields, now, drop)
                .map_err(|e| e.items)?;
            Ok(id)
        })();
        match result {
            Ok(id) => Outcome::ok(id, None, false),
            Err(errors) => Outcome::failed(given, errors),
        }
    })
}

/// `PATCH /composite/sobjects/{SObject}/{ExtIdField}` (API >= 46.0): upsert; one type, the
/// external id inside each record; results carry `created`.
pub async fn upsert(
    State(sim): State<Arc<Shared>>,
    Extension(v): Extension<Version>,
    Path(p): Path<UpsertPath>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    if v.major() < 46 {
        return Err(ApiError::not_found());
    }
    let od = sim.store().object(&p.object)?;
    let fd = od
        .find(&p.field)
        .filter(|f| f.external_id)
        .cloned()
        .ok_or_else(ApiError::not_found)?;
    let (all_or_none, records) = batch(&headers, &body)?;
    run(&sim, all_or_none, &records, |store, rec, now, drop| {
        let result = (|| {
            let typed = record_type(store, rec)?;
            if typed.name != od.name {
                return Err(vec![ErrorItem::new(
                    "INVALID_TYPE",
                    format!("Record type {} does not match {}", typed.name, od.name),
                )]);
            }
            let value = rec
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&fd.name))
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_null())
                .ok_or_else(|| {
                    vec![
                        ErrorItem::new("MISSING_ARGUMENT", format!("{} not specified", fd.name))
                            .on(&[]),
                    ]
                })?;
            let mut fields = rec.clone();
            fields.retain(|k, _| !k.eq_ignore_ascii_case(&fd.name));
            match store
                .upsert(&od, &fd, &value, &fields, false, now, drop)
                .map_err(|e| e.items)?
            {
                Upserted::Created(id) => Ok((id, true)),
                Upserted::Updated(id) => Ok((id, false)),
                Upserted::Multiple(ids) => Err(vec![
                    ErrorItem::new(
                        "DUPLICATE_EXTERNAL_ID",
                        format!(
                            "{}: more than one record found for external id field: [{}]",
                            fd.name,
                            ids.join(", ")
                        ),
                    )
                    .on(&[]),
                ]),
            }
        })();
        match result {
            Ok((id, created)) => Outcome::ok(id, Some(created), created),
            Err(errors) => Outcome::failed(None, errors),
        }
    })
}

fn id_list(q: &HashMap<String, String>) -> Result<Vec<String>, ApiError> {
    let ids: Vec<String> = q
        .get("ids")
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() {
        return Err(ApiError::bad(vec![ErrorItem::new(
            "MISSING_ARGUMENT",
            "ids parameter is required",
        )]));
    }
    if ids.len() > MAX_RECORDS {
        return Err(too_many());
    }
    Ok(ids)
}

/// `DELETE /composite/sobjects?ids=...&allOrNone=...`.
pub async fn delete(
    State(sim): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Reply {
    let ids = id_list(&q)?;
    let all_or_none = q
        .get("allOrNone")
        .is_some_and(|a| a.eq_ignore_ascii_case("true"));
    run(&sim, all_or_none, &ids, |store, given, now, drop| {
        let result = (|| {
            let id = ids::normalize(given).ok_or_else(|| {
                vec![ErrorItem::new("MALFORMED_ID", format!("malformed id {given}")).on(&[])]
            })?;
            let od = store.schema.by_prefix(&id[..3]).cloned().ok_or_else(|| {
                vec![ErrorItem::new("ENTITY_IS_DELETED", "entity is deleted").on(&[])]
            })?;
            store.delete(&od, &id, now, drop).map_err(|e| e.items)?;
            Ok(id)
        })();
        match result {
            Ok(id) => Outcome::ok(id, None, false),
            Err(errors) => Outcome::failed(Some(given.clone()), errors),
        }
    })
}

fn retrieve_ids(
    sim: &Shared,
    v: &Version,
    object: &str,
    ids: &[String],
    fields: Option<&str>,
) -> Reply {
    let store = sim.store();
    let od = store.object(object)?;
    let fields = field_list(&od, fields)?;
    let records: Vec<Value> = ids
        .iter()
        .map(|given| {
            ids::normalize(given)
                .and_then(|id| store.get(&od.name, &id))
                .filter(|r| !r.deleted)
                .map_or(Value::Null, |r| store.render(r, &fields, &v.0))
        })
        .collect();
    Ok(json_reply(StatusCode::OK, &Value::Array(records)))
}

/// `GET /composite/sobjects/{SObject}?ids=...&fields=...`: records in id order, `null` for
/// ids that name none.
pub async fn retrieve(
    State(sim): State<Arc<Shared>>,
    Extension(v): Extension<Version>,
    Path(p): Path<ObjectPath>,
    Query(q): Query<HashMap<String, String>>,
) -> Reply {
    let ids = id_list(&q)?;
    let fields = required_fields(q.get("fields").map(String::as_str))?;
    retrieve_ids(&sim, &v, &p.object, &ids, Some(fields))
}

/// The documented `fields` parameter is required.
fn required_fields(fields: Option<&str>) -> Result<&str, ApiError> {
    fields.filter(|f| !f.trim().is_empty()).ok_or_else(|| {
        ApiError::bad(vec![ErrorItem::new(
            "MISSING_ARGUMENT",
            "fields parameter is required",
        )])
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetrieveBody {
    ids: Vec<String>,
    fields: Vec<String>,
}

/// `POST /composite/sobjects/{SObject}` with `{"ids": [...], "fields": [...]}`, for long lists.
pub async fn retrieve_post(
    State(sim): State<Arc<Shared>>,
    Extension(v): Extension<Version>,
    Path(p): Path<ObjectPath>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let body: RetrieveBody = serde_json::from_value(read_json(&headers, &body)?)
        .map_err(|e| ApiError::json_parser(e.to_string()))?;
    if body.ids.len() > 2000 {
        return Err(too_many());
    }
    let fields = body.fields.join(",");
    retrieve_ids(
        &sim,
        &v,
        &p.object,
        &body.ids,
        Some(required_fields(Some(&fields))?),
    )
}
