//! Runs the Zendesk Support tickets simulator as its own process until Ctrl-C, printing its
//! base URL on stdout, then the id of the text ticket field created for the connector's
//! `invoice-field` setting on stderr.

use std::io::Write as _;
use std::net::SocketAddr;

use clap::Parser;
use junction_sims::zendesk::{ZendeskSim, ZendeskSimConfig};

/// A local Zendesk Support (tickets) simulator.
#[derive(Debug, Parser)]
#[command(name = "zendesk-sim")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:12115")]
    listen: SocketAddr,
    /// The agent whose API token authenticates (`EMAIL/token` : `TOKEN` as HTTP Basic).
    #[arg(long, default_value = "junction@example.com")]
    email: String,
    #[arg(long, default_value = "sim-zendesk-api-token")]
    api_token: String,
    /// Requests per minute the account may make.
    #[arg(long, default_value_t = 700)]
    rate_limit: u32,
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
    let sim = ZendeskSim::start(ZendeskSimConfig {
        email: args.email,
        api_token: args.api_token,
        listen: args.listen,
        seed: args.seed,
        rate_limit_per_minute: args.rate_limit,
    })
    .await?;
    let field = sim.add_ticket_field("Junction invoice", "textarea");
    // The base URL on stdout is the readiness signal for parent processes.
    println!("{}", sim.base_url());
    std::io::stdout().flush()?;
    eprintln!("invoice-field = \"{field}\"");
    tokio::signal::ctrl_c().await?;
    drop(sim);
    Ok(())
}
