//! Subscriptions: how they are created, changed, renewed and canceled (each step emitting the
//! event Stripe would), and how they render per API version.

use serde_json::{Map, Value, json};

use super::calendar;
use super::error::ApiError;
use super::form::Params;
use super::store::{Origin, Store, previous_attributes};

/// A subscription as stored; rendered per API version by `Store::render_sub`.
#[derive(Debug, Clone)]
pub struct Sub {
    id: String,
    customer: String,
    status: &'static str,
    items: Vec<Item>,
    cancel_at_period_end: bool,
    cancel_at: Option<i64>,
    canceled_at: Option<i64>,
    ended_at: Option<i64>,
    cancel_reason: Option<&'static str>,
    created: i64,
    anchor: i64,
    period: i64,
    period_start: i64,
    period_end: i64,
    metadata: Map<String, Value>,
}

impl Sub {
    /// Creation time.
    pub fn created(&self) -> i64 {
        self.created
    }
}

#[derive(Debug, Clone)]
struct Item {
    id: String,
    price: String,
    quantity: u64,
    created: i64,
}

/// One requested item change (`items[i][...]`): with `id` it edits or deletes that item,
/// without it adds a new item.
#[derive(Debug, Clone, Default)]
pub struct ItemChange {
    /// `si_...` of an existing item.
    pub id: Option<String>,
    /// New price.
    pub price: Option<String>,
    /// New quantity.
    pub quantity: Option<u64>,
    /// Remove the item.
    pub deleted: bool,
}

/// A requested subscription change (`POST /v1/subscriptions/{id}`).
#[derive(Debug, Clone, Default)]
pub struct SubChange {
    /// Item changes, in request order.
    pub items: Vec<ItemChange>,
    /// `cancel_at_period_end`.
    pub cancel_at_period_end: Option<bool>,
    /// `cancel_at`: `Some(None)` unsets it.
    pub cancel_at: Option<Option<i64>>,
    /// Params holding `metadata` (already validated).
    pub metadata: Option<Params>,
}

/// Whether `version` puts `current_period_*` on items (basil, 2025-03-31, and later).
pub fn periods_on_items(version: &str) -> bool {
    version.get(..10).unwrap_or(version) >= "2025-03-31"
}

impl Store {
    /// A stored subscription.
    pub fn sub(&self, id: &str) -> Result<&Sub, ApiError> {
        self.subs
            .get(id)
            .ok_or_else(|| ApiError::no_such("subscription", id, "id"))
    }

    /// `(currency, interval, interval_count)` shared by these prices, or Stripe's error.
    fn check_prices(&self, prices: &[(String, String)]) -> Result<(String, String, i64), ApiError> {
        let mut common: Option<(String, String, i64)> = None;
        for (price_id, param) in prices {
            let price = self
                .prices
                .get(price_id)
                .ok_or_else(|| ApiError::no_such_param("price", price_id, param))?;
            let Some(interval) = price["recurring"]["interval"].as_str() else {
                return Err(ApiError::invalid(
                    "The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`.",
                    param,
                ));
            };
            let this = (
                price["currency"].as_str().unwrap_or_default().to_owned(),
                interval.to_owned(),
                price["recurring"]["interval_count"].as_i64().unwrap_or(1),
            );
            if let Some(c) = &common {
                let field = if c.0 != this.0 {
                    "currency"
                } else if (&c.1, c.2) != (&this.1, this.2) {
                    "interval"
                } else {
                    continue;
                };
                return Err(ApiError::invalid(
                    format!(
                        "Currency and interval fields must match across all plans on this subscription. Found mismatch in {field} field."
                    ),
                    param,
                ));
            }
            common = Some(this);
        }
        common.ok_or_else(|| ApiError::missing_param("items"))
    }

    /// Creates an active subscription; emits `customer.subscription.created`.
    pub fn create_subscription(
        &mut self,
        customer: &str,
        items: &[(String, u64)],
        change: &SubChange,
        origin: &Origin,
        now: i64,
    ) -> Result<String, ApiError> {
        if !self.customers.contains_key(customer) {
            return Err(ApiError::no_such_param("customer", customer, "customer"));
        }
        let priced: Vec<_> = items
            .iter()
            .enumerate()
            .map(|(i, (p, _))| (p.clone(), format!("items[{i}][price]")))
            .collect();
        let (_, interval, count) = self.check_prices(&priced)?;
        check_cancel_params(change)?;
        let id = self.id("sub");
        let mut new_items = Vec::new();
        for (price, quantity) in items {
            new_items.push(Item {
                id: self.id("si"),
                price: price.clone(),
                quantity: *quantity,
                created: now,
            });
        }
        let mut sub = Sub {
            id: id.clone(),
            customer: customer.to_owned(),
            status: "active",
            items: new_items,
            cancel_at_period_end: false,
            cancel_at: None,
            canceled_at: None,
            ended_at: None,
            cancel_reason: None,
            created: now,
            anchor: now,
            period: 0,
            period_start: now,
            period_end: calendar::period_end(now, &interval, count, 0),
            metadata: Map::new(),
        };
        apply_cancel(&mut sub, change, now);
        if let Some(p) = &change.metadata {
            p.merge_metadata(&mut sub.metadata)?;
        }
        let object = self.render_sub(&sub, &self.api_version);
        self.subs.insert(id.clone(), sub);
        self.sub_ids.push(id.clone());
        self.count(&id);
        self.emit("customer.subscription.created", object, None, origin, now);
        Ok(id)
    }

    /// Applies an update; emits `customer.subscription.updated` with `previous_attributes`.
    pub fn update_subscription(
        &mut self,
        id: &str,
        change: &SubChange,
        origin: &Origin,
        now: i64,
    ) -> Result<(), ApiError> {
        let mut sub = self.sub(id)?.clone();
        let first_price = sub
            .items
            .first()
            .map(|it| it.price.clone())
            .unwrap_or_default();
        let before = self.check_prices(&[(first_price, "items".to_owned())])?;
        let touches_billing = !change.items.is_empty()
            || change.cancel_at_period_end.is_some()
            || change.cancel_at.is_some();
        if sub.status == "canceled" && touches_billing {
            return Err(ApiError::bad_request(
                "A canceled subscription can only update its cancellation_details and metadata.",
            ));
        }
        check_cancel_params(change)?;
        for (i, c) in change.items.iter().enumerate() {
            match &c.id {
                Some(item_id) => {
                    let pos = sub.items.iter().position(|it| &it.id == item_id).ok_or_else(|| {
                        ApiError::invalid(format!("Invalid subscription_item: {item_id} is not part of this subscription"), &format!("items[{i}][id]"))
                    })?;
                    if c.deleted {
                        sub.items.remove(pos);
                        continue;
                    }
                    let item = &mut sub.items[pos];
                    item.price = c.price.clone().unwrap_or_else(|| item.price.clone());
                    item.quantity = c.quantity.unwrap_or(item.quantity);
                }
                None => {
                    let price = c
                        .price
                        .clone()
                        .ok_or_else(|| ApiError::missing_param(&format!("items[{i}][price]")))?;
                    let item_id = self.id("si");
                    sub.items.push(Item {
                        id: item_id,
                        price,
                        quantity: c.quantity.unwrap_or(1),
                        created: now,
                    });
                }
            }
        }
        let priced: Vec<_> = sub
            .items
            .iter()
            .map(|it| (it.price.clone(), "items".to_owned()))
            .collect();
        let (_, interval, count) = self.check_prices(&priced)?;
        // Changing the billing interval restarts the cycle now, as Stripe does.
        if (before.1.as_str(), before.2) != (interval.as_str(), count) {
            (sub.anchor, sub.period, sub.period_start) = (now, 0, now);
            sub.period_end = calendar::period_end(now, &interval, count, 0);
            if sub.cancel_at_period_end {
                sub.cancel_at = Some(sub.period_end);
            }
        }
        apply_cancel(&mut sub, change, now);
        if let Some(p) = &change.metadata {
            p.merge_metadata(&mut sub.metadata)?;
        }
        self.count(id);
        self.replace_sub(sub, origin, now);
        Ok(())
    }

    fn replace_sub(&mut self, sub: Sub, origin: &Origin, now: i64) {
        let old = self
            .subs
            .get(&sub.id)
            .map(|s| self.render_sub(s, &self.api_version))
            .unwrap_or(Value::Null);
        let new = self.render_sub(&sub, &self.api_version);
        self.subs.insert(sub.id.clone(), sub);
        let prev = previous_attributes(&old, &new);
        if !prev.is_empty() {
            self.emit(
                "customer.subscription.updated",
                new,
                Some(prev),
                origin,
                now,
            );
        }
    }

    /// Cancels now (`DELETE`); emits `customer.subscription.deleted`.
    pub fn cancel_subscription(
        &mut self,
        id: &str,
        origin: &Origin,
        now: i64,
    ) -> Result<(), ApiError> {
        let sub = self.sub(id)?;
        if sub.status == "canceled" {
            return Err(ApiError::bad_request(format!(
                "This subscription has already been canceled: {id}"
            )));
        }
        self.count(id);
        self.end_sub(id, now, now, origin);
        Ok(())
    }

    fn end_sub(&mut self, id: &str, at: i64, now: i64, origin: &Origin) {
        let Some(sub) = self.subs.get_mut(id) else {
            return;
        };
        sub.status = "canceled";
        sub.ended_at = Some(at);
        sub.canceled_at = Some(sub.canceled_at.unwrap_or(at));
        sub.cancel_reason = Some("cancellation_requested");
        let object = self.render_sub(&self.subs[id], &self.api_version);
        self.emit("customer.subscription.deleted", object, None, origin, now);
    }

    /// Renews periods that ended and ends subscriptions whose `cancel_at` passed, as Stripe's
    /// billing engine does on its own (events with `request.id = null`).
    pub fn tick(&mut self, now: i64) {
        let auto = Origin::default();
        for id in self.sub_ids.clone() {
            // A cap keeps a clock jump of years on a daily plan bounded.
            for _ in 0..1000 {
                let Some(sub) = self.subs.get(&id).filter(|s| s.status != "canceled") else {
                    break;
                };
                if let Some(at) = sub
                    .cancel_at
                    .filter(|&at| at <= now && at <= sub.period_end)
                {
                    self.end_sub(&id, at, now, &auto);
                    break;
                }
                if sub.period_end > now {
                    break;
                }
                let mut sub = sub.clone();
                let price = &self.prices[&sub.items[0].price]["recurring"];
                let (interval, count) = (
                    price["interval"].as_str().unwrap_or("month").to_owned(),
                    price["interval_count"].as_i64().unwrap_or(1),
                );
                sub.period += 1;
                sub.period_start = sub.period_end;
                sub.period_end = calendar::period_end(sub.anchor, &interval, count, sub.period);
                self.replace_sub(sub, &auto, now);
            }
        }
    }

    /// The subscription as the API shows it in `version`.
    pub fn render_sub(&self, sub: &Sub, version: &str) -> Value {
        let on_items = periods_on_items(version);
        let items: Vec<Value> = sub
            .items
            .iter()
            .map(|it| {
                let price = self.prices.get(&it.price).cloned().unwrap_or(Value::Null);
                let mut item = json!({
                    "id": it.id, "object": "subscription_item", "billing_thresholds": null, "created": it.created,
                    "discounts": [], "metadata": {}, "plan": plan_of(&price), "price": price, "quantity": it.quantity,
                    "subscription": sub.id, "tax_rates": [],
                });
                if on_items {
                    item["current_period_start"] = json!(sub.period_start);
                    item["current_period_end"] = json!(sub.period_end);
                }
                item
            })
            .collect();
        let currency = sub
            .items
            .first()
            .and_then(|it| self.prices.get(&it.price))
            .map(|p| p["currency"].clone());
        let mut object = json!({
            "id": sub.id, "object": "subscription", "application": null, "application_fee_percent": null,
            "automatic_tax": { "disabled_reason": null, "enabled": false, "liability": null },
            "billing_cycle_anchor": sub.anchor, "billing_cycle_anchor_config": null, "billing_mode": { "type": "classic" },
            "billing_thresholds": null, "cancel_at": sub.cancel_at, "cancel_at_period_end": sub.cancel_at_period_end,
            "canceled_at": sub.canceled_at, "cancellation_details": { "comment": null, "feedback": null, "reason": sub.cancel_reason },
            "collection_method": "charge_automatically", "created": sub.created, "currency": currency, "customer": sub.customer,
            "days_until_due": null, "default_payment_method": null, "default_source": null, "default_tax_rates": [],
            "description": null, "discounts": [], "ended_at": sub.ended_at,
            "items": { "object": "list", "data": items, "has_more": false, "url": format!("/v1/subscription_items?subscription={}", sub.id) },
            "latest_invoice": null, "livemode": false, "metadata": sub.metadata, "next_pending_invoice_item_invoice": null,
            "on_behalf_of": null, "pause_collection": null, "pending_setup_intent": null, "pending_update": null,
            "schedule": null, "start_date": sub.created, "status": sub.status, "test_clock": null, "transfer_data": null,
            "trial_end": null, "trial_start": null,
        });
        if !on_items {
            object["current_period_start"] = json!(sub.period_start);
            object["current_period_end"] = json!(sub.period_end);
        }
        object
    }

    /// Whether a stored subscription matches a list filter.
    pub fn sub_matches(
        &self,
        id: &str,
        customer: Option<&str>,
        status: &str,
        price: Option<&str>,
    ) -> bool {
        let Some(sub) = self.subs.get(id) else {
            return false;
        };
        let status_ok = match status {
            "all" => true,
            "ended" => matches!(sub.status, "canceled" | "incomplete_expired"),
            "" => sub.status != "canceled",
            s => sub.status == s,
        };
        status_ok
            && customer.is_none_or(|c| sub.customer == c)
            && price.is_none_or(|p| sub.items.iter().any(|it| it.price == p))
    }

    /// Ids of `Sub`'s items, in order (for the scenario API).
    pub fn item_ids(&self, id: &str) -> Result<Vec<String>, ApiError> {
        Ok(self.sub(id)?.items.iter().map(|it| it.id.clone()).collect())
    }
}

fn check_cancel_params(change: &SubChange) -> Result<(), ApiError> {
    if change.cancel_at_period_end == Some(true) && matches!(change.cancel_at, Some(Some(_))) {
        return Err(ApiError::bad_request(
            "You may only specify one of these parameters: cancel_at, cancel_at_period_end.",
        ));
    }
    Ok(())
}

/// `cancel_at_period_end` / `cancel_at`: scheduling sets `canceled_at` to the request time
/// (Stripe's documented meaning), unscheduling clears all three.
fn apply_cancel(sub: &mut Sub, change: &SubChange, now: i64) {
    let schedule = |sub: &mut Sub, at_end: bool, at: Option<i64>| {
        sub.cancel_at_period_end = at_end;
        sub.cancel_at = at;
        sub.canceled_at = at.map(|_| now);
        sub.cancel_reason = at.map(|_| "cancellation_requested");
    };
    match (change.cancel_at_period_end, change.cancel_at) {
        (Some(true), _) => schedule(sub, true, Some(sub.period_end)),
        (_, Some(at)) => schedule(sub, false, at),
        (Some(false), None) => schedule(sub, false, None),
        (None, None) => {}
    }
}

/// The legacy `plan` view of a recurring price.
fn plan_of(price: &Value) -> Value {
    json!({
        "id": price["id"], "object": "plan", "active": price["active"], "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"], "billing_scheme": "per_unit", "created": price["created"],
        "currency": price["currency"], "interval": price["recurring"]["interval"],
        "interval_count": price["recurring"]["interval_count"], "livemode": false, "metadata": price["metadata"],
        "meter": null, "nickname": price["nickname"], "product": price["product"], "tiers_mode": null,
        "transform_usage": null, "trial_period_days": null, "usage_type": "licensed",
    })
}
