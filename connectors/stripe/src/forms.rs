//! Canonical documents turned into Stripe form parameters. Every form is a pure function of the
//! write, never of what Stripe holds now, so a retry under the same idempotency key sends the
//! very same request (Stripe refuses a reused key with different parameters).

use std::collections::BTreeMap;

use junction_connector_kit::Error;
use junction_connector_kit::time::parse_rfc3339;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::api::Params;

/// The fields of a canonical subscription that a write sets at Stripe.
#[derive(Debug, Deserialize)]
pub(crate) struct SubscriptionDoc {
    customer_id: String,
    #[serde(default)]
    status: Option<String>,
    items: Vec<ItemDoc>,
    #[serde(default)]
    cancel_at_period_end: bool,
    #[serde(default)]
    cancel_at: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct ItemDoc {
    #[serde(default)]
    id: Option<String>,
    price_id: String,
    quantity: u64,
}

impl SubscriptionDoc {
    pub(crate) fn parse(document: &str) -> Result<Self, Error> {
        serde_json::from_str(document)
            .map_err(|e| Error::rejected(format!("not a canonical subscription: {e}")))
    }

    /// Whether the desired state is a subscription that has ended.
    pub(crate) fn is_ended(&self) -> bool {
        matches!(
            self.status.as_deref(),
            Some("canceled" | "incomplete_expired")
        )
    }

    /// `POST /v1/subscriptions`: the customer, items, a scheduled cancellation and metadata.
    pub(crate) fn create_form(&self) -> Result<Params, Error> {
        let mut form = vec![pair("customer", &self.customer_id)];
        for (i, item) in self.items.iter().enumerate() {
            form.push(pair(&format!("items[{i}][price]"), &item.price_id));
            form.push(pair(
                &format!("items[{i}][quantity]"),
                &item.quantity.to_string(),
            ));
        }
        if self.cancel_at_period_end {
            form.push(pair("cancel_at_period_end", "true"));
        } else if let Some(at) = self.cancel_at()? {
            form.push(pair("cancel_at", &at.to_string()));
        }
        form.extend(
            self.metadata
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| pair(&format!("metadata[{k}]"), v)),
        );
        Ok(form)
    }

    /// `POST /v1/subscriptions/{id}`: items by index (keeping their ids, so a price change
    /// replaces the item instead of adding one), the cancellation, proration and metadata.
    /// Items and metadata keys the document leaves out stay as they are (Stripe merges); an
    /// empty metadata value removes the key.
    pub(crate) fn update_form(&self, proration_behavior: &str) -> Result<Params, Error> {
        let mut form = Params::new();
        for (i, item) in self.items.iter().enumerate() {
            if let Some(id) = &item.id {
                form.push(pair(&format!("items[{i}][id]"), id));
            }
            form.push(pair(&format!("items[{i}][price]"), &item.price_id));
            form.push(pair(
                &format!("items[{i}][quantity]"),
                &item.quantity.to_string(),
            ));
        }
        // Stripe refuses `cancel_at` together with `cancel_at_period_end=true`, and derives
        // `cancel_at` from the period end itself in that case.
        if self.cancel_at_period_end {
            form.push(pair("cancel_at_period_end", "true"));
        } else {
            form.push(pair("cancel_at_period_end", "false"));
            form.push(pair(
                "cancel_at",
                &self.cancel_at()?.map(|t| t.to_string()).unwrap_or_default(),
            ));
        }
        form.push(pair("proration_behavior", proration_behavior));
        form.extend(
            self.metadata
                .iter()
                .map(|(k, v)| pair(&format!("metadata[{k}]"), v)),
        );
        Ok(form)
    }

    fn cancel_at(&self) -> Result<Option<i64>, Error> {
        let Some(text) = &self.cancel_at else {
            return Ok(None);
        };
        parse_rfc3339(text)
            .map(Some)
            .ok_or_else(|| Error::Rejected {
                message: format!("`cancel_at` is not an RFC 3339 UTC time: `{text}`"),
                field: Some("cancel_at".into()),
            })
    }
}

/// A canonical document as a JSON object.
pub(crate) fn object(document: &str) -> Result<Map<String, Value>, Error> {
    match serde_json::from_str(document) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::rejected("the document is not a JSON object")),
        Err(e) => Err(Error::rejected(format!("the document is not JSON: {e}"))),
    }
}

/// `POST /v1/customers[/{id}]`: name, email, phone and metadata. A field the document leaves
/// out is not sent; `null` unsets it (on update).
pub(crate) fn customer_form(doc: &Map<String, Value>, create: bool) -> Result<Params, Error> {
    let mut form = Params::new();
    for field in ["name", "email", "phone"] {
        match doc.get(field) {
            None => {}
            Some(Value::Null) if create => {}
            Some(Value::Null) => form.push(pair(field, "")),
            Some(Value::String(v)) => form.push(pair(field, v)),
            Some(_) => return Err(not_text(field)),
        }
    }
    if let Some(metadata) = doc.get("metadata").and_then(Value::as_object) {
        for (k, v) in metadata {
            let v = v
                .as_str()
                .ok_or_else(|| not_text(&format!("metadata.{k}")))?;
            if !(create && v.is_empty()) {
                form.push(pair(&format!("metadata[{k}]"), v));
            }
        }
    }
    Ok(form)
}

fn not_text(field: &str) -> Error {
    Error::Rejected {
        message: format!("`{field}` must be a string or null"),
        field: Some(field.to_owned()),
    }
}

fn pair(key: &str, value: &str) -> (String, String) {
    (key.to_owned(), value.to_owned())
}
