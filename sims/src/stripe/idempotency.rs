//! Idempotency keys as Stripe implements them: the first response of an executed POST is saved
//! (2xx and 5xx alike) and replayed with `Idempotent-Replayed: true`; the same key with other
//! parameters is a 400 `idempotency_error`; a key still executing is a 409; validation failures
//! are not saved. Keys expire after 24 hours.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::{SimState, form};

const MAX_KEY_LEN: usize = 255;
const KEY_TTL_SECS: i64 = 24 * 3600;
const MAX_BODY: usize = 1 << 20;

enum Slot {
    Running {
        fingerprint: String,
    },
    Done {
        fingerprint: String,
        status: StatusCode,
        body: Bytes,
        at: i64,
    },
}

/// What to do with a request carrying a key.
enum Begin {
    Execute,
    Replay(StatusCode, Bytes),
    Mismatch,
    InFlight,
}

/// The saved keys of the account.
#[derive(Default)]
pub struct Keys(Mutex<HashMap<String, Slot>>);

impl Keys {
    fn begin(&self, key: &str, fingerprint: &str, now: i64) -> Begin {
        let mut keys = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match keys.get(key) {
            Some(Slot::Running { .. }) => Begin::InFlight,
            Some(Slot::Done {
                fingerprint: saved,
                status,
                body,
                at,
            }) if now - at < KEY_TTL_SECS => {
                if saved == fingerprint {
                    Begin::Replay(*status, body.clone())
                } else {
                    Begin::Mismatch
                }
            }
            _ => {
                keys.insert(
                    key.to_owned(),
                    Slot::Running {
                        fingerprint: fingerprint.to_owned(),
                    },
                );
                Begin::Execute
            }
        }
    }

    fn finish(&self, key: &str, status: StatusCode, body: &Bytes, now: i64) {
        let mut keys = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(Slot::Running { fingerprint }) = keys.remove(key) else {
            return;
        };
        // 4xx means validation stopped the request before execution: not saved, may be retried.
        if status.is_success() || status.is_server_error() {
            keys.insert(
                key.to_owned(),
                Slot::Done {
                    fingerprint,
                    status,
                    body: body.clone(),
                    at: now,
                },
            );
        }
    }
}

/// Middleware for `/v1` writes. Writes run in their own task so they complete (and their result
/// is saved) even when the client gives up, as on a real server.
pub async fn layer(State(state): State<Arc<SimState>>, req: Request, next: Next) -> Response {
    if req.method() == Method::GET {
        return next.run(req).await;
    }
    let key = match req
        .headers()
        .get("idempotency-key")
        .map(HeaderValue::to_str)
    {
        Some(Ok(k)) if req.method() == Method::POST => Some(k.to_owned()),
        Some(Err(_)) => {
            return ApiError::invalid("Invalid Idempotency-Key header", "Idempotency-Key")
                .into_response();
        }
        _ => None,
    };
    let Some(key) = key else {
        return run_detached(next, req).await;
    };
    if key.len() > MAX_KEY_LEN {
        let msg = format!("Invalid Idempotency-Key: must be at most {MAX_KEY_LEN} characters long");
        return ApiError::invalid(msg, "Idempotency-Key").into_response();
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return ApiError::bad_request("The request body could not be read.").into_response();
    };
    let fingerprint = form::fingerprint(parts.method.as_str(), parts.uri.path(), &bytes);
    match state.idempotency.begin(&key, &fingerprint, state.now()) {
        Begin::Execute => {}
        Begin::Replay(status, body) => {
            state.store().stats.idempotent_replays += 1;
            let mut response = (status, body).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
            return response;
        }
        Begin::Mismatch => return ApiError::idempotency_mismatch(&key).into_response(),
        Begin::InFlight => return ApiError::idempotency_in_flight(&key).into_response(),
    }
    let req = Request::from_parts(parts, Body::from(bytes));
    let task = tokio::spawn(async move {
        let (parts, body) = next.run(req).await.into_parts();
        let body = to_bytes(body, usize::MAX).await.unwrap_or_default();
        state
            .idempotency
            .finish(&key, parts.status, &body, state.now());
        Response::from_parts(parts, Body::from(body))
    });
    task.await
        .unwrap_or_else(|_| ApiError::server(StatusCode::INTERNAL_SERVER_ERROR).into_response())
}

async fn run_detached(next: Next, req: Request) -> Response {
    let task = tokio::spawn(next.run(req));
    task.await
        .unwrap_or_else(|_| ApiError::server(StatusCode::INTERNAL_SERVER_ERROR).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_still_executing_conflicts_and_an_unsaved_one_can_run_again() {
        let keys = Keys::default();
        assert!(matches!(
            keys.begin("k", "POST /v1/customers?a=1&", 0),
            Begin::Execute
        ));
        assert!(matches!(
            keys.begin("k", "POST /v1/customers?a=1&", 0),
            Begin::InFlight
        ));
        keys.finish("k", StatusCode::BAD_REQUEST, &Bytes::new(), 0);
        assert!(
            matches!(
                keys.begin("k", "POST /v1/customers?a=2&", 0),
                Begin::Execute
            ),
            "4xx is not saved"
        );
        keys.finish("k", StatusCode::OK, &Bytes::from_static(b"{}"), 0);
        assert!(matches!(
            keys.begin("k", "POST /v1/customers?a=2&", 10),
            Begin::Replay(StatusCode::OK, _)
        ));
        assert!(
            matches!(
                keys.begin("k", "POST /v1/customers?a=2&", KEY_TTL_SECS),
                Begin::Execute
            ),
            "pruned after 24 h"
        );
    }
}
