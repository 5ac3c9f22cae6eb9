//! `Stripe-Signature` verification exactly as stripe-node does it (fact sheet section 2), with
//! the HMAC computed by the host so the signing secret never enters the guest.

use junction_connector_kit::{Error, Host, Webhook};

/// The secret the pipeline grants for webhook signing (`secrets = { webhook = "..." }`).
pub(crate) const SECRET: &str = "webhook";

/// Accepts `hook` when any `v1` signature in its `Stripe-Signature` header is the HMAC of
/// `"{t}.{body}"` and `t` is within `tolerance_secs` of the host's clock, in the past or in the
/// future (0: any time).
pub(crate) fn verify(host: &dyn Host, hook: &Webhook, tolerance_secs: i64) -> Result<(), Error> {
    let header = hook
        .header("stripe-signature")
        .ok_or_else(|| invalid("the `Stripe-Signature` header is missing".into()))?;
    let (timestamp, signatures) = parse(header);
    let t = timestamp
        .ok_or_else(|| invalid("the `Stripe-Signature` header has no timestamp (`t=`)".into()))?;
    if signatures.is_empty() {
        return Err(invalid(
            "the `Stripe-Signature` header has no `v1` signature".into(),
        ));
    }
    let mut payload = Vec::with_capacity(hook.body.len() + 12);
    payload.extend_from_slice(t.to_string().as_bytes());
    payload.push(b'.');
    payload.extend_from_slice(&hook.body);
    // Without the secret no webhook can be verified: that is a credentials problem of the
    // instance (paused until an operator grants it), not a bad request.
    let mac = host.hmac_sha256(SECRET, &payload).map_err(|e| {
        Error::Unauthorized(format!(
            "cannot verify webhooks with the `{SECRET}` secret: {e}"
        ))
    })?;
    let expected = hex(&mac);
    // Every candidate is compared in full, so timing reveals neither a prefix nor which matched.
    let matched = signatures.iter().fold(false, |any, s| {
        any | constant_time_eq(expected.as_bytes(), s.as_bytes())
    });
    if !matched {
        return Err(invalid(
            "no signature matches the body (wrong secret, or the body was altered)".into(),
        ));
    }
    // Saturating: `t` is whatever the sender wrote, `i64::MIN` included.
    let age = host.now_ms().div_euclid(1000).saturating_sub(t);
    if tolerance_secs > 0 && age > tolerance_secs {
        return Err(invalid(format!(
            "the signed timestamp is {age} s old, more than the {tolerance_secs} s tolerance"
        )));
    }
    // stripe-node checks the age only, so a signature stamped years ahead stays valid for
    // years. Junction deliberately refuses it too: the tolerance bounds how long a captured
    // request can be replayed, and a future stamp would stretch that window without limit;
    // clocks that disagree by less than the tolerance still pass.
    if tolerance_secs > 0 && age < -tolerance_secs {
        return Err(invalid(format!(
            "the signed timestamp is {} s in the future, more than the {tolerance_secs} s tolerance",
            age.saturating_neg()
        )));
    }
    Ok(())
}

fn invalid(reason: String) -> Error {
    Error::InvalidWebhook(reason)
}

/// `t=<secs>,v1=<hex>,v1=<hex>,v0=<hex>` -> (t, every v1). Other schemes are ignored; a
/// repeated `t` keeps the last one, as stripe-node's reduce does.
fn parse(header: &str) -> (Option<i64>, Vec<&str>) {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let mut kv = item.split('=');
        match (kv.next(), kv.next()) {
            (Some("t"), Some(value)) => timestamp = value.parse::<i64>().ok(),
            (Some("v1"), Some(value)) => signatures.push(value),
            _ => {}
        }
    }
    (timestamp, signatures)
}

/// Lower-case hex, as stripe-node's `digest('hex')` produces.
fn hex(bytes: &[u8]) -> String {
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
    fn parses_every_v1_and_ignores_other_schemes() {
        let (t, v1) = parse("t=12,v0=aa,v1=bb,x=1,v1=cc");
        assert_eq!((t, v1), (Some(12), vec!["bb", "cc"]));
        assert_eq!(parse("v1=bb").0, None);
        assert_eq!(parse("t=abc,v1=bb").0, None);
    }

    #[test]
    fn compares_whole_values_only() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert_eq!(hex(&[0x00, 0x9f, 0xff]), "009fff");
    }
}
