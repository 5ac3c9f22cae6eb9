//! The sink side: canonical subscription writes made true in Cleverbridge, read back and
//! predicted (`expected`).
//!
//! Cleverbridge documents no idempotency key (fact sheet §1), so every write starts by reading
//! the subscription (`getsubscription`) and sends only the operations whose result is not
//! there yet: a retry after a lost answer finds the change made and sends nothing.

use junction_connector_kit::{Error, Host, Level, Operation, Outcome, Write};
use serde_json::{Value, json};

use crate::api::{Api, SubscriptionId};
use crate::canonical::{self, Basis, Item};
use crate::{money, settings};

/// One item of the write's document.
#[derive(Debug, Clone, PartialEq)]
struct Wanted {
    index: usize,
    running_no: Option<u64>,
    product_id: Option<String>,
    quantity: u64,
    unit_amount: u64,
    currency: String,
}

fn object(document: &str) -> Result<Value, Error> {
    let doc: Value = serde_json::from_str(document)
        .map_err(|e| Error::rejected(format!("the document is not JSON: {e}")))?;
    if !doc.is_object() {
        return Err(Error::rejected("the document is not a JSON object"));
    }
    Ok(doc)
}

fn wanted(doc: &Value) -> Result<Vec<Wanted>, Error> {
    let list = doc["items"].as_array().ok_or_else(|| Error::Rejected {
        message: "the subscription has no `items` list".into(),
        field: Some("items".into()),
    })?;
    let mut out = Vec::new();
    for (index, item) in list.iter().enumerate() {
        let field = |name: &str| Some(format!("items[{index}].{name}"));
        let number = |name: &str| {
            item[name].as_u64().ok_or_else(|| Error::Rejected {
                message: format!("`{name}` is not a whole number"),
                field: field(name),
            })
        };
        let currency = item["currency"]
            .as_str()
            .or_else(|| doc["currency"].as_str())
            .ok_or_else(|| Error::Rejected {
                message: "the item has no currency".into(),
                field: field("currency"),
            })?;
        out.push(Wanted {
            index,
            running_no: item["id"].as_str().and_then(|id| id.parse().ok()),
            product_id: item["product_id"]
                .as_str()
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
            quantity: number("quantity")?,
            unit_amount: number("unit_amount")?,
            currency: currency.to_ascii_lowercase(),
        });
    }
    Ok(out)
}

/// Whether the write ends the subscription: a delete, an ended status, or a stop at the end of
/// the current period (Cleverbridge stops a subscription at its next billing date and at no
/// other time).
fn is_ending(write: &Write, doc: &Value) -> bool {
    write.operation == Operation::Delete
        || matches!(
            doc["status"].as_str(),
            Some("canceled" | "incomplete_expired")
        )
        || doc["cancel_at_period_end"].as_bool() == Some(true)
}

/// Makes the write's document true (see the module docs).
pub(crate) fn apply(host: &dyn Host, write: &Write) -> Result<Outcome, Error> {
    supported(&write.object)?;
    let id = key(&write.key)?;
    let api = Api::new(host);
    let current = api.subscription(&id)?.ok_or_else(|| {
        Error::NotFound(format!(
            "Cleverbridge has no subscription {} (subscriptions are made by a checkout, not by the API)",
            id.key()
        ))
    })?;
    let writer = Writer {
        api,
        host,
        id: id.clone(),
        preview: settings::preview_only(host)?,
        mail: settings::generate_mail(host)?,
        gross: settings::gross(host)?,
    };
    let doc = if write.operation == Operation::Delete {
        json!({"status": "canceled", "items": []})
    } else {
        object(&write.document)?
    };
    let status = current["Status"].as_str().unwrap_or_default();
    let renewal = current["RenewalType"].as_str().unwrap_or_default();
    let stopped = matches!(status, "Deactivated" | "Finished") || renewal == "Manual";
    if is_ending(write, &doc) {
        // SM 2.0 cancels a whole subscription by switching it to manual renewal (fact sheet
        // §2); it ends at its next billing date.
        if !stopped {
            writer.post(
                "updatesubscriptionrenewaltype",
                json!({"SubscriptionId": id.request(), "RenewalType": "Manual"}),
                false,
            )?;
        }
        return Ok(Outcome::Applied(id.key().to_owned()));
    }
    let currency = current["CustomerCurrencyId"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let items = canonical::items(&current, Basis::of(writer.gross)).map_err(|e| e.rejected())?;
    let wanted: Vec<Wanted> = wanted(&doc)?
        .into_iter()
        .filter(|w| w.quantity > 0)
        .collect();
    let pairs = pair(&wanted, &items)?;
    for (w, _) in &pairs {
        if w.currency != currency {
            return Err(Error::Rejected {
                message: format!(
                    "the subscription bills in {}, the item in {}: Cleverbridge refuses a price in another currency",
                    currency.to_ascii_uppercase(),
                    w.currency.to_ascii_uppercase()
                ),
                field: Some(format!("items[{}].currency", w.index)),
            });
        }
    }
    // Reactivation first: items must be active again before they can change.
    let reinstate: Vec<u64> = pairs
        .iter()
        .filter(|(_, have)| have.status == "Deactivated")
        .map(|(_, have)| have.running_no)
        .collect();
    if !reinstate.is_empty() {
        writer.post(
            "reinstatesubscriptionitems",
            json!({"SubscriptionId": id.request(), "Items": reinstate, "GenerateMail": writer.mail}),
            false,
        )?;
    } else if stopped && status != "Finished" && renewal == "Manual" {
        writer.post(
            "updatesubscriptionrenewaltype",
            json!({"SubscriptionId": id.request(), "RenewalType": "Automatic"}),
            false,
        )?;
    }
    let deactivate: Vec<u64> = items
        .iter()
        .filter(|have| have.status == "Active")
        .filter(|have| pairs.iter().all(|(_, p)| p.running_no != have.running_no))
        .map(|have| have.running_no)
        .collect();
    if !deactivate.is_empty() {
        writer.post(
            "deactivatesubscriptionitems",
            json!({"SubscriptionId": id.request(), "Items": deactivate, "GenerateMail": writer.mail, "AllowReinstate": true}),
            false,
        )?;
    }
    for (w, have) in &pairs {
        writer.change_item(w, have, &currency)?;
    }
    Ok(Outcome::Applied(id.key().to_owned()))
}

/// Matches each wanted item to a live one: by running number (`id`), else by product.
fn pair<'a>(wanted: &'a [Wanted], items: &'a [Item]) -> Result<Vec<(&'a Wanted, &'a Item)>, Error> {
    let live = |i: &&Item| matches!(i.status.as_str(), "Active" | "Deactivated");
    let mut pairs: Vec<(&Wanted, &Item)> = Vec::new();
    for w in wanted {
        let taken = |i: &&Item| pairs.iter().any(|(_, p)| p.running_no == i.running_no);
        let found = w
            .running_no
            .and_then(|no| items.iter().filter(live).find(|i| i.running_no == no))
            .or_else(|| {
                let product = w.product_id.as_deref()?;
                items
                    .iter()
                    .filter(live)
                    .filter(|i| !taken(i))
                    .find(|i| i.product_id == product)
            });
        let Some(have) = found else {
            return Err(Error::Rejected {
                message: format!(
                    "the subscription has no item {} (product {}): Cleverbridge adds items only with an order, which Junction does not place",
                    w.running_no.map_or("?".into(), |n| n.to_string()),
                    w.product_id.as_deref().unwrap_or("?")
                ),
                field: Some(format!("items[{}]", w.index)),
            });
        };
        pairs.push((w, have));
    }
    Ok(pairs)
}

/// Sends the writes of one pipeline's instance.
struct Writer<'h> {
    api: Api<'h>,
    host: &'h dyn Host,
    id: SubscriptionId,
    preview: bool,
    mail: bool,
    gross: bool,
}

impl Writer<'_> {
    /// Posts `operation`; in preview mode an operation without a preview is only logged.
    fn post(&self, operation: &str, body: Value, previewable: bool) -> Result<Value, Error> {
        if self.preview && !previewable {
            self.host.log(
                Level::Info,
                &format!(
                    "preview-only: would send {operation} for subscription {}",
                    self.id.key()
                ),
            );
            return Ok(Value::Null);
        }
        let answer = self.api.post(operation, &body)?;
        if self.preview {
            self.host.log(
                Level::Info,
                &format!(
                    "preview-only: {operation} for subscription {} would bill {} {} at the next billing date",
                    self.id.key(),
                    answer["NextBillingCustomerGrossPrice"],
                    answer["PriceCurrencyId"].as_str().unwrap_or_default()
                ),
            );
        }
        Ok(answer)
    }

    /// Changes one item where it differs: its product or quantity with
    /// `updatesubscriptionitem`, its price alone with `updatesubscriptionitemprice`. Both take
    /// effect at the next billing date (`AlignToCurrentInterval: false`: no prorated charge).
    fn change_item(&self, w: &Wanted, have: &Item, currency: &str) -> Result<(), Error> {
        let product_changed = w
            .product_id
            .as_deref()
            .is_some_and(|p| p != have.product_id);
        let quantity_changed = w.quantity != have.quantity;
        let price_changed = w.unit_amount != have.unit_amount;
        let alignment = json!({
            "AlignToCurrentInterval": false,
            "ExtendInterval": false,
            "GetCustomerPricePreviewOnly": self.preview,
        });
        let price = json!({
            "Currency": currency.to_ascii_uppercase(),
            "IsGross": self.gross,
            "Value": money::to_decimal(w.unit_amount, currency),
        });
        if product_changed || quantity_changed {
            let (new_total, old_total) = (
                u128::from(w.unit_amount) * u128::from(w.quantity),
                u128::from(have.unit_amount) * u128::from(have.quantity),
            );
            let action = match new_total.cmp(&old_total) {
                std::cmp::Ordering::Greater => "Upgrade",
                std::cmp::Ordering::Less => "Downgrade",
                std::cmp::Ordering::Equal => "Update",
            };
            let product = w.product_id.as_deref().unwrap_or(&have.product_id);
            let mut body = json!({
                "SubscriptionId": self.id.request(),
                "RunningNumber": have.running_no,
                "ProductId": product.parse::<u64>().map_or_else(|_| json!(product), |n| json!(n)),
                "Quantity": w.quantity,
                "UpdateAction": action,
                "AlignmentSettings": alignment,
                "GenerateMail": self.mail,
            });
            if price_changed {
                body["CustomerPrice"] = price;
            }
            self.post("updatesubscriptionitem", body, true)?;
        } else if price_changed {
            // `Quantity` is the total after the update and defaults to 1 (fact sheet §2):
            // always the current quantity, or the price change resets the seats.
            let body = json!({
                "SubscriptionId": self.id.request(),
                "RunningNumber": have.running_no,
                "CustomerPrice": price,
                "Quantity": have.quantity,
                "AlignmentSettings": alignment,
                "GenerateMail": self.mail,
            });
            self.post("updatesubscriptionitemprice", body, true)?;
        }
        Ok(())
    }
}

fn supported(object: &str) -> Result<(), Error> {
    if object == "subscription" {
        Ok(())
    } else {
        Err(Error::Unsupported(format!(
            "Cleverbridge does not read or write `{object}`; use subscription"
        )))
    }
}

fn key(key: &str) -> Result<SubscriptionId, Error> {
    SubscriptionId::parse(key).ok_or_else(|| Error::Rejected {
        message: format!(
            "`{key}` is not a Cleverbridge subscription id (digits, optionally after `S`)"
        ),
        field: Some("id".into()),
    })
}

/// Reads one subscription; `None` when Cleverbridge has none.
pub(crate) fn fetch(host: &dyn Host, object: &str, key_: &str) -> Result<Option<String>, Error> {
    supported(object)?;
    let Some(id) = SubscriptionId::parse(key_) else {
        return Ok(None);
    };
    let basis = Basis::of(settings::gross(host)?);
    let Some(found) = Api::new(host).subscription(&id)? else {
        return Ok(None);
    };
    let doc = canonical::subscription(&found, basis).map_err(|e| e.rejected())?;
    Ok(Some(doc.to_string()))
}

/// What `fetch` shows once `write` took effect. Cleverbridge keeps its own billing dates (a
/// change aligned to the next billing date does not move it), renews no more once cancelled,
/// and prices items by unit on the pipeline's basis: `unit_amount` is what
/// `NextBillingCustomer{Gross,Net}Price` divided by the quantity confirms.
pub(crate) fn expected(write: &Write) -> Result<String, Error> {
    supported(&write.object)?;
    let doc = if write.operation == Operation::Delete {
        json!({"id": write.key, "status": "canceled", "items": []})
    } else {
        object(&write.document)?
    };
    let ending = is_ending(write, &doc);
    let mut items: Vec<Value> = doc["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["quantity"].as_u64() != Some(0))
        .map(|i| {
            let product = i["product_id"].as_str();
            let id = i["id"]
                .as_str()
                .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
            json!({
                "id": id,
                "price_id": product,
                "product_id": product,
                "quantity": i["quantity"],
                "unit_amount": i["unit_amount"],
                "currency": i["currency"].as_str().or(doc["currency"].as_str()).map(str::to_ascii_lowercase),
                "interval": i["interval"],
                "interval_count": i["interval_count"],
            })
        })
        .collect();
    items.sort_by_key(|i| {
        i["id"]
            .as_str()
            .and_then(|id| id.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    });
    let period_end = doc["next_billing_at"]
        .as_str()
        .or(doc["current_period_end"].as_str())
        .map(str::to_owned);
    let (status, next_billing, stop) = if ending {
        let stop = doc["billing_stop_at"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| doc["current_period_end"].as_str().map(str::to_owned))
            .or(period_end.clone());
        ("canceled".to_owned(), None, stop)
    } else {
        let status = match doc["status"].as_str() {
            // Cleverbridge has no trial or pause of its own: such a subscription is Active.
            Some("trialing" | "paused") | None => "active",
            Some(s) => s,
        };
        (status.to_owned(), period_end.clone(), None)
    };
    Ok(json!({
        "id": doc["id"].as_str().unwrap_or(&write.key),
        "customer_id": doc["customer_id"],
        "status": status,
        "currency": doc["currency"].as_str().map(str::to_ascii_lowercase),
        "interval": doc["interval"],
        "items": items,
        "current_period_start": null,
        "current_period_end": if ending { stop.clone() } else { period_end },
        "next_billing_at": next_billing,
        "cancel_at_period_end": ending,
        "cancel_at": stop,
        "canceled_at": null,
        "billing_stop_at": stop,
        "started_at": doc["started_at"],
        "metadata": kept_metadata(&doc, ending),
    })
    .to_string())
}

/// The metadata a read-back shows: only Cleverbridge's own facts (`canonical::subscription`),
/// which a write does not change, so those the document carries read back as they are (a
/// document read from Cleverbridge round-trips); a write that ends the subscription changes
/// its raw status and renewal type, so those are not predicted then. Any other system's
/// metadata is not kept.
fn kept_metadata(doc: &Value, ending: bool) -> Value {
    let mut kept = serde_json::Map::new();
    for key in [
        "cleverbridge_status",
        "renewal_type",
        "customer_reference_id",
    ] {
        if ending && key != "customer_reference_id" {
            continue;
        }
        if let Some(value) = doc["metadata"].get(key).filter(|v| v.is_string()) {
            kept.insert(key.to_owned(), value.clone());
        }
    }
    Value::Object(kept)
}
