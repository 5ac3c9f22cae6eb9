//! Vendor simulators: stateful subsets of the Stripe and NetSuite APIs.
pub mod faults;
pub mod netsuite;
pub mod stripe;
