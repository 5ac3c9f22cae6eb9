//! The JSON Cleverbridge sends: the API's PascalCase subscription (fact sheet §3) and the
//! camelCase notification models (fact sheet §5: subscription model and purchase model, each in
//! the `meta` envelope).

use serde_json::{Value, json};

use super::clock::{meta_date, rfc3339};
use super::model::{ItemVersion, Order, OrderKind, Subscription};
use super::money::decimal;
use super::store::Store;

/// fact sheet §5: the JSON schemas live under one unversioned URL per type.
const SCHEMA_BASE: &str = "https://www.cleverbridge.com/JsonNotificationSchemas/";

fn date(ts: Option<i64>) -> Value {
    ts.map_or(Value::Null, |t| json!(rfc3339(t)))
}

/// `GetSubscription`'s `Subscription` (fact sheet §3); with `current_only`, only the
/// `IsCurrent` version of each item.
pub fn subscription(store: &Store, sub: &Subscription, current_only: bool) -> Value {
    let customer = store.customers.get(&sub.customer_id);
    let mut items = Vec::new();
    for (no, versions) in &sub.items {
        for (i, v) in versions.iter().enumerate() {
            let is_current = i + 1 == versions.len();
            if current_only && !is_current {
                continue;
            }
            items.push(item(store, sub, *no, v, is_current));
        }
    }
    json!({
        "Id": sub.id,
        "CustomerId": sub.customer_id,
        "CustomerCurrencyId": sub.currency,
        "CustomerReferenceId": customer.map(|c| c.reference_id.as_str()),
        "CustomerReferenceNo": customer.map_or("", |c| c.reference_no.as_str()),
        "EndDate": date(sub.end_date),
        "GracePeriodDays": sub.grace_period_days,
        "IntervalDayCount": sub.interval_days,
        "IntervalMonthCount": sub.interval_months,
        // fact sheet §3's example has 0 here while the interval is one month [U].
        "BillingIntervalDayCount": 0,
        "BillingIntervalMonthCount": 0,
        "NextBillingDate": rfc3339(sub.next_billing),
        "StartDate": rfc3339(sub.start),
        "Status": sub.status,
        "RenewalType": sub.renewal_type,
        "Items": items,
    })
}

fn item(store: &Store, sub: &Subscription, no: u32, v: &ItemVersion, is_current: bool) -> Value {
    let purchases: Vec<Value> = store
        .orders
        .iter()
        .filter(|o| o.subscription_id == sub.id && o.items.iter().any(|i| i.running_no == no))
        .map(|o| json!({"PurchaseId": o.purchase_id, "IntervalNo": o.interval_no}))
        .collect();
    // Prices are the item's total for the next interval (unit price times quantity): the
    // client code's preview fields say "Total ... price for next billing interval" [C].
    json!({
        "Couponcode": "",
        "DeactivationDate": date(v.deactivation_date),
        "EndDate": date(v.end),
        "IsCurrent": is_current,
        "LastIntervalNo": v.last_interval_no,
        "NextBillingCurrencyId": sub.currency,
        "NextBillingCustomerGrossPrice": decimal(v.next_billing.gross),
        "NextBillingCustomerNetPrice": decimal(v.next_billing.net),
        "NextBillingCustomerVatPrice": decimal(v.next_billing.vat),
        "NextRenewalCustomerGrossPrice": decimal(v.next_billing.gross),
        "NextRenewalCustomerNetPrice": decimal(v.next_billing.net),
        "NextRenewalCustomerVatPrice": decimal(v.next_billing.vat),
        "ProductId": v.product_id,
        "ProductName": v.product_name,
        "ProductNameExtension": v.product_name_extension,
        "PromotionId": null,
        "Quantity": v.quantity,
        "RecurrenceCount": sub.recurrence_count,
        "RunningNo": no,
        "StartDate": rfc3339(v.start),
        "Status": v.status,
        "SubscriptionId": sub.id,
        "Version": v.version,
        "SubscriptionPurchaseItems": purchases,
    })
}

fn meta(kind: &str, at: i64) -> Value {
    json!({"type": kind, "date": meta_date(at), "schemaUrl": format!("{SCHEMA_BASE}{kind}")})
}

/// The subscription model (fact sheet §5) for status notifications.
pub fn subscription_notification(store: &Store, id: u64, kind: &str, at: i64) -> Option<Value> {
    let sub = store.subs.get(&id)?;
    let customer = store.customers.get(&sub.customer_id);
    let items: Vec<Value> = sub
        .currents()
        .map(|(no, v)| {
            json!({
                "runningNumber": no,
                "productId": v.product_id,
                "productName": v.product_name,
                "quantity": v.quantity,
                "status": v.status,
                "statusId": v.status.code(),
                "deactivationDate": date(v.deactivation_date),
                "nextBillingCustomerGrossPrice": decimal(v.next_billing.gross),
                "nextBillingCustomerNetPrice": decimal(v.next_billing.net),
                "nextBillingCustomerVatPrice": decimal(v.next_billing.vat),
            })
        })
        .collect();
    Some(json!({
        "meta": meta(kind, at),
        "subscriptionId": sub.id,
        "customerId": sub.customer_id,
        "customerCurrencyId": sub.currency,
        "customerReferenceId": customer.map(|c| c.reference_id.as_str()),
        "customerReferenceNo": customer.map_or("", |c| c.reference_no.as_str()),
        "gracePeriodDays": sub.grace_period_days,
        "billingIntervalDayCount": 0,
        "billingIntervalMonthCount": 0,
        "intervalDayCount": sub.interval_days,
        "intervalMonthCount": sub.interval_months,
        "lastBillingIntervalNumber": sub.last_interval_no,
        "lastIntervalNumber": sub.last_interval_no,
        "nextBillingDate": rfc3339(sub.next_billing),
        "nextRenewalDate": rfc3339(sub.next_billing),
        "startDate": rfc3339(sub.start),
        "endDate": date(sub.end_date),
        "managementModel": "SubscriptionManagement20",
        "renewalType": sub.renewal_type,
        "status": sub.status,
        "statusId": sub.status.code(),
        "items": items,
    }))
}

/// The purchase model for a renewal reminder (`SubscriptionReminderChargeNotification`): the
/// subscription's last purchase, its items as the renewal will bill them and the renewal's
/// date. The reference's example shows no `subscriptionEventtypeId`, so none is sent.
pub fn reminder_notification(store: &Store, id: u64, kind: &str, at: i64) -> Option<Value> {
    let sub = store.subs.get(&id)?;
    let order = store.orders.iter().rfind(|o| o.subscription_id == id)?;
    let customer = store.customers.get(&sub.customer_id);
    let items: Vec<Value> = sub
        .currents()
        .map(|(no, v)| {
            json!({
                "runningNumber": no,
                "productId": v.product_id,
                "quantity": v.quantity,
                "customerGrossPrice": decimal(v.next_billing.gross),
                "customerNetPrice": decimal(v.next_billing.net),
                "customerVatPrice": decimal(v.next_billing.vat),
                "recurringBilling": {
                    "subscriptionId": id,
                    "renewalType": sub.renewal_type,
                    "nextBillingDate": rfc3339(sub.next_billing),
                },
            })
        })
        .collect();
    Some(json!({
        "meta": meta(kind, at),
        "purchaseId": order.purchase_id,
        "currencyId": sub.currency,
        "internalCustomer": {
            "customerId": sub.customer_id,
            "customerReferenceId": customer.map(|c| c.reference_id.as_str()),
        },
        "items": items,
    }))
}

/// The purchase model (fact sheet §5) for `PaidOrderNotification` and `RefundNotification`.
/// Price field names inside items are the simulator's [U]; `subscriptionEventtypeId` is
/// `Renewed` for a renewal as documented, `New` and `Alignment` otherwise [U].
pub fn purchase_notification(store: &Store, order: &Order, kind: &str, at: i64) -> Value {
    let sub = store.subs.get(&order.subscription_id);
    let customer = store.customers.get(&order.customer_id);
    let (event, category) = match order.kind {
        OrderKind::New => ("New", "SubscriptionNew"),
        OrderKind::Renewal => ("Renewed", "SubscriptionRenewal"),
        OrderKind::Alignment => ("Alignment", "SubscriptionAlignment"),
    };
    let (status, status_id) = if kind == "RefundNotification" {
        ("Refunded", "REF")
    } else {
        ("Paid", "PAY")
    };
    let contact = json!({
        "email": customer.map(|c| c.email.as_str()),
        "firstname": customer.map(|c| c.first_name.as_str()),
        "lastname": customer.map(|c| c.last_name.as_str()),
    });
    let items: Vec<Value> = order
        .items
        .iter()
        .map(|i| {
            json!({
                "runningNumber": i.running_no,
                "productId": i.product_id,
                "quantity": i.quantity,
                "customerGrossPrice": i.gross,
                "customerNetPrice": i.net,
                "customerVatPrice": i.vat,
                "subscriptionRevenueCategoryId": category,
                "recurringBilling": {
                    "subscriptionId": order.subscription_id,
                    "intervalNumber": order.interval_no,
                    "renewalType": sub.map(|s| s.renewal_type),
                    "nextBillingDate": sub.map(|s| rfc3339(s.next_billing)),
                    "subscriptionEventtypeId": event,
                },
            })
        })
        .collect();
    json!({
        "meta": meta(kind, at),
        "purchaseId": order.purchase_id,
        "purchaseDate": rfc3339(order.created),
        "status": status,
        "statusId": status_id,
        "currencyId": order.currency,
        "customerGrossPrice": order.gross,
        "customerNetPrice": order.net,
        "customerVatPrice": order.vat,
        "internalCustomer": {
            "customerId": order.customer_id,
            "customerReferenceId": customer.map(|c| c.reference_id.as_str()),
        },
        "billingContact": contact,
        "subscriptionRevenueCategoryId": category,
        "items": items,
    })
}
