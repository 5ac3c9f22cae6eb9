//! Junction's vendor simulators: stateful subsets of the vendors' APIs as their documentation
//! describes them (`../shared/vendors/`), with switchable faults and state a test can inspect.
//! They bind 127.0.0.1 only. Salesforce (`salesforce`: OAuth client credentials, sObjects,
//! upsert by external id, sObject Collections, SOQL paging, API limits) is one of them; Zendesk
//! (`zendesk`: tickets by external id, idempotent creation, cursor pages, rate limits) another.
//!
//! This crate does not depend on the runtime, so `cargo run -p junction-sims --bin stripe-sim`
//! builds in seconds, without wasmtime or the connectors.
mod calendar;
pub mod cleverbridge;
pub mod faults;
pub mod netsuite;
pub mod salesforce;
pub mod stripe;
pub mod wiring;
pub mod zendesk;
