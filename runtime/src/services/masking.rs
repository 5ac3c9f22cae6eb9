//! Masking: the one path from record data and connector output to logs, audit rows, dead
//! letters and views. Secret values and sensitive settings are always redacted; e-mail
//! addresses in free text are hashed, so operators can still correlate them.

use sha2::{Digest, Sha256};

/// Redacts known secret values and personal data from free text.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    literals: Vec<String>,
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
            .collect();
        // Longest first, so a secret that contains another is redacted whole.
        literals.sort_by_key(|v| std::cmp::Reverse(v.len()));
        Self { literals }
    }

    /// Masks free text: literals become `***`, e-mail addresses become `email:<hash8>`.
    pub fn text(&self, input: &str) -> String {
        let mut out = input.to_string();
        for literal in &self.literals {
            if out.contains(literal.as_str()) {
                out = out.replace(literal.as_str(), "***");
            }
        }
        mask_emails(&out)
    }
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
/// top-level field (`customer.email`) and a strategy.
pub fn mask_document(
    rules: &[crate::config::MaskRule],
    object: &str,
    document: &mut serde_json::Value,
) {
    use crate::config::MaskStrategy;
    let Some(map) = document.as_object_mut() else {
        return;
    };
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
}
