//! Cross-cutting services every pipeline gets: one clock, secrets that cannot leak, and masking.
pub mod clock;
pub mod masking;
pub mod retry;
pub mod secret {
    //! A secret value that never shows itself (defined with the pipeline format, which holds
    //! secrets from the moment it reads them).
    pub use junction_config::Secret;
}
