//! A fixed module catalog and environment, so tests need neither wasmtime nor real variables.

use super::super::{ModuleCatalog, ModuleInfo, ModuleRef, SettingInfo};

/// Describes `builtin:stripe` and `builtin:netsuite` as their real manifests do
/// (`junction connector inspect builtin:NAME`).
pub(super) struct FakeCatalog;

impl ModuleCatalog for FakeCatalog {
    fn describe(&self, module: &ModuleRef) -> Result<ModuleInfo, String> {
        match module {
            ModuleRef::Builtin(name) if name == "stripe" => Ok(stripe()),
            ModuleRef::Builtin(name) if name == "netsuite" => Ok(netsuite()),
            ModuleRef::Builtin(name) if name == "hostile" => Ok(hostile()),
            ModuleRef::Builtin(name) => Err(format!(
                "unknown built-in connector `{name}` (built in: netsuite, stripe)"
            )),
            ModuleRef::File(_) => Err("not a WebAssembly component".into()),
        }
    }
}

pub(super) fn stripe() -> ModuleInfo {
    ModuleInfo {
        name: "stripe".into(),
        source_objects: vec!["customer".into(), "subscription".into(), "invoice".into()],
        sink_objects: vec!["subscription".into(), "customer".into()],
        webhooks: true,
        polling: true,
        async_writes: false,
        future_dated_writes: true,
        settings: vec![
            optional("base-url"),
            optional("api-version"),
            optional("webhook-tolerance-seconds"),
            optional("proration-behavior"),
            optional("current-state"),
        ],
        secrets: vec!["webhook".into()],
    }
}

pub(super) fn netsuite() -> ModuleInfo {
    ModuleInfo {
        name: "netsuite".into(),
        source_objects: vec![],
        sink_objects: vec!["customer".into(), "subscription".into()],
        webhooks: false,
        polling: false,
        async_writes: true,
        future_dated_writes: true,
        settings: vec![
            required("account"),
            optional("base-url"),
            optional("write-mode"),
            required("subscription-plan"),
            required("price-book"),
            required("initial-term"),
            required("billing-schedule"),
        ],
        secrets: vec![],
    }
}

/// A manifest written to attack the terminal that shows `validate`'s report: a name that
/// clears the screen and starts a forged line, a setting name with a colour escape.
pub(super) fn hostile() -> ModuleInfo {
    ModuleInfo {
        name: "evil\n error: forged\x1b[2J\u{9b}1m".into(),
        source_objects: vec!["customer".into()],
        sink_objects: vec![],
        webhooks: true,
        polling: false,
        async_writes: false,
        future_dated_writes: false,
        settings: vec![required("token\x1b[31m\r")],
        secrets: vec![],
    }
}

fn required(name: &str) -> SettingInfo {
    SettingInfo {
        name: name.into(),
        required: true,
        sensitive: false,
    }
}

fn optional(name: &str) -> SettingInfo {
    SettingInfo {
        name: name.into(),
        required: false,
        sensitive: false,
    }
}

/// The variables the example pipeline and the golden files use; anything else is unset.
/// A test key pair's private half (`tests/keys/`), as the environment would hold it.
pub(super) const NS_PRIVATE_KEY: &str = include_str!("../../../../tests/keys/netsuite-m2m-rsa.pem");

pub(super) fn env(name: &str) -> Option<String> {
    let value = match name {
        "STRIPE_API_KEY" => "sk_test_fake_api_key",
        "STRIPE_WEBHOOK_SECRET" => "whsec_fake",
        "NS_CONSUMER_KEY" => "ns-consumer-key",
        "NS_CONSUMER_SECRET" => "ns-consumer-secret",
        "NS_TOKEN_ID" => "ns-token-id",
        "NS_TOKEN_SECRET" => "ns-token-secret",
        "NS_CLIENT_ID" => "ns-client-id",
        "NS_M2M_PRIVATE_KEY" => NS_PRIVATE_KEY,
        "SF_CLIENT_ID" => "sf-client-id",
        "SF_CLIENT_SECRET" => "sf-client-secret",
        "JUNCTION_MASKING_KEY" => "fake-masking-key-0123456789",
        "EMPTY_VAR" => "",
        "SHORT_MASKING_KEY" => "too-short",
        _ => return None,
    };
    Some(value.to_owned())
}
