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

/// A fault decided outside [`FaultState::decide`], by the handler that knows the request is a
/// write or a webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A write answered with success although nothing changed (`silent_drop_rate`).
    SilentDrop,
    /// A write applied, then answered with a 5xx (`error_after_write_rate`).
    ErrorAfterWrite,
    /// A webhook delivery sent twice (`duplicate_webhook_rate`).
    DuplicateWebhook,
    /// A 500 quoting the request's credentials (`echo_credentials_rate`).
    EchoCredentials,
}

/// How many faults of each kind a simulator injected since it started: what a campaign
/// reports beside its outcomes, so "0 lost" is read against what was thrown at it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Injected {
    /// 5xx answers before anything happened.
    pub server_errors: u64,
    /// Requests left hanging.
    pub timeouts: u64,
    /// 429 answers with Retry-After.
    pub rate_limited: u64,
    /// 503 answers inside an outage window.
    pub outage_refusals: u64,
    /// Writes answered with success that changed nothing.
    pub silent_drops: u64,
    /// Writes applied, then answered with a 5xx.
    pub errors_after_write: u64,
    /// Webhook deliveries sent twice.
    pub duplicate_webhooks: u64,
    /// 500 answers quoting the request's credentials.
    pub echoed_credentials: u64,
}

impl Injected {
    /// The counts, by kind, in a fixed order, for tables.
    pub fn by_kind(&self) -> [(&'static str, u64); 8] {
        [
            ("5xx", self.server_errors),
            ("timeout (hang)", self.timeouts),
            ("429 with Retry-After", self.rate_limited),
            ("outage (503)", self.outage_refusals),
            ("silent drop of a write", self.silent_drops),
            ("5xx after the write", self.errors_after_write),
            ("duplicate webhook", self.duplicate_webhooks),
            ("credentials echoed", self.echoed_credentials),
        ]
    }

    /// The sum of two simulators' counts.
    pub fn plus(self, other: Injected) -> Injected {
        Injected {
            server_errors: self.server_errors + other.server_errors,
            timeouts: self.timeouts + other.timeouts,
            rate_limited: self.rate_limited + other.rate_limited,
            outage_refusals: self.outage_refusals + other.outage_refusals,
            silent_drops: self.silent_drops + other.silent_drops,
            errors_after_write: self.errors_after_write + other.errors_after_write,
            duplicate_webhooks: self.duplicate_webhooks + other.duplicate_webhooks,
            echoed_credentials: self.echoed_credentials + other.echoed_credentials,
        }
    }
}

/// Faults plus the seeded dice that apply them, and the count of what they injected.
#[derive(Debug)]
pub struct FaultState {
    faults: Mutex<(Faults, Option<Instant>)>,
    rng: Mutex<StdRng>,
    injected: Mutex<Injected>,
}

impl FaultState {
    /// No faults, dice seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            faults: Mutex::new((Faults::default(), None)),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            injected: Mutex::new(Injected::default()),
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

    /// Rolls the dice for `fault` at its configured rate, counting it when it strikes.
    pub fn strikes(&self, fault: Fault) -> bool {
        let faults = self.get();
        let rate = match fault {
            Fault::SilentDrop => faults.silent_drop_rate,
            Fault::ErrorAfterWrite => faults.error_after_write_rate,
            Fault::DuplicateWebhook => faults.duplicate_webhook_rate,
            Fault::EchoCredentials => faults.echo_credentials_rate,
        };
        let struck = self.roll(rate);
        if struck {
            let mut n = self.injected.lock().expect("fault count lock");
            match fault {
                Fault::SilentDrop => n.silent_drops += 1,
                Fault::ErrorAfterWrite => n.errors_after_write += 1,
                Fault::DuplicateWebhook => n.duplicate_webhooks += 1,
                Fault::EchoCredentials => n.echoed_credentials += 1,
            }
        }
        struck
    }

    /// What was injected so far.
    pub fn injected(&self) -> Injected {
        *self.injected.lock().expect("fault count lock")
    }

    /// Decides the fate of one request, before it is handled.
    pub fn decide(&self) -> (Verdict, Duration) {
        let (faults, until) = self.faults.lock().expect("fault lock").clone();
        let latency = Duration::from_millis(faults.latency_ms);
        let verdict = if faults.outage || until.is_some_and(|t| Instant::now() < t) {
            Verdict::Outage
        } else if self.roll(faults.error_rate) {
            Verdict::ServerError
        } else if self.roll(faults.timeout_rate) {
            Verdict::Hang(Duration::from_millis(faults.hang_ms.max(1)))
        } else if self.roll(faults.rate_limit_rate) {
            Verdict::RateLimited(faults.retry_after_s)
        } else {
            Verdict::Pass
        };
        let mut n = self.injected.lock().expect("fault count lock");
        match verdict {
            Verdict::Pass => {}
            Verdict::ServerError => n.server_errors += 1,
            Verdict::Hang(_) => n.timeouts += 1,
            Verdict::RateLimited(_) => n.rate_limited += 1,
            Verdict::Outage => n.outage_refusals += 1,
        }
        (verdict, latency)
    }
}
