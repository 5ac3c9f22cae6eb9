//! The simulator's account state: customers, prices, subscriptions and events, with the customer
//! and price actions (each emitting the event Stripe would). Subscriptions live in
//! `subscriptions.rs`.

use std::collections::{BTreeMap, HashMap};

use rand::distr::{Alphanumeric, SampleString};
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc::UnboundedSender;

use super::error::ApiError;
use super::form::Params;
use super::subscriptions::Sub;

/// Counters tests use to assert what happened, e.g. that no business action ran twice.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StripeStats {
    /// Requests to `/v1`.
    pub requests: u64,
    /// Requests answered by an injected fault (5xx, hang, 429, outage) before being handled.
    pub faults_injected: u64,
    /// Responses replayed from the idempotency store.
    pub idempotent_replays: u64,
    /// Executed writes (API or scenario actions) per object id. Renewals are not counted.
    pub mutations: BTreeMap<String, u64>,
    /// Events created.
    pub events: u64,
    /// Webhook POSTs sent, including retries and duplicates.
    pub webhook_attempts: u64,
    /// Events whose delivery got a 2xx.
    pub webhooks_delivered: u64,
    /// Events given up after the last retry.
    pub webhooks_abandoned: u64,
}

/// Who caused a change: the `request` block of the event (both `None` for automatic changes).
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// `req_...` of the API request.
    pub request_id: Option<String>,
    /// The request's Idempotency-Key.
    pub idempotency_key: Option<String>,
}

/// A price to create.
#[derive(Debug, Clone)]
pub struct PriceSpec {
    /// ISO currency, lowercase.
    pub currency: String,
    /// Minor units.
    pub unit_amount: i64,
    /// `(interval, interval_count)`; `None` is a one-time price.
    pub recurring: Option<(String, i64)>,
    /// `prod_...`; `None` creates one (as `product_data` does).
    pub product: Option<String>,
    /// Optional nickname.
    pub nickname: Option<String>,
    /// Params holding `metadata`.
    pub metadata: Option<Params>,
}

/// Old values of the top-level keys that differ (whole `items` if any item changed).
pub(super) fn previous_attributes(old: &Value, new: &Value) -> Map<String, Value> {
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else {
        return Map::new();
    };
    let mut prev: Map<String, Value> = old
        .iter()
        .filter(|(k, v)| new.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for k in new.keys().filter(|k| !old.contains_key(*k)) {
        prev.insert(k.clone(), Value::Null);
    }
    prev
}

/// All objects and events of one simulated Stripe account.
pub struct Store {
    rng: StdRng,
    /// The account's default API version; events are rendered in it.
    pub api_version: String,
    endpoints: u64,
    webhook_tx: Option<UnboundedSender<String>>,
    /// While `Some`, new events wait here instead of going to the delivery queue.
    held: Option<Vec<String>>,
    pub(super) customers: HashMap<String, Value>,
    pub(super) customer_ids: Vec<String>,
    /// Where each customer is in `customer_ids`, for list cursors.
    pub(super) customer_pos: HashMap<String, usize>,
    pub(super) prices: HashMap<String, Value>,
    pub(super) subs: HashMap<String, Sub>,
    pub(super) sub_ids: Vec<String>,
    pub(super) events: Vec<Value>,
    event_pos: HashMap<String, usize>,
    /// Counters.
    pub stats: StripeStats,
}

impl Store {
    /// An empty account. With `webhook_tx`, every event is queued for delivery.
    pub fn new(
        rng: StdRng,
        api_version: String,
        webhook_tx: Option<UnboundedSender<String>>,
    ) -> Self {
        Self {
            rng,
            api_version,
            endpoints: u64::from(webhook_tx.is_some()),
            webhook_tx,
            held: None,
            customers: HashMap::new(),
            customer_ids: Vec::new(),
            customer_pos: HashMap::new(),
            prices: HashMap::new(),
            subs: HashMap::new(),
            sub_ids: Vec::new(),
            events: Vec::new(),
            event_pos: HashMap::new(),
            stats: StripeStats::default(),
        }
    }

    /// A fresh id like Stripe's: `prefix_` and 24 alphanumerics.
    pub fn id(&mut self, prefix: &str) -> String {
        format!("{prefix}_{}", Alphanumeric.sample_string(&mut self.rng, 24))
    }

    /// The seeded RNG (webhook shuffling uses it).
    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    pub(super) fn emit(
        &mut self,
        kind: &str,
        object: Value,
        previous: Option<Map<String, Value>>,
        origin: &Origin,
        now: i64,
    ) {
        let id = self.id("evt");
        let mut data = json!({ "object": object });
        if let Some(previous) = previous {
            data["previous_attributes"] = Value::Object(previous);
        }
        let event = json!({
            "id": id, "object": "event", "api_version": self.api_version, "created": now, "data": data,
            "livemode": false, "pending_webhooks": self.endpoints, "type": kind,
            "request": { "id": origin.request_id, "idempotency_key": origin.idempotency_key },
        });
        self.event_pos.insert(id.clone(), self.events.len());
        self.events.push(event);
        self.stats.events += 1;
        if let Some(held) = &mut self.held {
            held.push(id);
        } else if let Some(tx) = &self.webhook_tx {
            // Sent under the store lock, so the queue holds events in creation order.
            let _ = tx.send(id);
        }
    }

    /// Keeps new events from delivery until [`Store::release`]; events already queued still go.
    pub fn hold(&mut self) {
        self.held.get_or_insert_with(Vec::new);
    }

    /// Ends a hold: queues the held events for delivery, newest first when `reversed`, and
    /// returns their ids in that order. Done under the store lock, so no event created
    /// meanwhile can slip in between them.
    pub fn release(&mut self, reversed: bool) -> Vec<String> {
        let mut ids = self.held.take().unwrap_or_default();
        if reversed {
            ids.reverse();
        }
        if let Some(tx) = &self.webhook_tx {
            for id in &ids {
                let _ = tx.send(id.clone());
            }
        }
        ids
    }

    pub(super) fn count(&mut self, id: &str) {
        *self.stats.mutations.entry(id.to_owned()).or_default() += 1;
    }

    /// An event by id.
    pub fn event(&self, id: &str) -> Option<&Value> {
        self.event_pos.get(id).map(|&i| &self.events[i])
    }

    /// Records one successful webhook delivery of an event.
    pub fn delivered(&mut self, id: &str) {
        if let Some(&i) = self.event_pos.get(id)
            && let Some(n) = self.events[i]["pending_webhooks"].as_u64()
        {
            self.events[i]["pending_webhooks"] = json!(n.saturating_sub(1));
        }
        self.stats.webhooks_delivered += 1;
    }

    // --- customers ---

    /// A customer by id.
    pub fn customer(&self, id: &str) -> Result<&Value, ApiError> {
        self.customers
            .get(id)
            .ok_or_else(|| ApiError::no_such("customer", id, "id"))
    }

    /// Creates a customer from top-level fields (`email`, `name`, ...; null = unset).
    pub fn create_customer(
        &mut self,
        fields: Map<String, Value>,
        metadata: Option<&Params>,
        origin: &Origin,
        now: i64,
    ) -> Value {
        let id = self.id("cus");
        let prefix = id[4..11].to_uppercase();
        let mut customer = json!({
            "id": id, "object": "customer", "address": null, "balance": 0, "created": now, "currency": null,
            "default_source": null, "delinquent": false, "description": null, "discount": null, "email": null,
            "invoice_prefix": prefix, "livemode": false, "metadata": {}, "name": null, "next_invoice_sequence": 1,
            "invoice_settings": { "custom_fields": null, "default_payment_method": null, "footer": null, "rendering_options": null },
            "phone": null, "preferred_locales": [], "shipping": null, "tax_exempt": "none", "test_clock": null,
        });
        apply_fields(&mut customer, fields, metadata);
        self.customers.insert(id.clone(), customer.clone());
        self.customer_pos
            .insert(id.clone(), self.customer_ids.len());
        self.customer_ids.push(id.clone());
        self.count(&id);
        self.emit("customer.created", customer.clone(), None, origin, now);
        customer
    }

    /// Adds a customer as an import would: no event, no request (benchmarks seed millions).
    pub fn seed_customer(&mut self, email: &str, name: &str, now: i64) -> String {
        let id = self.id("cus");
        let customer = json!({
            "id": id, "object": "customer", "address": null, "balance": 0, "created": now,
            "currency": null, "email": email, "livemode": false, "metadata": {}, "name": name,
            "phone": null,
        });
        self.customers.insert(id.clone(), customer);
        self.customer_pos
            .insert(id.clone(), self.customer_ids.len());
        self.customer_ids.push(id.clone());
        id
    }

    /// Updates a customer; emits `customer.updated` when something changed.
    pub fn update_customer(
        &mut self,
        id: &str,
        fields: Map<String, Value>,
        metadata: Option<&Params>,
        origin: &Origin,
        now: i64,
    ) -> Result<Value, ApiError> {
        let old = self.customer(id)?.clone();
        let mut new = old.clone();
        apply_fields(&mut new, fields, metadata);
        self.customers.insert(id.to_owned(), new.clone());
        self.count(id);
        let prev = previous_attributes(&old, &new);
        if !prev.is_empty() {
            self.emit("customer.updated", new.clone(), Some(prev), origin, now);
        }
        Ok(new)
    }

    // --- prices ---

    /// A price by id.
    pub fn price(&self, id: &str) -> Result<&Value, ApiError> {
        self.prices
            .get(id)
            .ok_or_else(|| ApiError::no_such("price", id, "id"))
    }

    /// Creates a price; emits `price.created`.
    pub fn create_price(&mut self, spec: PriceSpec, origin: &Origin, now: i64) -> Value {
        let id = self.id("price");
        let product = spec.product.unwrap_or_else(|| self.id("prod"));
        let recurring = spec.recurring.map(|(interval, count)| {
            json!({ "interval": interval, "interval_count": count, "meter": null, "trial_period_days": null, "usage_type": "licensed" })
        });
        let mut price = json!({
            "id": id, "object": "price", "active": true, "billing_scheme": "per_unit", "created": now,
            "currency": spec.currency, "custom_unit_amount": null, "livemode": false, "lookup_key": null,
            "metadata": {}, "nickname": spec.nickname, "product": product,
            "type": if recurring.is_some() { "recurring" } else { "one_time" }, "recurring": recurring,
            "tax_behavior": "unspecified", "tiers_mode": null, "transform_quantity": null,
            "unit_amount": spec.unit_amount, "unit_amount_decimal": spec.unit_amount.to_string(),
        });
        apply_fields(&mut price, Map::new(), spec.metadata.as_ref());
        self.prices.insert(id.clone(), price.clone());
        self.count(&id);
        self.emit("price.created", price.clone(), None, origin, now);
        price
    }
}

fn apply_fields(object: &mut Value, fields: Map<String, Value>, metadata: Option<&Params>) {
    for (k, v) in fields {
        object[k] = v;
    }
    if let (Some(p), Some(Value::Object(current))) = (metadata, object.get_mut("metadata")) {
        // Shape was validated by the handler; a failure here leaves metadata as it was.
        let mut merged = current.clone();
        if p.merge_metadata(&mut merged).is_ok() {
            *current = merged;
        }
    }
}
