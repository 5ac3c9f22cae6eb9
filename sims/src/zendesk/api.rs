//! The HTTP face of the simulator: the gate every `/api/v2` request passes (faults, API token
//! authentication, the per-minute rate limit, required headers) and the ticket endpoints.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use serde_json::{Value, json};

use super::Shared;
use super::store::{IDEMPOTENCY_TTL_SECS, IdempotentCreate, Store, ZdError, object};
use crate::faults::Verdict;

pub fn app(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v2/tickets.json", get(list).post(create))
        .route("/api/v2/tickets/{file}", get(show).put(update))
        .fallback(|| async { reply_err(ZdError::new(404, "InvalidEndpoint", "Not found")) })
        .layer(from_fn_with_state(Arc::clone(&shared), gate))
        .with_state(shared)
}

/// A JSON answer (Requests > Response format: JSON, `application/json; charset=utf-8`).
fn reply(status: u16, body: &Value) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body.to_string(),
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn reply_err(e: ZdError) -> Response {
    let mut r = reply(e.status, &e.body);
    if let Some(secs) = e.retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Security and authentication > API token: `Authorization: Basic
/// base64({email_address}/token:{api_token})`. OAuth bearer tokens are not simulated.
fn authenticated(sim: &Shared, headers: &HeaderMap) -> bool {
    let Some(value) = header_str(headers, "authorization") else {
        return false;
    };
    let Some(encoded) = value
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("basic "))
        .map(|_| value[6..].trim())
    else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
        return false;
    };
    let expected = format!("{}/token:{}", sim.config.email, sim.config.api_token);
    decoded == expected.as_bytes()
}

async fn gate(State(sim): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    sim.lock().stats.requests += 1;
    let (verdict, latency) = sim.faults.decide();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let fault = match verdict {
        Verdict::Pass => None,
        // Response format > 500 range: "a temporary server error"; 503 with Retry-After
        // during maintenance or an outage.
        Verdict::ServerError => Some(ZdError::new(500, "InternalError", "Internal server error")),
        Verdict::Outage => Some(ZdError {
            retry_after: Some(60),
            ..ZdError::new(503, "ServiceUnavailable", "Service unavailable")
        }),
        Verdict::RateLimited(secs) => Some(ZdError {
            retry_after: Some(secs.max(1)),
            ..ZdError::new(429, "TooManyRequests", "Rate limit exceeded")
        }),
        Verdict::Hang(hang) => {
            tokio::time::sleep(hang).await;
            Some(ZdError::new(500, "InternalError", "The request timed out"))
        }
    };
    if let Some(fault) = fault {
        sim.lock().stats.faults_injected += 1;
        return reply_err(fault);
    }
    if !authenticated(&sim, req.headers()) {
        sim.lock().stats.auth_failures += 1;
        // Response format > 401: "Couldn't authenticate you".
        return reply(401, &json!({"error": "Couldn't authenticate you"}));
    }
    if sim.faults.roll(sim.faults.get().echo_credentials_rate) {
        let auth = header_str(req.headers(), "authorization")
            .unwrap_or_default()
            .to_string();
        let encoded: String = form_urlencoded::byte_serialize(auth.as_bytes()).collect();
        sim.lock().stats.faults_injected += 1;
        return reply_err(ZdError::new(
            500,
            "InternalError",
            format!("Internal error handling Authorization: {auth} ({encoded})"),
        ));
    }
    // Rate limits: the account's requests per minute; every answer carries the limit and
    // what is left of it (Requests > Response format: X-Rate-Limit, X-Rate-Limit-Remaining).
    let limit = sim.config.rate_limit_per_minute;
    let now = sim.clock.now();
    let taken = sim.lock().take_rate(now, limit);
    let remaining = match taken {
        Ok(remaining) => remaining,
        Err(retry_after) => {
            sim.lock().stats.rate_limited += 1;
            let mut r = reply_err(ZdError {
                retry_after: Some(retry_after),
                ..ZdError::new(429, "TooManyRequests", "Rate limit exceeded")
            });
            rate_headers(&mut r, limit, 0);
            return r;
        }
    };
    // Requests > Request format: "You must set an Accept: application/json header on all
    // requests" and Content-Type: application/json on PUT, POST and DELETE.
    let accept = header_str(req.headers(), "accept").unwrap_or_default();
    if !accept
        .split(',')
        .any(|t| t.split(';').next().unwrap_or_default().trim() == "application/json")
    {
        return reply_err(ZdError::new(
            406,
            "NotAcceptable",
            "Accept must be application/json",
        ));
    }
    if [Method::POST, Method::PUT, Method::DELETE].contains(req.method()) {
        let ct = header_str(req.headers(), "content-type").unwrap_or_default();
        if ct.split(';').next().unwrap_or_default().trim() != "application/json" {
            return reply_err(ZdError::new(
                415,
                "UnsupportedMediaType",
                "Content-Type must be application/json",
            ));
        }
    }
    let mut r = next.run(req).await;
    rate_headers(&mut r, limit, remaining);
    r
}

fn rate_headers(r: &mut Response, limit: u32, remaining: u32) {
    r.headers_mut()
        .insert("x-rate-limit", HeaderValue::from(limit));
    r.headers_mut()
        .insert("x-rate-limit-remaining", HeaderValue::from(remaining));
}

fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Cursors are opaque to clients (Pagination > Using cursor pagination); here the base64 of
/// the last id seen.
fn cursor_encode(id: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("t{id}"))
}

fn cursor_decode(c: &str) -> Option<u64> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()?;
    std::str::from_utf8(&bytes)
        .ok()?
        .strip_prefix('t')?
        .parse()
        .ok()
}

/// Tickets > List Tickets: `external_id` lists the tickets with that external id; with
/// `page[size]` (at most 100) cursor pagination, `meta.has_more`, `meta.after_cursor` and
/// `links.next`; without it offset pagination (100 a page, `next_page`).
async fn list(State(sim): State<Arc<Shared>>, RawQuery(raw): RawQuery) -> Response {
    let q = query_pairs(raw.as_deref());
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let base = &sim.base;
    let store = sim.lock();
    if let Some(ext) = get("external_id") {
        let tickets: Vec<Value> = store
            .with_external_id(ext)
            .into_iter()
            .map(|t| store.render(t, base))
            .collect();
        let count = tickets.len();
        return reply(
            200,
            &json!({"tickets": tickets, "next_page": null, "previous_page": null, "count": count}),
        );
    }
    if let Some(size) = get("page[size]") {
        let Ok(size) = size.parse::<usize>() else {
            return reply_err(ZdError::new(
                400,
                "InvalidPaginationParameter",
                "page[size] must be a number",
            ));
        };
        if size == 0 || size > 100 {
            // Pagination: "Most endpoints limit this to a maximum of 100."
            return reply_err(ZdError::new(
                400,
                "InvalidPaginationParameter",
                "page[size] must be between 1 and 100",
            ));
        }
        let after = match get("page[after]") {
            None | Some("") => 0,
            Some(c) => match cursor_decode(c) {
                Some(id) => id,
                None => {
                    return reply_err(ZdError::new(
                        400,
                        "InvalidPaginationParameter",
                        "page[after] is not a cursor this endpoint issued",
                    ));
                }
            },
        };
        let (page, more) = store.page(after, size);
        let after_cursor = page.last().map(|t| cursor_encode(t.id));
        let before_cursor = page.first().map(|t| cursor_encode(t.id));
        let next = match (&after_cursor, more) {
            (Some(c), true) => Value::String(format!(
                "{base}/api/v2/tickets.json?page[size]={size}&page[after]={c}"
            )),
            _ => Value::Null,
        };
        let tickets: Vec<Value> = page.iter().map(|t| store.render(t, base)).collect();
        return reply(
            200,
            &json!({
                "tickets": tickets,
                "meta": {"has_more": more, "after_cursor": after_cursor, "before_cursor": before_cursor},
                "links": {"next": next, "prev": null},
            }),
        );
    }
    let page_no: usize = get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let all: Vec<&super::Ticket> = store.tickets.values().collect();
    let count = all.len();
    let tickets: Vec<Value> = all
        .iter()
        .skip((page_no - 1) * 100)
        .take(100)
        .map(|t| store.render(t, base))
        .collect();
    let next = if page_no * 100 < count {
        Value::String(format!("{base}/api/v2/tickets.json?page={}", page_no + 1))
    } else {
        Value::Null
    };
    reply(
        200,
        &json!({"tickets": tickets, "next_page": next, "previous_page": null, "count": count}),
    )
}

fn ticket_id(file: &str) -> Option<u64> {
    file.strip_suffix(".json")?.parse().ok()
}

/// Tickets > Show Ticket.
async fn show(State(sim): State<Arc<Shared>>, Path(file): Path<String>) -> Response {
    let Some(id) = ticket_id(&file) else {
        return reply_err(ZdError::not_found());
    };
    let store = sim.lock();
    match store.tickets.get(&id) {
        Some(t) => reply(200, &object(vec![("ticket", store.render(t, &sim.base))])),
        None => reply_err(ZdError::not_found()),
    }
}

fn parse_body(body: &Bytes) -> Result<Value, ZdError> {
    serde_json::from_slice::<Value>(body)
        .map_err(|e| ZdError::new(400, "InvalidJSON", format!("The body is not JSON: {e}")))
}

/// Tickets > Create Ticket, with Ticketing > Introduction > Idempotency: a repeated request
/// under the same `Idempotency-Key` gets the first answer back with `x-idempotency-lookup:
/// hit` (a new one: `miss`); the same key with different parameters is refused; keys expire
/// after two hours.
async fn create(State(sim): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let now = sim.clock.now();
    let key = header_str(&headers, "idempotency-key").map(str::to_owned);
    let hash = Store::hash(&body);
    let mut store = sim.lock();
    if let Some(key) = &key {
        store
            .idempotency
            .retain(|_, v| now - v.at < IDEMPOTENCY_TTL_SECS);
        if let Some(seen) = store.idempotency.get(key).cloned() {
            if seen.body_hash != hash {
                // Silent on the exact answer: the strictest reading refuses it outright.
                return reply_err(ZdError::new(
                    400,
                    "IdempotentRequestError",
                    "The idempotency key was used with different request parameters",
                ));
            }
            store.stats.idempotency_hits += 1;
            let mut r = reply(201, &seen.response);
            r.headers_mut()
                .insert("x-idempotency-lookup", HeaderValue::from_static("hit"));
            return r;
        }
    }
    let parsed = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return reply_err(e),
    };
    let faults = sim.faults.get();
    let dropped = sim.faults.roll(faults.silent_drop_rate);
    let ticket = match store.create(&parsed["ticket"], now) {
        Ok(t) => t,
        Err(e) => return reply_err(e),
    };
    if dropped {
        // The silent-drop fault: the answer says created, but the ticket is gone at once.
        store.tickets.remove(&ticket.id);
        store.stats.tickets_created -= 1;
        store.stats.silently_dropped += 1;
    }
    let response = object(vec![("ticket", store.render(&ticket, &sim.base))]);
    if let Some(key) = key.clone() {
        store.idempotency.insert(
            key,
            IdempotentCreate {
                body_hash: hash,
                response: response.clone(),
                at: now,
            },
        );
    }
    if sim.faults.roll(faults.error_after_write_rate) {
        store.stats.faults_injected += 1;
        return reply_err(ZdError::new(500, "InternalError", "Internal server error"));
    }
    let mut r = reply(201, &response);
    r.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("{}/api/v2/tickets/{}.json", sim.base, ticket.id))
            .unwrap_or(HeaderValue::from_static("/")),
    );
    if key.is_some() {
        r.headers_mut()
            .insert("x-idempotency-lookup", HeaderValue::from_static("miss"));
    }
    r
}

/// Tickets > Update Ticket.
async fn update(State(sim): State<Arc<Shared>>, Path(file): Path<String>, body: Bytes) -> Response {
    let Some(id) = ticket_id(&file) else {
        return reply_err(ZdError::not_found());
    };
    let parsed = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return reply_err(e),
    };
    let now = sim.clock.now();
    let faults = sim.faults.get();
    let dropped = sim.faults.roll(faults.silent_drop_rate);
    let mut store = sim.lock();
    let ticket = match store.update(id, &parsed["ticket"], now, dropped) {
        Ok(t) => t,
        Err(e) => return reply_err(e),
    };
    if sim.faults.roll(faults.error_after_write_rate) {
        store.stats.faults_injected += 1;
        return reply_err(ZdError::new(500, "InternalError", "Internal server error"));
    }
    reply(
        200,
        &object(vec![("ticket", store.render(&ticket, &sim.base))]),
    )
}
