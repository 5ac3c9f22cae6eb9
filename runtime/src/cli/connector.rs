//! `junction connector inspect|receive|call|test|new|build`: load a module and exercise one export,
//! printing JSON, so a connector author can test against any server (a simulator) without a
//! pipeline; `test` runs the conformance kit (`cli::conformance`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use junction_connector_kit as kit;
use serde_json::{Value, json};

use crate::config::{self, printable};
use crate::host::{
    Auth, CallContext, CallError, Called, Connector, EgressPolicy, Host, InstanceSpec, Limits,
    Origin, cache, oauth1::Tba,
};
use crate::services::clock::Clock;
use crate::services::secret::Secret;

/// Connector subcommands.
#[derive(Debug, Subcommand)]
pub enum ConnectorCommand {
    /// Print a module's manifest as JSON.
    Inspect {
        /// `builtin:NAME` or a path to a component (.wasm).
        module: String,
    },
    /// Verify and decode a webhook body; print the canonical changes as JSON.
    Receive {
        /// `builtin:NAME` or a path to a component.
        module: String,
        /// The raw request body.
        #[arg(long)]
        body: PathBuf,
        /// A request header, `Name: value` (repeatable).
        #[arg(long = "header", value_name = "NAME: VALUE")]
        headers: Vec<String>,
        /// The request path.
        #[arg(long, default_value = "/")]
        path: String,
        #[command(flatten)]
        grants: Grants,
    },
    /// Start a connector in Rust, TypeScript or Python: a folder that builds and passes the
    /// conformance kit (`--sim zendesk`) as generated, with a README on building and loading.
    New {
        /// The connector's name (lower case, digits, dashes); also the folder's.
        name: String,
        /// The language.
        #[arg(long, value_enum)]
        lang: super::build::Lang,
        /// The folder to create it in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Build a connector folder (Cargo.toml, package.json or app.py) into a component; prints
    /// its path.
    Build {
        /// The connector's folder.
        dir: PathBuf,
        /// Where to write the component.
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Run the conformance kit: every contract check against the vendor's simulator, started
    /// in-process. Exit code 0 when no check failed, 1 when one did, 2 when it cannot run.
    Test(super::conformance::TestArgs),
    /// Call a sink export (fetch, list, apply, job-status) against a server.
    Call {
        /// `builtin:NAME` or a path to a component.
        module: String,
        /// Which export to call.
        export: Export,
        /// Canonical object kind (fetch, list, apply).
        #[arg(long)]
        object: Option<String>,
        /// Entity key (fetch, apply).
        #[arg(long)]
        key: Option<String>,
        /// Canonical document to write, a JSON file (apply).
        #[arg(long)]
        document: Option<PathBuf>,
        /// Operation for apply.
        #[arg(long, value_enum, default_value = "update")]
        operation: Op,
        /// Idempotency key for apply (default: a fresh one).
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Effective date for apply, Unix milliseconds.
        #[arg(long)]
        effective_at: Option<i64>,
        /// Job reference (job-status).
        #[arg(long)]
        job: Option<String>,
        /// Paging cursor (list).
        #[arg(long)]
        cursor: Option<String>,
        /// Page size (list).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[command(flatten)]
        grants: Grants,
    },
}

/// Sink exports callable from the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Export {
    /// Read one entity.
    Fetch,
    /// List entities.
    List,
    /// Write one entity.
    Apply,
    /// Ask for an async job's state.
    JobStatus,
}

/// Operations for `apply`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Op {
    /// Create.
    Create,
    /// Update.
    Update,
    /// Delete.
    Delete,
    /// Snapshot.
    Snapshot,
}

/// What the instance is granted, as a pipeline would grant it.
#[derive(Debug, Args)]
pub struct Grants {
    /// Take the grants, credentials (OAuth 2.0 included), settings and limits of connector
    /// `--connector` in this pipeline file, exactly as `junction run` would; the module given
    /// must be that connector's. (`--file`, as for `junction holds` and `junction reconcile`,
    /// works too.)
    #[arg(long, visible_alias = "file", value_name = "FILE", requires = "connector", conflicts_with_all = ["base_url", "allow_hosts", "settings", "secrets", "bearer", "tba"])]
    pipeline: Option<PathBuf>,
    /// The connector's name in `--pipeline`.
    #[arg(long, value_name = "NAME", requires = "pipeline")]
    connector: Option<String>,
    /// Base URL of the vendor API (passed to the connector as the `base-url` setting; its host
    /// is allowed).
    #[arg(long)]
    base_url: Option<String>,
    /// An extra allowed host (repeatable). Loopback addresses must be named literally.
    #[arg(long = "allow-host")]
    allow_hosts: Vec<String>,
    /// A setting, `NAME=VALUE` (repeatable).
    #[arg(long = "setting", value_name = "NAME=VALUE")]
    settings: Vec<String>,
    /// A secret usable through the host's HMAC, `NAME=env:VAR` or `NAME=file:PATH` (repeatable).
    #[arg(long = "secret", value_name = "NAME=REF")]
    secrets: Vec<String>,
    /// Bearer token, `env:VAR` or `file:PATH`.
    #[arg(long, value_name = "REF")]
    bearer: Option<String>,
    /// OAuth 1.0 TBA: `REALM,CONSUMER_KEY_REF,CONSUMER_SECRET_REF,TOKEN_REF,TOKEN_SECRET_REF`.
    #[arg(long, value_name = "REALM,CK,CS,TOKEN,TS")]
    tba: Option<String>,
    /// Per-call deadline.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
    /// Directory of the compiled-component cache (default: the user cache directory).
    #[arg(long, env = "JUNCTION_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

/// Largest `--body` or `--document` file read; webhooks and documents are far smaller.
const MAX_INPUT_FILE: u64 = 16 << 20;

fn parse_duration(s: &str) -> Result<Duration, String> {
    config::parse_duration(s).map_err(|e| e.to_string())
}

/// Runs one connector subcommand.
pub async fn run(cmd: ConnectorCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ConnectorCommand::Test(args) => super::conformance::run(args).await,
        ConnectorCommand::New { name, lang, dir } => {
            let made = super::build::new(&name, lang, &dir)?;
            println!("{}", made.display());
            Ok(ExitCode::SUCCESS)
        }
        ConnectorCommand::Build { dir, out } => super::build::build_command(&dir, out.as_deref()),
        ConnectorCommand::Inspect { module } => {
            let host = Host::new(cache::default_dir())?;
            let module = host.load(&module, None).await?;
            print_json(&manifest_json(&module.manifest, &module.hash));
            Ok(ExitCode::SUCCESS)
        }
        ConnectorCommand::Receive {
            module,
            body,
            headers,
            path,
            grants,
        } => {
            let connector = instance(&module, &grants).await?;
            let body = config::read_limited(&body, MAX_INPUT_FILE)
                .with_context(|| format!("reading the body {}", body.display()))?;
            let headers = headers
                .iter()
                .map(|h| {
                    let (name, value) = h
                        .split_once(':')
                        .with_context(|| format!("header `{h}` is not `Name: value`"))?;
                    Ok((name.trim().to_ascii_lowercase(), value.trim().to_string()))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let hook = kit::Webhook {
                method: "POST".into(),
                path,
                headers,
                body,
            };
            let called = connector.receive(&CallContext::default(), hook).await;
            Ok(report(called, |changes| {
                Value::Array(changes.iter().map(change_json).collect())
            }))
        }
        ConnectorCommand::Call {
            module,
            export,
            object,
            key,
            document,
            operation,
            idempotency_key,
            effective_at,
            job,
            cursor,
            limit,
            grants,
        } => {
            let connector = instance(&module, &grants).await?;
            let ctx = CallContext::default();
            let need = |v: Option<String>, flag: &str| {
                v.with_context(|| format!("`{}` needs --{flag}", export_name(export)))
            };
            let code = match export {
                Export::Fetch => {
                    let (object, key) = (need(object, "object")?, need(key, "key")?);
                    report(connector.fetch(&ctx, &object, &key).await, |doc| {
                        doc.as_deref().map_or(Value::Null, parse_doc)
                    })
                }
                Export::List => {
                    let object = need(object, "object")?;
                    report(
                        connector
                            .list(&ctx, &object, cursor.as_deref(), limit)
                            .await,
                        |page| {
                            json!({
                                "items": page.items.iter().map(|d| json!({"key": d.key, "document": parse_doc(&d.document)})).collect::<Vec<_>>(),
                                "next_cursor": page.next_cursor,
                            })
                        },
                    )
                }
                Export::Apply => {
                    let (object, key) = (need(object, "object")?, need(key, "key")?);
                    let path = document.context("`apply` needs --document")?;
                    let document = config::read_text_limited(&path, MAX_INPUT_FILE)
                        .with_context(|| format!("reading {}", path.display()))?;
                    let write = kit::Write {
                        object,
                        key,
                        operation: match operation {
                            Op::Create => kit::Operation::Create,
                            Op::Update => kit::Operation::Update,
                            Op::Delete => kit::Operation::Delete,
                            Op::Snapshot => kit::Operation::Snapshot,
                        },
                        document,
                        effective_at,
                        occurred_at: Clock::system().now_ms(),
                        idempotency_key: idempotency_key.unwrap_or_else(|| {
                            format!("cli-{}", hex::encode(rand::random::<[u8; 12]>()))
                        }),
                        correlation_id: "cli".into(),
                    };
                    report(
                        connector.apply(&ctx, write).await,
                        |outcome| match outcome {
                            kit::Outcome::Applied(r) => json!({"applied": r}),
                            kit::Outcome::Accepted(j) => json!({"accepted": j}),
                            kit::Outcome::InProgress(j) => json!({"in_progress": j}),
                        },
                    )
                }
                Export::JobStatus => {
                    let job = need(job, "job")?;
                    report(
                        connector.job_status(&ctx, &job).await,
                        |state| match state {
                            kit::JobState::Pending => json!("pending"),
                            kit::JobState::Succeeded(r) => json!({"succeeded": r}),
                            kit::JobState::Failed(e) => {
                                json!({"failed": error_json(&CallError::Connector(e.clone()))})
                            }
                        },
                    )
                }
            };
            Ok(code)
        }
    }
}

fn export_name(e: Export) -> &'static str {
    match e {
        Export::Fetch => "fetch",
        Export::List => "list",
        Export::Apply => "apply",
        Export::JobStatus => "job-status",
    }
}

async fn instance(module: &str, grants: &Grants) -> anyhow::Result<Connector> {
    let host = Host::new(grants.cache_dir.clone().or_else(cache::default_dir))?;
    if let (Some(file), Some(name)) = (&grants.pipeline, &grants.connector) {
        return pipeline_instance(&host, module, file, name).await;
    }
    let module = host.load(module, None).await?;
    let mut spec = InstanceSpec {
        name: module.manifest.name.clone(),
        ..InstanceSpec::default()
    };
    let mut allow = grants.allow_hosts.clone();
    if let Some(url) = &grants.base_url {
        let uri: http::Uri = url
            .parse()
            .with_context(|| format!("--base-url `{url}` is not a URL"))?;
        allow.push(uri.host().context("--base-url has no host")?.to_string());
        spec.settings
            .insert("base-url".into(), url.trim_end_matches('/').to_string());
    }
    for s in &grants.settings {
        let (k, v) = s
            .split_once('=')
            .with_context(|| format!("--setting `{s}` is not NAME=VALUE"))?;
        spec.settings.insert(k.to_string(), v.to_string());
    }
    for s in &grants.secrets {
        let (k, r) = s
            .split_once('=')
            .with_context(|| format!("--secret `{s}` is not NAME=env:VAR"))?;
        spec.secrets.insert(k.to_string(), resolve(r)?);
    }
    let auth = match (&grants.bearer, &grants.tba) {
        (Some(_), Some(_)) => bail!("give --bearer or --tba, not both"),
        (Some(r), None) => Auth::Bearer(resolve(r)?),
        (None, Some(t)) => {
            let parts: Vec<&str> = t.split(',').map(str::trim).collect();
            let [realm, ck, cs, tk, ts] = parts[..] else {
                bail!(
                    "--tba takes REALM,CK,CS,TOKEN,TS (5 values), got {}",
                    parts.len()
                )
            };
            Auth::OAuth1(Tba {
                realm: realm.into(),
                consumer_key: resolve(ck)?,
                consumer_secret: resolve(cs)?,
                token: resolve(tk)?,
                token_secret: resolve(ts)?,
            })
        }
        (None, None) => Auth::None,
    };
    let credential_origins = spec
        .settings
        .get("base-url")
        .and_then(|url| Origin::of_url(url).ok())
        .into_iter()
        .collect();
    spec.egress = EgressPolicy {
        allow_hosts: allow,
        auth,
        credential_origins,
        timeout: grants.timeout,
    };
    spec.limits = Limits {
        call_timeout: grants.timeout + Duration::from_secs(1),
        ..Limits::default()
    };
    Ok(host.instantiate(module, spec))
}

/// The instance `junction run` would make of connector `name` in `file`: one place builds it
/// (`pipeline::instances::instance_spec`), for the engine and for this command alike.
async fn pipeline_instance(
    host: &Host,
    module: &str,
    file: &Path,
    name: &str,
) -> anyhow::Result<Connector> {
    let catalog = crate::pipeline::instances::HostCatalog::new(host.clone());
    let loaded = config::load(
        &[file.to_path_buf()],
        &|var| std::env::var(var).ok(),
        &catalog,
    )
    .map_err(|d| anyhow::anyhow!("{} does not load:\n{d}", file.display()))?;
    let plan = &loaded.plans[0];
    let Some(connector) = plan.connectors.get(name) else {
        let names: Vec<&str> = plan.connectors.keys().map(String::as_str).collect();
        bail!(
            "{} has no connector `{name}` (it has: {})",
            file.display(),
            names.join(", ")
        );
    };
    let written = connector.module.to_string();
    let given = match module.strip_prefix("builtin:") {
        Some(_) => module.to_string(),
        None => std::fs::canonicalize(module)
            .map_or_else(|_| module.to_string(), |p| p.display().to_string()),
    };
    let declared = match &connector.module {
        config::ModuleRef::Builtin(_) => written.clone(),
        config::ModuleRef::File(path) => std::fs::canonicalize(path)
            .map_or_else(|_| written.clone(), |p| p.display().to_string()),
    };
    if given != declared {
        bail!(
            "connector `{name}` in {} runs {written}, not {module}",
            file.display()
        );
    }
    let loaded_module = catalog
        .module(&connector.module)
        .context("the pipeline's module was not loaded")?;
    let spec = crate::pipeline::instances::instance_spec(connector, &Clock::system())
        .map_err(|e| anyhow::anyhow!("connector `{name}`: {e}"))?;
    Ok(host.instantiate(loaded_module, spec))
}

/// Resolves `env:VAR` or `file:PATH`.
fn resolve(reference: &str) -> anyhow::Result<Secret> {
    if let Some(var) = reference.strip_prefix("env:") {
        return std::env::var(var)
            .map(Secret::new)
            .with_context(|| format!("environment variable `{var}` is not set"));
    }
    if let Some(path) = reference.strip_prefix("file:") {
        return config::read_text_limited(Path::new(path), config::MAX_SECRET_FILE)
            .map(|s| Secret::new(s.trim_end()))
            .with_context(|| format!("reading secret file {path}"));
    }
    bail!("secret reference `{reference}` must be env:VAR or file:PATH")
}

fn report<T>(called: Called<T>, ok: impl FnOnce(&T) -> Value) -> ExitCode {
    for ex in &called.exchanges {
        // The URL and the error are the guest's and the vendor's words.
        eprintln!(
            "{} {} -> {} ({} ms){}",
            printable(&ex.method),
            printable(&ex.url),
            ex.status.map_or("-".into(), |s| s.to_string()),
            ex.latency_ms,
            ex.error
                .as_deref()
                .map(|e| format!(" {}", printable(e)))
                .unwrap_or_default()
        );
    }
    match &called.result {
        Ok(value) => {
            print_json(&ok(value));
            ExitCode::SUCCESS
        }
        Err(e) => {
            print_json(&json!({ "error": error_json(e) }));
            eprintln!("error: {}", printable(&e.to_string()));
            ExitCode::from(2)
        }
    }
}

/// A typed error as JSON: its retry class name (the same one metrics and audit rows use) as
/// `class`, its fields beside it.
pub(crate) fn error_json(e: &CallError) -> Value {
    let mut v = match e {
        CallError::Connector(k) => match k {
            kit::Error::Transient {
                message,
                retry_after_ms,
            } => {
                json!({"message": message, "retry_after_ms": retry_after_ms})
            }
            kit::Error::RateLimited(ms) => json!({"retry_after_ms": ms}),
            kit::Error::Rejected { message, field } => {
                json!({"message": message, "field": field})
            }
            kit::Error::Unauthorized(m)
            | kit::Error::NotFound(m)
            | kit::Error::Conflict(m)
            | kit::Error::IdempotencyMismatch(m)
            | kit::Error::Unsupported(m)
            | kit::Error::InvalidWebhook(m) => json!({"message": m}),
        },
        CallError::Timeout(d) => json!({"deadline_ms": d.as_millis() as u64}),
        CallError::MemoryLimit(b) => json!({"limit_bytes": b}),
        CallError::LogFlood => json!({}),
        CallError::Trap(m) | CallError::Host(m) => json!({"message": m}),
        CallError::EgressDenied { url, rule } => {
            json!({"url": url, "rule": rule})
        }
        CallError::ForbiddenHeader(h) => json!({"header": h}),
        CallError::InvalidDocument { direction, detail } => {
            json!({"direction": direction, "message": detail})
        }
    };
    v["class"] = Value::from(e.class_name());
    v
}

fn parse_doc(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

fn change_json(c: &kit::Change) -> Value {
    json!({
        "source_event_id": c.source_event_id,
        "object": c.object,
        "key": c.key,
        "operation": format!("{:?}", c.operation).to_lowercase(),
        "before": c.before.as_deref().map(parse_doc),
        "after": c.after.as_deref().map(parse_doc),
        "occurred_at": c.occurred_at,
        "effective_at": c.effective_at,
        "source_version": c.source_version,
        "metadata": c.metadata.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
    })
}

fn manifest_json(m: &kit::Manifest, hash: &str) -> Value {
    json!({
        "name": m.name,
        "version": m.version,
        "description": m.description,
        "sha256": hash,
        "source_objects": m.source_objects,
        "sink_objects": m.sink_objects,
        "hosts": m.hosts,
        "settings": m.settings.iter().map(|s| json!({"name": s.name, "description": s.description, "required": s.required, "sensitive": s.sensitive})).collect::<Vec<_>>(),
        "secrets": m.secrets,
        "webhooks": m.webhooks,
        "polling": m.polling,
        "async_writes": m.async_writes,
        "future_dated_writes": m.future_dated_writes,
    })
}

/// Prints `v` as pretty JSON that is safe on a terminal: manifests, documents and errors come
/// from the module.
fn print_json(v: &Value) {
    let text = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    println!("{}", config::printable_json(&text));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_json_carries_no_terminal_controls() {
        let manifest = json!({
            "name": "evil\u{1b}[2J\nerror: forged",
            "description": "\u{9b}31m red \u{202e}desrever\u{7f}",
        });
        let text =
            config::printable_json(&serde_json::to_string_pretty(&manifest).unwrap_or_default());
        for raw in ['\u{1b}', '\u{9b}', '\u{202e}', '\u{7f}'] {
            assert!(!text.contains(raw), "{raw:?} in {text:?}");
        }
        assert!(text.contains("\\u009b31m"), "{text}");
        assert!(!text.contains("\nerror: forged"), "{text}");
        let back: Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back, manifest, "still the same JSON");
    }
}
