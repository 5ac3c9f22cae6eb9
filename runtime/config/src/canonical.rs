//! Canonical documents: the versioned JSON Schemas in `wit/schemas/`, compiled once and
//! checked at every boundary, so a connector bug becomes a clear rejection instead of bad data
//! downstream.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The object kinds Junction knows, each with a v1 schema.
pub const OBJECTS: &[&str] = &["customer", "subscription", "price", "invoice", "payment"];

const SCHEMAS: &[(&str, &str)] = &[
    (
        "customer",
        include_str!("../../../wit/schemas/customer.v1.json"),
    ),
    (
        "subscription",
        include_str!("../../../wit/schemas/subscription.v1.json"),
    ),
    ("price", include_str!("../../../wit/schemas/price.v1.json")),
    (
        "invoice",
        include_str!("../../../wit/schemas/invoice.v1.json"),
    ),
    (
        "payment",
        include_str!("../../../wit/schemas/payment.v1.json"),
    ),
];

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Invalid {
    /// The object kind has no schema.
    #[error("unknown object kind `{0}` (known: customer, subscription, price, invoice, payment)")]
    UnknownObject(String),
    /// The text is not JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// The document breaks its schema; each entry is `path: problem`.
    #[error("does not match the {object} v1 schema: {}", .problems.join("; "))]
    Schema {
        /// The object kind.
        object: String,
        /// `instance path: message` for every violation.
        problems: Vec<String>,
    },
}

fn validators() -> &'static BTreeMap<&'static str, jsonschema::Validator> {
    static VALIDATORS: OnceLock<BTreeMap<&'static str, jsonschema::Validator>> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        SCHEMAS
            .iter()
            .map(|(name, text)| {
                let schema: serde_json::Value =
                    serde_json::from_str(text).expect("bundled schema is JSON");
                let validator = jsonschema::options()
                    .should_validate_formats(true)
                    .build(&schema)
                    .expect("bundled schema compiles");
                (*name, validator)
            })
            .collect()
    })
}

/// The schema text of an object kind.
pub fn schema(object: &str) -> Option<&'static str> {
    SCHEMAS
        .iter()
        .find(|(name, _)| *name == object)
        .map(|(_, text)| *text)
}

/// Parses and validates a canonical document of kind `object`.
pub fn validate(object: &str, document: &str) -> Result<serde_json::Value, Invalid> {
    let validator = validators()
        .get(object)
        .ok_or_else(|| Invalid::UnknownObject(object.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_str(document).map_err(|e| Invalid::NotJson(e.to_string()))?;
    let problems: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| {
            let path = e.instance_path().to_string();
            format!("{}: {e}", if path.is_empty() { "/" } else { &path })
        })
        .collect();
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(Invalid::Schema {
            object: object.to_string(),
            problems,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_good_subscription_and_names_what_is_wrong_with_a_bad_one() {
        let good = r#"{"id":"sub_1","customer_id":"cus_1","status":"active","currency":"usd",
            "items":[{"price_id":"price_1","quantity":1,"unit_amount":2000,"currency":"usd"}],
            "next_billing_at":"2026-12-01T00:00:00Z"}"#;
        assert!(validate("subscription", good).is_ok());
        let bad =
            r#"{"id":"sub_1","customer_id":"cus_1","status":"alive","currency":"USD","items":[]}"#;
        let Err(Invalid::Schema { problems, .. }) = validate("subscription", bad) else {
            panic!("accepted a bad document")
        };
        assert!(
            problems.iter().any(|p| p.starts_with("/status")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.starts_with("/currency")),
            "{problems:?}"
        );
        assert_eq!(
            validate("widget", "{}"),
            Err(Invalid::UnknownObject("widget".into()))
        );
        assert!(matches!(
            validate("customer", "{"),
            Err(Invalid::NotJson(_))
        ));
    }
}
