//! Delivery: claim due deliveries (lane heads, leased), write them through the target
//! connector, follow asynchronous jobs, confirm by read-back, and settle each one as
//! confirmed, retried later, or dead-lettered. Retry decisions come from the error variant.
//!
//! Once per delivery (outside retry): planning, the idempotency key, the lane. Per attempt
//! (inside retry): rate limit, the connector call with its sandbox limits, the attempt record.
//!
//! Every decision about time reads the engine's clock (`Engine::now`, the store's clock
//! too): the back-off target, the next look at a job or a read-back, how long a job has been
//! pending, whether the confirmation deadline has passed. The store hands a delivery out again
//! only once that time has come, so on a manual clock a test sees each decision flip at its
//! exact millisecond (`tests/it/delivery_states.rs`).

use std::sync::Arc;
use std::time::Duration;

use junction_connector_kit as kit;
use serde_json::Value;

use super::Engine;
use super::metrics::{AttemptLabels, RouteLabels};
use crate::host::{CallContext, CallError, Called, Connector};
use crate::services::masking::mask_document;
use crate::services::retry::{self, Class};
use crate::store::{self, Attempt, Delivery, DeliveryState, Lease};

/// How long an asynchronous job may stay pending, from the first attempt by the engine's
/// clock, before the write is given up as unfinished. Checked at each look at the job, so it is
/// given up at the first look past it (looks are at most [`retry::MAX_CHECK_INTERVAL`] apart).
const JOB_PATIENCE: Duration = Duration::from_secs(600);

/// Corrective writes after read-backs that disagreed, before the delivery is dead-lettered
/// with the difference (and as many again after each redrive). A target that drops the same
/// write twice will not take a third.
pub const MAX_REPAIRS: i32 = 2;

/// Steps of one write of several (`in-progress` outcomes) before the delivery is dead-lettered
/// as not making progress. A NetSuite subscription takes at most five.
pub const MAX_STEPS: i32 = 16;

impl Engine {
    /// Works one claimed delivery until its next durable state.
    pub(crate) async fn work(self: &Arc<Self>, d: Delivery) {
        let Some(lease) = d.lease.clone() else { return };
        let result = match self.connector(&d.pipeline, &d.target) {
            None => {
                self.give_up(
                    &d,
                    &lease,
                    &format!(
                        "connector `{}` is not configured in pipeline `{}`",
                        d.target, d.pipeline
                    ),
                )
                .await
            }
            Some(connector) => match d.state {
                DeliveryState::Pending | DeliveryState::InFlight if d.shadow => {
                    self.shadow(&d, &lease, &connector).await
                }
                DeliveryState::Pending | DeliveryState::InFlight => {
                    self.write(&d, &lease, &connector).await
                }
                DeliveryState::AwaitingJob => self.follow_job(&d, &lease, &connector).await,
                DeliveryState::Confirming => self.confirm(&d, &lease, &connector).await,
                other => {
                    tracing::warn!(delivery = d.id, state = %other, "claimed a delivery in a state with nothing to do");
                    self.store.release(&lease).await
                }
            },
        };
        match result {
            Ok(()) => {}
            Err(store::Error::LeaseLost { .. }) => tracing::info!(
                delivery = d.id,
                "lease lost; another worker owns this delivery now"
            ),
            Err(e) => {
                tracing::error!(delivery = d.id, error = %e, "store failed while settling a delivery; it will be reclaimed when its lease expires")
            }
        }
    }

    fn ctx(d: &Delivery) -> CallContext {
        CallContext {
            correlation_id: Some(d.correlation_id.clone()),
            traceparent: Some(super::intake::traceparent(&d.correlation_id)),
        }
    }

    /// The write a delivery asks of its target, under its current key.
    fn write_of(d: &Delivery) -> kit::Write {
        kit::Write {
            object: d.object.clone(),
            key: d.key.clone(),
            operation: super::intake::operation_out(d.operation),
            document: d.document.clone(),
            effective_at: d.effective_at_ms,
            occurred_at: d.occurred_at_ms,
            idempotency_key: d.write_key(),
            correlation_id: d.correlation_id.clone(),
        }
    }

    async fn write(&self, d: &Delivery, lease: &Lease, connector: &Connector) -> store::Result<()> {
        if let Some(limiter) = self.limiter(&d.pipeline, &d.target) {
            limiter.until_ready().await;
        }
        let started = self.now();
        let called = connector.apply(&Self::ctx(d), Self::write_of(d)).await;
        self.record(d, lease, started, &called, |o| match o {
            kit::Outcome::Applied(_) => "applied",
            kit::Outcome::Accepted(_) => "accepted",
            kit::Outcome::InProgress(_) => "step_accepted",
        })
        .await?;
        let first_check = self.now() + self.confirm_interval(d);
        match called.result {
            Ok(kit::Outcome::Applied(target_ref)) => {
                self.store
                    .start_confirm(lease, &target_ref, self.now())
                    .await
            }
            Ok(kit::Outcome::Accepted(job)) => {
                self.store.await_job(lease, &job, first_check, false).await
            }
            Ok(kit::Outcome::InProgress(job)) => {
                self.store.await_job(lease, &job, first_check, true).await
            }
            Err(e) => self.failed(d, lease, &e, d.attempts + 1).await,
        }
    }

    /// A shadow route's turn: read what the target holds and compare it, field by field,
    /// with what the write would make it hold (the connector's `expected`), without writing.
    /// A read that fails transiently is tried again like a write; one that cannot succeed is
    /// recorded as not comparable. Either way the delivery settles as suppressed.
    async fn shadow(
        &self,
        d: &Delivery,
        lease: &Lease,
        connector: &Connector,
    ) -> store::Result<()> {
        if let Some(limiter) = self.limiter(&d.pipeline, &d.target) {
            limiter.until_ready().await;
        }
        let started = self.now();
        let called = connector.fetch(&Self::ctx(d), &d.object, &d.key).await;
        self.record(d, lease, started, &called, |_| "shadow_read")
            .await?;
        let current = match called.result {
            Ok(doc) => doc.map(|text| serde_json::from_str::<Value>(&text).unwrap_or(Value::Null)),
            Err(e) => {
                if let Class::Retry { after } = e.retry_class() {
                    if d.attempts + 1 < d.max_attempts {
                        let wait = retry::backoff(
                            &self.retry_policy(d),
                            (d.attempts + 1).max(1) as u32,
                            after,
                        );
                        return self
                            .store
                            .retry_later(
                                lease,
                                self.now() + wait.as_millis() as i64,
                                &self.masker(&d.pipeline).text(&e.to_string()),
                            )
                            .await;
                    }
                }
                let found = store::ShadowComparison {
                    intended: self
                        .masked(d, serde_json::from_str(&d.document).unwrap_or(Value::Null)),
                    current: None,
                    differing: Vec::new(),
                    error: Some(
                        self.masker(&d.pipeline)
                            .text(&format!("reading the target failed: {e}")),
                    ),
                };
                return self.store.shadow_compared(lease, &found).await;
            }
        };
        let expected = connector.expected(&Self::ctx(d), Self::write_of(d)).await;
        let intended: Value = match &expected.result {
            Ok(doc) => serde_json::from_str(doc).unwrap_or(Value::Null),
            Err(e) => {
                let found = store::ShadowComparison {
                    intended: self
                        .masked(d, serde_json::from_str(&d.document).unwrap_or(Value::Null)),
                    current: current.map(|c| self.masked(d, c)),
                    differing: Vec::new(),
                    error: Some(self.masker(&d.pipeline).text(&format!(
                        "the target connector cannot say what this write would read back as: {e}"
                    ))),
                };
                return self.store.shadow_compared(lease, &found).await;
            }
        };
        let fields = d
            .confirm
            .as_ref()
            .map(|c| c.fields.clone())
            .unwrap_or_default();
        let differing: Vec<String> = match &current {
            None => fields.clone(),
            Some(actual) => fields
                .iter()
                .filter(|f| {
                    intended.get(f.as_str()).unwrap_or(&Value::Null)
                        != actual.get(f.as_str()).unwrap_or(&Value::Null)
                })
                .cloned()
                .collect(),
        };
        let found = store::ShadowComparison {
            intended: self.masked(d, intended),
            current: current.map(|c| self.masked(d, c)),
            differing,
            error: None,
        };
        self.store.shadow_compared(lease, &found).await
    }

    /// A document of the delivery's object, masked as its pipeline masks documents.
    fn masked(&self, d: &Delivery, mut document: Value) -> Value {
        if let Some(plan) = self.plan(&d.pipeline) {
            mask_document(&plan.masking, &d.object, &mut document);
        }
        document
    }

    async fn follow_job(
        &self,
        d: &Delivery,
        lease: &Lease,
        connector: &Connector,
    ) -> store::Result<()> {
        let job = d.job_ref.clone().unwrap_or_default();
        let called = connector.job_status(&Self::ctx(d), &job).await;
        match called.result {
            Ok(kit::JobState::Pending) => {
                let waited = d.first_attempt_ms.map_or(0, |t| self.now() - t);
                if waited > JOB_PATIENCE.as_millis() as i64 {
                    return self
                        .give_up(
                            d,
                            lease,
                            &format!("job {job} still pending after {} s", waited / 1000),
                        )
                        .await;
                }
                self.store
                    .await_job(lease, &job, self.next_check(d, None), d.job_continues)
                    .await
            }
            // A target whose steps report success without showing it (a silent drop) would
            // be asked for the same step again and again: steps are bounded too.
            // Like a read-back that disagrees, that is a write the target dropped: asked again
            // under the same key it only answers with the step it says it did, so a corrective
            // write goes under a derived key (bounded), then the dead letter.
            Ok(kit::JobState::Succeeded(_)) if d.job_continues && d.steps >= MAX_STEPS => {
                self.correct_or_give_up(
                    d,
                    lease,
                    format!(
                        "the write took more than {MAX_STEPS} steps without finishing (the target reports steps done that it does not show)"
                    ),
                )
                .await
            }
            Ok(kit::JobState::Succeeded(_)) if d.job_continues => {
                self.store.continue_write(lease).await
            }
            Ok(kit::JobState::Succeeded(target_ref)) => {
                self.store.start_confirm(lease, &target_ref, self.now()).await
            }
            Ok(kit::JobState::Failed(e)) => {
                self.failed(d, lease, &CallError::Connector(e), d.attempts)
                    .await
            }
            // The job may be fine; asking about it failed (throttled, a timeout). Ask again
            // later, no sooner than the vendor's Retry-After, without writing again.
            Err(e @ CallError::Connector(kit::Error::NotFound(_))) => {
                // The connector does not know the job reference: asking again cannot help.
                self.failed(d, lease, &e, d.attempts).await
            }
            Err(e) => match e.retry_class() {
                Class::Retry { after } => {
                    let waited = d.first_attempt_ms.map_or(0, |t| self.now() - t);
                    if waited > JOB_PATIENCE.as_millis() as i64 {
                        return self.failed(d, lease, &e, d.attempts).await;
                    }
                    self.store
                        .await_job(lease, &job, self.next_check(d, after), d.job_continues)
                        .await
                }
                Class::Permanent => self.failed(d, lease, &e, d.attempts).await,
            },
        }
    }

    async fn confirm(
        &self,
        d: &Delivery,
        lease: &Lease,
        connector: &Connector,
    ) -> store::Result<()> {
        let called = connector.fetch(&Self::ctx(d), &d.object, &d.key).await;
        // What the read-back should show: the document as this target keeps it.
        let expected = connector.expected(&Self::ctx(d), Self::write_of(d)).await;
        let intended: Value = match &expected.result {
            Ok(doc) => serde_json::from_str(doc).unwrap_or(Value::Null),
            // A trap or a timeout may pass: look again later. A refusal will not.
            Err(e) => {
                if let Class::Retry { after } = e.retry_class() {
                    let target_ref = d.target_ref.clone().unwrap_or_else(|| d.key.clone());
                    return self
                        .store
                        .start_confirm(lease, &target_ref, self.next_check(d, after))
                        .await;
                }
                return self
                    .give_up(
                        d,
                        lease,
                        &format!(
                            "the target connector cannot say what this write should read back as: {}",
                            self.masker(&d.pipeline).text(&e.to_string())
                        ),
                    )
                    .await;
            }
        };
        let fields = d
            .confirm
            .as_ref()
            .map(|c| c.fields.clone())
            .unwrap_or_default();
        let mut read_failed: Option<&CallError> = None;
        let mismatch = match &called.result {
            Ok(Some(doc)) => {
                let actual: Value = serde_json::from_str(doc).unwrap_or(Value::Null);
                let differing: Vec<&str> = fields
                    .iter()
                    .filter(|f| {
                        intended.get(f.as_str()).unwrap_or(&Value::Null)
                            != actual.get(f.as_str()).unwrap_or(&Value::Null)
                    })
                    .map(String::as_str)
                    .collect();
                if differing.is_empty() {
                    None
                } else {
                    Some(self.difference(d, &differing, &intended, &actual))
                }
            }
            Ok(None) if d.operation == store::Operation::Delete => None,
            Ok(None) => Some("read-back found no record".to_string()),
            Err(e) => {
                read_failed = Some(e);
                Some(format!("read-back failed: {e}"))
            }
        };
        let target_ref = d.target_ref.clone().unwrap_or_else(|| d.key.clone());
        let Some(reason) = mismatch else {
            let route = RouteLabels {
                pipeline: d.pipeline.clone(),
                route: d.route.clone(),
            };
            if let Some(first) = d.first_attempt_ms {
                self.metrics
                    .confirm_latency
                    .get_or_create(&route)
                    .observe((self.now() - first).max(0) as f64 / 1000.0);
            }
            self.metrics.confirmed.get_or_create(&route).inc();
            return self.store.confirmed(lease, &target_ref).await;
        };
        let deadline = d.confirm_deadline_ms.unwrap_or(0);
        let within = d.confirm.as_ref().map_or(0, |c| c.within_ms);
        match read_failed.map(|e| (e, e.retry_class())) {
            // The record could not be read (throttled, a timeout): that says nothing about
            // the write, so look again, no sooner than Retry-After, for up to a second window;
            // then the failure counts as an attempt like any other (retried under the same
            // key, or dead-lettered once the budget is spent).
            Some((_, Class::Retry { after })) if self.now() < deadline + within => {
                return self
                    .store
                    .start_confirm(lease, &target_ref, self.next_check(d, after))
                    .await;
            }
            Some((e, _)) => return self.failed(d, lease, e, d.attempts + 1).await,
            None if self.now() < deadline => {
                // Not there yet: the target may still be settling. Look again, less often
                // the longer it takes.
                return self
                    .store
                    .start_confirm(lease, &target_ref, self.next_check(d, None))
                    .await;
            }
            None => {}
        }
        // The target said the write succeeded but the record does not show it (a silent
        // validation drop, a sublist that did not change).
        self.correct_or_give_up(d, lease, reason).await
    }

    /// A write the target reported done does not show. Sending it again under the same key
    /// cannot help: the target answers the key with the original, succeeded write. A bounded
    /// number of corrective writes go under keys derived from it, each audited as a repair;
    /// then the delivery is dead-lettered with the difference.
    async fn correct_or_give_up(
        &self,
        d: &Delivery,
        lease: &Lease,
        reason: String,
    ) -> store::Result<()> {
        // The budget is per redrive; the generation goes on, so no key is used twice.
        if d.repairs >= MAX_REPAIRS * (d.redrives + 1) || d.attempts_exhausted() {
            return self
                .give_up(
                    d,
                    lease,
                    &format!(
                        "not confirmed: {reason} after {} corrective write(s) and {} attempt(s)",
                        d.repairs, d.attempts
                    ),
                )
                .await;
        }
        let policy = self.retry_policy(d);
        let wait = retry::backoff(&policy, d.attempts.max(1) as u32, None);
        self.store
            .not_confirmed(lease, self.now() + wait.as_millis() as i64, &reason)
            .await
    }

    /// What a read-back shows against what was written, field by field, masked as the
    /// pipeline masks documents.
    fn difference(
        &self,
        d: &Delivery,
        fields: &[&str],
        intended: &Value,
        actual: &Value,
    ) -> String {
        let (intended, actual) = (
            self.masked(d, intended.clone()),
            self.masked(d, actual.clone()),
        );
        let shown: Vec<String> = fields
            .iter()
            .map(|f| {
                format!(
                    "{f}: wrote {} read {}",
                    intended.get(*f).unwrap_or(&Value::Null),
                    actual.get(*f).unwrap_or(&Value::Null)
                )
            })
            .collect();
        format!("read-back differs in {}", shown.join("; "))
    }

    /// When to look again at a write still settling: paced by [`retry::check_after`] from the
    /// start of its confirmation window.
    fn next_check(&self, d: &Delivery, retry_after: Option<Duration>) -> i64 {
        let now = self.now();
        let within = d.confirm.as_ref().map_or(0, |c| c.within_ms);
        let started = d
            .confirm_deadline_ms
            .map(|deadline| deadline - within)
            .or(d.first_attempt_ms)
            .unwrap_or(now);
        let elapsed = Duration::from_millis((now - started).max(0) as u64);
        let interval = Duration::from_millis(self.confirm_interval(d).max(1) as u64);
        now + retry::check_after(interval, elapsed, retry_after).as_millis() as i64
    }

    async fn record<T>(
        &self,
        d: &Delivery,
        lease: &Lease,
        started: i64,
        called: &Called<T>,
        outcome: impl Fn(&T) -> &'static str,
    ) -> store::Result<()> {
        // The request summary (method, URL without query, status, latency) goes with the
        // attempt, so the trace shows what was said to the vendor.
        let requests: Vec<String> = called
            .exchanges
            .iter()
            .map(|x| {
                format!(
                    "{} {} -> {} ({} ms)",
                    x.method,
                    x.url,
                    x.status
                        .map_or_else(|| x.error.clone().unwrap_or_default(), |s| s.to_string()),
                    x.latency_ms
                )
            })
            .collect();
        let (outcome, error_class, message) = match &called.result {
            Ok(v) => (outcome(v), None, requests.join("; ")),
            Err(e) => (
                "failed",
                Some(e.class_name()),
                format!("{e}; {}", requests.join("; ")),
            ),
        };
        let message = Some(
            self.masker(&d.pipeline)
                .text(message.trim_end_matches("; ")),
        )
        .filter(|m| !m.is_empty());
        self.metrics
            .attempts
            .get_or_create(&AttemptLabels {
                pipeline: d.pipeline.clone(),
                route: d.route.clone(),
                outcome: outcome.to_string(),
                error_class: error_class.unwrap_or("none").to_string(),
            })
            .inc();
        let attempt = Attempt {
            n: d.attempts + 1,
            started_ms: started,
            latency_ms: called.elapsed.as_millis() as i64,
            outcome: outcome.to_string(),
            error_class: error_class.map(str::to_string),
            status_code: called
                .exchanges
                .last()
                .and_then(|x| x.status)
                .map(i32::from),
            message,
        };
        self.store.record_attempt(lease, &attempt).await
    }

    async fn failed(
        &self,
        d: &Delivery,
        lease: &Lease,
        error: &CallError,
        attempts_so_far: i32,
    ) -> store::Result<()> {
        let message = self.masker(&d.pipeline).text(&error.to_string());
        if let CallError::Connector(kit::Error::IdempotencyMismatch(_)) = error {
            return self.key_conflict(d, lease, &message, attempts_so_far).await;
        }
        match error.retry_class() {
            Class::Permanent => {
                self.give_up(d, lease, &format!("{}: {message}", error.class_name()))
                    .await
            }
            Class::Retry { .. } if attempts_so_far - d.steps >= d.max_attempts => {
                self.give_up(
                    d,
                    lease,
                    &format!(
                        "attempts exhausted ({attempts_so_far}); last error {}: {message}",
                        error.class_name()
                    ),
                )
                .await
            }
            Class::Retry { after } => {
                let wait =
                    retry::backoff(&self.retry_policy(d), attempts_so_far.max(1) as u32, after);
                self.store
                    .retry_later(lease, self.now() + wait.as_millis() as i64, &message)
                    .await
            }
        }
    }

    /// The target refused the write's idempotency key as used for a different request. Once
    /// may be a concurrent request under the key still being processed: retried after the
    /// back-off. The second time the key and the write disagree, which no retry can fix and no
    /// new key may paper over (that could apply the business action twice): the write goes to
    /// manual review with its evidence.
    async fn key_conflict(
        &self,
        d: &Delivery,
        lease: &Lease,
        message: &str,
        attempts_so_far: i32,
    ) -> store::Result<()> {
        // `d` was read before this attempt was recorded (which counted the conflict).
        let conflicts = d.key_conflicts + 1;
        if conflicts >= super::review::KEY_CONFLICTS_FOR_REVIEW {
            let change = self.store.change(d.change_id).await?;
            let mut evidence = match &change {
                Some(change) => super::review::evidence(self.plan(&d.pipeline), change),
                None => serde_json::json!({}),
            };
            evidence["key_conflicts"] = conflicts.into();
            evidence["last_error"] = message.into();
            let reason = format!(
                "repeated idempotency conflicts: the target refused key {} as used for a \
                 different request {conflicts} times ({message})",
                d.write_key()
            );
            tracing::warn!(pipeline = %d.pipeline, route = %d.route, delivery = d.id, "sent to review: repeated idempotency conflicts");
            return self.store.send_to_review(lease, &reason, evidence).await;
        }
        if attempts_so_far - d.steps >= d.max_attempts {
            return self
                .give_up(
                    d,
                    lease,
                    &format!("attempts exhausted ({attempts_so_far}); last error: {message}"),
                )
                .await;
        }
        let wait = retry::backoff(&self.retry_policy(d), attempts_so_far.max(1) as u32, None);
        self.store
            .retry_later(lease, self.now() + wait.as_millis() as i64, message)
            .await
    }

    async fn give_up(&self, d: &Delivery, lease: &Lease, reason: &str) -> store::Result<()> {
        let payload = self.masked(d, serde_json::from_str(&d.document).unwrap_or(Value::Null));
        self.metrics
            .dead_lettered
            .get_or_create(&RouteLabels {
                pipeline: d.pipeline.clone(),
                route: d.route.clone(),
            })
            .inc();
        tracing::warn!(pipeline = %d.pipeline, route = %d.route, delivery = d.id, correlation_id = %d.correlation_id, reason, "dead-lettered");
        self.store
            .dead_letter(lease, reason, &payload.to_string())
            .await
            .map(|_| ())
    }

    fn retry_policy(&self, d: &Delivery) -> crate::config::RetryPolicy {
        self.plan(&d.pipeline)
            .and_then(|p| p.route(&d.route))
            .map_or(crate::config::RetryPolicy::DEFAULT, |r| r.retry)
    }

    fn confirm_interval(&self, d: &Delivery) -> i64 {
        self.plan(&d.pipeline)
            .and_then(|p| p.route(&d.route))
            .map_or(500, |r| r.confirm.interval.as_millis() as i64)
    }
}
