//! Canonical documents <-> NetSuite record bodies, exactly as `docs/netsuite-mapping.md` says:
//! the standard fields a NetSuite user sees, plus the exact canonical values in `custrecord_jn_*`
//! / `custcol_jn_*` / `custentity_jn_*` custom fields, which are what a read-back returns.

use std::collections::BTreeMap;

use junction_connector_kit::Error;
use junction_connector_kit::time::{date, parse_rfc3339, rfc3339};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::{Kind, check_external_id};
use crate::money;

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
    fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
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

    /// The canonical status for a NetSuite status alone (a record Junction did not write).
    fn from_netsuite(id: &str) -> Option<Self> {
        Some(match id.to_ascii_uppercase().as_str() {
            "ACTIVE" => Status::Active,
            "PENDING_ACTIVATION" => Status::Incomplete,
            "SUSPENDED" => Status::Paused,
            "TERMINATED" => Status::Canceled,
            _ => return None,
        })
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

impl Interval {
    fn frequency(self) -> &'static str {
        match self {
            Interval::Day => "DAILY",
            Interval::Week => "WEEKLY",
            Interval::Month => "MONTHLY",
            Interval::Year => "ANNUALLY",
        }
    }

    fn from_frequency(frequency: &str) -> Option<Self> {
        [
            Interval::Day,
            Interval::Week,
            Interval::Month,
            Interval::Year,
        ]
        .into_iter()
        .find(|i| i.frequency().eq_ignore_ascii_case(frequency))
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    object: &'static str,
    document: &str,
) -> Result<T, MappingError> {
    serde_json::from_str(document).map_err(|e| MappingError::Document {
        object,
        reason: e.to_string(),
    })
}

/// The UTC date of a canonical time, for NetSuite's date-only fields.
fn date_of(field: &str, time: Option<&str>) -> Result<Value, MappingError> {
    let Some(time) = time else {
        return Ok(Value::Null);
    };
    let seconds = parse_rfc3339(time).ok_or_else(|| {
        MappingError::field(field, format!("`{time}` is not an RFC 3339 UTC time"))
    })?;
    Ok(json!(date(seconds)))
}

fn effective(effective_at_ms: Option<i64>) -> Value {
    effective_at_ms.map_or(Value::Null, |ms| json!(rfc3339(ms.div_euclid(1000))))
}

fn metadata_text(metadata: &BTreeMap<String, String>) -> String {
    serde_json::to_string(metadata).unwrap_or_else(|_| "{}".into())
}

/// The record body a write upserts (`PUT .../eid:<key>`). The external id is in the URL, so the
/// body leaves `externalId` out, as NetSuite's upsert asks.
pub fn to_record(
    kind: Kind,
    document: &str,
    effective_at_ms: Option<i64>,
) -> Result<Value, MappingError> {
    match kind {
        Kind::Customer => Ok(customer_record(
            &parse("customer", document)?,
            effective_at_ms,
        )),
        Kind::Subscription => {
            subscription_record(&parse("subscription", document)?, effective_at_ms)
        }
    }
}

/// The body of a `delete` write (`PATCH`): customers become inactive, subscriptions are
/// terminated (billing records are closed, never deleted).
pub fn close_record(kind: Kind, effective_at_ms: Option<i64>) -> Value {
    match kind {
        Kind::Customer => {
            json!({"isInactive": true, "custentity_jn_effective_at": effective(effective_at_ms)})
        }
        Kind::Subscription => json!({
            "status": {"id": Status::Canceled.netsuite()},
            "custrecord_jn_status": "canceled",
            "custrecord_jn_effective_at": effective(effective_at_ms),
        }),
    }
}

fn customer_record(c: &Customer, effective_at_ms: Option<i64>) -> Value {
    json!({
        "companyName": c.name,
        "email": c.email,
        "phone": c.phone,
        "currency": c.currency.as_ref().map(|code| json!({"refName": code.to_ascii_uppercase()})),
        "isInactive": c.deleted,
        "custentity_jn_metadata": metadata_text(&c.metadata),
        // Entity custom fields are `custentity_*` in NetSuite; the mapping names the effective
        // date field for subscriptions only.
        "custentity_jn_effective_at": effective(effective_at_ms),
    })
}

fn subscription_record(
    s: &Subscription,
    effective_at_ms: Option<i64>,
) -> Result<Value, MappingError> {
    check_external_id(&s.customer_id, "customer_id").map_err(|_| {
        MappingError::field(
            "customer_id",
            "a NetSuite external id allows only letters, digits, `_` and `-`",
        )
    })?;
    let mut lines = Vec::with_capacity(s.items.len());
    for (i, item) in s.items.iter().enumerate() {
        let at = |name: &str| format!("items[{i}].{name}");
        check_external_id(&item.price_id, "price_id").map_err(|_| {
            MappingError::field(
                at("price_id"),
                "a NetSuite external id allows only letters, digits, `_` and `-`",
            )
        })?;
        // A subscription line takes its subscription's currency; it has no currency of its own.
        if !item.currency.eq_ignore_ascii_case(&s.currency) {
            return Err(MappingError::field(
                at("currency"),
                format!(
                    "`{}` differs from the subscription's currency `{}`",
                    item.currency, s.currency
                ),
            ));
        }
        let rate = money::to_rate(item.unit_amount, &item.currency)
            .map_err(|e| MappingError::field(at("unit_amount"), e.to_string()))?;
        lines.push(json!({
            "lineNumber": i + 1,
            "item": {"externalId": item.price_id},
            "quantity": item.quantity,
            "rate": rate,
            "custcol_jn_unit_amount": item.unit_amount,
            "custcol_jn_product": item.product_id,
            "custcol_jn_item_id": item.id,
            "custcol_jn_interval": item.interval.map(|i| json!(i)),
            "custcol_jn_interval_count": item.interval_count,
        }));
    }
    money::exponent(&s.currency).map_err(|e| MappingError::field("currency", e.to_string()))?;
    Ok(json!({
        "name": s.id,
        "customer": {"externalId": s.customer_id},
        "status": {"id": s.status.netsuite()},
        "custrecord_jn_status": s.status,
        "currency": {"refName": s.currency.to_ascii_uppercase()},
        "billingFrequency": s.interval.map(Interval::frequency),
        "startDate": date_of("started_at", s.started_at.as_deref())?,
        // Not in docs/netsuite-mapping.md: without it a start time other than midnight UTC
        // could not be read back exactly.
        "custrecord_jn_started_at": s.started_at,
        "endDate": date_of("billing_stop_at", s.billing_stop_at.as_deref())?,
        "custrecord_jn_billing_stop_at": s.billing_stop_at,
        "nextBillDate": date_of("next_billing_at", s.next_billing_at.as_deref())?,
        "custrecord_jn_next_billing_at": s.next_billing_at,
        "custrecord_jn_period_start": s.current_period_start,
        "custrecord_jn_period_end": s.current_period_end,
        "custrecord_jn_cancel_at_period_end": s.cancel_at_period_end,
        "custrecord_jn_cancel_at": s.cancel_at,
        "custrecord_jn_canceled_at": s.canceled_at,
        "subscriptionLine": {"items": lines},
        "custrecord_jn_metadata": metadata_text(&s.metadata),
        "custrecord_jn_effective_at": effective(effective_at_ms),
    }))
}

/// Rebuilds the canonical document (JSON text) from a record as `GET` returns it, taking the
/// exact values from the custom fields and falling back to the standard fields for records
/// Junction did not write. `key` is the external id the record was fetched by.
pub fn from_record(kind: Kind, record: &Value, key: &str) -> Result<String, MappingError> {
    let text = match kind {
        Kind::Customer => serde_json::to_string(&customer_from(record, key)?),
        Kind::Subscription => serde_json::to_string(&subscription_from(record, key)?),
    };
    text.map_err(|e| MappingError::field("record", e.to_string()))
}

/// A string field; NetSuite leaves empty fields out of a record.
fn text(record: &Value, field: &str) -> Option<String> {
    record
        .get(field)?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A reference's value: `{"id": ..}`/`{"refName": ..}`/`{"externalId": ..}` or a bare value.
fn reference(value: &Value, key: &str) -> Option<String> {
    match value {
        Value::Object(o) => o.get(key).and_then(Value::as_str).map(str::to_string),
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn currency_of(record: &Value) -> Result<Option<String>, MappingError> {
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

/// Metadata from its JSON text; anything but string values is dropped rather than failing the
/// read, so a hand-edited field shows up as drift instead of an unreadable record.
fn metadata_of(record: &Value, field: &str) -> BTreeMap<String, String> {
    let parsed: Value = text(record, field)
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    parsed
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

/// The exact time from a custom field, else midnight UTC of the standard date field.
fn time_of(record: &Value, exact: &str, standard: Option<&str>) -> Option<String> {
    text(record, exact).or_else(|| {
        let day = text(record, standard?)?;
        parse_rfc3339(&format!("{day}T00:00:00Z")).map(rfc3339)
    })
}

fn whole(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0)
            .map(|f| f as u64)
    })
}

fn customer_from(record: &Value, key: &str) -> Result<Customer, MappingError> {
    Ok(Customer {
        id: text(record, "externalId").unwrap_or_else(|| key.to_string()),
        email: text(record, "email"),
        name: text(record, "companyName"),
        phone: text(record, "phone"),
        currency: currency_of(record)?,
        deleted: record
            .get("isInactive")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        metadata: metadata_of(record, "custentity_jn_metadata"),
    })
}

/// The exact status, unless NetSuite's own status no longer agrees with it (someone changed
/// the record in NetSuite): then NetSuite's status decides.
fn status_of(record: &Value) -> Result<Status, MappingError> {
    let exact: Option<Status> =
        text(record, "custrecord_jn_status").and_then(|s| serde_json::from_value(json!(s)).ok());
    let standard = record.get("status").and_then(|v| reference(v, "id"));
    match (exact, standard) {
        (Some(s), Some(n)) if s.netsuite().eq_ignore_ascii_case(&n) => Ok(s),
        (Some(s), None) => Ok(s),
        (_, Some(n)) => Status::from_netsuite(&n).ok_or_else(|| {
            MappingError::field(
                "status",
                format!("unknown NetSuite subscription status `{n}`"),
            )
        }),
        (None, None) => Err(MappingError::field("status", "the record has no status")),
    }
}

fn subscription_from(record: &Value, key: &str) -> Result<Subscription, MappingError> {
    let currency = currency_of(record)?
        .ok_or_else(|| MappingError::field("currency", "the record has no currency"))?;
    let customer = record.get("customer").unwrap_or(&Value::Null);
    let customer_id = reference(customer, "externalId")
        .or_else(|| reference(customer, "id"))
        .ok_or_else(|| MappingError::field("customer", "the record has no customer"))?;
    let mut lines: Vec<&Value> = record["subscriptionLine"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    lines.sort_by_key(|line| line["lineNumber"].as_u64().unwrap_or(u64::MAX));
    let items = lines
        .into_iter()
        .enumerate()
        .map(|(i, line)| item_from(line, i, &currency))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Subscription {
        id: text(record, "externalId").unwrap_or_else(|| key.to_string()),
        customer_id,
        status: status_of(record)?,
        currency,
        items,
        interval: record
            .get("billingFrequency")
            .and_then(|f| reference(f, "id"))
            .and_then(|f| Interval::from_frequency(&f)),
        current_period_start: text(record, "custrecord_jn_period_start"),
        current_period_end: text(record, "custrecord_jn_period_end"),
        next_billing_at: time_of(
            record,
            "custrecord_jn_next_billing_at",
            Some("nextBillDate"),
        ),
        cancel_at_period_end: record
            .get("custrecord_jn_cancel_at_period_end")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        cancel_at: text(record, "custrecord_jn_cancel_at"),
        canceled_at: text(record, "custrecord_jn_canceled_at"),
        billing_stop_at: time_of(record, "custrecord_jn_billing_stop_at", Some("endDate")),
        started_at: time_of(record, "custrecord_jn_started_at", Some("startDate")),
        metadata: metadata_of(record, "custrecord_jn_metadata"),
    })
}

fn item_from(line: &Value, index: usize, currency: &str) -> Result<Item, MappingError> {
    let at = |name: &str| format!("subscriptionLine.items[{index}].{name}");
    let item = &line["item"];
    let price_id = reference(item, "externalId")
        .or_else(|| reference(item, "id"))
        .ok_or_else(|| MappingError::field(at("item"), "the line has no item"))?;
    let quantity = whole(&line["quantity"])
        .ok_or_else(|| MappingError::field(at("quantity"), "not a whole number"))?;
    let unit_amount = match whole(&line["custcol_jn_unit_amount"]) {
        Some(exact) => exact,
        None => {
            let rate = line["rate"]
                .as_f64()
                .ok_or_else(|| MappingError::field(at("rate"), "the line has no rate"))?;
            money::to_minor(rate, currency)
                .map_err(|e| MappingError::field(at("rate"), e.to_string()))?
        }
    };
    Ok(Item {
        id: text(line, "custcol_jn_item_id"),
        price_id,
        product_id: text(line, "custcol_jn_product"),
        quantity,
        unit_amount,
        currency: currency.to_string(),
        interval: line
            .get("custcol_jn_interval")
            .and_then(|i| serde_json::from_value(i.clone()).ok()),
        interval_count: line["custcol_jn_interval_count"]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok()),
    })
}
