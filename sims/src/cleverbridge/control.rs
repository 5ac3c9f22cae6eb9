//! `/_sim/`: the unauthenticated, never-faulted control API for tests and out-of-process users:
//! faults, the clock, setup (products, customers, subscriptions, payment failures, refunds),
//! state (subscriptions, orders, notifications, counters) and the notification hold.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::CbError;
use super::model::{CustomerSpec, ProductSpec, SubscriptionSpec};
use super::{Shared, render};
use crate::faults::Faults;

type St = State<Arc<Shared>>;
type Reply = Result<Json<Value>, CbError>;

pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/_sim/faults",
            get(get_faults).put(set_faults).post(set_faults),
        )
        .route("/_sim/outage", post(outage))
        .route("/_sim/clock", get(clock))
        .route("/_sim/clock/advance", post(advance))
        .route("/_sim/clock/freeze", post(freeze))
        .route("/_sim/clock/resume", post(resume))
        .route("/_sim/products", post(create_product))
        .route("/_sim/products/{id}/sold", put(set_sold))
        .route("/_sim/customers", post(create_customer))
        .route("/_sim/customers/{id}/payment", put(set_payment))
        .route("/_sim/subscriptions", post(create_subscription))
        .route("/_sim/subscriptions/{id}", get(subscription))
        .route("/_sim/orders", get(orders))
        .route("/_sim/orders/{id}/refund", post(refund))
        .route("/_sim/notifications", get(notifications))
        .route("/_sim/notifications/hold", post(hold))
        .route("/_sim/notifications/release", post(release))
        .route("/_sim/stats", get(stats))
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

async fn outage(State(sim): St, Json(b): Json<Ms>) -> Response {
    sim.faults.outage_for(b.ms);
    StatusCode::NO_CONTENT.into_response()
}

async fn clock(State(sim): St) -> Json<Value> {
    Json(json!({ "now": sim.clock.now() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Secs {
    secs: i64,
}

async fn advance(State(sim): St, Json(b): Json<Secs>) -> Json<Value> {
    sim.clock.advance(b.secs);
    Json(json!({ "now": sim.act(|_, now| now) }))
}

async fn freeze(State(sim): St) -> Json<Value> {
    Json(json!({ "now": sim.clock.freeze() }))
}

async fn resume(State(sim): St) -> Json<Value> {
    Json(json!({ "now": sim.clock.resume() }))
}

async fn create_product(State(sim): St, Json(spec): Json<ProductSpec>) -> Reply {
    let id = sim.act(|s, _| s.create_product(spec))?;
    Ok(Json(json!({ "id": id })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Sold {
    sold: bool,
}

async fn set_sold(State(sim): St, Path(id): Path<u64>, Json(b): Json<Sold>) -> Reply {
    sim.act(|s, _| s.set_product_sold(id, b.sold))?;
    Ok(Json(json!({ "id": id, "sold": b.sold })))
}

async fn create_customer(State(sim): St, Json(spec): Json<CustomerSpec>) -> Json<Value> {
    let id = sim.act(|s, _| s.create_customer(spec));
    Json(json!({ "id": id }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payment {
    fails: bool,
}

/// `{"fails": true}` makes the customer's renewal payments fail.
async fn set_payment(State(sim): St, Path(id): Path<u64>, Json(b): Json<Payment>) -> Reply {
    sim.act(|s, _| s.set_payment_fails(id, b.fails))?;
    Ok(Json(json!({ "id": id, "fails": b.fails })))
}

/// A completed checkout; answers the subscription as the API shows it.
async fn create_subscription(State(sim): St, Json(spec): Json<SubscriptionSpec>) -> Reply {
    sim.act(|s, now| {
        let id = s.create_subscription(spec, now)?;
        Ok(Json(render::subscription(s, s.sub(id)?, false)))
    })
}

async fn subscription(State(sim): St, Path(id): Path<u64>) -> Reply {
    sim.act(|s, _| Ok(Json(render::subscription(s, s.sub(id)?, false))))
}

async fn orders(State(sim): St) -> Json<Value> {
    Json(sim.act(|s, _| json!(s.orders)))
}

async fn refund(State(sim): St, Path(id): Path<u64>) -> Reply {
    sim.act(|s, now| s.refund(id, now))?;
    Ok(Json(json!({ "refunded": id })))
}

async fn notifications(State(sim): St) -> Json<Value> {
    Json(sim.act(|s, _| json!(s.notifications)))
}

async fn hold(State(sim): St) -> Json<Value> {
    sim.act(|s, _| s.holding = true);
    Json(json!({ "holding": true }))
}

async fn release(State(sim): St) -> Json<Value> {
    Json(json!({ "released": sim.act(|s, _| s.release()) }))
}

async fn stats(State(sim): St) -> Json<Value> {
    Json(json!(sim.lock().stats))
}
