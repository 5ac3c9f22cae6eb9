//! `Secret`: a resolved credential whose `Debug` and `Display` never show the value.

use std::fmt;

/// A resolved secret (API key, token, webhook signing secret, sensitive setting).
///
/// `Debug` and `Display` print `***`, so a secret that ends up in a log line, an error message
/// or a `{:?}` of a whole `Plan` stays hidden. The value is reachable only through
/// [`Secret::expose`], which makes every use easy to find in review.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a resolved value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value itself. Call it only where the value leaves for its one legitimate use
    /// (an auth header, an HMAC key), never to log or display it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_and_display_hide_the_value() {
        let secret = Secret::new("sk_live_123");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(***)");
        assert_eq!(secret.expose(), "sk_live_123");
    }
}
