//! The delivery state machine on manual time: the real engine (`Engine::deliver_due`, the step
//! the delivery loop repeats) against the scripted sink (`tests/components/scripted`, no
//! network), on an in-memory SQLite store, with one `ManualClock` shared by the engine, the
//! store and the connector instances. Each test moves the clock to the instant a decision
//! should change and checks that it changes there and not a millisecond before: back-off,
//! Retry-After, exhausted attempts, job patience, the confirmation deadline, lease expiry and
//! future-dated timers. Nothing sleeps; nothing is timed.

use std::sync::Arc;
use std::time::Duration;

use junction::config;
use junction::pipeline::instances::HostCatalog;
use junction::pipeline::{Engine, Options};
use junction::services::clock::ManualClock;
use junction::store::{
    Attempt, Delivery, DeliveryState, DlqFilter, Error as StoreError, Intake, NewChange, Operation,
    Store,
};
use serde_json::{Value, json};

use crate::support::{SCRIPTED, host};

/// 2026-01-01T00:00:00Z. In the past on purpose: a component or a decision that read the
/// system clock instead of the engine's would see every `until_ms` below as long passed.
const T0: i64 = 1_767_225_600_000;

const PIPELINE: &str = "scripted";
/// The engine's lease on a claimed delivery.
const LEASE: Duration = Duration::from_secs(30);
/// `confirm.within` of the route.
const WITHIN_MS: i64 = 30_000;
/// How long an asynchronous job may stay pending (`pipeline::deliver`'s `JOB_PATIENCE`).
const JOB_PATIENCE_MS: i64 = 600_000;

/// Back-off doubles from 1 s to at most 8 s without jitter, so each due time is exact; four
/// attempts in all; read-backs from 1 s on, for up to 30 s.
fn pipeline() -> String {
    format!(
        r#"
[pipeline]
name = "{PIPELINE}"

[connectors.source]
module = "{SCRIPTED}"

[connectors.target]
module = "{SCRIPTED}"

[ownership]
customer = "source"

[[source]]
connector = "source"
webhook = "/hooks/scripted"
objects = ["customer"]

[[route]]
name = "customers"
from = "source"
to = "target"
object = "customer"
confirm = {{ fields = ["name"], within = "30s", interval = "1s" }}
retry = {{ attempts = 4, initial = "1s", max = "8s", jitter = "none" }}
"#
    )
}

/// One engine on manual time, driven by hand.
struct Bench {
    clock: ManualClock,
    engine: Arc<Engine>,
}

impl Bench {
    async fn start() -> Bench {
        let clock = ManualClock::new(T0);
        let catalog = HostCatalog::new(host());
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("it/scripted.toml");
        let loaded = config::load_str(&file, &pipeline(), &|_| None, &catalog)
            .unwrap_or_else(|d| panic!("the scripted pipeline does not load:\n{d}"));
        let store = Store::open("sqlite::memory:")
            .await
            .expect("in-memory store");
        let options = Options {
            worker_id: "w-test".into(),
            lease: LEASE,
            max_in_flight: 8,
            clock: clock.clock(),
        };
        let engine = Engine::new(loaded.plans, store, &host(), options)
            .await
            .expect("engine starts");
        Bench { clock, engine }
    }

    fn store(&self) -> &Store {
        &self.engine.store
    }

    /// Sets the clock to `T0 + offset_ms`.
    fn at(&self, offset_ms: i64) {
        self.clock.set(T0 + offset_ms);
    }

    /// Receives a change of customer `key` whose document carries `script` as its metadata,
    /// plans it, and returns its one delivery's id.
    async fn change(&self, key: &str, script: Value, effective_at_ms: Option<i64>) -> i64 {
        let document = json!({ "id": key, "name": "Ada", "metadata": script });
        let change = NewChange {
            pipeline: PIPELINE.into(),
            source: "source".into(),
            source_event_id: format!("evt-{key}"),
            object: "customer".into(),
            key: key.into(),
            operation: Operation::Update,
            before: None,
            after: Some(document.to_string()),
            occurred_at_ms: self.clock.now_ms(),
            effective_at_ms,
            source_version: 1,
            metadata: "{}".into(),
            correlation_id: format!("c-{key}"),
        };
        let stored = self.store().intake(&[change]).await.expect("intake");
        let [Intake::Accepted { change_id }] = stored[..] else {
            panic!("not stored as new: {stored:?}");
        };
        assert_eq!(self.engine.plan_some().await.expect("plan"), 1);
        let deliveries = self
            .store()
            .deliveries_of_change(change_id)
            .await
            .expect("deliveries");
        assert_eq!(deliveries.len(), 1, "{deliveries:?}");
        deliveries[0].id
    }

    async fn delivery(&self, id: i64) -> Delivery {
        self.store()
            .delivery(id)
            .await
            .expect("read delivery")
            .expect("delivery exists")
    }

    /// Works whatever is due now; returns how many deliveries were.
    async fn deliver(&self) -> usize {
        self.engine.deliver_due().await.expect("deliver")
    }

    /// Asserts nothing is due at `T0 + offset_ms - 1` and something is at `T0 + offset_ms`,
    /// and works it; returns how many deliveries were due.
    async fn due_exactly_at(&self, offset_ms: i64) -> usize {
        self.at(offset_ms - 1);
        assert_eq!(
            self.deliver().await,
            0,
            "something was due 1 ms before T0 + {offset_ms} ms"
        );
        self.at(offset_ms);
        let due = self.deliver().await;
        assert!(due > 0, "nothing was due at T0 + {offset_ms} ms");
        due
    }

    async fn dead_letter_reason(&self, delivery_id: i64) -> String {
        let letters = self
            .store()
            .dlq_list(&DlqFilter::default())
            .await
            .expect("dlq");
        letters
            .into_iter()
            .find(|l| l.delivery_id == delivery_id)
            .map(|l| l.reason)
            .unwrap_or_else(|| panic!("delivery {delivery_id} has no dead letter"))
    }
}

/// A transient failure is retried under exponential back-off from the engine's clock: due at
/// exactly 1 s, then 2 s later, and not a millisecond before; once the target recovers (the
/// guest reads the same manual clock), the retry is applied and confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_is_retried_at_the_back_off_time() {
    let bench = Bench::start().await;
    let id = bench
        .change(
            "cus-transient",
            json!({ "apply": "transient", "until_ms": (T0 + 3_000).to_string() }),
            None,
        )
        .await;

    assert_eq!(bench.deliver().await, 1);
    let d = bench.delivery(id).await;
    assert_eq!((d.state, d.attempts), (DeliveryState::Pending, 1));
    assert_eq!(d.next_at_ms, T0 + 1_000, "first back-off is `initial`");
    assert!(
        d.last_error.as_deref().unwrap_or("").contains("transient"),
        "{:?}",
        d.last_error
    );

    bench.due_exactly_at(1_000).await;
    let d = bench.delivery(id).await;
    assert_eq!((d.state, d.attempts), (DeliveryState::Pending, 2));
    assert_eq!(d.next_at_ms, T0 + 3_000, "second back-off doubles to 2 s");

    // At T0 + 3 s the scripted target has recovered: the third attempt is applied, and the
    // read-back starts at once.
    bench.due_exactly_at(3_000).await;
    let d = bench.delivery(id).await;
    assert_eq!((d.state, d.attempts), (DeliveryState::Confirming, 3));
    assert_eq!(d.confirm_deadline_ms, Some(T0 + 3_000 + WITHIN_MS));
    assert_eq!(bench.deliver().await, 1);
    assert_eq!(bench.delivery(id).await.state, DeliveryState::Confirmed);
}

/// A vendor's Retry-After longer than the back-off wins, for a rate limit and for a transient
/// error alike; a shorter one does not shorten the back-off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let bench = Bench::start().await;
    let limited = bench
        .change(
            "cus-limited",
            json!({ "apply": "rate-limited", "retry_after_s": "30" }),
            None,
        )
        .await;
    let transient = bench
        .change(
            "cus-busy",
            json!({ "apply": "transient", "retry_after_s": "5" }),
            None,
        )
        .await;
    assert_eq!(bench.deliver().await, 2);
    let d = bench.delivery(limited).await;
    assert_eq!(
        (d.state, d.next_at_ms),
        (DeliveryState::Pending, T0 + 30_000)
    );
    assert_eq!(bench.delivery(transient).await.next_at_ms, T0 + 5_000);

    // The transient one is due at 5 s (not at the 1 s back-off), and again 5 s later (the
    // Retry-After still beats the 2 s back-off).
    assert_eq!(bench.due_exactly_at(5_000).await, 1);
    let d = bench.delivery(transient).await;
    assert_eq!((d.attempts, d.next_at_ms), (2, T0 + 10_000));
    assert_eq!(bench.delivery(limited).await.attempts, 1);

    // Attempts 3 and 4 of the transient one, 5 s apart (the 4 s back-off is shorter); the
    // fourth spends the budget.
    assert_eq!(bench.due_exactly_at(10_000).await, 1);
    assert_eq!(bench.delivery(transient).await.next_at_ms, T0 + 15_000);
    assert_eq!(bench.due_exactly_at(15_000).await, 1);
    assert_eq!(bench.delivery(transient).await.state, DeliveryState::Dead);

    // The rate-limited one is not asked again before 30 s.
    assert_eq!(bench.delivery(limited).await.attempts, 1);
    assert_eq!(bench.due_exactly_at(30_000).await, 1);
    let d = bench.delivery(limited).await;
    // Attempt 2: Retry-After 30 s against a 2 s back-off.
    assert_eq!((d.attempts, d.next_at_ms), (2, T0 + 60_000));

    // A Retry-After of 0 s leaves the back-off as it is.
    let bench = Bench::start().await;
    let short = bench
        .change(
            "cus-short",
            json!({ "apply": "rate-limited", "retry_after_s": "0" }),
            None,
        )
        .await;
    assert_eq!(bench.deliver().await, 1);
    assert_eq!(bench.delivery(short).await.next_at_ms, T0 + 1_000);
}

/// Four transient failures spend the route's four attempts: the fourth dead-letters the
/// delivery with its history, instead of scheduling a fifth. A rejection dead-letters at
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_attempts_and_rejections_are_dead_lettered() {
    let bench = Bench::start().await;
    let id = bench
        .change("cus-down", json!({ "apply": "transient" }), None)
        .await;
    let rejected = bench
        .change("cus-refused", json!({ "apply": "rejected" }), None)
        .await;
    assert_eq!(bench.deliver().await, 2);
    let r = bench.delivery(rejected).await;
    assert_eq!((r.state, r.attempts), (DeliveryState::Dead, 1));
    assert!(
        bench
            .dead_letter_reason(rejected)
            .await
            .starts_with("rejected: "),
        "{:?}",
        bench.dead_letter_reason(rejected).await
    );

    // Attempts 2, 3 and 4 at 1 s, 1 + 2 s and 3 + 4 s.
    for (offset, attempts) in [(1_000, 2), (3_000, 3)] {
        bench.due_exactly_at(offset).await;
        let d = bench.delivery(id).await;
        assert_eq!((d.state, d.attempts), (DeliveryState::Pending, attempts));
    }
    assert_eq!(bench.delivery(id).await.next_at_ms, T0 + 7_000);
    bench.due_exactly_at(7_000).await;
    let d = bench.delivery(id).await;
    assert_eq!((d.state, d.attempts), (DeliveryState::Dead, 4));
    let reason = bench.dead_letter_reason(id).await;
    assert!(
        reason.starts_with("attempts exhausted (4); last error transient"),
        "{reason}"
    );
    bench.at(3_600_000);
    assert_eq!(bench.deliver().await, 0, "a dead letter is never due again");
}

/// An accepted write whose job stays pending is looked at less and less often (half the time
/// waited, at most every 30 s) until it has waited longer than the engine's patience (600 s
/// from the first attempt), then dead-lettered at the first look past it. A job that finishes
/// in time is confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_pending_past_its_patience_is_dead_lettered() {
    let bench = Bench::start().await;
    let stuck = bench
        .change(
            "cus-stuck",
            json!({ "apply": "accepted", "job": "pending" }),
            None,
        )
        .await;
    let slow = bench
        .change(
            "cus-slow",
            json!({ "apply": "accepted", "job": format!("pending-until-{}", T0 + 90_000) }),
            None,
        )
        .await;
    assert_eq!(bench.deliver().await, 2);
    let d = bench.delivery(stuck).await;
    assert_eq!(d.state, DeliveryState::AwaitingJob);
    assert_eq!(d.job_ref.as_deref(), Some("job/pending/cus-stuck"));
    assert_eq!(d.next_at_ms, T0 + 1_000, "the first look after `interval`");
    assert_eq!(bench.due_exactly_at(1_000).await, 2);
    let d = bench.delivery(stuck).await;
    assert_eq!(
        (d.state, d.next_at_ms),
        (DeliveryState::AwaitingJob, T0 + 2_000)
    );

    // At 90 s the slow job has finished: its read-back confirms it. The stuck one is looked at
    // again 30 s later (half of 90 s, capped at 30 s).
    bench.at(90_000);
    while bench.deliver().await > 0 {}
    assert_eq!(bench.delivery(slow).await.state, DeliveryState::Confirmed);
    let d = bench.delivery(stuck).await;
    assert_eq!(
        (d.state, d.next_at_ms),
        (DeliveryState::AwaitingJob, T0 + 120_000)
    );

    // Exactly 600 s after the write: within patience, looked at again 30 s later.
    bench.at(JOB_PATIENCE_MS);
    assert_eq!(bench.deliver().await, 1);
    let d = bench.delivery(stuck).await;
    assert_eq!(
        (d.state, d.next_at_ms),
        (DeliveryState::AwaitingJob, T0 + JOB_PATIENCE_MS + 30_000),
        "600 s is within patience"
    );
    assert_eq!(bench.due_exactly_at(JOB_PATIENCE_MS + 30_000).await, 1);
    let d = bench.delivery(stuck).await;
    assert_eq!(d.state, DeliveryState::Dead);
    let reason = bench.dead_letter_reason(stuck).await;
    assert!(
        reason.contains("job job/pending/cus-stuck still pending after 630 s"),
        "{reason}"
    );
}

/// A write the target reports applied but the read-back never shows (a silent drop) is read
/// again until the confirmation deadline (30 s after the write), not a millisecond less; then a
/// corrective write goes under a key derived from the original, at the back-off time; after two
/// corrections the delivery is dead-lettered with the difference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_back_that_never_matches_is_corrected_then_dead_lettered_at_the_deadline() {
    let bench = Bench::start().await;
    let id = bench.change("drops-1", json!({}), None).await;
    assert_eq!(bench.deliver().await, 1);
    let d = bench.delivery(id).await;
    assert_eq!(d.state, DeliveryState::Confirming);
    assert_eq!(d.confirm_deadline_ms, Some(T0 + WITHIN_MS));
    let original_key = d.write_key();

    // Read-backs before the deadline only look again.
    assert_eq!(bench.deliver().await, 1);
    assert_eq!(bench.delivery(id).await.next_at_ms, T0 + 1_000);
    bench.at(WITHIN_MS - 1);
    assert_eq!(bench.deliver().await, 1);
    let d = bench.delivery(id).await;
    assert_eq!((d.state, d.repairs), (DeliveryState::Confirming, 0));
    let next_look = d.next_at_ms - T0;
    assert!(next_look >= WITHIN_MS, "{next_look}");

    // The look at or after the deadline gives up on this write: a corrective write is
    // scheduled at the back-off time (one attempt so far: 1 s) under the repair-1 key.
    bench.at(next_look);
    assert_eq!(bench.deliver().await, 1);
    let d = bench.delivery(id).await;
    assert_eq!((d.state, d.repairs), (DeliveryState::Pending, 1));
    assert_eq!(d.next_at_ms, T0 + next_look + 1_000);
    assert_eq!(d.write_key(), format!("{original_key}/repair-1"));
    assert!(
        d.last_error
            .as_deref()
            .unwrap_or("")
            .contains(r#"name: wrote "Ada" read "Old name""#),
        "{:?}",
        d.last_error
    );

    // The corrective write starts a new 30 s window.
    let second_write = next_look + 1_000;
    bench.due_exactly_at(second_write).await;
    let d = bench.delivery(id).await;
    assert_eq!((d.state, d.attempts), (DeliveryState::Confirming, 2));
    assert_eq!(d.confirm_deadline_ms, Some(T0 + second_write + WITHIN_MS));

    // Run the clock on, one due time after another, until the delivery settles.
    let mut looks = 0;
    loop {
        let d = bench.delivery(id).await;
        if d.state == DeliveryState::Dead {
            break;
        }
        assert!(looks < 100, "never settled: {d:?}");
        bench.clock.set(d.next_at_ms);
        assert_eq!(bench.deliver().await, 1);
        looks += 1;
    }
    let d = bench.delivery(id).await;
    assert_eq!((d.repairs, d.attempts), (2, 3));
    let reason = bench.dead_letter_reason(id).await;
    assert!(
        reason.starts_with("not confirmed: read-back differs in name")
            && reason.contains("after 2 corrective write(s) and 3 attempt(s)"),
        "{reason}"
    );

    // A look at the deadline exactly is already past it (above, the look 1 ms before was not).
    let bench = Bench::start().await;
    let id = bench.change("drops-2", json!({}), None).await;
    assert_eq!(bench.deliver().await, 1);
    assert_eq!(bench.deliver().await, 1);
    bench.at(WITHIN_MS);
    assert_eq!(bench.deliver().await, 1);
    let d = bench.delivery(id).await;
    assert_eq!((d.state, d.repairs), (DeliveryState::Pending, 1));
    assert_eq!(d.next_at_ms, T0 + WITHIN_MS + 1_000);
}

/// A worker that claimed a delivery and died holds it until its lease runs out by the clock:
/// not a millisecond earlier may another worker take it; then the new holder writes it, and the
/// dead worker's late answer is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_is_claimable_by_another_worker() {
    let bench = Bench::start().await;
    let id = bench.change("cus-orphan", json!({}), None).await;
    let lease_ms = LEASE.as_millis() as i64;
    let dead = bench
        .store()
        .claim_due(bench.clock.now_ms(), 10, "w-dead", lease_ms)
        .await
        .expect("claim");
    assert_eq!(dead.len(), 1);
    let dead_lease = dead[0].lease.clone().expect("leased");
    assert_eq!(dead_lease.until_ms, T0 + lease_ms);
    assert_eq!(bench.delivery(id).await.state, DeliveryState::InFlight);

    bench.due_exactly_at(lease_ms).await;
    let d = bench.delivery(id).await;
    assert_eq!(d.state, DeliveryState::Confirming, "{d:?}");
    assert_eq!(d.attempts, 1, "written once, by the new holder");

    let late = Attempt {
        n: 1,
        started_ms: T0,
        latency_ms: 0,
        outcome: "applied".into(),
        error_class: None,
        status_code: None,
        message: None,
    };
    match bench.store().record_attempt(&dead_lease, &late).await {
        Err(StoreError::LeaseLost { delivery_id }) => assert_eq!(delivery_id, id),
        other => panic!("the dead worker's late write was not refused: {other:?}"),
    }
    assert_eq!(bench.deliver().await, 1);
    assert_eq!(bench.delivery(id).await.state, DeliveryState::Confirmed);
}

/// A future-dated change to a target that does not take future-dated writes is a durable
/// timer: not due until its effective time by the engine's clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_dated_write_waits_for_its_time() {
    let bench = Bench::start().await;
    let hour = 3_600_000;
    let id = bench.change("cus-later", json!({}), Some(T0 + hour)).await;
    let d = bench.delivery(id).await;
    assert_eq!(d.not_before_ms, Some(T0 + hour));
    assert_eq!(bench.deliver().await, 0);
    bench.due_exactly_at(hour).await;
    assert_eq!(bench.delivery(id).await.state, DeliveryState::Confirming);
}
