//! Runs the Salesforce simulator as its own process (load harness, out-of-process tests) until Ctrl-C.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use junction_sims::salesforce::{SalesforceSim, SalesforceSimConfig, Schema};

/// A local Salesforce REST API simulator; prints its base URL (also the token host and the
/// `instance_url`), then serves until Ctrl-C.
#[derive(Debug, Parser)]
#[command(name = "salesforce-sim")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:12113")]
    listen: SocketAddr,
    /// The connected app's consumer key.
    #[arg(long)]
    client_id: Option<String>,
    /// The consumer secret.
    #[arg(long)]
    client_secret: Option<String>,
    /// An API version served, `62.0`; repeatable (default: 62.0).
    #[arg(long = "api-version")]
    api_versions: Vec<String>,
    /// Access token lifetime in seconds.
    #[arg(long, default_value_t = 7200)]
    session_timeout_s: u64,
    /// API requests allowed per rolling 24 hours.
    #[arg(long, default_value_t = 100_000)]
    daily_api_limit: u64,
    /// The org's schema as JSON (`{"objects": [...]}`); the built-in billing org when absent.
    #[arg(long)]
    schema: Option<std::path::PathBuf>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let defaults = SalesforceSimConfig::default();
    let schema = match &args.schema {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str::<Schema>(&text)
                .with_context(|| format!("parsing the schema in {}", path.display()))?
        }
        None => defaults.schema.clone(),
    };
    let config = SalesforceSimConfig {
        listen: args.listen,
        client_id: args.client_id.unwrap_or(defaults.client_id),
        client_secret: args.client_secret.unwrap_or(defaults.client_secret),
        api_versions: if args.api_versions.is_empty() {
            defaults.api_versions
        } else {
            args.api_versions
        },
        session_timeout: Duration::from_secs(args.session_timeout_s),
        daily_api_limit: args.daily_api_limit,
        schema,
        seed: args.seed,
        ..SalesforceSimConfig::default()
    };
    let sim = SalesforceSim::start(config).await?;
    // The base URL on stdout is the readiness signal for parent processes.
    println!("{}", sim.base_url());
    std::io::stdout().flush()?;
    tokio::signal::ctrl_c().await?;
    drop(sim);
    Ok(())
}
