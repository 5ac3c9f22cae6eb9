//! The middleware in front of `/subscription/`, in order: injected faults, HTTP Basic auth,
//! then the required headers (fact sheet §1: `Accept` always, `Content-Type` on POST).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::Shared;
use super::error::CbError;
use crate::faults::{Fault, Verdict};

pub async fn gate(State(sim): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    sim.lock().stats.requests += 1;
    let (verdict, latency) = sim.faults.decide();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let fault = match verdict {
        Verdict::Pass => None,
        Verdict::ServerError => Some(CbError::server("An error has occurred.")),
        Verdict::RateLimited(secs) => Some(CbError::rate_limited(secs)),
        Verdict::Outage => Some(CbError::unavailable()),
        Verdict::Hang(hang) => {
            tokio::time::sleep(hang).await;
            Some(CbError::server("The request timed out."))
        }
    };
    if let Some(fault) = fault {
        sim.lock().stats.faults_injected += 1;
        return fault.into_response();
    }
    if !authenticated(&sim, &req) {
        sim.lock().stats.auth_failures += 1;
        return CbError::unauthorized().into_response();
    }
    if sim.faults.strikes(Fault::EchoCredentials) {
        let auth = header_str(&req, header::AUTHORIZATION).unwrap_or_default();
        let encoded: String = form_urlencoded::byte_serialize(auth.as_bytes()).collect();
        sim.lock().stats.faults_injected += 1;
        return CbError::server(format!(
            "An error has occurred. Authorization: {auth} ({encoded})"
        ))
        .into_response();
    }
    if let Err(e) = check_headers(&req) {
        return e.into_response();
    }
    next.run(req).await
}

fn header_str(req: &Request, name: header::HeaderName) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// fact sheet §1: `Authorization: Basic base64(user:password)`.
fn authenticated(sim: &Shared, req: &Request) -> bool {
    let Some(value) = header_str(req, header::AUTHORIZATION) else {
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
    let expected = format!("{}:{}", sim.config.user, sim.config.password);
    decoded == expected.as_bytes()
}

fn media_types(value: &str) -> impl Iterator<Item = String> + '_ {
    value.split(',').map(|part| {
        part.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    })
}

/// fact sheet §1: `Accept: application/json|application/xml` is required; `Content-Type` too
/// for POST. The simulator speaks JSON only, and the strictest reading accepts no wildcard.
fn check_headers(req: &Request) -> Result<(), CbError> {
    let accept = header_str(req, header::ACCEPT).unwrap_or_default();
    let types: Vec<String> = media_types(&accept).collect();
    if !types.iter().any(|t| t == "application/json") {
        return Err(if types.iter().any(|t| t == "application/xml") {
            CbError::bad_request("The simulator answers application/json only.")
        } else {
            CbError::bad_request("The Accept header must be application/json or application/xml.")
        });
    }
    if req.method() == Method::POST {
        let content_type = header_str(req, header::CONTENT_TYPE).unwrap_or_default();
        if media_types(&content_type).next().as_deref() != Some("application/json") {
            return Err(CbError::bad_request(
                "The Content-Type header must be application/json.",
            ));
        }
    }
    Ok(())
}
