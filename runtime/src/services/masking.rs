//! Masking: the one path from record data and connector output to logs, audit rows, dead
//! letters and views. Secret values, credentials and sensitive settings are always redacted, in
//! any letter case and as a vendor might echo them (as is, base64, URL-encoded); e-mail
//! addresses in free text and in any field of a document are hashed, so operators can still
//! correlate them.

use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};

/// Secret values that appear while Junction runs (OAuth 2.0 access tokens the host fetched),
/// shared between the code that learns them and every masker that must redact them.
pub type LiveSecrets = Arc<RwLock<Vec<String>>>;

/// Redacts known secret values and personal data from free text.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    literals: Vec<String>,
    live: Vec<LiveSecrets>,
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
        }
    }

    /// Also redacts whatever values `live` holds at the time of masking.
    #[must_use]
    pub fn with_live(mut self, live: impl IntoIterator<Item = LiveSecrets>) -> Self {
        self.live.extend(live);
        self
    }

    /// Masks free text: literals become `***` (matched without regard to ASCII case),
    /// e-mail addresses become `email:<hash8>`.
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
        mask_emails(&out)
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

/// A short, stable, non-reversible token for a personal value (`hash` policy).
pub fn hash_token(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    format!("{:x}", digest)[..12].to_string()
}

fn mask_emails(input: &str) -> String {
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
                out.push_str(&format!(
                    "email:{}",
                    &hash_token(&format!("{local}@{domain}"))[..8]
                ));
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

/// Applies a pipeline's field policy to a canonical document of `object`: each rule names a
/// top-level field (`customer.email`) and a strategy. Every other string, at any depth
/// (`metadata.note`), has its e-mail addresses hashed as free text is.
pub fn mask_document(
    rules: &[crate::config::MaskRule],
    object: &str,
    document: &mut serde_json::Value,
) {
    use crate::config::MaskStrategy;
    let Some(map) = document.as_object_mut() else {
        return;
    };
    for (field, value) in map.iter_mut() {
        if !rules
            .iter()
            .any(|r| r.object == object && r.field == *field)
        {
            mask_nested_emails(value);
        }
    }
    for rule in rules.iter().filter(|r| r.object == object) {
        let Some(value) = map.get_mut(&rule.field) else {
            continue;
        };
        let Some(text) = value.as_str().map(str::to_string) else {
            continue;
        };
        let masked = match rule.strategy {
            MaskStrategy::Hash => format!("hash:{}", hash_token(&text)),
            MaskStrategy::Redact => "***".to_string(),
            MaskStrategy::Last4 => keep(&text, 0, 4),
            MaskStrategy::First6last4 => keep(&text, 6, 4),
        };
        *value = serde_json::Value::String(masked);
    }
}

fn mask_nested_emails(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) if s.contains('@') => *s = mask_emails(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_nested_emails),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(mask_nested_emails),
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
    use crate::config::{MaskRule, MaskStrategy};

    #[test]
    fn field_policies_apply_by_object_and_field() {
        let rules = vec![
            MaskRule {
                object: "customer".into(),
                field: "email".into(),
                strategy: MaskStrategy::Hash,
            },
            MaskRule {
                object: "customer".into(),
                field: "phone".into(),
                strategy: MaskStrategy::Last4,
            },
            MaskRule {
                object: "payment".into(),
                field: "account_number".into(),
                strategy: MaskStrategy::First6last4,
            },
        ];
        let mut c = serde_json::json!({"id": "cus_1", "email": "jane@example.com", "phone": "+15551234567"});
        mask_document(&rules, "customer", &mut c);
        assert!(
            c["email"].as_str().unwrap().starts_with("hash:")
                && !c["email"].as_str().unwrap().contains("jane")
        );
        assert_eq!(c["phone"], "********4567");
        let mut p = serde_json::json!({"account_number": "4242424242424242"});
        mask_document(&rules, "payment", &mut p);
        assert_eq!(p["account_number"], "424242******4242");
        assert_eq!(c["id"], "cus_1");
    }

    #[test]
    fn emails_below_the_top_level_are_masked_too() {
        let mut s = serde_json::json!({"id": "sub_1", "metadata": {"note": "call jane@example.com"},
                                       "items": [{"contact": "ops@example.org"}]});
        mask_document(&[], "subscription", &mut s);
        let text = s.to_string();
        assert!(!text.contains("jane@") && !text.contains("ops@"), "{text}");
        assert!(text.contains("email:"), "{text}");
    }
}
