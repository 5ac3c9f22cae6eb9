//! A connector whose `describe()` never answers: it waits on the monotonic clock for an hour,
//! a host call that epochs cannot interrupt. `inspect`, `validate` and start-up must give up on
//! it at their deadline instead of hanging.

use junction_connector_kit::{Connector, Manifest};

/// The slow connector.
pub struct SlowDescribe;

impl Connector for SlowDescribe {
    fn describe() -> Manifest {
        #[cfg(target_family = "wasm")]
        junction_connector_kit::guest::bindings::wasi::clocks::monotonic_clock::subscribe_duration(
            3_600_000_000_000,
        )
        .block();
        Manifest {
            name: "slow-describe".into(),
            version: "0.0.0".into(),
            ..Manifest::default()
        }
    }
}

junction_connector_kit::export_connector!(SlowDescribe);
