//! What every Junction connector written in Rust shares.
//!
//! A connector implements [`Connector`] with plain Rust types ([`model`]) and talks to the
//! outside world only through a [`Host`]: outbound HTTP, settings, the clock, logging and HMAC
//! signing with secrets the connector never sees. [`export_connector!`] turns the
//! implementation into a `junction:connector@0.2.0` component when built for `wasm32-wasip2`;
//! natively the same code runs against any `Host` (tests, benchmarks).
//!
//! ```text
//! struct Stripe;
//! impl junction_connector_kit::Connector for Stripe { /* ... */ }
//! junction_connector_kit::export_connector!(Stripe);
//! ```

pub mod form;
pub mod http;
pub mod model;
pub mod settings;
pub mod testing;
pub mod time;

#[cfg(target_family = "wasm")]
#[doc(hidden)]
pub mod guest;

pub use http::{HttpRequest, HttpResponse};
pub use model::*;

/// What the runtime offers a connector. In a component these are the contract's imports; in
/// native tests and benchmarks any implementation will do.
pub trait Host {
    /// Writes a log line (the runtime masks it and tags it with the connector and change).
    fn log(&self, level: Level, message: &str);
    /// The current time, milliseconds since the Unix epoch, UTC.
    fn now_ms(&self) -> i64;
    /// A value from the pipeline's `[connectors.X.settings]`.
    fn setting(&self, name: &str) -> Option<String>;
    /// HMAC-SHA256 of `data` keyed by the named secret held by the runtime.
    fn hmac_sha256(&self, secret: &str, data: &[u8]) -> Result<Vec<u8>, String>;
    /// Sends one HTTP request. The runtime checks it against the allow-list, adds credentials
    /// and applies a timeout; a refusal or network failure is an `Err` with the reason.
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, String>;
}

/// A connector: one vendor's API behind Junction's contract. Every method but `describe` has
/// a default that answers [`Error::Unsupported`], so a source-only or sink-only connector
/// implements just its side.
pub trait Connector {
    /// What the connector is and needs. Must not do I/O.
    fn describe() -> Manifest;

    /// Verifies and decodes a webhook into canonical changes.
    fn receive(host: &dyn Host, hook: Webhook) -> Result<Vec<Change>, Error> {
        let _ = (host, hook);
        Err(Error::Unsupported(
            "this connector does not receive webhooks".into(),
        ))
    }

    /// Reads changes of `object` after `cursor`.
    fn poll(
        host: &dyn Host,
        object: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<ChangePage, Error> {
        let _ = (host, cursor, limit);
        Err(Error::Unsupported(format!(
            "this connector does not poll `{object}`"
        )))
    }

    /// Performs one write.
    fn apply(host: &dyn Host, write: Write) -> Result<Outcome, Error> {
        let _ = host;
        Err(Error::Unsupported(format!(
            "this connector does not write `{}`",
            write.object
        )))
    }

    /// Reports the state of an asynchronous job.
    fn job_status(host: &dyn Host, job: &str) -> Result<JobState, Error> {
        let _ = (host, job);
        Err(Error::Unsupported(
            "this connector has no asynchronous jobs".into(),
        ))
    }

    /// Reads one entity as a canonical document.
    fn fetch(host: &dyn Host, object: &str, key: &str) -> Result<Option<String>, Error> {
        let _ = (host, key);
        Err(Error::Unsupported(format!(
            "this connector does not read `{object}`"
        )))
    }

    /// The document `fetch` returns once `write` has taken effect: the write's document as
    /// this target keeps it. Must not do I/O. The default, for targets that keep documents
    /// exactly, is the write's own document.
    fn expected(host: &dyn Host, write: &Write) -> Result<String, Error> {
        let _ = host;
        Ok(write.document.clone())
    }

    /// Lists entities for reconciliation.
    fn list(
        host: &dyn Host,
        object: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<DocumentPage, Error> {
        let _ = (host, cursor, limit);
        Err(Error::Unsupported(format!(
            "this connector does not list `{object}`"
        )))
    }
}

/// Exports a [`Connector`] implementation as the component's `junction:connector` world.
/// Expands to nothing when not building for WebAssembly, so the crate also builds natively.
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        #[cfg(target_family = "wasm")]
        const _: () = {
            type JunctionExport = $crate::guest::Export<$connector>;
            $crate::guest::bindings::__export_connector_world!(JunctionExport with_types_in $crate::guest::bindings);
        };
    };
}
