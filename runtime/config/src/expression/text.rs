//! Limits checked on an expression's text before the `cel` parser sees it.
//!
//! The parser (and the evaluator after it) recurse once per level of the syntax tree, and a
//! chain such as `change.a.a.a...` or `1 + 1 + ...` is one level per operator: a few thousand
//! of them overflow a thread's stack, which aborts the process; no error comes back. So the
//! text is measured first, with a scan that never recurses, and refused when it could be that
//! deep.

use std::fmt;

/// Longest expression accepted, in bytes. Real conditions and mappings are a line or two.
pub const MAX_EXPRESSION_BYTES: usize = 4096;

/// Deepest nesting accepted, as estimated by [`depth`]. The parser stops at 96 nested
/// sub-expressions of its own accord; chains of operators it takes at any length, and in a
/// debug build a chain of about 1,500 overflows a 2 MiB stack.
pub const MAX_EXPRESSION_DEPTH: usize = 64;

/// Why an expression's text is refused before parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextLimit {
    /// Longer than [`MAX_EXPRESSION_BYTES`].
    TooLong(usize),
    /// Nested deeper than [`MAX_EXPRESSION_DEPTH`] (the estimate, at least).
    TooDeep(usize),
}

impl fmt::Display for TextLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextLimit::TooLong(bytes) => write!(
                f,
                "is {bytes} bytes long, more than the {MAX_EXPRESSION_BYTES} allowed"
            ),
            TextLimit::TooDeep(depth) => write!(
                f,
                "nests about {depth} levels deep, more than the {MAX_EXPRESSION_DEPTH} allowed"
            ),
        }
    }
}

/// Checks length, then nesting.
pub fn check(source: &str) -> Result<(), TextLimit> {
    if source.len() > MAX_EXPRESSION_BYTES {
        return Err(TextLimit::TooLong(source.len()));
    }
    match depth(source) {
        d if d > MAX_EXPRESSION_DEPTH => Err(TextLimit::TooDeep(d)),
        _ => Ok(()),
    }
}

/// One bracketed group while scanning: `(..)`, `[..]` or `{..}`, or the whole text.
#[derive(Default)]
struct Group {
    /// Deepest operand finished so far, between separators.
    deepest: usize,
    /// Operators and opening brackets in the current operand, plus its deepest sub-group.
    operand: usize,
    /// Sub-group depth within the current operand.
    inner: usize,
    /// `&&` and `||` in the group: the parser balances these, so they add their logarithm.
    logical: usize,
    /// `?` in the group: each conditional nests the next.
    conditionals: usize,
}

impl Group {
    fn end_operand(&mut self) {
        self.deepest = self.deepest.max(self.operand + self.inner);
        self.operand = 0;
        self.inner = 0;
    }

    fn depth(mut self) -> usize {
        self.end_operand();
        let logical = (usize::BITS - self.logical.leading_zeros()) as usize;
        self.deepest + logical + self.conditionals + 1
    }
}

/// An upper estimate of the depth of the syntax tree of `source`, from its tokens alone: within
/// each bracketed group, the operators of the longest operand (every operator may nest once),
/// plus the deepest group inside it, plus one per conditional and the logarithm of the number
/// of `&&`/`||`. Strings and comments are skipped. Unbalanced brackets are the parser's to
/// report; they only end or start groups here.
pub fn depth(source: &str) -> usize {
    let bytes = source.as_bytes();
    let mut stack: Vec<Group> = vec![Group::default()];
    // Whether the last token ends an operand, so a bracket after it is a call or an index.
    let mut after_operand = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        let top = stack.len() - 1;
        let prev_operand = after_operand;
        if !b.is_ascii_whitespace() && !(b == b'/' && next == Some(b'/')) {
            after_operand = matches!(b, b')' | b']' | b'}' | b'\'' | b'"')
                || b.is_ascii_alphanumeric()
                || b == b'_';
        }
        match b {
            b'\'' | b'"' => {
                i = skip_string(bytes, i);
                continue;
            }
            b'/' if next == Some(b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'(' | b'[' | b'{' => {
                // A call or an index nests under what precedes it; a parenthesis or a literal
                // only counts as the group it opens.
                if prev_operand {
                    stack[top].operand += 1;
                }
                stack.push(Group::default());
            }
            b')' | b']' | b'}' => {
                if stack.len() > 1 {
                    let inner = stack.pop().map_or(0, Group::depth);
                    let parent = stack.len() - 1;
                    stack[parent].inner = stack[parent].inner.max(inner);
                }
            }
            b',' | b':' => stack[top].end_operand(),
            b'?' => {
                stack[top].conditionals += 1;
                stack[top].end_operand();
            }
            b'&' | b'|' if next == Some(b) => {
                stack[top].logical += 1;
                stack[top].end_operand();
                i += 2;
                continue;
            }
            b'=' | b'!' | b'<' | b'>' if next == Some(b'=') => {
                stack[top].operand += 1;
                i += 2;
                continue;
            }
            b'.' | b'+' | b'-' | b'*' | b'/' | b'%' | b'!' | b'<' | b'>' | b'&' | b'|' | b'=' => {
                stack[top].operand += 1;
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                // A string prefix (`r'..'`, `b".."`, `rb'..'`) belongs to the string.
                let word = &source[start..i];
                let prefix = word.len() <= 2 && word.bytes().all(|c| b"rRbB".contains(&c));
                if prefix && matches!(bytes.get(i), Some(b'\'' | b'"')) {
                    i = skip_string(bytes, i);
                } else if word == "in" {
                    stack[top].operand += 1;
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    // Unclosed groups: count them as closed at the end.
    while stack.len() > 1 {
        let inner = stack.pop().map_or(0, Group::depth);
        let parent = stack.len() - 1;
        stack[parent].inner = stack[parent].inner.max(inner);
    }
    stack.pop().map_or(0, Group::depth)
}

/// The index just past the string starting at `start` (a quote), triple-quoted or not; an
/// escape skips the next byte (harmless for raw strings, which can only end earlier).
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let triple = bytes.get(start + 1) == Some(&quote) && bytes.get(start + 2) == Some(&quote);
    let mut i = start + if triple { 3 } else { 1 };
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b if b == quote && !triple => return i + 1,
            b if b == quote
                && bytes.get(i + 1) == Some(&quote)
                && bytes.get(i + 2) == Some(&quote) =>
            {
                return i + 3;
            }
            b'\n' if !triple => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everyday_expressions_are_shallow() {
        for (source, at_most) in [
            ("change.after.status != 'incomplete'", 5),
            ("change.after.items.exists(i, i.price.amount > 0)", 10),
            (
                "change.after.status == 'active' || change.after.status == 'trialing' || change.after.status == 'past_due'",
                8,
            ),
            ("change.after.plan in ['a', 'b', 'c']", 6),
            ("has(change.after.email) ? change.after.email : 'none'", 8),
        ] {
            let d = depth(source);
            assert!(d <= at_most, "{source}: {d}");
            assert_eq!(check(source), Ok(()));
        }
    }

    #[test]
    fn chains_and_nesting_count_in_full() {
        assert!(depth(&format!("change{}", ".a".repeat(100))) > 100);
        assert!(depth(&vec!["1"; 101].join(" + ")) > 100);
        assert!(depth(&format!("change{}", "[0]".repeat(100))) > 100);
        assert!(depth(&format!("{}1{}", "(".repeat(100), ")".repeat(100))) > 100);
        assert!(depth(&format!("{}1{}", "[".repeat(100), "]".repeat(100))) > 100);
        assert!(
            depth(&format!("f{}", "(1)".repeat(100))) > 100,
            "calls on calls"
        );
        assert!(depth(&format!("{}1", "!".repeat(100))) > 100);
        assert!(depth(&"true ? 1 : ".repeat(100)) > 100);
        assert!(depth(&format!("{}1", "(".repeat(100))) > 100, "unclosed");
    }

    #[test]
    fn strings_and_comments_are_skipped() {
        let deep = "(".repeat(200);
        for source in [
            format!("'{deep}' == change.a"),
            format!("\"{deep}\" == change.a"),
            format!("r'{deep}' == change.a"),
            format!("b'\\'{deep}' == change.a"),
            format!("'''{deep}\n{deep}''' == change.a"),
            format!("change.a // {deep}\n == 1"),
        ] {
            assert!(depth(&source) < 10, "{source}");
        }
        assert!(depth(&format!("'a' + {}", "(".repeat(200))) > 100);
    }

    #[test]
    fn limits_are_reported() {
        let long = format!("change.a == '{}'", "x".repeat(MAX_EXPRESSION_BYTES));
        assert_eq!(check(&long), Err(TextLimit::TooLong(long.len())));
        let deep = format!("change{}", ".a".repeat(20_000));
        assert!(matches!(check(&deep), Err(TextLimit::TooLong(_))));
        let chain = vec!["1"; 100].join("+");
        assert!(matches!(check(&chain), Err(TextLimit::TooDeep(_))));
        assert_eq!(
            TextLimit::TooDeep(99).to_string(),
            "nests about 99 levels deep, more than the 64 allowed"
        );
    }
}
