//! Stripe's error responses: `{"error": {type, code, message, param, doc_url}}` with the HTTP
//! status Stripe uses for each case.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// An error as the Stripe API reports it. The Rust scenario API returns the same errors.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {kind}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// `error.type`: `invalid_request_error`, `api_error`, `idempotency_error`.
    pub kind: &'static str,
    /// `error.code`, e.g. `resource_missing`, `rate_limit`.
    pub code: Option<&'static str>,
    /// `error.message`.
    pub message: String,
    /// `error.param`: the offending parameter.
    pub param: Option<String>,
    /// Seconds for the `Retry-After` header (429 only).
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            code: None,
            message: message.into(),
            param: None,
            retry_after: None,
        }
    }

    fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    fn param(mut self, param: &str) -> Self {
        self.param = Some(param.to_owned());
        self
    }

    /// 400 `invalid_request_error` about one parameter.
    pub fn invalid(message: impl Into<String>, param: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message).param(param)
    }

    /// 400 `invalid_request_error` not tied to one parameter.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// 400 `parameter_missing`.
    pub fn missing_param(param: &str) -> Self {
        Self::invalid(format!("Missing required param: {param}."), param).code("parameter_missing")
    }

    /// 400 `parameter_unknown`.
    pub fn unknown_param(param: &str) -> Self {
        Self::invalid(format!("Received unknown parameter: {param}"), param)
            .code("parameter_unknown")
    }

    /// 404 `resource_missing`, e.g. "No such subscription: 'sub_x'".
    pub fn no_such(object: &str, id: &str, param: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("No such {object}: '{id}'"),
        )
        .code("resource_missing")
        .param(param)
    }

    /// 400 `resource_missing` (Stripe's answer to an unknown id given as a parameter).
    pub fn no_such_param(object: &str, id: &str, param: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            ..Self::no_such(object, id, param)
        }
    }

    /// 401 for a missing or wrong API key.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_request_error", message)
    }

    /// 400 `idempotency_error`: the key was first used with other parameters.
    pub fn idempotency_mismatch(key: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "idempotency_error",
            format!(
                "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
            ),
        )
    }

    /// 409: another request with the same key is still executing.
    pub fn idempotency_in_flight(key: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "invalid_request_error",
            format!(
                "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): {key}. Please try again later."
            ),
        )
        .code("idempotency_key_in_use")
    }

    /// 429 `rate_limit` with `Retry-After`.
    pub fn rate_limited(retry_after: u64) -> Self {
        let message = "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.";
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "invalid_request_error",
                message,
            )
            .code("rate_limit")
        }
    }

    /// A 5xx `api_error`.
    pub fn server(status: StatusCode) -> Self {
        Self::new(
            status,
            "api_error",
            "An unknown error occurred while processing your request. Please try again.",
        )
    }

    /// The JSON body Stripe sends.
    pub fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("type".into(), json!(self.kind));
        if let Some(code) = self.code {
            error.insert("code".into(), json!(code));
            error.insert(
                "doc_url".into(),
                json!(format!(
                    "https://stripe.com/docs/error-codes/{}",
                    code.replace('_', "-")
                )),
            );
        }
        error.insert("message".into(), json!(self.message));
        if let Some(param) = &self.param {
            error.insert("param".into(), json!(param));
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
