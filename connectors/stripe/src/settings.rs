//! The settings the connector reads from `[connectors.X.settings]`, with their defaults.

use junction_connector_kit::{Error, Host, SettingSpec};

/// One setting: its name, the value used when the pipeline leaves it out, and what it is for.
struct Spec {
    name: &'static str,
    default: &'static str,
    description: &'static str,
}

const BASE_URL: Spec = Spec {
    name: "base-url",
    default: "https://api.stripe.com",
    description: "Where Stripe's API lives (the runtime passes the pipeline's base-url; tests point it at a simulator)",
};
const API_VERSION: Spec = Spec {
    name: "api-version",
    default: "2026-10-28.endive",
    description: "Sent as `Stripe-Version` on every request",
};
const TOLERANCE: Spec = Spec {
    name: "webhook-tolerance-seconds",
    default: "300",
    description: "How old a webhook's signed timestamp may be, in seconds; 0 disables the check",
};
const PRORATION: Spec = Spec {
    name: "proration-behavior",
    default: "create_prorations",
    description: "`proration_behavior` sent with subscription updates: create_prorations, none or always_invoice",
};

const CURRENT_STATE: Spec = Spec {
    name: "current-state",
    default: "fetch",
    description: "Where a subscription or customer change's `after` document comes from: `fetch` reads the object's current state from the API for every event (Stripe's advice for events that arrive out of order; docs/stripe-mapping.md), `event` uses the object the event carries (only for a source with no API access: the newest state may then lose to an older event of the same second)",
};

/// The settings as the manifest declares them.
pub(crate) fn specs() -> Vec<SettingSpec> {
    [BASE_URL, API_VERSION, TOLERANCE, PRORATION, CURRENT_STATE]
        .iter()
        .map(|s| SettingSpec {
            name: s.name.into(),
            description: format!("{} (default `{}`)", s.description, s.default),
            required: false,
            sensitive: false,
        })
        .collect()
}

/// The value of `spec`, or its default when unset or blank.
fn get(host: &dyn Host, spec: &Spec) -> String {
    match host.setting(spec.name) {
        Some(v) if !v.trim().is_empty() => v.trim().to_owned(),
        _ => spec.default.to_owned(),
    }
}

/// A setting the connector cannot work with. The contract has no configuration error, and
/// `unsupported` is the variant that says "this connector cannot do that" without a retry.
fn bad(spec: &Spec, value: &str, expected: &str) -> Error {
    Error::Unsupported(format!(
        "setting `{}` must be {expected}, got `{value}`",
        spec.name
    ))
}

/// The API root without a trailing slash.
pub(crate) fn base_url(host: &dyn Host) -> String {
    get(host, &BASE_URL).trim_end_matches('/').to_owned()
}

/// The `Stripe-Version` to send.
pub(crate) fn api_version(host: &dyn Host) -> String {
    get(host, &API_VERSION)
}

/// The webhook timestamp tolerance in seconds (0: no check).
pub(crate) fn tolerance_secs(host: &dyn Host) -> Result<i64, Error> {
    let value = get(host, &TOLERANCE);
    value
        .parse::<u32>()
        .map(i64::from)
        .map_err(|_| bad(&TOLERANCE, &value, "a whole number of seconds"))
}

/// The `proration_behavior` for subscription updates.
pub(crate) fn proration_behavior(host: &dyn Host) -> Result<String, Error> {
    let value = get(host, &PRORATION);
    match value.as_str() {
        "create_prorations" | "none" | "always_invoice" => Ok(value),
        _ => Err(bad(
            &PRORATION,
            &value,
            "create_prorations, none or always_invoice",
        )),
    }
}

/// Whether `receive` and `poll` read the current state of an event's object from the API
/// (`current-state = "fetch"`, the default) or use the object the event carries (`"event"`).
pub(crate) fn fetch_current_state(host: &dyn Host) -> Result<bool, Error> {
    let value = get(host, &CURRENT_STATE);
    match value.as_str() {
        "fetch" => Ok(true),
        "event" => Ok(false),
        _ => Err(bad(&CURRENT_STATE, &value, "fetch or event")),
    }
}
