//! Stripe objects mapped to Junction's canonical documents (`wit/schemas/*.v1.json`): money in
//! minor units, currencies lower case, times RFC 3339 UTC. Reads the typed payloads of
//! `wire.rs` and writes typed documents whose fields are declared in key order, so the JSON is
//! byte for byte what a `serde_json::Value` (sorted keys) gave before.

use std::collections::BTreeMap;

use junction_connector_kit::time::rfc3339;
use serde::Serialize;

use crate::errors::MapError;
use crate::wire::{
    Count, IdOr, Item, Metadata, Object, Price, bool_of, id_of, int_of, obj_of, str_of, uint_of,
};

/// A canonical document.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub(crate) enum Document<'a> {
    Subscription(Subscription<'a>),
    Customer(Customer<'a>),
    Invoice(Invoice<'a>),
}

impl Document<'_> {
    /// The document's JSON.
    pub(crate) fn to_json(&self) -> String {
        // Strings, numbers, booleans and maps with string keys: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Its `id`.
    pub(crate) fn id(&self) -> &str {
        match self {
            Document::Subscription(s) => s.id,
            Document::Customer(c) => c.id,
            Document::Invoice(i) => i.id,
        }
    }

    /// Marks a customer deleted (other documents have no such field).
    pub(crate) fn mark_deleted(&mut self) {
        if let Document::Customer(c) = self {
            c.deleted = true;
        }
    }
}

/// `subscription.v1`, fields in key order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Subscription<'a> {
    billing_stop_at: Option<String>,
    cancel_at: Option<String>,
    cancel_at_period_end: bool,
    canceled_at: Option<String>,
    currency: &'a str,
    current_period_end: Option<String>,
    current_period_start: Option<String>,
    customer_id: &'a str,
    id: &'a str,
    interval: Option<&'a str>,
    items: Vec<SubscriptionItem<'a>>,
    metadata: BTreeMap<&'a str, &'a str>,
    next_billing_at: Option<String>,
    started_at: Option<String>,
    status: &'a str,
}

/// One item of `subscription.v1`, fields in key order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct SubscriptionItem<'a> {
    currency: &'a str,
    id: Option<&'a str>,
    interval: Option<&'a str>,
    interval_count: Option<u64>,
    price_id: &'a str,
    product_id: Option<&'a str>,
    quantity: u64,
    unit_amount: u64,
}

/// `customer.v1`, fields in key order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Customer<'a> {
    address: Option<Address<'a>>,
    created_at: Option<String>,
    currency: Option<&'a str>,
    deleted: bool,
    email: Option<&'a str>,
    id: &'a str,
    metadata: BTreeMap<&'a str, &'a str>,
    name: Option<&'a str>,
    phone: Option<&'a str>,
}

/// A customer's address, fields in key order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Address<'a> {
    city: Option<&'a str>,
    country: Option<&'a str>,
    line1: Option<&'a str>,
    line2: Option<&'a str>,
    postal_code: Option<&'a str>,
    state: Option<&'a str>,
}

/// `invoice.v1`, fields in key order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Invoice<'a> {
    amount_due: i64,
    amount_paid: i64,
    created_at: Option<String>,
    currency: &'a str,
    customer_email: Option<&'a str>,
    customer_id: &'a str,
    due_at: Option<String>,
    id: &'a str,
    metadata: BTreeMap<&'a str, &'a str>,
    period_end: Option<String>,
    period_start: Option<String>,
    status: &'a str,
    subscription_id: Option<&'a str>,
    total: i64,
}

/// Maps a Stripe object of canonical kind `object` (`subscription`, `customer`, `invoice`).
pub(crate) fn of<'a>(object: &str, stripe: &'a Object<'_>) -> Result<Document<'a>, MapError> {
    match object {
        "subscription" => subscription(stripe).map(Document::Subscription),
        "customer" => customer(stripe).map(Document::Customer),
        _ => invoice(stripe).map(Document::Invoice),
    }
}

/// A subscription, from any API version: since `2025-03-31.basil` the billing period lives on
/// each item, before that on the subscription itself.
pub(crate) fn subscription<'a>(s: &'a Object<'_>) -> Result<Subscription<'a>, MapError> {
    let data = items(s).ok_or_else(|| MapError::new("items.data", "a list"))?;
    let items = data
        .iter()
        .enumerate()
        .map(|(i, item)| subscription_item(i, item, s))
        .collect::<Result<Vec<_>, _>>()?;
    let status = one_of(str_of(&s.status), "status", SUBSCRIPTION_STATUSES)?;
    let (start, end) = period(s);
    let cancel_at_period_end = bool_of(&s.cancel_at_period_end).unwrap_or(false);
    let cancel_at = int_of(&s.cancel_at);
    let ended = matches!(status, "canceled" | "incomplete_expired");
    // Billing continues at the period end unless the subscription ended or stops by then.
    let next_billing =
        end.filter(|&e| !ended && !cancel_at_period_end && cancel_at.is_none_or(|c| c > e));
    let ended_at = || int_of(&s.ended_at).or_else(|| int_of(&s.canceled_at));
    let billing_stop = cancel_at
        .or(end.filter(|_| cancel_at_period_end))
        .or_else(|| ended.then(ended_at).flatten());
    // Fields in the order the mapping checks them (the first problem is the one reported).
    let id = id(&s.id, "id")?;
    let customer_id =
        id_of(&s.customer).ok_or_else(|| MapError::new("customer", "an id or a customer"))?;
    let currency = currency(str_of(&s.currency), "currency")?;
    let interval = items.first().and_then(|i| i.interval);
    Ok(Subscription {
        id,
        customer_id,
        status,
        currency,
        interval,
        items,
        current_period_start: time(start, "current_period_start")?,
        current_period_end: time(end, "current_period_end")?,
        next_billing_at: time(next_billing, "current_period_end")?,
        cancel_at_period_end,
        cancel_at: time(cancel_at, "cancel_at")?,
        canceled_at: time(int_of(&s.canceled_at), "canceled_at")?,
        billing_stop_at: time(billing_stop, "cancel_at")?,
        started_at: time(int_of(&s.start_date), "start_date")?,
        metadata: metadata(&s.metadata),
    })
}

/// `items.data`, if it is a list.
fn items<'s>(s: &'s Object<'_>) -> Option<&'s [Item<'s>]> {
    obj_of(&s.items)
        .and_then(|i| i.data.as_ref())
        .and_then(|l| l.0.as_deref())
}

/// The current billing period (unix seconds): the first item's (basil and later), else the
/// subscription's own fields (older API versions).
pub(crate) fn period(s: &Object<'_>) -> (Option<i64>, Option<i64>) {
    let item = items(s).and_then(<[Item<'_>]>::first);
    let start = item
        .and_then(|i| int_of(&i.current_period_start))
        .or_else(|| int_of(&s.current_period_start));
    let end = item
        .and_then(|i| int_of(&i.current_period_end))
        .or_else(|| int_of(&s.current_period_end));
    (start, end)
}

/// One subscription item. Its price is `price`, or the legacy `plan` on very old objects. A
/// price without a flat per-unit amount (tiered, decimal) has `unit_amount` 0: the canonical
/// schema has no way to say more, and refusing the whole subscription would be worse.
fn subscription_item<'a>(
    i: usize,
    item: &'a Item<'_>,
    s: &'a Object<'_>,
) -> Result<SubscriptionItem<'a>, MapError> {
    let price = match &item.price {
        Some(IdOr::Obj(price)) => Some(price),
        _ => obj_of(&item.plan),
    };
    let field = |name: &str| format!("items.data[{i}].price.{name}");
    let price_id = id_of(&item.price)
        .or_else(|| price.and_then(|p| str_of(&p.id)))
        .ok_or_else(|| MapError::new(field("id"), "a string"))?;
    let unit_amount = price.and_then(unit_amount).unwrap_or(0);
    // `recurring`, or the price itself (a legacy plan) when it has none.
    let (interval, interval_count) = match price {
        Some(p) => match obj_of(&p.recurring) {
            Some(r) => (str_of(&r.interval), r.interval_count.as_ref()),
            None => (str_of(&p.interval), p.interval_count.as_ref()),
        },
        None => (None, None),
    };
    let currency = currency(
        price
            .and_then(|p| str_of(&p.currency))
            .or_else(|| str_of(&s.currency)),
        &field("currency"),
    )?;
    let interval = match interval {
        None => None,
        Some(interval) if INTERVALS.contains(&interval) => Some(interval),
        Some(_) => {
            return Err(MapError::new(
                field("recurring.interval"),
                "day, week, month or year",
            ));
        }
    };
    let interval_count = match interval_count {
        None | Some(Count::Null) => None,
        Some(Count::Whole(n)) if *n >= 1 => Some(*n),
        Some(_) => {
            return Err(MapError::new(
                field("recurring.interval_count"),
                "a whole number of at least 1",
            ));
        }
    };
    Ok(SubscriptionItem {
        id: str_of(&item.id),
        price_id,
        product_id: price.and_then(|p| id_of(&p.product)),
        quantity: uint_of(&item.quantity).unwrap_or(0),
        unit_amount,
        currency,
        interval,
        interval_count,
    })
}

/// `unit_amount`, the legacy `amount`, or a whole `unit_amount_decimal`.
fn unit_amount(price: &Price<'_>) -> Option<u64> {
    uint_of(&price.unit_amount)
        .or_else(|| uint_of(&price.amount))
        .or_else(|| str_of(&price.unit_amount_decimal).and_then(|d| d.parse().ok()))
}

/// A customer; a deleted one (`"deleted": true`) keeps only what Stripe still tells.
pub(crate) fn customer<'a>(c: &'a Object<'_>) -> Result<Customer<'a>, MapError> {
    let address = obj_of(&c.address).map(|a| Address {
        line1: str_of(&a.line1),
        line2: str_of(&a.line2),
        city: str_of(&a.city),
        postal_code: str_of(&a.postal_code),
        state: str_of(&a.state),
        country: str_of(&a.country),
    });
    Ok(Customer {
        id: id(&c.id, "id")?,
        email: str_of(&c.email),
        name: str_of(&c.name),
        phone: str_of(&c.phone),
        currency: str_of(&c.currency)
            .map(|code| currency(Some(code), "currency"))
            .transpose()?,
        address,
        created_at: time(int_of(&c.created), "created")?,
        deleted: bool_of(&c.deleted).unwrap_or(false),
        metadata: metadata(&c.metadata),
    })
}

/// An invoice. Its subscription is top-level before basil and under
/// `parent.subscription_details` since.
pub(crate) fn invoice<'a>(v: &'a Object<'_>) -> Result<Invoice<'a>, MapError> {
    let subscription = id_of(&v.subscription).or_else(|| {
        obj_of(&v.parent)
            .and_then(|p| obj_of(&p.subscription_details))
            .and_then(|d| id_of(&d.subscription))
    });
    let amount =
        |value: Option<i64>, k: &'static str| value.ok_or_else(|| MapError::new(k, "an integer"));
    Ok(Invoice {
        id: id(&v.id, "id")?,
        customer_id: id_of(&v.customer)
            .ok_or_else(|| MapError::new("customer", "an id or a customer"))?,
        customer_email: str_of(&v.customer_email),
        subscription_id: subscription,
        status: one_of(str_of(&v.status), "status", INVOICE_STATUSES)?,
        currency: currency(str_of(&v.currency), "currency")?,
        total: amount(int_of(&v.total), "total")?,
        amount_due: amount(int_of(&v.amount_due), "amount_due")?,
        amount_paid: amount(int_of(&v.amount_paid), "amount_paid")?,
        period_start: time(int_of(&v.period_start), "period_start")?,
        period_end: time(int_of(&v.period_end), "period_end")?,
        due_at: time(int_of(&v.due_date), "due_date")?,
        created_at: time(int_of(&v.created), "created")?,
        metadata: metadata(&v.metadata),
    })
}

/// Subscription statuses Stripe documents (`subscription.status`), all canonical ones too.
const SUBSCRIPTION_STATUSES: &[&str] = &[
    "incomplete",
    "incomplete_expired",
    "trialing",
    "active",
    "past_due",
    "canceled",
    "unpaid",
    "paused",
];

/// Invoice statuses Stripe documents (`invoice.status`).
const INVOICE_STATUSES: &[&str] = &["draft", "open", "paid", "uncollectible", "void"];

/// Recurring intervals Stripe documents (`price.recurring.interval`).
const INTERVALS: &[&str] = &["day", "week", "month", "year"];

/// The latest time a canonical document holds: 9999-12-31T23:59:59Z (RFC 3339 has four-digit
/// years). Stripe's times are Unix seconds after 1970.
const LAST_SECOND: i64 = 253_402_300_799;

/// A required id: a string that is not empty.
fn id<'a>(
    value: &'a Option<crate::wire::Str<'_>>,
    field: &'static str,
) -> Result<&'a str, MapError> {
    str_of(value)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| MapError::new(field, "a non-empty string"))
}

/// A required field holding one of the values Stripe documents for it. A value outside the
/// list is refused rather than passed on: the canonical document has no place for it.
fn one_of<'a>(
    value: Option<&'a str>,
    field: &'static str,
    allowed: &[&str],
) -> Result<&'a str, MapError> {
    value
        .filter(|value| allowed.contains(value))
        .ok_or_else(|| MapError::new(field, "a status Stripe documents"))
}

/// An ISO 4217 code as Stripe writes them: three lower-case letters.
fn currency<'a>(code: Option<&'a str>, field: &str) -> Result<&'a str, MapError> {
    code.filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_lowercase()))
        .ok_or_else(|| MapError::new(field, "a three-letter lower-case currency code"))
}

/// A time field: absent stays null; Unix seconds become RFC 3339 UTC when they fall between
/// 1970 and the year 9999, and are refused otherwise.
fn time(unix_seconds: Option<i64>, field: &str) -> Result<Option<String>, MapError> {
    match unix_seconds {
        None => Ok(None),
        Some(t) if (0..=LAST_SECOND).contains(&t) => Ok(Some(rfc3339(t))),
        Some(_) => Err(MapError::new(field, "Unix seconds between 1970 and 9999")),
    }
}

/// Metadata keeps string values only (the only kind Stripe stores; a `null` in
/// `previous_attributes` means the key did not exist before).
fn metadata<'a>(m: &'a Option<Metadata<'_>>) -> BTreeMap<&'a str, &'a str> {
    m.as_ref()
        .and_then(|m| m.0.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.as_ref(), v.as_deref()?)))
        .collect()
}
