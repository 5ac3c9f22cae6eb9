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
    default: "https://rest.cleverbridge.com",
    description: "Where Cleverbridge's REST API lives (the runtime passes the pipeline's base-url; tests point it at a simulator)",
};
const PRICE_BASIS: Spec = Spec {
    name: "price-basis",
    default: "gross",
    description: "Whether canonical `unit_amount` is the gross (VAT included) or net price: `gross` or `net`. It must match the products' Taxes setting in Cleverbridge, which refuses a `CustomerPrice` whose `IsGross` differs",
};
const PREVIEW_ONLY: Spec = Spec {
    name: "preview-only",
    default: "false",
    description: "`true` while the route is in shadow: price and item changes are sent with `GetCustomerPricePreviewOnly` (Cleverbridge answers the prices and changes nothing) and deactivation, reinstatement and renewal-type changes are logged, not sent",
};
const GENERATE_MAIL: Spec = Spec {
    name: "generate-mail",
    default: "false",
    description: "`GenerateMail` sent with item changes: whether Cleverbridge e-mails the customer",
};
const WEBHOOK_HEADER: Spec = Spec {
    name: "webhook-header",
    default: "authorization",
    description: "Where notifications carry their credential: `authorization` (HTTP Basic; the password is checked) or the name of a header holding it",
};

/// The settings as the manifest declares them.
pub(crate) fn specs() -> Vec<SettingSpec> {
    [
        BASE_URL,
        PRICE_BASIS,
        PREVIEW_ONLY,
        GENERATE_MAIL,
        WEBHOOK_HEADER,
    ]
    .iter()
    .map(|s| SettingSpec {
        name: s.name.into(),
        description: format!("{} (default `{}`)", s.description, s.default),
        required: false,
        sensitive: false,
    })
    .collect()
}

fn get(host: &dyn Host, spec: &Spec) -> String {
    match host.setting(spec.name) {
        Some(v) if !v.trim().is_empty() => v.trim().to_owned(),
        _ => spec.default.to_owned(),
    }
}

/// A setting the connector cannot work with: `unsupported` says "cannot do that" without a
/// retry (the contract has no configuration error).
fn bad(spec: &Spec, value: &str, expected: &str) -> Error {
    Error::Unsupported(format!(
        "setting `{}` must be {expected}, got `{value}`",
        spec.name
    ))
}

fn flag(host: &dyn Host, spec: &Spec) -> Result<bool, Error> {
    let value = get(host, spec);
    match value.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(spec, &value, "true or false")),
    }
}

/// The API root without a trailing slash.
pub(crate) fn base_url(host: &dyn Host) -> String {
    get(host, &BASE_URL).trim_end_matches('/').to_owned()
}

/// Whether prices are gross (`true`) or net.
pub(crate) fn gross(host: &dyn Host) -> Result<bool, Error> {
    let value = get(host, &PRICE_BASIS);
    match value.as_str() {
        "gross" => Ok(true),
        "net" => Ok(false),
        _ => Err(bad(&PRICE_BASIS, &value, "gross or net")),
    }
}

/// Whether writes are previews only.
pub(crate) fn preview_only(host: &dyn Host) -> Result<bool, Error> {
    flag(host, &PREVIEW_ONLY)
}

/// `GenerateMail` for item changes.
pub(crate) fn generate_mail(host: &dyn Host) -> Result<bool, Error> {
    flag(host, &GENERATE_MAIL)
}

/// The header notifications carry their credential in (lower case).
pub(crate) fn webhook_header(host: &dyn Host) -> String {
    get(host, &WEBHOOK_HEADER).to_ascii_lowercase()
}
