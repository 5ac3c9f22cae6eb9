//! The pipeline file as written: serde types with spans, before any meaning is checked.
//!
//! Required keys are `Option`s here: the structural check has already reported a missing one,
//! and validation skips it quietly instead of stopping.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::plan::{FutureDated, Jitter, MaskStrategy, Mode, OnFail, Priority};

/// A string with where it was written.
pub(crate) type Text = Spanned<String>;
/// A table of strings keyed by operator-chosen names.
pub(crate) type TextMap = BTreeMap<Text, Text>;
/// A list of strings with where each was written.
pub(crate) type TextList = Spanned<Vec<Text>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawFile {
    pub(crate) pipeline: Option<Spanned<RawPipeline>>,
    #[serde(default)]
    pub(crate) connectors: BTreeMap<Text, Spanned<RawConnector>>,
    #[serde(default)]
    pub(crate) ownership: BTreeMap<Text, Spanned<RawOwnership>>,
    #[serde(default)]
    pub(crate) source: Vec<Spanned<RawSource>>,
    #[serde(default)]
    pub(crate) route: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    pub(crate) gates: BTreeMap<Text, Spanned<RawGate>>,
    #[serde(default)]
    pub(crate) masking: BTreeMap<Text, Spanned<MaskStrategy>>,
    #[serde(default)]
    pub(crate) reconcile: BTreeMap<Text, Spanned<RawReconcile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawPipeline {
    pub(crate) name: Option<Text>,
    pub(crate) description: Option<String>,
    pub(crate) masking_key: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawConnector {
    pub(crate) module: Option<Text>,
    pub(crate) base_url: Option<Text>,
    pub(crate) allow_hosts: Option<TextList>,
    pub(crate) auth: Option<Spanned<RawAuth>>,
    pub(crate) secrets: Option<Spanned<TextMap>>,
    pub(crate) limits: Option<RawLimits>,
    pub(crate) settings: Option<Spanned<TextMap>>,
}

/// Every auth key of every scheme; the structural check has made sure only the keys of the
/// chosen scheme are present.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawAuth {
    pub(crate) scheme: Option<Text>,
    pub(crate) secret: Option<Text>,
    pub(crate) username: Option<Text>,
    pub(crate) password: Option<Text>,
    pub(crate) realm: Option<Text>,
    pub(crate) consumer_key: Option<Text>,
    pub(crate) consumer_secret: Option<Text>,
    pub(crate) token: Option<Text>,
    pub(crate) token_secret: Option<Text>,
    pub(crate) token_url: Option<Text>,
    pub(crate) client_id: Option<Text>,
    pub(crate) client_secret: Option<Text>,
    pub(crate) instance_url: Option<bool>,
    pub(crate) certificate_id: Option<Text>,
    pub(crate) private_key: Option<Text>,
    pub(crate) algorithm: Option<Text>,
    pub(crate) scope: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawLimits {
    pub(crate) memory: Option<Text>,
    pub(crate) call_timeout: Option<Text>,
    pub(crate) rate: Option<Text>,
    pub(crate) concurrency: Option<u32>,
}

/// `object = "connector"` or `object = { owner = "connector", fields = { .. } }`.
#[derive(Debug)]
pub(crate) enum RawOwnership {
    Owner(String),
    Detailed(RawOwnershipTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawOwnershipTable {
    pub(crate) owner: Option<Text>,
    #[serde(default)]
    pub(crate) fields: TextMap,
}

// Written by hand: serde's untagged enums buffer the input and lose the spans inside.
impl<'de> Deserialize<'de> for RawOwnership {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawOwnership;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a connector name or a table with `owner`")
            }

            fn visit_str<E: serde::de::Error>(self, owner: &str) -> Result<RawOwnership, E> {
                Ok(RawOwnership::Owner(owner.to_owned()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawOwnership, A::Error> {
                let table = RawOwnershipTable::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(RawOwnership::Detailed(table))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawSource {
    pub(crate) connector: Option<Text>,
    pub(crate) webhook: Option<Text>,
    pub(crate) poll: Option<Text>,
    pub(crate) objects: Option<TextList>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawRoute {
    pub(crate) name: Option<Text>,
    pub(crate) from: Option<Text>,
    pub(crate) to: Option<Text>,
    pub(crate) object: Option<Text>,
    pub(crate) mode: Option<Mode>,
    pub(crate) when: Option<Text>,
    pub(crate) map: Option<Spanned<TextMap>>,
    pub(crate) confirm: Option<Spanned<RawConfirm>>,
    pub(crate) retry: Option<Spanned<RawRetry>>,
    pub(crate) priority: Option<Priority>,
    pub(crate) future_dated: Option<Spanned<FutureDated>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawConfirm {
    pub(crate) fields: Option<TextList>,
    pub(crate) within: Option<Text>,
    pub(crate) interval: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawRetry {
    pub(crate) attempts: Option<u32>,
    pub(crate) initial: Option<Text>,
    pub(crate) max: Option<Text>,
    pub(crate) jitter: Option<Jitter>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawGate {
    pub(crate) before: Option<TextList>,
    pub(crate) require: Option<Text>,
    pub(crate) on_fail: Option<OnFail>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawReconcile {
    pub(crate) between: Option<TextList>,
    pub(crate) object: Option<Text>,
    pub(crate) fields: Option<TextList>,
    pub(crate) every: Option<Text>,
    pub(crate) repair: Option<bool>,
}
