//! Request-wide middleware: `Request-Id` and header echo on every response, injected faults and
//! API-key auth on `/v1`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::SimState;
use super::error::ApiError;
use crate::faults::Verdict;

/// The `req_...` id of the request being handled.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Gives every request an id, and every response `Request-Id`, the echoed `Idempotency-Key`
/// and the `Stripe-Version` it was rendered in.
pub async fn stamp(State(state): State<Arc<SimState>>, mut req: Request, next: Next) -> Response {
    let id = state.request_id();
    req.extensions_mut().insert(RequestId(id.clone()));
    let key = req.headers().get("idempotency-key").cloned();
    let version = req.headers().get("stripe-version").cloned();
    let api = req.uri().path().starts_with("/v1");
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    if let Ok(id) = HeaderValue::from_str(&id) {
        headers.insert("request-id", id);
    }
    if let Some(key) = key {
        headers.insert("idempotency-key", key);
    }
    if api {
        let version = version.or_else(|| HeaderValue::from_str(&state.config.api_version).ok());
        if let Some(version) = version {
            headers.insert("stripe-version", version);
        }
    }
    response
}

/// Applies the fault switches before anything else happens to a `/v1` request.
pub async fn faults(State(state): State<Arc<SimState>>, req: Request, next: Next) -> Response {
    state.store().stats.requests += 1;
    let (verdict, latency) = state.faults.decide();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let error = match verdict {
        Verdict::Pass => return next.run(req).await,
        Verdict::ServerError => ApiError::server(StatusCode::INTERNAL_SERVER_ERROR),
        Verdict::Hang(time) => {
            tokio::time::sleep(time).await;
            ApiError::server(StatusCode::GATEWAY_TIMEOUT)
        }
        Verdict::RateLimited(secs) => ApiError::rate_limited(secs),
        Verdict::Outage => ApiError::server(StatusCode::SERVICE_UNAVAILABLE),
    };
    state.store().stats.faults_injected += 1;
    error.into_response()
}

/// `Authorization: Bearer <secret key>`, with Stripe's 401 messages.
pub async fn auth(State(state): State<Arc<SimState>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default());
    let message = match given.map(|v| v.strip_prefix("Bearer ")) {
        Some(Some(key)) if key == state.config.api_key => return next.run(req).await,
        None => "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.".to_owned(),
        Some(Some(key)) => format!("Invalid API Key provided: {}", redact(key)),
        Some(None) => "Invalid authorization header. Use 'Authorization: Bearer YOUR_SECRET_KEY'.".to_owned(),
    };
    ApiError::unauthorized(message).into_response()
}

/// `sk_test_abcdefgh1234` -> `sk_test_********1234`, as Stripe shows a wrong key.
fn redact(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let head = key
        .find('_')
        .and_then(|i| key[i + 1..].find('_').map(|j| i + j + 2))
        .unwrap_or(0)
        .min(chars.len());
    let tail = chars.len().saturating_sub(4).max(head);
    let head_str: String = chars[..head].iter().collect();
    let tail_str: String = chars[tail..].iter().collect();
    format!("{head_str}{}{tail_str}", "*".repeat(tail - head))
}
