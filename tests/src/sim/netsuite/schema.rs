//! The simulated record types, their fields, and the checks NetSuite applies to a request body.

use serde_json::{Map, Value, json};

use super::error::NsError;

/// A record type the simulator holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordType {
    Customer,
    Subscription,
}

/// What a field holds, for validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Bool,
    Number,
    /// `YYYY-MM-DD` (NetSuite also takes unpadded month and day).
    Date,
    /// A reference to another record: `{"id"|"externalId"|"refName"}` or a bare id; a held
    /// record type is resolved and must exist.
    Ref(Option<RecordType>),
    /// `{"items": [ {..line..} ]}`.
    Sublist,
}

const CUSTOMER_FIELDS: &[(&str, Kind)] = &[
    ("entityId", Kind::Text),
    ("companyName", Kind::Text),
    ("isPerson", Kind::Bool),
    ("firstName", Kind::Text),
    ("lastName", Kind::Text),
    ("email", Kind::Text),
    ("phone", Kind::Text),
    ("comments", Kind::Text),
    ("isInactive", Kind::Bool),
    ("currency", Kind::Ref(None)),
    ("subsidiary", Kind::Ref(None)),
    ("category", Kind::Ref(None)),
    ("terms", Kind::Ref(None)),
];

const SUBSCRIPTION_FIELDS: &[(&str, Kind)] = &[
    ("name", Kind::Text),
    ("customer", Kind::Ref(Some(RecordType::Customer))),
    ("status", Kind::Ref(None)),
    ("currency", Kind::Ref(None)),
    ("billingFrequency", Kind::Text),
    ("startDate", Kind::Date),
    ("endDate", Kind::Date),
    ("nextBillDate", Kind::Date),
    ("subscriptionLine", Kind::Sublist),
    ("billingAccount", Kind::Ref(None)),
    ("subscriptionPlan", Kind::Ref(None)),
    ("priceBook", Kind::Ref(None)),
    ("initialTerm", Kind::Ref(None)),
    ("billingSchedule", Kind::Ref(None)),
    ("defaultRenewalTerm", Kind::Ref(None)),
    ("defaultRenewalPriceBook", Kind::Ref(None)),
    ("defaultRenewalPlan", Kind::Ref(None)),
    ("defaultRenewalMethod", Kind::Text),
    ("defaultRenewalTranType", Kind::Text),
    ("autoRenewal", Kind::Bool),
    ("advanceRenewalPeriodNumber", Kind::Number),
    ("advanceRenewalPeriodUnit", Kind::Text),
    ("subsidiary", Kind::Ref(None)),
    ("memo", Kind::Text),
];

/// Custom field prefixes NetSuite always accepts (entity, custom record, line, body fields).
const CUSTOM_PREFIXES: &[&str] = &["custentity_", "custrecord_", "custcol_", "custbody_"];

impl RecordType {
    pub const ALL: [RecordType; 2] = [RecordType::Customer, RecordType::Subscription];

    /// Record type ids are case-insensitive in URLs.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.id().eq_ignore_ascii_case(s))
    }

    pub fn id(self) -> &'static str {
        match self {
            RecordType::Customer => "customer",
            RecordType::Subscription => "subscription",
        }
    }

    fn fields(self) -> &'static [(&'static str, Kind)] {
        match self {
            RecordType::Customer => CUSTOMER_FIELDS,
            RecordType::Subscription => SUBSCRIPTION_FIELDS,
        }
    }

    /// The canonical name and kind of a standard field (names match case-insensitively).
    pub fn field(self, name: &str) -> Option<(&'static str, Kind)> {
        self.fields()
            .iter()
            .copied()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// Fields a create must carry.
    pub fn required(self) -> &'static [&'static str] {
        match self {
            RecordType::Customer => &[],
            RecordType::Subscription => &["customer"],
        }
    }
}

pub fn is_custom(name: &str) -> bool {
    CUSTOM_PREFIXES.iter().any(|p| {
        name.len() > p.len()
            && name
                .get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p))
    })
}

/// External ids allow letters, digits, `_` and `-` (a `|` would be a multi-select delimiter).
pub fn check_external_id(value: &str, path: &str) -> Result<(), NsError> {
    if !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(())
    } else {
        Err(NsError::invalid_content(
            format!(
                "You have entered an Invalid Field Value {value} for the following field: externalId"
            ),
            path,
        ))
    }
}

/// A request body after validation: the external id (if given) and the fields to store, with
/// standard field names in canonical case and references as objects. Held-type references are
/// still unresolved (the store resolves them).
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    pub external_id: Option<String>,
    pub fields: Map<String, Value>,
}

/// Validates a write body. Unknown fields are refused when `strict` (the
/// `X-NetSuite-PropertyNameValidation: error` header) and otherwise ignored, as NetSuite does.
pub fn prepare(rt: RecordType, body: &Value, strict: bool) -> Result<Prepared, NsError> {
    let Some(object) = body.as_object() else {
        return Err(NsError::invalid_content(
            "The request body must be a JSON object.",
            "",
        ));
    };
    let mut out = Prepared::default();
    for (name, value) in object {
        if name.eq_ignore_ascii_case("externalId") {
            let eid = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => {
                    return Err(NsError::invalid_content(
                        "externalId must be a string.",
                        "externalId",
                    ));
                }
            };
            check_external_id(&eid, "externalId")?;
            out.external_id = Some(eid);
        } else if name == "id" || name == "links" {
            // Read-only in NetSuite; a client echoing a fetched record back is not an error.
        } else if is_custom(name) {
            out.fields.insert(name.clone(), value.clone());
        } else if let Some((canonical, kind)) = rt.field(name) {
            out.fields
                .insert(canonical.to_owned(), check_value(kind, value, canonical)?);
        } else if strict {
            let detail = format!(
                "Error while accessing resource: field '{name}' does not exist on record type '{}'.",
                rt.id()
            );
            return Err(NsError::new(400, "NONEXISTENT_FIELD", detail).at(name.clone()));
        }
    }
    Ok(out)
}

/// The INVALID_CONTENT NetSuite answers for a value it cannot take.
pub fn wrong(value: &Value, path: &str) -> NsError {
    let shown = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    NsError::invalid_content(
        format!("You have entered an Invalid Field Value {shown} for the following field: {path}"),
        path,
    )
}

fn check_value(kind: Kind, value: &Value, path: &str) -> Result<Value, NsError> {
    let ok = match (kind, value) {
        (_, Value::Null) => true,
        (Kind::Text, Value::String(_))
        | (Kind::Bool, Value::Bool(_))
        | (Kind::Number, Value::Number(_)) => true,
        (Kind::Date, Value::String(s)) => is_date(s),
        (Kind::Ref(_), _) => return reference(value, path),
        (Kind::Sublist, Value::Object(o)) => {
            let Some(Value::Array(items)) = o.get("items") else {
                return Err(NsError::invalid_content(
                    format!("{path} must be an object with an items array."),
                    path,
                ));
            };
            let mut lines = Vec::with_capacity(items.len());
            for (i, line) in items.iter().enumerate() {
                let Some(line) = line.as_object() else {
                    return Err(wrong(line, &format!("{path}.items[{i}]")));
                };
                let mut clean = Map::new();
                for (k, v) in line.iter().filter(|(k, _)| *k != "links") {
                    let looks_like_ref = v.as_object().is_some_and(|o| {
                        !o.is_empty()
                            && o.keys().all(|k| {
                                matches!(k.as_str(), "id" | "refName" | "externalId" | "links")
                            })
                    });
                    let v = if looks_like_ref {
                        reference(v, &format!("{path}.items[{i}].{k}"))?
                    } else {
                        v.clone()
                    };
                    clean.insert(k.clone(), v);
                }
                lines.push(Value::Object(clean));
            }
            return Ok(json!({"items": lines}));
        }
        _ => false,
    };
    if ok {
        Ok(value.clone())
    } else {
        Err(wrong(value, path))
    }
}

/// Normalizes a reference to `{"id"?, "refName"?, "externalId"?}` with string values.
fn reference(value: &Value, path: &str) -> Result<Value, NsError> {
    let scalar = |v: &Value| match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match value {
        Value::Null => Ok(Value::Null),
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, v) in o {
                match k.as_str() {
                    "links" => {}
                    "id" | "refName" | "externalId" => {
                        out.insert(
                            k.clone(),
                            Value::String(scalar(v).ok_or_else(|| wrong(value, path))?),
                        );
                    }
                    _ => return Err(wrong(value, path)),
                }
            }
            if out.is_empty() {
                Err(wrong(value, path))
            } else {
                Ok(Value::Object(out))
            }
        }
        other => scalar(other)
            .map(|id| json!({ "id": id }))
            .ok_or_else(|| wrong(value, path)),
    }
}

fn is_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let num = |p: &str, len: std::ops::RangeInclusive<usize>| {
        len.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
    };
    parts.len() == 3
        && num(parts[0], 4..=4)
        && num(parts[1], 1..=2)
        && num(parts[2], 1..=2)
        && parts[1].parse::<u8>().is_ok_and(|m| (1..=12).contains(&m))
        && parts[2].parse::<u8>().is_ok_and(|d| (1..=31).contains(&d))
}
