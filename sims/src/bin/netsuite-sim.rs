//! Runs the NetSuite simulator as its own process (load harness, out-of-process tests) until Ctrl-C.

use std::io::Write as _;
use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use junction_sims::netsuite::{M2mClient, NetSuiteSim, NetSuiteSimConfig};

/// A local NetSuite SuiteTalk REST simulator; prints its base URL, then serves until Ctrl-C.
#[derive(Debug, Parser)]
#[command(name = "netsuite-sim")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:12112")]
    listen: SocketAddr,
    #[arg(long, default_value = "1234567")]
    account: String,
    #[arg(long)]
    consumer_key: Option<String>,
    #[arg(long)]
    consumer_secret: Option<String>,
    /// The TBA token id.
    #[arg(long)]
    token: Option<String>,
    #[arg(long)]
    token_secret: Option<String>,
    /// The OAuth 2.0 bearer token accepted.
    #[arg(long)]
    bearer: Option<String>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Requests in flight at once before 429s.
    #[arg(long)]
    max_concurrent: Option<usize>,
    /// A catalog item for the SuiteBilling plan, `EXTERNAL_ID=NAME` (a Stripe product id and
    /// a display name); repeatable. `POST /_sim/items` adds more while it runs.
    #[arg(long = "item")]
    item: Vec<String>,
    /// OAuth 2.0 machine-to-machine: the integration's client id (with --m2m-certificate-id
    /// and --m2m-public-key, the token endpoint issues tokens to that client).
    #[arg(long, requires_all = ["m2m_certificate_id", "m2m_public_key"])]
    m2m_client_id: Option<String>,
    /// The M2M mapping's certificate id (the client assertion's kid).
    #[arg(long, requires = "m2m_client_id")]
    m2m_certificate_id: Option<String>,
    /// The certificate's public key, a PEM file.
    #[arg(long, requires = "m2m_client_id")]
    m2m_public_key: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let defaults = NetSuiteSimConfig::default();
    let config = NetSuiteSimConfig {
        account: args.account,
        consumer_key: args.consumer_key.unwrap_or(defaults.consumer_key),
        consumer_secret: args.consumer_secret.unwrap_or(defaults.consumer_secret),
        token_id: args.token.unwrap_or(defaults.token_id),
        token_secret: args.token_secret.unwrap_or(defaults.token_secret),
        bearer_token: args.bearer.or(defaults.bearer_token),
        listen: args.listen,
        seed: args.seed,
        max_concurrent: args.max_concurrent,
        custom_fields: Vec::new(),
        m2m: match (
            args.m2m_client_id,
            args.m2m_certificate_id,
            args.m2m_public_key,
        ) {
            (Some(client_id), Some(certificate_id), Some(key)) => Some(M2mClient {
                client_id,
                certificate_id,
                public_key_pem: std::fs::read_to_string(&key)
                    .with_context(|| format!("reading {}", key.display()))?,
            }),
            _ => None,
        },
    };
    let sim = NetSuiteSim::start(config).await?;
    for item in &args.item {
        let (external_id, name) = item.split_once('=').unwrap_or((item, item));
        sim.add_item(external_id, name);
    }
    // The base URL on stdout is the readiness signal for parent processes.
    println!("{}", sim.base_url());
    std::io::stdout().flush()?;
    tokio::signal::ctrl_c().await?;
    drop(sim);
    Ok(())
}
