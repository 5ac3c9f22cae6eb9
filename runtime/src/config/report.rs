//! The text of one pipeline file and a collector that turns byte spans into diagnostics.

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

/// Collects the diagnostics of one file.
#[derive(Debug)]
pub(crate) struct Reporter<'a> {
    file: &'a SourceFile,
    diagnostics: Vec<Diagnostic>,
}

impl<'a> Reporter<'a> {
    pub(crate) fn new(file: &'a SourceFile) -> Self {
        Self {
            file,
            diagnostics: Vec::new(),
        }
    }

    pub(crate) fn file(&self) -> &'a SourceFile {
        self.file
    }

    /// An error pointing at `span`; chain `.hint(..)` to add advice.
    pub(crate) fn error(&mut self, span: Range<usize>, message: impl Into<String>) -> &mut Diagnostic {
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
        let d = Diagnostic::whole_file(Severity::Error, self.file.path(), message);
        self.diagnostics.push(d);
        self.last()
    }

    /// Like [`Reporter::error`] and [`Reporter::warning`], for a span that holds a secret: the
    /// snippet shows `"***"` in its place, so the report can go to a shared log.
    pub(crate) fn about_secret(
        &mut self,
        severity: Severity,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        let diagnostic = self.at(severity, span, message.into());
        if let Some(snippet) = &mut diagnostic.snippet {
            let before: String = snippet.text.chars().take(diagnostic.col - 1).collect();
            let after: String = snippet
                .text
                .chars()
                .skip(diagnostic.col - 1 + snippet.width)
                .collect();
            snippet.text = format!("{before}\"***\"{after}");
            snippet.width = 5;
        }
        diagnostic
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    pub(crate) fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diagnostics
    }

    fn at(&mut self, severity: Severity, span: Range<usize>, message: String) -> &mut Diagnostic {
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
    fn secret_snippets_hide_the_value() {
        let file = SourceFile::new(Path::new("p.toml"), "token = \"literal:abc123\" # note\n");
        let mut rep = Reporter::new(&file);
        rep.about_secret(Severity::Warning, 8..24, "secret written in the file");
        let text = rep.into_diagnostics()[0].to_string();
        assert!(!text.contains("abc123"), "{text}");
        assert!(text.contains("1 | token = \"***\" # note\n  |         ^^^^^\n"), "{text}");
    }

    #[test]
    fn a_span_at_the_end_of_the_text_is_still_located() {
        let file = SourceFile::new(Path::new("p.toml"), "a = [");
        let (line, col, _) = file.locate(&(5..5));
        assert_eq!((line, col), (1, 6));
    }
}
