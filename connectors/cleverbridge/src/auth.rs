//! Authentication of inbound notifications. Cleverbridge documents no signature for HTTPS
//! notifications (fact sheet §5), so the endpoint takes a credential the operator configures in
//! Cleverbridge's Web Admin, as HTTP Basic or in a header of their choosing.
//!
//! The guest never holds secrets, so the credential is derived from the pipeline's `webhook`
//! secret through the host's HMAC: it is `hex(HMAC-SHA256(webhook secret, LABEL))`, which the
//! operator computes once (`printf %s cleverbridge-notification | openssl dgst -sha256 -hmac
//! "$SECRET"`) and enters as the notification's password (or header value). The secret itself
//! never travels; only its derivative does, and only Cleverbridge and Junction know it.

use base64::Engine as _;
use junction_connector_kit::{Error, Host, Webhook};

use crate::settings;

/// The secret the pipeline grants (`secrets = { webhook = "..." }`).
pub(crate) const SECRET: &str = "webhook";

/// What the credential is derived from.
pub(crate) const LABEL: &[u8] = b"cleverbridge-notification";

/// Accepts `hook` when it carries the credential derived from the `webhook` secret.
pub(crate) fn verify(host: &dyn Host, hook: &Webhook) -> Result<(), Error> {
    let header = settings::webhook_header(host);
    let presented = match header.as_str() {
        "authorization" => basic_password(hook)?,
        name => hook
            .header(name)
            .map(|v| v.trim().to_owned())
            .ok_or_else(|| invalid(format!("the `{name}` header is missing")))?,
    };
    // Without the secret no notification can be verified: a credentials problem of the
    // instance (paused until an operator grants it), not a bad request.
    let mac = host.hmac_sha256(SECRET, LABEL).map_err(|e| {
        Error::Unauthorized(format!(
            "cannot verify notifications with the `{SECRET}` secret: {e}"
        ))
    })?;
    if !constant_time_eq(hex(&mac).as_bytes(), presented.as_bytes()) {
        return Err(invalid(
            "the notification's credential does not match (wrong or missing credential in Web Admin)".into(),
        ));
    }
    Ok(())
}

/// The password of `Authorization: Basic base64(user:password)`.
fn basic_password(hook: &Webhook) -> Result<String, Error> {
    let value = hook
        .header("authorization")
        .ok_or_else(|| invalid("the `Authorization` header is missing".into()))?;
    let encoded = value
        .get(..6)
        .filter(|scheme| scheme.eq_ignore_ascii_case("basic "))
        .map(|_| value[6..].trim())
        .ok_or_else(|| invalid("the `Authorization` header is not HTTP Basic".into()))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| invalid("the Basic credentials are not base64".into()))?;
    let text = String::from_utf8(decoded)
        .map_err(|_| invalid("the Basic credentials are not UTF-8".into()))?;
    let (_, password) = text
        .split_once(':')
        .ok_or_else(|| invalid("the Basic credentials have no password".into()))?;
    Ok(password.to_owned())
}

fn invalid(reason: String) -> Error {
    Error::InvalidWebhook(reason)
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Equality whose running time depends only on the lengths (a length mismatch is `false`).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_whole_values_only() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert_eq!(hex(&[0x00, 0x9f, 0xff]), "009fff");
    }
}
