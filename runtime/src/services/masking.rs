//! Masking: the one path from record data and connector output to logs, audit rows, dead
//! letters and views. Secret values, credentials and sensitive settings are always redacted, in
//! any letter case and as a vendor might echo them (as is, base64, URL-encoded); e-mail
//! addresses in free text and in any field of a document are hashed with the installation's
//! masking key (HMAC-SHA256), so operators can still correlate them and nobody can recover one
//! by hashing guesses; without a key they are redacted.

use std::sync::{Arc, RwLock};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::{MaskStrategy, Masking};

/// Secret values that appear while Junction runs (OAuth 2.0 access tokens the host fetched),
/// shared between the code that learns them and every masker that must redact them.
pub type LiveSecrets = Arc<RwLock<Vec<String>>>;

/// Redacts known secret values and personal data from free text.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    literals: Vec<String>,
    live: Vec<LiveSecrets>,
    key: Option<HashKey>,
}

/// The key of keyed hashes (`[pipeline] masking-key`).
#[derive(Clone)]
pub struct HashKey(Arc<[u8]>);

impl HashKey {
    /// The key of a pipeline's masking, if it has one.
    pub fn of(masking: &Masking) -> Option<Self> {
        masking
            .key
            .as_ref()
            .map(|k| Self(Arc::from(k.expose().as_bytes())))
    }
}

impl std::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashKey(***)")
    }
}

impl Masker {
    /// A masker that redacts these literal values wherever they appear (secrets, sensitive
    /// settings). Values shorter than 4 characters are ignored: redacting them would destroy
    /// the text without protecting anything.
    pub fn with_literals<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut literals: Vec<String> = values
            .into_iter()
            .map(Into::into)
            .filter(|v| v.len() >= 4)
            .flat_map(|v| encodings(&v))
            .map(|v| v.to_ascii_lowercase())
            .collect();
        // Longest first, so a secret that contains another is redacted whole.
        literals.sort_by_key(|v| std::cmp::Reverse(v.len()));
        literals.dedup();
        Self {
            literals,
            live: Vec::new(),
            key: None,
        }
    }

    /// Hashes e-mail addresses with this key (without one they are redacted).
    #[must_use]
    pub fn with_key(mut self, key: Option<HashKey>) -> Self {
        self.key = key;
        self
    }

    /// Also redacts whatever values `live` holds at the time of masking.
    #[must_use]
    pub fn with_live(mut self, live: impl IntoIterator<Item = LiveSecrets>) -> Self {
        self.live.extend(live);
        self
    }

    /// Masks free text: literals become `***` (matched without regard to ASCII case),
    /// e-mail addresses become `email:<keyed hash8>`, or `email:***` without a key.
    pub fn text(&self, input: &str) -> String {
        let mut out = input.to_string();
        for literal in &self.literals {
            out = replace_ignoring_case(&out, literal, "***");
        }
        for live in &self.live {
            let values = live.read().map(|v| v.clone()).unwrap_or_default();
            for value in values.iter().filter(|v| v.len() >= 4) {
                for encoded in encodings(value) {
                    out = replace_ignoring_case(&out, &encoded.to_ascii_lowercase(), "***");
                }
            }
        }
        mask_emails(&out, self.key.as_ref())
    }
}

/// A value as it may come back from a vendor that echoes a request: as is, base64 (standard
/// and URL-safe, with and without padding) and percent-encoded (path and form style).
fn encodings(value: &str) -> Vec<String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let bytes = value.as_bytes();
    let mut out = vec![value.to_string()];
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        out.push(engine.encode(bytes));
    }
    const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let encoded = percent_encoding::utf8_percent_encode(value, UNRESERVED).to_string();
    out.push(encoded.replace("%20", "+"));
    out.push(encoded);
    out.retain(|v| v.len() >= 4);
    out
}

/// `haystack` with every ASCII-case-insensitive occurrence of `needle` (already lower case)
/// replaced.
fn replace_ignoring_case(haystack: &str, needle: &str, with: &str) -> String {
    if needle.is_empty() {
        return haystack.to_string();
    }
    // ASCII lower-casing keeps byte offsets, so positions found in it hold in the original.
    let lower = haystack.to_ascii_lowercase();
    if !lower.contains(needle) {
        return haystack.to_string();
    }
    let mut out = String::with_capacity(haystack.len());
    let mut last = 0;
    for (at, _) in lower.match_indices(needle) {
        if at < last {
            continue;
        }
        out.push_str(&haystack[last..at]);
        out.push_str(with);
        last = at + needle.len();
    }
    out.push_str(&haystack[last..]);
    out
}

/// A short, stable token for a personal value (`hash` policy): the first 12 hex digits of its
/// HMAC-SHA256 under the installation's key. Equal values give equal tokens; without the key
/// a guess cannot be checked against one.
pub fn hash_token(key: &HashKey, value: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key.0).expect("HMAC takes a key of any length");
    mac.update(value.as_bytes());
    hex::encode(mac.finalize().into_bytes())[..12].to_string()
}

fn mask_emails(input: &str, key: Option<&HashKey>) -> String {
    if !input.contains('@') {
        return input.to_string();
    }
    let is_part = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
    let mut out = String::with_capacity(input.len());
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '@' {
            let mut start = out.len();
            while start > 0 && out[..start].chars().next_back().is_some_and(is_part) {
                start -= out[..start].chars().next_back().map_or(1, char::len_utf8);
            }
            let mut end = i + 1;
            while end < chars.len()
                && (chars[end].is_ascii_alphanumeric() || chars[end] == '.' || chars[end] == '-')
            {
                end += 1;
            }
            let domain: String = chars[i + 1..end].iter().collect();
            if start < out.len() && domain.contains('.') {
                let local = out[start..].to_string();
                out.truncate(start);
                match key {
                    Some(key) => out.push_str(&format!(
                        "email:{}",
                        &hash_token(key, &format!("{local}@{domain}"))[..8]
                    )),
                    None => out.push_str("email:***"),
                }
                i = end;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials_in_any_case_and_as_vendors_echo_them() {
        use base64::Engine as _;
        let m = Masker::with_literals(["ck_Secret-Key.1", "user:p@ss word"]);
        let b64 = base64::engine::general_purpose::STANDARD.encode("user:p@ss word");
        for echoed in [
            "consumer key ck_Secret-Key.1 refused".to_string(),
            "CONSUMER KEY CK_SECRET-KEY.1".to_string(),
            format!("Authorization: Basic {b64}"),
            "oauth_consumer_key=\"ck_Secret-Key.1\"".to_string(),
            "user%3Ap%40ss%20word".to_string(),
            "user%3Ap%40ss+word".to_string(),
            format!(
                "{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("ck_Secret-Key.1")
            ),
        ] {
            let masked = m.text(&echoed);
            assert!(masked.contains("***"), "{echoed} -> {masked}");
            assert!(
                !masked.to_ascii_lowercase().contains("ck_secret-key.1"),
                "{masked}"
            );
            assert!(!masked.contains(&b64), "{masked}");
        }
    }

    /// OAuth 2.0 access tokens are learnt while running: a masker built before the token
    /// existed still redacts it, as is and URL-encoded.
    #[test]
    fn redacts_secrets_learnt_after_it_was_built() {
        let live = LiveSecrets::default();
        let masker = Masker::with_literals(["client-secret-1"]).with_live([live.clone()]);
        assert_eq!(masker.text("Bearer 00Dx!ARtoken"), "Bearer 00Dx!ARtoken");
        live.write().unwrap().push("00Dx!ARtoken".into());
        assert_eq!(
            masker.text("got Bearer 00Dx!ARtoken (00Dx%21ARtoken) with client-secret-1"),
            "got Bearer *** (***) with ***"
        );
    }

    #[test]
    fn redacts_literals_and_emails() {
        let m = Masker::with_literals(["whsec_abcdef", "sk_test_123456", "ab"]);
        let masked = m.text("key sk_test_123456 and whsec_abcdef for jane.doe+x@example.com (ab)");
        assert!(!masked.contains("sk_test_123456") && !masked.contains("whsec_abcdef"));
        assert!(!masked.contains("jane.doe"), "{masked}");
        assert!(
            masked.contains("email:") && masked.contains("(ab)"),
            "{masked}"
        );
        assert_eq!(m.text("no personal data here"), "no personal data here");
    }
}

/// Applies a pipeline's masking to a canonical document of `object`: each rule names a field
/// by its path (`customer.email`, `customer.address.line1`, through arrays `items.price_id`)
/// and a strategy; then every string left, at any depth (`metadata.note`), has its e-mail
/// addresses hashed as free text is.
pub fn mask_document(masking: &Masking, object: &str, document: &mut serde_json::Value) {
    let key = HashKey::of(masking);
    for rule in masking.rules.iter().filter(|r| r.object == object) {
        let path: Vec<&str> = rule.field.split('.').collect();
        apply_at(document, &path, &|text| match rule.strategy {
            // Validation refuses `hash` without a key; redacting is the safe reading anyway.
            MaskStrategy::Hash => key.as_ref().map_or_else(
                || "***".to_string(),
                |k| format!("hash:{}", hash_token(k, text)),
            ),
            MaskStrategy::Redact => "***".to_string(),
            MaskStrategy::Last4 => keep(text, 0, 4),
            MaskStrategy::First6last4 => keep(text, 6, 4),
        });
    }
    mask_nested_emails(document, key.as_ref());
}

/// Replaces the string at `path` in `value` (in every item of the arrays on the way) with
/// `mask` of it. A field that is absent, null or not text is left as it is; a number masked
/// by `last4` (a card number sent as digits) is masked as its text.
fn apply_at(value: &mut serde_json::Value, path: &[&str], mask: &dyn Fn(&str) -> String) {
    use serde_json::Value;
    match value {
        Value::Array(items) => items.iter_mut().for_each(|i| apply_at(i, path, mask)),
        Value::Object(fields) => {
            let Some((first, rest)) = path.split_first() else {
                return;
            };
            let Some(next) = fields.get_mut(*first) else {
                return;
            };
            if !rest.is_empty() {
                return apply_at(next, rest, mask);
            }
            match next {
                Value::String(text) => *text = mask(text),
                Value::Number(n) => *next = Value::String(mask(&n.to_string())),
                Value::Array(items) => {
                    for item in items {
                        if let Value::String(text) = item {
                            *text = mask(text);
                        }
                    }
                }
                // An object or a null under a masked name: an object is masked whole.
                Value::Object(_) => *next = Value::String("***".into()),
                _ => {}
            }
        }
        _ => {}
    }
}

fn mask_nested_emails(value: &mut serde_json::Value, key: Option<&HashKey>) {
    match value {
        serde_json::Value::String(s) if s.contains('@') => *s = mask_emails(s, key),
        serde_json::Value::Array(items) => {
            items.iter_mut().for_each(|i| mask_nested_emails(i, key))
        }
        serde_json::Value::Object(fields) => {
            fields.values_mut().for_each(|v| mask_nested_emails(v, key))
        }
        _ => {}
    }
}

fn keep(text: &str, first: usize, last: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= first + last {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..first].iter().collect();
    out.push_str(&"*".repeat(chars.len() - first - last));
    out.extend(&chars[chars.len() - last..]);
    out
}

#[cfg(test)]
mod policy_tests {
    use super::*;
    use crate::config::{MaskRule, MaskStrategy, Secret};

    fn rule(object: &str, field: &str, strategy: MaskStrategy) -> MaskRule {
        MaskRule {
            object: object.into(),
            field: field.into(),
            strategy,
        }
    }

    fn keyed(rules: Vec<MaskRule>, key: &str) -> Masking {
        Masking {
            key: Some(Secret::new(key)),
            rules,
        }
    }

    #[test]
    fn field_policies_apply_by_object_and_field() {
        let masking = keyed(
            vec![
                rule("customer", "email", MaskStrategy::Hash),
                rule("customer", "phone", MaskStrategy::Last4),
                rule("payment", "account_number", MaskStrategy::First6last4),
            ],
            "installation-key-0123456789",
        );
        let mut c = serde_json::json!({"id": "cus_1", "email": "jane@example.com", "phone": "+15551234567"});
        mask_document(&masking, "customer", &mut c);
        assert!(
            c["email"].as_str().unwrap().starts_with("hash:")
                && !c["email"].as_str().unwrap().contains("jane")
        );
        assert_eq!(c["phone"], "********4567");
        let mut p = serde_json::json!({"account_number": "4242424242424242"});
        mask_document(&masking, "payment", &mut p);
        assert_eq!(p["account_number"], "424242******4242");
        assert_eq!(c["id"], "cus_1");
    }

    /// A plain SHA-256 of an e-mail is recovered by hashing a list of guesses. The keyed hash
    /// is stable under one key (so equal values stay comparable), differs under another, and
    /// is not the unkeyed digest.
    #[test]
    fn hashes_are_keyed_by_the_installation() {
        use sha2::Digest;
        let rules = vec![rule("customer", "email", MaskStrategy::Hash)];
        let hashed = |key: &str| {
            let mut c = serde_json::json!({"email": "jane@example.com"});
            mask_document(&keyed(rules.clone(), key), "customer", &mut c);
            c["email"].as_str().unwrap().to_string()
        };
        let a = hashed("installation-key-0123456789");
        assert_eq!(a, hashed("installation-key-0123456789"));
        assert_ne!(a, hashed("another-installation-key-xyz"));
        let plain = hex::encode(sha2::Sha256::digest(b"jane@example.com"));
        assert!(!plain.starts_with(a.trim_start_matches("hash:")), "{a}");

        let key = HashKey::of(&keyed(vec![], "installation-key-0123456789"));
        let text = Masker::default()
            .with_key(key)
            .text("mail jane@example.com");
        assert!(
            text.starts_with("mail email:") && !text.contains("jane"),
            "{text}"
        );
        assert_eq!(
            Masker::default().text("mail jane@example.com"),
            "mail email:***",
            "without a key an address is redacted, not hashed"
        );
    }

    #[test]
    fn nested_paths_and_arrays_are_masked() {
        let masking = keyed(
            vec![
                rule("customer", "address.line1", MaskStrategy::Redact),
                rule("customer", "address.postal_code", MaskStrategy::Last4),
                rule("subscription", "items.price_id", MaskStrategy::Redact),
                rule("customer", "metadata.tax_id", MaskStrategy::Redact),
            ],
            "installation-key-0123456789",
        );
        let mut c = serde_json::json!({"id": "cus_1",
            "address": {"line1": "1 Main St", "city": "Leeds", "postal_code": "LS1 4AP"},
            "metadata": {"tax_id": "GB123456789", "note": "ok"}});
        mask_document(&masking, "customer", &mut c);
        assert_eq!(c["address"]["line1"], "***");
        assert_eq!(c["address"]["city"], "Leeds");
        assert_eq!(c["address"]["postal_code"], "*** 4AP");
        assert_eq!(c["metadata"]["tax_id"], "***");
        assert_eq!(c["metadata"]["note"], "ok");
        let mut s = serde_json::json!({"id": "sub_1", "items": [{"price_id": "price_a"}, {"price_id": "price_b"}]});
        mask_document(&masking, "subscription", &mut s);
        assert_eq!(
            s["items"],
            serde_json::json!([{"price_id": "***"}, {"price_id": "***"}])
        );
        // Absent and null fields stay as they are.
        let mut empty = serde_json::json!({"id": "cus_2", "address": null});
        mask_document(&masking, "customer", &mut empty);
        assert_eq!(empty, serde_json::json!({"id": "cus_2", "address": null}));
    }

    #[test]
    fn emails_below_the_top_level_are_masked_too() {
        let mut s = serde_json::json!({"id": "sub_1", "metadata": {"note": "call jane@example.com"},
                                       "items": [{"contact": "ops@example.org"}]});
        mask_document(
            &keyed(vec![], "installation-key-0123456789"),
            "subscription",
            &mut s,
        );
        let text = s.to_string();
        assert!(!text.contains("jane@") && !text.contains("ops@"), "{text}");
        assert!(text.contains("email:"), "{text}");
    }
}
