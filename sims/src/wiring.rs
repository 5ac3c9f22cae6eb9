//! The shipped pipelines wired to the simulators: the pipeline text with its vendor URLs
//! pointed at local simulators, and the simulated accounts and secrets that go with them. Used
//! by `junction demo` and `junction campaign`, the integration tests and the load harness.

use crate::netsuite::{M2mClient, NetSuiteSimConfig, setup};

/// Where the example pipeline is shipped (`pipelines/`), for messages and file names.
pub const EXAMPLE_PIPELINE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../pipelines/stripe-to-netsuite.toml"
);

/// The example pipeline's text, built in, so a `junction` binary runs the demo from anywhere.
pub const EXAMPLE_PIPELINE_TEXT: &str = include_str!("../../pipelines/stripe-to-netsuite.toml");

/// The NetSuite integration's client id in the simulated account.
pub const NS_CLIENT_ID: &str = "sim-m2m-client-id";
/// The certificate id of the simulated account's M2M mapping.
pub const NS_CERTIFICATE_ID: &str = "sim-certificate-id";
/// The mapping's certificate key pair (test keys, `tests/keys/`).
const NS_PRIVATE_KEY: &str = include_str!("../../tests/keys/netsuite-m2m-rsa.pem");
const NS_PUBLIC_KEY: &str = include_str!("../../tests/keys/netsuite-m2m-rsa.pub.pem");

/// The NetSuite simulator's account as the example pipeline expects it: the SuiteBilling
/// setup of [`setup`] and an OAuth 2.0 M2M mapping for [`NS_CLIENT_ID`]; the only bearer
/// tokens it accepts are the ones its token endpoint issued.
pub fn netsuite_sim_config() -> NetSuiteSimConfig {
    NetSuiteSimConfig {
        bearer_token: None,
        m2m: Some(M2mClient {
            client_id: NS_CLIENT_ID.into(),
            certificate_id: NS_CERTIFICATE_ID.into(),
            public_key_pem: NS_PUBLIC_KEY.into(),
        }),
        ..NetSuiteSimConfig::default()
    }
}

/// The Stripe webhook signing secret the demo and tests use.
pub const WEBHOOK_SECRET: &str = "whsec_rig_secret_0123456789";

/// The example pipeline with Stripe and NetSuite replaced by simulators on loopback (which
/// must be allowed explicitly).
pub fn pipeline_for_simulators(stripe_url: &str, netsuite_url: &str) -> std::io::Result<String> {
    let text = EXAMPLE_PIPELINE_TEXT
        .replace(
            "base-url = \"https://api.stripe.com\"",
            &format!("base-url = \"{stripe_url}\""),
        )
        .replace(
            "allow-hosts = [\"api.stripe.com\"]",
            "allow-hosts = [\"127.0.0.1\"]",
        );
    if !text.contains(stripe_url) {
        return Err(std::io::Error::other(
            "the example pipeline's base URLs moved; update junction_sims::wiring",
        ));
    }
    netsuite_for_simulator(&text, netsuite_url)
}

/// A shipped pipeline's `[connectors.netsuite]` pointed at the NetSuite simulator: its base
/// URL and allow-list, the simulated account's SuiteBilling setup and M2M certificate id.
pub fn netsuite_for_simulator(text: &str, netsuite_url: &str) -> std::io::Result<String> {
    let text = text
        .replace(
            "base-url = \"https://1234567.suitetalk.api.netsuite.com\"",
            &format!("base-url = \"{netsuite_url}\""),
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
        )
        .replace(
            "certificate-id = \"your-certificate-id\"",
            &format!("certificate-id = \"{NS_CERTIFICATE_ID}\""),
        );
    let setup_applied = text.contains(&format!("price-book = \"{}\"", setup::PRICE_BOOK))
        && text.contains(NS_CERTIFICATE_ID);
    if !(text.contains(netsuite_url) && setup_applied) {
        return Err(std::io::Error::other(
            "the pipeline's NetSuite connector moved; update junction_sims::wiring",
        ));
    }
    Ok(text)
}

/// The environment variables [`simulator_env`] answers, for child processes.
pub const SIMULATOR_ENV: &[&str] = &[
    "STRIPE_API_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "NS_CLIENT_ID",
    "NS_M2M_PRIVATE_KEY",
    "JUNCTION_MASKING_KEY",
];

/// The masking key the demo and the tests give the example pipelines (a real installation
/// keeps its own with its other secrets).
pub const MASKING_KEY: &str = "demo-masking-key-not-for-production";

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
        "NS_CLIENT_ID" => ns.m2m.as_ref().map(|m| m.client_id.clone()),
        "NS_M2M_PRIVATE_KEY" => Some(NS_PRIVATE_KEY.into()),
        "JUNCTION_MASKING_KEY" => Some(MASKING_KEY.into()),
        _ => None,
    }
}
