//! The component side: generated bindings for `junction:connector@0.2.0`, the adapter that
//! exports any [`Connector`], and a [`Host`] backed by the component's imports.

use std::marker::PhantomData;

use crate::{Connector, Host, HttpRequest, HttpResponse, model};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "connector",
        path: "../../wit",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_connector_world",
        default_bindings_module: "junction_connector_kit::guest::bindings",
    });
}

use bindings::exports::junction::connector::{sink, source};
use bindings::junction::connector::{host, types as wit};
use bindings::wasi::http::{outgoing_handler, types as http};
use bindings::wasi::io::streams::StreamError;

/// Exports `C` through the generated bindings (see [`crate::export_connector!`]).
pub struct Export<C>(PhantomData<C>);

/// The [`Host`] of a running component: its imports.
pub struct WasiHost;

impl Host for WasiHost {
    fn log(&self, level: model::Level, message: &str) {
        let level = match level {
            model::Level::Trace => host::Level::Trace,
            model::Level::Debug => host::Level::Debug,
            model::Level::Info => host::Level::Info,
            model::Level::Warn => host::Level::Warn,
            model::Level::Error => host::Level::Error,
        };
        host::log(level, message);
    }

    fn now_ms(&self) -> i64 {
        host::now()
    }

    fn setting(&self, name: &str) -> Option<String> {
        host::setting(name)
    }

    fn hmac_sha256(&self, secret: &str, data: &[u8]) -> Result<Vec<u8>, String> {
        host::hmac_sha256(secret, data)
    }

    fn send(&self, request: HttpRequest) -> Result<HttpResponse, String> {
        send(request)
    }
}

fn send(request: HttpRequest) -> Result<HttpResponse, String> {
    let (scheme, rest) = request
        .url
        .split_once("://")
        .ok_or_else(|| format!("not an absolute URL: {}", request.url))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let headers = http::Fields::new();
    // A body of known size goes with `Content-Length` (RFC 9110 8.6), never chunked: vendors
    // that document no chunked requests (NetSuite, Stripe) need not accept them.
    let has_length = request
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-length"));
    let sends_body =
        !request.body.is_empty() || matches!(request.method.as_str(), "POST" | "PUT" | "PATCH");
    if sends_body && !has_length {
        headers
            .append("content-length", request.body.len().to_string().as_bytes())
            .map_err(|e| format!("header `content-length` refused: {e:?}"))?;
    }
    for (name, value) in &request.headers {
        headers
            .append(name, value.as_bytes())
            .map_err(|e| format!("header `{name}` refused: {e:?}"))?;
    }
    let outgoing = http::OutgoingRequest::new(headers);
    let method = match request.method.as_str() {
        "GET" => http::Method::Get,
        "POST" => http::Method::Post,
        "PUT" => http::Method::Put,
        "PATCH" => http::Method::Patch,
        "DELETE" => http::Method::Delete,
        "HEAD" => http::Method::Head,
        other => http::Method::Other(other.to_string()),
    };
    let scheme = match scheme {
        "https" => http::Scheme::Https,
        "http" => http::Scheme::Http,
        other => http::Scheme::Other(other.to_string()),
    };
    outgoing
        .set_method(&method)
        .map_err(|()| "method refused".to_string())?;
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| "scheme refused".to_string())?;
    outgoing
        .set_authority(Some(authority))
        .map_err(|()| "authority refused".to_string())?;
    outgoing
        .set_path_with_query(Some(path))
        .map_err(|()| "path refused".to_string())?;
    let body = outgoing
        .body()
        .map_err(|()| "request body already taken".to_string())?;
    let stream = body
        .write()
        .map_err(|()| "request body stream already taken".to_string())?;
    // What the host buffers is written before the request is sent, so a small body travels
    // with the headers: a server that answers before reading the body (a 429 from a gateway)
    // may otherwise close the connection while the body is on its way, and the answer is lost.
    let mut rest: &[u8] = &request.body;
    while !rest.is_empty() {
        match stream.check_write() {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let n = rest.len().min(usize::try_from(n).unwrap_or(usize::MAX));
                if stream.write(&rest[..n]).is_err() {
                    break;
                }
                rest = &rest[n..];
            }
        }
    }
    let late = if rest.is_empty() {
        drop(stream);
        http::OutgoingBody::finish(body, None).map_err(|e| describe_error(&e))?;
        None
    } else {
        Some((stream, body))
    };
    let future = outgoing_handler::handle(outgoing, None).map_err(|e| describe_error(&e))?;
    if let Some((stream, body)) = late {
        for chunk in rest.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| format!("writing the request body: {e:?}"))?;
        }
        drop(stream);
        http::OutgoingBody::finish(body, None).map_err(|e| describe_error(&e))?;
    }

    let response = loop {
        match future.get() {
            Some(result) => break result,
            None => future.subscribe().block(),
        }
    };
    let response = response
        .map_err(|()| "response already taken".to_string())?
        .map_err(|e| describe_error(&e))?;
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| {
            (
                name.to_ascii_lowercase(),
                String::from_utf8_lossy(&value).into_owned(),
            )
        })
        .collect();
    let incoming = response
        .consume()
        .map_err(|()| "response body already taken".to_string())?;
    let mut body = Vec::new();
    {
        let stream = incoming
            .stream()
            .map_err(|()| "response body stream already taken".to_string())?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => body.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(format!(
                        "reading the response body: {}",
                        e.to_debug_string()
                    ));
                }
            }
        }
    }
    drop(http::IncomingBody::finish(incoming));
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn describe_error(error: &http::ErrorCode) -> String {
    match error {
        http::ErrorCode::HttpRequestDenied => {
            "request denied by the Junction host (see the host log for the rule)".into()
        }
        http::ErrorCode::ConnectionTimeout
        | http::ErrorCode::ConnectionReadTimeout
        | http::ErrorCode::ConnectionWriteTimeout => "timed out".into(),
        other => format!("{other:?}"),
    }
}

impl<C: Connector> bindings::Guest for Export<C> {
    fn describe() -> wit::Manifest {
        let m = C::describe();
        wit::Manifest {
            name: m.name,
            version: m.version,
            description: m.description,
            source_objects: m.source_objects,
            sink_objects: m.sink_objects,
            hosts: m.hosts,
            settings: m
                .settings
                .into_iter()
                .map(|s| wit::SettingSpec {
                    name: s.name,
                    description: s.description,
                    required: s.required,
                    sensitive: s.sensitive,
                })
                .collect(),
            secrets: m.secrets,
            webhooks: m.webhooks,
            polling: m.polling,
            async_writes: m.async_writes,
            future_dated_writes: m.future_dated_writes,
        }
    }
}

impl<C: Connector> source::Guest for Export<C> {
    fn receive(hook: wit::Webhook) -> Result<Vec<wit::Change>, wit::Error> {
        let hook = model::Webhook {
            method: hook.method,
            path: hook.path,
            headers: hook.headers,
            body: hook.body,
        };
        C::receive(&WasiHost, hook)
            .map(|changes| changes.into_iter().map(change_out).collect())
            .map_err(error_out)
    }

    fn poll(
        object: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<wit::ChangePage, wit::Error> {
        C::poll(&WasiHost, &object, cursor, limit)
            .map(|page| wit::ChangePage {
                changes: page.changes.into_iter().map(change_out).collect(),
                next_cursor: page.next_cursor,
                has_more: page.has_more,
            })
            .map_err(error_out)
    }
}

impl<C: Connector> sink::Guest for Export<C> {
    fn apply(write: wit::Write) -> Result<wit::Outcome, wit::Error> {
        C::apply(&WasiHost, write_in(write))
            .map(|outcome| match outcome {
                model::Outcome::Applied(r) => wit::Outcome::Applied(r),
                model::Outcome::Accepted(j) => wit::Outcome::Accepted(j),
                model::Outcome::InProgress(j) => wit::Outcome::InProgress(j),
            })
            .map_err(error_out)
    }

    fn job_status(job: String) -> Result<wit::JobState, wit::Error> {
        C::job_status(&WasiHost, &job)
            .map(|state| match state {
                model::JobState::Pending => wit::JobState::Pending,
                model::JobState::Succeeded(r) => wit::JobState::Succeeded(r),
                model::JobState::Failed(e) => wit::JobState::Failed(error_out(e)),
            })
            .map_err(error_out)
    }

    fn fetch(object: String, key: String) -> Result<Option<String>, wit::Error> {
        C::fetch(&WasiHost, &object, &key).map_err(error_out)
    }

    fn expected(write: wit::Write) -> Result<String, wit::Error> {
        C::expected(&WasiHost, &write_in(write)).map_err(error_out)
    }

    fn list(
        object: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<wit::DocumentPage, wit::Error> {
        C::list(&WasiHost, &object, cursor, limit)
            .map(|page| wit::DocumentPage {
                items: page
                    .items
                    .into_iter()
                    .map(|d| wit::KeyedDocument {
                        key: d.key,
                        document: d.document,
                    })
                    .collect(),
                next_cursor: page.next_cursor,
            })
            .map_err(error_out)
    }
}

fn write_in(write: wit::Write) -> model::Write {
    model::Write {
        object: write.object,
        key: write.key,
        operation: operation_in(write.operation),
        document: write.document,
        effective_at: write.effective_at,
        occurred_at: write.occurred_at,
        idempotency_key: write.idempotency_key,
        correlation_id: write.correlation_id,
    }
}

fn operation_in(op: wit::Operation) -> model::Operation {
    match op {
        wit::Operation::Create => model::Operation::Create,
        wit::Operation::Update => model::Operation::Update,
        wit::Operation::Delete => model::Operation::Delete,
        wit::Operation::Snapshot => model::Operation::Snapshot,
    }
}

fn change_out(c: model::Change) -> wit::Change {
    wit::Change {
        source_event_id: c.source_event_id,
        object: c.object,
        key: c.key,
        operation: match c.operation {
            model::Operation::Create => wit::Operation::Create,
            model::Operation::Update => wit::Operation::Update,
            model::Operation::Delete => wit::Operation::Delete,
            model::Operation::Snapshot => wit::Operation::Snapshot,
        },
        before: c.before,
        after: c.after,
        occurred_at: c.occurred_at,
        effective_at: c.effective_at,
        source_version: c.source_version,
        metadata: c.metadata,
    }
}

fn error_out(e: model::Error) -> wit::Error {
    match e {
        model::Error::Transient {
            message,
            retry_after_ms,
        } => wit::Error::Transient(wit::TransientError {
            message,
            retry_after_ms,
        }),
        model::Error::RateLimited(ms) => wit::Error::RateLimited(ms),
        model::Error::Rejected { message, field } => {
            wit::Error::Rejected(wit::Rejection { message, field })
        }
        model::Error::Unauthorized(m) => wit::Error::Unauthorized(m),
        model::Error::NotFound(m) => wit::Error::NotFound(m),
        model::Error::Conflict(m) => wit::Error::Conflict(m),
        model::Error::IdempotencyMismatch(m) => wit::Error::IdempotencyMismatch(m),
        model::Error::Unsupported(m) => wit::Error::Unsupported(m),
        model::Error::InvalidWebhook(m) => wit::Error::InvalidWebhook(m),
    }
}
