//! The listener in front of the router: HTTP/1.1 connections with a header-read timeout (which
//! also closes a keep-alive connection left idle), a cap on open connections with a clear
//! refusal past it, and graceful shutdown. A client that trickles headers or holds connections
//! open cannot take the descriptors `/healthz` and webhooks need.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How the listener protects itself.
#[derive(Debug, Clone, Copy)]
pub struct ListenLimits {
    /// Connections open at once; past it a connection gets `503` and is closed.
    pub max_connections: usize,
    /// Time a client has to send a request's head, and the longest a kept-alive connection may
    /// sit idle between requests.
    pub header_read_timeout: Duration,
}

impl Default for ListenLimits {
    fn default() -> Self {
        Self {
            max_connections: default_max_connections(),
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// 1,024 connections, or half the process's descriptor limit if that is lower, so the store,
/// connector requests and new connections always have descriptors left.
fn default_max_connections() -> usize {
    const CAP: usize = 1024;
    descriptor_limit().map_or(CAP, |limit| (limit / 2).clamp(16, CAP))
}

/// The soft limit on open files (Linux: `/proc/self/limits`).
fn descriptor_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The answer to a connection past the cap.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 56\r\n\r\n{\"status\": \"busy\", \"error\": \"too many open connections\"}";

/// Serves `app` on `listener` until `shutdown` completes, then lets open requests finish (at
/// most `header_read_timeout`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ListenLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of descriptors (or a connection reset before accept): back off
                        // briefly instead of spinning on the error.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                match slots.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let app = app.clone();
                        connections.spawn(async move {
                            serve_connection(stream, app, limits).await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        connections.spawn(refuse(stream));
                    }
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(limits.header_read_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.abort_all();
    Ok(())
}

async fn serve_connection(stream: TcpStream, app: Router, limits: ListenLimits) {
    let service = hyper_util::service::TowerToHyperService::new(app);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    if let Err(e) = builder
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(error = %e, "connection closed");
    }
}

async fn refuse(mut stream: TcpStream) {
    tracing::warn!("connection refused: too many open connections");
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(REFUSAL).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_refusal_is_a_complete_response() {
        let text = std::str::from_utf8(super::REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503"));
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body.len(), length);
        assert!(serde_json::from_str::<serde_json::Value>(body).is_ok());
    }
}
