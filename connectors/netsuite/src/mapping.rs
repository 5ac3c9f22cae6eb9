//! Canonical documents and what NetSuite keeps of them, as `docs/netsuite-mapping.md` says:
//! standard fields only (Junction needs no custom fields), so what NetSuite cannot hold (a time
//! of day, Stripe's item ids, metadata) is left out of what a read-back is expected to show.

use std::collections::BTreeMap;

use junction_connector_kit::Error;
use junction_connector_kit::Write;
use junction_connector_kit::time::{date, parse_rfc3339, rfc3339};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::Kind;

/// Why a document or a record could not be mapped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MappingError {
    /// The canonical document does not have the schema's shape.
    #[error("the {object} document cannot be read: {reason}")]
    Document {
        /// `customer` or `subscription`.
        object: &'static str,
        /// What serde said.
        reason: String,
    },
    /// One field holds a value that cannot be mapped.
    #[error("{field}: {message}")]
    Field {
        /// Canonical path (writes) or NetSuite field (reads).
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl MappingError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        MappingError::Field {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<MappingError> for Error {
    fn from(e: MappingError) -> Self {
        match e {
            MappingError::Field { field, message } => Error::Rejected {
                message: format!("{field}: {message}"),
                field: Some(field),
            },
            document @ MappingError::Document { .. } => Error::rejected(document.to_string()),
        }
    }
}

/// A canonical customer (`wit/schemas/customer.v1.json`). `address` and `created_at` have no
/// place in the mapping, so they are neither written nor read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub currency: Option<String>,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// A canonical subscription (`wit/schemas/subscription.v1.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub customer_id: String,
    pub status: Status,
    pub currency: String,
    pub items: Vec<Item>,
    pub interval: Option<Interval>,
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

/// One subscription item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub id: Option<String>,
    pub price_id: String,
    pub product_id: Option<String>,
    pub quantity: u64,
    pub unit_amount: u64,
    pub currency: String,
    pub interval: Option<Interval>,
    pub interval_count: Option<u32>,
}

/// The canonical subscription status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Incomplete,
    IncompleteExpired,
    Trialing,
    Active,
    PastDue,
    Canceled,
    Unpaid,
    Paused,
}

impl Status {
    /// NetSuite's coarser subscription status.
    pub fn netsuite(self) -> &'static str {
        match self {
            Status::Active | Status::Trialing => "ACTIVE",
            Status::Incomplete => "PENDING_ACTIVATION",
            Status::PastDue | Status::Unpaid | Status::Paused => "SUSPENDED",
            Status::Canceled | Status::IncompleteExpired => "TERMINATED",
        }
    }

    /// The canonical status NetSuite's subscription status reads back as.
    pub fn from_netsuite(id: &str) -> Option<Self> {
        Some(match id.to_ascii_uppercase().as_str() {
            "ACTIVE" => Status::Active,
            "PENDING_ACTIVATION" | "DRAFT" => Status::Incomplete,
            "SUSPENDED" => Status::Paused,
            "TERMINATED" | "CLOSED" => Status::Canceled,
            _ => return None,
        })
    }

    /// This status as NetSuite keeps it: the canonical status its NetSuite status reads
    /// back as (`trialing` -> `active`, `past_due` -> `paused`, ...).
    pub fn as_kept(self) -> Self {
        Self::from_netsuite(self.netsuite()).unwrap_or(self)
    }
}

/// A billing interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Day,
    Week,
    Month,
    Year,
}

pub fn parse<T: serde::de::DeserializeOwned>(
    object: &'static str,
    document: &str,
) -> Result<T, MappingError> {
    serde_json::from_str(document).map_err(|e| MappingError::Document {
        object,
        reason: e.to_string(),
    })
}

/// The UTC date (`YYYY-MM-DD`) of a canonical time, for NetSuite's date fields.
pub fn date_of(field: &str, time: &str) -> Result<String, MappingError> {
    let seconds = parse_rfc3339(time).ok_or_else(|| {
        MappingError::field(field, format!("`{time}` is not an RFC 3339 UTC time"))
    })?;
    Ok(date(seconds))
}

/// Midnight UTC of a NetSuite date (`2026-2-5` or `2026-02-05`), as a canonical time.
pub fn midnight(day: &str) -> Option<String> {
    let mut parts = day.trim().splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    let padded = format!("{y}-{m:0>2}-{d:0>2}T00:00:00Z");
    parse_rfc3339(&padded).map(rfc3339)
}

/// A canonical time as NetSuite keeps it: midnight UTC of its date.
fn kept_time(field: &str, time: Option<&str>) -> Result<Option<String>, MappingError> {
    time.map(|t| date_of(field, t).map(|d| midnight(&d).unwrap_or(d)))
        .transpose()
}

/// The date a write takes effect: its explicit effective date, else when it happened.
pub fn effective_date(write: &Write) -> String {
    date(
        write
            .effective_at
            .unwrap_or(write.occurred_at)
            .div_euclid(1000),
    )
}

/// The date a change other than the end of billing takes effect (a quantity, a price, a line
/// added or removed, a suspension): the write's effective date, unless that is when billing
/// stops (a cancellation at period end dates the write by its end), in which case the date it
/// happened. NetSuite would refuse a change on a line already ended.
pub fn change_date(write: &Write, stop: Option<&str>) -> String {
    let happened = date(write.occurred_at.div_euclid(1000));
    match (write.effective_at, stop) {
        (Some(at), Some(stop)) if date(at.div_euclid(1000)).as_str() >= stop => happened,
        (Some(at), _) => date(at.div_euclid(1000)),
        (None, _) => happened,
    }
}

/// The date billing stops for a document that says it does: its `billing_stop_at`, else for a
/// cancelled subscription its cancellation, else the write's effective date.
pub fn stop_date(s: &Subscription, write: &Write) -> Result<Option<String>, MappingError> {
    if let Some(stop) = &s.billing_stop_at {
        return date_of("billing_stop_at", stop).map(Some);
    }
    if s.status.as_kept() != Status::Canceled {
        return Ok(None);
    }
    match &s.canceled_at {
        Some(at) => date_of("canceled_at", at).map(Some),
        None => Ok(Some(effective_date(write))),
    }
}

/// The document a read-back shows once `write` has taken effect (the contract's `expected`).
pub fn expected(kind: Kind, write: &Write) -> Result<String, MappingError> {
    let text = match kind {
        Kind::Customer => {
            let mut c: Customer = parse("customer", &write.document)?;
            c.metadata = BTreeMap::new();
            serde_json::to_value(&c)
        }
        Kind::Subscription => {
            let s: Subscription = parse("subscription", &write.document)?;
            serde_json::to_value(expected_subscription(&s, write)?)
        }
    };
    text.map(|v| v.to_string())
        .map_err(|e| MappingError::field("document", e.to_string()))
}

/// Items in the order a read-back lists them: by product, then price.
pub fn sort_items(items: &mut [Item]) {
    items.sort_by(|a, b| {
        (a.product_id.as_deref(), a.price_id.as_str())
            .cmp(&(b.product_id.as_deref(), b.price_id.as_str()))
    });
}

fn expected_subscription(s: &Subscription, write: &Write) -> Result<Subscription, MappingError> {
    let status = if write.operation == junction_connector_kit::Operation::Delete {
        Status::Canceled
    } else {
        s.status.as_kept()
    };
    // What bills from now on: nothing once the subscription has ended. (NetSuite keeps the
    // lines that billed until then, but cannot hold a change made on the day it ended.)
    let billing = if status == Status::Canceled {
        &[][..]
    } else {
        &s.items[..]
    };
    let mut kept = Subscription {
        id: s.id.clone(),
        customer_id: s.customer_id.clone(),
        status,
        currency: s.currency.to_ascii_lowercase(),
        items: billing
            .iter()
            .filter(|i| i.quantity > 0)
            .map(|i| Item {
                id: None,
                price_id: i.price_id.clone(),
                product_id: i.product_id.clone(),
                quantity: i.quantity,
                unit_amount: i.unit_amount,
                currency: i.currency.to_ascii_lowercase(),
                interval: None,
                interval_count: None,
            })
            .collect(),
        interval: None,
        current_period_start: None,
        current_period_end: None,
        next_billing_at: None,
        cancel_at_period_end: false,
        cancel_at: None,
        canceled_at: None,
        billing_stop_at: None,
        started_at: kept_time("started_at", s.started_at.as_deref())?,
        metadata: BTreeMap::new(),
    };
    let canceled = Subscription {
        status,
        ..s.clone()
    };
    kept.billing_stop_at = stop_date(&canceled, write)?.and_then(|d| midnight(&d));
    kept.cancel_at_period_end = kept.billing_stop_at.is_some() && status != Status::Canceled;
    sort_items(&mut kept.items);
    Ok(kept)
}

/// The customer record body a write upserts (`PUT .../eid:<key>`); the external id is in the
/// URL, so the body leaves `externalId` out, as NetSuite's upsert asks. A field the document
/// leaves out (a route that carries only the fields its source owns) is left out of the body,
/// so the record keeps it; a null one is cleared.
pub fn customer_record(document: &str) -> Result<Value, MappingError> {
    let c: Customer = parse("customer", document)?;
    let present: serde_json::Map<String, Value> = parse("customer", document)?;
    let mut body = serde_json::Map::new();
    for (canonical, field, value) in [
        ("name", "companyName", json!(c.name)),
        ("email", "email", json!(c.email)),
        ("phone", "phone", json!(c.phone)),
        (
            "currency",
            "currency",
            json!(
                c.currency
                    .as_ref()
                    .map(|code| json!({"refName": code.to_ascii_uppercase()}))
            ),
        ),
        ("deleted", "isInactive", json!(c.deleted)),
    ] {
        if present.contains_key(canonical) {
            body.insert(field.to_owned(), value);
        }
    }
    Ok(Value::Object(body))
}

/// A field of a record, its name matched without regard to case (NetSuite's field ids are
/// case-insensitive; its samples spell `priceplannew` and `billingAccount`).
pub fn field<'a>(record: &'a Value, name: &str) -> &'a Value {
    record
        .as_object()
        .and_then(|o| {
            o.get(name).or_else(|| {
                o.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })
        })
        .unwrap_or(&Value::Null)
}

/// A string field; NetSuite leaves empty fields out of a record.
pub fn text(record: &Value, field: &str) -> Option<String> {
    record
        .get(field)?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A reference's value: `{"id": ..}`/`{"refName": ..}`/`{"externalId": ..}` or a bare value.
pub fn reference(value: &Value, key: &str) -> Option<String> {
    match value {
        Value::Object(o) => o.get(key).and_then(Value::as_str).map(str::to_string),
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The lower-case ISO code of a record's `currency` reference (`refName`).
pub fn currency_of(record: &Value) -> Result<Option<String>, MappingError> {
    let Some(value) = record.get("currency").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let code = reference(value, "refName")
        .unwrap_or_default()
        .to_ascii_lowercase();
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_lowercase()) {
        Ok(Some(code))
    } else {
        Err(MappingError::field(
            "currency",
            format!("`{value}` does not name an ISO 4217 currency"),
        ))
    }
}

/// A canonical customer from a `customer` record as `GET` returns it.
pub fn customer_from(record: &Value, key: &str) -> Result<String, MappingError> {
    let c = Customer {
        id: text(record, "externalId").unwrap_or_else(|| key.to_string()),
        email: text(record, "email"),
        name: text(record, "companyName"),
        phone: text(record, "phone"),
        currency: currency_of(record)?,
        deleted: record
            .get("isInactive")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        metadata: BTreeMap::new(),
    };
    serde_json::to_string(&c).map_err(|e| MappingError::field("record", e.to_string()))
}
