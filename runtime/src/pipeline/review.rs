//! Red flags: writes an operator must look at before they are applied. A flagged write waits
//! in `review` (blocking its lane, like a held one) with the evidence, until `junction review
//! approve` (delivered under its original idempotency key) or `reject` (suppressed).
//!
//! Flags found when planning ([`screen`]):
//! - a write with no source event: nothing ties it to what happened in the source, and the
//!   dedupe of inbound events cannot work for it;
//! - a refund larger than what was paid (a `payment` going to `refunded` whose amount exceeds
//!   the amount before);
//! - an invoice whose amounts do not fit its total (`amount_paid` or `amount_due` above a
//!   non-negative `total`), or a credit note (negative `total`) larger than the invoice it
//!   credits (the `total` before).
//!
//! Found when delivering (`deliver.rs`): the target refused the write's idempotency key as used
//! for a different request a second time ([`KEY_CONFLICTS_FOR_REVIEW`]).

use serde_json::{Value, json};

use crate::config::Plan;
use crate::services::masking::mask_document;
use crate::store::{InitialState, StoredChange};

/// Idempotency-key conflicts on one delivery after which it goes to review instead of being
/// retried: one may be a concurrent request under the same key still being processed; two
/// mean the key and the write disagree, which a retry cannot fix.
pub const KEY_CONFLICTS_FOR_REVIEW: i32 = 2;

/// A write planned as pending goes to review instead when its change raises a red flag;
/// every other state stays as it is. `ctx` is the change as expressions see it
/// ([`super::expr::change_value`]).
pub fn screen(state: InitialState, change: &StoredChange, ctx: &Value) -> InitialState {
    match state {
        InitialState::Pending => match red_flag(change, ctx) {
            Some(reason) => InitialState::Review { reason },
            None => InitialState::Pending,
        },
        other => other,
    }
}

/// The first red flag `change` raises, in words, if any.
pub fn red_flag(change: &StoredChange, ctx: &Value) -> Option<String> {
    if change.source_event_id.trim().is_empty() {
        return Some(
            "no source event: the change carries no source event id, so nothing ties this \
             write to an event in the source"
                .to_owned(),
        );
    }
    let (before, after) = (&ctx["before"], &ctx["after"]);
    let amount = |doc: &Value, field: &str| doc.get(field).and_then(Value::as_i64);
    let currency = after.get("currency").and_then(Value::as_str).unwrap_or("");
    match change.object.as_str() {
        "payment" if after.get("status").and_then(Value::as_str) == Some("refunded") => {
            let (refund, paid) = (amount(after, "amount")?, amount(before, "amount")?);
            (refund > paid).then(|| {
                format!(
                    "refund larger than the payment: {refund} {currency} refunded, {paid} \
                     {currency} paid"
                )
            })
        }
        "invoice" => {
            let total = amount(after, "total")?;
            if total < 0 {
                let credited = amount(before, "total").filter(|&t| t >= 0)?;
                return (-total > credited).then(|| {
                    format!(
                        "credit larger than the invoice: {} {currency} credited on an invoice \
                         of {credited} {currency}",
                        -total
                    )
                });
            }
            for field in ["amount_paid", "amount_due"] {
                if let Some(value) = amount(after, field).filter(|&v| v > total) {
                    return Some(format!(
                        "invoice amounts do not fit the total: {field} {value} {currency} is \
                         more than the total {total} {currency}"
                    ));
                }
            }
            None
        }
        _ => None,
    }
}

/// What stands for the source event in the idempotency key of `change`'s writes: its event
/// id, or, for a change without one (a red flag), its entity and version, so two such changes
/// never share a key (the second would silently become the first's write).
pub fn key_event(change: &StoredChange) -> std::borrow::Cow<'_, str> {
    if change.source_event_id.trim().is_empty() {
        format!(
            "no-event\u{1f}{}\u{1f}{}\u{1f}{}",
            change.object, change.key, change.source_version
        )
        .into()
    } else {
        change.source_event_id.as_str().into()
    }
}

/// The before/after documents of `change`, masked by the pipeline's policy: the part of a
/// review's evidence that shows what the write changes.
pub fn evidence(plan: Option<&Plan>, change: &StoredChange) -> Value {
    let shown = |doc: &Option<String>| {
        let mut value: Value = doc
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or(Value::Null);
        match plan {
            Some(plan) => mask_document(&plan.masking, &change.object, &mut value),
            // Without the policy nothing can be shown safely.
            None if !value.is_null() => value = json!("(not shown: the pipeline is not loaded)"),
            None => {}
        }
        value
    };
    json!({
        "source_event_id": change.source_event_id,
        "source_version": change.source_version,
        "occurred_at_ms": change.occurred_at_ms,
        "received_at_ms": change.received_at_ms,
        "before": shown(&change.before),
        "after": shown(&change.after),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Operation;

    fn change(object: &str, event: &str, before: Value, after: Value) -> StoredChange {
        StoredChange {
            id: 1,
            pipeline: "p".into(),
            source: "src".into(),
            source_event_id: event.into(),
            object: object.into(),
            key: "k1".into(),
            operation: Operation::Update,
            before: Some(before.to_string()),
            after: Some(after.to_string()),
            occurred_at_ms: 1,
            effective_at_ms: None,
            source_version: 1,
            metadata: "{}".into(),
            correlation_id: "c-1".into(),
            received_at_ms: 1,
        }
    }

    fn flag(c: &StoredChange) -> Option<String> {
        red_flag(c, &crate::pipeline::expr::change_value(c))
    }

    #[test]
    fn each_red_flag_is_raised_and_fitting_amounts_are_not() {
        let paid = json!({"id": "py_1", "amount": 1000, "currency": "eur", "status": "succeeded"});
        let refund = |amount: i64| json!({"id": "py_1", "amount": amount, "currency": "eur", "status": "refunded"});
        let over = flag(&change("payment", "evt_1", paid.clone(), refund(1500))).unwrap();
        assert!(over.contains("1500 eur refunded, 1000 eur paid"), "{over}");
        assert_eq!(
            flag(&change("payment", "evt_1", paid.clone(), refund(1000))),
            None
        );

        let invoice = json!({"id": "in_1", "customer_id": "c", "status": "open", "currency": "eur", "total": 5000});
        let credit = json!({"id": "in_1", "customer_id": "c", "status": "open", "currency": "eur", "total": -6000});
        let big = flag(&change("invoice", "evt_2", invoice.clone(), credit)).unwrap();
        assert!(
            big.contains("6000 eur credited on an invoice of 5000 eur"),
            "{big}"
        );
        let small = json!({"id": "in_1", "customer_id": "c", "status": "open", "currency": "eur", "total": -500});
        assert_eq!(
            flag(&change("invoice", "evt_2", invoice.clone(), small)),
            None
        );
        let overpaid = json!({"id": "in_1", "customer_id": "c", "status": "paid", "currency": "eur", "total": 5000, "amount_paid": 7000});
        let msg = flag(&change("invoice", "evt_3", invoice.clone(), overpaid)).unwrap();
        assert!(
            msg.contains("amount_paid 7000 eur is more than the total 5000 eur"),
            "{msg}"
        );

        let none = flag(&change("payment", " ", paid.clone(), paid.clone())).unwrap();
        assert!(none.starts_with("no source event"), "{none}");
        assert_eq!(flag(&change("payment", "evt_4", paid.clone(), paid)), None);
    }

    #[test]
    fn changes_without_an_event_do_not_share_a_key() {
        let a = change("payment", "", json!({}), json!({}));
        let mut b = a.clone();
        b.key = "k2".into();
        assert_ne!(key_event(&a), key_event(&b));
        assert_eq!(
            key_event(&change("payment", "evt_1", json!({}), json!({}))),
            "evt_1"
        );
    }

    #[test]
    fn the_store_counts_the_class_the_host_gives_key_conflicts() {
        let conflict = crate::host::CallError::Connector(
            junction_connector_kit::Error::IdempotencyMismatch("reused".into()),
        );
        assert_eq!(conflict.class_name(), crate::store::KEY_CONFLICT_CLASS);
    }

    #[test]
    fn only_pending_writes_go_to_review() {
        let c = change("payment", "", json!({}), json!({}));
        let ctx = crate::pipeline::expr::change_value(&c);
        assert!(matches!(
            screen(InitialState::Pending, &c, &ctx),
            InitialState::Review { .. }
        ));
        let held = InitialState::Held {
            reason: "gate kyc".into(),
        };
        assert_eq!(screen(held.clone(), &c, &ctx), held);
    }
}
