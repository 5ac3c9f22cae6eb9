//! Junction's Stripe connector: subscriptions, customers and invoices from Stripe, and
//! subscriptions and customers written back to it.
//!
//! ```text
//! source:  webhook --signature.rs--> events.rs --canonical.rs--> change (before/after)
//!          poll    --api.rs GET /v1/events--> events.rs ...        (oldest first, by cursor)
//!          (bodies and answers read through wire.rs: typed, borrowing, only the fields mapped)
//!          then, for subscriptions and customers: api.rs GET /v1/{subscriptions,customers}/{id}
//!          --canonical.rs--> after = the object's current state (Stripe does not keep order)
//! sink:    write --forms.rs--> api.rs POST/DELETE (Idempotency-Key) --> applied(id)
//!          fetch / list --api.rs GET--> canonical.rs --> documents
//! errors:  every non-2xx answer --errors.rs--> the contract's error variant (retry class)
//! ```
//!
//! Everything goes through a [`Host`](junction_connector_kit::Host): HTTP (the host adds the
//! API key), settings, the clock and HMAC with the webhook secret, which never enters the
//! guest. The same code runs as a `wasm32-wasip2` component and natively (tests, benchmarks).

mod api;
mod canonical;
mod errors;
mod events;
mod forms;
mod settings;
mod signature;
mod sink;
mod source;
#[cfg(test)]
mod tests;
mod wire;

use junction_connector_kit::{
    Change, ChangePage, Connector, DocumentPage, Error, Host, Manifest, Outcome, Webhook, Write,
};

/// The Stripe connector.
pub struct Stripe;

impl Connector for Stripe {
    fn describe() -> Manifest {
        let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
        Manifest {
            name: "stripe".into(),
            version: "0.1.0".into(),
            description: "Stripe Billing: subscriptions, customers and invoices (webhooks and /v1/events); writes subscriptions and customers".into(),
            source_objects: names(&["customer", "subscription", "invoice"]),
            sink_objects: names(&["subscription", "customer"]),
            hosts: names(&["api.stripe.com"]),
            settings: settings::specs(),
            secrets: names(&[signature::SECRET]),
            webhooks: true,
            polling: true,
            async_writes: false,
            // Stripe takes cancellation dates (`cancel_at`) in the future.
            future_dated_writes: true,
        }
    }

    fn receive(host: &dyn Host, hook: Webhook) -> Result<Vec<Change>, Error> {
        source::receive(host, &hook)
    }

    fn poll(
        host: &dyn Host,
        object: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<ChangePage, Error> {
        source::poll(host, object, cursor, limit)
    }

    fn apply(host: &dyn Host, write: Write) -> Result<Outcome, Error> {
        sink::apply(host, &write)
    }

    fn fetch(host: &dyn Host, object: &str, key: &str) -> Result<Option<String>, Error> {
        sink::fetch(host, object, key)
    }

    fn list(
        host: &dyn Host,
        object: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<DocumentPage, Error> {
        sink::list(host, object, cursor, limit)
    }
}

junction_connector_kit::export_connector!(Stripe);
