//! Junction's pipeline configuration: TOML files -> checked [`Plan`]s, with every problem reported at once.
//!
//! Loading is three steps with types between them:
//!
//! ```text
//! text --parse--> RawFile --validate--> Plan
//!       syntax,            references, units, CEL,
//!       unknown/missing    ownership, secrets, modules
//!       keys, value types
//! ```
//!
//! 1. **parse** (`parse.rs`, `structure.rs`, `raw.rs`): TOML syntax, then a structural check
//!    against the format's schema (`schema.rs`: unknown keys with a did-you-mean hint, missing
//!    required keys, wrong value types), then serde into spanned raw types. Every bad key or
//!    value is reported and left out, so one typo does not hide the next problem.
//! 2. **validate** (`validate/`): meaning and cross-references: connectors and objects exist,
//!    durations, rates and sizes parse, CEL expressions compile, routes start at the object's
//!    owner, modules can do what the pipeline asks of them (via [`ModuleCatalog`]), settings and
//!    secrets are granted, secrets resolve.
//! 3. **build**: only a file without errors yields a [`Plan`]: names resolved, units parsed,
//!    expressions compiled, secrets held as [`Secret`]s.
//!
//! Errors fail the load and come back as [`Diagnostics`], displayed like rustc's (file, line,
//! column, the offending text underlined, a hint). Warnings (e.g. a literal secret, an unused
//! connector) do not fail it: they come back in [`Loaded::warnings`] next to the plans, and in
//! the [`Diagnostics`] of a failed load next to the errors.
//!
//! This crate knows no wasmtime and no SQL (the crate boundary keeps it so): modules are
//! described through [`ModuleCatalog`], which the host implements. That also keeps it small
//! enough to fuzz on its own (`fuzz/`, target `pipeline`).
#![warn(missing_docs)]

pub mod canonical;
mod catalog;
mod diagnostics;
mod expression;
mod files;
mod parse;
mod plan;
pub mod printable;
mod raw;
mod report;
mod schema;
mod secret;
mod structure;
mod suggest;
mod units;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use catalog::{ModuleCatalog, ModuleInfo, ModuleRef, SettingInfo};
pub use diagnostics::{Diagnostic, Diagnostics, Severity, Snippet};
pub use expression::{
    MAX_EVALUATION_COST, MAX_EXPRESSION_BYTES, MAX_EXPRESSION_DEPTH, VALIDATION_CHANGE_SIZE,
    input_size,
};
pub use files::{MAX_PIPELINE_FILE, MAX_SECRET_FILE, ReadError, read_limited, read_text_limited};
pub use plan::{
    AllowedHost, Auth, Confirm, ConfirmFields, Connector, Expr, FutureDated, Gate, GateTarget,
    Jitter, Limits, MaskRule, MaskStrategy, Masking, Mode, OnFail, Ownership, Plan, Priority,
    Reconcile, RetryPolicy, Route, Scope, Setting, Source, Trigger,
};
pub use printable::{printable, printable_json};
pub use schema::{OBJECTS, json_schema};
pub use secret::Secret;
pub use units::{Rate, UnitError, parse_duration, parse_rate, parse_size};

use raw::Text;
use report::{Reporter, SourceFile};

/// The result of a successful load: the plans, plus warnings worth showing the operator.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// One plan per file, in the order the files were given.
    pub plans: Vec<Plan>,
    /// Problems that do not stop the pipelines from running.
    pub warnings: Diagnostics,
}

/// Loads and checks pipeline files together (pipeline names and webhook paths must be unique
/// across them, since one runtime serves them all).
///
/// `env` looks up environment variables for `env:` secrets; pass
/// `&|name| std::env::var(name).ok()` in production. On any error, every problem of every file
/// is returned, warnings included.
pub fn load(
    paths: &[PathBuf],
    env: &dyn Fn(&str) -> Option<String>,
    catalog: &dyn ModuleCatalog,
) -> Result<Loaded, Diagnostics> {
    let mut files = Vec::new();
    let mut diagnostics = Diagnostics::new();
    for path in paths {
        match read_text_limited(path, MAX_PIPELINE_FILE) {
            Ok(text) => files.push(SourceFile::new(path, &text)),
            Err(error) => diagnostics.push(Diagnostic::whole_file(
                Severity::Error,
                path,
                format!("cannot read pipeline file: {error}"),
            )),
        }
    }
    load_files(&files, diagnostics, env, catalog)
}

/// Loads one pipeline from text, as if read from `file` (used for messages and to resolve
/// relative module and secret paths). For tests and tools that hold the text already.
pub fn load_str(
    file: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    catalog: &dyn ModuleCatalog,
) -> Result<Loaded, Diagnostics> {
    let files = [SourceFile::new(file, text)];
    load_files(&files, Diagnostics::new(), env, catalog)
}

fn load_files(
    files: &[SourceFile],
    mut diagnostics: Diagnostics,
    env: &dyn Fn(&str) -> Option<String>,
    catalog: &dyn ModuleCatalog,
) -> Result<Loaded, Diagnostics> {
    let mut plans = Vec::new();
    let mut names: BTreeMap<String, (&Path, usize)> = BTreeMap::new();
    let mut paths: BTreeMap<String, (&Path, usize)> = BTreeMap::new();
    for file in files {
        let mut rep = Reporter::new(file);
        if let Some(raw) = parse::parse(&mut rep) {
            let name = raw.pipeline.as_ref().and_then(|p| p.get_ref().name.clone());
            let webhooks: Vec<Text> = raw
                .source
                .iter()
                .filter_map(|s| s.get_ref().webhook.clone())
                .collect();
            if let Some(name) = &name {
                unique_across_files(&mut rep, name, &mut names, "pipeline name");
            }
            for path in &webhooks {
                unique_across_files(&mut rep, path, &mut paths, "webhook path");
            }
            if let Some(plan) = validate::validate(raw, &mut rep, env, catalog) {
                plans.push(plan);
            }
        }
        diagnostics.extend(rep.into_diagnostics().into());
    }
    diagnostics.sort();
    if diagnostics.has_errors() {
        Err(diagnostics)
    } else {
        Ok(Loaded {
            plans,
            warnings: diagnostics,
        })
    }
}

/// Reports a name already used by an earlier file.
fn unique_across_files<'f>(
    rep: &mut Reporter<'f>,
    text: &Text,
    seen: &mut BTreeMap<String, (&'f Path, usize)>,
    what: &str,
) {
    let line = rep.file().line_of(text.span().start);
    match seen.get(text.get_ref()) {
        Some((file, first)) if *file != rep.file().path() => {
            let hint = format!("also used in {}:{first}", file.display());
            rep.error(
                text.span(),
                format!("{what} `{}` is used by two pipelines", text.get_ref()),
            )
            .hint(hint);
        }
        Some(_) => {}
        None => {
            seen.insert(text.get_ref().clone(), (rep.file().path(), line));
        }
    }
}
