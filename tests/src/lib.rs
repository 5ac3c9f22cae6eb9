//! Junction's test support: local simulators of the vendors' APIs, faithful to the fact sheets
//! in `../shared/vendors/`, with switchable faults. They bind 127.0.0.1 only.
pub mod demo;
pub mod sim;
