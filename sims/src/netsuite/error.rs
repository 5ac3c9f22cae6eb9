//! NetSuite's RFC 7807-like error bodies, and responses kept as data so async jobs can replay them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

/// The documented detail of every 401.
pub const INVALID_LOGIN_DETAIL: &str = "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail.";

/// One NetSuite error answer: status, one `o:errorDetails` entry and extra headers (boxed:
/// it travels in every handler's `Result`).
#[derive(Debug, Clone)]
pub struct NsError(Box<Parts>);

#[derive(Debug, Clone)]
struct Parts {
    status: u16,
    title: &'static str,
    type_uri: &'static str,
    code: &'static str,
    detail: String,
    path: Option<String>,
    query_param: Option<String>,
    error_header: Option<String>,
    headers: Vec<(header::HeaderName, String)>,
}

impl NsError {
    /// An error with the title and type URI NetSuite uses for `status`.
    pub fn new(status: u16, code: &'static str, detail: impl Into<String>) -> Self {
        let (title, type_uri) = match status {
            400 => (
                "Bad Request",
                "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.1",
            ),
            401 => (
                "Unauthorized",
                "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.2",
            ),
            404 => (
                "Not Found",
                "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.5",
            ),
            411 => (
                "Length Required",
                "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.12",
            ),
            429 => (
                "Too Many Requests",
                "https://tools.ietf.org/html/rfc6585#section-4",
            ),
            503 => (
                "Service Unavailable",
                "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.5.4",
            ),
            _ => (
                "Internal Server Error",
                "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.5.1",
            ),
        };
        Self(Box::new(Parts {
            status,
            title,
            type_uri,
            code,
            detail: detail.into(),
            path: None,
            query_param: None,
            error_header: None,
            headers: Vec::new(),
        }))
    }

    /// Points the error at a JSON path in the request body (`o:errorPath`).
    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.0.path = Some(path.into());
        self
    }

    /// Names the offending query parameter (`o:errorQueryParam`).
    pub fn with_error_param(mut self, name: &str) -> Self {
        self.0.query_param = Some(name.to_owned());
        self
    }

    /// Names the offending request header (`o:errorHeader`).
    pub fn with_error_header(mut self, name: &str) -> Self {
        self.0.error_header = Some(name.to_owned());
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: header::HeaderName, value: impl Into<String>) -> Self {
        self.0.headers.push((name, value.into()));
        self
    }

    pub fn invalid_login() -> Self {
        Self::new(401, "INVALID_LOGIN", INVALID_LOGIN_DETAIL)
    }

    pub fn invalid_content(detail: impl Into<String>, path: impl Into<String>) -> Self {
        Self::new(
            400,
            "INVALID_CONTENT",
            format!("Error while accessing resource: {}", detail.into()),
        )
        .at(path)
    }

    pub fn invalid_parameter(detail: impl Into<String>) -> Self {
        Self::new(400, "INVALID_PARAMETER", detail)
    }

    pub fn nonexistent_id(detail: impl Into<String>) -> Self {
        Self::new(404, "NONEXISTENT_ID", detail)
    }

    pub fn unexpected(detail: &str) -> Self {
        Self::new(
            500,
            "UNEXPECTED_ERROR",
            format!("An unexpected error occurred. {detail}"),
        )
    }

    /// The documented duplicate-idempotency-key answer: status 400 with a 409 "Conflict" type.
    pub fn idempotency_conflict(job_location: &str) -> Self {
        let mut e = Self::new(
            400,
            "IDEMPOTENCY_ERROR",
            "A request with the same idempotency key is already submitted. See the \"Location\" header for a link to the previously submitted job",
        );
        e.0.title = "Conflict";
        e.0.type_uri = "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.10";
        e.with_header(header::LOCATION, job_location).with_header(
            header::HeaderName::from_static("preference-applied"),
            "respond-async",
        )
    }

    /// The error code (`o:errorCode`).
    pub fn code(&self) -> &'static str {
        self.0.code
    }

    /// The JSON body NetSuite sends.
    pub fn body(&self) -> Value {
        let mut detail = json!({"detail": self.0.detail, "o:errorCode": self.0.code});
        if let Some(path) = &self.0.path {
            detail["o:errorPath"] = json!(path);
        }
        if let Some(param) = &self.0.query_param {
            detail["o:errorQueryParam"] = json!(param);
        }
        if let Some(name) = &self.0.error_header {
            detail["o:errorHeader"] = json!(name);
        }
        json!({"type": self.0.type_uri, "title": self.0.title, "status": self.0.status, "o:errorDetails": [detail]})
    }
}

impl IntoResponse for NsError {
    fn into_response(self) -> Response {
        let mut response = SimResponse {
            status: self.0.status,
            location: None,
            body: Some(self.body()),
        }
        .into_response();
        for (name, value) in self.0.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

/// A synchronous answer kept as data: what a request got, or what an async task's result replays.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimResponse {
    pub status: u16,
    pub location: Option<String>,
    pub body: Option<Value>,
}

impl SimResponse {
    /// 204 No Content, with a `Location` for creates and upserts.
    pub fn no_content(location: Option<String>) -> Self {
        Self {
            status: 204,
            location,
            body: None,
        }
    }

    /// 200 with a JSON body.
    pub fn ok(body: Value) -> Self {
        Self {
            status: 200,
            location: None,
            body: Some(body),
        }
    }
}

impl From<NsError> for SimResponse {
    fn from(e: NsError) -> Self {
        Self {
            status: e.0.status,
            location: None,
            body: Some(e.body()),
        }
    }
}

impl IntoResponse for SimResponse {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = match self.body {
            Some(body) => {
                let kind = if self.status >= 400 {
                    "application/vnd.oracle.resource+json; type=error"
                } else if body.get("items").is_some() {
                    "application/vnd.oracle.resource+json; type=collection"
                } else {
                    "application/vnd.oracle.resource+json; type=singular"
                };
                let mut r = (status, body.to_string()).into_response();
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
                r
            }
            None => status.into_response(),
        };
        if let Some(location) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
    }
}
