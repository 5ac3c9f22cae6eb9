//! Stripe's failures classified into the contract's error variants.

use junction_connector_kit::testing::FakeHost;
use junction_connector_kit::{Connector, Error};

use super::host;
use crate::Stripe;

/// The error `fetch` reports when Stripe answers `status` with `headers` and `body`.
fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Error {
    let host: FakeHost = host();
    host.respond(status, headers, body);
    Stripe::fetch(&host, "subscription", "sub_1").expect_err("an error")
}

fn error(kind: &str, code: &str, message: &str, param: &str) -> String {
    serde_json::json!({ "error": { "type": kind, "code": code, "message": message, "param": param } }).to_string()
}

#[test]
fn every_status_class_maps_to_its_variant() {
    assert_eq!(
        answer(
            429,
            &[("Retry-After", "2")],
            &error("invalid_request_error", "rate_limit", "Too many", "")
        ),
        Error::RateLimited(Some(2000))
    );
    assert_eq!(
        answer(
            400,
            &[],
            &error("invalid_request_error", "rate_limit", "Too many", "")
        ),
        Error::RateLimited(None)
    );
    assert_eq!(
        answer(
            500,
            &[("Request-Id", "req_9")],
            &error("api_error", "", "Something went wrong", "")
        ),
        Error::Transient {
            message: "Something went wrong (request req_9)".into(),
            retry_after_ms: None
        }
    );
    assert!(matches!(
        answer(503, &[("Stripe-Should-Retry", "false")], "oops"),
        Error::Rejected { .. }
    ));
    assert!(
        matches!(answer(502, &[], "<html>bad gateway</html>"), Error::Transient { message, .. } if message == "Stripe answered HTTP 502")
    );
    let reused = "Keys for idempotent requests can only be used with the same parameters they were first used with.";
    assert_eq!(
        answer(400, &[], &error("idempotency_error", "", reused, "")),
        Error::IdempotencyMismatch(reused.into())
    );
    assert_eq!(
        answer(
            400,
            &[],
            &error(
                "invalid_request_error",
                "parameter_invalid_integer",
                "Invalid integer: many",
                "items[0][quantity]"
            )
        ),
        Error::Rejected {
            message: "Invalid integer: many".into(),
            field: Some("items[0][quantity]".into())
        }
    );
    assert!(matches!(
        answer(
            402,
            &[],
            &error("card_error", "card_declined", "Your card was declined.", "")
        ),
        Error::Rejected { .. }
    ));
    assert!(
        matches!(answer(401, &[], &error("invalid_request_error", "", "Invalid API Key provided", "")), Error::Unauthorized(m) if m == "Invalid API Key provided")
    );
    assert!(matches!(
        answer(
            403,
            &[],
            &error("invalid_request_error", "", "Permission denied", "")
        ),
        Error::Rejected { .. }
    ));
    assert!(matches!(
        answer(
            404,
            &[],
            &error("invalid_request_error", "", "Unrecognized request URL", "")
        ),
        Error::NotFound(_)
    ));
    assert!(matches!(
        answer(
            409,
            &[],
            &error(
                "invalid_request_error",
                "",
                "The request conflicts with another request",
                ""
            )
        ),
        Error::Conflict(_)
    ));
    assert!(matches!(
        answer(
            400,
            &[],
            &error("invalid_request_error", "lock_timeout", "Object locked", "")
        ),
        Error::Conflict(_)
    ));
}

#[test]
fn network_failure_is_transient() {
    let host = host();
    host.fail("connection refused");
    assert!(
        matches!(Stripe::fetch(&host, "subscription", "sub_1"), Err(Error::Transient { message, .. }) if message.contains("connection refused"))
    );
    host.respond(200, &[], "not json");
    assert!(matches!(
        Stripe::fetch(&host, "subscription", "sub_1"),
        Err(Error::Transient { .. })
    ));
}
