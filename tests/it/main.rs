//! Junction's integration tests: one binary, one module per capability.

mod campaign;
mod conformance;
mod connector_cleverbridge;
mod connector_netsuite;
mod connector_salesforce;
mod connector_stripe;
mod connector_zendesk;
mod delivery_states;
mod holds;
mod intake;
mod listener;
mod masking;
mod oauth2;
mod pipeline_cleverbridge;
mod pipeline_e2e;
mod pipeline_stripe_salesforce;
mod polyglot;
mod reconcile;
mod rig;
mod sandbox;
mod scenarios;
mod stripe_ordering;
mod support;
