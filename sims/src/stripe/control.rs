//! The `/_sim/` control API for out-of-process users (load harness, out-of-process tests): faults,
//! the scenario actions, the clock (advance, freeze, resume), webhook holds, events and stats,
//! as JSON. Never faulted, no auth.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::{ItemChange, Release, SimState, SubChange};
use crate::faults::Faults;

type Reply = Result<Json<Value>, ApiError>;
type St = State<Arc<SimState>>;

/// Routes, nested under `/_sim`.
pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/faults", get(get_faults).put(set_faults).post(set_faults))
        .route("/outage", post(outage))
        .route("/clock/advance", post(advance))
        .route("/clock/freeze", post(freeze))
        .route("/clock/resume", post(resume))
        .route("/webhooks/hold", post(hold))
        .route("/webhooks/release", post(release))
        .route("/customers", post(create_customer))
        .route("/prices", post(create_price))
        .route("/subscriptions", post(create_subscription))
        .route(
            "/subscriptions/{id}",
            get(subscription).post(update_subscription),
        )
        .route(
            "/subscriptions/{id}/cancel_at_period_end",
            post(cancel_at_period_end),
        )
        .route("/subscriptions/{id}/cancel", post(cancel_now))
        .route("/events", get(events))
        .route("/stats", get(stats))
}

async fn get_faults(State(s): St) -> Json<Faults> {
    Json(s.faults.get())
}

async fn set_faults(State(s): St, Json(faults): Json<Faults>) -> Json<Faults> {
    s.faults.set(faults);
    Json(s.faults.get())
}

#[derive(Deserialize)]
struct Ms {
    ms: u64,
}

async fn outage(State(s): St, Json(b): Json<Ms>) -> Json<Value> {
    s.faults.outage_for(b.ms);
    Json(json!({ "outage_ms": b.ms }))
}

#[derive(Deserialize)]
struct Secs {
    secs: i64,
}

async fn advance(State(s): St, Json(b): Json<Secs>) -> Json<Value> {
    s.advance_clock(b.secs);
    Json(json!({ "now": s.now() }))
}

async fn freeze(State(s): St) -> Json<Value> {
    Json(json!({ "now": s.freeze_clock() }))
}

async fn resume(State(s): St) -> Json<Value> {
    s.resume_clock();
    Json(json!({ "now": s.now() }))
}

async fn hold(State(s): St) -> Json<Value> {
    s.hold_webhooks();
    Json(json!({ "holding": true }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseIn {
    order: Release,
}

/// `{"order": "reversed" | "as_created"}`; answers the event ids in delivery order.
async fn release(State(s): St, Json(b): Json<ReleaseIn>) -> Json<Value> {
    Json(json!({ "released": s.release_webhooks(b.order) }))
}

#[derive(Deserialize)]
struct NewCustomer {
    email: String,
    name: String,
}

async fn create_customer(State(s): St, Json(b): Json<NewCustomer>) -> Reply {
    let id = s.create_customer(&b.email, &b.name)?;
    s.customer(&id).map(Json)
}

#[derive(Deserialize)]
struct NewPrice {
    unit_amount: i64,
    currency: String,
    interval: String,
}

async fn create_price(State(s): St, Json(b): Json<NewPrice>) -> Reply {
    let id = s.create_price(b.unit_amount, &b.currency, &b.interval)?;
    s.store().price(&id).cloned().map(Json)
}

#[derive(Deserialize)]
struct NewItem {
    price: String,
    #[serde(default = "one")]
    quantity: u64,
}

fn one() -> u64 {
    1
}

#[derive(Deserialize)]
struct NewSubscription {
    customer: String,
    items: Vec<NewItem>,
}

async fn create_subscription(State(s): St, Json(b): Json<NewSubscription>) -> Reply {
    let items: Vec<(&str, u64)> = b
        .items
        .iter()
        .map(|i| (i.price.as_str(), i.quantity))
        .collect();
    let id = s.create_subscription(&b.customer, &items)?;
    s.subscription(&id).map(Json)
}

async fn subscription(State(s): St, Path(id): Path<String>) -> Reply {
    s.subscription(&id).map(Json)
}

/// A change to the first item (`price`, `quantity`) and/or the cancellation schedule.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Update {
    price: Option<String>,
    quantity: Option<u64>,
    cancel_at_period_end: Option<bool>,
}

async fn update_subscription(State(s): St, Path(id): Path<String>, Json(b): Json<Update>) -> Reply {
    let mut change = SubChange {
        cancel_at_period_end: b.cancel_at_period_end,
        ..SubChange::default()
    };
    if b.price.is_some() || b.quantity.is_some() {
        let first = s.store().item_ids(&id)?.into_iter().next();
        change.items.push(ItemChange {
            id: first,
            price: b.price,
            quantity: b.quantity,
            deleted: false,
        });
    }
    s.update_subscription(&id, &change).map(Json)
}

async fn cancel_at_period_end(State(s): St, Path(id): Path<String>) -> Reply {
    s.cancel_at_period_end(&id).map(Json)
}

async fn cancel_now(State(s): St, Path(id): Path<String>) -> Reply {
    s.cancel_now(&id).map(Json)
}

async fn events(State(s): St) -> Json<Vec<Value>> {
    Json(s.events())
}

async fn stats(State(s): St) -> Json<Value> {
    Json(json!(s.stats()))
}
