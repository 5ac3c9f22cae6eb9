//! Cleverbridge subscriptions (`getsubscription`, fact sheet §3) mapped to the canonical
//! subscription (`wit/schemas/subscription.v1.json`); see docs/cleverbridge-mapping.md.

use junction_connector_kit::time::{parse_rfc3339, rfc3339};
use serde_json::{Value, json};

use crate::errors::MapError;
use crate::money;

/// Which of Cleverbridge's three prices canonical `unit_amount` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Basis {
    /// `NextBillingCustomerGrossPrice` (VAT included): what the customer pays.
    Gross,
    /// `NextBillingCustomerNetPrice`.
    Net,
}

impl Basis {
    pub(crate) fn of(gross: bool) -> Self {
        if gross { Basis::Gross } else { Basis::Net }
    }

    /// The item field holding the next billing's total on this basis.
    pub(crate) fn field(self) -> &'static str {
        match self {
            Basis::Gross => "NextBillingCustomerGrossPrice",
            Basis::Net => "NextBillingCustomerNetPrice",
        }
    }
}

/// A canonical status for a Cleverbridge subscription status (fact sheet §4).
pub(crate) fn status(cleverbridge: &str) -> Option<&'static str> {
    Some(match cleverbridge {
        "Active" => "active",
        // Cancelled (or refunded): it renews no more, even while it runs to its end date.
        "Deactivated" => "canceled",
        // The fixed number of billings was reached: it ended like a cancelled one.
        "Finished" => "canceled",
        // Payment missing, the customer may still use it: Stripe's past_due exactly.
        "Grace" => "past_due",
        // Payment still missing after grace: no access and Cleverbridge keeps asking for the
        // payment. That is Stripe's `unpaid` (dunning exhausted, not a merchant's pause).
        "Hold" => "unpaid",
        // Signed up, no payment yet.
        "New" => "incomplete",
        _ => return None,
    })
}

/// An item as the sink matches it: the live version of one running number.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Item {
    pub running_no: u64,
    pub product_id: String,
    pub quantity: u64,
    /// Per unit on the pipeline's basis, minor units.
    pub unit_amount: u64,
    pub status: String,
}

/// The live (`IsCurrent`) item versions, by running number.
pub(crate) fn items(sub: &Value, basis: Basis) -> Result<Vec<Item>, MapError> {
    let currency = sub["CustomerCurrencyId"].as_str().unwrap_or_default();
    let list = sub["Items"]
        .as_array()
        .ok_or_else(|| MapError::new("Items", "a list"))?;
    let mut out: Vec<Item> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        // Several versions share a running number; only the `IsCurrent` one is live.
        if item["IsCurrent"].as_bool() == Some(false) {
            continue;
        }
        let field = |name: &str| format!("Items[{i}].{name}");
        let running_no = item["RunningNo"]
            .as_u64()
            .ok_or_else(|| MapError::new(field("RunningNo"), "a whole number"))?;
        let product_id = match &item["ProductId"] {
            Value::Number(n) => n.to_string(),
            Value::String(s) if !s.is_empty() => s.clone(),
            _ => return Err(MapError::new(field("ProductId"), "an id")),
        };
        let quantity = item["Quantity"]
            .as_u64()
            .ok_or_else(|| MapError::new(field("Quantity"), "a whole number"))?;
        let total = money::to_minor(&item[basis.field()], currency)
            .ok_or_else(|| MapError::new(field(basis.field()), "a decimal amount"))?;
        // The price fields hold the item's total for the next interval (unit times quantity).
        let unit_amount = (total + quantity / 2)
            .checked_div(quantity)
            .unwrap_or(total);
        let status = item["Status"].as_str().unwrap_or("Active").to_owned();
        out.retain(|o| o.running_no != running_no);
        out.push(Item {
            running_no,
            product_id,
            quantity,
            unit_amount,
            status,
        });
    }
    out.sort_by_key(|i| i.running_no);
    Ok(out)
}

/// The canonical subscription.
pub(crate) fn subscription(sub: &Value, basis: Basis) -> Result<Value, MapError> {
    let id = id_of(&sub["Id"]).ok_or_else(|| MapError::new("Id", "an id"))?;
    let customer = id_of(&sub["CustomerId"]).ok_or_else(|| MapError::new("CustomerId", "an id"))?;
    let raw_status = sub["Status"]
        .as_str()
        .ok_or_else(|| MapError::new("Status", "a string"))?;
    let status = status(raw_status)
        .ok_or_else(|| MapError::new("Status", "a status the fact sheet documents"))?;
    let currency = sub["CustomerCurrencyId"]
        .as_str()
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()))
        .ok_or_else(|| MapError::new("CustomerCurrencyId", "a three-letter currency code"))?
        .to_ascii_lowercase();
    let (interval, interval_count) = interval(sub);
    let ended = status == "canceled";
    // An ended subscription lists what it last billed; a running one what bills next.
    let items: Vec<Value> = items(sub, basis)?
        .into_iter()
        .filter(|i| match i.status.as_str() {
            "Removed" => false,
            "Active" => true,
            _ => ended,
        })
        .map(|i| {
            json!({
                "id": i.running_no.to_string(),
                "price_id": i.product_id,
                "product_id": i.product_id,
                "quantity": i.quantity,
                "unit_amount": i.unit_amount,
                "currency": currency,
                "interval": interval,
                "interval_count": interval_count,
            })
        })
        .collect();
    let next_billing = time(&sub["NextBillingDate"], "NextBillingDate")?;
    let end = time(&sub["EndDate"], "EndDate")?;
    let started = time(&sub["StartDate"], "StartDate")?;
    let running = matches!(status, "active" | "past_due" | "unpaid");
    let next_billing_at = next_billing.filter(|_| running && end.is_none());
    let cancel_at_period_end = end.is_some() && end == next_billing;
    let mut metadata = serde_json::Map::new();
    metadata.insert("cleverbridge_status".into(), json!(raw_status));
    if let Some(renewal) = sub["RenewalType"].as_str() {
        metadata.insert("renewal_type".into(), json!(renewal));
    }
    if let Some(reference) = sub["CustomerReferenceId"]
        .as_str()
        .filter(|r| !r.is_empty())
    {
        metadata.insert("customer_reference_id".into(), json!(reference));
    }
    Ok(json!({
        "id": id,
        "customer_id": customer,
        "status": status,
        "currency": currency,
        "interval": interval,
        "items": items,
        "current_period_start": null,
        "current_period_end": if running { next_billing } else { end }.map(rfc3339),
        "next_billing_at": next_billing_at.map(rfc3339),
        "cancel_at_period_end": cancel_at_period_end,
        "cancel_at": end.map(rfc3339),
        "canceled_at": null,
        "billing_stop_at": end.map(rfc3339),
        "started_at": started.map(rfc3339),
        "metadata": metadata,
    }))
}

/// The billing interval: whole years, months, weeks or days (`IntervalMonthCount`,
/// `IntervalDayCount`).
pub(crate) fn interval(sub: &Value) -> (Option<&'static str>, Option<u64>) {
    let months = sub["IntervalMonthCount"].as_u64().unwrap_or(0);
    let days = sub["IntervalDayCount"].as_u64().unwrap_or(0);
    match (months, days) {
        (0, 0) => (None, None),
        (m, 0) if m % 12 == 0 => (Some("year"), Some(m / 12)),
        (m, 0) => (Some("month"), Some(m)),
        (0, d) if d % 7 == 0 => (Some("week"), Some(d / 7)),
        (0, d) => (Some("day"), Some(d)),
        // Months and days together have no canonical form; the months say the most.
        (m, _) => (Some("month"), Some(m)),
    }
}

/// An id written as a number or a string.
fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// An RFC 3339 UTC time, Unix seconds; `null` stays `None`.
fn time(v: &Value, field: &'static str) -> Result<Option<i64>, MapError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => parse_rfc3339(s)
            .map(Some)
            .ok_or_else(|| MapError::new(field, "an RFC 3339 UTC time")),
        _ => Err(MapError::new(field, "an RFC 3339 UTC time")),
    }
}
