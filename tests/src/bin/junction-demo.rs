//! Junction's main job on its embedded defaults, on any machine: the Stripe and NetSuite
//! simulators start on loopback, `pipelines/stripe-to-netsuite.toml` runs against them with a
//! SQLite store, a few real subscription changes happen at "Stripe", and the demo shows what
//! reached "NetSuite" and the audit story of one subscription. `--serve` keeps everything
//! running afterwards so you can poke at it (`junction trace`, /metrics).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use junction::host::{Host, cache};
use junction::pipeline::instances::HostCatalog;
use junction::pipeline::{Engine, Options};
use junction::store::Store;
use junction_tests::demo::{
    EXAMPLE_PIPELINE, WEBHOOK_SECRET, pipeline_for_simulators, simulator_env,
};
use junction_tests::sim::netsuite::NetSuiteSim;
use junction_tests::sim::stripe::{StripeSim, StripeSimConfig, WebhookEndpoint};

/// Run the Stripe -> NetSuite pipeline against local simulators.
#[derive(Debug, Parser)]
struct Args {
    /// Where Junction listens for webhooks.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The store.
    #[arg(long, default_value = "sqlite://junction-demo.db")]
    store: String,
    /// Keep running after the demo (Ctrl-C to stop).
    #[arg(long)]
    serve: bool,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("JUNCTION_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .try_init();
    let netsuite = NetSuiteSim::start(junction_tests::demo::netsuite_sim_config()).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let url = format!("http://{}", listener.local_addr()?);
    let stripe = StripeSim::start(StripeSimConfig {
        webhook: Some(WebhookEndpoint {
            url: format!("{url}/hooks/stripe"),
            secret: WEBHOOK_SECRET.into(),
        }),
        ..StripeSimConfig::default()
    })
    .await?;
    println!("stripe simulator   {}", stripe.base_url());
    println!("netsuite simulator {}", netsuite.base_url());

    let host = Host::new(cache::default_dir())?;
    let text = pipeline_for_simulators(&stripe.base_url(), netsuite.base_url())?;
    let catalog = HostCatalog::new(host.clone());
    let loaded = junction::config::load_str(
        std::path::Path::new(EXAMPLE_PIPELINE),
        &text,
        &simulator_env(netsuite.config()),
        &catalog,
    )
    .map_err(|d| anyhow::anyhow!("the example pipeline does not load:\n{d}"))?;
    let store = Store::open(&args.store).await?;
    let engine = Engine::new(loaded.plans, store, &host, Options::default()).await?;
    let shutdown = Arc::new(tokio::sync::Notify::new());
    let _workers = engine.spawn_workers(shutdown.clone());
    let app = junction::server::app(engine.clone());
    tokio::spawn(junction::server::serve(
        listener,
        app,
        junction::server::ListenLimits::default(),
        std::future::pending(),
    ));
    println!(
        "junction           {url} (webhooks at /hooks/stripe, store {})\n",
        args.store
    );

    let basic = stripe.create_price(2000, "usd", "month")?;
    let product = stripe
        .product_of(&basic)
        .ok_or_else(|| anyhow::anyhow!("the simulator's price has no product"))?;
    let pro = stripe.create_price_of(&product, 5000, "usd", "month")?;
    // The NetSuite account's catalog has a service sale item for the product, with the Stripe
    // product id as its External ID: an operator's one-time setup (docs/netsuite-mapping.md).
    netsuite.add_item(&product, "Cloud");
    let mut subs = Vec::new();
    for (email, name) in [
        ("ada@example.com", "Ada Ltd"),
        ("grace@example.com", "Grace plc"),
        ("linus@example.com", "Linus AB"),
    ] {
        let cus = stripe.create_customer(email, name)?;
        subs.push(stripe.create_subscription(&cus, &[(&basic, 1)])?);
    }
    wait_drained(&stripe, &engine).await?;
    stripe.update_subscription_price(&subs[0], &pro)?;
    stripe.cancel_at_period_end(&subs[1])?;
    stripe.cancel_now(&subs[2])?;
    wait_drained(&stripe, &engine).await?;

    println!(
        "{:<32} {:<10} {:>10} {:<22} {:<22}",
        "subscription (at NetSuite)", "status", "billing", "started", "billing stops"
    );
    let ns = engine
        .connector(&engine.plans()[0].name, "netsuite")
        .context("netsuite connector")?;
    for sub in &subs {
        let doc = ns
            .fetch(&Default::default(), "subscription", sub)
            .await
            .result?
            .context("not at NetSuite")?;
        let d: serde_json::Value = serde_json::from_str(&doc)?;
        println!(
            "{:<32} {:<10} {:>10} {:<22} {:<22}",
            sub,
            d["status"].as_str().unwrap_or("-"),
            // What NetSuite bills from now on (a subscription that ended bills nothing).
            match d["items"][0]["unit_amount"].as_u64() {
                Some(amount) => format!(
                    "{amount} {} x{}",
                    d["currency"].as_str().unwrap_or(""),
                    d["items"][0]["quantity"]
                ),
                None => "-".into(),
            },
            d["started_at"].as_str().unwrap_or("-"),
            d["billing_stop_at"].as_str().unwrap_or("-")
        );
    }
    println!(
        "\nthe story of {} (`junction trace {} --store {}`):",
        subs[0], subs[0], args.store
    );
    for e in engine.store.trace(&subs[0]).await? {
        println!(
            "  #{:<4} {:<16} {}",
            e.seq,
            e.kind.as_str(),
            e.detail
                .get("route")
                .or(e.detail.get("source"))
                .and_then(|v| v.as_str())
                .unwrap_or("")
        );
    }
    if args.serve {
        println!("\nserving; Ctrl-C to stop");
        tokio::signal::ctrl_c().await?;
    }
    shutdown.notify_waiters();
    Ok(())
}

async fn wait_drained(stripe: &StripeSim, engine: &Engine) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut quiet = 0;
    while quiet < 3 {
        let s = stripe.stats();
        let st = engine.store.stats(engine.clock().now_ms()).await?;
        let busy = st.unplanned + st.pending + st.in_flight + st.awaiting_job + st.confirming;
        quiet = if busy == 0 && s.webhooks_delivered + s.webhooks_abandoned >= s.events {
            quiet + 1
        } else {
            0
        };
        if Instant::now() > deadline {
            bail!("the pipeline did not settle within 60 s: {st:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
