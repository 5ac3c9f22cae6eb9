//! The text of one pipeline file and a collector that turns byte spans into diagnostics.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::diagnostics::{Diagnostic, Severity, Snippet};

/// One pipeline file's text, indexed by line so spans turn into line and column quickly.
#[derive(Debug)]
pub(crate) struct SourceFile {
    path: PathBuf,
    text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub(crate) fn new(path: &Path, text: &str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            path: path.to_path_buf(),
            text: text.to_owned(),
            line_starts,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The folder relative module and secret paths are resolved against.
    pub(crate) fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new(""))
    }

    /// The source text under `span`, or "" when the span does not fit the text.
    pub(crate) fn slice(&self, span: &Range<usize>) -> &str {
        self.text.get(span.clone()).unwrap_or("")
    }

    /// 1-based line of a byte offset, for hints like "first declared on line 12".
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset)
    }

    /// 1-based line and column (in characters) of a byte offset, plus the line's text and the
    /// number of characters of `span` on that line.
    fn locate(&self, span: &Range<usize>) -> (usize, usize, Snippet) {
        let start = floor_char_boundary(&self.text, span.start.min(self.text.len()));
        let index = self.line_starts.partition_point(|&s| s <= start) - 1;
        let line_start = self.line_starts[index];
        let line_end = self.text[line_start..]
            .find('\n')
            .map_or(self.text.len(), |i| line_start + i);
        let line_text = self.text[line_start..line_end].trim_end_matches('\r');
        let col = self.text[line_start..start].chars().count() + 1;
        let end = floor_char_boundary(&self.text, span.end.clamp(start, line_end));
        let width = self.text[start..end].chars().count().max(1);
        let snippet = Snippet {
            text: line_text.to_owned(),
            start: col - 1,
            width,
        };
        (index + 1, col, snippet)
    }
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// Diagnostics kept per file. Past it only a count is kept: a generated file with a million
/// bad keys would otherwise make a report of hundreds of megabytes, and nobody reads past the
/// first screens anyway.
pub(crate) const MAX_DIAGNOSTICS_PER_FILE: usize = 100;

/// Collects the diagnostics of one file.
#[derive(Debug)]
pub(crate) struct Reporter<'a> {
    file: &'a SourceFile,
    diagnostics: Vec<Diagnostic>,
    /// Errors and warnings found past [`MAX_DIAGNOSTICS_PER_FILE`], counted only.
    hidden: (usize, usize),
    /// Receives the `.hint(..)` of a diagnostic that is not kept.
    discarded: Diagnostic,
    secrets: Vec<Range<usize>>,
    /// (start of the table, key) of values reported as wrong and left out.
    removed: BTreeSet<(usize, String)>,
}

impl<'a> Reporter<'a> {
    pub(crate) fn new(file: &'a SourceFile) -> Self {
        Self {
            file,
            diagnostics: Vec::new(),
            hidden: (0, 0),
            discarded: Diagnostic::whole_file(Severity::Error, file.path(), ""),
            secrets: Vec::new(),
            removed: BTreeSet::new(),
        }
    }

    pub(crate) fn file(&self) -> &'a SourceFile {
        self.file
    }

    /// An error pointing at `span`; chain `.hint(..)` to add advice.
    pub(crate) fn error(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.at(Severity::Error, span, message.into())
    }

    /// A warning pointing at `span`.
    pub(crate) fn warning(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.at(Severity::Warning, span, message.into())
    }

    /// An error about the whole file.
    pub(crate) fn file_error(&mut self, message: impl Into<String>) -> &mut Diagnostic {
        if self.full(Severity::Error) {
            return &mut self.discarded;
        }
        let d = Diagnostic::whole_file(Severity::Error, self.file.path(), message);
        self.diagnostics.push(d);
        self.last()
    }

    /// Marks a span that holds a secret (a literal credential). Every snippet of this file
    /// shows `"***"` in its place, so reports can go to shared logs.
    pub(crate) fn mark_secret(&mut self, span: Range<usize>) {
        self.secrets.push(span);
    }

    /// Records that the structural check reported `key` of the table starting at
    /// `table_start` and left it out.
    pub(crate) fn note_removed(&mut self, table_start: usize, key: &str) {
        self.removed.insert((table_start, key.to_owned()));
    }

    /// True when `key` of that table was reported and left out: it is not missing.
    pub(crate) fn was_removed(&self, table_start: usize, key: &str) -> bool {
        self.removed.contains(&(table_start, key.to_owned()))
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.hidden.0 > 0
            || self
                .diagnostics
                .iter()
                .any(|d| d.severity == Severity::Error)
    }

    pub(crate) fn into_diagnostics(mut self) -> Vec<Diagnostic> {
        let secrets = std::mem::take(&mut self.secrets);
        for diagnostic in &mut self.diagnostics {
            if diagnostic.line == 0 {
                continue;
            }
            let line_start = self.file.line_starts[diagnostic.line - 1];
            if let Some(snippet) = &mut diagnostic.snippet {
                redact(snippet, line_start, self.file.text(), &secrets);
            }
        }
        let (errors, warnings) = self.hidden;
        if errors + warnings > 0 {
            let severity = if errors > 0 {
                Severity::Error
            } else {
                Severity::Warning
            };
            let count =
                |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
            let message = format!(
                "{} in this file not shown ({}, {})",
                count(errors + warnings, "more problem"),
                count(errors, "error"),
                count(warnings, "warning")
            );
            let mut more = Diagnostic::whole_file(severity, self.file.path(), message);
            more.hint(format!(
                "only the first {MAX_DIAGNOSTICS_PER_FILE} problems of a file are reported; fix them and validate again"
            ));
            self.diagnostics.push(more);
        }
        self.diagnostics
    }

    /// Counts a diagnostic that no longer fits; true when it must not be kept.
    fn full(&mut self, severity: Severity) -> bool {
        if self.diagnostics.len() < MAX_DIAGNOSTICS_PER_FILE {
            return false;
        }
        match severity {
            Severity::Error => self.hidden.0 += 1,
            Severity::Warning => self.hidden.1 += 1,
        }
        true
    }

    fn at(&mut self, severity: Severity, span: Range<usize>, message: String) -> &mut Diagnostic {
        if self.full(severity) {
            return &mut self.discarded;
        }
        let (line, col, snippet) = self.file.locate(&span);
        self.diagnostics.push(Diagnostic {
            severity,
            file: self.file.path().to_path_buf(),
            line,
            col,
            message,
            snippet: Some(snippet),
            hint: None,
        });
        self.last()
    }

    fn last(&mut self) -> &mut Diagnostic {
        let index = self.diagnostics.len() - 1;
        &mut self.diagnostics[index]
    }
}

/// Replaces each secret on the snippet's line with `"***"`, keeping the underline on the same
/// text (or on the `"***"` when it pointed into the secret).
fn redact(snippet: &mut Snippet, line_start: usize, text: &str, secrets: &[Range<usize>]) {
    let line_end = line_start + snippet.text.len();
    let mut on_line: Vec<(usize, usize)> = secrets
        .iter()
        .filter(|s| s.start >= line_start && s.start < line_end)
        .filter_map(|s| {
            let from = text.get(line_start..s.start)?.chars().count();
            let len = text.get(s.start..s.end.min(line_end))?.chars().count();
            Some((from, from + len))
        })
        .collect();
    // Right to left, so earlier offsets stay valid.
    on_line.sort_unstable_by(|a, b| b.cmp(a));
    on_line.dedup();
    for (from, to) in on_line {
        let chars: Vec<char> = snippet.text.chars().collect();
        if to > chars.len() {
            continue;
        }
        let mut redacted: String = chars[..from].iter().collect();
        redacted.push_str("\"***\"");
        redacted.extend(&chars[to..]);
        snippet.text = redacted;
        let removed = (to - from) as isize - 5;
        if snippet.start >= to {
            snippet.start = (snippet.start as isize - removed).max(0) as usize;
        } else if snippet.start + snippet.width > from {
            snippet.start = from;
            snippet.width = 5;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_in_characters_and_clips_to_the_line() {
        let file = SourceFile::new(Path::new("p.toml"), "a = 1\nname = \"héllo\"\nz = 2\n");
        let start = file.text().find("\"h").unwrap_or_default();
        let (line, col, snippet) = file.locate(&(start..file.text().len()));
        assert_eq!((line, col), (2, 8));
        assert_eq!(snippet.text, "name = \"héllo\"");
        assert_eq!(snippet.width, 7);
    }

    #[test]
    fn secrets_are_hidden_in_every_snippet_of_their_line() {
        let line = "a = { token = \"literal:abc123\", key = \"sk_live_x\", b = \"env:NOPE\" }\n";
        let file = SourceFile::new(Path::new("p.toml"), line);
        let span = |needle: &str| {
            let start = line.find(needle).unwrap_or_default() - 1;
            start..start + needle.len() + 2
        };
        let mut rep = Reporter::new(&file);
        rep.mark_secret(span("literal:abc123"));
        rep.mark_secret(span("sk_live_x"));
        rep.warning(span("literal:abc123"), "literal");
        rep.error(span("env:NOPE"), "not set");
        let all = rep.into_diagnostics();
        let text: String = all.iter().map(ToString::to_string).collect();
        assert!(
            !text.contains("abc123") && !text.contains("sk_live_x"),
            "{text}"
        );
        let redacted = "1 | a = { token = \"***\", key = \"***\", b = \"env:NOPE\" }\n";
        let caret = |lead: usize, width: usize| {
            format!("{redacted}  | {}{}\n", " ".repeat(lead), "^".repeat(width))
        };
        assert!(all[0].to_string().contains(&caret(14, 5)), "{}", all[0]);
        assert!(all[1].to_string().contains(&caret(38, 10)), "{}", all[1]);
        assert_eq!(all[1].col, 56, "the reported column stays the real one");
    }

    #[test]
    fn diagnostics_past_the_cap_are_counted_not_kept() {
        let text = "k = 1\n".repeat(1_000);
        let file = SourceFile::new(Path::new("p.toml"), &text);
        let mut rep = Reporter::new(&file);
        for line in 0..1_000 {
            rep.warning(line * 6..line * 6 + 1, format!("unused key on line {line}"))
                .hint("remove it");
        }
        rep.error(0..1, "one error found last");
        assert!(rep.has_errors(), "a hidden error still fails the load");
        let all = rep.into_diagnostics();
        assert_eq!(all.len(), MAX_DIAGNOSTICS_PER_FILE + 1);
        let last = &all[MAX_DIAGNOSTICS_PER_FILE];
        assert_eq!(last.severity, Severity::Error);
        assert_eq!(
            last.message,
            "901 more problems in this file not shown (1 error, 900 warnings)"
        );
        assert_eq!(last.line, 0);
    }

    #[test]
    fn a_span_at_the_end_of_the_text_is_still_located() {
        let file = SourceFile::new(Path::new("p.toml"), "a = [");
        let (line, col, _) = file.locate(&(5..5));
        assert_eq!((line, col), (1, 6));
    }
}
