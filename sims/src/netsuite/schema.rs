//! The simulated record types, their fields, and the checks NetSuite applies to a request body.

use serde_json::{Map, Value, json};

use super::error::NsError;

/// A record type the simulator holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordType {
    Customer,
    Subscription,
    /// `servicesaleitem` ("Service Sale Item", REST record article_79140109160): the items a
    /// subscription line bills. The account's catalog: set up by the operator, never by a
    /// pipeline.
    ServiceSaleItem,
    /// `billingaccount` ("Billing Account"): whom and on which schedule a subscription bills.
    BillingAccount,
    /// `subscriptionplan` ("Subscription Plan"): the items (members) a subscription's lines
    /// are made from. Account setup.
    SubscriptionPlan,
    /// `pricebook` ("Price Book"): the prices of a plan. Account setup.
    PriceBook,
    /// `priceplan` ("Price Plan"): one price, in tiers.
    PricePlan,
    /// `billingschedule`: when billing accounts bill. Account setup.
    BillingSchedule,
    /// The subscription term a subscription starts with (`initialTerm`). Account setup.
    SubscriptionTerm,
    /// `subscriptionline` ("Subscription Line"): one line of a subscription, made from a plan
    /// member when the subscription is created; never created or deleted directly.
    SubscriptionLine,
    /// `subscriptionchangeorder` ("Change Order"): a dated change of lines' status, quantity
    /// or price.
    ChangeOrder,
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

/// The subscription's writable fields (REST sample in "Subscription"). `status` and the
/// `subscriptionLine` sublist are NetSuite's own: see [`READ_ONLY`].
const SUBSCRIPTION_FIELDS: &[(&str, Kind)] = &[
    ("name", Kind::Text),
    ("customer", Kind::Ref(Some(RecordType::Customer))),
    ("currency", Kind::Ref(None)),
    ("startDate", Kind::Date),
    ("endDate", Kind::Date),
    (
        "billingAccount",
        Kind::Ref(Some(RecordType::BillingAccount)),
    ),
    (
        "subscriptionPlan",
        Kind::Ref(Some(RecordType::SubscriptionPlan)),
    ),
    ("priceBook", Kind::Ref(Some(RecordType::PriceBook))),
    ("initialTerm", Kind::Ref(Some(RecordType::SubscriptionTerm))),
    (
        "billingSchedule",
        Kind::Ref(Some(RecordType::BillingSchedule)),
    ),
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

const BILLING_ACCOUNT_FIELDS: &[(&str, Kind)] = &[
    ("name", Kind::Text),
    ("customer", Kind::Ref(Some(RecordType::Customer))),
    ("currency", Kind::Ref(None)),
    (
        "billingSchedule",
        Kind::Ref(Some(RecordType::BillingSchedule)),
    ),
    ("startDate", Kind::Date),
    ("memo", Kind::Text),
];

const SUBSCRIPTION_PLAN_FIELDS: &[(&str, Kind)] = &[
    ("itemId", Kind::Text),
    ("initialTerm", Kind::Ref(Some(RecordType::SubscriptionTerm))),
    ("member", Kind::Sublist),
];

const PRICE_BOOK_FIELDS: &[(&str, Kind)] = &[
    ("name", Kind::Text),
    (
        "subscriptionPlan",
        Kind::Ref(Some(RecordType::SubscriptionPlan)),
    ),
    ("currency", Kind::Ref(None)),
];

const PRICE_PLAN_FIELDS: &[(&str, Kind)] = &[
    ("currency", Kind::Ref(None)),
    ("pricePlanType", Kind::Text),
    ("priceTiers", Kind::Sublist),
];

const NAMED_FIELDS: &[(&str, Kind)] = &[("name", Kind::Text)];

/// What "Subscription Line" lets a client update ("you can update some of the fields"; the
/// sample names `subscriptionlinestatus`, `proratestartdate`, `prorateenddate`,
/// `includeinrenewal`); quantity and price plan only while the line is not yet active.
const SUBSCRIPTION_LINE_FIELDS: &[(&str, Kind)] = &[
    ("subscription", Kind::Ref(Some(RecordType::Subscription))),
    ("item", Kind::Ref(Some(RecordType::ServiceSaleItem))),
    ("lineNumber", Kind::Number),
    ("subscriptionLineStatus", Kind::Text),
    ("quantity", Kind::Number),
    ("pricePlan", Kind::Ref(Some(RecordType::PricePlan))),
    ("prorateStartDate", Kind::Bool),
    ("prorateEndDate", Kind::Bool),
    ("includeInRenewal", Kind::Bool),
];

const CHANGE_ORDER_FIELDS: &[(&str, Kind)] = &[
    ("action", Kind::Text),
    ("subscription", Kind::Ref(Some(RecordType::Subscription))),
    ("customer", Kind::Ref(Some(RecordType::Customer))),
    (
        "billingAccount",
        Kind::Ref(Some(RecordType::BillingAccount)),
    ),
    ("effectiveDate", Kind::Date),
    ("memo", Kind::Text),
    ("subline", Kind::Sublist),
];

/// Fields NetSuite computes: a body that sets one is refused (the documentation gives no
/// answer for this; the simulator takes the strictest reading).
pub const READ_ONLY: &[(RecordType, &str)] = &[
    (RecordType::Subscription, "status"),
    (RecordType::Subscription, "subscriptionLine"),
    (RecordType::SubscriptionLine, "subscription"),
    (RecordType::SubscriptionLine, "item"),
    (RecordType::SubscriptionLine, "lineNumber"),
];

const SERVICE_SALE_ITEM_FIELDS: &[(&str, Kind)] = &[
    ("itemId", Kind::Text),
    ("displayName", Kind::Text),
    ("description", Kind::Text),
    ("isInactive", Kind::Bool),
    ("subsidiary", Kind::Ref(None)),
];

/// Fields of sublist lines that reference held records, by (record type, sublist, field).
const LINE_REFERENCES: &[(RecordType, &str, &str, RecordType)] = &[
    (
        RecordType::SubscriptionPlan,
        "member",
        "item",
        RecordType::ServiceSaleItem,
    ),
    (
        RecordType::ChangeOrder,
        "subline",
        "pricePlanNew",
        RecordType::PricePlan,
    ),
];

/// Sublist line fields the simulator reads, in the spelling it stores them under.
const LINE_FIELDS: &[&str] = &[
    "sequence",
    "apply",
    "quantityNew",
    "pricePlanNew",
    "fromVal",
    "value",
    "item",
    "isRequired",
];

/// The key field of a keyed sublist: "Updating a Sublist" merges a line whose key matches an
/// existing line into it and appends every other line.
pub const LINE_KEY: &str = "sequence";

/// Custom field prefixes NetSuite always accepts (entity, custom record, line, body fields).
const CUSTOM_PREFIXES: &[&str] = &["custentity_", "custrecord_", "custcol_", "custbody_"];

impl RecordType {
    pub const ALL: [RecordType; 11] = [
        RecordType::Customer,
        RecordType::Subscription,
        RecordType::ServiceSaleItem,
        RecordType::BillingAccount,
        RecordType::SubscriptionPlan,
        RecordType::PriceBook,
        RecordType::PricePlan,
        RecordType::BillingSchedule,
        RecordType::SubscriptionTerm,
        RecordType::SubscriptionLine,
        RecordType::ChangeOrder,
    ];

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
            RecordType::ServiceSaleItem => "servicesaleitem",
            RecordType::BillingAccount => "billingaccount",
            RecordType::SubscriptionPlan => "subscriptionplan",
            RecordType::PriceBook => "pricebook",
            RecordType::PricePlan => "priceplan",
            RecordType::BillingSchedule => "billingschedule",
            RecordType::SubscriptionTerm => "subscriptionterm",
            RecordType::SubscriptionLine => "subscriptionline",
            RecordType::ChangeOrder => "subscriptionchangeorder",
        }
    }

    /// The held record type a sublist line's field references, if any.
    pub fn line_reference(self, sublist: &str, field: &str) -> Option<RecordType> {
        LINE_REFERENCES
            .iter()
            .find(|(rt, s, f, _)| {
                *rt == self && s.eq_ignore_ascii_case(sublist) && f.eq_ignore_ascii_case(field)
            })
            .map(|(_, _, _, target)| *target)
    }

    fn fields(self) -> &'static [(&'static str, Kind)] {
        match self {
            RecordType::Customer => CUSTOMER_FIELDS,
            RecordType::Subscription => SUBSCRIPTION_FIELDS,
            RecordType::ServiceSaleItem => SERVICE_SALE_ITEM_FIELDS,
            RecordType::BillingAccount => BILLING_ACCOUNT_FIELDS,
            RecordType::SubscriptionPlan => SUBSCRIPTION_PLAN_FIELDS,
            RecordType::PriceBook => PRICE_BOOK_FIELDS,
            RecordType::PricePlan => PRICE_PLAN_FIELDS,
            RecordType::BillingSchedule | RecordType::SubscriptionTerm => NAMED_FIELDS,
            RecordType::SubscriptionLine => SUBSCRIPTION_LINE_FIELDS,
            RecordType::ChangeOrder => CHANGE_ORDER_FIELDS,
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
            // "Subscription": a subscription needs a billing account, a plan, a price book
            // and an initial term (and the customer and start date they bill from).
            RecordType::Subscription => &[
                "customer",
                "billingAccount",
                "subscriptionPlan",
                "priceBook",
                "initialTerm",
                "startDate",
            ],
            RecordType::ServiceSaleItem => &["itemId"],
            RecordType::BillingAccount => &["customer", "currency", "billingSchedule", "startDate"],
            RecordType::PricePlan => &["currency", "priceTiers"],
            RecordType::ChangeOrder => &["action", "subscription", "effectiveDate", "subline"],
            RecordType::SubscriptionPlan
            | RecordType::PriceBook
            | RecordType::BillingSchedule
            | RecordType::SubscriptionTerm
            | RecordType::SubscriptionLine => &[],
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
pub fn prepare(
    rt: RecordType,
    body: &Value,
    strict: bool,
    custom_fields: &[String],
) -> Result<Prepared, NsError> {
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
        } else if let Some((_, field)) = READ_ONLY
            .iter()
            .find(|(t, f)| *t == rt && f.eq_ignore_ascii_case(name))
        {
            let detail = format!(
                "Error while accessing resource: the field {field} of a {} is set by NetSuite and cannot be written.",
                rt.id()
            );
            return Err(NsError::new(400, "USER_ERROR", detail).at(*field));
        } else if is_custom(name) && !custom_fields.iter().any(|f| f.eq_ignore_ascii_case(name)) {
            // A custom field exists only once the account defines it: without it NetSuite
            // knows no such property.
            if strict {
                let detail = format!(
                    "Error while accessing resource: field '{name}' does not exist on record type '{}'.",
                    rt.id()
                );
                return Err(NsError::new(400, "NONEXISTENT_FIELD", detail).at(name.clone()));
            }
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
                    // Field names match without regard to case, as on records (the Change
                    // Order sample writes `priceplannew`); they are stored under one spelling.
                    let name = LINE_FIELDS
                        .iter()
                        .find(|f| f.eq_ignore_ascii_case(k))
                        .map_or_else(|| k.clone(), |f| (*f).to_owned());
                    clean.insert(name, v);
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
