//! Salesforce's error bodies: a JSON array of `{message, errorCode, fields?}` for a request
//! (fact sheet §4), `{statusCode, message, fields}` for one record of a collection (§3).

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One entry of an error array.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorItem {
    pub code: &'static str,
    pub message: String,
    /// `None` leaves the key out (the documented 401 and 404 bodies have none).
    pub fields: Option<Vec<String>>,
}

impl ErrorItem {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            fields: None,
        }
    }

    pub fn on(mut self, fields: &[&str]) -> Self {
        self.fields = Some(fields.iter().map(|f| (*f).to_owned()).collect());
        self
    }

    pub fn on_fields(mut self, fields: Vec<String>) -> Self {
        self.fields = Some(fields);
        self
    }

    /// As a request error (`errorCode`).
    pub fn request_json(&self) -> Value {
        let mut v = json!({"message": self.message, "errorCode": self.code});
        if let Some(fields) = &self.fields {
            v["fields"] = json!(fields);
        }
        v
    }

    /// As one record's error inside a collection result (`statusCode`, `fields` always present).
    pub fn record_json(&self) -> Value {
        json!({"statusCode": self.code, "message": self.message,
               "fields": self.fields.clone().unwrap_or_default()})
    }
}

/// A failed request: status, the error array and extra headers.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub items: Vec<ErrorItem>,
    headers: Vec<(HeaderName, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, items: Vec<ErrorItem>) -> Self {
        Self {
            status,
            items,
            headers: Vec::new(),
        }
    }

    pub fn one(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::new(status, vec![ErrorItem::new(code, message)])
    }

    /// 400 with these items (validation failures).
    pub fn bad(items: Vec<ErrorItem>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, items)
    }

    pub fn with_header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Fact sheet §2: 404 `NOT_FOUND` "The requested resource does not exist".
    pub fn not_found() -> Self {
        Self::one(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        )
    }

    /// Fact sheet §4: 401 `INVALID_SESSION_ID`.
    pub fn invalid_session() -> Self {
        Self::one(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        )
    }

    /// Fact sheet §4: 500 `UNKNOWN_EXCEPTION`, with the error id Salesforce quotes.
    pub fn unknown(detail: &str) -> Self {
        Self::one(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN_EXCEPTION",
            format!(
                "An unexpected error occurred. Please include this ErrorId if you contact support: 1742117893-{detail} (-1318237105)"
            ),
        )
    }

    pub fn json_parser(message: impl Into<String>) -> Self {
        Self::one(StatusCode::BAD_REQUEST, "JSON_PARSER_ERROR", message)
    }

    pub fn malformed_query(message: impl Into<String>) -> Self {
        Self::one(StatusCode::BAD_REQUEST, "MALFORMED_QUERY", message)
    }

    /// The first error code (for tests and logs).
    pub fn code(&self) -> &'static str {
        self.items.first().map_or("", |i| i.code)
    }
}

impl From<Vec<ErrorItem>> for ApiError {
    fn from(items: Vec<ErrorItem>) -> Self {
        Self::bad(items)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body: Vec<Value> = self.items.iter().map(ErrorItem::request_json).collect();
        let mut response = (self.status, json_body(&Value::Array(body))).into_response();
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

/// A JSON response body with Salesforce's content type.
pub fn json_body(value: &Value) -> Response {
    let mut response = value.to_string().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    response
}

/// A JSON answer with a status.
pub fn json_reply(status: StatusCode, value: &Value) -> Response {
    let mut response = json_body(value);
    *response.status_mut() = status;
    response
}
