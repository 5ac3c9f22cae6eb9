//! `[ownership]`: one system of record per object, optionally per field.

use std::collections::BTreeMap;

use toml::Spanned;

use super::super::plan::Ownership;
use super::super::raw::{RawOwnership, Text};
use super::Validator;

/// Ownership per object; `None` where the entry has errors (already reported).
pub(super) type Owners = BTreeMap<String, Option<Ownership>>;

impl Validator<'_, '_> {
    pub(super) fn ownership(&mut self, raw: &BTreeMap<Text, Spanned<RawOwnership>>) -> Owners {
        let mut owners = Owners::new();
        for (object, entry) in raw {
            let object_ok = self.object(object);
            let ownership = match entry.get_ref() {
                RawOwnership::Owner(owner) => {
                    let owner = Spanned::new(entry.span(), owner.clone());
                    self.use_connector(&owner).then(|| Ownership {
                        owner: owner.into_inner(),
                        fields: BTreeMap::new(),
                    })
                }
                RawOwnership::Detailed(table) => {
                    let owner_ok = table.owner.as_ref().is_some_and(|o| self.use_connector(o));
                    let mut fields_ok = true;
                    // A route carries only the fields its source owns (and `id`), so each side's
                    // documents must be whole without the other's fields.
                    let required = super::fields::required(object.get_ref());
                    let splittable = required.iter().all(|f| f == "id");
                    for (field, connector) in &table.fields {
                        if object_ok {
                            let known = self.field(
                                object.get_ref(),
                                field.get_ref(),
                                field.span(),
                                "owned field",
                            );
                            fields_ok &= known;
                            if known && field.get_ref() == "id" {
                                self.rep
                                    .error(field.span(), "`id` cannot be owned apart from the object")
                                    .hint("the id names the entity in every system; remove it from `fields`");
                                fields_ok = false;
                            } else if known && !splittable {
                                let others: Vec<String> = required
                                    .iter()
                                    .filter(|f| *f != "id")
                                    .map(|f| format!("`{f}`"))
                                    .collect();
                                self.rep
                                    .error(
                                        field.span(),
                                        format!(
                                            "`{}` fields cannot be owned apart: every {} document needs {}, so a route carrying only some fields would write an incomplete one",
                                            object.get_ref(),
                                            object.get_ref(),
                                            others.join(", ")
                                        ),
                                    )
                                    .hint("own the whole object in one system, e.g. subscription = \"stripe\"; field ownership works for objects that require only `id`, such as customer");
                                fields_ok = false;
                            }
                        }
                        fields_ok &= self.use_connector(connector);
                    }
                    match &table.owner {
                        Some(owner) if owner_ok && fields_ok => Some(Ownership {
                            owner: owner.get_ref().clone(),
                            fields: table
                                .fields
                                .iter()
                                .map(|(f, c)| (f.get_ref().clone(), c.get_ref().clone()))
                                .collect(),
                        }),
                        _ => None,
                    }
                }
            };
            if object_ok {
                owners.insert(object.get_ref().clone(), ownership);
            }
        }
        owners
    }
}
