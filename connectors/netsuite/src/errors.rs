//! NetSuite's error answers (`o:errorDetails`) classified into the contract's retry classes.

use junction_connector_kit::{Error, HttpResponse};
use serde_json::Value;

/// The first entry of a NetSuite error body (`o:errorDetails[0]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorDetail {
    /// `o:errorCode`, e.g. `INVALID_CONTENT`.
    pub code: String,
    /// `detail`, for people.
    pub detail: String,
    /// `o:errorPath` (a path into the request body), or `o:errorQueryParam`.
    pub path: Option<String>,
}

impl ErrorDetail {
    /// Reads the detail from a response body; empty fields when the body has none.
    pub fn of(response: &HttpResponse) -> Self {
        let body = response.json();
        let first = &body["o:errorDetails"][0];
        let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
        let detail = text(&first["detail"])
            .or_else(|| text(&body["title"]))
            .unwrap_or_else(|| format!("HTTP {}", response.status));
        Self {
            code: text(&first["o:errorCode"]).unwrap_or_default(),
            detail,
            path: text(&first["o:errorPath"]).or_else(|| text(&first["o:errorQueryParam"])),
        }
    }

    fn message(&self) -> String {
        if self.code.is_empty() {
            self.detail.clone()
        } else {
            format!("{}: {}", self.code, self.detail)
        }
    }
}

/// The code NetSuite answers when a write reuses an async idempotency key.
pub const IDEMPOTENCY_ERROR: &str = "IDEMPOTENCY_ERROR";

/// Reference fields naming records that pipelines themselves write to NetSuite. When one does
/// not resolve, the record is most likely still on its way (a subscription that arrived before
/// its customer), so the write is worth retrying once it lands rather than dead-lettering.
const SYNCED_REFERENCES: &[&str] = &["customer", "billingAccount", "pricePlan", "subscription"];

/// Whether NetSuite refused the body because a synced reference (`o:errorPath` `customer`, or a
/// path below it) names no record.
fn names_missing_synced_record(detail: &ErrorDetail) -> bool {
    let field = detail
        .path
        .as_deref()
        .and_then(|p| p.split(['.', '[']).next());
    detail.code == "INVALID_CONTENT" && field.is_some_and(|f| SYNCED_REFERENCES.contains(&f))
}

/// Classifies a non-2xx answer. The decision uses the status and `o:errorCode` only, never the
/// detail text: a `USER_ERROR` (which also covers "record locked by a workflow") stays a
/// rejection because nothing but its wording tells the cases apart.
pub fn classify(response: &HttpResponse) -> Error {
    let detail = ErrorDetail::of(response);
    let retry_after = response.retry_after_ms();
    match (response.status, detail.code.as_str()) {
        // 429 is what REST web services send when the account's concurrency limit is hit;
        // RESTlet-style throttling says so in the code with a 400.
        (429, _) | (_, "SSS_REQUEST_LIMIT_EXCEEDED" | "CONCURRENCY_LIMIT_EXCEEDED") => {
            Error::RateLimited(retry_after)
        }
        (500..=599, _) => Error::Transient {
            message: detail.message(),
            retry_after_ms: retry_after,
        },
        (401 | 403, _) => Error::Unauthorized(detail.message()),
        (404, _) => Error::NotFound(detail.message()),
        (409, _) => Error::Conflict(detail.message()),
        // Reaching here, the duplicate key came without the original job's Location, so there
        // is nothing to follow and sending again would get the same answer.
        (_, IDEMPOTENCY_ERROR) => Error::IdempotencyMismatch(detail.message()),
        (400, _) if names_missing_synced_record(&detail) => Error::NotFound(detail.message()),
        (400..=499, _) => Error::Rejected {
            message: detail.detail,
            field: detail.path,
        },
        _ => Error::transient(format!(
            "unexpected HTTP {}: {}",
            response.status,
            detail.message()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, code: &str, headers: &[(&str, &str)]) -> HttpResponse {
        answer_at(status, code, "subscriptionLine.items[0].item", headers)
    }

    fn answer_at(status: u16, code: &str, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        let body = serde_json::json!({
            "type": "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html",
            "title": "Error", "status": status,
            "o:errorDetails": [{"detail": "what NetSuite said", "o:errorCode": code, "o:errorPath": path}],
        });
        HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.to_string().into_bytes(),
        }
    }

    #[test]
    fn classifies_every_documented_answer() {
        let rejected = Error::Rejected {
            message: "what NetSuite said".into(),
            field: Some("subscriptionLine.items[0].item".into()),
        };
        let table = [
            (
                answer(429, "CONCURRENCY_LIMIT_EXCEEDED", &[("retry-after", "7")]),
                Error::RateLimited(Some(7000)),
            ),
            (answer(429, "", &[]), Error::RateLimited(None)),
            (
                answer(400, "SSS_REQUEST_LIMIT_EXCEEDED", &[]),
                Error::RateLimited(None),
            ),
            (
                answer(500, "UNEXPECTED_ERROR", &[]),
                Error::Transient {
                    message: "UNEXPECTED_ERROR: what NetSuite said".into(),
                    retry_after_ms: None,
                },
            ),
            (
                answer(503, "UNEXPECTED_ERROR", &[("retry-after", "2")]),
                Error::Transient {
                    message: "UNEXPECTED_ERROR: what NetSuite said".into(),
                    retry_after_ms: Some(2000),
                },
            ),
            (
                answer(401, "INVALID_LOGIN", &[]),
                Error::Unauthorized("INVALID_LOGIN: what NetSuite said".into()),
            ),
            (
                answer(403, "INSUFFICIENT_PERMISSION", &[]),
                Error::Unauthorized("INSUFFICIENT_PERMISSION: what NetSuite said".into()),
            ),
            (
                answer(404, "NONEXISTENT_ID", &[]),
                Error::NotFound("NONEXISTENT_ID: what NetSuite said".into()),
            ),
            (
                answer(409, "CONFLICT", &[]),
                Error::Conflict("CONFLICT: what NetSuite said".into()),
            ),
            (answer(400, "INVALID_CONTENT", &[]), rejected.clone()),
            (answer(400, "NONEXISTENT_FIELD", &[]), rejected.clone()),
            (answer(400, "INVALID_PARAMETER", &[]), rejected.clone()),
            (answer(400, "USER_ERROR", &[]), rejected),
            (
                answer(400, IDEMPOTENCY_ERROR, &[]),
                Error::IdempotencyMismatch("IDEMPOTENCY_ERROR: what NetSuite said".into()),
            ),
        ];
        for (response, expected) in table {
            assert_eq!(
                classify(&response),
                expected,
                "HTTP {} {}",
                response.status,
                ErrorDetail::of(&response).code
            );
        }
    }

    #[test]
    fn a_customer_reference_that_names_no_record_is_not_found() {
        for path in ["customer", "customer.externalId"] {
            assert_eq!(
                classify(&answer_at(400, "INVALID_CONTENT", path, &[])),
                Error::NotFound("INVALID_CONTENT: what NetSuite said".into()),
                "{path}"
            );
        }
        // Items and currencies are not written by pipelines: waiting would not make them appear.
        for path in ["subscriptionLine.items[0].item", "currency", "customerNote"] {
            assert!(
                matches!(
                    classify(&answer_at(400, "INVALID_CONTENT", path, &[])),
                    Error::Rejected { .. }
                ),
                "{path}"
            );
        }
        assert!(matches!(
            classify(&answer_at(400, "USER_ERROR", "customer", &[])),
            Error::Rejected { .. }
        ));
    }

    #[test]
    fn survives_bodies_that_are_not_netsuite_errors() {
        let bare = HttpResponse {
            status: 502,
            headers: vec![],
            body: b"<html>bad gateway</html>".to_vec(),
        };
        assert_eq!(classify(&bare), Error::transient("HTTP 502"));
        let bare = HttpResponse {
            status: 400,
            headers: vec![],
            body: vec![],
        };
        assert_eq!(
            classify(&bare),
            Error::Rejected {
                message: "HTTP 400".into(),
                field: None
            }
        );
    }
}
