//! Single-record resources (fact sheet §2): create, retrieve, update, delete, get and upsert
//! by external id; plus the version list, the version's resources and `limits`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Shared;
use super::error::{ApiError, ErrorItem, json_reply};
use super::gate::Version;
use super::schema::{FieldDef, Kind, ObjectDef};
use super::store::Upserted;

type Reply = Result<Response, ApiError>;

#[derive(Deserialize)]
pub struct ObjectPath {
    object: String,
}

#[derive(Deserialize)]
pub struct RecordPath {
    object: String,
    id: String,
}

#[derive(Deserialize)]
pub struct ExtPath {
    object: String,
    field: String,
    value: String,
}

/// `2025 Winter` style release names: v60.0 is Spring '24, three releases a year.
fn release_label(version: &str) -> String {
    let k = i64::from(super::major(version)) - 60;
    let season = ["Spring", "Summer", "Winter"][k.rem_euclid(3) as usize];
    let year = 24 + k.div_euclid(3) + i64::from(k.rem_euclid(3) == 2);
    format!("{season} '{year:02}")
}

/// Fact sheet §1: `GET /services/data/` lists versions, unauthenticated, no limit header.
pub async fn versions(State(sim): State<Arc<Shared>>) -> Response {
    let list: Vec<Value> = sim
        .config
        .api_versions
        .iter()
        .map(|v| json!({"label": release_label(v), "url": format!("/services/data/v{v}"), "version": v}))
        .collect();
    json_reply(StatusCode::OK, &Value::Array(list))
}

pub async fn resources(Extension(v): Extension<Version>) -> Response {
    let base = format!("/services/data/v{}", v.0);
    json_reply(
        StatusCode::OK,
        &json!({"sobjects": format!("{base}/sobjects"), "query": format!("{base}/query"),
                "queryAll": format!("{base}/queryAll"), "limits": format!("{base}/limits"),
                "composite": format!("{base}/composite")}),
    )
}

/// Fact sheet §5: `DailyApiRequests.{Max,Remaining}`.
pub async fn limits(State(sim): State<Arc<Shared>>) -> Response {
    let now = sim.now_ms();
    let (used, max) = {
        let mut usage = sim.usage();
        (usage.used(now), usage.limit)
    };
    json_reply(
        StatusCode::OK,
        &json!({"DailyApiRequests": {"Max": max, "Remaining": max.saturating_sub(used)}}),
    )
}

/// A JSON request body. Salesforce takes JSON (or XML, not simulated); a declared other type
/// is 415 (fact sheet §4).
pub fn read_json(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if let Some(kind) = declared.filter(|k| !k.to_ascii_lowercase().contains("json")) {
        return Err(ApiError::one(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            format!("Content-Type header specified in HTTP request is not supported: {kind}"),
        ));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::json_parser(
            "No content to map due to end-of-input at [line:1, column:0]",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        let text = e.to_string();
        let what = text.split(" at line ").next().unwrap_or(&text).to_owned();
        ApiError::json_parser(format!(
            "{what} at [line:{}, column:{}]",
            e.line(),
            e.column()
        ))
    })
}

/// The body of a single-record write: a JSON object.
fn record_body(headers: &HeaderMap, body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match read_json(headers, body)? {
        Value::Object(map) => Ok(map),
        other => Err(ApiError::json_parser(format!(
            "Cannot deserialize instance of SObject from {} value or request may be missing a required field at [line:1, column:1]",
            if other.is_array() {
                "START_ARRAY"
            } else {
                "VALUE_STRING"
            }
        ))),
    }
}

fn object(sim: &Shared, name: &str) -> Result<ObjectDef, ApiError> {
    sim.store().object(name)
}

/// `?fields=` as canonical names; every field when absent.
pub fn field_list(od: &ObjectDef, fields: Option<&str>) -> Result<Vec<String>, ApiError> {
    let Some(list) = fields.filter(|f| !f.trim().is_empty()) else {
        return Ok(od.all_names());
    };
    list.split(',')
        .map(str::trim)
        .map(|f| {
            od.readable(f).ok_or_else(|| {
                ApiError::bad(vec![ErrorItem::new(
                    "INVALID_FIELD",
                    format!(
                        "No such column '{f}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
                        od.name
                    ),
                )])
            })
        })
        .collect()
}

fn url(v: &Version, object: &str, id: &str) -> String {
    format!("/services/data/v{}/sobjects/{object}/{id}", v.0)
}

fn created(v: &Version, object: &str, id: &str, upsert: bool) -> Response {
    let mut body = json!({"id": id, "success": true, "errors": []});
    if upsert && v.major() >= 46 {
        body["created"] = json!(true);
    }
    let mut response = json_reply(StatusCode::CREATED, &body);
    if let Ok(location) = HeaderValue::from_str(&url(v, object, id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// The answer to a write that went through, unless the error-after-write fault eats it.
fn after_write(sim: &Shared, ok: Response) -> Reply {
    match sim.lose_answer() {
        Some(e) => Err(e),
        None => Ok(ok),
    }
}

/// Fact sheet §2, create: 201 `{"id","errors":[],"success":true}` and `Location`.
pub async fn create(
    State(sim): State<Arc<Shared>>,
    Extension(v): Extension<Version>,
    Path(p): Path<ObjectPath>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let od = object(&sim, &p.object)?;
    let body = record_body(&headers, &body)?;
    let (now, drop) = (sim.now_ms(), sim.roll_drop());
    let id = sim
        .store()
        .create(&od, &body, now, drop)
        .map_err(ApiError::bad)?;
    after_write(&sim, created(&v, &od.name, &id, false))
}

/// Fact sheet §2: `POST /sobjects/{SObject}/Id` inserts (API >= 37.0).
pub async fn create_by_id_field(
    State(sim): State<Arc<Shared>>,
    Extension(v): Extension<Version>,
    Path(p): Path<RecordPath>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    if !p.id.eq_ignore_ascii_case("Id") || v.major() < 37 {
        return Err(super::gate::method_not_allowed(axum::http::Method::POST).await);
    }
    create(
        State(sim),
        Extension(v),
        Path(ObjectPath { object: p.object }),
        headers,
        body,
    )
    .await
}

fn describe(od: &ObjectDef) -> Response {
    let fields: Vec<Value> = ObjectDef::system_fields()
        .map(|name| json!({"name": name, "createable": false, "updateable": false, "externalId": false, "unique": false, "nillable": name == "IsDeleted"}))
        .chain(od.fields.iter().map(|f| {
            let writable = !matches!(f.kind, Kind::AutoNumber { .. });
            json!({"name": f.name, "label": f.label, "type": kind_name(&f.kind),
                   "length": match f.kind { Kind::Text { length } => length, Kind::Email => 80, _ => 0 },
                   "nillable": !f.required, "unique": f.unique, "externalId": f.external_id,
                   "caseSensitive": f.case_sensitive, "createable": writable, "updateable": writable,
                   "referenceTo": match &f.kind { Kind::Reference { to } => vec![to.clone()], _ => vec![] },
                   "relationshipName": f.relationship_name()})
        }))
        .collect();
    json_reply(
        StatusCode::OK,
        &json!({"name": od.name, "label": od.label, "keyPrefix": od.key_prefix,
                "custom": od.custom(), "fields": fields}),
    )
}

fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Text { .. } => "string",
        Kind::Email => "email",
        Kind::Picklist { .. } => "picklist",
        Kind::Number => "double",
        Kind::Checkbox => "boolean",
        Kind::Date => "date",
        Kind::DateTime => "datetime",
        Kind::Reference { .. } => "reference",
        Kind::AutoNumber { .. } => "string",
    }
}

/// Fact sheet §2, retrieve: the record with `attributes`, all fields or `?fields=`.
pub async fn retrieve(
    State(sim): State<Arc<Shared>>,
    Extension(v): Extension<Version>,
    Path(p): Path<RecordPath>,
    Query(q): Query<HashMap<String, String>>,
) -> Reply {
    let od = object(&sim, &p.object)?;
    if p.id == "describe" {
        return Ok(describe(&od));
    }
    let fields = field_list(&od, q.get("fields").map(String::as_str))?;
    let store = sim.store();
    let id = store.resolve_id(&od, &p.id)?;
    let rec = store
        .get(&od.name, &id)
        .filter(|r| !r.deleted)
        .ok_or_else(ApiError::not_found)?;
    Ok(json_reply(
        StatusCode::OK,
        &store.render(rec, &fields, &v.0),
    ))
}

/// Fact sheet §2, update: 204 with no body.
pub async fn update(
    State(sim): State<Arc<Shared>>,
    Path(p): Path<RecordPath>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let od = object(&sim, &p.object)?;
    let body = record_body(&headers, &body)?;
    let (now, drop) = (sim.now_ms(), sim.roll_drop());
    {
        let mut store = sim.store();
        let id = store.resolve_id(&od, &p.id)?;
        store.update(&od, &id, &body, now, drop)?;
    }
    after_write(&sim, StatusCode::NO_CONTENT.into_response())
}

/// Fact sheet §2, delete: 204.
pub async fn delete(State(sim): State<Arc<Shared>>, Path(p): Path<RecordPath>) -> Reply {
    let od = object(&sim, &p.object)?;
    let (now, drop) = (sim.now_ms(), sim.roll_drop());
    {
        let mut store = sim.store();
        let id = store.resolve_id(&od, &p.id)?;
        store.delete(&od, &id, now, drop)?;
    }
    after_write(&sim, StatusCode::NO_CONTENT.into_response())
}

/// The external-id field a path names: 404 `NOT_FOUND` when it is not one (fact sheet §2).
fn external_field(od: &ObjectDef, name: &str) -> Result<FieldDef, ApiError> {
    od.find(name)
        .filter(|f| f.external_id)
        .cloned()
        .ok_or_else(ApiError::not_found)
}

/// The path's external-id value as the field's type.
fn path_value(fd: &FieldDef, s: &str) -> Value {
    match fd.kind {
        Kind::Number => s.parse::<f64>().map_or_else(|_| json!(s), |n| json!(n)),
        _ => json!(s),
    }
}

/// Fact sheet §2: 300 with the matching records' URLs; nothing written.
fn multiple(v: &Version, object: &str, ids: &[String]) -> Response {
    let urls: Vec<String> = ids.iter().map(|id| url(v, object, id)).collect();
    json_reply(StatusCode::MULTIPLE_CHOICES, &json!(urls))
}

/// Fact sheet §2, get by external id: 200 the record, 300 when several match.
pub async fn retrieve_by_external_id(
    State(sim): State<Arc<Shared>>,
    Extension(v): Extension<Version>,
    Path(p): Path<ExtPath>,
    Query(q): Query<HashMap<String, String>>,
) -> Reply {
    let od = object(&sim, &p.object)?;
    let fields = field_list(&od, q.get("fields").map(String::as_str))?;
    let store = sim.store();
    let ids = if p.field.eq_ignore_ascii_case("Id") {
        vec![store.resolve_id(&od, &p.value)?]
    } else {
        let fd = external_field(&od, &p.field)?;
        store.matching(&od, &fd, &path_value(&fd, &p.value))
    };
    match ids.as_slice() {
        [id] => {
            let rec = store
                .get(&od.name, id)
                .filter(|r| !r.deleted)
                .ok_or_else(ApiError::not_found)?;
            Ok(json_reply(
                StatusCode::OK,
                &store.render(rec, &fields, &v.0),
            ))
        }
        [] => Err(ApiError::not_found()),
        many => Ok(multiple(&v, &od.name, many)),
    }
}

/// Fact sheet §2, upsert by external ID: 201 `created:true`; an update is 200
/// `created:false` from API 46.0 and 204 before; 300 on several matches; `?updateOnly=true`
/// never creates. The body names neither `Id` nor the external-id field.
pub async fn upsert(
    State(sim): State<Arc<Shared>>,
    Extension(v): Extension<Version>,
    Path(p): Path<ExtPath>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let od = object(&sim, &p.object)?;
    let body = record_body(&headers, &body)?;
    let by_id = p.field.eq_ignore_ascii_case("Id");
    let fd = if by_id {
        None
    } else {
        Some(external_field(&od, &p.field)?)
    };
    for key in body.keys() {
        let named = key.eq_ignore_ascii_case("Id")
            || fd
                .as_ref()
                .is_some_and(|f| f.name.eq_ignore_ascii_case(key));
        if named {
            let shown = if key.eq_ignore_ascii_case("Id") {
                "Id"
            } else {
                key.as_str()
            };
            return Err(ApiError::bad(vec![ErrorItem::new(
                "INVALID_FIELD",
                format!("The {shown} field should not be specified in the sobject data."),
            )]));
        }
    }
    let update_only = q
        .get("updateOnly")
        .is_some_and(|u| u.eq_ignore_ascii_case("true"));
    let (now, drop) = (sim.now_ms(), sim.roll_drop());
    let outcome = {
        let mut store = sim.store();
        match &fd {
            None => {
                let id = store.resolve_id(&od, &p.value)?;
                store.update(&od, &id, &body, now, drop)?;
                Upserted::Updated(id)
            }
            Some(fd) => store.upsert(
                &od,
                fd,
                &path_value(fd, &p.value),
                &body,
                update_only,
                now,
                drop,
            )?,
        }
    };
    let response = match outcome {
        Upserted::Created(id) => created(&v, &od.name, &id, true),
        Upserted::Updated(id) if v.major() >= 46 => json_reply(
            StatusCode::OK,
            &json!({"id": id, "success": true, "errors": [], "created": false}),
        ),
        Upserted::Updated(_) => StatusCode::NO_CONTENT.into_response(),
        Upserted::Multiple(ids) => return Ok(multiple(&v, &od.name, &ids)),
    };
    after_write(&sim, response)
}

/// `DELETE /sobjects/{SObject}/{ExtIdField}/{value}`: 204, or 300 when several match.
pub async fn delete_by_external_id(
    State(sim): State<Arc<Shared>>,
    Extension(v): Extension<Version>,
    Path(p): Path<ExtPath>,
) -> Reply {
    let od = object(&sim, &p.object)?;
    let (now, drop) = (sim.now_ms(), sim.roll_drop());
    {
        let mut store = sim.store();
        let ids = if p.field.eq_ignore_ascii_case("Id") {
            vec![store.resolve_id(&od, &p.value)?]
        } else {
            let fd = external_field(&od, &p.field)?;
            store.matching(&od, &fd, &path_value(&fd, &p.value))
        };
        match ids.as_slice() {
            [id] => store.delete(&od, id, now, drop)?,
            [] => return Err(ApiError::not_found()),
            many => return Ok(multiple(&v, &od.name, many)),
        }
    }
    after_write(&sim, StatusCode::NO_CONTENT.into_response())
}
