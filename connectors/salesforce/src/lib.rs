//! Junction's Salesforce connector: canonical customers and subscriptions upserted into an org
//! by external id, read back by external id, listed and polled through SOQL, as
//! `docs/salesforce-mapping.md` maps them.
//!
//! ```text
//! apply:   write --mapping.rs--> PATCH sobjects/{Object}/{ExtId}/{key}   -> applied(id)
//! fetch:   GET sobjects/{Object}/{ExtId}/{key}?fields=.. --mapping.rs--> document
//! list:    SOQL `WHERE ExtId != null ORDER BY Id`, one batch a call, nextRecordsUrl as cursor
//! poll:    queryAll `ORDER BY SystemModstamp, Id` after the cursor (stamp, Id) -> changes
//! every answer: Sforce-Limit-Info checked (api.rs); failures -> the contract's error variant
//! ```
//!
//! Upserts by external id are idempotent: the same write lands the same values on the same
//! record however often it is sent, which is how the runtime's idempotency key is honoured
//! (Salesforce REST has no Idempotency-Key header). A subscription names its account by the
//! account's external id (`Account__r: {Stripe_Customer_Id__c: ..}`), so no lookup precedes a
//! write. Authentication (OAuth 2.0 client credentials) and the instance URL come from the
//! host; the connector never sees a token.

mod api;
mod config;
mod mapping;
mod records;
#[cfg(test)]
mod tests;

use junction_connector_kit::{
    ChangePage, Connector, DocumentPage, Error, Host, Manifest, Outcome, Write,
};

use api::Api;
use config::{Config, Kind};

/// The Salesforce connector.
pub struct Salesforce;

impl Connector for Salesforce {
    fn describe() -> Manifest {
        let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
        Manifest {
            name: "salesforce".into(),
            version: "0.1.0".into(),
            description: "Salesforce REST: customers as Accounts and subscriptions as Subscription__c records, upserted by external id; polled by SystemModstamp".into(),
            source_objects: names(&["customer", "subscription"]),
            sink_objects: names(&["customer", "subscription"]),
            hosts: names(&["*.my.salesforce.com"]),
            settings: config::specs(),
            secrets: Vec::new(),
            webhooks: false,
            polling: true,
            async_writes: false,
            future_dated_writes: false,
        }
    }

    fn poll(
        host: &dyn Host,
        object: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<ChangePage, Error> {
        let kind = Kind::parse(object)?;
        Api::new(host)?.poll(kind, cursor, limit)
    }

    fn apply(host: &dyn Host, write: Write) -> Result<Outcome, Error> {
        let kind = Kind::parse(&write.object)?;
        Api::new(host)?.upsert(kind, &write)
    }

    fn fetch(host: &dyn Host, object: &str, key: &str) -> Result<Option<String>, Error> {
        let kind = Kind::parse(object)?;
        Api::new(host)?.fetch(kind, key)
    }

    fn expected(host: &dyn Host, write: &Write) -> Result<String, Error> {
        let kind = Kind::parse(&write.object)?;
        mapping::expected(&Config::for_mapping(host)?, kind, write)
    }

    fn list(
        host: &dyn Host,
        object: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<DocumentPage, Error> {
        let kind = Kind::parse(object)?;
        Api::new(host)?.list(kind, cursor, limit)
    }
}

junction_connector_kit::export_connector!(Salesforce);
