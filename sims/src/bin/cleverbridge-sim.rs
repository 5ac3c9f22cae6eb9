//! Runs the Cleverbridge Subscription API simulator as its own process until Ctrl-C, printing
//! its base URL on stdout. Setup (products, customers, subscriptions) goes through `/_sim/`.

use std::io::Write as _;
use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use junction_sims::cleverbridge::{
    CleverbridgeSim, CleverbridgeSimConfig, NotificationAuth, NotificationEndpoint,
};

/// A local Cleverbridge Subscription API simulator.
#[derive(Debug, Parser)]
#[command(name = "cleverbridge-sim")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:12113")]
    listen: SocketAddr,
    /// The API user clients send as HTTP Basic.
    #[arg(long, default_value = "junction-api")]
    user: String,
    #[arg(long, default_value = "sim-password")]
    password: String,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where to POST JSON notifications.
    #[arg(long)]
    notification_url: Option<String>,
    /// Basic credentials sent with notifications, `USER:PASSWORD`.
    #[arg(long, conflicts_with = "notification_header")]
    notification_basic: Option<String>,
    /// A header sent with notifications, `NAME=VALUE` (a shared secret).
    #[arg(long)]
    notification_header: Option<String>,
    /// Keep the simulated clock still unless advanced through `/_sim/clock/advance`.
    #[arg(long)]
    frozen_clock: bool,
    /// Send SubscriptionReminderChargeNotification this many days before each renewal.
    #[arg(long)]
    reminder_days: Option<u32>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let auth = match (&args.notification_basic, &args.notification_header) {
        (Some(basic), _) => {
            let (user, password) = basic
                .split_once(':')
                .context("--notification-basic takes USER:PASSWORD")?;
            NotificationAuth::Basic {
                user: user.to_owned(),
                password: password.to_owned(),
            }
        }
        (None, Some(header)) => {
            let (name, value) = header
                .split_once('=')
                .context("--notification-header takes NAME=VALUE")?;
            NotificationAuth::Header {
                name: name.to_owned(),
                value: value.to_owned(),
            }
        }
        (None, None) => NotificationAuth::None,
    };
    let config = CleverbridgeSimConfig {
        user: args.user,
        password: args.password,
        listen: args.listen,
        seed: args.seed,
        notifications: args
            .notification_url
            .map(|url| NotificationEndpoint { url, auth }),
        start_at: None,
        frozen_clock: args.frozen_clock,
        reminder_days: args.reminder_days,
    };
    let sim = CleverbridgeSim::start(config).await?;
    // The base URL on stdout is the readiness signal for parent processes.
    println!("{}", sim.base_url());
    std::io::stdout().flush()?;
    tokio::signal::ctrl_c().await?;
    drop(sim);
    Ok(())
}
