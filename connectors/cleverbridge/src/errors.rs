//! Cleverbridge's answers classified into the contract's error variants (fact sheet §1: 400,
//! 401, 402, 404, 429, 500, and `ResultMessage` on every body).

use junction_connector_kit::{Error, HttpResponse};
use serde_json::Value;

/// A Cleverbridge document missing a field the canonical document needs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{field}` is missing or is not {expected}")]
pub(crate) struct MapError {
    /// The Cleverbridge field, as a path (`Items[0].Quantity`).
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

    /// As the contract's error: a document Cleverbridge returned that retrying cannot fix.
    pub(crate) fn rejected(self) -> Error {
        Error::Rejected {
            message: format!("Cleverbridge returned a subscription Junction cannot map: {self}"),
            field: Some(self.field),
        }
    }
}

/// The request never got an answer (network trouble, timeout, or the host refused to send it).
pub(crate) fn network(method: &str, url: &str, reason: &str) -> Error {
    Error::transient(format!("{method} {url} failed: {reason}"))
}

/// Classifies an answer: `Ok(body)` only for a 2xx whose `ResultMessage` is "OK".
pub(crate) fn check(response: &HttpResponse) -> Result<Value, Error> {
    let body = response.json();
    let message = body["ResultMessage"].as_str().map(str::to_owned);
    let text = || {
        message
            .clone()
            .unwrap_or_else(|| format!("Cleverbridge answered HTTP {}", response.status))
    };
    match response.status {
        200..=299 => match message.as_deref() {
            Some("OK") => Ok(body),
            // Clients test `ResultMessage == "OK"` (fact sheet §1): anything else on a 200 is
            // Cleverbridge declining the request.
            Some(other) => Err(Error::Rejected {
                message: format!("Cleverbridge answered 200 without OK: {other}"),
                field: field_of(other),
            }),
            None if body.is_null() => Err(Error::transient(
                "Cleverbridge answered 200 with a body that is not JSON",
            )),
            None => Err(Error::rejected(
                "Cleverbridge answered 200 without a ResultMessage",
            )),
        },
        401 | 403 => Err(Error::Unauthorized(text())),
        404 => Err(Error::NotFound(text())),
        429 => Err(Error::RateLimited(response.retry_after_ms())),
        408 | 500..=599 => Err(Error::Transient {
            message: text(),
            retry_after_ms: response.retry_after_ms(),
        }),
        _ => {
            let message = text();
            let field = field_of(&message);
            Err(Error::Rejected { message, field })
        }
    }
}

/// The field a message names: Cleverbridge quotes it (`'CustomerPrice' currency differs from
/// subscription currency`, `'Quantity' must be at least 1.`).
pub(crate) fn field_of(message: &str) -> Option<String> {
    let start = message.find('\'')? + 1;
    let len = message[start..].find('\'')?;
    let name = &message[start..start + len];
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.'))
        .then(|| name.to_owned())
}
