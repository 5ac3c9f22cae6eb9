//! The settings the connector reads from `[connectors.X.settings]`, with their defaults.

use junction_connector_kit::settings::Setting;
use junction_connector_kit::{Error, Host, SettingSpec};

const BASE_URL: Setting = Setting {
    name: "base-url",
    default: "https://api.stripe.com",
    description: "Where Stripe's API lives (the runtime passes the pipeline's base-url; tests point it at a simulator)",
};
const API_VERSION: Setting = Setting {
    name: "api-version",
    default: "2026-10-28.endive",
    description: "Sent as `Stripe-Version` on every request",
};
const TOLERANCE: Setting = Setting {
    name: "webhook-tolerance-seconds",
    default: "300",
    description: "How old a webhook's signed timestamp may be, in seconds; 0 disables the check",
};
const PRORATION: Setting = Setting {
    name: "proration-behavior",
    default: "create_prorations",
    description: "`proration_behavior` sent with subscription updates: create_prorations, none or always_invoice",
};

const CURRENT_STATE: Setting = Setting {
    name: "current-state",
    default: "fetch",
    description: "Where a subscription or customer change's `after` document comes from: `fetch` reads the object's current state from the API for every event (Stripe's advice for events that arrive out of order; docs/stripe-mapping.md), `event` uses the object the event carries (only for a source with no API access: the newest state may then lose to an older event of the same second)",
};

/// The settings as the manifest declares them.
pub(crate) fn specs() -> Vec<SettingSpec> {
    [BASE_URL, API_VERSION, TOLERANCE, PRORATION, CURRENT_STATE]
        .iter()
        .map(Setting::spec)
        .collect()
}

/// The API root without a trailing slash.
pub(crate) fn base_url(host: &dyn Host) -> String {
    BASE_URL.get(host).trim_end_matches('/').to_owned()
}

/// The `Stripe-Version` to send.
pub(crate) fn api_version(host: &dyn Host) -> String {
    API_VERSION.get(host)
}

/// The webhook timestamp tolerance in seconds (0: no check).
pub(crate) fn tolerance_secs(host: &dyn Host) -> Result<i64, Error> {
    let value = TOLERANCE.get(host);
    value
        .parse::<u32>()
        .map(i64::from)
        .map_err(|_| TOLERANCE.invalid(&value, "a whole number of seconds"))
}

/// The `proration_behavior` for subscription updates.
pub(crate) fn proration_behavior(host: &dyn Host) -> Result<String, Error> {
    let value = PRORATION.get(host);
    match value.as_str() {
        "create_prorations" | "none" | "always_invoice" => Ok(value),
        _ => Err(PRORATION.invalid(&value, "create_prorations, none or always_invoice")),
    }
}

/// Whether `receive` and `poll` read the current state of an event's object from the API
/// (`current-state = "fetch"`, the default) or use the object the event carries (`"event"`).
pub(crate) fn fetch_current_state(host: &dyn Host) -> Result<bool, Error> {
    let value = CURRENT_STATE.get(host);
    match value.as_str() {
        "fetch" => Ok(true),
        "event" => Ok(false),
        _ => Err(CURRENT_STATE.invalid(&value, "fetch or event")),
    }
}
