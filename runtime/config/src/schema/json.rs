//! Renders the format as a JSON Schema (draft 2020-12) for editors and `junction schema`.

use serde_json::{Map, Value, json};

use super::{ROOT, Shape, Table};

/// The JSON Schema (draft 2020-12) of the pipeline format, for editors and `junction schema`.
pub fn json_schema() -> Value {
    let mut schema = table_schema(&ROOT);
    if let Value::Object(map) = &mut schema {
        map.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        map.insert("title".into(), json!("Junction pipeline"));
        map.insert(
            "description".into(),
            json!("A Junction pipeline file (TOML): connectors, ownership, sources, routes, gates, masking and reconciliation."),
        );
    }
    schema
}

fn shape_schema(shape: &Shape) -> Value {
    match shape {
        Shape::Str(None) => json!({ "type": "string" }),
        Shape::Str(Some(pattern)) => json!({ "type": "string", "pattern": pattern }),
        Shape::Int { min, max } => json!({ "type": "integer", "minimum": min, "maximum": max }),
        Shape::Bool => json!({ "type": "boolean" }),
        Shape::Enum { names, .. } => json!({ "type": "string", "enum": names }),
        Shape::List(item) => json!({ "type": "array", "items": shape_schema(item) }),
        Shape::Table(table) => table_schema(table),
        Shape::Map(value) => {
            json!({ "type": "object", "additionalProperties": shape_schema(value) })
        }
        Shape::Tagged { tag, variants } => {
            let variants: Vec<Value> = variants
                .iter()
                .map(|(name, table)| {
                    let mut variant = table_schema(table);
                    variant["properties"][*tag]["const"] = json!(name);
                    variant
                })
                .collect();
            json!({ "type": "object", "required": [tag], "oneOf": variants })
        }
        Shape::StrOrTable(table) => json!({ "oneOf": [{ "type": "string" }, table_schema(table)] }),
    }
}

fn table_schema(table: &Table) -> Value {
    let mut properties = Map::new();
    for field in table.fields {
        let mut schema = shape_schema(field.shape);
        schema["description"] = json!(field.doc);
        properties.insert(field.key.into(), schema);
    }
    let required: Vec<&str> = table
        .fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.key)
        .collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}
