//! The sandbox holds: each hostile behaviour is stopped with a typed error, and the next call
//! on the same connector instance succeeds.

use std::time::Duration;

use junction::host::{Auth, CallContext, CallError, Connector, EgressPolicy, InstanceSpec, Limits};
use junction_connector_kit::Webhook;

use crate::support::{HOSTILE, host};

async fn hostile(allow_hosts: &[&str]) -> Connector {
    let host = host();
    let module = host
        .load(HOSTILE, None)
        .await
        .expect("the hostile component loads");
    let spec = InstanceSpec {
        name: "hostile".into(),
        egress: EgressPolicy {
            allow_hosts: allow_hosts.iter().map(|h| h.to_string()).collect(),
            auth: Auth::None,
            timeout: Duration::from_secs(10),
        },
        limits: Limits {
            memory_bytes: 32 << 20,
            call_timeout: Duration::from_millis(1500),
            concurrency: 2,
        },
        ..InstanceSpec::default()
    };
    host.instantiate(module, spec)
}

async fn misbehave(c: &Connector, path: &str, body: &str) -> Result<(), CallError> {
    let hook = Webhook {
        method: "POST".into(),
        path: path.into(),
        headers: vec![],
        body: body.as_bytes().to_vec(),
    };
    c.receive(&CallContext::default(), hook)
        .await
        .result
        .map(|_| ())
}

async fn still_serves(c: &Connector) {
    assert_eq!(
        misbehave(c, "/ok", "").await,
        Ok(()),
        "the same instance must keep serving after a stopped call"
    );
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_at_the_deadline() {
    let c = hostile(&[]).await;
    assert_eq!(
        misbehave(&c, "/loop", "").await,
        Err(CallError::Timeout(Duration::from_millis(1500)))
    );
    still_serves(&c).await;
}

#[tokio::test]
async fn a_memory_bomb_hits_the_cap() {
    let c = hostile(&[]).await;
    assert_eq!(
        misbehave(&c, "/memory", "").await,
        Err(CallError::MemoryLimit(32 << 20))
    );
    still_serves(&c).await;
}

#[tokio::test]
async fn a_trap_is_reported_as_a_crash() {
    let c = hostile(&[]).await;
    let err = misbehave(&c, "/trap", "").await.unwrap_err();
    assert!(matches!(err, CallError::Trap(_)), "{err:?}");
    still_serves(&c).await;
}

#[tokio::test]
async fn a_log_flood_is_stopped() {
    let c = hostile(&[]).await;
    assert_eq!(
        misbehave(&c, "/log-flood", "").await,
        Err(CallError::LogFlood)
    );
    still_serves(&c).await;
}

#[tokio::test]
async fn a_host_not_in_the_allow_list_is_refused() {
    let c = hostile(&["api.stripe.com"]).await;
    let err = misbehave(&c, "/fetch", "https://exfiltrate.example/steal")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CallError::EgressDenied { url, .. } if url == "https://exfiltrate.example/steal"),
        "{err:?}"
    );
    still_serves(&c).await;
}

#[tokio::test]
async fn loopback_and_metadata_addresses_are_refused_by_address() {
    let c = hostile(&["api.stripe.com"]).await;
    for url in [
        "http://127.0.0.1:9/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/",
    ] {
        let err = misbehave(&c, "/fetch", url).await.unwrap_err();
        assert!(
            matches!(err, CallError::EgressDenied { .. }),
            "{url}: {err:?}"
        );
    }
    still_serves(&c).await;
}

/// A name the pipeline allows, but which resolves to loopback, is refused: only a literal rule
/// (`127.0.0.1`, `localhost`) opens internal addresses. The name comes from this machine's
/// /etc/hosts (any name other than `localhost` mapped to 127.0.0.1).
#[tokio::test]
async fn an_allowed_name_that_resolves_to_loopback_is_refused() {
    let hosts = std::fs::read_to_string("/etc/hosts").expect("/etc/hosts is readable");
    let name = hosts
        .lines()
        .filter(|l| l.trim_start().starts_with("127."))
        .flat_map(|l| {
            l.split_whitespace()
                .skip(1)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .find(|n| n != "localhost" && !n.starts_with('#'))
        .expect("this test needs a name other than localhost mapped to 127.0.0.1 in /etc/hosts");
    let c = hostile(&[&name]).await;
    let err = misbehave(&c, "/fetch", &format!("http://{name}:9/"))
        .await
        .unwrap_err();
    let CallError::EgressDenied { rule, .. } = &err else {
        panic!("{name}: {err:?}")
    };
    assert!(rule.contains("internal address"), "{rule}");
    still_serves(&c).await;
}

#[tokio::test]
async fn a_guest_cannot_set_authorization_itself() {
    let c = hostile(&["127.0.0.1"]).await;
    let err = misbehave(&c, "/authorization", "http://127.0.0.1:9/")
        .await
        .unwrap_err();
    assert_eq!(err, CallError::ForbiddenHeader("authorization".into()));
    still_serves(&c).await;
}

/// A guest blocked in a host call (a server that accepts and never answers) is not reached by
/// epochs; the outer timeout stops it.
#[tokio::test]
async fn a_request_that_never_answers_is_stopped_at_the_deadline() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let c = hostile(&["127.0.0.1"]).await;
    assert_eq!(
        misbehave(&c, "/fetch", &format!("http://{addr}/")).await,
        Err(CallError::Timeout(Duration::from_millis(1500)))
    );
    still_serves(&c).await;
}

#[tokio::test]
async fn an_explicitly_allowed_loopback_address_is_reachable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let c = hostile(&["127.0.0.1"]).await;
    // The hostile component reports a successful request as a transient error carrying the
    // status, which proves the request went through.
    let err = misbehave(&c, "/fetch", &format!("http://{addr}/"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("status 200"), "{err}");
}

/// The host, not the guest, adds credentials and the trace context to every outbound request.
#[tokio::test]
async fn outbound_requests_carry_host_credentials_and_trace_context() {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<axum::http::HeaderMap>>> = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push(headers);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let host = host();
    let module = host.load(HOSTILE, None).await.unwrap();
    let spec = InstanceSpec {
        name: "hostile".into(),
        egress: EgressPolicy {
            allow_hosts: vec!["127.0.0.1".into()],
            auth: Auth::Bearer(junction::services::secret::Secret::new("tok_host_only")),
            timeout: Duration::from_secs(5),
        },
        ..InstanceSpec::default()
    };
    let c = host.instantiate(module, spec);
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let ctx = CallContext {
        correlation_id: Some("c-1".into()),
        traceparent: Some(traceparent.into()),
    };
    let hook = Webhook {
        method: "POST".into(),
        path: "/fetch".into(),
        headers: vec![],
        body: format!("http://{addr}/").into_bytes(),
    };
    let called = c.receive(&ctx, hook).await;
    assert!(
        called
            .result
            .unwrap_err()
            .to_string()
            .contains("status 200")
    );
    assert_eq!(called.exchanges.len(), 1);
    assert_eq!(called.exchanges[0].status, Some(200));
    let headers = seen.lock().unwrap()[0].clone();
    assert_eq!(headers["authorization"], "Bearer tok_host_only");
    assert_eq!(headers["traceparent"], traceparent);
}
