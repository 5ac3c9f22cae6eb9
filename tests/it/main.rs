//! Junction's integration tests: one binary, one module per capability.

mod connector_netsuite;
mod connector_stripe;
mod sandbox;
mod support;
