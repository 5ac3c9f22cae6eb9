//! The middleware: `edge` (the shared fault switches, in front of everything under
//! `/services/`) and `api` (in front of `/services/data/vXX.X/`: the version, the session,
//! the daily API limit and the `Sforce-Limit-Info` header).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Shared;
use super::error::ApiError;
use crate::faults::{Fault, Verdict};

/// The API version a request addressed, `"62.0"`.
#[derive(Debug, Clone)]
pub struct Version(pub String);

impl Version {
    pub fn major(&self) -> u32 {
        super::major(&self.0)
    }
}

/// The shared fault switches, applied as every simulator applies them: latency, then the dice.
pub async fn edge(State(sim): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    sim.count(|s| s.requests += 1);
    let (verdict, latency) = sim.faults.decide();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let error = match verdict {
        Verdict::Pass => None,
        Verdict::ServerError => Some(ApiError::unknown("simulated-fault")),
        Verdict::Hang(hang) => {
            tokio::time::sleep(hang).await;
            // Fact sheet §4: 502, Salesforce Edge could not reach the instance.
            Some(ApiError::one(
                StatusCode::BAD_GATEWAY,
                "UNKNOWN_EXCEPTION",
                "Salesforce Edge could not reach the instance in time.",
            ))
        }
        // Not Salesforce's org-limit signal (that is 403 REQUEST_LIMIT_EXCEEDED, below): the
        // shared switch's generic edge throttle, kept so every simulator offers it.
        Verdict::RateLimited(secs) => Some(
            ApiError::one(
                StatusCode::TOO_MANY_REQUESTS,
                "REQUEST_LIMIT_EXCEEDED",
                "Too many requests.",
            )
            .with_header(header::RETRY_AFTER, secs.to_string()),
        ),
        Verdict::Outage => Some(ApiError::one(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVER_UNAVAILABLE",
            "The server is temporarily unavailable.",
        )),
    };
    let error = error.or_else(|| {
        sim.faults
            .strikes(Fault::EchoCredentials)
            .then(|| echo(&req))
    });
    if let Some(error) = error {
        sim.count(|s| s.faults_injected += 1);
        return error.into_response();
    }
    next.run(req).await
}

/// The echo-credentials fault: a 500 whose text quotes the Authorization header, as is and
/// URL-encoded.
fn echo(req: &Request) -> ApiError {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let encoded: String = form_urlencoded::byte_serialize(auth.as_bytes()).collect();
    ApiError::one(
        StatusCode::INTERNAL_SERVER_ERROR,
        "UNKNOWN_EXCEPTION",
        format!("An unexpected error occurred. Request header Authorization: {auth} ({encoded})"),
    )
}

fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    value
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("bearer "))
        .map(|_| value[7..].trim())
}

pub async fn api(State(sim): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let now = sim.now_ms();
    let mut response = match gated(&sim, &mut req, now) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    };
    let (used, limit) = {
        let mut usage = sim.usage();
        (usage.used(now), usage.limit)
    };
    // Fact sheet §5: on every REST response except `GET /services/data/`.
    if let Ok(v) = HeaderValue::from_str(&format!("api-usage={used}/{limit}")) {
        response.headers_mut().insert("sforce-limit-info", v);
    }
    response
}

/// Version, session, limit; `Ok` lets the request through (and counts it).
fn gated(sim: &Shared, req: &mut Request, now: i64) -> Result<(), ApiError> {
    let version = req
        .uri()
        .path()
        .strip_prefix("/services/data/v")
        .map(|rest| rest.split('/').next().unwrap_or_default().to_owned())
        .filter(|v| sim.config.api_versions.contains(v))
        .ok_or_else(ApiError::not_found)?;
    let live = bearer(req).is_some_and(|t| sim.auth().valid(t, now));
    if !live {
        sim.count(|s| s.auth_failures += 1);
        return Err(ApiError::invalid_session());
    }
    {
        let mut usage = sim.usage();
        // Fact sheet §4/§5: over the org's limit, 403 REQUEST_LIMIT_EXCEEDED (never 429).
        if usage.used(now) >= usage.limit {
            drop(usage);
            sim.count(|s| s.limit_refusals += 1);
            return Err(ApiError::one(
                StatusCode::FORBIDDEN,
                "REQUEST_LIMIT_EXCEEDED",
                "TotalRequests Limit exceeded.",
            ));
        }
        usage.calls.push_back(now);
    }
    sim.count(|s| s.api_calls += 1);
    req.extensions_mut().insert(Version(version));
    Ok(())
}

/// Fact sheet §2: any other path under a version.
pub async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// Fact sheet §4: 405 for a method a resource does not take.
pub async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::one(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("HTTP Method '{method}' not allowed."),
    )
}
