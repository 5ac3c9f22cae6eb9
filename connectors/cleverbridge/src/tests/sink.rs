//! Writes: request shapes, idempotency by reading first, preview mode, read-back, errors.

use junction_connector_kit::{Connector, Error, Operation, Outcome};
use serde_json::{Value, json};

use super::*;
use crate::Cleverbridge;

#[test]
fn a_price_change_keeps_the_current_quantity_and_takes_effect_at_the_next_billing_date() {
    let h = host();
    h.respond(200, &[], &ok_with(&subscription(25, 95.19)));
    h.respond(200, &[], OK);
    let outcome = Cleverbridge::apply(&h, write(&document(25, 10000))).expect("applied");
    assert_eq!(outcome, Outcome::Applied("67560422".into()));
    let requests = h.requests.borrow();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].method, "POST");
    assert_eq!(
        requests[1].url,
        "https://cb.test/subscription/updatesubscriptionitemprice"
    );
    assert!(
        requests[1]
            .headers
            .iter()
            .any(|(n, v)| n == "Content-Type" && v == "application/json")
    );
    drop(requests);
    assert_eq!(
        body(&h, 1),
        json!({
            "SubscriptionId": "S67560422",
            "RunningNumber": 1,
            "CustomerPrice": {"Currency": "USD", "IsGross": true, "Value": 100.0},
            // Quantity defaults to 1 at Cleverbridge: leaving it out would reset 25 seats.
            "Quantity": 25,
            "AlignmentSettings": {"AlignToCurrentInterval": false, "ExtendInterval": false,
                                  "GetCustomerPricePreviewOnly": false},
            "GenerateMail": false,
        })
    );
}

#[test]
fn a_write_that_is_already_true_sends_nothing() {
    let h = host();
    h.respond(200, &[], &ok_with(&subscription(1, 100.0)));
    Cleverbridge::apply(&h, write(&document(1, 10000))).expect("applied");
    assert_eq!(h.requests.borrow().len(), 1, "only the read");
}

#[test]
fn net_pricing_sends_is_gross_false_and_reads_net_prices() {
    let h = host().with_setting("price-basis", "net");
    h.respond(200, &[], &ok_with(&subscription(1, 95.19)));
    h.respond(200, &[], OK);
    Cleverbridge::apply(&h, write(&document(1, 9000))).expect("applied");
    assert_eq!(
        body(&h, 1)["CustomerPrice"],
        json!({"Currency": "USD", "IsGross": false, "Value": 90.0})
    );
    let h = host().with_setting("price-basis", "net");
    h.respond(200, &[], &ok_with(&subscription(1, 95.19)));
    let doc: Value = serde_json::from_str(
        &Cleverbridge::fetch(&h, "subscription", "67560422")
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        doc["items"][0]["unit_amount"], 7999,
        "95.19 / 1.19 = 79.99 net"
    );
}

#[test]
fn preview_only_asks_for_prices_and_skips_what_has_no_preview() {
    let h = host().with_setting("preview-only", "true");
    h.respond(200, &[], &ok_with(&subscription(3, 95.19)));
    h.respond(
        200,
        &[],
        r#"{"ResultMessage":"OK","NextBillingCustomerGrossPrice":300.0,"PriceCurrencyId":"USD"}"#,
    );
    Cleverbridge::apply(&h, write(&document(3, 10000))).expect("previewed");
    assert_eq!(
        body(&h, 1)["AlignmentSettings"]["GetCustomerPricePreviewOnly"],
        true
    );
    assert!(h.logs.borrow().iter().any(|(_, l)| l.contains("300.0")));

    let h = host().with_setting("preview-only", "true");
    h.respond(200, &[], &ok_with(&subscription(3, 95.19)));
    let mut cancel = document(3, 9519);
    cancel["status"] = json!("canceled");
    Cleverbridge::apply(&h, write(&cancel)).expect("previewed");
    assert_eq!(
        h.requests.borrow().len(),
        1,
        "a cancellation has no preview: not sent"
    );
}

#[test]
fn a_quantity_change_updates_the_item_as_an_upgrade_or_downgrade() {
    for (quantity, action) in [(5, "Upgrade"), (1, "Downgrade")] {
        let h = host();
        h.respond(200, &[], &ok_with(&subscription(3, 95.19)));
        h.respond(200, &[], OK);
        Cleverbridge::apply(&h, write(&document(quantity, 9519))).expect("applied");
        assert_eq!(
            h.requests.borrow()[1].url,
            "https://cb.test/subscription/updatesubscriptionitem"
        );
        assert_eq!(
            body(&h, 1),
            json!({
                "SubscriptionId": "S67560422", "RunningNumber": 1, "ProductId": 293076,
                "Quantity": quantity, "UpdateAction": action,
                "AlignmentSettings": {"AlignToCurrentInterval": false, "ExtendInterval": false,
                                      "GetCustomerPricePreviewOnly": false},
                "GenerateMail": false,
            })
        );
    }
}

#[test]
fn a_product_change_with_a_new_price_sends_both() {
    let h = host();
    h.respond(200, &[], &ok_with(&subscription(1, 95.19)));
    h.respond(200, &[], OK);
    let mut doc = document(1, 15000);
    doc["items"][0]["product_id"] = json!("293077");
    Cleverbridge::apply(&h, write(&doc)).expect("applied");
    let sent = body(&h, 1);
    assert_eq!(sent["ProductId"], 293077);
    assert_eq!(sent["UpdateAction"], "Upgrade");
    assert_eq!(
        sent["CustomerPrice"],
        json!({"Currency": "USD", "IsGross": true, "Value": 150.0})
    );
}

#[test]
fn cancellation_switches_to_manual_renewal_once() {
    let h = host();
    h.respond(200, &[], &ok_with(&subscription(1, 95.19)));
    h.respond(200, &[], OK);
    let mut doc = document(1, 9519);
    doc["cancel_at_period_end"] = json!(true);
    let w = write(&doc);
    Cleverbridge::apply(&h, w.clone()).expect("applied");
    assert_eq!(
        h.requests.borrow()[1].url,
        "https://cb.test/subscription/updatesubscriptionrenewaltype"
    );
    assert_eq!(
        body(&h, 1),
        json!({"SubscriptionId": "S67560422", "RenewalType": "Manual"})
    );
    // Applied again (a retry after a lost answer): Cleverbridge shows it cancelled already.
    let h = host();
    let mut cancelled = subscription(1, 95.19);
    cancelled["Status"] = json!("Deactivated");
    cancelled["RenewalType"] = json!("Manual");
    h.respond(200, &[], &ok_with(&cancelled));
    Cleverbridge::apply(&h, w).expect("applied");
    assert_eq!(h.requests.borrow().len(), 1);
    // A delete cancels too.
    let h = host();
    h.respond(200, &[], &ok_with(&subscription(1, 95.19)));
    h.respond(200, &[], OK);
    let mut delete = write(&document(1, 9519));
    delete.operation = Operation::Delete;
    Cleverbridge::apply(&h, delete).expect("applied");
    assert_eq!(body(&h, 1)["RenewalType"], "Manual");
}

#[test]
fn a_dropped_item_is_deactivated_and_a_wanted_deactivated_one_reinstated() {
    let mut two = subscription(1, 95.19);
    let mut second = two["Items"][1].clone();
    second["RunningNo"] = json!(2);
    second["ProductId"] = json!(4711);
    two["Items"].as_array_mut().unwrap().push(second);
    let h = host();
    h.respond(200, &[], &ok_with(&two));
    h.respond(200, &[], OK);
    Cleverbridge::apply(&h, write(&document(1, 9519))).expect("applied");
    assert_eq!(
        h.requests.borrow()[1].url,
        "https://cb.test/subscription/deactivatesubscriptionitems"
    );
    assert_eq!(
        body(&h, 1),
        json!({"SubscriptionId": "S67560422", "Items": [2], "GenerateMail": false, "AllowReinstate": true})
    );

    let mut cancelled = subscription(1, 95.19);
    cancelled["Status"] = json!("Deactivated");
    cancelled["RenewalType"] = json!("Manual");
    cancelled["Items"][1]["Status"] = json!("Deactivated");
    let h = host();
    h.respond(200, &[], &ok_with(&cancelled));
    h.respond(200, &[], OK);
    Cleverbridge::apply(&h, write(&document(1, 9519))).expect("applied");
    assert_eq!(
        h.requests.borrow()[1].url,
        "https://cb.test/subscription/reinstatesubscriptionitems"
    );
    assert_eq!(
        body(&h, 1),
        json!({"SubscriptionId": "S67560422", "Items": [1], "GenerateMail": false})
    );
}

#[test]
fn writes_cleverbridge_cannot_take_are_rejected_before_sending() {
    let h = host();
    h.respond(200, &[], &ok_with(&subscription(1, 95.19)));
    let mut eur = document(1, 9000);
    eur["items"][0]["currency"] = json!("eur");
    let err = Cleverbridge::apply(&h, write(&eur)).expect_err("rejected");
    assert!(
        matches!(&err, Error::Rejected { field: Some(f), .. } if f == "items[0].currency"),
        "{err:?}"
    );
    let h = host();
    h.respond(200, &[], &ok_with(&subscription(1, 95.19)));
    let mut unknown = document(1, 9519);
    unknown["items"][0]["id"] = json!("9");
    unknown["items"][0]["product_id"] = json!("1");
    let err = Cleverbridge::apply(&h, write(&unknown)).expect_err("rejected");
    assert!(
        matches!(&err, Error::Rejected { field: Some(f), .. } if f == "items[0]"),
        "{err:?}"
    );
    assert_eq!(h.requests.borrow().len(), 1);
    let mut bad_key = write(&document(1, 9519));
    bad_key.key = "sub_123".into();
    assert!(matches!(
        Cleverbridge::apply(&host(), bad_key),
        Err(Error::Rejected { .. })
    ));
    let mut customer = write(&document(1, 9519));
    customer.object = "customer".into();
    assert!(matches!(
        Cleverbridge::apply(&host(), customer),
        Err(Error::Unsupported(_))
    ));
}

#[test]
fn every_error_class() {
    let price_write = || write(&document(1, 10000));
    type Case<'a> = (u16, Vec<(&'a str, &'a str)>, &'a str, Error);
    let cases: Vec<Case> = vec![
        (
            400,
            vec![],
            r#"{"ResultMessage":"Missing required field."}"#,
            Error::Rejected {
                message: "Missing required field.".into(),
                field: None,
            },
        ),
        (
            402,
            vec![],
            r#"{"ResultMessage":"'CustomerPrice' currency differs from subscription currency"}"#,
            Error::Rejected {
                message: "'CustomerPrice' currency differs from subscription currency".into(),
                field: Some("CustomerPrice".into()),
            },
        ),
        (
            401,
            vec![],
            r#"{"ResultMessage":"Authorization has been denied for this request."}"#,
            Error::Unauthorized("Authorization has been denied for this request.".into()),
        ),
        (
            404,
            vec![],
            r#"{"ResultMessage":"Item not found."}"#,
            Error::NotFound("Item not found.".into()),
        ),
        (
            429,
            vec![("Retry-After", "7")],
            r#"{"ResultMessage":"Rate limit reached."}"#,
            Error::RateLimited(Some(7000)),
        ),
        (
            500,
            vec![],
            r#"{"ResultMessage":"An error has occurred."}"#,
            Error::transient("An error has occurred."),
        ),
        (
            503,
            vec![],
            "",
            Error::transient("Cleverbridge answered HTTP 503"),
        ),
        (
            200,
            vec![],
            r#"{"ResultMessage":"'Quantity' must be at least 1."}"#,
            Error::Rejected {
                message: "Cleverbridge answered 200 without OK: 'Quantity' must be at least 1."
                    .into(),
                field: Some("Quantity".into()),
            },
        ),
    ];
    for (status, headers, answer, expected) in cases {
        let h = host();
        h.respond(200, &[], &ok_with(&subscription(1, 95.19)));
        h.respond(status, &headers, answer);
        assert_eq!(
            Cleverbridge::apply(&h, price_write()),
            Err(expected),
            "HTTP {status}"
        );
    }
    let h = host();
    h.fail("connection refused");
    assert!(matches!(
        Cleverbridge::apply(&h, price_write()),
        Err(Error::Transient { .. })
    ));
    // The subscription is not there: not found (Cleverbridge makes subscriptions at checkout).
    let h = host();
    h.respond(404, &[], r#"{"ResultMessage":"Item not found."}"#);
    assert!(matches!(
        Cleverbridge::apply(&h, price_write()),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn fetch_reads_back_and_expected_predicts_it() {
    let h = host();
    h.respond(200, &[], &ok_with(&subscription(25, 100.0)));
    let read: Value = serde_json::from_str(
        &Cleverbridge::fetch(&h, "subscription", "67560422")
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_canonical(&read);
    let w = write(&document(25, 10000));
    let expected: Value = serde_json::from_str(&Cleverbridge::expected(&h, &w).unwrap()).unwrap();
    assert_canonical(&expected);
    for field in [
        "status",
        "currency",
        "items",
        "next_billing_at",
        "billing_stop_at",
        "interval",
    ] {
        assert_eq!(read[field], expected[field], "{field}");
    }
    let h = host();
    h.respond(404, &[], r#"{"ResultMessage":"Item not found."}"#);
    assert_eq!(Cleverbridge::fetch(&h, "subscription", "1"), Ok(None));
    assert_eq!(
        Cleverbridge::fetch(&host(), "subscription", "sub_1"),
        Ok(None)
    );
}

/// The conformance kit (`junction connector test --sim cleverbridge`, `apply.read-back`) found
/// `expected` answering `metadata: {}` for a document read from Cleverbridge, whose read-back
/// shows Cleverbridge's own metadata (status code, renewal type, customer reference): a price
/// change of a fetched subscription must read back exactly as `expected` says.
#[test]
fn expected_of_a_document_read_from_cleverbridge_is_its_read_back() {
    let h = host();
    h.respond(200, &[], &ok_with(&subscription(25, 100.0)));
    let read: Value = serde_json::from_str(
        &Cleverbridge::fetch(&h, "subscription", "67560422")
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert!(
        read["metadata"]["cleverbridge_status"].is_string(),
        "{read}"
    );
    let expected: Value =
        serde_json::from_str(&Cleverbridge::expected(&host(), &write(&read)).unwrap()).unwrap();
    assert_eq!(expected, read);
    // Another system's metadata is not what Cleverbridge keeps.
    let mut foreign = read.clone();
    foreign["metadata"] = json!({"plan": "gold"});
    let expected: Value =
        serde_json::from_str(&Cleverbridge::expected(&host(), &write(&foreign)).unwrap()).unwrap();
    assert_eq!(expected["metadata"], json!({}));
}

#[test]
fn expected_of_a_cancellation_is_what_a_manual_renewal_shows() {
    let mut doc = document(1, 9519);
    doc["cancel_at_period_end"] = json!(true);
    doc["billing_stop_at"] = json!("2026-02-01T00:00:00Z");
    let expected: Value =
        serde_json::from_str(&Cleverbridge::expected(&host(), &write(&doc)).unwrap()).unwrap();
    let mut cancelled = subscription(1, 95.19);
    cancelled["Status"] = json!("Deactivated");
    cancelled["RenewalType"] = json!("Manual");
    cancelled["EndDate"] = json!("2026-02-01T00:00:00Z");
    cancelled["Items"][1]["Status"] = json!("Deactivated");
    let h = host();
    h.respond(200, &[], &ok_with(&cancelled));
    let read: Value = serde_json::from_str(
        &Cleverbridge::fetch(&h, "subscription", "67560422")
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    for field in [
        "status",
        "items",
        "next_billing_at",
        "billing_stop_at",
        "cancel_at_period_end",
        "current_period_end",
    ] {
        assert_eq!(read[field], expected[field], "{field}");
    }
}

#[test]
fn describe_declares_the_webhook_secret_and_no_polling() {
    let m = Cleverbridge::describe();
    assert_eq!(m.name, "cleverbridge");
    assert_eq!(m.secrets, vec!["webhook".to_owned()]);
    assert!(m.webhooks && !m.polling && !m.async_writes);
    assert_eq!(m.hosts, vec!["rest.cleverbridge.com".to_owned()]);
}
