//! Shared helpers: a host with a per-test cache, and loading test components.

use std::sync::OnceLock;

use junction::host::Host;

/// One host for the whole test binary, with a compiled-component cache under `target/`, so
/// every test after the first loads connectors in milliseconds.
pub fn host() -> Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/junction-test-cache");
        Host::new(Some(dir)).expect("the wasmtime engine starts")
    })
    .clone()
}

/// The hostile test component built by `tests/build.rs`.
pub const HOSTILE: &str = env!("JUNCTION_TEST_COMPONENT_HOSTILE");
/// A component whose `describe()` never answers.
pub const SLOW_DESCRIBE: &str = env!("JUNCTION_TEST_COMPONENT_SLOW_DESCRIBE");
/// A sink that says `applied` and writes nothing (the conformance kit's tests).
pub const CARELESS_SINK: &str = env!("JUNCTION_TEST_COMPONENT_CARELESS_SINK");
