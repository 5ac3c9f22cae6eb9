//! Diagnostics: every problem found in a pipeline file, displayed like rustc's.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::printable::printable;

/// How bad a problem is: errors fail the load, warnings are reported next to the plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The pipeline cannot run as written.
    Error,
    /// The pipeline can run, but something deserves the operator's attention.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// The source line a diagnostic points into and what to underline in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snippet {
    /// The source line, without its line break; secrets written in it show as `"***"`.
    pub text: String,
    /// Characters of `text` before the underline (usually `col - 1`; less when a secret
    /// earlier on the line was shortened to `"***"`).
    pub start: usize,
    /// Characters underlined (at least 1).
    pub width: usize,
}

/// One problem, located in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The pipeline file, as it was given (or made relative by [`Diagnostics::relative_to`]).
    pub file: PathBuf,
    /// 1-based line; 0 when the problem concerns the whole file.
    pub line: usize,
    /// 1-based column, counted in characters; 0 when the problem concerns the whole file.
    pub col: usize,
    /// What is wrong, in one line.
    pub message: String,
    /// The offending source line, when the problem has a position.
    pub snippet: Option<Snippet>,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A problem with no position in the file (e.g. the file cannot be read).
    pub fn whole_file(severity: Severity, file: &Path, message: impl Into<String>) -> Self {
        Self {
            severity,
            file: file.to_path_buf(),
            line: 0,
            col: 0,
            message: message.into(),
            snippet: None,
            hint: None,
        }
    }

    /// Adds or replaces the hint.
    pub fn hint(&mut self, hint: impl Into<String>) -> &mut Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    /// Text that came from the file or a module (names, keys, the source line) is shown through
    /// [`printable`], so it cannot move the cursor or start a line of its own.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {}", self.severity, printable(&self.message))?;
        let gutter = if self.line == 0 {
            1
        } else {
            self.line.to_string().len()
        };
        let pad = " ".repeat(gutter);
        let file = self.file.display().to_string();
        let file = printable(&file);
        if self.line == 0 {
            writeln!(f, "{pad}--> {file}")?;
        } else {
            writeln!(f, "{pad}--> {file}:{}:{}", self.line, self.col)?;
        }
        if let Some(snippet) = &self.snippet {
            let before: String = snippet.text.chars().take(snippet.start).collect();
            let under: String = snippet
                .text
                .chars()
                .skip(snippet.start)
                .take(snippet.width)
                .collect();
            // Keep tabs in the caret line so the carets stay under the text in a terminal;
            // an escaped character is as wide as its escape.
            let lead: String = printable(&before)
                .chars()
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let width = printable(&under).chars().count().max(snippet.width).max(1);
            writeln!(f, "{pad} |")?;
            writeln!(f, "{} | {}", self.line, printable(&snippet.text))?;
            writeln!(f, "{pad} | {lead}{}", "^".repeat(width))?;
        }
        if let Some(hint) = &self.hint {
            writeln!(f, "{pad} = hint: {}", printable(hint))?;
        }
        Ok(())
    }
}

/// Every problem found in one load, in file and position order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    /// No problems.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a problem.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    /// Adds every problem of `other`.
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// True when at least one problem is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.0
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// Number of warnings.
    pub fn warning_count(&self) -> usize {
        self.0
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count()
    }

    /// True when there is nothing to report.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The problems, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// The problems, in order.
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.0
    }

    /// Shows file paths relative to `base` where they are under it (e.g. the current folder),
    /// so messages stay short and golden files do not depend on where the checkout lives.
    pub fn relative_to(mut self, base: &Path) -> Self {
        for d in &mut self.0 {
            if let Ok(rel) = d.file.strip_prefix(base) {
                d.file = rel.to_path_buf();
            }
        }
        self
    }

    /// Orders by file, then position; problems about a whole file come after the located ones.
    /// The sort is stable, so problems at one position keep the order they were found in.
    pub(crate) fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            a.file
                .cmp(&b.file)
                .then((a.line == 0).cmp(&(b.line == 0)))
                .then(a.line.cmp(&b.line))
                .then(a.col.cmp(&b.col))
        });
    }
}

impl From<Vec<Diagnostic>> for Diagnostics {
    fn from(list: Vec<Diagnostic>) -> Self {
        Self(list)
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    /// Every diagnostic, a blank line between them, then a one-line count.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        let (errors, warnings) = (self.error_count(), self.warning_count());
        let plural = |n: usize, word: &str| {
            if n == 1 {
                format!("1 {word}")
            } else {
                format!("{n} {word}s")
            }
        };
        match (errors, warnings) {
            (0, 0) => Ok(()),
            (0, w) => writeln!(f, "warning: {} emitted", plural(w, "warning")),
            (e, 0) => writeln!(f, "error: {} found", plural(e, "error")),
            (e, w) => writeln!(
                f,
                "error: {} found; {} emitted",
                plural(e, "error"),
                plural(w, "warning")
            ),
        }
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_rustc() {
        let d = Diagnostic {
            severity: Severity::Error,
            file: PathBuf::from("pipelines/bad.toml"),
            line: 12,
            col: 6,
            message: "unknown connector `netsuit`".into(),
            snippet: Some(Snippet {
                text: "to = \"netsuit\"".into(),
                start: 5,
                width: 9,
            }),
            hint: Some("declared connectors: netsuite, stripe".into()),
        };
        let expected = "\
error: unknown connector `netsuit`
  --> pipelines/bad.toml:12:6
   |
12 | to = \"netsuit\"
   |      ^^^^^^^^^
   = hint: declared connectors: netsuite, stripe
";
        assert_eq!(d.to_string(), expected);
    }

    #[test]
    fn whole_file_problems_have_no_snippet_and_sort_last() {
        let file = Path::new("a.toml");
        let mut located = Diagnostic::whole_file(Severity::Error, file, "located");
        located.line = 3;
        located.col = 1;
        let mut all = Diagnostics::from(vec![
            Diagnostic::whole_file(Severity::Warning, file, "whole file"),
            located,
        ]);
        all.sort();
        let text = all.to_string();
        assert!(
            text.starts_with("error: located\n --> a.toml:3:1\n"),
            "{text}"
        );
        assert!(
            text.contains("warning: whole file\n --> a.toml\n"),
            "{text}"
        );
        assert!(
            text.ends_with("error: 1 error found; 1 warning emitted\n"),
            "{text}"
        );
    }
}
