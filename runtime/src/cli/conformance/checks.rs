//! The conformance checks: one list of named checks, each a small function that starts its own
//! simulator (so no check's faults or writes reach another), calls the module through the real
//! host, and answers pass, fail (what was sent, what came back) or not applicable (why, from
//! the module's `describe`).

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
    ($id:literal, $title:literal, $f:ident) => {
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
        describe_manifest
    ),
    check!(
        "describe.source",
        "webhooks and polling work as describe declares (unsupported where it says none)",
        describe_source
    ),
    check!(
        "describe.sink",
        "every declared sink object can be read (unsupported where it declares none)",
        describe_sink
    ),
    check!(
        "webhook.forged",
        "a webhook with a wrong signature or credential is refused as invalid-webhook",
        webhook_forged
    ),
    check!(
        "webhook.stale",
        "an old webhook is refused, or changes nothing the vendor does not confirm",
        webhook_stale
    ),
    check!(
        "apply.idempotent",
        "apply twice under one idempotency key is one business action at the vendor",
        apply_idempotent
    ),
    check!(
        "apply.read-back",
        "fetch after apply returns the document written, as `expected` says the target keeps it",
        apply_read_back
    ),
    check!(
        "errors.rate-limited",
        "a 429 with Retry-After comes back as rate-limited with the wait in milliseconds",
        errors_rate_limited
    ),
    check!(
        "errors.server-error",
        "a 500 and an outage (503) come back as transient",
        errors_server_error
    ),
    check!(
        "errors.timeout",
        "a request that never answers comes back as transient",
        errors_timeout
    ),
    check!(
        "errors.validation",
        "a write the vendor refuses on its merits comes back as rejected",
        errors_validation
    ),
    check!(
        "errors.unauthorized",
        "wrong credentials come back as unauthorized",
        errors_unauthorized
    ),
    check!(
        "list.exactly-once",
        "list pages through every entity exactly once, within the page limit",
        list_exactly_once
    ),
    check!(
        "schema.documents",
        "every document the module returns matches its canonical schema and its key",
        schema_documents
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
    crate::services::retry::error_class(e) == class
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
        occurred_at: crate::pipeline::now_ms(),
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

// ---------------------------------------------------------------------------------------------
// describe

async fn describe_manifest(kit: &Kit) -> Verdict {
    let m = kit.manifest();
    let sent = "describe()".to_string();
    if m.name.trim().is_empty() || m.name.chars().any(|c| c.is_control()) {
        return fail(
            sent,
            format!("name {:?}", m.name),
            "a non-empty printable name",
        );
    }
    let semver = m.version.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = semver.split('.').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || p.parse::<u64>().is_err())
    {
        return fail(
            sent,
            format!("version {:?}", m.version),
            "a semantic version (MAJOR.MINOR.PATCH)",
        );
    }
    for (side, objects) in [("source", &m.source_objects), ("sink", &m.sink_objects)] {
        let mut seen = HashSet::new();
        for o in objects {
            if !canonical::OBJECTS.contains(&o.as_str()) {
                return fail(
                    sent,
                    format!("{side} object `{o}`"),
                    format!("canonical objects only ({})", canonical::OBJECTS.join(", ")),
                );
            }
            if !seen.insert(o) {
                return fail(
                    sent,
                    format!("{side} object `{o}` twice"),
                    "each object once",
                );
            }
        }
    }
    if (m.webhooks || m.polling) && m.source_objects.is_empty() {
        return fail(
            sent,
            format!(
                "webhooks = {}, polling = {}, no source objects",
                m.webhooks, m.polling
            ),
            "the source objects the webhooks or polling yield",
        );
    }
    let mut names = HashSet::new();
    for s in &m.settings {
        if !names.insert(&s.name) {
            return fail(
                sent,
                format!("setting `{}` twice", s.name),
                "each setting once",
            );
        }
    }
    // What the vendor setup grants: a declared requirement it does not meet is a module the
    // kit (and an operator following the vendor's documentation) cannot run.
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let granted = env.target.spec(&m.name, Credentials::Good, kit.timeout);
    // With OAuth 2.0 `instance-url`, the host passes the token's instance URL as `base-url`.
    let host_given = |name: &str| {
        name == "base-url"
            && matches!(&granted.egress.auth, crate::host::Auth::OAuth2(s) if s.config().instance_url)
    };
    let missing: Vec<&str> = m
        .settings
        .iter()
        .filter(|s| s.required)
        .map(|s| s.name.as_str())
        .filter(|n| {
            !granted.settings.contains_key(*n) && !kit.settings.contains_key(*n) && !host_given(n)
        })
        .collect();
    if !missing.is_empty() {
        return fail(
            sent,
            format!("required settings [{}]", missing.join(", ")),
            format!(
                "settings the {} setup grants ([{}]) or --setting NAME=VALUE gives",
                kit.vendor,
                granted
                    .settings
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    let secrets: Vec<&str> = m
        .secrets
        .iter()
        .map(String::as_str)
        .filter(|s| !granted.secrets.contains_key(*s))
        .collect();
    if !secrets.is_empty() {
        return fail(
            sent,
            format!("secrets [{}]", secrets.join(", ")),
            format!(
                "secrets the {} setup grants ([{}])",
                kit.vendor,
                granted
                    .secrets
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    Verdict::Pass(format!(
        "{} {}: source [{}] (webhooks {}, polling {}), sink [{}] (async writes {})",
        m.name,
        m.version,
        m.source_objects.join(", "),
        m.webhooks,
        m.polling,
        m.sink_objects.join(", "),
        m.async_writes
    ))
}

async fn describe_source(kit: &Kit) -> Verdict {
    let m = kit.manifest();
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let mut seen = Vec::new();
    // Webhooks.
    let hook = env.target.webhook(HookKind::Genuine);
    if m.webhooks {
        match &hook {
            None => seen.push(format!(
                "the {} simulator sends no webhooks to try",
                kit.vendor
            )),
            Some(hook) => {
                let sent = format!(
                    "receive(a genuine {} webhook, {} bytes)",
                    kit.vendor,
                    hook.body.len()
                );
                match env.connector.receive(&ctx(), hook.clone()).await.result {
                    Ok(changes) => {
                        if let Some(c) = changes
                            .iter()
                            .find(|c| !m.source_objects.contains(&c.object))
                        {
                            return fail(
                                sent,
                                format!("a change of `{}`", c.object),
                                format!(
                                    "changes of the declared source objects [{}]",
                                    m.source_objects.join(", ")
                                ),
                            );
                        }
                        seen.push(format!(
                            "a genuine webhook decoded into {} change(s)",
                            changes.len()
                        ));
                    }
                    Err(e) => {
                        return fail(
                            sent,
                            shown(&e),
                            "the webhook's changes (describe declares webhooks = true)",
                        );
                    }
                }
            }
        }
    } else {
        let hook = hook.unwrap_or_else(|| kit::Webhook {
            method: "POST".into(),
            path: env.target.webhook_path(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"{}".to_vec(),
        });
        let sent = format!("receive({} bytes to {})", hook.body.len(), hook.path);
        match env.connector.receive(&ctx(), hook).await.result {
            Err(e) if is_class(&e, "unsupported") => {
                seen.push("receive answers unsupported".into())
            }
            other => {
                return fail(
                    sent,
                    match other {
                        Ok(changes) => format!("{} change(s)", changes.len()),
                        Err(e) => shown(&e),
                    },
                    "unsupported (describe declares webhooks = false)",
                );
            }
        }
    }
    // Polling.
    if m.polling {
        for object in &m.source_objects {
            let sent = format!("poll({object}, none, 10)");
            match env.connector.poll(&ctx(), object, None, 10).await.result {
                Ok(page) => {
                    if let Some(c) = page.changes.iter().find(|c| &c.object != object) {
                        return fail(
                            sent,
                            format!("a change of `{}`", c.object),
                            format!("changes of `{object}`"),
                        );
                    }
                    if page.changes.len() > 10 {
                        return fail(
                            sent,
                            format!("{} changes", page.changes.len()),
                            "at most the limit, 10",
                        );
                    }
                }
                Err(e) => {
                    return fail(
                        sent,
                        shown(&e),
                        format!("a page of `{object}` changes (describe declares polling = true)"),
                    );
                }
            }
        }
        seen.push(format!(
            "poll answers pages of [{}]",
            m.source_objects.join(", ")
        ));
    } else {
        let object = m
            .source_objects
            .first()
            .or(m.sink_objects.first())
            .cloned()
            .unwrap_or_else(|| "customer".into());
        let sent = format!("poll({object}, none, 10)");
        match env.connector.poll(&ctx(), &object, None, 10).await.result {
            Err(e) if is_class(&e, "unsupported") => seen.push("poll answers unsupported".into()),
            other => {
                return fail(
                    sent,
                    match other {
                        Ok(page) => format!("{} change(s)", page.changes.len()),
                        Err(e) => shown(&e),
                    },
                    "unsupported (describe declares polling = false)",
                );
            }
        }
    }
    Verdict::Pass(seen.join("; "))
}

async fn describe_sink(kit: &Kit) -> Verdict {
    let m = kit.manifest();
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    if m.sink_objects.is_empty() {
        let sample = env.target.sample(0);
        let object = m.source_objects.first().cloned().unwrap_or(sample.object);
        let sent = format!("fetch({object}, {MISSING_KEY})");
        return match env
            .connector
            .fetch(&ctx(), &object, MISSING_KEY)
            .await
            .result
        {
            Err(e) if is_class(&e, "unsupported") => Verdict::Pass(
                "describe declares no sink objects and fetch answers unsupported".into(),
            ),
            Ok(doc) => fail(
                sent,
                format!("{doc:?}"),
                "unsupported (describe declares no sink objects)",
            ),
            Err(e) => fail(
                sent,
                shown(&e),
                "unsupported (describe declares no sink objects)",
            ),
        };
    }
    for object in &m.sink_objects {
        let sent =
            format!("fetch({object}, {MISSING_KEY}) of an entity the simulator does not hold");
        match env
            .connector
            .fetch(&ctx(), object, MISSING_KEY)
            .await
            .result
        {
            Ok(None) => {}
            Ok(Some(doc)) => return fail(sent, short(&doc), "none"),
            Err(e) => {
                return fail(
                    sent,
                    shown(&e),
                    format!("none (describe declares `{object}` a sink object)"),
                );
            }
        }
    }
    Verdict::Pass(format!(
        "fetch of a missing entity answers none for [{}]",
        m.sink_objects.join(", ")
    ))
}

// ---------------------------------------------------------------------------------------------
// webhooks

async fn webhook_forged(kit: &Kit) -> Verdict {
    if let Some(na) = kit.no_webhooks() {
        return na;
    }
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let Some(hook) = env.target.webhook(HookKind::Forged) else {
        return Verdict::NotApplicable(format!("the {} simulator sends no webhooks", kit.vendor));
    };
    let sent = format!(
        "receive(a {} webhook signed or authenticated with a credential that is not the granted secret)",
        kit.vendor
    );
    match env.connector.receive(&ctx(), hook).await.result {
        Err(e) if is_class(&e, "invalid-webhook") => {
            Verdict::Pass(format!("refused: {}", short(&e.to_string())))
        }
        Ok(changes) => fail(
            sent,
            format!("accepted, {} change(s)", changes.len()),
            "invalid-webhook",
        ),
        Err(e) => fail(sent, shown(&e), "invalid-webhook"),
    }
}

async fn webhook_stale(kit: &Kit) -> Verdict {
    if let Some(na) = kit.no_webhooks() {
        return na;
    }
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let Some(hook) = env.target.webhook(HookKind::Stale) else {
        return Verdict::NotApplicable(format!("the {} simulator sends no webhooks", kit.vendor));
    };
    let policy = env.target.stale_policy();
    let answer = env.connector.receive(&ctx(), hook).await.result;
    match policy {
        StalePolicy::Refuse => {
            let sent = format!(
                "receive(a {} webhook correctly signed an hour ago)",
                kit.vendor
            );
            match answer {
                Err(e) if is_class(&e, "invalid-webhook") => {
                    Verdict::Pass(format!("refused: {}", short(&e.to_string())))
                }
                Ok(changes) => fail(
                    sent,
                    format!("accepted, {} change(s)", changes.len()),
                    "invalid-webhook (the signed timestamp is outside the tolerance)",
                ),
                Err(e) => fail(sent, shown(&e), "invalid-webhook"),
            }
        }
        StalePolicy::ConfirmByFetch => {
            let sent = format!(
                "receive(an old {} notification with the right credential, claiming a state the vendor does not hold)",
                kit.vendor
            );
            let changes = match answer {
                Err(e) if is_class(&e, "invalid-webhook") => {
                    return Verdict::Pass(format!("refused: {}", short(&e.to_string())));
                }
                Err(e) => {
                    return fail(
                        sent,
                        shown(&e),
                        "the vendor's current state, or invalid-webhook",
                    );
                }
                Ok(changes) => changes,
            };
            for change in &changes {
                let Some(after) = &change.after else { continue };
                let current = env
                    .connector
                    .fetch(&ctx(), &change.object, &change.key)
                    .await
                    .result;
                let current = match current {
                    Ok(Some(doc)) => doc,
                    Ok(None) => {
                        return fail(
                            sent,
                            format!(
                                "a change of {} {}, which fetch does not find",
                                change.object, change.key
                            ),
                            "no change for an entity the vendor does not hold",
                        );
                    }
                    Err(e) => {
                        return fail(
                            format!("fetch({}, {})", change.object, change.key),
                            shown(&e),
                            "the vendor's current state",
                        );
                    }
                };
                let (a, b) = (parse(after), parse(&current));
                if a != b {
                    return fail(
                        sent,
                        format!("after = {}", short(after)),
                        format!("what the vendor holds now (fetch): {}", short(&current)),
                    );
                }
            }
            Verdict::Pass(format!(
                "{} change(s), each the vendor's current state (the vendor signs no timestamp; the module confirms by reading)",
                changes.len()
            ))
        }
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

// ---------------------------------------------------------------------------------------------
// apply

async fn apply_idempotent(kit: &Kit) -> Verdict {
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let sample = env.target.sample(1);
    if let Some(na) = kit.not_a_sink_of(&sample.object) {
        return na;
    }
    let w = match write_of(&env.connector, &sample, "conformance-idempotent-1").await {
        Ok(w) => w,
        Err(v) => return v,
    };
    let before = env.target.actions(&sample);
    if let Err(v) = applied(&env.connector, &w, kit.manifest()).await {
        return v;
    }
    let once = env.target.actions(&sample);
    if once == before {
        return fail(
            sent_apply(&w),
            format!(
                "applied, but {} did not change ({before})",
                env.target.actions_meaning()
            ),
            "the write performed at the vendor",
        );
    }
    if let Err(v) = applied(&env.connector, &w, kit.manifest()).await {
        return v;
    }
    let twice = env.target.actions(&sample);
    if twice != once {
        return fail(
            format!("the same {} again", sent_apply(&w)),
            format!(
                "{}: {before} before, {once} after the first apply, {twice} after the second",
                env.target.actions_meaning()
            ),
            "no business action for the second apply",
        );
    }
    Verdict::Pass(format!(
        "{}: {before} -> {once} -> {twice}",
        env.target.actions_meaning()
    ))
}

async fn apply_read_back(kit: &Kit) -> Verdict {
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let sample = env.target.sample(2);
    if let Some(na) = kit.not_a_sink_of(&sample.object) {
        return na;
    }
    let w = match write_of(&env.connector, &sample, "conformance-read-back-1").await {
        Ok(w) => w,
        Err(v) => return v,
    };
    if let Err(v) = applied(&env.connector, &w, kit.manifest()).await {
        return v;
    }
    let expected = match env.connector.expected(&ctx(), w.clone()).await.result {
        Ok(doc) => parse(&doc),
        Err(e) => {
            return fail(
                format!("expected({} {})", w.object, w.key),
                shown(&e),
                "the document fetch returns once the write took effect",
            );
        }
    };
    let sent = format!("fetch({}, {}) after {}", w.object, w.key, sent_apply(&w));
    let back = match env.connector.fetch(&ctx(), &w.object, &w.key).await.result {
        Ok(Some(doc)) => parse(&doc),
        Ok(None) => return fail(sent, "none", "the document written"),
        Err(e) => return fail(sent, shown(&e), "the document written"),
    };
    if back == expected {
        return Verdict::Pass(format!(
            "fetch returns what `expected` said ({} fields)",
            back.as_object().map_or(0, |o| o.len())
        ));
    }
    let differing: Vec<String> = match (back.as_object(), expected.as_object()) {
        (Some(b), Some(e)) => b
            .keys()
            .chain(e.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter(|k| b.get(*k) != e.get(*k))
            .map(|k| {
                format!(
                    "{k}: read {} but expected {}",
                    b.get(k).unwrap_or(&Value::Null),
                    e.get(k).unwrap_or(&Value::Null)
                )
            })
            .collect(),
        _ => vec![format!("read {back}, expected {expected}")],
    };
    fail(
        sent,
        short(&differing.join("; ")),
        "the document `expected` says the target keeps",
    )
}

// ---------------------------------------------------------------------------------------------
// errors

/// Runs `probe` with `faults` switched on (after one clean call, so credentials are in hand);
/// answers the error, or the verdict that ends the check.
async fn faulted(
    env: &Env,
    c: &Connector,
    probe: &Probe,
    faults: Faults,
) -> Result<CallError, Verdict> {
    env.target.faults().set(Faults::default());
    if let Err(e) = probe.call(c).await {
        return Err(fail(
            probe.sent(),
            shown(&e),
            "an answer without faults, before they are switched on",
        ));
    }
    env.target.faults().set(faults);
    let answer = probe.call(c).await;
    env.target.faults().set(Faults::default());
    match answer {
        Err(e) => Ok(e),
        Ok(()) => Err(fail(
            probe.sent(),
            "success",
            "an error (the simulator refused the request)",
        )),
    }
}

async fn errors_rate_limited(kit: &Kit) -> Verdict {
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let Some(probe) = Probe::of(kit, &env) else {
        return no_probe(kit);
    };
    let faults = Faults {
        rate_limit_rate: 1.0,
        retry_after_s: 7,
        ..Faults::default()
    };
    let sent = format!(
        "{} while the simulator answers 429 with Retry-After: 7",
        probe.sent()
    );
    let e = match faulted(&env, &env.connector, &probe, faults.clone()).await {
        Ok(e) => e,
        Err(v) => return v,
    };
    let wanted = if env.target.retry_after() {
        "rate-limited with retry-after-ms 7000"
    } else {
        "rate-limited"
    };
    match &e {
        CallError::Connector(kit::Error::RateLimited(ms))
            if !env.target.retry_after() || *ms == Some(7000) => {}
        _ => return fail(sent, shown(&e), wanted),
    }
    // A write refused by throttling writes nothing.
    let sample = env.target.sample(3);
    if kit.not_a_sink_of(&sample.object).is_none() {
        let w = match write_of(&env.connector, &sample, "conformance-throttled-1").await {
            Ok(w) => w,
            Err(v) => return v,
        };
        let before = env.target.actions(&sample);
        let sent = format!(
            "{} while the simulator answers 429 with Retry-After: 7",
            sent_apply(&w)
        );
        // A simulator that answers before it has read the request body closes the connection,
        // and the answer can be lost with it (the client sees the body write fail): that is the
        // network, not the module, so such an attempt is tried again, a few times.
        let mut attempts = Vec::new();
        let mut limited = false;
        for _ in 0..5 {
            env.target.faults().set(faults.clone());
            let answer = drive(&env.connector, &w, kit.manifest()).await;
            env.target.faults().set(Faults::default());
            match answer {
                Driven::Failed(CallError::Connector(kit::Error::RateLimited(ms)))
                    if !env.target.retry_after() || ms == Some(7000) =>
                {
                    limited = true;
                    break;
                }
                Driven::Failed(CallError::Connector(kit::Error::Transient { message, .. }))
                    if message.contains("request body") =>
                {
                    attempts.push(message);
                }
                Driven::Failed(e) => return fail(sent, shown(&e), wanted),
                Driven::Done(id) => return fail(sent, format!("applied ({id})"), wanted),
                Driven::Broken(why) => return fail(sent, why, wanted),
            }
        }
        if !limited {
            return fail(
                sent,
                format!(
                    "the connection closed before the answer could be read, {} times: {}",
                    attempts.len(),
                    attempts.join("; ")
                ),
                wanted,
            );
        }
        let after = env.target.actions(&sample);
        if after != before {
            return fail(
                sent,
                format!("{}: {before} -> {after}", env.target.actions_meaning()),
                "nothing written",
            );
        }
    }
    Verdict::Pass(format!("{wanted}, for reads and writes"))
}

async fn errors_server_error(kit: &Kit) -> Verdict {
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let Some(probe) = Probe::of(kit, &env) else {
        return no_probe(kit);
    };
    let cases = [
        (
            "500",
            Faults {
                error_rate: 1.0,
                ..Faults::default()
            },
        ),
        (
            "503 (an outage)",
            Faults {
                outage: true,
                ..Faults::default()
            },
        ),
    ];
    let mut seen = Vec::new();
    for (what, faults) in cases {
        let e = match faulted(&env, &env.connector, &probe, faults).await {
            Ok(e) => e,
            Err(v) => return v,
        };
        if !is_class(&e, "transient") {
            return fail(
                format!("{} while the simulator answers {what}", probe.sent()),
                shown(&e),
                "transient",
            );
        }
        seen.push(what);
    }
    Verdict::Pass(format!("transient for {}", seen.join(" and ")))
}

async fn errors_timeout(kit: &Kit) -> Verdict {
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let Some(probe) = Probe::of(kit, &env) else {
        return no_probe(kit);
    };
    // A short request deadline, well inside the call's.
    let deadline = Duration::from_secs(1);
    let c = kit.instance(env.target.as_ref(), Credentials::Good, deadline);
    let faults = Faults {
        timeout_rate: 1.0,
        hang_ms: 10_000,
        ..Faults::default()
    };
    let e = match faulted(&env, &c, &probe, faults).await {
        Ok(e) => e,
        Err(v) => return v,
    };
    if is_class(&e, "transient") {
        return Verdict::Pass(format!("transient after the {deadline:?} request deadline"));
    }
    fail(
        format!(
            "{} while the simulator does not answer (request deadline {deadline:?})",
            probe.sent()
        ),
        shown(&e),
        "transient",
    )
}

async fn errors_validation(kit: &Kit) -> Verdict {
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let sample = env.target.invalid();
    if let Some(na) = kit.not_a_sink_of(&sample.object) {
        return na;
    }
    let w = match write_of(&env.connector, &sample, "conformance-invalid-1").await {
        Ok(w) => w,
        Err(v) => return v,
    };
    match drive(&env.connector, &w, kit.manifest()).await {
        Driven::Failed(CallError::Connector(kit::Error::Rejected { message, field })) => {
            Verdict::Pass(format!(
                "rejected{}: {}",
                field.map(|f| format!(" (field {f})")).unwrap_or_default(),
                short(&message)
            ))
        }
        Driven::Failed(e) => fail(
            sent_apply(&w),
            shown(&e),
            "rejected (the vendor refused it on its merits)",
        ),
        Driven::Done(id) => fail(
            sent_apply(&w),
            format!("applied ({id})"),
            "rejected (the vendor refused it on its merits)",
        ),
        Driven::Broken(why) => fail(sent_apply(&w), why, "rejected"),
    }
}

async fn errors_unauthorized(kit: &Kit) -> Verdict {
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let Some(probe) = Probe::of(kit, &env) else {
        return no_probe(kit);
    };
    let c = kit.instance(env.target.as_ref(), Credentials::Wrong, kit.timeout);
    let sent = format!("{} with credentials the simulator refuses", probe.sent());
    match probe.call(&c).await {
        Err(e) if is_class(&e, "unauthorized") => Verdict::Pass("unauthorized".into()),
        Err(e) => fail(sent, shown(&e), "unauthorized"),
        Ok(()) => fail(sent, "success", "unauthorized"),
    }
}

// ---------------------------------------------------------------------------------------------
// list

/// Entities the list check seeds.
const LISTED: usize = 5;
/// Its page size.
const PAGE: u32 = 2;

async fn list_exactly_once(kit: &Kit) -> Verdict {
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let first = env.target.sample(10);
    if let Some(na) = kit.not_a_sink_of(&first.object) {
        return na;
    }
    let object = first.object.clone();
    // Listing is not declared in describe: a module that cannot list says so by answering
    // `unsupported`, which is reported with its own words.
    let sent = format!("list({object}, none, {PAGE})");
    match env.connector.list(&ctx(), &object, None, PAGE).await.result {
        Err(e) if is_class(&e, "unsupported") => {
            return Verdict::NotApplicable(format!(
                "the module answers list with unsupported: {}",
                short(&e.to_string())
            ));
        }
        Err(e) => return fail(sent, shown(&e), "a page"),
        Ok(_) => {}
    }
    let mut keys = Vec::new();
    for n in 0..LISTED {
        let sample = if n == 0 {
            first.clone()
        } else {
            env.target.sample(10 + n)
        };
        if let SampleDoc::Literal(_) = sample.doc {
            let w = match write_of(&env.connector, &sample, &format!("conformance-list-{n}")).await
            {
                Ok(w) => w,
                Err(v) => return v,
            };
            if let Err(v) = applied(&env.connector, &w, kit.manifest()).await {
                return v;
            }
        }
        keys.push(sample.key);
    }
    let (mut seen, mut cursor, mut pages) = (Vec::<String>::new(), None::<String>, 0);
    loop {
        pages += 1;
        let sent = format!(
            "list({object}, {}, {PAGE}) (page {pages})",
            cursor.as_deref().unwrap_or("none")
        );
        let page = match env
            .connector
            .list(&ctx(), &object, cursor.as_deref(), PAGE)
            .await
            .result
        {
            Ok(page) => page,
            Err(e) => return fail(sent, shown(&e), "a page"),
        };
        if page.items.len() > PAGE as usize {
            return fail(
                sent,
                format!("{} items", page.items.len()),
                format!("at most {PAGE}"),
            );
        }
        for item in &page.items {
            if seen.contains(&item.key) {
                return fail(
                    sent,
                    format!("{} again (seen: {})", item.key, seen.join(", ")),
                    "each entity once",
                );
            }
            seen.push(item.key.clone());
        }
        match page.next_cursor {
            Some(next) if Some(&next) == cursor.as_ref() => {
                return fail(
                    sent,
                    format!("next cursor {next}, the cursor it was given"),
                    "a cursor that moves on",
                );
            }
            Some(next) => cursor = Some(next),
            None => break,
        }
        if pages >= 100 {
            return fail(
                sent,
                format!("still more after {pages} pages ({} items)", seen.len()),
                "an end",
            );
        }
    }
    let missing: Vec<&String> = keys.iter().filter(|k| !seen.contains(k)).collect();
    if !missing.is_empty() {
        return fail(
            format!(
                "list({object}) through every page after {LISTED} entities were written or seeded"
            ),
            format!(
                "missing [{}] (listed: {})",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                seen.join(", ")
            ),
            "every entity",
        );
    }
    Verdict::Pass(format!(
        "{} entities in {pages} pages of at most {PAGE}, each once",
        seen.len()
    ))
}

// ---------------------------------------------------------------------------------------------
// schemas

async fn schema_documents(kit: &Kit) -> Verdict {
    let m = kit.manifest();
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    // (where it came from, object, key it was answered for, document)
    let mut docs: Vec<(String, String, Option<String>, String)> = Vec::new();
    let sample = env.target.sample(4);
    if kit.not_a_sink_of(&sample.object).is_none() {
        let w = match write_of(&env.connector, &sample, "conformance-schema-1").await {
            Ok(w) => w,
            Err(v) => return v,
        };
        if let Err(v) = applied(&env.connector, &w, m).await {
            return v;
        }
        match env.connector.fetch(&ctx(), &w.object, &w.key).await.result {
            Ok(Some(doc)) => docs.push((
                format!("fetch({}, {})", w.object, w.key),
                w.object.clone(),
                Some(w.key.clone()),
                doc,
            )),
            Ok(None) => {
                return fail(
                    format!("fetch({}, {}) after apply", w.object, w.key),
                    "none",
                    "the document",
                );
            }
            Err(e) => {
                return fail(
                    format!("fetch({}, {})", w.object, w.key),
                    shown(&e),
                    "a canonical document",
                );
            }
        }
        match env.connector.expected(&ctx(), w.clone()).await.result {
            Ok(doc) => docs.push((
                format!("expected({} {})", w.object, w.key),
                w.object.clone(),
                Some(w.key.clone()),
                doc,
            )),
            Err(e) => {
                return fail(
                    format!("expected({} {})", w.object, w.key),
                    shown(&e),
                    "a canonical document",
                );
            }
        }
        match env.connector.list(&ctx(), &w.object, None, 10).await.result {
            Ok(page) => docs.extend(page.items.into_iter().map(|i| {
                (
                    format!("list({}, none, 10)", w.object),
                    w.object.clone(),
                    Some(i.key),
                    i.document,
                )
            })),
            Err(e) if is_class(&e, "unsupported") => {}
            Err(e) => {
                return fail(
                    format!("list({}, none, 10)", w.object),
                    shown(&e),
                    "canonical documents",
                );
            }
        }
    }
    if m.webhooks
        && let Some(hook) = env.target.webhook(HookKind::Genuine)
    {
        match env.connector.receive(&ctx(), hook).await.result {
            Ok(changes) => {
                for c in changes {
                    for d in [&c.before, &c.after].into_iter().flatten() {
                        docs.push((
                            format!("receive: change {} {}", c.object, c.key),
                            c.object.clone(),
                            Some(c.key.clone()),
                            d.clone(),
                        ));
                    }
                }
            }
            Err(e) => return fail("receive(a genuine webhook)", shown(&e), "canonical changes"),
        }
    }
    if m.polling {
        for object in &m.source_objects {
            match env.connector.poll(&ctx(), object, None, 10).await.result {
                Ok(page) => {
                    for c in page.changes {
                        for d in [&c.before, &c.after].into_iter().flatten() {
                            docs.push((
                                format!("poll({object}): change {}", c.key),
                                c.object.clone(),
                                Some(c.key.clone()),
                                d.clone(),
                            ));
                        }
                    }
                }
                Err(e) => {
                    return fail(
                        format!("poll({object}, none, 10)"),
                        shown(&e),
                        "canonical changes",
                    );
                }
            }
        }
    }
    if docs.is_empty() {
        return Verdict::NotApplicable("the module returned no documents to check (describe declares no sink objects, and no webhook or poll yielded changes)".into());
    }
    for (from, object, key, doc) in &docs {
        if let Err(e) = canonical::validate(object, doc) {
            return fail(
                from.clone(),
                short(doc),
                format!("a {object} document matching its schema: {e}"),
            );
        }
        let id = parse(doc)["id"].clone();
        if let (Some(key), Some(id)) = (key, id.as_str())
            && id != key
        {
            return fail(
                from.clone(),
                format!("a document with id {id}"),
                format!("the id it was answered for, {key}"),
            );
        }
    }
    let kinds: HashSet<&str> = docs.iter().map(|d| d.1.as_str()).collect();
    let mut kinds: Vec<&str> = kinds.into_iter().collect();
    kinds.sort_unstable();
    Verdict::Pass(format!(
        "{} documents ({}) match their schemas and keys",
        docs.len(),
        kinds.join(", ")
    ))
}
