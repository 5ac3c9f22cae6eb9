//! Stripe failures classified into the contract's error variants (fact sheet sections 8 and 9),
//! and the error for a Stripe object Junction cannot map.

use junction_connector_kit::{Error, HttpResponse};
use serde_json::Value;

/// A Stripe object missing a field the canonical document needs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{field}` is missing or is not {expected}")]
pub(crate) struct MapError {
    /// The Stripe field, as a path (`items.data[0].price.id`).
    pub field: String,
    /// What it should have been.
    pub expected: &'static str,
}

impl MapError {
    pub(crate) fn new(field: impl Into<String>, expected: &'static str) -> Self {
        Self {
            field: field.into(),
            expected,
        }
    }

    /// As the contract's error for a document read back from Stripe: retrying cannot help.
    pub(crate) fn rejected(self, what: &str) -> Error {
        Error::Rejected {
            message: format!("Stripe returned {what} Junction cannot map: {self}"),
            field: Some(self.field),
        }
    }
}

/// The request never got an answer (network trouble, timeout, or the host refused to send it).
pub(crate) fn network(method: &str, url: &str, reason: &str) -> Error {
    Error::transient(format!("{method} {url} failed: {reason}"))
}

/// The body of a successful answer was not JSON.
pub(crate) fn not_json(e: &serde_json::Error) -> Error {
    Error::transient(format!("Stripe answered with a body that is not JSON: {e}"))
}

/// Classifies a non-2xx answer. The order matters: throttling and idempotency errors are
/// recognised by their body whatever the status; `Stripe-Should-Retry` overrides the status
/// class, as stripe-node's retry logic does.
pub(crate) fn classify(response: &HttpResponse) -> Error {
    let body = response.json();
    let error = &body["error"];
    let kind = error["type"].as_str().unwrap_or_default();
    let code = error["code"].as_str().unwrap_or_default();
    let message = message(response, &body);
    let field = error["param"].as_str().map(str::to_owned);
    let retry_after_ms = response.retry_after_ms();
    let should_retry = response
        .header("stripe-should-retry")
        .map(|v| v.trim().eq_ignore_ascii_case("true"));
    match response.status {
        _ if response.status == 429 || code == "rate_limit" => Error::RateLimited(retry_after_ms),
        _ if kind == "idempotency_error" => Error::IdempotencyMismatch(message),
        401 => Error::Unauthorized(message),
        404 => Error::NotFound(message),
        _ if should_retry == Some(false) => Error::Rejected { message, field },
        _ if should_retry == Some(true) => Error::Transient {
            message,
            retry_after_ms,
        },
        // A concurrent request holds the object (same idempotency key in flight, or a lock).
        409 => Error::Conflict(message),
        _ if code == "lock_timeout" => Error::Conflict(message),
        424 | 500..=599 => Error::Transient {
            message,
            retry_after_ms,
        },
        _ => Error::Rejected { message, field },
    }
}

/// Whether the answer is Stripe saying "no such object" (as opposed to, say, a wrong URL).
pub(crate) fn is_missing(response: &HttpResponse) -> bool {
    response.status == 404 && response.json()["error"]["code"] == "resource_missing"
}

/// Stripe's own words (`error.message`, or OAuth's `error_description`), with the request id
/// for Stripe support when the answer carried one.
fn message(response: &HttpResponse, body: &Value) -> String {
    let text = body["error"]["message"]
        .as_str()
        .or_else(|| body["error_description"].as_str())
        .map_or_else(
            || format!("Stripe answered HTTP {}", response.status),
            str::to_owned,
        );
    match response.header("request-id") {
        Some(id) => format!("{text} (request {id})"),
        None => text,
    }
}
