//! Junction's test support: the demo's wiring of pipelines to the vendor simulators (which live
//! in the `junction-sims` crate), the hostile test components, the load harness and the
//! integration tests (`tests/it`).
/// The vendor simulators (the `junction-sims` crate), under the name the tests use.
pub use junction_sims as sim;
/// The shipped pipelines wired to the simulators (`junction_sims::wiring`).
pub use junction_sims::wiring as demo;
