//! Stripe events (webhook bodies and `/v1/events` entries, read as `wire::Event`) decoded into
//! canonical changes.

use junction_connector_kit::{Change, Operation};

use crate::canonical;
use crate::errors::MapError;
use crate::wire::{Event, IdOr, Object, Overlay, bool_of, int_of, str_of};

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
///   and the version with the second it was read ([`with_current_state`]).
pub(crate) fn decode(event: &Event<'_>) -> Result<Option<Change>, MapError> {
    let Some(object) = str_of(&event.kind).and_then(object_of) else {
        return Ok(None);
    };
    let event_type = str_of(&event.kind).unwrap_or_default();
    let id = str_of(&event.id).ok_or_else(|| MapError::new("id", "a string"))?;
    let created = int_of(&event.created).ok_or_else(|| MapError::new("created", "an integer"))?;
    let empty = Object::default();
    let data = event.object().unwrap_or(&empty);
    let key = str_of(&data.id).ok_or_else(|| MapError::new("data.object.id", "a string"))?;
    let operation = match event_type.rsplit('.').next() {
        Some("created") => Operation::Create,
        Some("deleted") => Operation::Delete,
        _ => Operation::Update,
    };
    let mut after = canonical::of(object, data)?;
    if object == "customer" && operation == Operation::Delete {
        after.mark_deleted();
    }
    let previous = event.previous();
    let before = match previous {
        Some(previous) if operation == Operation::Update => {
            let mut old = data.clone();
            old.overlay(previous.clone());
            Some(canonical::of(object, &old)?.to_json())
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
        after: Some(after.to_json()),
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
/// event is processed is at least as new as every event created before.
///
/// The change is then Stripe's state as of `read_at` (a second), so that is its
/// `source_version` (never older than the event's `created`): an event delivered late reads a
/// newer state than events delivered before it, and the runtime must not apply their older
/// readings over its newer one. With the event's time as the version, a late retry of an
/// older event carried today's state (say, canceled) and was applied first, and the events
/// after it took their older readings back to NetSuite (reactivating a terminated line,
/// refused); ordered by reading, they are stale. `before` stays what the event says the
/// object was (`previous_attributes`) and `occurred_at` the event's time. A subscription's
/// `effective_at` is recomputed from the current state (still only for an event that touched
/// the cancellation), so the date and the document agree. A deleted customer is answered with
/// a stub (`{id, deleted: true}`): the event's own object is kept, marked deleted, as the
/// newest state.
pub(crate) fn with_current_state(
    change: &mut Change,
    event: &Event<'_>,
    current: &Object<'_>,
    read_at: u64,
) -> Result<(), MapError> {
    if str_of(&current.id) != Some(change.key.as_str()) {
        return Err(MapError::new("id", "the id of the event's object"));
    }
    let empty = Object::default();
    let data = event.object().unwrap_or(&empty);
    let after = if change.object == "customer" && bool_of(&current.deleted) == Some(true) {
        let mut last = canonical::of("customer", data)?;
        last.mark_deleted();
        last
    } else {
        canonical::of(&change.object, current)?
    };
    if change.object == "subscription" {
        change.effective_at = effective_at(change.operation, current, event.previous());
    }
    change.after = Some(after.to_json());
    change.source_version = change.source_version.max(read_at);
    Ok(())
}

/// When a subscription change takes business effect, if not when it happened: the end of the
/// subscription for a delete; otherwise the scheduled cancellation, but only for an event that
/// set it (creation, or an update whose `previous_attributes` touch it), so an unrelated
/// change to a subscription that will cancel later is not held until then.
fn effective_at(
    operation: Operation,
    sub: &Object<'_>,
    previous: Option<&Object<'_>>,
) -> Option<i64> {
    let touched =
        previous.is_some_and(|p| p.cancel_at.is_some() || p.cancel_at_period_end.is_some());
    let at = match operation {
        Operation::Delete => int_of(&sub.ended_at),
        _ if operation == Operation::Create || touched => {
            if bool_of(&sub.cancel_at_period_end) == Some(true) {
                canonical::period(sub).1
            } else {
                int_of(&sub.cancel_at)
            }
        }
        _ => None,
    };
    at.map(|secs| secs.saturating_mul(1000))
}

/// Facts about the event for logs and audit; absent values are left out.
fn metadata(event: &Event<'_>, event_type: &str) -> Vec<(String, String)> {
    // Very old API versions send `request` as the bare request id.
    let request_id = event.request.as_ref().and_then(IdOr::raw_id);
    let idempotency_key = event
        .request
        .as_ref()
        .and_then(IdOr::object)
        .and_then(|r| str_of(&r.idempotency_key));
    let mut out = vec![("event_type".to_owned(), event_type.to_owned())];
    let optional = [
        ("api_version", str_of(&event.api_version)),
        ("request_id", request_id),
        ("idempotency_key", idempotency_key),
    ];
    out.extend(
        optional
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
    );
    if let Some(live) = bool_of(&event.livemode) {
        out.push(("livemode".to_owned(), live.to_string()));
    }
    out
}
