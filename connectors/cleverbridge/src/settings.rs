//! The settings the connector reads from `[connectors.X.settings]`, with their defaults.

use junction_connector_kit::settings::Setting;
use junction_connector_kit::{Error, Host, SettingSpec};

const BASE_URL: Setting = Setting {
    name: "base-url",
    default: "https://rest.cleverbridge.com",
    description: "Where Cleverbridge's REST API lives (the runtime passes the pipeline's base-url; tests point it at a simulator)",
};
const PRICE_BASIS: Setting = Setting {
    name: "price-basis",
    default: "gross",
    description: "Whether canonical `unit_amount` is the gross (VAT included) or net price: `gross` or `net`. It must match the products' Taxes setting in Cleverbridge, which refuses a `CustomerPrice` whose `IsGross` differs",
};
const PREVIEW_ONLY: Setting = Setting {
    name: "preview-only",
    default: "false",
    description: "`true` while the route is in shadow: price and item changes are sent with `GetCustomerPricePreviewOnly` (Cleverbridge answers the prices and changes nothing) and deactivation, reinstatement and renewal-type changes are logged, not sent",
};
const GENERATE_MAIL: Setting = Setting {
    name: "generate-mail",
    default: "false",
    description: "`GenerateMail` sent with item changes: whether Cleverbridge e-mails the customer",
};
const WEBHOOK_HEADER: Setting = Setting {
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
    .map(Setting::spec)
    .collect()
}

fn flag(host: &dyn Host, spec: &Setting) -> Result<bool, Error> {
    let value = spec.get(host);
    match value.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(spec.invalid(&value, "true or false")),
    }
}

/// The API root without a trailing slash.
pub(crate) fn base_url(host: &dyn Host) -> String {
    BASE_URL.get(host).trim_end_matches('/').to_owned()
}

/// Whether prices are gross (`true`) or net.
pub(crate) fn gross(host: &dyn Host) -> Result<bool, Error> {
    let value = PRICE_BASIS.get(host);
    match value.as_str() {
        "gross" => Ok(true),
        "net" => Ok(false),
        _ => Err(PRICE_BASIS.invalid(&value, "gross or net")),
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
    WEBHOOK_HEADER.get(host).to_ascii_lowercase()
}
