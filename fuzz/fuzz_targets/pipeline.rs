//! The pipeline parser and validator on arbitrary text: `junction validate` must answer every
//! file with a report (never a panic, a hang or a stack overflow), and the report must be safe
//! to print on the operator's terminal whatever the file holds.
#![no_main]

use std::path::Path;

use junction_config::{ModuleCatalog, ModuleInfo, ModuleRef, SettingInfo, printable};
use junction_connector_kit::{Connector, Manifest};
use junction_connector_netsuite::NetSuite;
use junction_connector_stripe::Stripe;
use libfuzzer_sys::fuzz_target;

/// The built-in connectors as their own `describe` exports declare them (natively built).
struct Builtins;

impl ModuleCatalog for Builtins {
    fn describe(&self, module: &ModuleRef) -> Result<ModuleInfo, String> {
        match module {
            ModuleRef::Builtin(name) if name == "stripe" => Ok(info(Stripe::describe())),
            ModuleRef::Builtin(name) if name == "netsuite" => Ok(info(NetSuite::describe())),
            ModuleRef::Builtin(name) => Err(format!("unknown built-in connector `{name}`")),
            ModuleRef::File(_) => Err("not a WebAssembly component".into()),
        }
    }
}

fn info(m: Manifest) -> ModuleInfo {
    ModuleInfo {
        name: m.name,
        source_objects: m.source_objects,
        sink_objects: m.sink_objects,
        webhooks: m.webhooks,
        polling: m.polling,
        async_writes: m.async_writes,
        future_dated_writes: m.future_dated_writes,
        settings: m
            .settings
            .into_iter()
            .map(|s| SettingInfo {
                name: s.name,
                required: s.required,
                sensitive: s.sensitive,
            })
            .collect(),
        secrets: m.secrets,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A folder that does not exist, so relative module and secret paths resolve to nothing.
    let file = Path::new("/nonexistent/junction-fuzz/pipeline.toml");
    let env = |name: &str| (name == "JUNCTION_FUZZ_SECRET").then(|| "s3cr3t".to_string());
    let report = match junction_config::load_str(file, text, &env, &Builtins) {
        Ok(loaded) => loaded.warnings.to_string(),
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty(), "a refused file says why");
            diagnostics.to_string()
        }
    };
    for c in report.chars() {
        assert!(
            c == '\n' || !printable::needs_escape(c),
            "the report prints {c:?} raw: {report}"
        );
    }
});
