//! Running the example pipeline against the simulators: the pipeline text with its vendor URLs
//! pointed at local simulators, and the secrets the simulators accept. Used by the demo
//! binary, the integration tests and the load harness.

use crate::sim::netsuite::{NetSuiteSimConfig, setup};

/// The example pipeline shipped in `pipelines/`.
pub const EXAMPLE_PIPELINE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../pipelines/stripe-to-netsuite.toml"
);

/// The Stripe webhook signing secret the demo and tests use.
pub const WEBHOOK_SECRET: &str = "whsec_rig_secret_0123456789";

/// The example pipeline with Stripe and NetSuite replaced by simulators on loopback (which
/// must be allowed explicitly).
pub fn pipeline_for_simulators(stripe_url: &str, netsuite_url: &str) -> std::io::Result<String> {
    let text = std::fs::read_to_string(EXAMPLE_PIPELINE)?;
    let text = text
        .replace(
            "base-url = \"https://api.stripe.com\"",
            &format!("base-url = \"{stripe_url}\""),
        )
        .replace(
            "base-url = \"https://1234567.suitetalk.api.netsuite.com\"",
            &format!("base-url = \"{netsuite_url}\""),
        )
        .replace(
            "allow-hosts = [\"api.stripe.com\"]",
            "allow-hosts = [\"127.0.0.1\"]",
        )
        .replace(
            "allow-hosts = [\"1234567.suitetalk.api.netsuite.com\"]",
            "allow-hosts = [\"127.0.0.1\"]",
        )
        .replace(
            "subscription-plan = \"101\"",
            &format!("subscription-plan = \"{}\"", setup::SUBSCRIPTION_PLAN),
        )
        .replace(
            "price-book = \"102\"",
            &format!("price-book = \"{}\"", setup::PRICE_BOOK),
        )
        .replace(
            "initial-term = \"-102\"",
            &format!("initial-term = \"{}\"", setup::INITIAL_TERM),
        )
        .replace(
            "billing-schedule = \"1\"",
            &format!("billing-schedule = \"{}\"", setup::BILLING_SCHEDULE),
        );
    let setup_applied = text.contains(&format!("price-book = \"{}\"", setup::PRICE_BOOK));
    if !(text.contains(stripe_url) && text.contains(netsuite_url) && setup_applied) {
        return Err(std::io::Error::other(
            "the example pipeline's base URLs moved; update junction_tests::demo",
        ));
    }
    Ok(text)
}

/// The environment the example pipeline's `env:` secrets resolve from, for the simulators.
pub fn simulator_env(ns: &NetSuiteSimConfig) -> impl Fn(&str) -> Option<String> + use<> {
    let ns = ns.clone();
    move |name: &str| match name {
        "STRIPE_API_KEY" => Some("sk_test_junction".into()),
        "STRIPE_WEBHOOK_SECRET" => Some(WEBHOOK_SECRET.into()),
        "NS_CONSUMER_KEY" => Some(ns.consumer_key.clone()),
        "NS_CONSUMER_SECRET" => Some(ns.consumer_secret.clone()),
        "NS_TOKEN_ID" => Some(ns.token_id.clone()),
        "NS_TOKEN_SECRET" => Some(ns.token_secret.clone()),
        _ => None,
    }
}
