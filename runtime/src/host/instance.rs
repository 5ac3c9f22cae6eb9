//! A connector instance: one loaded module with the grants and limits a pipeline gives it.
//! Every call gets a warm instance of this configuration or a fresh one (see `pool.rs`), its
//! own per-call state, a CPU deadline (epochs) inside an outer timeout, a memory cap and a
//! concurrency permit; documents are validated both ways.

use std::sync::Arc;
use std::time::{Duration, Instant};

use junction_connector_kit as kit;
use tokio::sync::Semaphore;
use wasmtime::Store;

use super::bindings::{self, Connector as Bindings, wit};
use super::egress::{Exchange, Violation};
use super::engine::EPOCH_TICK;
use super::oauth2::TokenError;
use super::pool::{Pool, PoolStats, Warm};
use super::state::{CallState, InstanceSpec, LogFlood};
use super::{HostInner, Module};
use crate::canonical;
use crate::services::masking::Masker;
use crate::services::retry::Class;

/// Why a call did not produce the connector's answer. `Connector` carries the typed error the
/// guest returned; every other variant is the host stopping or refusing the guest.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The connector answered with a typed error.
    #[error("{0}")]
    Connector(kit::Error),
    /// The call ran past its deadline (a loop, or a request that would not end).
    #[error("stopped: the call ran past its {0:?} deadline")]
    Timeout(Duration),
    /// The guest tried to grow its memory past the cap.
    #[error("stopped: the connector tried to use more than {0} bytes of memory")]
    MemoryLimit(u64),
    /// The guest logged far more than any honest connector would.
    #[error("stopped: the connector flooded the log")]
    LogFlood,
    /// The guest crashed (a trap); its message, for the operator.
    #[error("stopped: the connector crashed: {0}")]
    Trap(String),
    /// A request to a destination the pipeline does not allow.
    #[error("refused: request to {url} denied ({rule})")]
    EgressDenied {
        /// The URL without query.
        url: String,
        /// The rule that refused it.
        rule: String,
    },
    /// The guest tried to set a header only the host may set.
    #[error("refused: the connector tried to set the `{0}` header, which only the host sets")]
    ForbiddenHeader(String),
    /// A document crossing the boundary broke its canonical schema.
    #[error("invalid {direction} document: {detail}")]
    InvalidDocument {
        /// `input` (what the runtime asked the connector to write) or `output` (what the
        /// connector returned).
        direction: &'static str,
        /// Which document and what is wrong with it.
        detail: String,
    },
    /// The host could not run the call at all.
    #[error("host error: {0}")]
    Host(String),
}

impl CallError {
    /// The retry class of this failure, from its variant.
    pub fn retry_class(&self) -> Class {
        match self {
            CallError::Connector(e) => match e {
                kit::Error::Transient { retry_after_ms, .. } => Class::Retry {
                    after: retry_after_ms.map(Duration::from_millis),
                },
                kit::Error::RateLimited(ms) => Class::Retry {
                    after: ms.map(Duration::from_millis),
                },
                kit::Error::Conflict(_) => Class::Retry { after: None },
                // A write that names a record the target does not have yet (a subscription whose
                // customer is still being created) can succeed once the other write lands.
                kit::Error::NotFound(_) => Class::Retry { after: None },
                // Credentials get rotated and fixed by operators; keep the change and wait.
                kit::Error::Unauthorized(_) => Class::Retry {
                    after: Some(Duration::from_secs(60)),
                },
                kit::Error::Rejected { .. }
                | kit::Error::IdempotencyMismatch(_)
                | kit::Error::Unsupported(_)
                | kit::Error::InvalidWebhook(_) => Class::Permanent,
            },
            CallError::Timeout(_)
            | CallError::Trap(_)
            | CallError::MemoryLimit(_)
            | CallError::LogFlood
            | CallError::Host(_) => Class::Retry { after: None },
            CallError::EgressDenied { .. }
            | CallError::ForbiddenHeader(_)
            | CallError::InvalidDocument { .. } => Class::Permanent,
        }
    }

    /// A short, stable name for this failure's class, for metrics labels and audit rows.
    pub fn class_name(&self) -> &'static str {
        match self {
            CallError::Connector(e) => match e {
                kit::Error::Transient { .. } => "transient",
                kit::Error::RateLimited(_) => "rate-limited",
                kit::Error::Rejected { .. } => "rejected",
                kit::Error::Unauthorized(_) => "unauthorized",
                kit::Error::NotFound(_) => "not-found",
                kit::Error::Conflict(_) => "conflict",
                kit::Error::IdempotencyMismatch(_) => "idempotency-mismatch",
                kit::Error::Unsupported(_) => "unsupported",
                kit::Error::InvalidWebhook(_) => "invalid-webhook",
            },
            CallError::Timeout(_) => "timeout",
            CallError::MemoryLimit(_) => "memory-limit",
            CallError::LogFlood => "log-flood",
            CallError::Trap(_) => "trap",
            CallError::EgressDenied { .. } => "egress-denied",
            CallError::ForbiddenHeader(_) => "forbidden-header",
            CallError::InvalidDocument { .. } => "invalid-document",
            CallError::Host(_) => "host",
        }
    }
}

/// The result of a call together with what it did on the network.
#[derive(Debug)]
pub struct Called<T> {
    /// The connector's answer, or why there is none.
    pub result: Result<T, CallError>,
    /// Every outbound request, in order.
    pub exchanges: Vec<Exchange>,
    /// Log lines dropped past the per-call budget.
    pub logs_dropped: u32,
    /// Wall time of the whole call, instantiation included.
    pub elapsed: Duration,
}

/// Per-call context: the correlation id of the change being worked on, sent onwards as W3C
/// trace context so vendor logs can be matched to Junction's.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    /// Tags log lines.
    pub correlation_id: Option<String>,
    /// Sent as the `traceparent` header on every outbound request.
    pub traceparent: Option<String>,
}

/// A connector instance ready to be called. Cheap to clone; clones share one pool of warm
/// instances, which no other `Connector` (another pipeline's, or the same module with other
/// grants) ever draws from.
#[derive(Clone)]
pub struct Connector {
    host: Arc<HostInner>,
    module: Arc<Module>,
    spec: Arc<InstanceSpec>,
    masker: Arc<Masker>,
    permits: Arc<Semaphore>,
    pool: Arc<Pool>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("name", &self.spec.name)
            .field("module", &self.module.reference)
            .finish()
    }
}

impl Connector {
    pub(crate) fn new(host: Arc<HostInner>, module: Arc<Module>, spec: InstanceSpec) -> Self {
        let literals = spec.secret_values().into_iter().chain(
            module
                .manifest
                .settings
                .iter()
                .filter(|s| s.sensitive)
                .filter_map(|s| spec.settings.get(&s.name).cloned()),
        );
        let masker = Arc::new(
            Masker::with_literals(literals)
                .with_live(spec.live_secrets())
                .with_key(spec.masking_key.clone()),
        );
        let permits = Arc::new(Semaphore::new(spec.limits.concurrency.max(1)));
        let pool = Arc::new(Pool::new(
            spec.limits.concurrency,
            spec.limits.reuse_limit,
            host.idle_slots.clone(),
        ));
        Self {
            host,
            module,
            spec: Arc::new(spec),
            masker,
            permits,
            pool,
        }
    }

    /// How many instances this connector created, reused and discarded so far.
    pub fn pool_stats(&self) -> PoolStats {
        self.pool.stats()
    }

    /// The module this instance runs.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// The instance's name in the pipeline.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Verifies and decodes a webhook.
    pub async fn receive(&self, ctx: &CallContext, hook: kit::Webhook) -> Called<Vec<kit::Change>> {
        let called = self.call(ctx, Op::Receive(bindings::webhook(hook))).await;
        map_result(called, |out| match out {
            Out::Changes(changes) => {
                validate_changes(changes.into_iter().map(bindings::change).collect())
            }
            _ => Err(mixed_up()),
        })
    }

    /// Reads changes since a cursor.
    pub async fn poll(
        &self,
        ctx: &CallContext,
        object: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Called<kit::ChangePage> {
        let op = Op::Poll {
            object: object.to_string(),
            cursor: cursor.map(str::to_string),
            limit,
        };
        let called = self.call(ctx, op).await;
        map_result(called, |out| {
            let Out::ChangePage(page) = out else {
                return Err(mixed_up());
            };
            let page = bindings::change_page(page);
            let changes = validate_changes(page.changes)?;
            Ok(kit::ChangePage { changes, ..page })
        })
    }

    /// Performs one write. The document is validated before the connector sees it.
    pub async fn apply(&self, ctx: &CallContext, write: kit::Write) -> Called<kit::Outcome> {
        if let Err(e) = canonical::validate(&write.object, &write.document) {
            let detail = format!("{} {}: {e}", write.object, write.key);
            return Called {
                result: Err(CallError::InvalidDocument {
                    direction: "input",
                    detail,
                }),
                exchanges: vec![],
                logs_dropped: 0,
                elapsed: Duration::ZERO,
            };
        }
        let called = self.call(ctx, Op::Apply(bindings::write(write))).await;
        map_result(called, |out| match out {
            Out::Outcome(o) => Ok(bindings::outcome(o)),
            _ => Err(mixed_up()),
        })
    }

    /// Asks for the state of an asynchronous job.
    pub async fn job_status(&self, ctx: &CallContext, job: &str) -> Called<kit::JobState> {
        let called = self.call(ctx, Op::JobStatus(job.to_string())).await;
        map_result(called, |out| match out {
            Out::JobState(state) => Ok(bindings::job_state(state)),
            _ => Err(mixed_up()),
        })
    }

    /// Reads one entity back as a canonical document.
    pub async fn fetch(
        &self,
        ctx: &CallContext,
        object: &str,
        key: &str,
    ) -> Called<Option<String>> {
        let called = self
            .call(
                ctx,
                Op::Fetch {
                    object: object.to_string(),
                    key: key.to_string(),
                },
            )
            .await;
        map_result(called, |out| {
            let Out::Document(doc) = out else {
                return Err(mixed_up());
            };
            if let Some(doc) = &doc {
                canonical::validate(object, doc).map_err(|e| CallError::InvalidDocument {
                    direction: "output",
                    detail: format!("{object} {key}: {e}"),
                })?;
            }
            Ok(doc)
        })
    }

    /// The document a read-back shows once `write` has taken effect (the target's own
    /// precision). Validated like every document that crosses the boundary.
    pub async fn expected(&self, ctx: &CallContext, write: kit::Write) -> Called<String> {
        let object = write.object.clone();
        let key = write.key.clone();
        let called = self.call(ctx, Op::Expected(bindings::write(write))).await;
        map_result(called, |out| {
            let Out::Document(Some(doc)) = out else {
                return Err(mixed_up());
            };
            canonical::validate(&object, &doc).map_err(|e| CallError::InvalidDocument {
                direction: "output",
                detail: format!("{object} {key}: {e}"),
            })?;
            Ok(doc)
        })
    }

    /// Lists entities for reconciliation.
    pub async fn list(
        &self,
        ctx: &CallContext,
        object: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Called<kit::DocumentPage> {
        let op = Op::List {
            object: object.to_string(),
            cursor: cursor.map(str::to_string),
            limit,
        };
        let called = self.call(ctx, op).await;
        map_result(called, |out| {
            let Out::DocumentPage(page) = out else {
                return Err(mixed_up());
            };
            let page = bindings::document_page(page);
            for item in &page.items {
                canonical::validate(object, &item.document).map_err(|e| {
                    CallError::InvalidDocument {
                        direction: "output",
                        detail: format!("{object} {}: {e}", item.key),
                    }
                })?;
            }
            Ok(page)
        })
    }

    /// The spec this call runs with. A connector whose base URL is its OAuth 2.0 token's
    /// `instance_url` (Salesforce) gets that URL as `base-url`, and its credentials go to
    /// that origin; the token is fetched first if none is held.
    async fn spec_for_call(&self) -> Result<Arc<InstanceSpec>, CallError> {
        let super::Auth::OAuth2(source) = &self.spec.egress.auth else {
            return Ok(self.spec.clone());
        };
        if !source.config().instance_url {
            return Ok(self.spec.clone());
        }
        let token = source.token().await.map_err(|e| self.token_error(e))?;
        let url = token.instance_url.ok_or_else(|| {
            self.token_error(TokenError::Unavailable(format!(
                "the token answer of {} carries no instance_url, which auth.instance-url = true needs",
                source.config().token_url
            )))
        })?;
        let origin = super::Origin::of_url(&url)
            .map_err(|e| self.token_error(TokenError::Unavailable(format!("instance_url: {e}"))))?;
        let mut spec = (*self.spec).clone();
        spec.settings.insert("base-url".into(), url);
        if !spec.egress.credential_origins.contains(&origin) {
            spec.egress.credential_origins.push(origin);
        }
        Ok(Arc::new(spec))
    }

    /// How a missing access token shows to the runtime: a refusal pauses the connector as
    /// `unauthorized` (retried after a while, never dead-lettered for it); an endpoint that
    /// could not be reached is transient.
    fn token_error(&self, error: TokenError) -> CallError {
        match error {
            TokenError::Refused(reason) => CallError::Connector(kit::Error::Unauthorized(format!(
                "connector `{}` is paused: {reason}; fix its client credentials (calls try again every {} s)",
                self.spec.name,
                super::oauth2::PAUSE.as_secs()
            ))),
            TokenError::Unavailable(reason) => CallError::Connector(kit::Error::Transient {
                message: reason,
                retry_after_ms: None,
            }),
        }
    }

    async fn call(&self, ctx: &CallContext, op: Op) -> Called<Out> {
        let started = Instant::now();
        let Ok(_permit) = self.permits.acquire().await else {
            return host_failure("the instance's concurrency limiter is closed", started);
        };
        let Ok(_slot) = self.host.slots.acquire().await else {
            return host_failure("the host's instance pool is closed", started);
        };
        let spec = match self.spec_for_call().await {
            Ok(spec) => spec,
            Err(error) => {
                return Called {
                    result: Err(error),
                    exchanges: vec![],
                    logs_dropped: 0,
                    elapsed: started.elapsed(),
                };
            }
        };
        // A warm instance of this configuration if one is idle, else a fresh store (the
        // instantiation itself runs under the deadline below, like the call).
        let (mut store, warm, journal) = match self.pool.take(&spec.settings) {
            Some(mut warm) => {
                let journal = warm.store.data_mut().begin_call(
                    spec.clone(),
                    ctx.correlation_id.clone(),
                    ctx.traceparent.clone(),
                );
                let (store, instance, calls) = warm.into_parts();
                (store, Some((instance, calls)), journal)
            }
            None => {
                let (state, journal) = CallState::new(
                    spec.clone(),
                    self.masker.clone(),
                    ctx.correlation_id.clone(),
                    ctx.traceparent.clone(),
                );
                let mut store = Store::new(&self.host.engine, state);
                store.limiter(|s| &mut s.limiter);
                (store, None, journal)
            }
        };
        let timeout = self.spec.limits.call_timeout;
        super::engine::arm_deadline(&mut store, timeout);

        let pre = &self.module.pre;
        let pool = &self.pool;
        let run = async {
            let (instance, calls) = match warm {
                Some(warm) => warm,
                None => {
                    pool.note_created();
                    (pre.instantiate_async(&mut store).await?, 0)
                }
            };
            let answer = op.run(&instance, &mut store).await?;
            wasmtime::Result::Ok((instance, calls, answer))
        };
        // The epoch deadline stops wasm that computes; this outer timeout stops a guest waiting
        // in a host call (a request that never answers). The grace lets the epoch win first.
        let outcome = tokio::time::timeout(timeout + EPOCH_TICK * 5, run).await;

        // The instance survives only a call that returned (an answer or a typed error); one
        // stopped by a trap or the deadline is dropped with its store here.
        let (result, survivor) = match outcome {
            Err(_) => (Err(CallError::Timeout(timeout)), None),
            Ok(Ok((instance, calls, Ok(value)))) => (Ok(value), Some((instance, calls))),
            Ok(Ok((instance, calls, Err(e)))) => (
                Err(CallError::Connector(bindings::error(e))),
                Some((instance, calls)),
            ),
            Ok(Err(trap)) => (
                Err(classify_trap(
                    &trap,
                    store.data().limiter.exceeded,
                    self.spec.limits,
                    timeout,
                )),
                None,
            ),
        };
        let logs_dropped = store.data().logs_dropped;
        let journal = std::mem::take(&mut *journal.lock().expect("journal lock"));
        // Kept for the next call only if nothing went wrong: no refused request, the memory
        // cap never reached (a guest that survived a failed allocation may be in any state),
        // and no host resource left open.
        let clean = journal.violations.is_empty()
            && !store.data().limiter.exceeded
            && store.data().holds_no_resources();
        match survivor {
            Some((instance, calls)) => self
                .pool
                .put(Warm::new(store, instance, &spec.settings, calls), clean),
            None => self.pool.note_recycled(),
        }
        // A broken rule overrides whatever the guest made of the refusal.
        let result = match journal.violations.into_iter().next() {
            Some(Violation::Token(e)) => Err(self.token_error(e)),
            Some(Violation::EgressDenied { url, rule }) => {
                Err(CallError::EgressDenied { url, rule })
            }
            Some(Violation::ForbiddenHeader(h)) => Err(CallError::ForbiddenHeader(h)),
            None => result,
        };
        if logs_dropped > 0 {
            tracing::warn!(connector = %self.spec.name, logs_dropped, "connector log lines dropped past the per-call budget");
        }
        Called {
            result,
            exchanges: journal.exchanges,
            logs_dropped,
            elapsed: started.elapsed(),
        }
    }
}

/// One export call, with owned arguments.
enum Op {
    Receive(wit::Webhook),
    Poll {
        object: String,
        cursor: Option<String>,
        limit: u32,
    },
    Apply(wit::Write),
    Expected(wit::Write),
    JobStatus(String),
    Fetch {
        object: String,
        key: String,
    },
    List {
        object: String,
        cursor: Option<String>,
        limit: u32,
    },
}

/// What an export returned.
enum Out {
    Changes(Vec<wit::Change>),
    ChangePage(wit::ChangePage),
    Outcome(wit::Outcome),
    JobState(wit::JobState),
    Document(Option<String>),
    DocumentPage(wit::DocumentPage),
}

impl Op {
    async fn run(
        self,
        b: &Bindings,
        s: &mut Store<CallState>,
    ) -> wasmtime::Result<Result<Out, wit::Error>> {
        let (source, sink) = (b.junction_connector_source(), b.junction_connector_sink());
        Ok(match self {
            Op::Receive(hook) => source.call_receive(s, &hook).await?.map(Out::Changes),
            Op::Poll {
                object,
                cursor,
                limit,
            } => source
                .call_poll(s, &object, cursor.as_deref(), limit)
                .await?
                .map(Out::ChangePage),
            Op::Apply(write) => sink.call_apply(s, &write).await?.map(Out::Outcome),
            Op::Expected(write) => sink
                .call_expected(s, &write)
                .await?
                .map(|doc| Out::Document(Some(doc))),
            Op::JobStatus(job) => sink.call_job_status(s, &job).await?.map(Out::JobState),
            Op::Fetch { object, key } => {
                sink.call_fetch(s, &object, &key).await?.map(Out::Document)
            }
            Op::List {
                object,
                cursor,
                limit,
            } => sink
                .call_list(s, &object, cursor.as_deref(), limit)
                .await?
                .map(Out::DocumentPage),
        })
    }
}

fn mixed_up() -> CallError {
    CallError::Host("an export returned another export's result".into())
}

fn classify_trap(
    trap: &wasmtime::Error,
    memory_exceeded: bool,
    limits: super::state::Limits,
    timeout: Duration,
) -> CallError {
    // Host-side resources (headers, fields, streams, requests) count against the memory cap:
    // a guest that fills its resource table has used its share of host memory.
    let table_full = trap.chain().any(|e| {
        matches!(
            e.downcast_ref::<wasmtime::component::ResourceTableError>(),
            Some(wasmtime::component::ResourceTableError::Full)
        )
    });
    if memory_exceeded || table_full {
        CallError::MemoryLimit(limits.memory_bytes)
    } else if trap.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
        CallError::Timeout(timeout)
    } else if trap.downcast_ref::<LogFlood>().is_some() {
        CallError::LogFlood
    } else {
        CallError::Trap(format!("{trap:#}"))
    }
}

fn host_failure<T>(reason: &str, started: Instant) -> Called<T> {
    Called {
        result: Err(CallError::Host(reason.to_string())),
        exchanges: vec![],
        logs_dropped: 0,
        elapsed: started.elapsed(),
    }
}

fn map_result<A, B>(called: Called<A>, f: impl FnOnce(A) -> Result<B, CallError>) -> Called<B> {
    Called {
        result: called.result.and_then(f),
        exchanges: called.exchanges,
        logs_dropped: called.logs_dropped,
        elapsed: called.elapsed,
    }
}

/// The most changes one webhook or one poll page may yield. A module answering more is refused
/// whole (nothing is stored): one request must not become an unbounded amount of work.
pub const MAX_CHANGES_PER_CALL: usize = 1_000;

fn validate_changes(changes: Vec<kit::Change>) -> Result<Vec<kit::Change>, CallError> {
    if changes.len() > MAX_CHANGES_PER_CALL {
        return Err(CallError::InvalidDocument {
            direction: "output",
            detail: format!(
                "{} changes from one call, more than the {MAX_CHANGES_PER_CALL} allowed",
                changes.len()
            ),
        });
    }
    for (i, change) in changes.iter().enumerate() {
        for (side, doc) in [("before", &change.before), ("after", &change.after)] {
            if let Some(doc) = doc {
                canonical::validate(&change.object, doc).map_err(|e| {
                    CallError::InvalidDocument {
                        direction: "output",
                        detail: format!(
                            "change {i} ({} {}) {side}: {e}",
                            change.object, change.key
                        ),
                    }
                })?;
            }
        }
    }
    Ok(changes)
}

/// An instance kept alive across calls with none of the per-call work (no fresh call state,
/// no permits, no outer timeout): the floor a pooled call is measured against (benchmarks).
pub struct WarmInstance {
    store: Store<CallState>,
    instance: Bindings,
    timeout: Duration,
}

impl std::fmt::Debug for WarmInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WarmInstance")
    }
}

impl Connector {
    /// Instantiates once for repeated calls (benchmarks).
    pub async fn warm(&self) -> Result<WarmInstance, CallError> {
        let (state, _journal) = CallState::new(self.spec.clone(), self.masker.clone(), None, None);
        let mut store = Store::new(&self.host.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(u64::MAX / 2);
        let instance = self
            .module
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| CallError::Host(format!("{e:#}")))?;
        Ok(WarmInstance {
            store,
            instance,
            timeout: self.spec.limits.call_timeout,
        })
    }
}

impl WarmInstance {
    /// `receive` on the warm instance.
    pub async fn receive(&mut self, hook: kit::Webhook) -> Result<Vec<kit::Change>, CallError> {
        self.store.set_epoch_deadline(
            self.timeout
                .as_millis()
                .div_ceil(EPOCH_TICK.as_millis())
                .max(1) as u64,
        );
        match Op::Receive(bindings::webhook(hook))
            .run(&self.instance, &mut self.store)
            .await
        {
            Ok(Ok(Out::Changes(c))) => {
                validate_changes(c.into_iter().map(bindings::change).collect())
            }
            Ok(Ok(_)) => Err(mixed_up()),
            Ok(Err(e)) => Err(CallError::Connector(bindings::error(e))),
            Err(trap) => Err(CallError::Trap(format!("{trap:#}"))),
        }
    }
}

#[cfg(test)]
mod retry_class_tests {
    use std::time::Duration;

    use junction_connector_kit as kit;

    use super::CallError;
    use crate::services::retry::Class;

    #[test]
    fn the_variant_decides_not_the_message() {
        let rejected = CallError::Connector(kit::Error::Rejected {
            message: "timeout, please retry".into(),
            field: None,
        });
        assert_eq!(rejected.retry_class(), Class::Permanent);
        let limited = CallError::Connector(kit::Error::RateLimited(Some(2000)));
        assert_eq!(
            limited.retry_class(),
            Class::Retry {
                after: Some(Duration::from_secs(2))
            }
        );
        assert_eq!(
            CallError::Timeout(Duration::from_secs(1)).retry_class(),
            Class::Retry { after: None }
        );
        assert_eq!(
            CallError::EgressDenied {
                url: "u".into(),
                rule: "r".into()
            }
            .retry_class(),
            Class::Permanent
        );
    }
}
