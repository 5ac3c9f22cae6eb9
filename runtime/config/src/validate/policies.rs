//! `[gates.NAME]`, `[masking]` and `[reconcile.NAME]`.

use std::collections::BTreeMap;

use toml::Spanned;

use super::super::plan::{Gate, GateTarget, MaskRule, MaskStrategy, Masking, Reconcile};
use super::super::raw::{RawGate, RawReconcile, RawRoute, Text};
use super::super::schema::OBJECTS;
use super::super::suggest;
use super::expr::Expect;
use super::ownership::Owners;
use super::{Validator, list_hint};

/// Shortest masking key, in bytes: 128 bits.
const MIN_MASKING_KEY: usize = 16;

/// Shortest reconciliation interval: each run lists the object on both sides in full.
const MIN_RECONCILE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

impl Validator<'_, '_> {
    pub(super) fn gates(
        &mut self,
        raw: &BTreeMap<Text, Spanned<RawGate>>,
        routes: &[Spanned<RawRoute>],
    ) -> BTreeMap<String, Gate> {
        let route_names: Vec<&str> = routes
            .iter()
            .filter_map(|r| r.get_ref().name.as_ref().map(|n| n.get_ref().as_str()))
            .collect();
        let mut gates = BTreeMap::new();
        for (name, entry) in raw {
            let g = entry.get_ref();
            let mut ok = self.name(name, "gate name");
            let mut before = Vec::new();
            for target in g
                .before
                .as_ref()
                .map(|b| b.get_ref().as_slice())
                .unwrap_or_default()
            {
                let text = target.get_ref().as_str();
                if OBJECTS.contains(&text) {
                    before.push(GateTarget::Object(text.to_owned()));
                } else if route_names.contains(&text) {
                    before.push(GateTarget::Route(text.to_owned()));
                } else {
                    let hint = gate_target_hint(text, &route_names);
                    self.rep
                        .error(
                            target.span(),
                            format!(
                                "gate `{}` guards `{text}`, which is neither an object nor a route",
                                name.get_ref()
                            ),
                        )
                        .hint(hint);
                    ok = false;
                }
            }
            if let Some(list) = &g.before
                && list.get_ref().is_empty()
            {
                self.rep.error(
                    list.span(),
                    "a gate must guard at least one object or route",
                );
                ok = false;
            }
            let require = g
                .require
                .as_ref()
                .and_then(|r| self.expr(r, "`require`", Expect::Bool));
            if let (true, Some(require)) = (ok, require) {
                gates.insert(
                    name.get_ref().clone(),
                    Gate {
                        name: name.get_ref().clone(),
                        before,
                        require,
                        on_fail: g.on_fail.unwrap_or_default(),
                    },
                );
            }
        }
        gates
    }

    pub(super) fn masking(
        &mut self,
        raw: &BTreeMap<Text, Spanned<MaskStrategy>>,
        key: Option<&Text>,
    ) -> Masking {
        let key_given = key.is_some();
        let key = key.and_then(|k| {
            let secret = self.secret(k, "masking-key")?;
            if secret.expose().len() < MIN_MASKING_KEY {
                self.rep
                    .error(
                        k.span(),
                        format!(
                            "masking-key is {} bytes; it needs at least {MIN_MASKING_KEY}",
                            secret.expose().len()
                        ),
                    )
                    .hint("generate one, e.g. `openssl rand -hex 32`, and keep it with the installation's other secrets");
                return None;
            }
            Some(secret)
        });
        let mut rules = Vec::new();
        for (path, strategy) in raw {
            let Some((object, field)) = path.get_ref().split_once('.').filter(|(o, f)| {
                !o.is_empty() && !f.is_empty() && !f.split('.').any(str::is_empty)
            }) else {
                self.rep
                    .error(
                        path.span(),
                        format!(
                            "masking key `{}` must name an object and a field",
                            path.get_ref()
                        ),
                    )
                    .hint("e.g. \"customer.email\" = \"hash\" or \"customer.address.line1\" = \"redact\"");
                continue;
            };
            let object_text = Spanned::new(path.span(), object.to_owned());
            if !self.object(&object_text) {
                continue;
            }
            // A misspelt field would leave the real one unmasked without a word.
            if let Err((at, known)) = super::fields::path_in(object, field) {
                let step = field
                    .split('.')
                    .nth(at.matches('.').count())
                    .unwrap_or(field);
                self.rep
                    .error(
                        path.span(),
                        if step == field {
                            format!("masked field `{field}` is not a field of `{at}`")
                        } else {
                            format!("masked field `{field}`: `{step}` is not a field of `{at}`")
                        },
                    )
                    .hint(suggest::hint(
                        step,
                        known.iter().map(String::as_str),
                        &format!("fields of {at}"),
                    ));
                continue;
            }
            if *strategy.get_ref() == MaskStrategy::Hash && !key_given {
                self.rep
                    .error(
                        strategy.span(),
                        format!("`{}` = \"hash\" needs a masking key", path.get_ref()),
                    )
                    .hint("a plain hash of an e-mail is recovered by hashing guesses; set masking-key = \"env:JUNCTION_MASKING_KEY\" under [pipeline] (the same key in every pipeline of the installation keeps hashes comparable), or use \"redact\"");
                continue;
            }
            rules.push(MaskRule {
                object: object.to_owned(),
                field: field.to_owned(),
                strategy: *strategy.get_ref(),
            });
        }
        Masking { key, rules }
    }

    pub(super) fn reconcile(
        &mut self,
        raw: &BTreeMap<Text, Spanned<RawReconcile>>,
        owners: &Owners,
        routes: &[Spanned<RawRoute>],
    ) -> BTreeMap<String, Reconcile> {
        let mut jobs = BTreeMap::new();
        for (name, entry) in raw {
            let r = entry.get_ref();
            let mut ok = self.name(name, "reconciliation name");
            let mut between: Vec<String> = Vec::new();
            if let Some(list) = &r.between {
                if list.get_ref().len() != 2 {
                    self.rep
                        .error(
                            list.span(),
                            format!(
                                "`between` names {} connectors; it needs exactly two",
                                list.get_ref().len()
                            ),
                        )
                        .hint("e.g. between = [\"stripe\", \"netsuite\"]");
                    ok = false;
                }
                for connector in list.get_ref() {
                    if self.use_connector(connector) {
                        between.push(connector.get_ref().clone());
                    } else {
                        ok = false;
                    }
                }
                if let [a, b] = list.get_ref().as_slice()
                    && a.get_ref() == b.get_ref()
                {
                    self.rep
                        .error(b.span(), format!("`between` names `{}` twice", b.get_ref()));
                    ok = false;
                }
            }
            if let Some(object) = &r.object {
                for (connector, text) in between
                    .iter()
                    .zip(r.between.iter().flat_map(|l| l.get_ref()))
                {
                    if let Some(info) = self.info(connector).cloned()
                        && !info.source_objects.contains(object.get_ref())
                        && !info.sink_objects.contains(object.get_ref())
                    {
                        let mut known = info.source_objects.clone();
                        known.extend(info.sink_objects.iter().cloned());
                        known.sort();
                        known.dedup();
                        self.rep
                            .error(
                                text.span(),
                                format!(
                                    "module `{}` of connector `{connector}` cannot list `{}`",
                                    info.name,
                                    object.get_ref()
                                ),
                            )
                            .hint(list_hint("it knows", &known));
                        ok = false;
                    }
                }
            }
            if let Some(fields) = &r.fields {
                if fields.get_ref().is_empty() {
                    self.rep.error(
                        fields.span(),
                        "`fields` is empty, so nothing would be compared",
                    );
                    ok = false;
                }
                if let Some(object) = &r.object {
                    for field in fields.get_ref() {
                        ok &= self.field(
                            object.get_ref(),
                            field.get_ref(),
                            field.span(),
                            "reconciled field",
                        );
                    }
                }
            }
            let every = r.every.as_ref().and_then(|e| {
                self.duration(e, "every").filter(|every| {
                    self.at_least(
                        e,
                        *every,
                        MIN_RECONCILE_INTERVAL,
                        "reconciliation",
                        "each run lists every entity on both sides; every = \"24h\" is usual",
                    )
                })
            });
            // The job takes the object owner's values (or the first connector's): a field that
            // [ownership] gives to another system would be reported as drift by every run
            // and never repaired, since the owner's route does not carry it.
            if let (Some(object), Some(fields)) = (&r.object, &r.fields)
                && let Some(Some(ownership)) = owners.get(object.get_ref())
            {
                let owner = if between.contains(&ownership.owner) {
                    ownership.owner.clone()
                } else {
                    between.first().cloned().unwrap_or_default()
                };
                for field in fields.get_ref() {
                    let field_owner = ownership.owner_of(field.get_ref());
                    if field_owner != owner && !owner.is_empty() {
                        self.rep
                            .error(
                                field.span(),
                                format!(
                                    "reconciled field `{}` is owned by `{field_owner}`, but this job takes `{owner}`'s values of {}",
                                    field.get_ref(),
                                    object.get_ref()
                                ),
                            )
                            .hint(format!(
                                "leave it out of `fields`: a job compares what `{owner}` owns, and its repairs carry only that"
                            ));
                        ok = false;
                    }
                }
            }
            let repair = r.repair.unwrap_or(false);
            if repair
                && ok
                && let Some(object) = &r.object
            {
                ok &= self.repair_route(name, entry.span(), object, &between, owners, routes);
            }
            let (true, [a, b], Some(object), Some(fields), Some(every)) =
                (ok, between.as_slice(), &r.object, &r.fields, every)
            else {
                continue;
            };
            jobs.insert(
                name.get_ref().clone(),
                Reconcile {
                    name: name.get_ref().clone(),
                    between: [a.clone(), b.clone()],
                    object: object.get_ref().clone(),
                    fields: fields
                        .get_ref()
                        .iter()
                        .map(|f| f.get_ref().clone())
                        .collect(),
                    every,
                    repair,
                },
            );
        }
        jobs
    }

    /// Repairs go through the route from the owner, so that route must exist.
    fn repair_route(
        &mut self,
        name: &Text,
        span: std::ops::Range<usize>,
        object: &Text,
        between: &[String],
        owners: &Owners,
        routes: &[Spanned<RawRoute>],
    ) -> bool {
        let Some(Some(ownership)) = owners.get(object.get_ref()) else {
            if !owners.contains_key(object.get_ref()) {
                self.rep
                    .error(
                        object.span(),
                        format!(
                            "reconciliation `{}` repairs `{}`, which has no system of record",
                            name.get_ref(),
                            object.get_ref()
                        ),
                    )
                    .hint(format!(
                        "declare the owner under [ownership]: {} = \"...\"",
                        object.get_ref()
                    ));
                return false;
            }
            return true;
        };
        let Some(other) = between.iter().find(|c| **c != ownership.owner) else {
            return true;
        };
        if !between.contains(&ownership.owner) {
            self.rep
                .error(span, format!("reconciliation `{}` repairs `{}`, but its owner `{}` is not one of the two connectors", name.get_ref(), object.get_ref(), ownership.owner))
                .hint("compare the owner with the system to repair");
            return false;
        }
        let has_route = routes.iter().any(|r| {
            let r = r.get_ref();
            let is = |field: &Option<Text>, value: &str| {
                field.as_ref().is_some_and(|f| f.get_ref() == value)
            };
            is(&r.from, &ownership.owner) && is(&r.to, other) && is(&r.object, object.get_ref())
        });
        if !has_route {
            self.rep
                .error(span, format!("reconciliation `{}` repairs through a route from `{}` to `{other}` for `{}`, and there is none", name.get_ref(), ownership.owner, object.get_ref()))
                .hint("add that [[route]], or set repair = false to only report drift");
            return false;
        }
        true
    }
}

/// Names the closest object or route, then lists both kinds apart, however many routes there
/// are: a gate guards money movement, so the operator must see what it could guard.
fn gate_target_hint(text: &str, route_names: &[&str]) -> String {
    let routes = if route_names.is_empty() {
        "none declared".to_owned()
    } else {
        route_names.join(", ")
    };
    let known = format!("objects: {}; routes: {routes}", OBJECTS.join(", "));
    let candidates = OBJECTS.iter().copied().chain(route_names.iter().copied());
    match suggest::closest(text, candidates) {
        Some(best) => format!("did you mean `{best}`? {known}"),
        None => known,
    }
}
