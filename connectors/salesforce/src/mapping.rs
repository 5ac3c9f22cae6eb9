//! Canonical documents <-> sObject records, as `docs/salesforce-mapping.md` maps them. A
//! write's body is built from the document; a read maps a record back; and what a read-back
//! is expected to show (`expected`) is the body as Salesforce keeps it, mapped back by the
//! same code a read uses, so the two cannot drift apart.

use std::collections::BTreeMap;

use junction_connector_kit::time::{parse_rfc3339, rfc3339};
use junction_connector_kit::{Error, Operation, Write};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::config::{Config, Kind};

/// Account fields written and read (standard fields, and one custom email field).
pub const ACCOUNT_FIELDS: &[&str] = &[
    "Name",
    "Phone",
    "Billing_Email__c",
    "BillingStreet",
    "BillingCity",
    "BillingPostalCode",
    "BillingCountry",
];

/// Subscription fields written and read (besides the external id and the account lookup).
pub const SUBSCRIPTION_FIELDS: &[&str] = &[
    "Status__c",
    "Plan__c",
    "Quantity__c",
    "Amount__c",
    "Currency__c",
    "Current_Period_Start__c",
    "Current_Period_End__c",
    "Cancel_At_Period_End__c",
    "Canceled_At__c",
];

/// System fields every read selects.
pub const SYSTEM_FIELDS: &[&str] = &["Id", "IsDeleted", "CreatedDate", "SystemModstamp"];

/// The fields a read of `kind` selects.
pub fn select(config: &Config, kind: Kind) -> Vec<String> {
    let mut fields: Vec<String> = SYSTEM_FIELDS.iter().map(|f| (*f).to_owned()).collect();
    fields.push(config.ext(kind).to_owned());
    match kind {
        Kind::Customer => fields.extend(ACCOUNT_FIELDS.iter().map(|f| (*f).to_owned())),
        Kind::Subscription => {
            fields.push(config.subscription_account.clone());
            fields.extend(SUBSCRIPTION_FIELDS.iter().map(|f| (*f).to_owned()));
        }
    }
    fields
}

/// A document or record that cannot be mapped: a rejection naming the field.
fn invalid(field: &str, message: impl Into<String>) -> Error {
    let message = message.into();
    Error::Rejected {
        message: format!("{field}: {message}"),
        field: Some(field.to_owned()),
    }
}

fn parse<T: serde::de::DeserializeOwned>(object: &str, document: &str) -> Result<T, Error> {
    serde_json::from_str(document)
        .map_err(|e| Error::rejected(format!("the {object} document cannot be read: {e}")))
}

fn to_text(v: impl Serialize) -> Result<String, Error> {
    serde_json::to_string(&v).map_err(|e| Error::rejected(e.to_string()))
}

/// A canonical address (`wit/schemas/customer.v1.json`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Address {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub postal_code: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
}

/// A canonical customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub currency: Option<String>,
    pub address: Option<Address>,
    pub created_at: Option<String>,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// One canonical subscription item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub id: Option<String>,
    pub price_id: String,
    pub product_id: Option<String>,
    pub quantity: u64,
    pub unit_amount: u64,
    pub currency: String,
    pub interval: Option<String>,
    pub interval_count: Option<u32>,
}

/// A canonical subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub customer_id: String,
    pub status: String,
    pub currency: String,
    pub items: Vec<Item>,
    pub interval: Option<String>,
    pub current_period_start: Option<String>,
    pub current_period_end: Option<String>,
    pub next_billing_at: Option<String>,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    pub cancel_at: Option<String>,
    pub canceled_at: Option<String>,
    pub billing_stop_at: Option<String>,
    pub started_at: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

const STATUSES: &[&str] = &[
    "incomplete",
    "incomplete_expired",
    "trialing",
    "active",
    "past_due",
    "canceled",
    "unpaid",
    "paused",
];

/// Digits after the decimal point of a currency's major unit (ISO 4217).
pub fn exponent(currency: &str) -> i32 {
    const ZERO: &[&str] = &[
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
        "xaf", "xof", "xpf",
    ];
    const THREE: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];
    let c = currency.to_ascii_lowercase();
    if ZERO.contains(&c.as_str()) {
        0
    } else if THREE.contains(&c.as_str()) {
        3
    } else {
        2
    }
}

/// A canonical time as Salesforce takes a dateTime.
fn datetime_out(field: &str, time: Option<&str>) -> Result<Value, Error> {
    match time {
        None => Ok(Value::Null),
        Some(t) => parse_rfc3339(t)
            .map(|s| json!(rfc3339(s)))
            .ok_or_else(|| invalid(field, format!("`{t}` is not an RFC 3339 UTC time"))),
    }
}

/// A Salesforce dateTime (`2021-11-06T17:38:40.000+0000`) as a canonical time, to the second.
pub fn datetime_in(value: &Value) -> Option<String> {
    let text = value.as_str()?;
    let utc = text
        .strip_suffix("+0000")
        .map(|t| format!("{t}Z"))
        .unwrap_or_else(|| text.to_owned());
    parse_rfc3339(&utc).map(rfc3339)
}

/// Milliseconds since the epoch of a Salesforce dateTime.
pub fn datetime_ms(value: &Value) -> Option<i64> {
    let text = value.as_str()?;
    let utc = text
        .strip_suffix("+0000")
        .map(|t| format!("{t}Z"))
        .unwrap_or_else(|| text.to_owned());
    let secs = parse_rfc3339(&utc)?;
    let millis = utc
        .split_once('.')
        .map(|(_, f)| {
            let digits: String = f.chars().take_while(char::is_ascii_digit).take(3).collect();
            format!("{digits:0<3}").parse::<i64>().unwrap_or(0)
        })
        .unwrap_or(0);
    Some(secs * 1000 + millis)
}

fn text(record: &Value, field: &str) -> Option<String> {
    record
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The document a write makes true: a deleted subscription is a cancelled one.
fn subscription_of(write: &Write) -> Result<Subscription, Error> {
    let mut s: Subscription = parse("subscription", &write.document)?;
    if write.operation == Operation::Delete {
        s.status = "canceled".into();
        if s.canceled_at.is_none() {
            s.canceled_at = Some(rfc3339(write.occurred_at.div_euclid(1000)));
        }
    }
    Ok(s)
}

/// The upsert body for a write: neither `Id` nor the external-id field (it is in the URL).
pub fn body(config: &Config, kind: Kind, write: &Write) -> Result<Map<String, Value>, Error> {
    match kind {
        Kind::Customer => {
            let c: Customer = parse("customer", &write.document)?;
            let present: Map<String, Value> = parse("customer", &write.document)?;
            account_body(&c, &present)
        }
        Kind::Subscription => subscription_body(config, &subscription_of(write)?),
    }
}

/// The Account fields of a customer write. A field the document leaves out (a route that
/// carries only the fields its source owns) is left as the Account has it; a null one is
/// cleared.
fn account_body(c: &Customer, present: &Map<String, Value>) -> Result<Map<String, Value>, Error> {
    let address = c.address.clone().unwrap_or_default();
    let street: Vec<&str> = [address.line1.as_deref(), address.line2.as_deref()]
        .into_iter()
        .flatten()
        .filter(|l| !l.is_empty())
        .collect();
    // Name is required on an Account: a customer without one is named by its email or id.
    let name = [c.name.as_deref(), c.email.as_deref()]
        .into_iter()
        .flatten()
        .find(|n| !n.trim().is_empty())
        .unwrap_or(&c.id);
    let mut body = Map::new();
    body.insert("Name".into(), json!(name));
    body.insert("Phone".into(), json!(c.phone));
    body.insert("Billing_Email__c".into(), json!(c.email));
    body.insert(
        "BillingStreet".into(),
        if street.is_empty() {
            Value::Null
        } else {
            json!(street.join("\n"))
        },
    );
    body.insert("BillingCity".into(), json!(address.city));
    body.insert("BillingPostalCode".into(), json!(address.postal_code));
    body.insert("BillingCountry".into(), json!(address.country));
    let has = |field: &str| present.contains_key(field);
    body.retain(|name, _| match name.as_str() {
        // Named by its email, else its id, when the document names no one: only when it
        // carries the name at all.
        "Name" => has("name"),
        "Phone" => has("phone"),
        "Billing_Email__c" => has("email"),
        _ => has("address"),
    });
    Ok(body)
}

fn subscription_body(config: &Config, s: &Subscription) -> Result<Map<String, Value>, Error> {
    if !STATUSES.contains(&s.status.as_str()) {
        return Err(invalid(
            "status",
            format!("`{}` is not a canonical status", s.status),
        ));
    }
    let billing: Vec<&Item> = s.items.iter().filter(|i| i.quantity > 0).collect();
    let quantity: u64 = billing.iter().map(|i| i.quantity).sum();
    let minor: u64 = billing
        .iter()
        .map(|i| i.quantity.saturating_mul(i.unit_amount))
        .sum();
    let plan: Vec<&str> = billing.iter().map(|i| i.price_id.as_str()).collect();
    let mut body = Map::new();
    let mut account = Map::new();
    account.insert(config.account_ext.clone(), json!(s.customer_id));
    body.insert(config.account_relationship(), Value::Object(account));
    body.insert("Status__c".into(), json!(s.status));
    if plan.is_empty() {
        body.insert("Plan__c".into(), Value::Null);
        body.insert("Quantity__c".into(), json!(0));
        body.insert("Amount__c".into(), json!(0));
    } else {
        body.insert("Plan__c".into(), json!(plan.join(",")));
        body.insert("Quantity__c".into(), json!(quantity));
        body.insert(
            "Amount__c".into(),
            json!(minor as f64 / 10f64.powi(exponent(&s.currency))),
        );
    }
    body.insert("Currency__c".into(), json!(s.currency.to_ascii_uppercase()));
    body.insert(
        "Current_Period_Start__c".into(),
        datetime_out("current_period_start", s.current_period_start.as_deref())?,
    );
    body.insert(
        "Current_Period_End__c".into(),
        datetime_out("current_period_end", s.current_period_end.as_deref())?,
    );
    body.insert(
        "Cancel_At_Period_End__c".into(),
        json!(s.cancel_at_period_end),
    );
    body.insert(
        "Canceled_At__c".into(),
        datetime_out("canceled_at", s.canceled_at.as_deref())?,
    );
    Ok(body)
}

/// A canonical customer from an Account record.
pub fn customer_from(record: &Value, key: &str) -> Result<String, Error> {
    let street = text(record, "BillingStreet");
    let (line1, line2) = match street.as_deref().map(|s| s.split_once('\n')) {
        Some(Some((a, b))) => (Some(a.to_owned()), Some(b.to_owned())),
        Some(None) => (street.clone(), None),
        None => (None, None),
    };
    let address = Address {
        line1,
        line2,
        city: text(record, "BillingCity"),
        postal_code: text(record, "BillingPostalCode"),
        state: None,
        country: text(record, "BillingCountry"),
    };
    to_text(Customer {
        id: key.to_owned(),
        email: text(record, "Billing_Email__c"),
        name: text(record, "Name"),
        phone: text(record, "Phone"),
        currency: None,
        address: (address != Address::default()).then_some(address),
        created_at: None,
        deleted: false,
        metadata: BTreeMap::new(),
    })
}

/// A canonical subscription from a subscription record; `customer_id` is the account's
/// external id (or its Salesforce id when it has none).
pub fn subscription_from(record: &Value, key: &str, customer_id: &str) -> Result<String, Error> {
    let status = text(record, "Status__c")
        .filter(|s| STATUSES.contains(&s.as_str()))
        .ok_or_else(|| invalid("Status__c", "holds no canonical status"))?;
    let currency = text(record, "Currency__c")
        .map(|c| c.to_ascii_lowercase())
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_lowercase()))
        .ok_or_else(|| invalid("Currency__c", "holds no ISO 4217 currency"))?;
    let quantity = record
        .get("Quantity__c")
        .and_then(Value::as_f64)
        .unwrap_or(0.0)
        .max(0.0)
        .round() as u64;
    let minor = (record
        .get("Amount__c")
        .and_then(Value::as_f64)
        .unwrap_or(0.0)
        .max(0.0)
        * 10f64.powi(exponent(&currency)))
    .round() as u64;
    let items = match text(record, "Plan__c") {
        Some(plan) if quantity > 0 => vec![Item {
            id: None,
            price_id: plan,
            product_id: None,
            quantity,
            unit_amount: minor / quantity,
            currency: currency.clone(),
            interval: None,
            interval_count: None,
        }],
        _ => Vec::new(),
    };
    to_text(Subscription {
        id: key.to_owned(),
        customer_id: customer_id.to_owned(),
        status,
        currency,
        items,
        interval: None,
        current_period_start: record.get("Current_Period_Start__c").and_then(datetime_in),
        current_period_end: record.get("Current_Period_End__c").and_then(datetime_in),
        next_billing_at: None,
        cancel_at_period_end: record
            .get("Cancel_At_Period_End__c")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        cancel_at: None,
        canceled_at: record.get("Canceled_At__c").and_then(datetime_in),
        billing_stop_at: None,
        started_at: None,
        metadata: BTreeMap::new(),
    })
}

/// A body as Salesforce keeps it: empty text is stored as null, a relationship becomes the
/// lookup (not read back here: the caller knows the account's external id).
fn kept(body: &Map<String, Value>) -> Value {
    let mut record = Map::new();
    for (k, v) in body {
        let v = match v {
            Value::String(s) if s.is_empty() => Value::Null,
            other => other.clone(),
        };
        record.insert(k.clone(), v);
    }
    Value::Object(record)
}

/// The document a read-back shows once `write` has taken effect (the contract's `expected`).
pub fn expected(config: &Config, kind: Kind, write: &Write) -> Result<String, Error> {
    let record = kept(&body(config, kind, write)?);
    match kind {
        Kind::Customer => customer_from(&record, &write.key),
        Kind::Subscription => {
            let s = subscription_of(write)?;
            subscription_from(&record, &write.key, &s.customer_id)
        }
    }
}
