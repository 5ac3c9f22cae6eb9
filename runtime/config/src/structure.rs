//! The structural check: walks the parsed TOML against the [`schema`](super::schema) and
//! reports every unknown key, missing key and wrongly typed value at once.
//!
//! Each bad value is removed after it is reported, so the serde step that follows sees only
//! well-formed input and never stops at the first problem; the semantic checks then treat a
//! missing required value as "already reported".

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use super::report::Reporter;
use super::schema::{Shape, Table};
use super::suggest;

/// Checks the whole document; bad keys and values are reported and removed.
pub(crate) fn check_root(root: &mut Spanned<DeTable<'_>>, rep: &mut Reporter<'_>) {
    let span = root.span();
    check_table(root.get_mut(), span, &super::schema::ROOT, rep);
}

/// Reports missing keys; a table without a position is the file itself.
fn report_missing(missing: &[&str], span: Range<usize>, shape: &Table, rep: &mut Reporter<'_>) {
    if std::ptr::eq(shape, &super::schema::ROOT) {
        for key in missing {
            rep.file_error(format!("the file has no [{key}] table"))
                .hint(format!(
                    "start the file with [{key}] and a line name = \"my-pipeline\""
                ));
        }
        return;
    }
    let list = missing
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let noun = if missing.len() == 1 { "key" } else { "keys" };
    rep.error(
        span,
        format!("missing required {noun} {list} in {}", shape.name),
    );
}

/// Checks one value (an element of the list `key` when `in_list`); returns false when it
/// must be removed.
fn check_value(
    key: &str,
    in_list: bool,
    value: &mut Spanned<DeValue<'_>>,
    shape: &Shape,
    rep: &mut Reporter<'_>,
) -> bool {
    let span = value.span();
    let subject = if in_list {
        format!("each element of `{key}`")
    } else {
        format!("`{key}`")
    };
    match (shape, value.get_mut()) {
        (Shape::Str(_), DeValue::String(_)) | (Shape::Bool, DeValue::Boolean(_)) => true,
        (Shape::Int { min, max }, DeValue::Integer(int)) => {
            let n = i64::from_str_radix(int.as_str(), int.radix()).ok();
            match n {
                Some(n) if (*min..=*max).contains(&n) => true,
                _ => {
                    rep.error(span, format!("{subject} must be between {min} and {max}"));
                    false
                }
            }
        }
        (Shape::Enum { what, names }, DeValue::String(text)) => {
            if names.contains(&text.as_ref()) {
                return true;
            }
            let hint = suggest::hint(text, names.iter().copied(), "expected one of");
            rep.error(span, format!("unknown {what} `{text}`"))
                .hint(hint);
            false
        }
        (Shape::List(item), DeValue::Array(items)) => {
            // Drop only the bad elements, so `objects = ["subscription", "refund"]` still
            // carries `subscription` into validation.
            let keep: Vec<bool> = items
                .iter_mut()
                .map(|element| check_value(key, true, element, item, rep))
                .collect();
            if keep.iter().any(|k| !k) {
                let mut kept = DeArray::new();
                let all = std::mem::replace(items, DeArray::new());
                for (element, keep) in all.iter().zip(keep) {
                    if keep {
                        kept.push(element.clone());
                    }
                }
                *items = kept;
            }
            true
        }
        (Shape::Table(table), DeValue::Table(inner)) => {
            check_table(inner, span, table, rep);
            true
        }
        (Shape::Map(item), DeValue::Table(inner)) => {
            let mut bad = Vec::new();
            for (name, value) in inner.iter_mut() {
                if !check_value(name.get_ref(), false, value, item, rep) {
                    bad.push(name.get_ref().to_string());
                }
            }
            remove_all(inner, span.start, &bad, rep);
            true
        }
        (Shape::Tagged { tag, variants }, DeValue::Table(inner)) => {
            check_tagged(key, inner, span, tag, variants, rep)
        }
        (Shape::StrOrTable(_), DeValue::String(_)) => true,
        (Shape::StrOrTable(table), DeValue::Table(inner)) => {
            check_table(inner, span, table, rep);
            true
        }
        (shape, found) => {
            let message = format!(
                "{subject} must be {}, found {}",
                expected(shape),
                describe(found)
            );
            let diagnostic = rep.error(span, message);
            if let (Shape::List(_), DeValue::String(text)) = (shape, found) {
                diagnostic.hint(format!("write a list: {key} = [\"{text}\"]"));
            }
            false
        }
    }
}

/// Reports unknown keys (removing them) and missing required keys of one table.
fn check_table(table: &mut DeTable<'_>, span: Range<usize>, shape: &Table, rep: &mut Reporter<'_>) {
    // Keys that are present but wrong are reported as wrong, not also as missing.
    let missing: Vec<&str> = shape
        .fields
        .iter()
        .filter(|f| f.required && !table.contains_key(f.key))
        .map(|f| f.key)
        .collect();
    let mut bad = Vec::new();
    for (key, value) in table.iter_mut() {
        let keep = match shape.field(key.get_ref()) {
            Some(field) => check_value(field.key, false, value, field.shape, rep),
            None => {
                let hint = suggest::hint(key.get_ref(), shape.keys(), "keys allowed here");
                rep.error(
                    key.span(),
                    format!("unknown key `{}` in {}", key.get_ref(), shape.name),
                )
                .hint(hint);
                false
            }
        };
        if !keep {
            bad.push(key.get_ref().to_string());
        }
    }
    remove_all(table, span.start, &bad, rep);
    if missing.is_empty() {
        return;
    }
    report_missing(&missing, span, shape, rep);
}

/// Removes reported keys, remembering them so validation does not report them as missing.
fn remove_all(
    table: &mut DeTable<'_>,
    table_start: usize,
    keys: &[String],
    rep: &mut Reporter<'_>,
) {
    for key in keys {
        table.remove(key.as_str());
        rep.note_removed(table_start, key);
    }
}

fn check_tagged(
    key: &str,
    table: &mut DeTable<'_>,
    span: Range<usize>,
    tag: &str,
    variants: &[(&str, &Table)],
    rep: &mut Reporter<'_>,
) -> bool {
    let names = variants.iter().map(|(name, _)| *name);
    let Some(value) = table.get(tag) else {
        let hint = format!("{tag} is one of: {}", names.collect::<Vec<_>>().join(", "));
        rep.error(span, format!("`{key}` needs a `{tag}`"))
            .hint(hint);
        return false;
    };
    let DeValue::String(chosen) = value.get_ref() else {
        rep.error(
            value.span(),
            format!(
                "`{tag}` must be a string, found {}",
                describe(value.get_ref())
            ),
        );
        return false;
    };
    match variants.iter().find(|(name, _)| *name == chosen.as_ref()) {
        Some((_, shape)) => {
            check_table(table, span, shape, rep);
            true
        }
        None => {
            let hint = suggest::hint(chosen, names, "expected one of");
            rep.error(value.span(), format!("unknown {key} {tag} `{chosen}`"))
                .hint(hint);
            false
        }
    }
}

fn expected(shape: &Shape) -> &'static str {
    match shape {
        Shape::Str(_) | Shape::Enum { .. } => "a string",
        Shape::Int { .. } => "an integer",
        Shape::Bool => "true or false",
        Shape::List(_) => "a list",
        Shape::Table(_) | Shape::Map(_) | Shape::Tagged { .. } => "a table",
        Shape::StrOrTable(_) => "a string or a table",
    }
}

fn describe(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}
