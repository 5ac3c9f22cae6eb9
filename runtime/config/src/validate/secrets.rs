//! Secret references: `env:VAR`, `file:PATH` and `literal:VALUE`, resolved at validation time.

use super::super::files::{MAX_SECRET_FILE, ReadError, read_text_limited};
use super::super::raw::Text;
use super::Validator;
use crate::Secret;

const HELP: &str = "write env:VAR, file:PATH or literal:VALUE";

impl Validator<'_, '_> {
    /// Resolves one reference. Messages never contain a secret's value, and snippets show
    /// `"***"` in place of one written in the file.
    pub(super) fn secret(&mut self, reference: &Text, what: &str) -> Option<Secret> {
        let span = reference.span();
        let text = reference.get_ref();
        if let Some(var) = text.strip_prefix("env:") {
            let valid_name = !var.is_empty()
                && !var.starts_with(|c: char| c.is_ascii_digit())
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid_name {
                self.rep
                    .error(
                        span,
                        format!("invalid environment variable name `{var}` for {what}"),
                    )
                    .hint("names are letters, digits and underscores, e.g. env:STRIPE_API_KEY");
                return None;
            }
            return match (self.env)(var) {
                Some(value) if !value.is_empty() => Some(Secret::new(value)),
                Some(_) => {
                    self.rep.error(
                        span,
                        format!("environment variable `{var}` for {what} is empty"),
                    );
                    None
                }
                None => {
                    self.rep
                        .error(
                            span,
                            format!("environment variable `{var}` for {what} is not set"),
                        )
                        .hint(format!("set {var} in the environment junction runs in"));
                    None
                }
            };
        }
        if let Some(path) = text.strip_prefix("file:") {
            let resolved = self.rep.file().dir().join(path);
            return match read_text_limited(&resolved, MAX_SECRET_FILE) {
                // Secret files usually end with a newline that is not part of the secret.
                Ok(value) if !value.trim_end_matches(['\r', '\n']).is_empty() => {
                    Some(Secret::new(value.trim_end_matches(['\r', '\n'])))
                }
                Ok(_) => {
                    self.rep
                        .error(span, format!("secret file `{path}` for {what} is empty"));
                    None
                }
                Err(error) => {
                    let hint = match error {
                        ReadError::Io(_) => {
                            "relative paths are resolved against the folder of the pipeline file"
                        }
                        _ => "a secret file is a regular file holding the secret alone",
                    };
                    self.rep
                        .error(
                            span,
                            format!("cannot read secret file `{path}` for {what}: {error}"),
                        )
                        .hint(hint);
                    None
                }
            };
        }
        if let Some(value) = text.strip_prefix("literal:") {
            if value.is_empty() {
                self.rep
                    .error(span, format!("empty literal secret for {what}"));
                return None;
            }
            self.rep.mark_secret(span.clone());
            self.rep
                .warning(
                    span,
                    format!("secret for {what} is written in the pipeline file"),
                )
                .hint("anyone who can read this file can use it; prefer env:VAR or file:PATH");
            return Some(Secret::new(value));
        }
        // Probably a credential pasted in place of a reference: keep it out of the report.
        self.rep.mark_secret(span.clone());
        self.rep
            .error(span, format!("{what} must be a secret reference"))
            .hint(HELP);
        None
    }
}
