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
                    for (field, connector) in &table.fields {
                        if object_ok {
                            fields_ok &= self.field(
                                object.get_ref(),
                                field.get_ref(),
                                field.span(),
                                "owned field",
                            );
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
