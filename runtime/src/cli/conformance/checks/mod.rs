//! The conformance checks: one list of named checks, each a small function that starts its own
//! simulator (so no check's faults or writes reach another), calls the module through the real
//! host, and answers pass, fail (what was sent, what came back) or not applicable (why, from
//! the module's `describe`).

mod apply;
mod describe;
mod errors;
mod list;
mod schemas;
mod webhooks;

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use junction_connector_kit as kit;
use junction_sims::faults::Faults;
use serde_json::Value;

use super::vendors::{Credentials, HookKind, Sample, SampleDoc, StalePolicy, Target, Vendor};
use crate::canonical;
use crate::cli::connector::error_json;
use crate::host::{CallContext, CallError, Connector, Host, Module};

/// What one check concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The module did what the contract says; what was seen.
    Pass(String),
    /// It did not.
    Fail(Failure),
    /// The check does not apply to this module; why (from its `describe`).
    NotApplicable(String),
}

/// A failed check: what the kit sent, what came back, and what the contract wanted.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The call or the input.
    pub sent: String,
    /// The module's (or the simulator's) answer.
    pub got: String,
    /// What should have happened.
    pub wanted: String,
}

fn fail(sent: impl Into<String>, got: impl Into<String>, wanted: impl Into<String>) -> Verdict {
    Verdict::Fail(Failure {
        sent: sent.into(),
        got: got.into(),
        wanted: wanted.into(),
    })
}

/// A check's function.
type Run = for<'a> fn(&'a Kit) -> Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;

/// One named check.
pub struct Check {
    /// Stable id (`webhook.forged`), used by `--check` and in the JSON report.
    pub id: &'static str,
    /// One line about what it proves.
    pub title: &'static str,
    run: Run,
}

impl Check {
    /// Runs the check.
    pub async fn run(&self, kit: &Kit) -> Verdict {
        (self.run)(kit).await
    }
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id)
    }
}

macro_rules! check {
    ($id:literal, $title:literal, $f:path) => {
        Check {
            id: $id,
            title: $title,
            run: |kit| Box::pin($f(kit)),
        }
    };
}

/// Every check, in the order they run and are reported.
pub static CHECKS: &[Check] = &[
    check!(
        "describe.manifest",
        "the manifest is well formed and the vendor setup grants what it declares",
        describe::describe_manifest
    ),
    check!(
        "describe.source",
        "webhooks and polling work as describe declares (unsupported where it says none)",
        describe::describe_source
    ),
    check!(
        "describe.sink",
        "every declared sink object can be read (unsupported where it declares none)",
        describe::describe_sink
    ),
    check!(
        "webhook.forged",
        "a webhook with a wrong signature or credential is refused as invalid-webhook",
        webhooks::webhook_forged
    ),
    check!(
        "webhook.stale",
        "an old webhook is refused, or changes nothing the vendor does not confirm",
        webhooks::webhook_stale
    ),
    check!(
        "apply.idempotent",
        "apply twice under one idempotency key is one business action at the vendor",
        apply::apply_idempotent
    ),
    check!(
        "apply.read-back",
        "fetch after apply returns the document written, as `expected` says the target keeps it",
        apply::apply_read_back
    ),
    check!(
        "errors.rate-limited",
        "a 429 with Retry-After comes back as rate-limited with the wait in milliseconds",
        errors::errors_rate_limited
    ),
    check!(
        "errors.server-error",
        "a 500 and an outage (503) come back as transient",
        errors::errors_server_error
    ),
    check!(
        "errors.timeout",
        "a request that never answers comes back as transient",
        errors::errors_timeout
    ),
    check!(
        "errors.validation",
        "a write the vendor refuses on its merits comes back as rejected",
        errors::errors_validation
    ),
    check!(
        "errors.unauthorized",
        "wrong credentials come back as unauthorized",
        errors::errors_unauthorized
    ),
    check!(
        "list.exactly-once",
        "list pages through every entity exactly once, within the page limit",
        list::list_exactly_once
    ),
    check!(
        "schema.documents",
        "every document the module returns matches its canonical schema and its key",
        schemas::schema_documents
    ),
];

/// What every check runs with: the loaded module and the vendor whose simulator it talks to.
#[derive(Debug)]
pub struct Kit {
    /// The host the module was loaded in.
    pub host: Host,
    /// The module under test.
    pub module: Arc<Module>,
    /// The simulator to start.
    pub vendor: Vendor,
    /// The egress timeout of the instances (the call deadline is a little longer).
    pub timeout: Duration,
    /// Extra settings (`--setting`), over the vendor setup's.
    pub settings: BTreeMap<String, String>,
}

/// A fresh simulator and an instance of the module granted what it needs there.
struct Env {
    target: Box<dyn Target>,
    connector: Connector,
}

impl Kit {
    fn manifest(&self) -> &kit::Manifest {
        &self.module.manifest
    }

    async fn env(&self) -> Result<Env, Verdict> {
        let target = self.vendor.start().await.map_err(|e| {
            fail(
                format!("start the {} simulator", self.vendor),
                format!("{e:#}"),
                "a running simulator",
            )
        })?;
        let connector = self.instance(target.as_ref(), Credentials::Good, self.timeout);
        Ok(Env { target, connector })
    }

    fn instance(
        &self,
        target: &dyn Target,
        credentials: Credentials,
        timeout: Duration,
    ) -> Connector {
        let mut spec = target.spec(&self.manifest().name, credentials, timeout);
        spec.settings.extend(self.settings.clone());
        self.host.instantiate(self.module.clone(), spec)
    }

    /// Why the sink checks do not apply, if they do not.
    fn not_a_sink_of(&self, object: &str) -> Option<Verdict> {
        let m = self.manifest();
        if m.sink_objects.iter().any(|o| o == object) {
            return None;
        }
        Some(Verdict::NotApplicable(if m.sink_objects.is_empty() {
            "describe declares no sink objects (the module writes nothing)".into()
        } else {
            format!(
                "describe declares sink objects [{}]; the {} setup writes `{object}`",
                m.sink_objects.join(", "),
                self.vendor
            )
        }))
    }

    fn no_webhooks(&self) -> Option<Verdict> {
        (!self.manifest().webhooks).then(|| {
            Verdict::NotApplicable(format!(
                "describe declares webhooks = false ({} takes no webhooks)",
                self.manifest().name
            ))
        })
    }
}

fn ctx() -> CallContext {
    CallContext {
        correlation_id: Some("conformance".into()),
        traceparent: None,
    }
}

/// A call's error as the report shows it: its class and fields, as JSON.
fn shown(e: &CallError) -> String {
    error_json(e).to_string()
}

fn short(text: &str) -> String {
    const MAX: usize = 400;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

fn is_class(e: &CallError, class: &str) -> bool {
    e.class_name() == class
}

/// The write of `sample` under `idempotency_key`: its literal document, or the entity read
/// back with `fetch` and edited.
async fn write_of(
    c: &Connector,
    sample: &Sample,
    idempotency_key: &str,
) -> Result<kit::Write, Verdict> {
    let document = match &sample.doc {
        SampleDoc::Literal(doc) => doc.clone(),
        SampleDoc::Edit(edit) => {
            let sent = format!("fetch({}, {})", sample.object, sample.key);
            let mut doc = match c.fetch(&ctx(), &sample.object, &sample.key).await.result {
                Ok(Some(text)) => serde_json::from_str::<Value>(&text)
                    .map_err(|e| fail(&sent, short(&text), format!("a JSON document ({e})")))?,
                Ok(None) => {
                    return Err(fail(
                        sent,
                        "none",
                        "the entity the simulator holds (the kit edits it and writes it back)",
                    ));
                }
                Err(e) => {
                    return Err(fail(
                        sent,
                        shown(&e),
                        "the entity the simulator holds (the kit edits it and writes it back)",
                    ));
                }
            };
            edit(&mut doc);
            doc
        }
    };
    Ok(kit::Write {
        object: sample.object.clone(),
        key: sample.key.clone(),
        operation: kit::Operation::Update,
        document: document.to_string(),
        effective_at: None,
        occurred_at: crate::services::clock::Clock::system().now_ms(),
        idempotency_key: idempotency_key.to_string(),
        correlation_id: "conformance".into(),
    })
}

fn sent_apply(w: &kit::Write) -> String {
    format!(
        "apply({} {}, idempotency-key {}, document {})",
        w.object,
        w.key,
        w.idempotency_key,
        short(&w.document)
    )
}

/// How a driven write ended.
enum Driven {
    /// Applied (or its job succeeded): the target's id.
    Done(String),
    /// The call or the job failed.
    Failed(CallError),
    /// The module broke the contract on the way (its outcome contradicts `describe`, or a job
    /// never settled).
    Broken(String),
}

/// Applies `w` as the runtime does: an `accepted` job is followed until it settles; an
/// `in-progress` one too, then the write is applied again.
async fn drive(c: &Connector, w: &kit::Write, manifest: &kit::Manifest) -> Driven {
    for _ in 0..10 {
        let outcome = match c.apply(&ctx(), w.clone()).await.result {
            Ok(o) => o,
            Err(e) => return Driven::Failed(e),
        };
        let (job, again) = match outcome {
            kit::Outcome::Applied(id) => return Driven::Done(id),
            kit::Outcome::Accepted(job) => (job, false),
            kit::Outcome::InProgress(job) => (job, true),
        };
        if !manifest.async_writes {
            return Driven::Broken(format!(
                "apply answered job {job} although describe declares async-writes = false"
            ));
        }
        let state = loop_job(c, &job).await;
        match state {
            Ok(kit::JobState::Succeeded(id)) if !again => return Driven::Done(id),
            Ok(kit::JobState::Succeeded(_)) => continue,
            Ok(kit::JobState::Failed(e)) => return Driven::Failed(CallError::Connector(e)),
            Ok(kit::JobState::Pending) => {
                return Driven::Broken(format!("job {job} still pending after 30 s"));
            }
            Err(e) => return Driven::Failed(e),
        }
    }
    Driven::Broken("the write was still in progress after 10 steps".into())
}

async fn loop_job(c: &Connector, job: &str) -> Result<kit::JobState, CallError> {
    for _ in 0..300 {
        match c.job_status(&ctx(), job).await.result? {
            kit::JobState::Pending => tokio::time::sleep(Duration::from_millis(100)).await,
            done => return Ok(done),
        }
    }
    Ok(kit::JobState::Pending)
}

/// Applies `w`, which must succeed; a failure is the check's verdict.
async fn applied(
    c: &Connector,
    w: &kit::Write,
    manifest: &kit::Manifest,
) -> Result<String, Verdict> {
    match drive(c, w, manifest).await {
        Driven::Done(id) => Ok(id),
        Driven::Failed(e) => Err(fail(sent_apply(w), shown(&e), "applied")),
        Driven::Broken(why) => Err(fail(sent_apply(w), why, "applied")),
    }
}

/// The read the error checks provoke: `fetch` of the sample's entity for a sink, `poll` of the
/// first source object for a polling source; none otherwise.
enum Probe {
    Fetch(String, String),
    Poll(String),
}

impl Probe {
    fn of(kit: &Kit, env: &Env) -> Option<Probe> {
        let m = kit.manifest();
        if let Some(object) = m.sink_objects.first() {
            let sample = env.target.sample(0);
            let key = if &sample.object == object {
                sample.key
            } else {
                MISSING_KEY.to_string()
            };
            return Some(Probe::Fetch(object.clone(), key));
        }
        if m.polling {
            return m.source_objects.first().map(|o| Probe::Poll(o.clone()));
        }
        None
    }

    fn sent(&self) -> String {
        match self {
            Probe::Fetch(object, key) => format!("fetch({object}, {key})"),
            Probe::Poll(object) => format!("poll({object}, none, 10)"),
        }
    }

    async fn call(&self, c: &Connector) -> Result<(), CallError> {
        match self {
            Probe::Fetch(object, key) => c.fetch(&ctx(), object, key).await.result.map(drop),
            Probe::Poll(object) => c.poll(&ctx(), object, None, 10).await.result.map(drop),
        }
    }
}

fn no_probe(kit: &Kit) -> Verdict {
    Verdict::NotApplicable(format!(
        "describe declares no sink objects and polling = false ({} makes no requests the kit can fault)",
        kit.manifest().name
    ))
}

/// A key no simulator holds (numeric, so vendors with numeric ids take it too).
const MISSING_KEY: &str = "999999991";

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}
