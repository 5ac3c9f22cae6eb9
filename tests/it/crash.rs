//! Crash safety, proven: the Stripe -> NetSuite pipeline runs as a real `junction run` process
//! that is killed with SIGKILL at random moments and restarted on the same store and port,
//! while Stripe changes keep coming and NetSuite misbehaves (5xx, errors after the write, 429,
//! slow async jobs). After the drain: every event Stripe saw acknowledged is in the store and
//! settled, no idempotency key was applied twice at NetSuite, no write went backwards, and every
//! customer and subscription reads the same on both sides.
//!
//! It runs twice: one worker on a SQLite file (the embedded default), and three workers on one
//! PostgreSQL database behind a round-robin balancer, each killed at random in turn, so
//! webhooks, plans and deliveries are spread across workers and a killed worker's leases are
//! taken over by the others.
//!
//! CI runs 1,000 changes and 20 kills each; `JUNCTION_CRASH_LONG=1` runs 10,000 changes and
//! 100 kills. `JUNCTION_CRASH_SEED` replays one kill schedule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use junction::store::{AuditKind, DlqFilter, OpenOptions, Store};
use junction_tests::sim::faults::Faults;
use junction_tests::sim::netsuite::NetSuiteSim;
use junction_tests::sim::stripe::{
    ItemChange, SimState, StripeSim, StripeSimConfig, SubChange, WebhookEndpoint,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep};

use crate::rig::{self, WEBHOOK_SECRET};
use crate::support::Backend;

/// How hard one run pushes.
struct Scale {
    customers: usize,
    /// Updates per subscription after its creation (the last may cancel it).
    updates: usize,
    kills: usize,
    /// How long the changes are spread over, so kills land among them.
    drive: Duration,
    /// Longest wait for the drain after the last kill.
    drain: Duration,
}

fn scale() -> Scale {
    if std::env::var("JUNCTION_CRASH_LONG").is_ok_and(|v| v == "1") {
        Scale {
            customers: 1000,
            updates: 8,
            kills: 100,
            drive: Duration::from_secs(240),
            drain: Duration::from_secs(600),
        }
    } else {
        Scale {
            customers: 100,
            updates: 8,
            kills: 20,
            drive: Duration::from_secs(25),
            drain: Duration::from_secs(90),
        }
    }
}

/// Test timings, and connector limits that let a 2-core machine drain in seconds.
fn timings(text: String) -> String {
    let text = text
        .replace("within = \"2m\"", "within = \"5s\"")
        .replace("interval = \"1s\"", "interval = \"100ms\"")
        .replace(
            "attempts = 12, initial = \"1s\", max = \"10m\"",
            // A SuiteBilling write reads up to ~30 records per attempt (the subscription, its
            // items, price plans, every change order), and the faults hit 10 % of requests, so
            // most attempts of a busy subscription fail somewhere; 20 attempts ran out in one
            // run of four. The budget is the test's; retrying idempotent reads within one call
            // is the product's lever (noted for the next session).
            "attempts = 40, initial = \"50ms\", max = \"1s\"",
        )
        .replace(
            "rate = \"25/s\", concurrency = 4",
            "rate = \"5000/s\", concurrency = 16",
        )
        .replace(
            "rate = \"10/s\", concurrency = 4",
            "rate = \"5000/s\", concurrency = 16",
        );
    assert_eq!(
        text.matches("within = \"5s\"").count(),
        2,
        "the example pipeline's timings moved; update the crash test"
    );
    assert_eq!(
        text.matches("rate = \"5000/s\"").count(),
        2,
        "the example pipeline's limits moved; update the crash test"
    );
    text
}

/// One `junction run` child process, restarted on the same store and port after each kill.
struct Junction {
    exe: PathBuf,
    pipeline: PathBuf,
    store: String,
    worker_id: String,
    listen: String,
    log: PathBuf,
    env: Vec<(&'static str, String)>,
    child: Option<Child>,
    http: reqwest::Client,
}

impl Junction {
    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("child log");
        let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/junction-test-cache");
        let child = Command::new(&self.exe)
            .arg("run")
            .arg(&self.pipeline)
            .args([
                "--listen",
                &self.listen,
                "--lease",
                "2s",
                "--durability",
                "full",
            ])
            .arg("--store")
            .arg(&self.store)
            .arg("--worker-id")
            .arg(&self.worker_id)
            .arg("--cache-dir")
            .arg(cache)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("JUNCTION_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("child log"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("junction-cli starts");
        self.child = Some(child);
    }

    /// SIGKILL (tokio's `Child::kill` on Unix), then reap.
    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("SIGKILL the child");
        }
    }

    /// Waits until `/healthz` answers 200; fails with the child's log if it died or hung.
    async fn healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("http://{}/healthz", self.listen);
        loop {
            if let Ok(r) = self
                .http
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                && r.status().is_success()
            {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "junction exited ({status}) before answering /healthz:\n{}",
                    self.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "junction did not answer /healthz within 30 s:\n{}",
                self.log_tail()
            );
            sleep(Duration::from_millis(20)).await;
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

/// The first twenty of `items`, one a line, and how many more there are.
fn listed(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(20)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("\n");
    if items.len() > 20 {
        text.push_str(&format!("\n... and {} more", items.len() - 20));
    }
    text
}

/// A port nobody listens on now; the child binds it again after every restart.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Kills a worker chosen at random, at random moments: mostly while it works, every fifth
/// time while it starts.
async fn killer(mut workers: Vec<Junction>, kills: usize, seed: u64) -> Vec<Junction> {
    let mut rng = StdRng::seed_from_u64(seed);
    for k in 0..kills {
        let victim = rng.random_range(0..workers.len());
        let junction = &mut workers[victim];
        if k % 5 == 4 {
            sleep(Duration::from_millis(rng.random_range(0..150))).await;
        } else {
            junction.healthy().await;
            sleep(Duration::from_millis(rng.random_range(200..2000))).await;
        }
        junction.kill().await;
        junction.spawn();
    }
    workers
}

/// A load balancer in front of several workers: each request goes to the next worker in turn,
/// and to the one after if that one does not answer (it was just killed), as a balancer with
/// health checks would. Answers 502 when none does, which Stripe retries.
async fn balancer(workers: Vec<String>) -> String {
    use axum::body::{Body, to_bytes};
    use axum::http::{Request, Response, StatusCode};
    use std::sync::atomic::{AtomicUsize, Ordering};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("balancer port");
    let front = listener.local_addr().expect("balancer address").to_string();
    let next = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let forward = move |request: Request<Body>| {
        let (workers, next, http) = (workers.clone(), next.clone(), http.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = to_bytes(body, 16 << 20).await.unwrap_or_default();
            let path = parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            let first = next.fetch_add(1, Ordering::Relaxed);
            for i in 0..workers.len() {
                let worker = &workers[(first + i) % workers.len()];
                let mut sent = http
                    .request(parts.method.clone(), format!("http://{worker}{path}"))
                    .timeout(Duration::from_secs(10))
                    .body(body.clone());
                for (name, value) in &parts.headers {
                    if name != "host" && name != "content-length" {
                        sent = sent.header(name, value);
                    }
                }
                if let Ok(answer) = sent.send().await {
                    let status = answer.status();
                    let bytes = answer.bytes().await.unwrap_or_default();
                    return Response::builder()
                        .status(status)
                        .body(Body::from(bytes))
                        .expect("response");
                }
            }
            Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .body(Body::empty())
                .expect("response")
        }
    };
    let app = axum::Router::new().fallback(forward);
    tokio::spawn(async move { axum::serve(listener, app).await });
    front
}

/// Customers first (a subscription needs its customer at NetSuite), then each subscription is
/// created and updated `updates` times by one of four tasks: quantity always up, price
/// switching, and the last update cancelling a third at period end and a third at once.
async fn drive(stripe: Arc<SimState>, netsuite: &NetSuiteSim, scale: &Scale) -> usize {
    let basic = stripe.create_price(2000, "usd", "month").expect("price");
    let product = stripe.product_of(&basic).expect("product");
    let pro = stripe
        .create_price_of(&product, 5000, "usd", "month")
        .expect("price");
    // The NetSuite account's catalog has an item for the product (operator setup).
    netsuite.add_item(&product, "Cloud");
    let customers: Vec<String> = (0..scale.customers)
        .map(|i| {
            stripe
                .create_customer(&format!("buyer{i}@example.com"), &format!("Buyer {i}"))
                .expect("customer")
        })
        .collect();
    let deadline = Instant::now() + scale.drain;
    while customers
        .iter()
        .any(|c| netsuite.record("customer", c).is_none())
    {
        assert!(
            Instant::now() < deadline,
            "customers did not reach NetSuite in time"
        );
        sleep(Duration::from_millis(100)).await;
    }
    let tasks = 4;
    let per_task = customers.len().div_ceil(tasks);
    let pause = scale.drive
        / u32::try_from(per_task * (scale.updates + 1))
            .unwrap_or(u32::MAX)
            .max(1);
    let mut set = tokio::task::JoinSet::new();
    for slice in customers.chunks(per_task) {
        let (stripe, slice, basic, pro, updates) = (
            stripe.clone(),
            slice.to_vec(),
            basic.clone(),
            pro.clone(),
            scale.updates,
        );
        set.spawn(async move {
            let mut subs = Vec::new();
            for c in &slice {
                subs.push(
                    stripe
                        .create_subscription(c, &[(&basic, 1)])
                        .expect("subscription"),
                );
                sleep(pause).await;
            }
            for round in 0..updates {
                for (i, sub) in subs.iter().enumerate() {
                    let price = if round % 2 == 0 { &pro } else { &basic };
                    let item = ItemChange {
                        id: Some(first_item(&stripe, sub)),
                        price: Some(price.clone()),
                        quantity: Some(round as u64 + 2),
                        ..ItemChange::default()
                    };
                    let last = round + 1 == updates;
                    if last && i % 3 == 2 {
                        stripe.cancel_now(sub).expect("cancel");
                    } else {
                        let change = SubChange {
                            items: vec![item],
                            cancel_at_period_end: (last && i % 3 == 1).then_some(true),
                            ..SubChange::default()
                        };
                        stripe.update_subscription(sub, &change).expect("update");
                    }
                    sleep(pause).await;
                }
            }
            subs
        });
    }
    let mut subscriptions = 0;
    while let Some(done) = set.join_next().await {
        subscriptions += done.expect("driver task").len();
    }
    subscriptions
}

fn first_item(stripe: &SimState, sub: &str) -> String {
    let s = stripe.subscription(sub).expect("subscription");
    s["items"]["data"][0]["id"]
        .as_str()
        .expect("an item")
        .to_owned()
}

/// Waits until Stripe has no webhook left to send and the store has nothing left to do.
async fn drain(stripe: &SimState, url: &str, within: Duration) {
    let deadline = Instant::now() + within;
    let store = Store::open_with(
        url,
        &OpenOptions {
            read_only: true,
            create: false,
            ..OpenOptions::default()
        },
    )
    .await
    .expect("read the store beside the child");
    let mut quiet = 0;
    loop {
        let s = stripe.stats();
        let st = store.stats(store.clock().now_ms()).await.expect("stats");
        let busy = st.unplanned + st.pending + st.in_flight + st.awaiting_job + st.confirming;
        if busy == 0 && s.webhooks_delivered + s.webhooks_abandoned >= s.events {
            quiet += 1;
            if quiet >= 3 {
                break;
            }
        } else {
            quiet = 0;
        }
        if Instant::now() >= deadline {
            let letters = store
                .dlq_list(&junction::store::DlqFilter::default())
                .await
                .unwrap_or_default();
            let reasons: Vec<String> = letters
                .iter()
                .take(10)
                .map(|l| format!("{} {}: {}", l.route, l.key, l.reason))
                .collect();
            panic!(
                "did not drain: junction {st:?}; {} dead letters, first:\n{}",
                letters.len(),
                reasons.join("\n")
            );
        }
        sleep(Duration::from_millis(200)).await;
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_junction_loses_nothing_and_applies_nothing_twice() {
    crash_test(Backend::Sqlite, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_on_postgres_sigkilled_lose_nothing_and_apply_nothing_twice() {
    crash_test(Backend::Postgres, 3).await;
}

async fn crash_test(backend: Backend, workers: usize) {
    let scale = scale();
    let seed = std::env::var("JUNCTION_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    eprintln!(
        "crash test: {backend:?}, {workers} worker(s), {} customers, {} kills, seed {seed} \
         (JUNCTION_CRASH_SEED={seed} replays the kill schedule)",
        scale.customers, scale.kills
    );
    let test_store = backend.store().await;
    let listens: Vec<String> = (0..workers)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    // One worker is reached directly, as the embedded default runs; several behind a balancer.
    let front = if workers == 1 {
        listens[0].clone()
    } else {
        balancer(listens.clone()).await
    };

    let netsuite = NetSuiteSim::start(junction_tests::demo::netsuite_sim_config())
        .await
        .expect("netsuite sim");
    netsuite.faults().set(Faults {
        error_rate: 0.05,
        error_after_write_rate: 0.05,
        rate_limit_rate: 0.05,
        retry_after_s: 0,
        async_pending_ms: 100,
        ..Faults::default()
    });
    let stripe = StripeSim::start(StripeSimConfig {
        webhook: Some(WebhookEndpoint {
            url: format!("http://{front}/hooks/stripe"),
            secret: WEBHOOK_SECRET.into(),
        }),
        // Deliveries that fail while Junction is down are retried for far longer than a restart takes.
        webhook_retries: 16,
        webhook_retry_base: Duration::from_millis(100),
        seed,
        ..StripeSimConfig::default()
    })
    .await
    .expect("stripe sim");
    let text = rig::pipeline_text(&stripe.base_url(), netsuite.base_url(), timings);
    // Loading it here first also fills the compiled-component cache the child starts from.
    let reader = rig::reader(&text, netsuite.config()).await;

    let dir = std::env::temp_dir().join(format!(
        "junction-crash-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    eprintln!(
        "crash test: store and junction.log in {} (kept if the test fails)",
        dir.display()
    );
    let pipeline = dir.join("stripe-to-netsuite.toml");
    std::fs::write(&pipeline, &text).expect("pipeline file");
    let secrets = rig::env(netsuite.config());
    let names = junction_tests::demo::SIMULATOR_ENV;
    // Every restart runs the binary this test was built with, even if a build replaces the
    // one under target/ meanwhile (cargo replaces the file, so a hard link keeps this one).
    let exe = dir.join("junction-cli");
    let built = env!("CARGO_BIN_EXE_junction-cli");
    if std::fs::hard_link(built, &exe).is_err() {
        std::fs::copy(built, &exe).expect("copy junction-cli");
    }
    let mut cluster: Vec<Junction> = listens
        .iter()
        .enumerate()
        .map(|(n, listen)| Junction {
            exe: exe.clone(),
            pipeline: pipeline.clone(),
            store: test_store.url.clone(),
            worker_id: format!("worker-{n}"),
            listen: listen.clone(),
            log: dir.join(format!("junction-{n}.log")),
            env: names
                .iter()
                .map(|n| (*n, secrets(n).expect("secret")))
                .collect(),
            child: None,
            http: reqwest::Client::new(),
        })
        .collect();
    for junction in &mut cluster {
        junction.spawn();
        junction.healthy().await;
    }

    let killing = tokio::spawn(killer(cluster, scale.kills, seed));
    let subscriptions = drive(stripe.state(), &netsuite, &scale).await;
    let mut cluster = killing.await.expect("killer task");
    for junction in &mut cluster {
        junction.healthy().await;
    }
    drain(&stripe, &test_store.url, scale.drain).await;
    for junction in &mut cluster {
        junction.kill().await;
    }
    netsuite.faults().set(Faults::default());

    let store = Store::open_with(
        &test_store.url,
        &OpenOptions {
            create: false,
            ..OpenOptions::default()
        },
    )
    .await
    .expect("open the store");
    let events = stripe.events();
    let changes: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| {
            e["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("customer."))
        })
        .collect();
    assert!(
        changes.len() >= scale.customers * (scale.updates + 2),
        "only {} changes were driven",
        changes.len()
    );
    let s = stripe.stats();
    assert_eq!(
        s.webhooks_abandoned, 0,
        "Stripe gave up on webhooks; the test must outlast restarts: {s:?}"
    );

    // No change lost: every event Stripe saw acknowledged is in the store and settled.
    let mut lost = Vec::new();
    let mut unsettled = Vec::new();
    for event in &changes {
        let id = event["id"].as_str().expect("event id");
        assert_eq!(
            event["pending_webhooks"], 0,
            "event {id} was never acknowledged"
        );
        let story = store.trace(id).await.expect("trace");
        if !story
            .iter()
            .any(|e| e.kind == AuditKind::Received && e.event_id.as_deref() == Some(id))
        {
            lost.push(format!("{id} ({})", event["type"]));
        } else if !story
            .iter()
            .any(|e| matches!(e.kind, AuditKind::Confirmed | AuditKind::Suppressed))
        {
            let kinds: Vec<&str> = story.iter().map(|e| e.kind.as_str()).collect();
            // The last entry says why (a dead letter's reason, the last retry's error).
            let last = story
                .last()
                .map(|e| e.detail.to_string())
                .unwrap_or_default();
            unsettled.push(format!("{id}: {kinds:?}\n    last: {last}"));
        }
    }
    assert!(
        lost.is_empty(),
        "{} acknowledged events are not in the store:\n{}",
        lost.len(),
        listed(&lost)
    );
    assert!(
        unsettled.is_empty(),
        "{} events never settled:\n{}",
        unsettled.len(),
        listed(&unsettled)
    );
    let letters = store
        .dlq_list(&DlqFilter::default())
        .await
        .expect("dead letters");
    let reasons: Vec<String> = letters
        .iter()
        .map(|l| format!("{} {}: {}", l.route, l.key, l.reason))
        .collect();
    assert!(
        reasons.is_empty(),
        "dead letters after the drain:\n{}",
        listed(&reasons)
    );
    let st = store.stats(store.clock().now_ms()).await.expect("stats");
    assert_eq!(st.held + st.dead, 0, "{st:?}");
    let audit = store.audit_verify().await.expect("audit verify");
    assert!(
        audit.is_ok(),
        "the audit chain broke across kills: {audit:?}"
    );
    store.close().await;

    // No business action twice, and no write going backwards (quantities only rise at Stripe).
    let writes = netsuite.applied_writes();
    let mut per_record: BTreeMap<(&str, &str), Vec<&junction_tests::sim::netsuite::AppliedWrite>> =
        BTreeMap::new();
    for w in &writes {
        per_record
            .entry((
                &w.record_type,
                w.external_id.as_deref().unwrap_or(&w.internal_id),
            ))
            .or_default()
            .push(w);
    }
    let twice = crate::rig::applied_twice(&writes);
    assert!(
        twice.is_empty(),
        "{} business actions at NetSuite without the protection of one idempotency key:\n{}",
        twice.len(),
        listed(&twice)
    );
    let mut backwards = Vec::new();
    for ((kind, record), ws) in &per_record {
        for pair in ws.windows(2) {
            if pair[0].body == pair[1].body {
                backwards.push(format!(
                    "{kind} {record}: writes {} and {} carry the same body",
                    pair[0].seq, pair[1].seq
                ));
            }
            let qty = |w: &junction_tests::sim::netsuite::AppliedWrite| {
                w.body["subscriptionLine"]["items"][0]["quantity"].as_u64()
            };
            if let (Some(a), Some(b)) = (qty(pair[0]), qty(pair[1]))
                && b < a
            {
                backwards.push(format!(
                    "{kind} {record}: write {} set quantity {b} after write {} set {a}",
                    pair[1].seq, pair[0].seq
                ));
            }
        }
    }
    assert!(
        backwards.is_empty(),
        "replayed or reordered writes at NetSuite:\n{}",
        listed(&backwards)
    );

    // Every entity's final state at NetSuite matches Stripe's.
    let mut keys: BTreeSet<(&str, String)> = BTreeSet::new();
    for event in &changes {
        let object = if event["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("customer.subscription."))
        {
            "subscription"
        } else {
            "customer"
        };
        keys.insert((
            object,
            event["data"]["object"]["id"]
                .as_str()
                .expect("object id")
                .to_owned(),
        ));
    }
    assert_eq!(keys.len(), scale.customers + subscriptions);
    let mut mismatches = Vec::new();
    for (object, key) in &keys {
        if let Err(e) = rig::compare(&reader, object, key).await {
            mismatches.push(e);
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} entities differ between Stripe and NetSuite:\n{}",
        mismatches.len(),
        listed(&mismatches)
    );
    let starts: usize = cluster
        .iter()
        .map(|j| {
            std::fs::read_to_string(&j.log)
                .unwrap_or_default()
                .matches("junction: listening on")
                .count()
        })
        .sum();
    eprintln!(
        "crash test: {} changes, {} kills ({} starts reached listening), {} NetSuite writes applied \
         from {} async jobs, {} webhook attempts for {} events",
        changes.len(),
        scale.kills,
        starts,
        writes.len(),
        netsuite.stats().jobs,
        s.webhook_attempts,
        s.events
    );
    let _ = std::fs::remove_dir_all(&dir);
}
