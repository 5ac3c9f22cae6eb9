//! The source side: Cleverbridge's JSON notifications (fact sheet §5), authenticated, then
//! confirmed by reading each subscription they name from the API. The change's `after` is what
//! `getsubscription` shows, never what the notification claims: a notification only says
//! "look at subscription S", so a forged one can change nothing but what Cleverbridge itself
//! reports.

use junction_connector_kit::time::parse_rfc3339;
use junction_connector_kit::{Change, Error, Host, Level, Operation, Webhook};
use serde_json::Value;

use crate::api::{Api, SubscriptionId};
use crate::canonical::{self, Basis};
use crate::{auth, settings};

/// Notification types that tell of a subscription's state changing. `PaidOrderNotification`
/// covers the initial purchase and every renewal; grace has two names (the XML 3.10 one and
/// the one in the docs' example scenario).
const SUBSCRIPTION_TYPES: &[&str] = &[
    "PaidOrderNotification",
    "RecurringBillingCanceledNotification",
    "RecurringBillingReinstatedNotification",
    "RecurringBillingGracePeriodNotification",
    "RecurringBillingOnGraceNotification",
    "RecurringBillingOnHoldNotification",
    "SubscriptionRenewalTypeChangedNotification",
    "SubscriptionBillingDateExtendedNotification",
    "RefundNotification",
    "PartialRefundNotification",
    "ChargebackNotification",
    "SubscriptionReminderChargeNotification",
    "SubscriptionReminderOfflinePayNotification",
];

/// Types that report something that happened when they were sent: a payment taken (a purchase,
/// a renewal, an alignment charge), money given back, a payment missed. Every other type tells
/// of the subscription's next billing: a cancellation ends it at its next billing date, a
/// reinstatement or a renewal type makes it renew there, a reminder announces what the renewal
/// will bill. Their document (whose item prices are Cleverbridge's `NextBilling...` prices)
/// takes effect at the next billing date.
const HAPPENED_NOW: &[&str] = &[
    "PaidOrderNotification",
    "RefundNotification",
    "PartialRefundNotification",
    "ChargebackNotification",
    "RecurringBillingGracePeriodNotification",
    "RecurringBillingOnGraceNotification",
    "RecurringBillingOnHoldNotification",
];

/// Authenticates the notification, then emits one change per subscription it names, each
/// carrying the subscription as Cleverbridge reports it now.
///
/// Other types (customer data, reminders, quotes...) are acknowledged with no change. A named
/// subscription Cleverbridge does not know (404) gives no change either: it cannot be real. A
/// failed read fails the call with its own class, so the runtime answers non-2xx and
/// Cleverbridge delivers the notification again (every two hours).
pub(crate) fn receive(host: &dyn Host, hook: &Webhook) -> Result<Vec<Change>, Error> {
    auth::verify(host, hook)?;
    let body: Value = serde_json::from_slice(&hook.body)
        .map_err(|e| Error::InvalidWebhook(format!("the body is not a JSON notification: {e}")))?;
    let kind = body["meta"]["type"]
        .as_str()
        .ok_or_else(|| Error::InvalidWebhook("the notification has no `meta.type`".into()))?;
    if !SUBSCRIPTION_TYPES.contains(&kind) {
        host.log(
            Level::Debug,
            &format!("Cleverbridge notification {kind} carries no subscription change"),
        );
        return Ok(Vec::new());
    }
    let basis = Basis::of(settings::gross(host)?);
    let api = Api::new(host);
    let occurred_at = meta_date(&body).unwrap_or_else(|| host.now_ms());
    let purchase = match &body["purchaseId"] {
        Value::Null => None,
        v => Some(v.as_str().map_or_else(|| v.to_string(), str::to_owned)),
    };
    let mut changes = Vec::new();
    for (id, event) in subscriptions(&body) {
        let Some(current) = api.subscription(&id)? else {
            host.log(
                Level::Warn,
                &format!(
                    "{kind} names subscription {} which Cleverbridge does not know: ignored",
                    id.key()
                ),
            );
            continue;
        };
        let after = canonical::subscription(&current, basis).map_err(|e| e.rejected())?;
        let effective_at = effective_at(kind, &current, occurred_at);
        let date = body["meta"]["date"].as_str().unwrap_or_default();
        let mut metadata = vec![
            ("notification".to_owned(), kind.to_owned()),
            ("confirmed_by".to_owned(), "getsubscription".to_owned()),
        ];
        metadata.extend(purchase.clone().map(|p| ("purchase_id".to_owned(), p)));
        metadata.extend(event.clone().map(|e| ("subscription_event".to_owned(), e)));
        let operation = if kind == "PaidOrderNotification" && event.as_deref() == Some("New") {
            Operation::Create
        } else {
            Operation::Update
        };
        changes.push(Change {
            // Cleverbridge gives notifications no id; type, subscription, purchase and the
            // notification's own timestamp name one, and a redelivery repeats all four.
            source_event_id: format!(
                "{kind}:{}:{}:{date}",
                id.key(),
                purchase.as_deref().unwrap_or("")
            ),
            object: "subscription".into(),
            key: id.key().to_owned(),
            operation,
            before: None,
            after: Some(after.to_string()),
            occurred_at,
            effective_at,
            // `after` is the state when it was read, so that is its version: a notification
            // delivered late still carries the newest state.
            source_version: u64::try_from(host.now_ms()).unwrap_or(0),
            metadata,
        });
    }
    Ok(changes)
}

/// The subscriptions a notification names, each once, with the purchase model's
/// `subscriptionEventtypeId` (`New`, `Renewed`) when it has one: the subscription model's
/// `subscriptionId`, or every `items[].recurringBilling.subscriptionId` of the purchase model.
fn subscriptions(body: &Value) -> Vec<(SubscriptionId, Option<String>)> {
    let mut out: Vec<(SubscriptionId, Option<String>)> = Vec::new();
    if let Some(id) = SubscriptionId::of(&body["subscriptionId"]) {
        out.push((id, None));
    }
    for item in body["items"].as_array().into_iter().flatten() {
        let billing = &item["recurringBilling"];
        let Some(id) = SubscriptionId::of(&billing["subscriptionId"]) else {
            continue;
        };
        if out.iter().all(|(known, _)| *known != id) {
            let event = billing["subscriptionEventtypeId"]
                .as_str()
                .map(str::to_owned);
            out.push((id, event));
        }
    }
    out
}

/// When a change of `kind` takes effect: for the types that tell of the next billing, the
/// subscription's `NextBillingDate` if it lies after the notification's date; otherwise none
/// (it took effect when it happened).
fn effective_at(kind: &str, subscription: &Value, occurred_at: i64) -> Option<i64> {
    if HAPPENED_NOW.contains(&kind) {
        return None;
    }
    let next = subscription["NextBillingDate"]
        .as_str()
        .and_then(parse_rfc3339)?;
    (next * 1000 > occurred_at).then_some(next * 1000)
}

/// `meta.date` (`2019-03-19T14:47:34.857671`, UTC without an offset) in milliseconds.
fn meta_date(body: &Value) -> Option<i64> {
    let date = body["meta"]["date"].as_str()?;
    let utc = if date.ends_with('Z') || date.ends_with("+00:00") {
        date.to_owned()
    } else {
        format!("{date}Z")
    };
    let secs = parse_rfc3339(&utc)?;
    let millis = date
        .split_once('.')
        .map(|(_, frac)| {
            let digits: String = frac
                .chars()
                .take_while(char::is_ascii_digit)
                .take(3)
                .collect();
            format!("{digits:0<3}").parse::<i64>().unwrap_or(0)
        })
        .unwrap_or(0);
    Some(secs * 1000 + millis)
}
