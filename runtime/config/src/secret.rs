//! A secret value that never shows itself: `Debug` and `Display` print `***`, so a secret
//! cannot reach a log line, an error message or an audit row by accident.

use std::fmt;

/// A credential or signing key held by the host on behalf of a connector.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the few places that must use it (signing, auth headers).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_its_value() {
        let s = Secret::new("sk_live_123");
        assert_eq!(
            format!("{s} {s:?} {:?}", vec![s.clone()]),
            "*** Secret(***) [Secret(***)]"
        );
        assert_eq!(s.expose(), "sk_live_123");
    }
}
