//! Junction: the integration runtime that keeps subscription, billing, CRM and ERP systems
//! consistent.
//!
//! Operators declare pipelines in TOML; sandboxed WebAssembly connectors (one per vendor)
//! translate between each vendor's API and Junction's canonical documents; the runtime owns the
//! hard parts every pipeline needs: durable intake, dedupe, idempotency keys, per-entity
//! ordering, retries, read-back confirmation, dead letters, replay, masking and audit.
//!
//! Data flows one way through the modules:
//!
//! ```text
//! config     TOML -> checked Plan (the `junction-config` crate in runtime/config: every error
//!            at once; knows no wasmtime, no SQL)
//! host/      the only code that touches wasmtime: engine, cache, sandbox, host imports, HTTP hook
//! store/     sqlx: SQLite by default (PostgreSQL for several workers); migrations embedded
//! services/  the one clock, retry policy, idempotency keys, masking, audit chain
//! pipeline/  intake -> plan writes -> deliver -> confirm -> settle
//! server/    axum: webhook ingress, /metrics, /healthz
//! cli/       the `junction` commands
//! ```
#![warn(missing_docs)]

pub use junction_config as config;
pub use junction_config::canonical;

pub mod campaign;
pub mod cli;
pub mod host;
pub mod pipeline;
pub mod server;
pub mod services;
pub mod store;
