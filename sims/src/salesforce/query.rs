//! `GET /query?q=` and `/queryAll?q=` with query-more paging (fact sheet §6): batches of
//! `Sforce-Query-Options: batchSize=N` (200..=2000, default 2000), `nextRecordsUrl` of the form
//! `/services/data/vXX.X/query/<locator>-<offset>`, the last batch `done: true` without one.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::Shared;
use super::error::{ApiError, json_reply};
use super::gate::Version;
use super::ids;
use super::soql;

type Reply = Result<Response, ApiError>;

/// Query locators die after 15 minutes unused (Salesforce's documented cursor timeout).
const CURSOR_IDLE_MS: i64 = 15 * 60 * 1000;

#[derive(Debug)]
struct Cursor {
    /// The whole result, rendered when the query ran.
    records: Vec<Value>,
    batch: usize,
    resource: &'static str,
    last_used_ms: i64,
}

#[derive(Debug, Default)]
pub struct Cursors {
    issued: u64,
    open: HashMap<String, Cursor>,
}

fn batch_size(headers: &HeaderMap) -> usize {
    headers
        .get("sforce-query-options")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split([',', ';'])
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("batchSize"))
                .and_then(|(_, n)| n.trim().parse::<usize>().ok())
        })
        .map_or(2000, |n| n.clamp(200, 2000))
}

/// One page from `offset`, opening a cursor when more remain.
fn page(
    sim: &Shared,
    v: &Version,
    resource: &'static str,
    locator: Option<String>,
    records: Vec<Value>,
    offset: usize,
    batch: usize,
) -> Response {
    let total = records.len();
    let end = (offset + batch).min(total);
    let batch_records: Vec<Value> = records[offset.min(total)..end].to_vec();
    let mut body = json!({"totalSize": total, "done": end >= total, "records": batch_records});
    if end < total {
        let now = sim.now_ms();
        let mut cursors = super::locked(&sim.cursors);
        let locator = locator.unwrap_or_else(|| {
            cursors.issued += 1;
            ids::make("01g", cursors.issued)
        });
        cursors.open.insert(
            locator.clone(),
            Cursor {
                records,
                batch,
                resource,
                last_used_ms: now,
            },
        );
        body["nextRecordsUrl"] = json!(format!(
            "/services/data/v{}/{resource}/{locator}-{end}",
            v.0
        ));
    }
    sim.count(|s| s.queries += 1);
    json_reply(StatusCode::OK, &body)
}

fn run(
    sim: &Shared,
    v: &Version,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    all: bool,
) -> Reply {
    let text = q
        .get("q")
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ApiError::malformed_query("A query string has to be specified"))?;
    let records = {
        let store = sim.store();
        let parsed = soql::parse(&store.schema, text)?;
        parsed.run(&store, all, &v.0)
    };
    let resource = if all { "queryAll" } else { "query" };
    Ok(page(
        sim,
        v,
        resource,
        None,
        records,
        0,
        batch_size(headers),
    ))
}

pub async fn query(
    State(sim): State<Arc<Shared>>,
    Extension(v): Extension<Version>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Reply {
    run(&sim, &v, &q, &headers, false)
}

/// `queryAll` also returns deleted records (`IsDeleted: true`).
pub async fn query_all(
    State(sim): State<Arc<Shared>>,
    Extension(v): Extension<Version>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Reply {
    run(&sim, &v, &q, &headers, true)
}

fn invalid_locator() -> ApiError {
    ApiError::one(
        StatusCode::BAD_REQUEST,
        "INVALID_QUERY_LOCATOR",
        "invalid query locator",
    )
}

/// `GET /query/<locator>-<offset>`: the next batch.
pub async fn more(
    State(sim): State<Arc<Shared>>,
    Extension(v): Extension<Version>,
    Path(params): Path<HashMap<String, String>>,
) -> Reply {
    let raw = params.get("locator").cloned().unwrap_or_default();
    let (locator, offset) = raw
        .rsplit_once('-')
        .and_then(|(l, o)| Some((l.to_owned(), o.parse::<usize>().ok()?)))
        .ok_or_else(invalid_locator)?;
    let now = sim.now_ms();
    let (records, batch, resource) = {
        let mut cursors = super::locked(&sim.cursors);
        let cursor = cursors.open.get_mut(&locator).ok_or_else(invalid_locator)?;
        if now - cursor.last_used_ms > CURSOR_IDLE_MS || offset > cursor.records.len() {
            return Err(invalid_locator());
        }
        // A locator stays readable until it idles out, so a lost page can be fetched again.
        cursor.last_used_ms = now;
        (cursor.records.clone(), cursor.batch, cursor.resource)
    };
    Ok(page(
        &sim,
        &v,
        resource,
        Some(locator),
        records,
        offset,
        batch,
    ))
}
