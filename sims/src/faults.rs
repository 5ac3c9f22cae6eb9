//! Switchable faults shared by every vendor simulator: latency, 5xx, hangs, 429 with
//! Retry-After, outage windows and silent drops, decided per request from a seeded RNG so a
//! failing run can be repeated.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// The faults a simulator injects. Rates are probabilities in `0.0..=1.0`, drawn per request.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added to every request before it is handled.
    pub latency_ms: u64,
    /// Share of requests answered with a 5xx before anything happens.
    pub error_rate: f64,
    /// Share of requests that hang (no answer for `hang_ms`) before anything happens.
    pub timeout_rate: f64,
    /// How long a hanging request hangs.
    pub hang_ms: u64,
    /// Share of requests answered 429 with `Retry-After: retry_after_s`.
    pub rate_limit_rate: f64,
    /// The `Retry-After` seconds sent with a 429.
    pub retry_after_s: u64,
    /// While true, every request gets 503 (an outage window opened and closed by the test or
    /// by `outage_for_ms`).
    pub outage: bool,
    /// Share of writes answered with success although nothing changed (a validation rule or
    /// workflow silently dropped them). Only writes are affected.
    pub silent_drop_rate: f64,
    /// Share of writes that fail with a 5xx *after* they were applied (the client cannot tell
    /// whether the write happened: the case idempotency keys exist for).
    pub error_after_write_rate: f64,
    /// Asynchronous jobs stay pending this long before they settle.
    pub async_pending_ms: u64,
    /// Share of webhook deliveries sent twice.
    pub duplicate_webhook_rate: f64,
    /// Deliver queued webhooks in a shuffled order.
    pub shuffle_webhooks: bool,
    /// Share of requests answered 500 with an error that quotes the request's Authorization
    /// header, as is and URL-encoded (vendors that echo what they received into error text).
    pub echo_credentials_rate: f64,
}

/// What the fault dice decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Handle the request normally.
    Pass,
    /// Answer a server error.
    ServerError,
    /// Do not answer for this long.
    Hang(Duration),
    /// Answer 429 with this Retry-After (seconds).
    RateLimited(u64),
    /// Answer 503: the vendor is down.
    Outage,
}

/// Faults plus the seeded dice that apply them.
#[derive(Debug)]
pub struct FaultState {
    faults: Mutex<(Faults, Option<Instant>)>,
    rng: Mutex<StdRng>,
}

impl FaultState {
    /// No faults, dice seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            faults: Mutex::new((Faults::default(), None)),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }

    /// Replaces the active faults.
    pub fn set(&self, faults: Faults) {
        *self.faults.lock().expect("fault lock") = (faults, None);
    }

    /// The active faults.
    pub fn get(&self) -> Faults {
        self.faults.lock().expect("fault lock").0.clone()
    }

    /// Opens an outage window that closes by itself after `ms`.
    pub fn outage_for(&self, ms: u64) {
        self.faults.lock().expect("fault lock").1 =
            Some(Instant::now() + Duration::from_millis(ms));
    }

    /// Rolls a probability.
    pub fn roll(&self, rate: f64) -> bool {
        rate > 0.0
            && self
                .rng
                .lock()
                .expect("rng lock")
                .random_bool(rate.min(1.0))
    }

    /// Decides the fate of one request, before it is handled.
    pub fn decide(&self) -> (Verdict, Duration) {
        let (faults, until) = self.faults.lock().expect("fault lock").clone();
        let latency = Duration::from_millis(faults.latency_ms);
        if faults.outage || until.is_some_and(|t| Instant::now() < t) {
            return (Verdict::Outage, latency);
        }
        let verdict = if self.roll(faults.error_rate) {
            Verdict::ServerError
        } else if self.roll(faults.timeout_rate) {
            Verdict::Hang(Duration::from_millis(faults.hang_ms.max(1)))
        } else if self.roll(faults.rate_limit_rate) {
            Verdict::RateLimited(faults.retry_after_s)
        } else {
            Verdict::Pass
        };
        (verdict, latency)
    }
}
