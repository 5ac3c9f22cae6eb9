//! The record API handlers: create, get, patch, upsert, delete and collection paging.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Shared;
use super::error::{NsError, SimResponse};
use super::schema::RecordType;
use super::store::{Target, Write, WriteOp};
use super::tba::percent_encode;

const MAX_LIMIT: usize = 1000;

fn record_type(s: &str) -> Result<RecordType, NsError> {
    RecordType::parse(s)
        .ok_or_else(|| NsError::nonexistent_id(format!("Record type '{s}' does not exist.")))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Runs a write now, or queues it as a job when the client asked `Prefer: respond-async`.
fn write(
    sim: &Shared,
    rt: &str,
    op: WriteOp,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: &[u8],
) -> Result<Response, NsError> {
    let rt = record_type(rt)?;
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(body).map_err(|e| {
            NsError::invalid_content(format!("The request body is not valid JSON: {e}"), "")
        })?
    };
    let respond_async = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"));
    // "Asynchronous Request Idempotency": the key is honoured only together with
    // `Prefer: respond-async`; synchronous requests have no idempotency mechanism, so the
    // simulator ignores (and does not record) a key sent with one.
    let idempotency_key = match header(headers, "x-netsuite-idempotency-key") {
        Some(key) if respond_async => Some(idempotency_key(key)?),
        _ => None,
    };
    let write = Write {
        rt,
        op,
        body,
        strict: header(headers, "x-netsuite-propertynamevalidation")
            .is_some_and(|v| v.eq_ignore_ascii_case("error")),
        idempotency_key,
        job: None,
        // "Replacing a Sublist": `?replace=a,b` names the sublists sent whole.
        replace: query
            .get("replace")
            .map(|r| {
                r.split(',')
                    .map(|n| n.trim().to_owned())
                    .filter(|n| !n.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
    };
    let mut store = sim.store();
    Ok(if respond_async {
        store.submit(write)
    } else {
        store.execute(&write, &sim.faults).into_response()
    })
}

/// The documentation gives the key as a UUID (RFC 4122); it is silent on other values, so the
/// simulator takes the strictest reading and refuses them, naming the header.
fn idempotency_key(key: &str) -> Result<String, NsError> {
    let hex =
        |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_hexdigit());
    let parts: Vec<&str> = key.split('-').collect();
    let is_uuid = parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(len, part)| hex(part, *len));
    if is_uuid {
        Ok(key.to_ascii_lowercase())
    } else {
        Err(NsError::invalid_parameter(format!(
            "Invalid value for the header X-NetSuite-Idempotency-Key: {key}. The value must be a UUID."
        ))
        .with_error_header("X-NetSuite-Idempotency-Key"))
    }
}

pub async fn create(
    State(sim): State<Arc<Shared>>,
    Path(rt): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, NsError> {
    write(&sim, &rt, WriteOp::Create, &headers, &query, &body)
}

pub async fn patch(
    State(sim): State<Arc<Shared>>,
    Path((rt, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, NsError> {
    write(
        &sim,
        &rt,
        WriteOp::Update(Target::parse(&id)?),
        &headers,
        &query,
        &body,
    )
}

/// PUT is upsert and exists only with `eid:` in the URL.
pub async fn put(
    State(sim): State<Arc<Shared>>,
    Path((rt, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, NsError> {
    let Target::External(eid) = Target::parse(&id)? else {
        return Err(NsError::invalid_parameter(
            "PUT (upsert) requires an external ID in the URL: eid:<value>.",
        ));
    };
    write(&sim, &rt, WriteOp::Upsert(eid), &headers, &query, &body)
}

pub async fn delete(
    State(sim): State<Arc<Shared>>,
    Path((rt, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, NsError> {
    write(
        &sim,
        &rt,
        WriteOp::Delete(Target::parse(&id)?),
        &headers,
        &query,
        &body,
    )
}

pub async fn get_one(
    State(sim): State<Arc<Shared>>,
    Path((rt, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<SimResponse, NsError> {
    let rt = record_type(&rt)?;
    let target = Target::parse(&id)?;
    let expand = query
        .get("expandSubResources")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let store = sim.store();
    let rec = store.find(rt, &target).ok_or_else(|| {
        NsError::nonexistent_id(format!(
            "The record instance does not exist. Provide a valid record instance ID: {}/{id}.",
            rt.id()
        ))
    })?;
    let mut record = store.present(rt, rec, expand);
    // `?fields=a,b` returns only those fields (with the record's id and links).
    if let Some(wanted) = query.get("fields") {
        let wanted: Vec<&str> = wanted.split(',').map(str::trim).collect();
        if let Some(fields) = record.as_object_mut() {
            fields.retain(|name, _| {
                name == "id"
                    || name == "links"
                    || wanted.iter().any(|w| w.eq_ignore_ascii_case(name))
            });
        }
    }
    Ok(SimResponse::ok(record))
}

fn number(query: &HashMap<String, String>, name: &str, default: usize) -> Result<usize, NsError> {
    query.get(name).map_or(Ok(default), |v| {
        v.trim().parse().map_err(|_| {
            NsError::invalid_parameter(format!(
                "Invalid value for the query parameter {name}: {v}."
            ))
            .with_error_param(name)
        })
    })
}

/// `<field> IS <value>`, the one `q` form the simulator understands.
fn filter(q: &str) -> Result<(String, String), NsError> {
    let mut words = q.trim().splitn(3, char::is_whitespace);
    match (words.next(), words.next(), words.next()) {
        (Some(field), Some(op), Some(value)) if op.eq_ignore_ascii_case("IS") => {
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            Ok((field.to_owned(), value.to_owned()))
        }
        _ => Err(NsError::invalid_parameter(format!(
            "Invalid search query: {q}. The simulator supports only '<field> IS <value>'."
        ))
        .with_error_param("q")),
    }
}

/// `GET /record/v1/<type>?limit=&offset=&q=`: ids and links only, in internal-id order.
pub async fn list(
    State(sim): State<Arc<Shared>>,
    Path(rt): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<SimResponse, NsError> {
    let rt = record_type(&rt)?;
    let limit = number(&query, "limit", MAX_LIMIT)?;
    let offset = number(&query, "offset", 0)?;
    if limit == 0 || limit > MAX_LIMIT {
        let detail = format!(
            "Invalid value for the query parameter limit: {limit}. The value must be between 1 and {MAX_LIMIT}."
        );
        return Err(NsError::invalid_parameter(detail).with_error_param("limit"));
    }
    if offset % limit != 0 {
        let detail = format!(
            "Invalid value for the query parameter offset: {offset}. The offset must be a multiple of the limit {limit}."
        );
        return Err(NsError::invalid_parameter(detail).with_error_param("offset"));
    }
    let condition = query.get("q").map(|q| filter(q)).transpose()?;
    let store = sim.store();
    let item = |id: &u64| json!({"links": [{"rel": "self", "href": store.href(rt, *id)}], "id": id.to_string()});
    let (total, items): (usize, Vec<Value>) = match &condition {
        // Unfiltered: no copy of every id per page (benchmarks list a million records).
        None => (
            store.count(rt),
            store
                .all(rt)
                .skip(offset)
                .take(limit)
                .map(|r| item(&r.id))
                .collect(),
        ),
        Some((f, v)) => {
            let ids: Vec<u64> = store
                .all(rt)
                .filter(|r| store.matches(rt, r, f, v))
                .map(|r| r.id)
                .collect();
            let items = ids.iter().skip(offset).take(limit).map(item).collect();
            (ids.len(), items)
        }
    };
    let has_more = offset + items.len() < total;
    let q = query
        .get("q")
        .map(|q| format!("&q={}", percent_encode(q)))
        .unwrap_or_default();
    let page = |o: usize| {
        format!(
            "{}/services/rest/record/v1/{}?limit={limit}&offset={o}{q}",
            store.base,
            rt.id()
        )
    };
    let mut links = Vec::new();
    if offset > 0 {
        links.push(json!({"rel": "previous", "href": page(offset.saturating_sub(limit))}));
    }
    if has_more {
        links.push(json!({"rel": "next", "href": page(offset + limit)}));
    }
    links.push(json!({"rel": "last", "href": page(total.saturating_sub(1) / limit * limit)}));
    links.push(json!({"rel": "self", "href": page(offset)}));
    Ok(SimResponse::ok(
        json!({"links": links, "count": items.len(), "hasMore": has_more, "items": items, "offset": offset, "totalResults": total}),
    ))
}

/// Anything else under `/services/rest/`.
pub async fn unknown(uri: Uri) -> NsError {
    NsError::nonexistent_id(format!(
        "The resource {} does not exist in the simulator.",
        uri.path()
    ))
}
