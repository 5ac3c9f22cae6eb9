//! `receive` on a real Stripe event (`customer.subscription.updated`, Stripe's published
//! subscription fixture): the Stripe connector compiled to a component and run through the
//! host, as Junction calls it (a warm instance from the connector's pool, per-call state
//! renewed), on a fresh instance per call (`reuse_limit = 1`) and on a bare warm instance (no
//! per-call work: the floor), against the same code compiled natively. Also reports loading a
//! cached compiled connector and memory per live instance.
//!
//! `cargo bench -p junction --bench receive`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use junction::host::{CallContext, Host, InstanceSpec, Limits};
use junction::services::secret::Secret;
use junction_connector_kit::testing::{FakeHost, hmac_sha256};
use junction_connector_kit::{Connector, Webhook};
use junction_connector_stripe::Stripe;

const SECRET: &str = "whsec_bench_secret";

fn event() -> Vec<u8> {
    let subscription: serde_json::Value = serde_json::from_str(include_str!(
        "../../connectors/stripe/testdata/subscription.json"
    ))
    .expect("fixture is JSON");
    serde_json::to_vec(&serde_json::json!({
        "id": "evt_bench_1",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": 1_700_000_000,
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": "req_bench", "idempotency_key": "bench-key" },
        "type": "customer.subscription.updated",
        "data": { "object": subscription, "previous_attributes": { "status": "trialing", "cancel_at_period_end": true } }
    }))
    .expect("serializes")
}

fn hook(body: &[u8]) -> Webhook {
    let t = 1_700_000_000;
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    let signature = hex::encode(hmac_sha256(SECRET.as_bytes(), &signed));
    Webhook {
        method: "POST".into(),
        path: "/hooks/stripe".into(),
        headers: vec![
            ("stripe-signature".into(), format!("t={t},v1={signature}")),
            ("content-type".into(), "application/json".into()),
        ],
        body: body.to_vec(),
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio");
    let body = event();
    let hook = hook(&body);

    let native_host = FakeHost::at(1_700_000_000_000)
        .with_secret("webhook", SECRET)
        .with_setting("webhook-tolerance-seconds", "0")
        // The decode alone: reading the object's current state from Stripe is a network
        // round trip this benchmark does not measure.
        .with_setting("current-state", "event");
    let native =
        Stripe::receive(&native_host, hook.clone()).expect("native receive decodes the event");
    assert_eq!(native.len(), 1);

    let cache = std::env::temp_dir().join(format!("junction-bench-cache-{}", std::process::id()));
    let host = Host::new(Some(cache.clone())).expect("engine");
    let module = rt
        .block_on(host.load("builtin:stripe", None))
        .expect("stripe loads");
    let mut spec = InstanceSpec {
        name: "stripe".into(),
        limits: Limits {
            concurrency: 64,
            ..Limits::default()
        },
        ..InstanceSpec::default()
    };
    spec.secrets.insert("webhook".into(), Secret::new(SECRET));
    spec.settings
        .insert("webhook-tolerance-seconds".into(), "0".into());
    spec.settings.insert("current-state".into(), "event".into());
    let mut fresh_spec = spec.clone();
    fresh_spec.limits.reuse_limit = 1;
    let connector = host.instantiate(module.clone(), spec);
    let fresh = host.instantiate(module, fresh_spec);
    let ctx = CallContext::default();
    let wasm = rt
        .block_on(connector.receive(&ctx, hook.clone()))
        .result
        .expect("wasm receive decodes the event");
    assert_eq!(
        wasm, native,
        "the component and the native build must agree"
    );
    let mut warm = rt.block_on(connector.warm()).expect("warm instance");

    let mut group = c.benchmark_group("stripe_receive");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("native", |b| {
        b.iter(|| Stripe::receive(&native_host, black_box(hook.clone())).expect("decodes"))
    });
    // What the host adds to every WASM call and native skips: the canonical documents checked
    // against their JSON Schemas as they cross the boundary.
    group.bench_function("host_schema_validation", |b| {
        b.iter(|| {
            for change in &native {
                for doc in [&change.before, &change.after].into_iter().flatten() {
                    junction::canonical::validate(&change.object, black_box(doc)).expect("valid");
                }
            }
        })
    });
    group.bench_function("wasm_warm", |b| {
        b.iter(|| {
            rt.block_on(warm.receive(black_box(hook.clone())))
                .expect("decodes")
        })
    });
    group.bench_function("wasm_pooled", |b| {
        b.iter(|| {
            rt.block_on(connector.receive(&ctx, black_box(hook.clone())))
                .result
                .expect("decodes")
        })
    });
    group.bench_function("wasm_fresh_instance", |b| {
        b.iter(|| {
            rt.block_on(fresh.receive(&ctx, black_box(hook.clone())))
                .result
                .expect("decodes")
        })
    });
    group.finish();
    let stats = connector.pool_stats();
    println!(
        "pool: {} instances created, {} calls on a reused one, {} recycled",
        stats.created, stats.reused, stats.recycled
    );
    assert_eq!(stats.recycled, 0, "no call here may fail");
    assert!(
        stats.reused > 0 && fresh.pool_stats().reused == 0,
        "the pooled case must reuse, the fresh one never"
    );

    // Loading a compiled connector from the disk cache (a new host each time, as at start-up).
    let mut loads = Vec::new();
    for _ in 0..20 {
        let host = Host::new(Some(cache.clone())).expect("engine");
        let started = Instant::now();
        let m = rt
            .block_on(host.load("builtin:stripe", None))
            .expect("loads");
        loads.push(started.elapsed());
        assert!(m.from_cache);
    }
    loads.sort();
    println!(
        "cached_load: median {:?}, max {:?} (20 loads, each a new host)",
        loads[loads.len() / 2],
        loads[loads.len() - 1]
    );

    // Memory per live warm instance.
    let before = rss_bytes();
    let live: Vec<_> = (0..200)
        .map(|_| rt.block_on(connector.warm()).expect("warm"))
        .collect();
    let after = rss_bytes();
    println!(
        "memory_per_live_instance: {} KiB ({} instances, RSS {} -> {} KiB)",
        (after.saturating_sub(before)) / 200 / 1024,
        live.len(),
        before / 1024,
        after / 1024
    );
    drop(live);
    let _ = std::fs::remove_dir_all(cache);
}

criterion_group!(benches, bench);
criterion_main!(benches);
