//! `/_sim/`: the unauthenticated, never-faulted control API for out-of-process users (crash
//! test, load harness): faults, records, applied writes, jobs and counters.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;
use super::schema::RecordType;
use super::store::Target;
use crate::faults::Faults;

pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/_sim/faults",
            get(get_faults).put(set_faults).post(set_faults),
        )
        .route("/_sim/outage", post(outage))
        .route("/_sim/records/{type}", get(records))
        .route("/_sim/records/{type}/{external_id}", get(record))
        .route("/_sim/applied-writes", get(applied_writes))
        .route("/_sim/jobs", get(jobs))
        .route("/_sim/stats", get(stats))
        .route("/_sim/items", post(add_item))
        .route("/_sim/customers", post(add_customer))
        .route("/_sim/bill-runs", post(bill_run))
        .route("/_sim/invoices", get(invoices))
        .route("/_sim/clock/advance", post(advance_clock))
        .route("/_sim/m2m/revoke-tokens", post(revoke_tokens))
        .route("/_sim/m2m/revoke-client", post(revoke_client))
}

async fn get_faults(State(sim): State<Arc<Shared>>) -> Json<Faults> {
    Json(sim.faults.get())
}

async fn set_faults(State(sim): State<Arc<Shared>>, Json(faults): Json<Faults>) -> Json<Faults> {
    sim.faults.set(faults);
    Json(sim.faults.get())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewItem {
    external_id: String,
    name: String,
}

/// Adds a catalog item and makes it a member of the setup's subscription plan (the operator's
/// setup; see `NetSuiteSim::add_item`).
async fn add_item(State(sim): State<Arc<Shared>>, Json(item): Json<NewItem>) -> Json<Value> {
    let mut fields = serde_json::Map::new();
    fields.insert("itemId".into(), Value::String(item.name));
    let mut store = sim.store();
    let id = store.seed(RecordType::ServiceSaleItem, &item.external_id, fields);
    store.add_plan_member(
        super::setup::SUBSCRIPTION_PLAN.parse().unwrap_or_default(),
        id,
    );
    Json(json!({"id": id.to_string()}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCustomer {
    external_id: String,
    name: String,
    currency: String,
}

/// Adds a customer as the account's users would (see `NetSuiteSim::add_customer`).
async fn add_customer(State(sim): State<Arc<Shared>>, Json(c): Json<NewCustomer>) -> Json<Value> {
    let mut fields = serde_json::Map::new();
    fields.insert("companyName".into(), Value::String(c.name));
    fields.insert(
        "currency".into(),
        json!({"refName": c.currency.to_ascii_uppercase()}),
    );
    let id = sim
        .store()
        .seed(RecordType::Customer, &c.external_id, fields);
    Json(json!({"id": id.to_string()}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BillRun {
    bill_through: String,
}

/// Runs billing operations through a date (see `NetSuiteSim::bill_run`); the new invoices.
async fn bill_run(State(sim): State<Arc<Shared>>, Json(b): Json<BillRun>) -> Json<Value> {
    Json(json!(sim.store().bill_run(&b.bill_through)))
}

async fn invoices(State(sim): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(sim.store().invoices))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Outage {
    ms: u64,
}

/// Opens an outage window that closes by itself.
async fn outage(State(sim): State<Arc<Shared>>, Json(o): Json<Outage>) -> StatusCode {
    sim.faults.outage_for(o.ms);
    StatusCode::NO_CONTENT
}

fn record_type(s: &str) -> Result<RecordType, (StatusCode, String)> {
    RecordType::parse(s).ok_or((
        StatusCode::NOT_FOUND,
        format!("the simulator holds no record type {s:?}"),
    ))
}

async fn records(
    State(sim): State<Arc<Shared>>,
    Path(rt): Path<String>,
) -> Result<Json<Vec<Value>>, (StatusCode, String)> {
    let rt = record_type(&rt)?;
    let store = sim.store();
    Ok(Json(
        store.all(rt).map(|r| store.present(rt, r, true)).collect(),
    ))
}

async fn record(
    State(sim): State<Arc<Shared>>,
    Path((rt, eid)): Path<(String, String)>,
) -> Result<Json<Value>, (StatusCode, String)> {
    let rt = record_type(&rt)?;
    let store = sim.store();
    let rec = store.find(rt, &Target::External(eid.clone())).ok_or((
        StatusCode::NOT_FOUND,
        format!("no {} with external id {eid:?}", rt.id()),
    ))?;
    Ok(Json(store.present(rt, rec, true)))
}

async fn applied_writes(State(sim): State<Arc<Shared>>) -> Json<Value> {
    let store = sim.store();
    Json(json!({"count": store.applied().len(), "writes": store.applied()}))
}

async fn jobs(State(sim): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(sim.store().job_infos()))
}

async fn stats(State(sim): State<Arc<Shared>>) -> Json<Value> {
    let store = sim.store();
    let per_type: serde_json::Map<String, Value> = RecordType::ALL
        .iter()
        .map(|rt| (rt.id().to_owned(), json!(store.all(*rt).count())))
        .collect();
    Json(json!({"stats": store.stats, "records": per_type}))
}

#[derive(Debug, Deserialize)]
struct Secs {
    secs: i64,
}

/// Moves the clock that OAuth 2.0 tokens expire on.
async fn advance_clock(State(sim): State<Arc<Shared>>, Json(b): Json<Secs>) -> Json<Value> {
    sim.m2m.advance(b.secs);
    Json(json!({ "now": sim.m2m.now() }))
}

async fn revoke_tokens(State(sim): State<Arc<Shared>>) -> StatusCode {
    sim.m2m.revoke_tokens();
    StatusCode::NO_CONTENT
}

async fn revoke_client(State(sim): State<Arc<Shared>>) -> StatusCode {
    sim.m2m.revoke_client(true);
    StatusCode::NO_CONTENT
}
