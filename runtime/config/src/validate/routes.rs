//! `[[route]]`: where changes go, on what condition, mapped how, confirmed and retried how.

use std::collections::BTreeMap;
use std::time::Duration;

use toml::Spanned;

use super::super::plan::{
    Confirm, ConfirmFields, FutureDated, Mode, Ownership, RetryPolicy, Route, Scope,
};
use super::super::raw::{RawRoute, Text};
use super::expr::Expect;
use super::ownership::Owners;
use super::sources::SourceState;
use super::{Validator, list_hint};

/// The shortest interval between read-backs a route may ask for.
const MIN_CONFIRM_INTERVAL: Duration = Duration::from_millis(10);

impl Validator<'_, '_> {
    pub(super) fn routes(
        &mut self,
        raw: &[Spanned<RawRoute>],
        owners: &Owners,
        sources: &[SourceState],
    ) -> Vec<Option<Route>> {
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        raw.iter()
            .map(|entry| self.route(entry.get_ref(), owners, sources, &mut names))
            .collect()
    }

    fn route(
        &mut self,
        r: &RawRoute,
        owners: &Owners,
        sources: &[SourceState],
        names: &mut BTreeMap<String, usize>,
    ) -> Option<Route> {
        let mut ok = true;
        if let Some(name) = &r.name {
            ok &= self.name(name, "route name");
            let line = self.rep.file().line_of(name.span().start);
            if let Some(first) = names.get(name.get_ref()) {
                self.rep
                    .error(name.span(), format!("duplicate route name `{}`", name.get_ref()))
                    .hint(format!("first declared on line {first}; route names must be unique (they are part of idempotency keys)"));
                ok = false;
            } else {
                names.insert(name.get_ref().clone(), line);
            }
        }
        let from_ok = r.from.as_ref().is_some_and(|f| self.use_connector(f));
        let to_ok = r.to.as_ref().is_some_and(|t| self.use_connector(t));
        ok &= from_ok && to_ok;
        if let (Some(from), Some(to)) = (&r.from, &r.to)
            && from.get_ref() == to.get_ref()
        {
            self.rep
                .error(
                    to.span(),
                    format!("route writes back to its own source `{}`", to.get_ref()),
                )
                .hint("a route moves changes between two different connectors");
            ok = false;
        }

        let scope = match (&r.from, &r.object) {
            (Some(from), Some(object)) if from_ok => self.scope(from, object, owners),
            _ => None,
        };
        ok &= scope.is_some();

        // Only a route that starts at the owner needs a source; a source with broken
        // `connector` or `objects` might be the one meant, and was reported already.
        if let (Some(from), Some(object), Some(_)) = (&r.from, &r.object, &scope) {
            let delivered = sources.iter().any(|s| match (&s.connector, &s.objects) {
                (Some(connector), Some(objects)) => {
                    connector == from.get_ref() && objects.contains(object.get_ref())
                }
                (Some(connector), None) => connector == from.get_ref(),
                (None, _) => true,
            });
            if !delivered {
                self.rep
                    .error(
                        object.span(),
                        format!(
                            "no [[source]] delivers `{}` from `{}`",
                            object.get_ref(),
                            from.get_ref()
                        ),
                    )
                    .hint(format!(
                        "add \"{}\" to the objects of a [[source]] with connector = \"{}\"",
                        object.get_ref(),
                        from.get_ref()
                    ));
                ok = false;
            }
        }

        let target =
            r.to.as_ref()
                .filter(|_| to_ok)
                .and_then(|t| self.info(t.get_ref()))
                .cloned();
        if let (Some(info), Some(object), Some(to)) = (&target, &r.object, &r.to)
            && !info.sink_objects.contains(object.get_ref())
        {
            self.rep
                .error(
                    to.span(),
                    format!(
                        "module `{}` of connector `{}` cannot write `{}`",
                        info.name,
                        to.get_ref(),
                        object.get_ref()
                    ),
                )
                .hint(list_hint("it writes", &info.sink_objects));
            ok = false;
        }

        let when = match &r.when {
            Some(when) => {
                let expr = self.expr(when, "`when`", Expect::Bool);
                ok &= expr.is_some();
                expr
            }
            None => None,
        };
        let map = match &r.map {
            Some(map) => {
                let mut compiled = BTreeMap::new();
                for (field, expression) in map.get_ref() {
                    if let Some(object) = &r.object {
                        ok &= self.field(
                            object.get_ref(),
                            field.get_ref(),
                            field.span(),
                            "map target",
                        );
                    }
                    match self.expr(
                        expression,
                        &format!("map.{}", field.get_ref()),
                        Expect::Value,
                    ) {
                        Some(expr) => {
                            compiled.insert(field.get_ref().clone(), expr);
                        }
                        None => ok = false,
                    }
                }
                if map.get_ref().is_empty() {
                    self.rep
                        .error(map.span(), "`map` is empty, so the route would write nothing")
                        .hint("map target fields to expressions, or remove `map` to pass the document as is");
                    ok = false;
                }
                Some(compiled)
            }
            None => None,
        };
        let confirm = self.confirm(r);
        let retry = self.retry(r);
        if let (Some(from), Some(object), Some(scope)) = (&r.from, &r.object, &scope) {
            let ownership = owners.get(object.get_ref()).cloned().flatten();
            let mapped = r.map.iter().flat_map(|m| m.get_ref().keys());
            let confirmed = r
                .confirm
                .iter()
                .flat_map(|c| c.get_ref().fields.iter())
                .flat_map(|f| f.get_ref());
            for (field, what) in mapped
                .map(|f| (f, "map target"))
                .chain(confirmed.map(|f| (f, "confirm field")))
            {
                ok &= self.carried(
                    from.get_ref(),
                    object.get_ref(),
                    scope,
                    ownership.as_ref(),
                    field,
                    what,
                );
            }
        }

        let accepts_future = target.as_ref().map(|info| info.future_dated_writes);
        // An explicit `pass` stands even for a module that takes no effective dates: the
        // operator has decided the document carries its own (e.g. a billing stop date).
        let future_dated = match (&r.future_dated, accepts_future) {
            (Some(choice), _) => *choice.get_ref(),
            (None, Some(true)) => FutureDated::Pass,
            (None, _) => FutureDated::Hold,
        };

        let (
            Some(name),
            Some(from),
            Some(to),
            Some(object),
            Some(scope),
            Some(confirm),
            Some(retry),
        ) = (&r.name, &r.from, &r.to, &r.object, scope, confirm, retry)
        else {
            return None;
        };
        ok.then(|| Route {
            name: name.get_ref().clone(),
            from: from.get_ref().clone(),
            to: to.get_ref().clone(),
            object: object.get_ref().clone(),
            scope,
            mode: r.mode.unwrap_or(Mode::Write),
            when,
            confirm: Confirm {
                fields: match (&confirm.fields, &map) {
                    (Some(fields), _) => ConfirmFields::Only(fields.clone()),
                    (None, Some(map)) => ConfirmFields::Only(map.keys().cloned().collect()),
                    (None, None) => ConfirmFields::All,
                },
                within: confirm.within,
                interval: confirm.interval,
            },
            map,
            retry,
            priority: r.priority.unwrap_or_default(),
            future_dated,
        })
    }

    /// Reports `field` (a map target or a confirm field) when the route's source does not own
    /// it: the route carries only what its source owns, so that field would never be written
    /// or compared.
    fn carried(
        &mut self,
        from: &str,
        object: &str,
        scope: &Scope,
        ownership: Option<&Ownership>,
        field: &Text,
        what: &str,
    ) -> bool {
        let name = field.get_ref().as_str();
        let owner = ownership.map_or(from, |o| o.owner_of(name));
        let carried = name == "id"
            || match scope {
                Scope::Object => owner == from,
                Scope::Fields(fields) => fields.iter().any(|f| f == name),
            };
        if carried {
            return true;
        }
        let owned = match scope {
            Scope::Object => {
                let others: Vec<String> = ownership
                    .iter()
                    .flat_map(|o| o.fields.iter())
                    .filter(|(_, c)| *c != from)
                    .map(|(f, c)| format!("{f} ({c})"))
                    .collect();
                format!("{object} except {}", others.join(", "))
            }
            Scope::Fields(fields) => format!("{} of {object}", fields.join(", ")),
        };
        self.rep
            .error(
                field.span(),
                format!("{what} `{name}` is owned by `{owner}`, so a route from `{from}` never carries it"),
            )
            .hint(format!("`{from}` owns {owned}; write `{name}` from a route that starts at `{owner}`"));
        false
    }

    /// What part of `object` the route's source owns; reports a source that owns none of it.
    fn scope(&mut self, from: &Text, object: &Text, owners: &Owners) -> Option<Scope> {
        let Some(entry) = owners.get(object.get_ref()) else {
            self.rep
                .error(
                    object.span(),
                    format!("no system of record is declared for `{}`", object.get_ref()),
                )
                .hint(format!(
                    "add {} = \"{}\" under [ownership]; only the owner's changes propagate",
                    object.get_ref(),
                    from.get_ref()
                ));
            return None;
        };
        // An ownership entry with errors was reported already.
        let ownership = entry.as_ref()?;
        if ownership.owner == *from.get_ref() {
            return Some(Scope::Object);
        }
        let fields: Vec<String> = ownership
            .fields
            .iter()
            .filter(|(_, owner)| *owner == from.get_ref())
            .map(|(field, _)| field.clone())
            .collect();
        if !fields.is_empty() {
            return Some(Scope::Fields(fields));
        }
        self.rep
            .error(
                from.span(),
                format!("`{}` is not the owner of `{}`", from.get_ref(), object.get_ref()),
            )
            .hint(format!(
                "[ownership] makes `{}` the system of record for {}; a route must start at the owner",
                ownership.owner,
                object.get_ref()
            ));
        None
    }

    fn confirm(&mut self, r: &RawRoute) -> Option<PartialConfirm> {
        let mut confirm = PartialConfirm {
            fields: None,
            within: Duration::from_secs(30),
            interval: Duration::from_millis(500),
        };
        let Some(raw) = &r.confirm else {
            return Some(confirm);
        };
        let mut ok = true;
        if let Some(fields) = &raw.get_ref().fields {
            if fields.get_ref().is_empty() {
                self.rep
                    .error(fields.span(), "confirm.fields is empty, so nothing would be confirmed")
                    .hint("list the fields a read-back must show, or remove `fields` to confirm every mapped field");
                ok = false;
            }
            // Any field of the object can be confirmed, mapped or not: `map` sets fields over
            // the source document, and the rest of it is written too.
            if let Some(object) = &r.object {
                for field in fields.get_ref() {
                    ok &= self.field(
                        object.get_ref(),
                        field.get_ref(),
                        field.span(),
                        "confirm field",
                    );
                }
            }
            confirm.fields = Some(
                fields
                    .get_ref()
                    .iter()
                    .map(|f| f.get_ref().clone())
                    .collect(),
            );
        }
        if let Some(within) = &raw.get_ref().within {
            match self.duration(within, "confirm.within") {
                Some(d) => confirm.within = d,
                None => ok = false,
            }
        }
        if let Some(interval) = &raw.get_ref().interval {
            match self.duration(interval, "confirm.interval") {
                // Read-backs are requests to the vendor: one every few milliseconds per
                // delivery would hammer it (and its rate limits) for nothing.
                Some(d) if d < MIN_CONFIRM_INTERVAL => {
                    self.rep
                        .error(
                            interval.span(),
                            format!(
                                "confirm.interval `{}` is shorter than {} ms",
                                interval.get_ref(),
                                MIN_CONFIRM_INTERVAL.as_millis()
                            ),
                        )
                        .hint("read-backs thin out on their own from this interval; 1s suits most vendors");
                    ok = false;
                }
                Some(d) => confirm.interval = d,
                None => ok = false,
            }
        }
        if ok && confirm.interval > confirm.within {
            self.rep
                .error(raw.span(), "confirm.interval is longer than confirm.within")
                .hint("the read-back would never run before the deadline; shorten `interval` or lengthen `within`");
            ok = false;
        }
        ok.then_some(confirm)
    }

    fn retry(&mut self, r: &RawRoute) -> Option<RetryPolicy> {
        let mut retry = RetryPolicy::DEFAULT;
        let Some(raw) = &r.retry else {
            return Some(retry);
        };
        let mut ok = true;
        let policy = raw.get_ref();
        if let Some(attempts) = policy.attempts {
            retry.attempts = attempts;
        }
        if let Some(initial) = &policy.initial {
            match self.duration(initial, "retry.initial") {
                Some(d) => retry.initial = d,
                None => ok = false,
            }
        }
        if let Some(max) = &policy.max {
            match self.duration(max, "retry.max") {
                Some(d) => retry.max = d,
                None => ok = false,
            }
        }
        if let Some(jitter) = policy.jitter {
            retry.jitter = jitter;
        }
        if ok && retry.initial > retry.max {
            self.rep
                .error(raw.span(), "retry.initial is longer than retry.max")
                .hint("back-off starts at `initial` and doubles up to `max`");
            ok = false;
        }
        ok.then_some(retry)
    }
}

/// Confirmation settings before the default field list is known.
struct PartialConfirm {
    fields: Option<Vec<String>>,
    within: Duration,
    interval: Duration,
}
