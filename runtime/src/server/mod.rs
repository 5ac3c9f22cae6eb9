//! HTTP: webhook ingress on each source's path, `/metrics` (Prometheus) and `/healthz`.
//!
//! A webhook is answered 2xx only after its changes and dedupe records are committed; a
//! duplicate gets 2xx too (the sender must stop retrying) and is recorded as suppressed. A
//! request that fails verification gets 400 and is stored nowhere; a failure of Junction's own
//! (connector crashed, store unavailable) gets 5xx so the sender retries.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

mod listener;

pub use listener::{ListenLimits, serve};

use crate::host::{CallContext, CallError};
use crate::pipeline::metrics::IntakeLabels;
use crate::pipeline::{Engine, intake};

/// Largest webhook body accepted.
const MAX_BODY: usize = 2 << 20;

/// The router: webhook paths, `/metrics`, `/healthz`.
pub fn app(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(webhook)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(engine)
}

async fn healthz(State(engine): State<Arc<Engine>>) -> Response {
    match engine.store.stats(engine.clock().now_ms()).await {
        Ok(s) => (
            StatusCode::OK,
            axum::Json(
                json!({ "status": "ok", "pending": s.pending, "dead": s.dead, "held": s.held, "review": s.review }),
            ),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "store unavailable", "error": e.to_string() })),
        )
            .into_response(),
    }
}

async fn metrics(State(engine): State<Arc<Engine>>) -> Response {
    let stats = engine.store.stats(engine.clock().now_ms()).await.ok();
    if let Ok(overdue) = engine.store.overdue_by_route(engine.clock().now_ms()).await {
        engine.metrics.set_overdue(&overdue);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        engine.metrics.render(stats.as_ref()),
    )
        .into_response()
}

fn problem(status: StatusCode, error: &str, detail: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({ "error": error, "detail": detail.into() })),
    )
        .into_response()
}

async fn webhook(
    State(engine): State<Arc<Engine>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(endpoint) = engine.endpoints().get(uri.path()).cloned() else {
        return problem(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no webhook source listens on {}", uri.path()),
        );
    };
    if method != Method::POST {
        return problem(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "webhooks are POSTed",
        );
    }
    let Some(connector) = engine.connector(&endpoint.pipeline, &endpoint.connector) else {
        return problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "not-configured",
            "the source connector is not loaded",
        );
    };
    let count = |outcome: &str, n: u64| {
        engine
            .metrics
            .intake
            .get_or_create(&IntakeLabels {
                pipeline: endpoint.pipeline.clone(),
                outcome: outcome.to_string(),
            })
            .inc_by(n);
    };
    let hook = junction_connector_kit::Webhook {
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_string(), ToString::to_string),
        headers: headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    };
    let called = connector.receive(&CallContext::default(), hook).await;
    let changes = match called.result {
        Ok(changes) => changes,
        Err(CallError::Connector(junction_connector_kit::Error::InvalidWebhook(reason))) => {
            count("invalid", 1);
            tracing::warn!(pipeline = %endpoint.pipeline, source = %endpoint.connector, %reason, "webhook refused");
            return problem(StatusCode::BAD_REQUEST, "invalid-webhook", reason);
        }
        Err(e @ CallError::InvalidDocument { .. }) => {
            count("invalid", 1);
            let detail = engine.masker(&endpoint.pipeline).text(&e.to_string());
            tracing::error!(pipeline = %endpoint.pipeline, source = %endpoint.connector, %detail, "connector produced an invalid canonical document; refusing the webhook so the sender retries after a fix");
            return problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid-document", detail);
        }
        Err(e) => {
            count("failed", 1);
            let detail = engine.masker(&endpoint.pipeline).text(&e.to_string());
            // A failure the sender's retry may cure (the source's API throttled or down while the
            // connector read the current state) is a warning; one it cannot is an error.
            match e.retry_class() {
                crate::services::retry::Class::Retry { .. } => {
                    tracing::warn!(pipeline = %endpoint.pipeline, source = %endpoint.connector, %detail, "webhook not taken now; the sender will retry it");
                }
                crate::services::retry::Class::Permanent => {
                    tracing::error!(pipeline = %endpoint.pipeline, source = %endpoint.connector, %detail, "webhook could not be decoded");
                }
            }
            return problem(StatusCode::SERVICE_UNAVAILABLE, "connector-failed", detail);
        }
    };
    let batch: Vec<_> = changes
        .into_iter()
        .map(|c| intake::new_change(&endpoint.pipeline, &endpoint.connector, c))
        .collect();
    match engine.intake.submit(batch).await {
        Ok(results) => {
            let duplicates = results.iter().filter(|r| r.is_duplicate()).count();
            count("accepted", (results.len() - duplicates) as u64);
            count("duplicate", duplicates as u64);
            (
                StatusCode::OK,
                axum::Json(
                    json!({ "received": results.len() - duplicates, "duplicates": duplicates }),
                ),
            )
                .into_response()
        }
        Err(e) => {
            count("failed", 1);
            problem(StatusCode::SERVICE_UNAVAILABLE, "store-unavailable", e)
        }
    }
}
