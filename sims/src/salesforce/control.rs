//! `/_sim/`: the unauthenticated, never-faulted control API for out-of-process users (crash
//! test, load harness): faults, clock, tokens, client secret, record locks, validation rules,
//! the daily limit, records, writes and counters.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;
use super::error::ApiError;
use super::ids;
use super::schema::ValidationRule;
use crate::faults::Faults;

type St = State<Arc<Shared>>;

/// Routes, nested under `/_sim`.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/faults", get(get_faults).put(set_faults).post(set_faults))
        .route("/outage", post(outage))
        .route("/clock/advance", post(advance))
        .route("/tokens/revoke", post(revoke))
        .route("/client-secret", post(rotate_secret))
        .route("/lock", post(lock))
        .route(
            "/validation-rules",
            get(rules).post(add_rule).delete(clear_rules),
        )
        .route("/limits", get(get_limits).post(set_limits))
        .route("/records/{object}", get(records).post(seed))
        .route("/records/{object}/{field}/{value}", get(record))
        .route("/writes", get(writes))
        .route("/stats", get(stats))
}

async fn get_faults(State(sim): St) -> Json<Faults> {
    Json(sim.faults.get())
}

async fn set_faults(State(sim): St, Json(faults): Json<Faults>) -> Json<Faults> {
    sim.faults.set(faults);
    Json(sim.faults.get())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ms {
    ms: u64,
}

async fn outage(State(sim): St, Json(b): Json<Ms>) -> StatusCode {
    sim.faults.outage_for(b.ms);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Secs {
    secs: i64,
}

/// `{"secs": N}`; answers the simulated time.
async fn advance(State(sim): St, Json(b): Json<Secs>) -> Json<Value> {
    sim.clock.advance(b.secs);
    Json(json!({"now_ms": sim.now_ms()}))
}

async fn revoke(State(sim): St) -> StatusCode {
    sim.auth().revoke_all();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Secret {
    secret: String,
}

/// `{"secret": "..."}`: the consumer secret from now on.
async fn rotate_secret(State(sim): St, Json(b): Json<Secret>) -> StatusCode {
    sim.auth().client_secret = b.secret;
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Lock {
    id: String,
    writes: u32,
}

/// `{"id": "001...", "writes": N}`: the next N writes to the record get `UNABLE_TO_LOCK_ROW`.
async fn lock(State(sim): St, Json(b): Json<Lock>) -> StatusCode {
    sim.store().lock(&b.id, b.writes);
    StatusCode::NO_CONTENT
}

async fn rules(State(sim): St) -> Json<Vec<ValidationRule>> {
    Json(sim.store().rules.clone())
}

async fn add_rule(State(sim): St, Json(rule): Json<ValidationRule>) -> StatusCode {
    sim.store().rules.push(rule);
    StatusCode::NO_CONTENT
}

async fn clear_rules(State(sim): St) -> StatusCode {
    sim.store().rules.clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Limit {
    daily: u64,
}

async fn get_limits(State(sim): St) -> Json<Value> {
    let now = sim.now_ms();
    let mut usage = sim.usage();
    Json(json!({"daily": usage.limit, "used": usage.used(now)}))
}

async fn set_limits(State(sim): St, Json(b): Json<Limit>) -> StatusCode {
    sim.usage().limit = b.daily;
    StatusCode::NO_CONTENT
}

fn latest(sim: &Shared) -> String {
    sim.config
        .api_versions
        .last()
        .cloned()
        .unwrap_or_else(|| "62.0".into())
}

async fn records(State(sim): St, Path(object): Path<String>) -> Result<Json<Value>, ApiError> {
    let store = sim.store();
    let od = store.object(&object)?;
    let version = latest(&sim);
    let all: Vec<Value> = store
        .live(&od.name)
        .map(|r| store.render(r, &od.all_names(), &version))
        .collect();
    Ok(Json(Value::Array(all)))
}

/// Adds a record as the org already holds it; answers its id.
async fn seed(
    State(sim): St,
    Path(object): Path<String>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let body = super::as_map(&body);
    let now = sim.now_ms();
    let id = sim.store().seed(&object, &body, now)?;
    Ok(Json(json!({"id": id})))
}

/// The live records whose `field` is `value` (external ids; `Id` too).
async fn record(
    State(sim): St,
    Path((object, field, value)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let store = sim.store();
    let od = store.object(&object)?;
    let version = latest(&sim);
    let ids = if field.eq_ignore_ascii_case("Id") {
        ids::normalize(&value).into_iter().collect()
    } else {
        let fd = od.find(&field).cloned().ok_or_else(ApiError::not_found)?;
        store.matching(&od, &fd, &Value::String(value))
    };
    let found: Vec<Value> = ids
        .iter()
        .filter_map(|id| store.get(&od.name, id))
        .filter(|r| !r.deleted)
        .map(|r| store.render(r, &od.all_names(), &version))
        .collect();
    match found.as_slice() {
        [] => Err(ApiError::not_found()),
        [one] => Ok(Json(one.clone())),
        _ => Ok(Json(Value::Array(found))),
    }
}

async fn writes(State(sim): St) -> Json<Value> {
    let store = sim.store();
    Json(json!({"count": store.applied().len(), "writes": store.applied()}))
}

async fn stats(State(sim): St) -> Json<Value> {
    let now = sim.now_ms();
    let used = sim.usage().used(now);
    let store = sim.store();
    let per_object: serde_json::Map<String, Value> = store
        .schema
        .objects
        .iter()
        .map(|o| (o.name.clone(), json!(store.live(&o.name).count())))
        .collect();
    Json(json!({"stats": store.stats, "records": per_object, "api_usage": used}))
}
