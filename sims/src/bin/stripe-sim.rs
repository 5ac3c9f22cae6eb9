//! Runs the Stripe simulator as its own process (for the load harness and out-of-process tests) until
//! Ctrl-C, printing its base URL on stdout.

use std::net::SocketAddr;

use clap::Parser;
use junction_sims::stripe::{DEFAULT_API_VERSION, StripeSim, StripeSimConfig, WebhookEndpoint};

/// A stateful local simulator of the Stripe API.
#[derive(Debug, Parser)]
#[command(name = "stripe-sim")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:12111")]
    listen: SocketAddr,
    /// The secret key clients must send as a Bearer token.
    #[arg(long, default_value = "sk_test_junction")]
    api_key: String,
    /// Where to POST webhook events.
    #[arg(long, requires = "webhook_secret")]
    webhook_url: Option<String>,
    /// The endpoint's signing secret (`whsec_...`).
    #[arg(long, requires = "webhook_url")]
    webhook_secret: Option<String>,
    /// Seed for ids and fault dice.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The account's default API version.
    #[arg(long, default_value = DEFAULT_API_VERSION)]
    api_version: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let webhook = args
        .webhook_url
        .zip(args.webhook_secret)
        .map(|(url, secret)| WebhookEndpoint { url, secret });
    let config = StripeSimConfig {
        api_key: args.api_key,
        listen: args.listen,
        seed: args.seed,
        webhook,
        api_version: args.api_version,
        ..StripeSimConfig::default()
    };
    let sim = StripeSim::start(config).await?;
    println!("{}", sim.base_url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
