//! What an instance's `Store` holds: a fail-closed WASI context, the HTTP hook, the memory
//! limiter, the log budget, and the implementation of the contract's `host` interface. The
//! per-call parts are renewed at every call (`begin_call`), warm instance or fresh.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::{Level, junction::connector};
use super::egress::{EgressHooks, EgressPolicy, Journal};
use crate::services::clock::Clock;
use crate::services::masking::Masker;
use crate::services::secret::Secret;

/// Log lines a single call may write before further lines are dropped (and counted).
pub(crate) const LOG_LINES_PER_CALL: u32 = 200;
/// Past this many lines in one call the guest is stopped: it is flooding.
pub(crate) const LOG_FLOOD_LINES: u32 = 10_000;
/// Longer log lines are cut.
const LOG_LINE_BYTES: usize = 4096;

/// The most header bytes one `fields` resource may hold (wasi:http's default is 128 KiB; vendor
/// APIs need a few hundred bytes).
pub(crate) const FIELD_BYTES: usize = 16 << 10;

/// Host-side resources a call may hold at once (fields, requests, bodies, streams, pollables):
/// a quarter of the instance's memory cap in `FIELD_BYTES`-sized units, at least 64 and at most
/// 4,096. Host memory a guest can make the host hold is so bounded by its own cap, and freed
/// with the store when the call ends.
pub(crate) fn resource_cap(memory_bytes: u64) -> usize {
    ((memory_bytes / 4) as usize / FIELD_BYTES).clamp(64, 4096)
}

/// Calls a warm instance serves by default before it is replaced: bounds how long whatever a
/// guest accumulates (heap fragmentation, caches, leaks) can grow.
pub const DEFAULT_REUSE_LIMIT: u32 = 1_000;

/// Everything about a connector instance that does not change between calls.
#[derive(Debug, Clone, Default)]
pub struct InstanceSpec {
    /// The instance's name in the pipeline (`stripe`), used in logs.
    pub name: String,
    /// `[connectors.X.settings]` plus `base-url`.
    pub settings: BTreeMap<String, String>,
    /// Secrets usable through `hmac-sha256`, by name.
    pub secrets: BTreeMap<String, Secret>,
    /// Where it may send requests, and with which credentials.
    pub egress: EgressPolicy,
    /// Sandbox limits.
    pub limits: Limits,
    /// What "now" is for the guest (the contract's `now()` and `wasi:clocks/wall-clock`) and
    /// for the request hook (OAuth 1.0 timestamps): the engine's clock, so a test on manual
    /// time moves the connector's time too. The system clock by default.
    pub clock: Clock,
    /// The pipeline's key of keyed hashes: e-mail addresses in the guest's logs and errors are
    /// hashed with it (redacted without one).
    pub masking_key: Option<crate::services::masking::HashKey>,
}

impl InstanceSpec {
    /// Every secret value this instance holds (granted secrets and credentials), which must be
    /// masked wherever it could appear.
    pub fn secret_values(&self) -> Vec<String> {
        self.secrets
            .values()
            .map(|s| s.expose().to_string())
            .chain(self.egress.auth.values())
            .collect()
    }

    /// Secret values learnt while running (OAuth 2.0 access tokens), for the maskers.
    pub fn live_secrets(&self) -> Vec<crate::services::masking::LiveSecrets> {
        match &self.egress.auth {
            super::Auth::OAuth2(source) => vec![source.live_secrets()],
            _ => Vec::new(),
        }
    }
}

/// Per-instance sandbox limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Linear memory cap in bytes.
    pub memory_bytes: u64,
    /// Wall-clock deadline for one call (CPU via epochs, blocking via an outer timeout).
    pub call_timeout: std::time::Duration,
    /// Calls in flight at once on this instance.
    pub concurrency: usize,
    /// Outbound requests one call may make in all.
    pub requests_per_call: usize,
    /// Outbound requests one call may have waiting for an answer at once.
    pub requests_in_flight: usize,
    /// Calls one warm instance may serve before it is replaced by a fresh one (1: a fresh
    /// instance for every call). An instance is also replaced after any call that did not end
    /// cleanly (a trap, the deadline, the memory cap, a refused request).
    pub reuse_limit: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            call_timeout: std::time::Duration::from_secs(10),
            concurrency: 8,
            requests_per_call: 256,
            requests_in_flight: 8,
            reuse_limit: DEFAULT_REUSE_LIMIT,
        }
    }
}

pub(crate) struct CallState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: EgressHooks,
    pub(crate) limiter: MemoryLimiter,
    spec: Arc<InstanceSpec>,
    masker: Arc<Masker>,
    pub(crate) logs_written: u32,
    pub(crate) logs_dropped: u32,
    correlation_id: Option<String>,
}

impl CallState {
    pub(crate) fn new(
        spec: Arc<InstanceSpec>,
        masker: Arc<Masker>,
        correlation_id: Option<String>,
        traceparent: Option<String>,
    ) -> (Self, Arc<Mutex<Journal>>) {
        // Nothing granted: no environment, no arguments, no preopened directories, stdin
        // closed, and socket access denied (wasmtime 48's default), so a connector can reach
        // the outside world only through the outgoing-handler hook below.
        let mut wasi = WasiCtx::builder();
        wasi.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .wall_clock(WallClock(spec.clock.clone()));
        let (hooks, journal) = call_hooks(&spec, traceparent);
        let limiter = MemoryLimiter {
            cap: spec.limits.memory_bytes,
            exceeded: false,
        };
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(FIELD_BYTES);
        let mut table = ResourceTable::new();
        table.set_max_capacity(resource_cap(spec.limits.memory_bytes));
        let state = Self {
            wasi: wasi.build(),
            http,
            table,
            hooks,
            limiter,
            spec,
            masker,
            logs_written: 0,
            logs_dropped: 0,
            correlation_id,
        };
        (state, journal)
    }

    /// Readies a warm instance's state for its next call: everything that belongs to one call
    /// (the request hook with its journal, request budget and trace context, the log budget,
    /// the correlation id, the spec the call runs with) is new; what stays is what the
    /// configuration fixes (the WASI context granting nothing, the masker, the memory cap).
    pub(crate) fn begin_call(
        &mut self,
        spec: Arc<InstanceSpec>,
        correlation_id: Option<String>,
        traceparent: Option<String>,
    ) -> Arc<Mutex<Journal>> {
        let (hooks, journal) = call_hooks(&spec, traceparent);
        self.hooks = hooks;
        self.limiter = MemoryLimiter {
            cap: spec.limits.memory_bytes,
            exceeded: false,
        };
        self.spec = spec;
        self.logs_written = 0;
        self.logs_dropped = 0;
        self.correlation_id = correlation_id;
        journal
    }

    /// Forgets what identified the last call (its trace context and correlation id) while
    /// the instance waits for the next one.
    pub(crate) fn end_call(&mut self) {
        self.hooks.traceparent = None;
        self.correlation_id = None;
    }

    /// Whether the guest holds no host-side resource (fields, requests, bodies, streams,
    /// pollables). A guest that keeps one past the end of a call is not reused: its next
    /// call could reach this call's requests and answers.
    pub(crate) fn holds_no_resources(&self) -> bool {
        self.table.is_empty()
    }
}

/// The request hook of one call, and the journal it writes.
fn call_hooks(
    spec: &InstanceSpec,
    traceparent: Option<String>,
) -> (EgressHooks, Arc<Mutex<Journal>>) {
    let journal = Arc::new(Mutex::new(Journal::default()));
    let hooks = EgressHooks {
        policy: Arc::new(spec.egress.clone()),
        connector: Arc::from(spec.name.as_str()),
        traceparent,
        journal: journal.clone(),
        budget: Arc::new(super::egress::RequestBudget::new(
            spec.limits.requests_per_call,
            spec.limits.requests_in_flight,
        )),
        clock: spec.clock.clone(),
    };
    (hooks, journal)
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// `wasi:clocks/wall-clock` on the instance's [`Clock`] (the monotonic clock stays the
/// system's: it paces waits, it does not say what time it is).
struct WallClock(Clock);

impl wasmtime_wasi::HostWallClock for WallClock {
    fn resolution(&self) -> std::time::Duration {
        std::time::Duration::from_millis(1)
    }

    fn now(&self) -> std::time::Duration {
        self.0.since_epoch()
    }
}

/// Caps linear memory and remembers whether the cap was hit, so a memory bomb is reported as
/// such rather than as whatever trap the guest's allocator produces.
pub(crate) struct MemoryLimiter {
    cap: u64,
    pub(crate) exceeded: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.cap {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// Marker error: the guest wrote more log lines than any honest connector would.
#[derive(Debug, thiserror::Error)]
#[error("log flood: more than {LOG_FLOOD_LINES} log lines in one call")]
pub(crate) struct LogFlood;

impl connector::types::Host for CallState {}

impl connector::host::Host for CallState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        if self.logs_written + self.logs_dropped >= LOG_FLOOD_LINES {
            return Err(LogFlood.into());
        }
        if self.logs_written >= LOG_LINES_PER_CALL {
            self.logs_dropped += 1;
            return Ok(());
        }
        self.logs_written += 1;
        let mut message = self.masker.text(&message);
        if message.len() > LOG_LINE_BYTES {
            let mut cut = LOG_LINE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str("…");
        }
        let connector = self.spec.name.as_str();
        let correlation_id = self.correlation_id.as_deref().unwrap_or("-");
        match level {
            Level::Trace => {
                tracing::trace!(target: "junction::connector", connector, correlation_id, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "junction::connector", connector, correlation_id, "{message}")
            }
            Level::Info => {
                tracing::info!(target: "junction::connector", connector, correlation_id, "{message}")
            }
            Level::Warn => {
                tracing::warn!(target: "junction::connector", connector, correlation_id, "{message}")
            }
            Level::Error => {
                tracing::error!(target: "junction::connector", connector, correlation_id, "{message}")
            }
        }
        Ok(())
    }

    fn now(&mut self) -> wasmtime::Result<i64> {
        Ok(self.spec.clock.now_ms())
    }

    fn setting(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self.spec.settings.get(&name).cloned())
    }

    fn hmac_sha256(
        &mut self,
        secret: String,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, String>> {
        let Some(key) = self.spec.secrets.get(&secret) else {
            return Ok(Err(format!(
                "no secret named `{secret}` is granted to this connector"
            )));
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(&data);
        Ok(Ok(mac.finalize().into_bytes().to_vec()))
    }
}
