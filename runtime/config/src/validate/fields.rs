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

/// The canonical schemas, parsed once: they are compiled into the binary, so they cannot
/// change underneath.
fn schemas() -> &'static BTreeMap<&'static str, serde_json::Value> {
    static SCHEMAS: OnceLock<BTreeMap<&'static str, serde_json::Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        canonical::OBJECTS
            .iter()
            .filter_map(|name| Some((*name, serde_json::from_str(canonical::schema(name)?).ok()?)))
            .collect()
    })
}

/// The property names of a schema node (an object's schema or one of its object-valued
/// properties), sorted.
fn names_of(node: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = node
        .get("properties")
        .and_then(serde_json::Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// The top-level property names of `object`'s canonical schema, sorted.
fn properties(object: &str) -> Option<&'static [String]> {
    static PROPERTIES: OnceLock<BTreeMap<&'static str, Vec<String>>> = OnceLock::new();
    let all = PROPERTIES.get_or_init(|| {
        schemas()
            .iter()
            .map(|(name, schema)| (*name, names_of(schema)))
            .collect()
    });
    all.get(object).map(Vec::as_slice)
}

/// The fields every document of `object` must have (its schema's `required`), sorted.
pub(super) fn required(object: &str) -> Vec<String> {
    let mut names: Vec<String> = schemas()
        .get(object)
        .and_then(|s| s.get("required"))
        .and_then(serde_json::Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Whether `path` (`email`, `address.line1`, `items.price_id`) names a property of `object`'s
/// schema, descending through objects and array items; on failure, the properties known at
/// the step that failed and the path up to it.
pub(super) fn path_in(object: &str, path: &str) -> Result<(), (String, Vec<String>)> {
    let Some(mut node) = schemas().get(object) else {
        return Ok(());
    };
    let mut walked = object.to_owned();
    for step in path.split('.') {
        // An array's items are described by `items`: a path goes through them to each item.
        while node.get("items").is_some() && node.get("properties").is_none() {
            node = &node["items"];
        }
        match node.get("properties").and_then(|p| p.get(step)) {
            Some(next) => node = next,
            // A map such as `metadata` takes any key.
            None => match node.get("additionalProperties") {
                Some(values) if values.is_object() => node = values,
                _ => return Err((walked, names_of(node))),
            },
        }
        walked = format!("{walked}.{step}");
    }
    Ok(())
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
