//! The sandbox holds: each hostile behaviour is stopped with a typed error, and the next call
//! on the same connector instance succeeds.

use std::time::Duration;

use junction::host::{
    Auth, CallContext, CallError, Connector, EgressPolicy, InstanceSpec, Limits, Origin,
};
use junction_connector_kit::Webhook;

use crate::support::{HOSTILE, SLOW_DESCRIBE, host};

async fn hostile(allow_hosts: &[&str]) -> Connector {
    hostile_with(allow_hosts, |_| {}).await
}

/// The hostile component with the sandbox's spec, changed by `edit`.
async fn hostile_with(allow_hosts: &[&str], edit: impl FnOnce(&mut InstanceSpec)) -> Connector {
    let host = host();
    let module = host
        .load(HOSTILE, None)
        .await
        .expect("the hostile component loads");
    let mut spec = InstanceSpec {
        name: "hostile".into(),
        egress: EgressPolicy {
            allow_hosts: allow_hosts.iter().map(|h| h.to_string()).collect(),
            auth: Auth::None,
            credential_origins: Vec::new(),
            timeout: Duration::from_secs(10),
        },
        limits: Limits {
            memory_bytes: 32 << 20,
            call_timeout: Duration::from_millis(1500),
            concurrency: 2,
            ..Limits::default()
        },
        ..InstanceSpec::default()
    };
    edit(&mut spec);
    host.instantiate(module, spec)
}

pub(crate) async fn misbehave(c: &Connector, path: &str, body: &str) -> Result<(), CallError> {
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
            credential_origins: vec![Origin::of_url(&format!("http://{addr}")).unwrap()],
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

/// wasi:http `fields` live in the host, not in guest memory: 8 KiB headers created without end
/// must stop at the instance's memory cap, not grow the host (1 GB in 0.6 s before).
#[tokio::test]
async fn host_side_resources_count_against_the_memory_cap() {
    let c = hostile(&[]).await;
    assert_eq!(
        misbehave(&c, "/fields", "").await,
        Err(CallError::MemoryLimit(32 << 20))
    );
    still_serves(&c).await;
}

/// One call opening 3,000 requests at once is stopped at its request budget; the server never
/// sees more connections than the budget lets through.
#[tokio::test]
async fn a_call_cannot_open_thousands_of_requests() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let _server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    let c = hostile(&["127.0.0.1"]).await;
    let err = misbehave(&c, "/requests", &format!("http://{addr}/"))
        .await
        .unwrap_err();
    // Stopped at the request budget; on a loaded machine the guest's 32 MiB cap may trip first
    // (each request it queues holds host memory charged to it). Either way the call ends, and
    // what matters is checked below: the server never saw more than the budget.
    assert!(
        matches!(&err, CallError::EgressDenied { rule, .. } if rule.contains("waiting for an answer at once"))
            || matches!(&err, CallError::MemoryLimit(_)),
        "{err:?}"
    );
    let limit = Limits::default().requests_in_flight;
    assert!(
        accepted.load(Ordering::SeqCst) <= limit,
        "{} connections for a budget of {limit}",
        accepted.load(Ordering::SeqCst)
    );
    still_serves(&c).await;
}

/// A guest waiting on a clock is blocked in a host call, where epochs do not reach it: the
/// call's outer deadline does.
#[tokio::test]
async fn a_guest_waiting_on_a_clock_is_stopped_at_the_deadline() {
    let c = hostile(&[]).await;
    assert_eq!(
        misbehave(&c, "/wait", "").await,
        Err(CallError::Timeout(Duration::from_millis(1500)))
    );
    still_serves(&c).await;
}

/// `describe()` has a deadline too: a module that waits in it cannot hang `inspect`, `validate`
/// or start-up.
#[tokio::test]
async fn a_module_whose_describe_never_answers_is_refused_at_its_deadline() {
    let err = host().load(SLOW_DESCRIBE, None).await.unwrap_err();
    assert!(
        err.to_string().contains("describe() did not answer within"),
        "{err}"
    );
}

/// Credentials belong to the base URL's exact origin: another port of an allowed host gets
/// the request without them.
#[tokio::test]
async fn credentials_go_only_to_their_origin() {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<(u16, Option<String>)>>> = Arc::default();
    let mut addrs = Vec::new();
    for _ in 0..2 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        addrs.push(listener.local_addr().unwrap());
        let record = seen.clone();
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(move |headers: axum::http::HeaderMap| {
                let record = record.clone();
                async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    record.lock().unwrap().push((port, auth));
                    "ok"
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
    }
    let host = host();
    let module = host.load(HOSTILE, None).await.unwrap();
    let spec = InstanceSpec {
        name: "hostile".into(),
        egress: EgressPolicy {
            allow_hosts: vec!["127.0.0.1".into()],
            auth: Auth::Bearer(junction::services::secret::Secret::new("tok_origin_bound")),
            credential_origins: vec![Origin::of_url(&format!("http://{}", addrs[0])).unwrap()],
            timeout: Duration::from_secs(5),
        },
        ..InstanceSpec::default()
    };
    let c = host.instantiate(module, spec);
    for addr in &addrs {
        let err = misbehave(&c, "/fetch", &format!("http://{addr}/"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("status 200"), "{err}");
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            (addrs[0].port(), Some("Bearer tok_origin_bound".to_string())),
            (addrs[1].port(), None),
        ]
    );
}

/// Four guests spinning at once do not stall the server: `/healthz` and webhook intake keep
/// answering well before any guest's deadline (they yield to the runtime at every epoch tick
/// instead of holding a worker thread until stopped).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_guests_do_not_stall_the_server_or_intake() {
    let rig = crate::rig::Rig::start(crate::rig::fast).await;
    let host = host();
    let module = host.load(HOSTILE, None).await.unwrap();
    let deadline = Duration::from_secs(4);
    let spec = InstanceSpec {
        name: "hostile".into(),
        limits: Limits {
            call_timeout: deadline,
            concurrency: 4,
            ..Limits::default()
        },
        ..InstanceSpec::default()
    };
    let c = host.instantiate(module, spec);
    let spinning: Vec<_> = (0..4)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { misbehave(&c, "/loop", "").await })
        })
        .collect();
    // Let all four reach their loops.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let http = reqwest::Client::new();
    let mut seen = Vec::new();
    for _ in 0..5 {
        let asked = std::time::Instant::now();
        let health = http
            .get(format!("{}/healthz", rig.url))
            .send()
            .await
            .unwrap();
        assert!(health.status().is_success());
        seen.push(("healthz", asked.elapsed()));
    }
    // Intake: a signed Stripe webhook is verified by the Stripe connector (itself a guest),
    // stored and acknowledged.
    let event = serde_json::json!({
        "id": "evt_spin_1", "object": "event", "type": "customer.created", "created": 1_700_000_000,
        "api_version": "2025-03-31.basil", "livemode": false, "pending_webhooks": 1,
        "data": {"object": {"id": "cus_spin", "object": "customer", "email": "spin@example.com",
                             "name": "Spin", "created": 1_700_000_000, "metadata": {}}},
    })
    .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let signature =
        junction_tests::sim::stripe::sign_payload(crate::rig::WEBHOOK_SECRET, now, &event);
    let asked = std::time::Instant::now();
    let ack = http
        .post(format!("{}/hooks/stripe", rig.url))
        .header("stripe-signature", signature)
        .header("content-type", "application/json")
        .body(event)
        .send()
        .await
        .unwrap();
    assert!(ack.status().is_success(), "{}", ack.status());
    seen.push(("intake", asked.elapsed()));
    let stats = rig
        .engine
        .store
        .stats(rig.engine.clock().now_ms())
        .await
        .unwrap();
    for task in &spinning {
        assert!(
            !task.is_finished(),
            "the guests were still spinning during the probes"
        );
    }
    for (what, took) in &seen {
        assert!(
            *took < deadline / 2,
            "{what} waited {took:?} while four guests spun (their deadline is {deadline:?})"
        );
    }
    eprintln!("while four guests spun: {seen:?}; store {stats:?}");
    for task in spinning {
        assert_eq!(task.await.unwrap(), Err(CallError::Timeout(deadline)));
    }
}

/// One webhook may not become thousands of stored changes: the call is refused whole.
#[tokio::test]
async fn one_webhook_cannot_become_thousands_of_changes() {
    let c = hostile(&[]).await;
    let err = misbehave(&c, "/many", "").await.unwrap_err();
    assert!(
        matches!(&err, CallError::InvalidDocument { detail, .. } if detail.contains("5000 changes")),
        "{err:?}"
    );
    still_serves(&c).await;
}

/// What the hostile module's `/remember` found in its memory: how many calls its instance has
/// served (this one included) and the body the previous `/remember` left there.
async fn remember(c: &Connector, body: &str) -> (u64, String) {
    let hook = Webhook {
        method: "POST".into(),
        path: "/remember".into(),
        headers: vec![],
        body: body.as_bytes().to_vec(),
    };
    let changes = c
        .receive(&CallContext::default(), hook)
        .await
        .result
        .expect("/remember answers");
    let (calls, previous) = changes[0]
        .key
        .strip_prefix("calls=")
        .and_then(|k| k.split_once(";previous="))
        .expect("the key reads calls=N;previous=BODY");
    (calls.parse().expect("a count"), previous.to_string())
}

/// Warm instances are reused, but only by the configuration that made them: a module keeping
/// one tenant's data in its memory never shows it to another pipeline's connector, even one of
/// the same module.
#[tokio::test]
async fn a_warm_instance_never_serves_another_configuration() {
    let a = hostile_with(&[], |spec| {
        spec.settings.insert("tenant".into(), "a".into());
    })
    .await;
    let b = hostile_with(&[], |spec| {
        spec.settings.insert("tenant".into(), "b".into());
    })
    .await;
    assert_eq!(remember(&a, "secret of a").await, (1, String::new()));
    // The same configuration gets its warm instance back, memory and all (so the test below
    // would see a leak if there were one).
    assert_eq!(remember(&a, "more of a").await, (2, "secret of a".into()));
    assert_eq!(remember(&b, "secret of b").await, (1, String::new()));
    assert_eq!(remember(&a, "last of a").await, (3, "more of a".into()));
    assert_eq!(remember(&b, "more of b").await, (2, "secret of b".into()));
    // A clone is the same configuration (the engine hands clones to its tasks).
    assert_eq!(remember(&a.clone(), "clone").await, (4, "last of a".into()));
    assert_eq!((a.pool_stats().created, b.pool_stats().created), (1, 1));
}

/// A call the host had to stop or refuse never leaves its instance for the next call: trap,
/// deadline (computing, or blocked in a host call), memory cap (guest memory or host-side
/// resources), log flood, refused request.
#[tokio::test]
async fn a_stopped_or_refused_call_recycles_its_instance() {
    let cases: [(&str, &str, fn(&CallError) -> bool); 7] = [
        ("/trap", "", |e| matches!(e, CallError::Trap(_))),
        ("/loop", "", |e| matches!(e, CallError::Timeout(_))),
        ("/wait", "", |e| matches!(e, CallError::Timeout(_))),
        ("/memory", "", |e| matches!(e, CallError::MemoryLimit(_))),
        ("/fields", "", |e| matches!(e, CallError::MemoryLimit(_))),
        ("/log-flood", "", |e| matches!(e, CallError::LogFlood)),
        ("/fetch", "https://exfiltrate.example/steal", |e| {
            matches!(e, CallError::EgressDenied { .. })
        }),
    ];
    for (path, body, expected) in cases {
        let c = hostile(&["api.stripe.com"]).await;
        assert_eq!(remember(&c, "before").await, (1, String::new()));
        assert_eq!(remember(&c, "kept").await, (2, "before".into()), "{path}");
        let err = misbehave(&c, path, body).await.unwrap_err();
        assert!(expected(&err), "{path}: {err:?}");
        assert_eq!(
            remember(&c, "after").await,
            (1, String::new()),
            "{path}: the next call must run on a fresh instance"
        );
        let stats = c.pool_stats();
        assert_eq!((stats.created, stats.recycled), (2, 1), "{path}");
    }
}

/// An instance serves at most its reuse limit of calls, then a fresh one takes over; a limit of
/// one is a fresh instance for every call.
#[tokio::test]
async fn an_instance_serves_at_most_its_reuse_limit() {
    let c = hostile_with(&[], |spec| spec.limits.reuse_limit = 3).await;
    for expected in [1, 2, 3, 1, 2, 3, 1] {
        assert_eq!(remember(&c, "x").await.0, expected);
    }
    assert_eq!(c.pool_stats().created, 3);
    let fresh = hostile_with(&[], |spec| spec.limits.reuse_limit = 1).await;
    for _ in 0..3 {
        assert_eq!(remember(&fresh, "x").await, (1, String::new()));
    }
}

/// The log budget belongs to the call, not to the warm instance serving it.
#[tokio::test]
async fn each_call_on_a_warm_instance_has_its_own_log_budget() {
    let c = hostile(&[]).await;
    for _ in 0..3 {
        let hook = Webhook {
            method: "POST".into(),
            path: "/log-300".into(),
            headers: vec![],
            body: vec![],
        };
        let called = c.receive(&CallContext::default(), hook).await;
        assert_eq!(called.result, Ok(vec![]));
        assert_eq!(called.logs_dropped, 100, "300 lines, 200 per call");
    }
    assert_eq!(c.pool_stats().created, 1);
}
