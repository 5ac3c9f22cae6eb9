//! Junction's test support: the demo's wiring of pipelines to the vendor simulators (which live
//! in the `junction-sims` crate), the hostile test components, the load harness and the
//! integration tests (`tests/it`).
pub mod demo;
/// The vendor simulators (the `junction-sims` crate), under the name the tests use.
pub use junction_sims as sim;
