//! The Value-based decoding the typed one (`wire.rs`) replaced, kept verbatim as the
//! reference `typed.rs` compares it with: same changes, same errors, on any input.

#![expect(
    dead_code,
    reason = "kept whole, as it was; not every helper is compared"
)]

pub(crate) mod events {

    use junction_connector_kit::{Change, Operation};
    use serde_json::Value;

    use super::canonical;
    use crate::errors::MapError;

    const SUBSCRIPTION_EVENTS: &[&str] = &[
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        "customer.subscription.pending_update_applied",
        "customer.subscription.pending_update_expired",
        "customer.subscription.trial_will_end",
    ];
    const CUSTOMER_EVENTS: &[&str] = &["customer.created", "customer.updated", "customer.deleted"];
    const INVOICE_EVENTS: &[&str] = &[
        "invoice.created",
        "invoice.deleted",
        "invoice.finalization_failed",
        "invoice.finalized",
        "invoice.marked_uncollectible",
        "invoice.overdue",
        "invoice.overpaid",
        "invoice.paid",
        "invoice.payment_action_required",
        "invoice.payment_failed",
        "invoice.payment_succeeded",
        "invoice.sent",
        "invoice.updated",
        "invoice.voided",
        "invoice.will_be_due",
    ];

    /// The event types `poll` asks for, per canonical object (Stripe takes at most 20 `types[]`).
    pub(crate) fn types_for(object: &str) -> Option<&'static [&'static str]> {
        match object {
            "subscription" => Some(SUBSCRIPTION_EVENTS),
            "customer" => Some(CUSTOMER_EVENTS),
            "invoice" => Some(INVOICE_EVENTS),
            _ => None,
        }
    }

    /// The canonical object an event type is about, if Junction maps it. `invoice.upcoming` is
    /// left out: it previews an invoice that has no id yet.
    fn object_of(event_type: &str) -> Option<&'static str> {
        if event_type.starts_with("customer.subscription.") {
            Some("subscription")
        } else if CUSTOMER_EVENTS.contains(&event_type) {
            Some("customer")
        } else if event_type.starts_with("invoice.") && event_type != "invoice.upcoming" {
            Some("invoice")
        } else {
            None
        }
    }

    /// Decodes one event; `None` for a type Junction does not map (a missing `type` included).
    ///
    /// - `operation` follows the type's suffix: `.created` create, `.deleted` delete, else update.
    ///   A `customer.subscription.deleted` is a delete whose `after` holds the final, canceled
    ///   subscription (it still exists at Stripe, and sinks need its end dates to close it).
    /// - `before` is `data.object` with `data.previous_attributes` laid over it (updates only).
    /// - `source_version` is the event's `created` second: Stripe has no per-object version, and
    ///   event time is what orders changes of one object. Two changes in one second tie, and the
    ///   runtime then applies them in arrival order, which Stripe does not keep: for subscriptions
    ///   and customers the source side therefore replaces `after` with the object's current state
    ///   ([`with_current_state`]), so whichever change of a tie is applied last carries the newest
    ///   state.
    pub(crate) fn decode(event: &Value) -> Result<Option<Change>, MapError> {
        let Some(object) = event["type"].as_str().and_then(object_of) else {
            return Ok(None);
        };
        let event_type = event["type"].as_str().unwrap_or_default();
        let id = event["id"]
            .as_str()
            .ok_or_else(|| MapError::new("id", "a string"))?;
        let created = event["created"]
            .as_i64()
            .ok_or_else(|| MapError::new("created", "an integer"))?;
        let data = &event["data"]["object"];
        let key = data["id"]
            .as_str()
            .ok_or_else(|| MapError::new("data.object.id", "a string"))?;
        let operation = match event_type.rsplit('.').next() {
            Some("created") => Operation::Create,
            Some("deleted") => Operation::Delete,
            _ => Operation::Update,
        };
        let mut after = canonical::of(object, data)?;
        if object == "customer" && operation == Operation::Delete {
            after["deleted"] = Value::Bool(true);
        }
        let previous = &event["data"]["previous_attributes"];
        let before = match previous {
            Value::Object(_) if operation == Operation::Update => {
                let mut old = data.clone();
                overlay(&mut old, previous);
                Some(canonical::of(object, &old)?.to_string())
            }
            _ => None,
        };
        let effective_at = if object == "subscription" {
            effective_at(operation, data, previous)
        } else {
            None
        };
        Ok(Some(Change {
            source_event_id: id.to_owned(),
            object: object.to_owned(),
            key: key.to_owned(),
            operation,
            before,
            after: Some(after.to_string()),
            occurred_at: created.saturating_mul(1000),
            effective_at,
            source_version: u64::try_from(created).unwrap_or(0),
            metadata: metadata(event, event_type),
        }))
    }

    /// Whether the source side reads the current state of this canonical object from the API
    /// when it processes an event about it (see [`with_current_state`]).
    pub(crate) fn has_current_state(object: &str) -> bool {
        matches!(object, "subscription" | "customer")
    }

    /// Makes `change` (decoded from `event`) carry `current`, the object as Stripe's API returned
    /// it while the event was processed, as its `after` document.
    ///
    /// Stripe "doesn't guarantee delivery of events in the order in which they're generated" and
    /// points receivers at the API for the objects' state (docs.stripe.com/webhooks, "Best
    /// practices for using webhooks" > "Event ordering"; formerly
    /// stripe.com/docs/webhooks/best-practices#event-ordering). An event's `created` has one-second
    /// resolution, so it cannot order two changes of one second either. The state fetched while an
    /// event is processed is at least as new as every event created before, so the change the
    /// runtime applies last for an object, whatever order the events came in, holds the newest
    /// state.
    ///
    /// `before` stays what the event says the object was (`previous_attributes`), `occurred_at` and
    /// `source_version` stay the event's. A subscription's `effective_at` is recomputed from the
    /// current state (still only for an event that touched the cancellation), so the date and the
    /// document agree. A deleted customer is answered with a stub (`{id, deleted: true}`): the
    /// event's own object is kept, marked deleted, as the newest state.
    pub(crate) fn with_current_state(
        change: &mut Change,
        event: &Value,
        current: &Value,
        read_at: u64,
    ) -> Result<(), MapError> {
        if current["id"].as_str() != Some(change.key.as_str()) {
            return Err(MapError::new("id", "the id of the event's object"));
        }
        let data = &event["data"]["object"];
        let after = if change.object == "customer" && current["deleted"].as_bool() == Some(true) {
            let mut last = canonical::customer(data)?;
            last["deleted"] = Value::Bool(true);
            last
        } else {
            canonical::of(&change.object, current)?
        };
        if change.object == "subscription" {
            let previous = &event["data"]["previous_attributes"];
            change.effective_at = effective_at(change.operation, current, previous);
        }
        change.after = Some(after.to_string());
        change.source_version = change.source_version.max(read_at);
        Ok(())
    }

    /// When a subscription change takes business effect, if not when it happened: the end of the
    /// subscription for a delete; otherwise the scheduled cancellation, but only for an event that
    /// set it (creation, or an update whose `previous_attributes` touch it), so an unrelated
    /// change to a subscription that will cancel later is not held until then.
    fn effective_at(operation: Operation, sub: &Value, previous: &Value) -> Option<i64> {
        let at = match operation {
            Operation::Delete => sub["ended_at"].as_i64(),
            _ if operation == Operation::Create
                || previous.get("cancel_at").is_some()
                || previous.get("cancel_at_period_end").is_some() =>
            {
                if sub["cancel_at_period_end"].as_bool() == Some(true) {
                    canonical::period(sub).1
                } else {
                    sub["cancel_at"].as_i64()
                }
            }
            _ => None,
        };
        at.map(|secs| secs.saturating_mul(1000))
    }

    /// Lays Stripe's `previous_attributes` over the current object: nested objects merge key by
    /// key (`metadata`, `items` list objects), anything else (arrays included) is replaced.
    fn overlay(target: &mut Value, previous: &Value) {
        match (target, previous) {
            (Value::Object(t), Value::Object(p)) => {
                for (k, v) in p {
                    match t.get_mut(k) {
                        Some(existing) if existing.is_object() && v.is_object() => {
                            overlay(existing, v)
                        }
                        _ => {
                            t.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
            (t, p) => *t = p.clone(),
        }
    }

    /// Facts about the event for logs and audit; absent values are left out.
    fn metadata(event: &Value, event_type: &str) -> Vec<(String, String)> {
        let request = &event["request"];
        // Very old API versions send `request` as the bare request id.
        let request_id = request.as_str().or_else(|| request["id"].as_str());
        let mut out = vec![("event_type".to_owned(), event_type.to_owned())];
        let optional = [
            ("api_version", event["api_version"].as_str()),
            ("request_id", request_id),
            ("idempotency_key", request["idempotency_key"].as_str()),
        ];
        out.extend(
            optional
                .into_iter()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
        );
        if let Some(live) = event["livemode"].as_bool() {
            out.push(("livemode".to_owned(), live.to_string()));
        }
        out
    }
}

pub(crate) mod canonical {

    use junction_connector_kit::time::rfc3339;
    use serde_json::{Map, Value, json};

    use crate::errors::MapError;

    /// Maps a Stripe object of canonical kind `object` (`subscription`, `customer`, `invoice`).
    pub(crate) fn of(object: &str, stripe: &Value) -> Result<Value, MapError> {
        match object {
            "subscription" => subscription(stripe),
            "customer" => customer(stripe),
            _ => invoice(stripe),
        }
    }

    /// A subscription, from any API version: since `2025-03-31.basil` the billing period lives on
    /// each item, before that on the subscription itself.
    pub(crate) fn subscription(s: &Value) -> Result<Value, MapError> {
        let data = s["items"]["data"]
            .as_array()
            .ok_or_else(|| MapError::new("items.data", "a list"))?;
        let items = data
            .iter()
            .enumerate()
            .map(|(i, item)| subscription_item(i, item, s))
            .collect::<Result<Vec<_>, _>>()?;
        let status = one_of(s, "status", SUBSCRIPTION_STATUSES)?;
        let (start, end) = period(s);
        let cancel_at_period_end = s["cancel_at_period_end"].as_bool().unwrap_or(false);
        let cancel_at = s["cancel_at"].as_i64();
        let ended = matches!(status, "canceled" | "incomplete_expired");
        // Billing continues at the period end unless the subscription ended or stops by then.
        let next_billing =
            end.filter(|&e| !ended && !cancel_at_period_end && cancel_at.is_none_or(|c| c > e));
        let ended_at = || s["ended_at"].as_i64().or_else(|| s["canceled_at"].as_i64());
        let billing_stop = cancel_at
            .or(end.filter(|_| cancel_at_period_end))
            .or_else(|| ended.then(ended_at).flatten());
        Ok(json!({
            "id": id(s, "id")?,
            "customer_id": id_of(&s["customer"]).ok_or_else(|| MapError::new("customer", "an id or a customer"))?,
            "status": status,
            "currency": currency(s["currency"].as_str(), "currency")?,
            "interval": items.first().map_or(Value::Null, |i| i["interval"].clone()),
            "items": items,
            "current_period_start": time(start, "current_period_start")?,
            "current_period_end": time(end, "current_period_end")?,
            "next_billing_at": time(next_billing, "current_period_end")?,
            "cancel_at_period_end": cancel_at_period_end,
            "cancel_at": time(cancel_at, "cancel_at")?,
            "canceled_at": time(s["canceled_at"].as_i64(), "canceled_at")?,
            "billing_stop_at": time(billing_stop, "cancel_at")?,
            "started_at": time(s["start_date"].as_i64(), "start_date")?,
            "metadata": metadata(&s["metadata"]),
        }))
    }

    /// The current billing period (unix seconds): the first item's (basil and later), else the
    /// subscription's own fields (older API versions).
    pub(crate) fn period(s: &Value) -> (Option<i64>, Option<i64>) {
        let item = &s["items"]["data"][0];
        let field = |name: &str| item[name].as_i64().or_else(|| s[name].as_i64());
        (field("current_period_start"), field("current_period_end"))
    }

    /// One subscription item. Its price is `price`, or the legacy `plan` on very old objects. A
    /// price without a flat per-unit amount (tiered, decimal) has `unit_amount` 0: the canonical
    /// schema has no way to say more, and refusing the whole subscription would be worse.
    fn subscription_item(i: usize, item: &Value, s: &Value) -> Result<Value, MapError> {
        let price = if item["price"].is_object() {
            &item["price"]
        } else {
            &item["plan"]
        };
        let price_id = id_of(&item["price"])
            .or_else(|| price["id"].as_str())
            .ok_or_else(|| MapError::new(format!("items.data[{i}].price.id"), "a string"))?;
        let unit_amount = price["unit_amount"]
            .as_u64()
            .or_else(|| price["amount"].as_u64())
            .or_else(|| {
                price["unit_amount_decimal"]
                    .as_str()
                    .and_then(|d| d.parse().ok())
            })
            .unwrap_or(0);
        let recurring = if price["recurring"].is_object() {
            &price["recurring"]
        } else {
            price
        };
        let field = |name: &str| format!("items.data[{i}].price.{name}");
        let currency = currency(
            price["currency"]
                .as_str()
                .or_else(|| s["currency"].as_str()),
            &field("currency"),
        )?;
        let interval = match recurring["interval"].as_str() {
            None => None,
            Some(interval) if INTERVALS.contains(&interval) => Some(interval),
            Some(_) => {
                return Err(MapError::new(
                    field("recurring.interval"),
                    "day, week, month or year",
                ));
            }
        };
        let interval_count = match &recurring["interval_count"] {
            Value::Null => None,
            count => Some(count.as_u64().filter(|&n| n >= 1).ok_or_else(|| {
                MapError::new(
                    field("recurring.interval_count"),
                    "a whole number of at least 1",
                )
            })?),
        };
        Ok(json!({
            "id": item["id"].as_str(),
            "price_id": price_id,
            "product_id": id_of(&price["product"]),
            "quantity": item["quantity"].as_u64().unwrap_or(0),
            "unit_amount": unit_amount,
            "currency": currency,
            "interval": interval,
            "interval_count": interval_count,
        }))
    }

    /// A customer; a deleted one (`"deleted": true`) keeps only what Stripe still tells.
    pub(crate) fn customer(c: &Value) -> Result<Value, MapError> {
        let address = &c["address"];
        let address = if address.is_object() {
            let pick = |k: &str| address[k].as_str().map_or(Value::Null, Value::from);
            json!({
                "line1": pick("line1"), "line2": pick("line2"), "city": pick("city"),
                "postal_code": pick("postal_code"), "state": pick("state"), "country": pick("country"),
            })
        } else {
            Value::Null
        };
        Ok(json!({
            "id": id(c, "id")?,
            "email": c["email"].as_str(),
            "name": c["name"].as_str(),
            "phone": c["phone"].as_str(),
            "currency": c["currency"].as_str().map(|code| currency(Some(code), "currency")).transpose()?,
            "address": address,
            "created_at": time(c["created"].as_i64(), "created")?,
            "deleted": c["deleted"].as_bool().unwrap_or(false),
            "metadata": metadata(&c["metadata"]),
        }))
    }

    /// An invoice. Its subscription is top-level before basil and under
    /// `parent.subscription_details` since.
    pub(crate) fn invoice(v: &Value) -> Result<Value, MapError> {
        let subscription = id_of(&v["subscription"])
            .or_else(|| id_of(&v["parent"]["subscription_details"]["subscription"]));
        let amount = |k: &'static str| v[k].as_i64().ok_or_else(|| MapError::new(k, "an integer"));
        Ok(json!({
            "id": id(v, "id")?,
            "customer_id": id_of(&v["customer"]).ok_or_else(|| MapError::new("customer", "an id or a customer"))?,
            "customer_email": v["customer_email"].as_str(),
            "subscription_id": subscription,
            "status": one_of(v, "status", INVOICE_STATUSES)?,
            "currency": currency(v["currency"].as_str(), "currency")?,
            "total": amount("total")?,
            "amount_due": amount("amount_due")?,
            "amount_paid": amount("amount_paid")?,
            "period_start": time(v["period_start"].as_i64(), "period_start")?,
            "period_end": time(v["period_end"].as_i64(), "period_end")?,
            "due_at": time(v["due_date"].as_i64(), "due_date")?,
            "created_at": time(v["created"].as_i64(), "created")?,
            "metadata": metadata(&v["metadata"]),
        }))
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
    fn id<'a>(v: &'a Value, field: &'static str) -> Result<&'a str, MapError> {
        v[field]
            .as_str()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| MapError::new(field, "a non-empty string"))
    }

    /// A required field holding one of the values Stripe documents for it. A value outside the
    /// list is refused rather than passed on: the canonical document has no place for it.
    fn one_of<'a>(
        v: &'a Value,
        field: &'static str,
        allowed: &[&str],
    ) -> Result<&'a str, MapError> {
        v[field]
            .as_str()
            .filter(|value| allowed.contains(value))
            .ok_or_else(|| MapError::new(field, "a status Stripe documents"))
    }

    /// An ISO 4217 code as Stripe writes them: three lower-case letters.
    fn currency<'a>(code: Option<&'a str>, field: &str) -> Result<&'a str, MapError> {
        code.filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_lowercase()))
            .ok_or_else(|| MapError::new(field, "a three-letter lower-case currency code"))
    }

    /// An id, whether Stripe sent it as is or expanded into its object.
    fn id_of(v: &Value) -> Option<&str> {
        v.as_str()
            .or_else(|| v["id"].as_str())
            .filter(|id| !id.is_empty())
    }

    /// A time field: absent stays null; Unix seconds become RFC 3339 UTC when they fall between
    /// 1970 and the year 9999, and are refused otherwise.
    fn time(unix_seconds: Option<i64>, field: &str) -> Result<Value, MapError> {
        match unix_seconds {
            None => Ok(Value::Null),
            Some(t) if (0..=LAST_SECOND).contains(&t) => Ok(Value::String(rfc3339(t))),
            Some(_) => Err(MapError::new(field, "Unix seconds between 1970 and 9999")),
        }
    }

    /// Metadata keeps string values only (the only kind Stripe stores; a `null` in
    /// `previous_attributes` means the key did not exist before).
    fn metadata(v: &Value) -> Value {
        let map = v
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, v)| v.is_string())
            .map(|(k, v)| (k.clone(), v.clone()));
        Value::Object(map.collect::<Map<_, _>>())
    }
}
