//! Step 2: [`RawFile`] -> [`Plan`], checking meaning and cross-references and reporting every
//! problem; the plan is built only when none of them is an error.

mod connectors;
mod expr;
mod fields;
mod hosts;
mod ownership;
mod policies;
mod routes;
mod secrets;
mod sources;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::catalog::{ModuleCatalog, ModuleInfo};
use super::plan::{Connector, Plan};
use super::raw::{RawFile, Text};
use super::report::Reporter;
use super::schema::OBJECTS;
use super::suggest;
use super::units::{self, DURATION_HELP};

/// Looks up an environment variable; injected so tests need no real environment.
pub(crate) type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What validation knows about one declared connector while it checks the rest.
struct Declared {
    /// The module's manifest; `None` when the module could not be described (already reported).
    info: Option<ModuleInfo>,
    /// The checked connector; `None` when it has errors (already reported).
    built: Option<Connector>,
}

/// Shared state of one file's validation.
pub(crate) struct Validator<'f, 'r> {
    rep: &'r mut Reporter<'f>,
    env: EnvLookup<'r>,
    catalog: &'r dyn ModuleCatalog,
    connectors: BTreeMap<String, Declared>,
    /// Connectors referenced by ownership, a source, route or reconciliation.
    used: BTreeSet<String>,
}

/// Validates one parsed file. Problems go to `rep`; the plan is returned only without errors.
pub(crate) fn validate(
    raw: RawFile,
    rep: &mut Reporter<'_>,
    env: EnvLookup<'_>,
    catalog: &dyn ModuleCatalog,
) -> Option<Plan> {
    let mut v = Validator {
        rep,
        env,
        catalog,
        connectors: BTreeMap::new(),
        used: BTreeSet::new(),
    };
    let (name, description, masking_key) = match &raw.pipeline {
        Some(pipeline) => {
            let name = pipeline.get_ref().name.as_ref();
            let name = name.and_then(|n| v.name(n, "pipeline name").then(|| n.get_ref().clone()));
            let key = pipeline.get_ref().masking_key.as_ref();
            (name, pipeline.get_ref().description.clone(), key)
        }
        None => (None, None, None),
    };
    for (name, connector) in &raw.connectors {
        let declared = v.connector(name, connector);
        v.connectors.insert(name.get_ref().clone(), declared);
    }
    let ownership = v.ownership(&raw.ownership);
    let sources = v.sources(&raw.source);
    let routes = v.routes(&raw.route, &ownership, &sources);
    let gates = v.gates(&raw.gates, &raw.route);
    let masking = v.masking(&raw.masking, masking_key);
    let reconcile = v.reconcile(&raw.reconcile, &ownership, &raw.route);
    v.unused_connectors(&raw);

    if v.rep.has_errors() {
        return None;
    }
    let connectors = v
        .connectors
        .into_iter()
        .filter_map(|(name, declared)| declared.built.map(|c| (name, c)))
        .collect();
    Some(Plan {
        name: name?,
        description,
        file: v.rep.file().path().to_path_buf(),
        connectors,
        ownership: ownership
            .into_iter()
            .filter_map(|(object, owner)| owner.map(|o| (object, o)))
            .collect(),
        sources: sources.into_iter().filter_map(|s| s.source).collect(),
        routes: routes.into_iter().flatten().collect(),
        gates,
        masking,
        reconcile,
    })
}

impl Validator<'_, '_> {
    /// Names: lowercase letters, digits and hyphens, so they are safe in metrics labels, keys
    /// and URLs.
    fn name(&mut self, name: &Text, what: &str) -> bool {
        let text = name.get_ref();
        let ok = !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            let suggestion: String = text
                .to_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            self.rep
                .error(name.span(), format!("invalid {what} `{text}`"))
                .hint(format!(
                    "use lowercase letters, digits and hyphens, e.g. `{suggestion}`"
                ));
        }
        ok
    }

    /// A connector that ownership, a source, route or reconciliation uses.
    fn use_connector(&mut self, name: &Text) -> bool {
        let ok = self.connector_ref(name);
        if ok {
            self.used.insert(name.get_ref().clone());
        }
        ok
    }

    /// A reference to a declared connector; reports an unknown one.
    fn connector_ref(&mut self, name: &Text) -> bool {
        let text = name.get_ref();
        if self.connectors.contains_key(text) {
            return true;
        }
        let hint = suggest::hint(
            text,
            self.connectors.keys().map(String::as_str),
            "declared connectors",
        );
        self.rep
            .error(name.span(), format!("unknown connector `{text}`"))
            .hint(hint);
        false
    }

    /// The manifest of a declared connector's module, if it could be described.
    fn info(&self, connector: &str) -> Option<&ModuleInfo> {
        self.connectors.get(connector)?.info.as_ref()
    }

    /// A canonical object name.
    fn object(&mut self, object: &Text) -> bool {
        let text = object.get_ref();
        if OBJECTS.contains(&text.as_str()) {
            return true;
        }
        let hint = suggest::hint(text, OBJECTS.iter().copied(), "expected one of");
        self.rep
            .error(object.span(), format!("unknown object `{text}`"))
            .hint(hint);
        false
    }

    fn duration(&mut self, text: &Text, what: &str) -> Option<Duration> {
        match units::parse_duration(text.get_ref()) {
            Ok(duration) => Some(duration),
            Err(error) => {
                self.rep
                    .error(
                        text.span(),
                        format!(
                            "invalid duration `{}` for {what}: it {error}",
                            text.get_ref()
                        ),
                    )
                    .hint(DURATION_HELP);
                None
            }
        }
    }

    /// An interval no shorter than `floor`; reports a shorter one.
    fn at_least(
        &mut self,
        text: &Text,
        value: Duration,
        floor: Duration,
        what: &str,
        why: &str,
    ) -> bool {
        if value >= floor {
            return true;
        }
        self.rep
            .error(
                text.span(),
                format!(
                    "{what} interval `{}` is shorter than the minimum of {}",
                    text.get_ref(),
                    match floor.as_secs() {
                        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
                        s => format!("{s}s"),
                    }
                ),
            )
            .hint(why);
        false
    }

    /// Warns about connectors nothing uses: probably a typo or a leftover.
    fn unused_connectors(&mut self, raw: &RawFile) {
        for name in raw.connectors.keys() {
            if !self.used.contains(name.get_ref()) {
                self.rep
                    .warning(
                        name.span(),
                        format!("connector `{}` is declared but never used", name.get_ref()),
                    )
                    .hint("use it in [ownership], a [[source]], a [[route]] or a [reconcile.NAME], or remove it");
            }
        }
    }
}

/// "what: a, b, c", or "what: nothing".
pub(super) fn list_hint(what: &str, items: &[String]) -> String {
    if items.is_empty() {
        format!("{what}: nothing")
    } else {
        format!("{what}: {}", items.join(", "))
    }
}
