//! Step 1: TOML text -> [`RawFile`], reporting syntax errors and structural problems.

use serde::Deserialize;
use toml::de::DeTable;

use super::raw::RawFile;
use super::report::Reporter;
use super::structure;

/// Parses the reporter's file. `None` when the text is not TOML at all (the syntax errors are
/// reported); structural problems are reported and the offending parts left out.
pub(crate) fn parse(rep: &mut Reporter<'_>) -> Option<RawFile> {
    let text = rep.file().text();
    let (mut root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for error in errors {
            let span = error.span().unwrap_or(0..0);
            // toml's message may continue with context lines; the snippet shows them better.
            let message = error
                .message()
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned();
            rep.error(span, format!("invalid TOML: {message}"));
        }
        return None;
    }
    structure::check_root(&mut root, rep);
    match RawFile::deserialize(toml::de::Deserializer::from(root)) {
        Ok(raw) => Some(raw),
        Err(error) => {
            // The structural check should have caught everything serde rejects; if not, the
            // schema and the raw types disagree.
            let span = error.span().unwrap_or(0..0);
            rep.error(span, error.message().to_owned())
                .hint("the format schema and junction's parser disagree here; please report it");
            None
        }
    }
}
