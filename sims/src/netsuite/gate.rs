//! The middleware in front of `/services/rest/`, in order: concurrency cap, injected faults,
//! authentication (OAuth 2.0 bearer or TBA), a request body of declared length.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Shared;
use super::error::NsError;
use super::store::SimStats;
use crate::faults::{Fault, Verdict};

fn throttled() -> NsError {
    NsError::new(
        429,
        "CONCURRENCY_LIMIT_EXCEEDED",
        "Concurrent request limit exceeded. Request blocked.",
    )
}

pub async fn gate(State(sim): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    // The permit is held across latency and hangs: a slow request still occupies its slot.
    let _permit = match &sim.slots {
        Some(slots) => match Arc::clone(slots).try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                sim.count(|s| {
                    s.requests += 1;
                    s.throttled += 1;
                });
                return throttled().into_response();
            }
        },
        None => None,
    };
    sim.count(|s| s.requests += 1);
    let (verdict, latency) = sim.faults.decide();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let refused = |count: fn(&mut SimStats), e: NsError| {
        sim.count(count);
        e.into_response()
    };
    match verdict {
        Verdict::Pass => {}
        Verdict::ServerError => {
            return refused(
                |s| s.server_errors += 1,
                NsError::unexpected("Error ID: simulated-fault."),
            );
        }
        Verdict::RateLimited(secs) => {
            return refused(
                |s| s.throttled += 1,
                throttled().with_header(header::RETRY_AFTER, secs.to_string()),
            );
        }
        Verdict::Outage => {
            return refused(
                |s| s.outages += 1,
                NsError::new(
                    503,
                    "UNEXPECTED_ERROR",
                    "The service is temporarily unavailable.",
                ),
            );
        }
        Verdict::Hang(hang) => {
            tokio::time::sleep(hang).await;
            return refused(
                |s| s.hangs += 1,
                NsError::unexpected("The request timed out."),
            );
        }
    }
    if let Err(reason) = authenticate(&sim, &req) {
        tracing::debug!(%reason, "netsuite sim refused login");
        return refused(|s| s.auth_failures += 1, NsError::invalid_login());
    }
    if sim.faults.strikes(Fault::EchoCredentials) {
        let auth = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let encoded = super::tba::percent_encode(&auth);
        return refused(
            |s| s.server_errors += 1,
            NsError::unexpected(&format!(
                "Error ID: simulated-echo. Request header Authorization: {auth} ({encoded})"
            )),
        );
    }
    // The REST documentation describes request bodies of known size (its request size limit
    // is stated in bytes) and never chunked transfer encoding: the strictest reading refuses
    // a body sent without Content-Length, as "411 Length Required".
    let has_body = matches!(req.method().as_str(), "POST" | "PUT" | "PATCH");
    if has_body && !req.headers().contains_key(header::CONTENT_LENGTH) {
        return NsError::new(
            411,
            "INVALID_REQUEST",
            "A request body must be sent with a Content-Length header.",
        )
        .into_response();
    }
    next.run(req).await
}

fn authenticate(sim: &Shared, req: &Request) -> Result<(), String> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("no Authorization header")?;
    if let Some(token) = value
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("bearer "))
        .map(|_| value[7..].trim())
    {
        return if sim.bearer.as_deref() == Some(token) || sim.m2m.accepts(token) {
            Ok(())
        } else {
            Err("unknown bearer token".into())
        };
    }
    // The signature covers the URL as the client addressed it: its Host and the raw path.
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .ok_or("no Host header")?;
    let scheme = req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("http");
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    sim.verifier
        .verify(
            req.method().as_str(),
            &format!("{scheme}://{host}{path}"),
            value,
            now,
        )
        .map_err(|e| e.to_string())
}
