//! The `/v1` routes: customers, prices, subscriptions and events, parsed from Stripe's form
//! encoding, validated before anything changes, and rendered in the request's `Stripe-Version`.

use crate::faults::Fault;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::form::{self, Params};
use super::list::{created_filter, page, page_located, type_matches};
use super::middleware::{self, RequestId};
use super::store::{Origin, PriceSpec};
use super::subscriptions::{ItemChange, SubChange};
use super::{SimState, control, idempotency};

type Reply = Result<Json<Value>, ApiError>;
type St = State<Arc<SimState>>;

/// Events older than this are not listed (Stripe keeps 30 days).
const EVENT_WINDOW_SECS: i64 = 30 * 86_400;

/// The whole simulator app: `/v1` behind faults, auth and idempotency; `/_sim` unguarded.
pub fn app(state: Arc<SimState>) -> Router {
    let v1 = Router::new()
        .route("/v1/customers", get(list_customers).post(create_customer))
        .route(
            "/v1/customers/{id}",
            get(get_customer).post(update_customer),
        )
        .route("/v1/prices", axum::routing::post(create_price))
        .route("/v1/prices/{id}", get(get_price))
        .route(
            "/v1/subscriptions",
            get(list_subscriptions).post(create_subscription),
        )
        .route(
            "/v1/subscriptions/{id}",
            get(get_subscription)
                .post(update_subscription)
                .delete(cancel_subscription),
        )
        .route("/v1/events", get(list_events))
        .route("/v1/events/{id}", get(get_event))
        .layer(from_fn_with_state(state.clone(), idempotency::layer))
        .layer(from_fn_with_state(state.clone(), middleware::auth))
        .layer(from_fn_with_state(state.clone(), middleware::faults));
    Router::new()
        .merge(v1)
        .nest("/_sim", control::routes())
        .fallback(unknown_url)
        .layer(from_fn_with_state(state.clone(), middleware::stamp))
        .with_state(state)
}

async fn unknown_url(method: axum::http::Method, uri: axum::http::Uri) -> impl IntoResponse {
    let mut e = ApiError::bad_request(format!(
        "Unrecognized request URL ({method}: {}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
        uri.path()
    ));
    e.status = axum::http::StatusCode::NOT_FOUND;
    e
}

/// Per-request context: API version and the event `request` block.
pub struct Ctx {
    version: String,
    origin: Origin,
}

impl FromRequestParts<Arc<SimState>> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<SimState>,
    ) -> Result<Self, ApiError> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let version = header("stripe-version").unwrap_or_else(|| state.config.api_version.clone());
        if !valid_version(&version) {
            return Err(ApiError::bad_request(format!(
                "Invalid Stripe API version: {version}"
            )));
        }
        let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone());
        let idempotency_key =
            header("idempotency-key").filter(|_| parts.method == axum::http::Method::POST);
        Ok(Ctx {
            version,
            origin: Origin {
                request_id,
                idempotency_key,
            },
        })
    }
}

/// `YYYY-MM-DD` optionally followed by `.name`.
fn valid_version(v: &str) -> bool {
    let (date, name) = v.split_once('.').unwrap_or((v, "a"));
    let digits = |r: std::ops::Range<usize>| {
        date.get(r)
            .is_some_and(|s| s.bytes().all(|b| b.is_ascii_digit()))
    };
    date.len() == 10
        && digits(0..4)
        && digits(5..7)
        && digits(8..10)
        && &date[4..5] == "-"
        && &date[7..8] == "-"
        && !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_lowercase())
}

fn query(raw: Option<String>) -> Result<Params, ApiError> {
    form::parse(raw.unwrap_or_default().as_bytes())
}

/// The `error_after_write` fault: the write happened, the client sees a 500.
fn after_write(state: &SimState, value: Value) -> Reply {
    if state.faults.strikes(Fault::ErrorAfterWrite) {
        return Err(ApiError::server(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        ));
    }
    Ok(Json(value))
}

/// The `silent_drop` fault: the write is answered as if applied, but nothing changes.
fn silently_dropped(state: &SimState) -> bool {
    state.faults.strikes(Fault::SilentDrop)
}

/// Checks `metadata` before execution, so a bad shape never half-applies.
fn check_metadata(p: &Params) -> Result<(), ApiError> {
    p.merge_metadata(&mut Map::new())
}

/// Top-level string fields; `""` becomes `null` (unset).
fn string_fields(p: &Params, keys: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    for k in keys {
        if let Some(v) = p.str(k)? {
            out.insert(
                (*k).to_owned(),
                if v.is_empty() { Value::Null } else { json!(v) },
            );
        }
    }
    Ok(out)
}

// --- customers ---

const CUSTOMER_FIELDS: [&str; 4] = ["email", "name", "description", "phone"];

async fn create_customer(State(s): St, ctx: Ctx, body: Bytes) -> Reply {
    let p = form::parse(&body)?;
    p.only(&[
        "email",
        "name",
        "description",
        "phone",
        "metadata",
        "expand",
    ])?;
    let fields = string_fields(&p, &CUSTOMER_FIELDS)?;
    check_metadata(&p)?;
    let (mut store, now) = s.begin();
    let customer = store.create_customer(fields, Some(&p), &ctx.origin, now);
    drop(store);
    after_write(&s, customer)
}

async fn update_customer(State(s): St, ctx: Ctx, Path(id): Path<String>, body: Bytes) -> Reply {
    let p = form::parse(&body)?;
    p.only(&[
        "email",
        "name",
        "description",
        "phone",
        "metadata",
        "expand",
    ])?;
    let fields = string_fields(&p, &CUSTOMER_FIELDS)?;
    check_metadata(&p)?;
    let (mut store, now) = s.begin();
    if silently_dropped(&s) {
        return store.customer(&id).cloned().map(Json);
    }
    let customer = store.update_customer(&id, fields, Some(&p), &ctx.origin, now)?;
    drop(store);
    after_write(&s, customer)
}

async fn get_customer(State(s): St, _ctx: Ctx, Path(id): Path<String>) -> Reply {
    s.begin().0.customer(&id).cloned().map(Json)
}

async fn list_customers(State(s): St, _ctx: Ctx, RawQuery(q): RawQuery) -> Reply {
    let p = query(q)?;
    p.only(&[
        "email",
        "created",
        "limit",
        "starting_after",
        "ending_before",
        "expand",
    ])?;
    let (created, email) = (created_filter(&p)?, p.text("email")?);
    let (store, _) = s.begin();
    let keep = |id: &str| {
        store.customer(id).is_ok_and(|c| {
            created(c["created"].as_i64().unwrap_or(0))
                && email.as_deref().is_none_or(|e| c["email"] == e)
        })
    };
    let render = |id: &str| store.customer(id).cloned().unwrap_or(Value::Null);
    page_located(
        &store.customer_ids,
        |id| store.customer_pos.get(id).copied(),
        keep,
        render,
        &p,
        "customer",
        "/v1/customers",
    )
}

// --- prices ---

async fn create_price(State(s): St, ctx: Ctx, body: Bytes) -> Reply {
    let p = form::parse(&body)?;
    p.only(&[
        "currency",
        "unit_amount",
        "product",
        "product_data",
        "recurring",
        "nickname",
        "metadata",
        "expand",
    ])?;
    let currency = p
        .text("currency")?
        .ok_or_else(|| ApiError::missing_param("currency"))?
        .to_lowercase();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(ApiError::invalid(
            format!("Invalid currency: {currency}"),
            "currency",
        ));
    }
    let unit_amount = p
        .int("unit_amount")?
        .ok_or_else(|| ApiError::missing_param("unit_amount"))?;
    if unit_amount < 0 {
        return Err(ApiError::invalid(
            "Invalid unit_amount: must be greater than or equal to 0",
            "unit_amount",
        ));
    }
    let product = p.text("product")?;
    let has_data = p
        .hash("product_data")?
        .map(|d| d.text("name"))
        .transpose()?
        .flatten()
        .is_some();
    if product.is_none() && !has_data {
        return Err(ApiError::missing_param("product"));
    }
    let recurring = match p.hash("recurring")? {
        None => None,
        Some(r) => {
            r.only(&["interval", "interval_count", "usage_type"])?;
            let interval = r
                .text("interval")?
                .ok_or_else(|| ApiError::missing_param("recurring[interval]"))?;
            if !["day", "week", "month", "year"].contains(&interval.as_str()) {
                return Err(ApiError::invalid(
                    format!("Invalid recurring[interval]: {interval}"),
                    "recurring[interval]",
                ));
            }
            let count = r.int("interval_count")?.unwrap_or(1);
            if !(1..=1095).contains(&count) {
                return Err(ApiError::invalid(
                    "Invalid recurring[interval_count]",
                    "recurring[interval_count]",
                ));
            }
            Some((interval, count))
        }
    };
    check_metadata(&p)?;
    let spec = PriceSpec {
        currency,
        unit_amount,
        recurring,
        product,
        nickname: p.text("nickname")?,
        metadata: Some(p),
    };
    let (mut store, now) = s.begin();
    let price = store.create_price(spec, &ctx.origin, now);
    drop(store);
    after_write(&s, price)
}

async fn get_price(State(s): St, _ctx: Ctx, Path(id): Path<String>) -> Reply {
    s.begin().0.price(&id).cloned().map(Json)
}

// --- subscriptions ---

fn quantity(p: &Params, param: &str) -> Result<Option<u64>, ApiError> {
    match p.int("quantity")? {
        Some(q) if q < 0 => Err(ApiError::invalid(
            "Invalid quantity: must be greater than or equal to 0",
            param,
        )),
        q => Ok(q.map(|q| q as u64)),
    }
}

fn cancel_change(p: &Params) -> Result<SubChange, ApiError> {
    let cancel_at = match p.str("cancel_at")? {
        None => None,
        Some("") => Some(None),
        Some(_) => Some(p.int("cancel_at")?),
    };
    if let Some(b) = p.str("proration_behavior")?
        && !["create_prorations", "none", "always_invoice"].contains(&b)
    {
        return Err(ApiError::invalid(
            format!("Invalid proration_behavior: {b}"),
            "proration_behavior",
        ));
    }
    check_metadata(p)?;
    Ok(SubChange {
        items: Vec::new(),
        cancel_at_period_end: p.bool("cancel_at_period_end")?,
        cancel_at,
        metadata: Some(p.clone()),
    })
}

const SUB_PARAMS: [&str; 9] = [
    "items",
    "metadata",
    "cancel_at_period_end",
    "cancel_at",
    "proration_behavior",
    "payment_behavior",
    "default_payment_method",
    "expand",
    "customer",
];

async fn create_subscription(State(s): St, ctx: Ctx, body: Bytes) -> Reply {
    let p = form::parse(&body)?;
    p.only(&SUB_PARAMS)?;
    let customer = p
        .text("customer")?
        .ok_or_else(|| ApiError::missing_param("customer"))?;
    let mut items = Vec::new();
    for (i, item) in p.list("items")?.iter().enumerate() {
        item.only(&["price", "quantity"])?;
        let param = format!("items[{i}][price]");
        let price = item
            .text("price")?
            .ok_or_else(|| ApiError::missing_param(&param))?;
        items.push((
            price,
            quantity(item, &format!("items[{i}][quantity]"))?.unwrap_or(1),
        ));
    }
    if items.is_empty() {
        return Err(ApiError::missing_param("items"));
    }
    let change = cancel_change(&p)?;
    let (mut store, now) = s.begin();
    let id = store.create_subscription(&customer, &items, &change, &ctx.origin, now)?;
    let sub = store.render_sub(store.sub(&id)?, &ctx.version);
    drop(store);
    after_write(&s, sub)
}

async fn update_subscription(State(s): St, ctx: Ctx, Path(id): Path<String>, body: Bytes) -> Reply {
    let p = form::parse(&body)?;
    p.only(&[&SUB_PARAMS[..8], &["proration_date"]].concat())?;
    let mut change = cancel_change(&p)?;
    for (i, item) in p.list("items")?.iter().enumerate() {
        item.only(&["id", "price", "quantity", "deleted", "clear_usage"])?;
        change.items.push(ItemChange {
            id: item.text("id")?,
            price: item.text("price")?,
            quantity: quantity(item, &format!("items[{i}][quantity]"))?,
            deleted: item.bool("deleted")?.unwrap_or(false),
        });
    }
    let (mut store, now) = s.begin();
    if !silently_dropped(&s) {
        store.update_subscription(&id, &change, &ctx.origin, now)?;
    }
    let sub = store.render_sub(store.sub(&id)?, &ctx.version);
    drop(store);
    after_write(&s, sub)
}

async fn cancel_subscription(State(s): St, ctx: Ctx, Path(id): Path<String>) -> Reply {
    let (mut store, now) = s.begin();
    if !silently_dropped(&s) {
        store.cancel_subscription(&id, &ctx.origin, now)?;
    }
    let sub = store.render_sub(store.sub(&id)?, &ctx.version);
    drop(store);
    after_write(&s, sub)
}

async fn get_subscription(State(s): St, ctx: Ctx, Path(id): Path<String>) -> Reply {
    let (store, _) = s.begin();
    Ok(Json(store.render_sub(store.sub(&id)?, &ctx.version)))
}

async fn list_subscriptions(State(s): St, ctx: Ctx, RawQuery(q): RawQuery) -> Reply {
    let p = query(q)?;
    p.only(&[
        "customer",
        "status",
        "price",
        "created",
        "limit",
        "starting_after",
        "ending_before",
        "expand",
    ])?;
    let status = p.text("status")?.unwrap_or_default();
    let known = [
        "",
        "all",
        "ended",
        "active",
        "past_due",
        "unpaid",
        "canceled",
        "incomplete",
        "incomplete_expired",
        "trialing",
        "paused",
    ];
    if !known.contains(&status.as_str()) {
        return Err(ApiError::invalid(
            format!("Invalid status: {status}"),
            "status",
        ));
    }
    let (customer, price, created) = (p.text("customer")?, p.text("price")?, created_filter(&p)?);
    let (store, _) = s.begin();
    let keep = |id: &str| {
        store.sub_matches(id, customer.as_deref(), &status, price.as_deref())
            && store.sub(id).is_ok_and(|sub| created(sub.created()))
    };
    let render = |id: &str| {
        store
            .sub(id)
            .map(|sub| store.render_sub(sub, &ctx.version))
            .unwrap_or(Value::Null)
    };
    page(
        &store.sub_ids,
        keep,
        render,
        &p,
        "subscription",
        "/v1/subscriptions",
    )
}

// --- events ---

async fn list_events(State(s): St, _ctx: Ctx, RawQuery(q): RawQuery) -> Reply {
    let p = query(q)?;
    p.only(&[
        "type",
        "types",
        "created",
        "delivery_success",
        "limit",
        "starting_after",
        "ending_before",
        "expand",
    ])?;
    let (kind, kinds) = (p.text("type")?, p.strings("types")?);
    if kind.is_some() && !kinds.is_empty() {
        return Err(ApiError::bad_request(
            "You may only specify one of these parameters: type, types.",
        ));
    }
    if kinds.len() > 20 {
        return Err(ApiError::invalid(
            "Invalid types: at most 20 event types are allowed",
            "types",
        ));
    }
    let (created, delivered) = (created_filter(&p)?, p.bool("delivery_success")?);
    let (store, now) = s.begin();
    let ids: Vec<String> = store
        .events
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let keep = |id: &str| {
        let Some(e) = store.event(id) else {
            return false;
        };
        let (t, ty) = (
            e["created"].as_i64().unwrap_or(0),
            e["type"].as_str().unwrap_or_default(),
        );
        t > now - EVENT_WINDOW_SECS
            && created(t)
            && kind.as_deref().is_none_or(|k| type_matches(k, ty))
            && (kinds.is_empty() || kinds.iter().any(|k| k == ty))
            && delivered.is_none_or(|d| d == (e["pending_webhooks"] == 0))
    };
    let render = |id: &str| store.event(id).cloned().unwrap_or(Value::Null);
    page(&ids, keep, render, &p, "event", "/v1/events")
}

async fn get_event(State(s): St, _ctx: Ctx, Path(id): Path<String>) -> Reply {
    let (store, now) = s.begin();
    match store.event(&id) {
        Some(e) if e["created"].as_i64().unwrap_or(0) > now - EVENT_WINDOW_SECS => {
            Ok(Json(e.clone()))
        }
        _ => Err(ApiError::no_such("event", &id, "id")),
    }
}
