//! Cleverbridge's error answers: an HTTP status from fact sheet §1's table and a body whose
//! `ResultMessage` explains it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error as the Subscription API reports it; the scenario API returns the same errors.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct CbError {
    /// HTTP status (400, 401, 402, 404, 429, 500; 503 for the outage fault).
    pub status: StatusCode,
    /// `ResultMessage`.
    pub message: String,
    /// Seconds for `Retry-After` (429 only).
    pub retry_after: Option<u64>,
}

impl CbError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// fact sheet §1: 400 "bad request (incomplete, required fields missing, malformed
    /// JSON/XML)", with the documented text for a missing field.
    pub fn missing_field() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Missing required field.")
    }

    /// 400 for a request that is malformed (fact sheet §1); the text is the simulator's.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// fact sheet §1: 401 "auth failed". The text is ASP.NET Web API's usual one [U].
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Authorization has been denied for this request.",
        )
    }

    /// fact sheet §1: 402 "invalid parameters".
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYMENT_REQUIRED, message)
    }

    /// fact sheet §1: 404 "unknown identifier", with the documented "Item not found.".
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Item not found.")
    }

    /// fact sheet §1: 429 "rate limit reached".
    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "Rate limit reached.")
        }
    }

    /// fact sheet §1: 500 "server error".
    pub fn server(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The outage fault. Cleverbridge documents no 503; a vendor that is down answers one
    /// from its load balancer.
    pub fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable.")
    }

    /// A method the operation does not take (reads are GET, writes POST: fact sheet §1).
    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("The requested resource does not support http method '{method}'."),
        )
    }
}

impl IntoResponse for CbError {
    fn into_response(self) -> Response {
        let mut response =
            super::routes::json_response(self.status, &json!({ "ResultMessage": self.message }));
        if let Some(secs) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
