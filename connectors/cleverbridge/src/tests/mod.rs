//! Native unit tests against a scripted host.

mod receive;
mod sink;

use junction_connector_kit::testing::FakeHost;
use junction_connector_kit::{Operation, Write};
use serde_json::{Value, json};

/// 2026-01-15T00:00:00Z in milliseconds.
pub(crate) const NOW_MS: i64 = 1_768_435_200_000;
pub(crate) const SECRET: &str = "operator-shared-secret";

/// A host with the webhook secret granted and the base URL set.
pub(crate) fn host() -> FakeHost {
    FakeHost::at(NOW_MS)
        .with_setting("base-url", "https://cb.test")
        .with_secret("webhook", SECRET)
}

/// The notification credential an operator enters in Web Admin.
pub(crate) fn credential() -> String {
    crate::auth::hex(&junction_connector_kit::testing::hmac_sha256(
        SECRET.as_bytes(),
        crate::auth::LABEL,
    ))
}

/// Cloudify Gold: one item of 95.19 USD gross (80.00 net, 19% VAT), `quantity` seats.
pub(crate) fn subscription(quantity: u64, unit_gross: f64) -> Value {
    let total = (unit_gross * quantity as f64 * 100.0).round() / 100.0;
    let net = (total / 1.19 * 100.0).round() / 100.0;
    json!({
        "Id": 67560422, "CustomerId": 157656971, "CustomerCurrencyId": "USD",
        "CustomerReferenceId": "junction-ada", "CustomerReferenceNo": "",
        "EndDate": null, "GracePeriodDays": 0, "IntervalDayCount": 0, "IntervalMonthCount": 1,
        "BillingIntervalDayCount": 0, "BillingIntervalMonthCount": 0,
        "NextBillingDate": "2026-02-01T00:00:00Z", "StartDate": "2026-01-01T00:00:00Z",
        "Status": "Active", "RenewalType": "Automatic",
        "Items": [
            {"IsCurrent": false, "RunningNo": 1, "ProductId": 293076, "Quantity": 1,
             "NextBillingCustomerGrossPrice": 10.0, "NextBillingCustomerNetPrice": 8.4,
             "NextBillingCustomerVatPrice": 1.6, "Status": "Active", "Version": 1},
            {"IsCurrent": true, "RunningNo": 1, "ProductId": 293076, "Quantity": quantity,
             "ProductName": "Cloudify Gold", "NextBillingCurrencyId": "USD",
             "NextBillingCustomerGrossPrice": total, "NextBillingCustomerNetPrice": net,
             "NextBillingCustomerVatPrice": ((total - net) * 100.0).round() / 100.0,
             "Status": "Active", "Version": 2, "DeactivationDate": null}
        ]
    })
}

pub(crate) fn ok_with(sub: &Value) -> String {
    json!({"ResultMessage": "OK", "Subscription": sub}).to_string()
}

pub(crate) const OK: &str = r#"{"ResultMessage":"OK"}"#;

/// The canonical subscription Junction would write: Cloudify Gold at `unit` cents.
pub(crate) fn document(quantity: u64, unit: u64) -> Value {
    json!({
        "id": "67560422", "customer_id": "157656971", "status": "active", "currency": "usd",
        "interval": "month",
        "items": [{"id": "1", "price_id": "293076", "product_id": "293076", "quantity": quantity,
                   "unit_amount": unit, "currency": "usd", "interval": "month", "interval_count": 1}],
        "current_period_start": null, "current_period_end": "2026-02-01T00:00:00Z",
        "next_billing_at": "2026-02-01T00:00:00Z", "cancel_at_period_end": false,
        "cancel_at": null, "canceled_at": null, "billing_stop_at": null,
        "started_at": "2026-01-01T00:00:00Z", "metadata": {},
    })
}

pub(crate) fn write(doc: &Value) -> Write {
    Write {
        object: "subscription".into(),
        key: doc["id"].as_str().unwrap_or("67560422").into(),
        operation: Operation::Update,
        document: doc.to_string(),
        effective_at: None,
        occurred_at: NOW_MS,
        idempotency_key: "k1".into(),
        correlation_id: "c1".into(),
    }
}

/// The JSON body of the `n`th request.
pub(crate) fn body(host: &FakeHost, n: usize) -> Value {
    serde_json::from_slice(&host.requests.borrow()[n].body).expect("a JSON body")
}

/// Checks `doc` against `wit/schemas/subscription.v1.json`.
pub(crate) fn assert_canonical(doc: &Value) {
    let schema: Value =
        serde_json::from_str(include_str!("../../../../wit/schemas/subscription.v1.json"))
            .expect("schema");
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("schema compiles");
    let errors: Vec<String> = validator.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{doc}: {errors:?}");
}
