//! Text from pipeline files and module manifests made safe to print on a terminal.
//!
//! A module's name or a pipeline's key can hold escape sequences (clear the screen, move the
//! cursor, recolour) or line breaks that forge a line of the report (`error: ...`). Everything
//! shown to an operator passes through [`printable`], which writes such characters as visible
//! escapes instead.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with control characters (C0 but tab, DEL, C1) and the bidirectional-override
/// characters that reorder what a terminal shows written as `\n`, `\r` or `\u{..}`.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `json` with the characters [`printable`] rewrites written as `\uXXXX` escapes, still the
/// same JSON. serde_json escapes C0 control characters but leaves DEL, the C1 controls (U+009B
/// starts an escape sequence on some terminals) and the bidirectional overrides as they are;
/// outside strings JSON holds none of them, and the line breaks of pretty printing stay.
pub fn printable_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c != '\n' && needs_escape(c) {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// True for the characters [`printable`] rewrites.
pub fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_terminal_would_obey() {
        assert_eq!(printable("stripe-v2"), "stripe-v2");
        assert!(matches!(printable("tab\tstays"), Cow::Borrowed(_)));
        assert_eq!(
            printable("evil\n error: forged\x1b[2J"),
            "evil\\n error: forged\\u{1b}[2J"
        );
        assert_eq!(printable("\r\u{7f}\u{9b}31m"), "\\r\\u{7f}\\u{9b}31m");
        assert_eq!(printable("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(printable("héllo ✓"), "héllo ✓");
    }
}
