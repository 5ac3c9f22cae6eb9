//! Junction's Cleverbridge connector: subscriptions from Cleverbridge's JSON notifications,
//! confirmed against the Subscription API, and subscription changes written back to it.
//!
//! ```text
//! source:  notification --auth.rs (operator's credential, via host HMAC)--> source.rs
//!          meta.type --> the subscriptions it names --api.rs getsubscription-->
//!          canonical.rs --> change (after = what Cleverbridge reports, never the notification)
//! sink:    write --api.rs getsubscription--> sink.rs: only what differs -->
//!          updatesubscriptionitemprice / updatesubscriptionitem / deactivate- /
//!          reinstatesubscriptionitems / updatesubscriptionrenewaltype --> applied(id)
//!          fetch --getsubscription--> canonical.rs;  expected: the write as Cleverbridge shows it
//! errors:  every answer --errors.rs--> the contract's error variant (a 200 without "OK" too)
//! ```
//!
//! Everything goes through a [`Host`](junction_connector_kit::Host): HTTP (the host adds
//! `Authorization: Basic` for the API user), settings, the clock and HMAC with the `webhook`
//! secret, which never enters the guest. The same code runs as a `wasm32-wasip2` component and
//! natively (tests). The mapping is described in docs/cleverbridge-mapping.md.

mod api;
mod auth;
mod canonical;
mod errors;
mod money;
mod settings;
mod sink;
mod source;
#[cfg(test)]
mod tests;

use junction_connector_kit::{Change, Connector, Error, Host, Manifest, Outcome, Webhook, Write};

/// The Cleverbridge connector.
pub struct Cleverbridge;

impl Connector for Cleverbridge {
    fn describe() -> Manifest {
        let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
        Manifest {
            name: "cleverbridge".into(),
            version: "0.1.0".into(),
            description: "Cleverbridge Subscription API: subscriptions from JSON notifications (each confirmed with getsubscription); writes prices, quantities, products, cancellation and reinstatement".into(),
            source_objects: names(&["subscription"]),
            sink_objects: names(&["subscription"]),
            hosts: names(&["rest.cleverbridge.com"]),
            settings: settings::specs(),
            secrets: names(&[auth::SECRET]),
            webhooks: true,
            polling: false,
            async_writes: false,
            // Changes take effect at the next billing date Cleverbridge keeps; it takes no
            // effective date of the caller's.
            future_dated_writes: false,
        }
    }

    fn receive(host: &dyn Host, hook: Webhook) -> Result<Vec<Change>, Error> {
        source::receive(host, &hook)
    }

    fn apply(host: &dyn Host, write: Write) -> Result<Outcome, Error> {
        sink::apply(host, &write)
    }

    fn fetch(host: &dyn Host, object: &str, key: &str) -> Result<Option<String>, Error> {
        sink::fetch(host, object, key)
    }

    fn expected(_host: &dyn Host, write: &Write) -> Result<String, Error> {
        sink::expected(write)
    }
}

junction_connector_kit::export_connector!(Cleverbridge);
