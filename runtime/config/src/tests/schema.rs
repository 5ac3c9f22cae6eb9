//! The JSON Schema accepts the example, rejects what validation rejects structurally, and stays
//! in step with the serde types.

use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Visitor};

use super::super::raw::*;
use super::super::schema::{self, Shape, Table};
use super::super::{FutureDated, Jitter, MaskStrategy, Mode, OnFail, Priority, json_schema};

fn example_as_json() -> serde_json::Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines/stripe-to-netsuite.toml");
    let text = std::fs::read_to_string(path).expect("example pipeline");
    toml::from_str(&text).expect("example is TOML")
}

#[test]
fn schema_accepts_the_example_and_rejects_unknown_keys() {
    let validator = jsonschema::validator_for(&json_schema()).expect("a valid JSON Schema");
    let example = example_as_json();
    let errors: Vec<String> = validator
        .iter_errors(&example)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");

    let mut typo = example.clone();
    typo["connectors"]["stripe"]["base_url"] = "https://api.stripe.com".into();
    assert!(!validator.is_valid(&typo));
    let mut bad_auth = example;
    bad_auth["connectors"]["stripe"]["auth"]["scheme"] = "oauth1-tba".into();
    assert!(
        !validator.is_valid(&bad_auth),
        "bearer keys do not fit oauth1-tba"
    );
}

/// Captures the field names serde expects for a struct.
struct Fields;

#[derive(Debug)]
struct Captured(Vec<String>);

impl std::fmt::Display for Captured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl std::error::Error for Captured {}

impl de::Error for Captured {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Captured(Vec::new())
    }
}

impl<'de> de::Deserializer<'de> for Fields {
    type Error = Captured;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Captured> {
        Err(Captured(Vec::new()))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Captured> {
        Err(Captured(fields.iter().map(|f| f.to_string()).collect()))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

fn serde_fields<'de, T: Deserialize<'de>>() -> Vec<String> {
    let mut fields = match T::deserialize(Fields) {
        Err(Captured(fields)) => fields,
        Ok(_) => Vec::new(),
    };
    fields.sort();
    fields
}

fn schema_fields(table: &Table) -> Vec<String> {
    let mut keys: Vec<String> = table.keys().map(String::from).collect();
    keys.sort();
    keys
}

/// The table reached by following keys from the root through lists, maps and tables.
fn table_at(path: &[&str]) -> &'static Table {
    let mut table = &schema::ROOT;
    for key in path {
        let mut shape = table.field(key).map(|f| f.shape).expect("key in schema");
        loop {
            match shape {
                Shape::List(inner) | Shape::Map(inner) => shape = inner,
                Shape::Table(inner) | Shape::StrOrTable(inner) => {
                    table = inner;
                    break;
                }
                other => panic!("{key} leads to {other:?}"),
            }
        }
    }
    table
}

#[test]
fn serde_types_and_schema_name_the_same_keys() {
    assert_eq!(serde_fields::<RawFile>(), schema_fields(table_at(&[])));
    assert_eq!(
        serde_fields::<RawPipeline>(),
        schema_fields(table_at(&["pipeline"]))
    );
    assert_eq!(
        serde_fields::<RawConnector>(),
        schema_fields(table_at(&["connectors"]))
    );
    assert_eq!(
        serde_fields::<RawLimits>(),
        schema_fields(table_at(&["connectors", "limits"]))
    );
    assert_eq!(
        serde_fields::<RawOwnershipTable>(),
        schema_fields(table_at(&["ownership"]))
    );
    assert_eq!(
        serde_fields::<RawSource>(),
        schema_fields(table_at(&["source"]))
    );
    assert_eq!(
        serde_fields::<RawRoute>(),
        schema_fields(table_at(&["route"]))
    );
    assert_eq!(
        serde_fields::<RawConfirm>(),
        schema_fields(table_at(&["route", "confirm"]))
    );
    assert_eq!(
        serde_fields::<RawRetry>(),
        schema_fields(table_at(&["route", "retry"]))
    );
    assert_eq!(
        serde_fields::<RawGate>(),
        schema_fields(table_at(&["gates"]))
    );
    assert_eq!(
        serde_fields::<RawReconcile>(),
        schema_fields(table_at(&["reconcile"]))
    );

    let mut auth_keys: Vec<String> = schema::AUTH_SCHEMES
        .iter()
        .flat_map(|(_, table)| table.keys().map(String::from))
        .collect();
    auth_keys.sort();
    auth_keys.dedup();
    assert_eq!(serde_fields::<RawAuth>(), auth_keys);
}

fn all_parse<T: de::DeserializeOwned>(names: &[&str]) {
    for name in names {
        let parsed: Result<T, _> = serde_json::from_value(serde_json::json!(name));
        assert!(
            parsed.is_ok(),
            "`{name}` is in the schema but not accepted by serde"
        );
    }
    let bogus: Result<T, _> = serde_json::from_value(serde_json::json!("bogus"));
    assert!(bogus.is_err());
}

#[test]
fn enum_names_in_the_schema_are_the_serde_names() {
    all_parse::<Mode>(schema::MODES);
    all_parse::<Priority>(schema::PRIORITIES);
    all_parse::<Jitter>(schema::JITTERS);
    all_parse::<FutureDated>(schema::FUTURE_DATED);
    all_parse::<OnFail>(schema::ON_FAIL);
    all_parse::<MaskStrategy>(schema::MASKS);
}
