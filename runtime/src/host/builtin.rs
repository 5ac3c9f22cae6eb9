//! The first-party connectors, compiled to components by the build script and embedded in the
//! `junction` binary, addressable as `builtin:<name>`.

include!(concat!(env!("OUT_DIR"), "/builtin_connectors.rs"));

/// The component bytes of a built-in connector.
pub fn builtin(name: &str) -> Option<&'static [u8]> {
    BUILTIN_CONNECTORS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
}

/// The names of the built-in connectors.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN_CONNECTORS.iter().map(|(n, _)| *n)
}
