//! Cross-cutting services every pipeline gets: secrets that cannot leak, and masking.
pub mod masking;
pub mod retry;
pub mod secret;
