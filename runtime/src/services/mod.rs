//! Cross-cutting services every pipeline gets: one clock, secrets that cannot leak, masking,
//! retry pacing. The bottom of the house: the host, the pipeline and the store use services,
//! never the other way round (services use only the pipeline format's types, from the
//! `junction-config` crate below the runtime).
pub mod clock;
pub mod masking;
pub mod retry;
pub mod secret {
    //! A secret value that never shows itself (defined with the pipeline format, which holds
    //! secrets from the moment it reads them).
    pub use junction_config::Secret;
}
