//! Field names of canonical objects, checked against the top-level properties of their schemas.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::super::suggest;
use super::Validator;
use crate::canonical;

impl Validator<'_, '_> {
    /// Reports `field` (written at `span`) when it is not a top-level property of `object`'s
    /// canonical schema. `what` names where it was written, e.g. "confirm field".
    ///
    /// An object without a schema was reported where it was named, so it passes here.
    pub(super) fn field(
        &mut self,
        object: &str,
        field: &str,
        span: std::ops::Range<usize>,
        what: &str,
    ) -> bool {
        let Some(known) = properties(object) else {
            return true;
        };
        if known.iter().any(|k| k == field) {
            return true;
        }
        let hint = suggest::hint(
            field,
            known.iter().map(String::as_str),
            &format!("fields of {object}"),
        );
        self.rep
            .error(
                span,
                format!("{what} `{field}` is not a field of `{object}`"),
            )
            .hint(hint);
        false
    }
}

/// The top-level property names of `object`'s canonical schema, sorted.
///
/// Parsed once: the schemas are compiled into the binary, so they cannot change underneath.
fn properties(object: &str) -> Option<&'static [String]> {
    static PROPERTIES: OnceLock<BTreeMap<&'static str, Vec<String>>> = OnceLock::new();
    let all = PROPERTIES.get_or_init(|| {
        canonical::OBJECTS
            .iter()
            .filter_map(|name| {
                let schema: serde_json::Value =
                    serde_json::from_str(canonical::schema(name)?).ok()?;
                let mut names: Vec<String> = schema
                    .get("properties")?
                    .as_object()?
                    .keys()
                    .cloned()
                    .collect();
                names.sort();
                Some((*name, names))
            })
            .collect()
    });
    all.get(object).map(Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::properties;

    #[test]
    fn every_object_has_its_schema_properties() {
        for object in crate::canonical::OBJECTS {
            let fields = properties(object).unwrap_or_default();
            assert!(
                fields.iter().any(|f| f == "id"),
                "{object}: no `id` in {fields:?}"
            );
        }
        let subscription = properties("subscription").unwrap_or_default();
        for field in ["status", "items", "next_billing_at", "billing_stop_at"] {
            assert!(subscription.iter().any(|f| f == field), "{field}");
        }
        assert!(properties("refund").is_none());
    }
}
