//! The shape of a pipeline file, written once: it drives the structural check (unknown and
//! missing keys, wrong value types) and renders the JSON Schema that `junction schema` prints.

mod format;
mod json;

#[cfg(test)]
pub(crate) use format::AUTH_SCHEMES;
pub(crate) use format::ROOT;
pub use json::json_schema;

/// What a value in a pipeline file must look like.
#[derive(Debug)]
pub(crate) enum Shape {
    /// A string; the pattern is for editors (validation gives more precise messages).
    Str(Option<&'static str>),
    /// An integer within bounds.
    Int { min: i64, max: i64 },
    /// `true` or `false`.
    Bool,
    /// One of a few strings; `what` names the kind in messages ("unknown mode `wirte`").
    Enum {
        what: &'static str,
        names: &'static [&'static str],
    },
    /// A list of values of one shape.
    List(&'static Shape),
    /// A table with fixed keys.
    Table(&'static Table),
    /// A table with free keys (names chosen by the operator), values of one shape.
    Map(&'static Shape),
    /// A table whose keys depend on the value of its `tag` key.
    Tagged {
        tag: &'static str,
        variants: &'static [(&'static str, &'static Table)],
    },
    /// Either a string or a table (the short and the long form of one setting).
    StrOrTable(&'static Table),
}

/// A table with fixed keys.
#[derive(Debug)]
pub(crate) struct Table {
    /// How messages name the table, e.g. `[[route]]`.
    pub(crate) name: &'static str,
    pub(crate) fields: &'static [Field],
}

/// One key of a [`Table`].
#[derive(Debug)]
pub(crate) struct Field {
    pub(crate) key: &'static str,
    pub(crate) required: bool,
    pub(crate) shape: &'static Shape,
    pub(crate) doc: &'static str,
}

impl Table {
    pub(crate) fn field(&self, key: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.key == key)
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &'static str> {
        self.fields.iter().map(|f| f.key)
    }
}

/// Canonical objects pipelines can move: the ones with a schema in [`crate::canonical`].
pub use crate::canonical::OBJECTS;
/// Route modes.
pub(crate) const MODES: &[&str] = &["write", "shadow"];
/// Route priorities, highest first.
pub(crate) const PRIORITIES: &[&str] = &["financial", "normal", "low"];
/// Retry jitter kinds.
pub(crate) const JITTERS: &[&str] = &["full", "none"];
/// What to do with changes effective in the future.
pub(crate) const FUTURE_DATED: &[&str] = &["hold", "pass"];
/// What a failed gate does.
pub(crate) const ON_FAIL: &[&str] = &["hold"];
/// Masking strategies.
pub(crate) const MASKS: &[&str] = &["hash", "redact", "last4", "first6last4"];
