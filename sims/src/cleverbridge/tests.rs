//! The documented behaviours, checked over real HTTP against a started simulator whose clock
//! stands still unless a test advances it.

use std::time::Duration;

use axum::http::HeaderMap;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

use super::*;
use crate::faults::Faults;

/// 2026-01-01T00:00:00Z.
const START: i64 = 1_767_225_600;
const DAY: i64 = 86_400;

struct Harness {
    sim: CleverbridgeSim,
    http: reqwest::Client,
}

fn config() -> CleverbridgeSimConfig {
    CleverbridgeSimConfig {
        start_at: Some(START),
        frozen_clock: true,
        ..CleverbridgeSimConfig::default()
    }
}

impl Harness {
    async fn start() -> Self {
        Self::with(config()).await
    }

    async fn with(config: CleverbridgeSimConfig) -> Self {
        Self {
            sim: CleverbridgeSim::start(config)
                .await
                .expect("simulator starts"),
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    fn authed(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let c = self.sim.config();
        self.http
            .request(method, self.url(path))
            .basic_auth(&c.user, Some(&c.password))
            .header("Accept", "application/json")
    }

    async fn get(&self, path_and_query: &str) -> (StatusCode, Value) {
        let r = self
            .authed(
                reqwest::Method::GET,
                &format!("/subscription/{path_and_query}"),
            )
            .send()
            .await
            .expect("sent");
        (r.status(), r.json().await.expect("json"))
    }

    async fn post(&self, op: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .authed(reqwest::Method::POST, &format!("/subscription/{op}"))
            .json(&body)
            .send()
            .await
            .expect("sent");
        (r.status(), r.json().await.expect("json"))
    }

    /// `getsubscription?isCurrent=true`'s subscription.
    async fn current(&self, id: u64) -> Value {
        let (status, body) = self
            .get(&format!(
                "getsubscription?subscriptionId=S{id}&isCurrent=true"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["Subscription"].clone()
    }

    fn product(&self, taxes: Taxes, unit: f64) -> u64 {
        self.sim
            .create_product(ProductSpec {
                id: None,
                name: "Cloud Storage 500 GB".into(),
                name_extension: "Monthly".into(),
                taxes,
                vat_rate: 19.0,
                prices: [("USD".to_owned(), unit)].into(),
                sold: true,
            })
            .expect("product")
    }

    fn customer(&self) -> u64 {
        self.sim.create_customer(CustomerSpec {
            email: "ada@example.com".into(),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            reference_id: Some("junction-ada".into()),
            reference_no: String::new(),
        })
    }

    /// A monthly subscription with `(product, quantity)` items at list price.
    fn subscription(&self, items: &[(u64, u32)]) -> u64 {
        let customer = self.customer();
        self.sim
            .create_subscription(SubscriptionSpec {
                customer_id: customer,
                currency: "USD".into(),
                interval_months: 1,
                interval_days: 0,
                grace_period_days: 0,
                renewal_type: RenewalType::Automatic,
                recurrence_count: None,
                items: items
                    .iter()
                    .map(|(p, q)| ItemSpec {
                        product_id: *p,
                        quantity: *q,
                        price: None,
                    })
                    .collect(),
            })
            .expect("subscription")
    }
}

fn price_change(sub: u64, value: f64, align: bool, quantity: Option<u32>) -> Value {
    let mut body = json!({
        "SubscriptionId": format!("S{sub}"),
        "RunningNumber": 1,
        "CustomerPrice": {"Currency": "USD", "IsGross": true, "Value": value},
        "AlignmentSettings": {"AlignToCurrentInterval": align, "ExtendInterval": false},
    });
    if let Some(q) = quantity {
        body["Quantity"] = json!(q);
    }
    body
}

fn item(sub: &Value, running_no: u32) -> Value {
    sub["Items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["RunningNo"] == running_no && i["IsCurrent"] == true)
        .cloned()
        .expect("item")
}

/// A receiver that reports what it got; answers 500 to the first `fail_first` deliveries.
async fn receiver(fail_first: usize) -> (String, UnboundedReceiver<(HeaderMap, Value)>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let failures = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(fail_first));
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move |headers: HeaderMap, body: String| async move {
            let _ = tx.send((headers, serde_json::from_str(&body).unwrap_or(Value::Null)));
            let left = failures.load(std::sync::atomic::Ordering::SeqCst);
            if left > 0 {
                failures.store(left - 1, std::sync::atomic::Ordering::SeqCst);
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/cb", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

async fn with_receiver(fail_first: usize) -> (Harness, UnboundedReceiver<(HeaderMap, Value)>) {
    let (url, rx) = receiver(fail_first).await;
    let h = Harness::with(CleverbridgeSimConfig {
        notifications: Some(NotificationEndpoint {
            url,
            auth: NotificationAuth::Basic {
                user: "cb-hook".into(),
                password: "hook-secret".into(),
            },
        }),
        ..config()
    })
    .await;
    (h, rx)
}

/// Waits (without a timing assumption) until the simulator has recorded `f` true.
async fn until(h: &Harness, f: impl Fn(&[NotificationInfo]) -> bool) {
    while !f(&h.sim.notifications()) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn next_of(rx: &mut UnboundedReceiver<(HeaderMap, Value)>, kind: &str) -> (HeaderMap, Value) {
    loop {
        let (headers, body) = rx.recv().await.expect("a delivery");
        if body["meta"]["type"] == kind {
            return (headers, body);
        }
    }
}

#[tokio::test]
async fn basic_auth_accept_and_content_type_are_required() {
    let h = Harness::start().await;
    let sub = h.subscription(&[(h.product(Taxes::Gross, 10.0), 1)]);
    let path = format!("/subscription/getsubscription?subscriptionId={sub}");
    let cases = [
        (
            h.http
                .get(h.url(&path))
                .header("Accept", "application/json"),
            401,
        ),
        (
            h.http
                .get(h.url(&path))
                .basic_auth("junction-api", Some("wrong"))
                .header("Accept", "application/json"),
            401,
        ),
        (
            h.http
                .get(h.url(&path))
                .basic_auth("junction-api", Some("sim-password")),
            400,
        ),
        (
            h.http
                .get(h.url(&path))
                .basic_auth("junction-api", Some("sim-password"))
                .header("Accept", "*/*"),
            400,
        ),
        (
            h.authed(reqwest::Method::POST, "/subscription/renewsubscription")
                .body(json!({"SubscriptionId": sub}).to_string()),
            400,
        ),
    ];
    for (request, status) in cases {
        let r = request.send().await.expect("sent");
        assert_eq!(r.status().as_u16(), status);
        let body: Value = r.json().await.expect("json");
        assert!(body["ResultMessage"].is_string(), "{body}");
        assert_ne!(body["ResultMessage"], "OK");
    }
    assert_eq!(h.sim.stats().auth_failures, 2);
    let (status, body) = h
        .get(&format!("getsubscription?subscriptionId={sub}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["ResultMessage"], "OK");
}

#[tokio::test]
async fn get_subscription_takes_either_id_form_and_reports_documented_errors() {
    let h = Harness::start().await;
    let sub = h.subscription(&[(h.product(Taxes::Gross, 10.0), 1)]);
    let with_s = h.current(sub).await;
    let (_, plain) = h
        .get(&format!(
            "getsubscription?subscriptionId={sub}&isCurrent=true"
        ))
        .await;
    assert_eq!(plain["Subscription"], with_s);
    assert_eq!(with_s["Id"], sub);
    assert_eq!(with_s["CustomerCurrencyId"], "USD");
    assert_eq!(with_s["IntervalMonthCount"], 1);
    assert_eq!(with_s["Status"], "Active");
    assert_eq!(with_s["RenewalType"], "Automatic");
    assert_eq!(with_s["NextBillingDate"], "2026-02-01T00:00:00Z");
    // fact sheet §3's example: 10.0 gross = 8.4 net + 1.6 VAT at 19 %.
    let first = item(&with_s, 1);
    assert_eq!(first["NextBillingCustomerGrossPrice"], 10.0);
    assert_eq!(first["NextBillingCustomerNetPrice"], 8.4);
    assert_eq!(first["NextBillingCustomerVatPrice"], 1.6);
    assert_eq!(first["Version"], 1);

    let (status, body) = h.get("getsubscription?subscriptionId=S99999999").await;
    assert_eq!(
        (status, &body["ResultMessage"]),
        (StatusCode::NOT_FOUND, &json!("Item not found."))
    );
    let (status, body) = h.get("getsubscription?isCurrent=true").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["ResultMessage"], "Missing required field.");
    let (status, _) = h.get("getsubscription?subscriptionId=X12").await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    let (status, body) = h.post("nosuchoperation", json!({})).await;
    assert_eq!(
        (status, &body["ResultMessage"]),
        (StatusCode::NOT_FOUND, &json!("Item not found."))
    );
    let (status, _) = h.post("getsubscription", json!({})).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_price_change_aligned_to_next_billing_bills_the_new_price_at_renewal() {
    let h = Harness::start().await;
    let sub = h.subscription(&[(h.product(Taxes::Gross, 95.19), 1)]);
    assert_eq!(h.sim.orders_of(sub).len(), 1, "the initial purchase");
    assert_eq!(h.sim.orders_of(sub)[0].gross, 95.19);

    h.sim.advance_clock(10 * DAY);
    let (status, body) = h
        .post(
            "updatesubscriptionitemprice",
            price_change(sub, 100.0, false, Some(1)),
        )
        .await;
    assert_eq!(
        (status, &body["ResultMessage"]),
        (StatusCode::OK, &json!("OK"))
    );

    // The item's next-billing prices change now; nothing is billed now.
    let now = h.current(sub).await;
    let first = item(&now, 1);
    assert_eq!(first["NextBillingCustomerGrossPrice"], 100.0);
    assert_eq!(first["NextBillingCustomerNetPrice"], 84.03);
    assert_eq!(first["NextBillingCustomerVatPrice"], 15.97);
    assert_eq!(first["Version"], 2);
    assert_eq!(now["Items"].as_array().map(Vec::len), Some(1));
    assert_eq!(h.sim.orders_of(sub).len(), 1);
    // Without isCurrent=true the history is listed too: two versions of running number 1.
    let (_, all) = h
        .get(&format!("getsubscription?subscriptionId=S{sub}"))
        .await;
    let versions: Vec<(Value, Value)> = all["Subscription"]["Items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["IsCurrent"].clone(),
                i["NextBillingCustomerGrossPrice"].clone(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [(json!(false), json!(95.19)), (json!(true), json!(100.0))]
    );

    // The renewal on the next billing date bills 100.00 and moves the date one interval on.
    h.sim.advance_clock(21 * DAY);
    let orders = h.sim.orders_of(sub);
    assert_eq!(orders.len(), 2);
    let renewal = &orders[1];
    assert_eq!(renewal.kind, OrderKind::Renewal);
    assert_eq!(
        (renewal.gross, renewal.net, renewal.vat),
        (100.0, 84.03, 15.97)
    );
    assert_eq!(renewal.created, START + 31 * DAY);
    assert_eq!(orders[0].gross, 95.19, "what was billed does not change");
    let after = h.current(sub).await;
    assert_eq!(after["NextBillingDate"], "2026-03-01T00:00:00Z");
    assert_eq!(item(&after, 1)["LastIntervalNo"], 2);
}

#[tokio::test]
async fn omitting_quantity_resets_the_seats_to_one_as_documented() {
    let h = Harness::start().await;
    let sub = h.subscription(&[(h.product(Taxes::Gross, 10.0), 25)]);
    assert_eq!(
        item(&h.current(sub).await, 1)["NextBillingCustomerGrossPrice"],
        250.0
    );

    let (status, _) = h
        .post(
            "updatesubscriptionitemprice",
            price_change(sub, 9.0, false, None),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let first = item(&h.current(sub).await, 1);
    assert_eq!(
        first["Quantity"], 1,
        "fact sheet §2: Quantity defaults to 1"
    );
    assert_eq!(first["NextBillingCustomerGrossPrice"], 9.0);

    // Sending the current quantity keeps the seats.
    h.post(
        "updatesubscriptionitemprice",
        price_change(sub, 9.0, false, Some(25)),
    )
    .await;
    let first = item(&h.current(sub).await, 1);
    assert_eq!(first["Quantity"], 25);
    assert_eq!(first["NextBillingCustomerGrossPrice"], 225.0);
}

#[tokio::test]
async fn customer_price_is_checked_against_currency_taxes_and_required_fields() {
    let h = Harness::start().await;
    let sub = h.subscription(&[(h.product(Taxes::Gross, 10.0), 1)]);
    let mut eur = price_change(sub, 12.0, false, Some(1));
    eur["CustomerPrice"]["Currency"] = json!("EUR");
    let (status, body) = h.post("updatesubscriptionitemprice", eur).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(
        body["ResultMessage"],
        "'CustomerPrice' currency differs from subscription currency"
    );

    let mut net = price_change(sub, 12.0, false, Some(1));
    net["CustomerPrice"]["IsGross"] = json!(false);
    let (status, _) = h.post("updatesubscriptionitemprice", net).await;
    assert_eq!(
        status,
        StatusCode::PAYMENT_REQUIRED,
        "IsGross must match the product's taxes"
    );

    for missing in ["Currency", "IsGross", "Value"] {
        let mut body = price_change(sub, 12.0, false, Some(1));
        body["CustomerPrice"]
            .as_object_mut()
            .expect("object")
            .remove(missing);
        let (status, body) = h.post("updatesubscriptionitemprice", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{missing}");
        assert_eq!(body["ResultMessage"], "Missing required field.");
    }
    let mut unknown = price_change(sub, 12.0, false, Some(1));
    unknown["quantity"] = json!(3);
    assert_eq!(
        h.post("updatesubscriptionitemprice", unknown).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        item(&h.current(sub).await, 1)["Version"],
        1,
        "nothing changed"
    );
}

#[tokio::test]
async fn a_preview_returns_prices_and_changes_nothing() {
    let h = Harness::start().await;
    let sub = h.subscription(&[(h.product(Taxes::Gross, 10.0), 2)]);
    let before = h.sim.subscription(sub);
    let mut body = price_change(sub, 20.0, true, Some(2));
    body["AlignmentSettings"]["GetCustomerPricePreviewOnly"] = json!(true);
    let (status, preview) = h.post("updatesubscriptionitemprice", body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(preview["PriceCurrencyId"], "USD");
    assert_eq!(preview["NextBillingCustomerGrossPrice"], 40.0);
    assert_eq!(preview["NextBillingCustomerNetPrice"], 33.61);
    assert_eq!(preview["NextBillingCustomerVatPrice"], 6.39);
    // At the start of the interval the whole difference is left to align.
    assert_eq!(preview["AlignmentCustomerGrossPrice"], 20.0);
    assert_eq!(h.sim.subscription(sub), before);
    assert_eq!(h.sim.orders_of(sub).len(), 1);
}

#[tokio::test]
async fn aligning_to_the_current_interval_bills_the_prorated_difference_now() {
    let h = Harness::start().await;
    let product = h.product(Taxes::Net, 10.0);
    let customer = h.customer();
    let sub = h
        .sim
        .create_subscription(SubscriptionSpec {
            customer_id: customer,
            currency: "USD".into(),
            interval_months: 0,
            interval_days: 30,
            grace_period_days: 0,
            renewal_type: RenewalType::Automatic,
            recurrence_count: None,
            items: vec![ItemSpec {
                product_id: product,
                quantity: 1,
                price: None,
            }],
        })
        .expect("subscription");
    h.sim.advance_clock(15 * DAY);
    let mut body = price_change(sub, 20.0, true, Some(1));
    body["CustomerPrice"]["IsGross"] = json!(false);
    let (status, _) = h.post("updatesubscriptionitemprice", body).await;
    assert_eq!(status, StatusCode::OK);
    let orders = h.sim.orders_of(sub);
    let alignment = orders.last().expect("an order");
    assert_eq!(alignment.kind, OrderKind::Alignment);
    // Half the interval left of a 10.00 net increase: 5.00 net + 19 % VAT.
    assert_eq!(
        (alignment.net, alignment.vat, alignment.gross),
        (5.0, 0.95, 5.95)
    );

    // A decrease aligned now would be a negative charge, which is not supported.
    let mut lower = price_change(sub, 5.0, true, Some(1));
    lower["CustomerPrice"]["IsGross"] = json!(false);
    assert_eq!(
        h.post("updatesubscriptionitemprice", lower).await.0,
        StatusCode::PAYMENT_REQUIRED
    );
}

#[tokio::test]
async fn update_subscription_item_changes_product_and_quantity() {
    let h = Harness::start().await;
    let small = h.product(Taxes::Gross, 10.0);
    let large = h.product(Taxes::Gross, 30.0);
    let sub = h.subscription(&[(small, 2)]);
    let (status, body) = h
        .post(
            "updatesubscriptionitem",
            json!({
                "SubscriptionId": sub, "RunningNumber": 1, "ProductId": large, "Quantity": 3,
                "UpdateAction": "Upgrade",
                "AlignmentSettings": {"AlignToCurrentInterval": false},
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first = item(&h.current(sub).await, 1);
    assert_eq!(
        (first["ProductId"].clone(), first["Quantity"].clone()),
        (json!(large), json!(3))
    );
    assert_eq!(first["NextBillingCustomerGrossPrice"], 90.0);
    let (status, _) = h
        .post(
            "updatesubscriptionitem",
            json!({"SubscriptionId": sub, "RunningNumber": 1, "ProductId": large,
                   "UpdateAction": "Sideways", "AlignmentSettings": {"AlignToCurrentInterval": false}}),
        )
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    let (status, _) = h
        .post(
            "updatesubscriptionitem",
            json!({"SubscriptionId": sub, "RunningNumber": 1, "ProductId": large, "UpdateAction": "Update"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "AlignmentSettings is required"
    );
}

#[tokio::test]
async fn deactivated_items_stop_billing_at_the_next_billing_date_and_can_be_reinstated() {
    let h = Harness::start().await;
    let a = h.product(Taxes::Gross, 10.0);
    let b = h.product(Taxes::Gross, 5.0);
    let sub = h.subscription(&[(a, 1), (b, 1)]);
    let deactivate = |items: Value, allow: bool| json!({"SubscriptionId": format!("S{sub}"), "Items": items, "GenerateMail": false, "AllowReinstate": allow});
    let (status, _) = h
        .post(
            "deactivatesubscriptionitems",
            deactivate(json!([1, 2]), true),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::PAYMENT_REQUIRED,
        "at least one item stays active"
    );
    let (status, _) = h
        .post("deactivatesubscriptionitems", deactivate(json!([7]), true))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h
        .post("deactivatesubscriptionitems", deactivate(json!([2]), true))
        .await;
    assert_eq!(status, StatusCode::OK);
    let second = item(&h.current(sub).await, 2);
    assert_eq!(second["Status"], "Deactivated");
    assert_eq!(second["DeactivationDate"], "2026-02-01T00:00:00Z");

    h.sim.advance_clock(31 * DAY);
    let renewal = h.sim.orders_of(sub).pop().expect("renewal");
    assert_eq!(renewal.kind, OrderKind::Renewal);
    assert_eq!(renewal.gross, 10.0, "the deactivated item is not billed");
    assert_eq!(renewal.items.len(), 1);

    let reinstate =
        |items: Value| json!({"SubscriptionId": sub, "Items": items, "GenerateMail": false});
    let (status, _) = h
        .post("reinstatesubscriptionitems", reinstate(json!([1])))
        .await;
    assert_eq!(
        status,
        StatusCode::PAYMENT_REQUIRED,
        "only Deactivated items are reinstated"
    );
    let (status, _) = h
        .post("reinstatesubscriptionitems", reinstate(json!([2])))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(item(&h.current(sub).await, 2)["Status"], "Active");

    // Without AllowReinstate the deactivation is final.
    h.post(
        "deactivatesubscriptionitems",
        json!({"SubscriptionId": sub, "Items": [2]}),
    )
    .await;
    let (status, _) = h
        .post("reinstatesubscriptionitems", reinstate(json!([2])))
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
}

#[tokio::test]
async fn manual_renewal_cancels_the_subscription_which_bills_nothing_after_its_end() {
    let (h, mut rx) = with_receiver(0).await;
    let sub = h.subscription(&[(h.product(Taxes::Gross, 10.0), 1)]);
    let (status, _) = h
        .post(
            "updatesubscriptionrenewaltype",
            json!({"SubscriptionId": format!("S{sub}"), "RenewalType": "Manual"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let now = h.current(sub).await;
    assert_eq!(
        (now["Status"].clone(), now["RenewalType"].clone()),
        (json!("Deactivated"), json!("Manual"))
    );
    assert_eq!(now["EndDate"], "2026-02-01T00:00:00Z");
    assert_eq!(item(&now, 1)["Status"], "Deactivated");
    let (_, changed) = next_of(&mut rx, "SubscriptionRenewalTypeChangedNotification").await;
    assert_eq!(changed["renewalType"], "Manual");
    assert_eq!(changed["subscriptionId"], sub);
    let (_, cancelled) = next_of(&mut rx, "RecurringBillingCanceledNotification").await;
    assert_eq!(cancelled["status"], "Deactivated");

    h.sim.advance_clock(100 * DAY);
    assert_eq!(h.sim.orders_of(sub).len(), 1, "only the initial purchase");

    let (status, _) = h
        .post(
            "updatesubscriptionrenewaltype",
            json!({"SubscriptionId": sub, "RenewalType": "Weekly"}),
        )
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    let (status, _) = h
        .post(
            "updatesubscriptionrenewaltype",
            json!({"SubscriptionId": sub, "RenewalType": "Automatic"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    next_of(&mut rx, "RecurringBillingReinstatedNotification").await;
    // The billing date passed while cancelled: the reactivated subscription renews at once.
    assert_eq!(h.current(sub).await["Status"], "Active");
    assert_eq!(h.sim.orders_of(sub).len(), 2);
}

#[tokio::test]
async fn next_billing_date_must_be_a_minute_ahead_and_moves_the_renewal() {
    let h = Harness::start().await;
    let sub = h.subscription(&[(h.product(Taxes::Gross, 10.0), 1)]);
    let set = |date: String| json!({"SubscriptionId": format!("S{sub}"), "NextBillingDate": date});
    let (status, _) = h
        .post("updatenextbillingdate", set(rfc3339(START + 30)))
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    let (status, _) = h
        .post("updatenextbillingdate", set("tomorrow".into()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = h
        .post("updatenextbillingdate", set("2026-02-15T00:00:00Z".into()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        h.current(sub).await["NextBillingDate"],
        "2026-02-15T00:00:00Z"
    );
    h.sim.advance_clock(40 * DAY);
    assert_eq!(h.sim.orders_of(sub).len(), 1, "no renewal on the old date");
    h.sim.advance_clock(5 * DAY);
    assert_eq!(h.sim.orders_of(sub).len(), 2);
    assert_eq!(
        h.current(sub).await["NextBillingDate"],
        "2026-03-15T00:00:00Z"
    );
}

#[tokio::test]
async fn failed_payments_go_to_grace_then_hold_and_renewsubscription_recovers() {
    let (h, mut rx) = with_receiver(0).await;
    let customer = h.customer();
    let sub = h
        .sim
        .create_subscription(SubscriptionSpec {
            customer_id: customer,
            currency: "USD".into(),
            interval_months: 1,
            interval_days: 0,
            grace_period_days: 3,
            renewal_type: RenewalType::Automatic,
            recurrence_count: None,
            items: vec![ItemSpec {
                product_id: h.product(Taxes::Gross, 10.0),
                quantity: 1,
                price: None,
            }],
        })
        .expect("subscription");
    h.sim.set_payment_fails(customer, true).expect("customer");
    h.sim.advance_clock(31 * DAY);
    assert_eq!(h.current(sub).await["Status"], "Grace");
    next_of(&mut rx, "RecurringBillingOnGraceNotification").await;
    let (status, _) = h
        .post("renewsubscription", json!({"SubscriptionId": sub}))
        .await;
    assert_eq!(
        status,
        StatusCode::PAYMENT_REQUIRED,
        "the payment still fails"
    );
    h.sim.advance_clock(3 * DAY);
    assert_eq!(h.current(sub).await["Status"], "Hold");
    next_of(&mut rx, "RecurringBillingOnHoldNotification").await;

    h.sim.set_payment_fails(customer, false).expect("customer");
    let (status, _) = h
        .post(
            "renewsubscription",
            json!({"SubscriptionId": format!("S{sub}")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let after = h.current(sub).await;
    assert_eq!(after["Status"], "Active");
    assert_eq!(after["NextBillingDate"], "2026-03-01T00:00:00Z");
    let (_, paid) = next_of(&mut rx, "PaidOrderNotification").await;
    assert_eq!(paid["purchaseId"], h.sim.orders_of(sub)[1].purchase_id);
}

#[tokio::test]
async fn paid_order_notifications_carry_the_envelope_and_a_failed_one_is_retried_two_hours_later() {
    let (h, mut rx) = with_receiver(1).await;
    let sub = h.subscription(&[(h.product(Taxes::Gross, 95.19), 1)]);
    let (headers, first) = rx.recv().await.expect("first attempt");
    assert_eq!(first["meta"]["type"], "PaidOrderNotification");
    assert_eq!(first["meta"]["date"], "2026-01-01T00:00:00.000000");
    assert_eq!(
        first["meta"]["schemaUrl"],
        "https://www.cleverbridge.com/JsonNotificationSchemas/PaidOrderNotification"
    );
    assert_eq!(first["items"][0]["recurringBilling"]["subscriptionId"], sub);
    assert_eq!(
        first["items"][0]["recurringBilling"]["subscriptionEventtypeId"],
        "New"
    );
    assert_eq!(first["customerGrossPrice"], 95.19);
    // The operator's credentials, as Basic auth (the assumption: no signature is documented).
    assert_eq!(
        headers["authorization"],
        "Basic Y2ItaG9vazpob29rLXNlY3JldA=="
    );

    until(&h, |n| {
        n.first().is_some_and(|n| n.attempts == 1 && !n.in_flight)
    })
    .await;
    h.sim.advance_clock(2 * 3600 - 1);
    assert_eq!(
        h.sim.notifications()[0].attempts,
        1,
        "no retry before two hours"
    );
    h.sim.advance_clock(1);
    let (_, retried) = rx.recv().await.expect("the retry");
    assert_eq!(retried, first);
    until(&h, |n| n[0].delivered_at == Some(START + 2 * 3600)).await;

    h.sim.advance_clock(31 * DAY);
    let (_, renewal) = next_of(&mut rx, "PaidOrderNotification").await;
    assert_eq!(
        renewal["items"][0]["recurringBilling"]["subscriptionEventtypeId"],
        "Renewed"
    );
    assert!(
        renewal["subscriptionRevenueCategoryId"]
            .as_str()
            .is_some_and(|c| c.ends_with("Renewal"))
    );
}

#[tokio::test]
async fn notifications_can_be_held_listed_released_and_duplicated() {
    let (h, mut rx) = with_receiver(0).await;
    h.sim.hold_notifications();
    let sub = h.subscription(&[(h.product(Taxes::Gross, 10.0), 1)]);
    let http = reqwest::Client::new();
    let listed: Value = http
        .get(h.url("/_sim/notifications"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(listed[0]["kind"], "PaidOrderNotification");
    assert_eq!(listed[0]["held"], true);
    assert_eq!(listed[0]["attempts"], 0);

    h.sim.faults().set(Faults {
        duplicate_webhook_rate: 1.0,
        ..Faults::default()
    });
    let released: Value = http
        .post(h.url("/_sim/notifications/release"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(released["released"], json!([1]));
    let (_, one) = rx.recv().await.expect("delivery");
    let (_, two) = rx.recv().await.expect("duplicate");
    assert_eq!(one, two);
    assert_eq!(one["items"][0]["recurringBilling"]["subscriptionId"], sub);
    while h.sim.stats().notification_duplicates == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_refund_deactivates_the_subscription_and_is_notified() {
    let (h, mut rx) = with_receiver(0).await;
    let sub = h.subscription(&[(h.product(Taxes::Gross, 10.0), 1)]);
    let purchase = h.sim.orders_of(sub)[0].purchase_id;
    let r = reqwest::Client::new()
        .post(h.url(&format!("/_sim/orders/{purchase}/refund")))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::OK);
    let (_, refund) = next_of(&mut rx, "RefundNotification").await;
    assert_eq!(refund["purchaseId"], purchase);
    assert_eq!(h.current(sub).await["Status"], "Deactivated");
    h.sim.advance_clock(62 * DAY);
    assert_eq!(h.sim.orders_of(sub).len(), 1);
    assert!(h.sim.orders_of(sub)[0].refunded);
}

#[tokio::test]
async fn subscriptions_finish_after_their_recurrence_count() {
    let h = Harness::start().await;
    let customer = h.customer();
    let sub = h
        .sim
        .create_subscription(SubscriptionSpec {
            customer_id: customer,
            currency: "USD".into(),
            interval_months: 1,
            interval_days: 0,
            grace_period_days: 0,
            renewal_type: RenewalType::Automatic,
            recurrence_count: Some(2),
            items: vec![ItemSpec {
                product_id: h.product(Taxes::Gross, 10.0),
                quantity: 1,
                price: None,
            }],
        })
        .expect("subscription");
    h.sim.advance_clock(365 * DAY);
    assert_eq!(h.sim.orders_of(sub).len(), 2);
    let now = h.current(sub).await;
    assert_eq!(now["Status"], "Finished");
    assert_eq!(item(&now, 1)["Status"], "Finished");
}

#[tokio::test]
async fn subscriptions_for_customer_by_one_identifier() {
    let h = Harness::start().await;
    let sub = h.subscription(&[(h.product(Taxes::Gross, 10.0), 1)]);
    for query in [
        "customerEmail=ada%40example.com",
        "customerReferenceId=junction-ada",
    ] {
        let (status, body) = h
            .get(&format!(
                "getsubscriptionsforcustomer?{query}&isCurrent=true"
            ))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["Subscriptions"][0]["Id"], sub);
    }
    let (status, _) = h.get("getsubscriptionsforcustomer").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = h
        .get("getsubscriptionsforcustomer?customerId=1&customerEmail=ada%40example.com")
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    let (status, _) = h
        .get("getsubscriptionsforcustomer?customerEmail=nobody%40example.com")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn faults_apply_to_the_api_and_are_set_through_sim_faults() {
    let h = Harness::start().await;
    let sub = h.subscription(&[(h.product(Taxes::Gross, 10.0), 1)]);
    let http = reqwest::Client::new();
    let set = |faults: Value| http.put(h.url("/_sim/faults")).json(&faults).send();
    set(json!({"rate_limit_rate": 1.0, "retry_after_s": 7}))
        .await
        .expect("sent");
    let r = h
        .authed(
            reqwest::Method::GET,
            &format!("/subscription/getsubscription?subscriptionId={sub}"),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "7");
    assert!(r.json::<Value>().await.expect("json")["ResultMessage"].is_string());

    set(json!({"error_rate": 1.0})).await.expect("sent");
    assert_eq!(
        h.get(&format!("getsubscription?subscriptionId={sub}"))
            .await
            .0,
        StatusCode::INTERNAL_SERVER_ERROR
    );

    set(json!({"silent_drop_rate": 1.0})).await.expect("sent");
    let (status, body) = h
        .post(
            "updatesubscriptionitemprice",
            price_change(sub, 50.0, false, Some(1)),
        )
        .await;
    assert_eq!(
        (status, &body["ResultMessage"]),
        (StatusCode::OK, &json!("OK"))
    );
    assert_eq!(
        item(&h.current(sub).await, 1)["NextBillingCustomerGrossPrice"],
        10.0
    );
    let (status, _) = h
        .post(
            "updatesubscriptionitemprice",
            price_change(sub, 50.0, false, Some(0)),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::PAYMENT_REQUIRED,
        "a dropped write is still validated"
    );

    set(json!({"error_after_write_rate": 1.0}))
        .await
        .expect("sent");
    let (status, _) = h
        .post(
            "updatesubscriptionitemprice",
            price_change(sub, 50.0, false, Some(1)),
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    set(json!({})).await.expect("sent");
    assert_eq!(
        item(&h.current(sub).await, 1)["NextBillingCustomerGrossPrice"],
        50.0,
        "the write happened"
    );
    let stats = h.sim.stats();
    assert_eq!(
        (
            stats.faults_injected,
            stats.silent_drops,
            stats.errors_after_write
        ),
        (2, 1, 1)
    );
}

#[tokio::test]
async fn setup_and_clock_work_through_the_control_api() {
    let h = Harness::start().await;
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| http.post(h.url(path)).json(&body).send();
    let product: Value = post(
        "/_sim/products",
        json!({"id": 4711, "name": "Seats", "taxes": "Net", "vat_rate": 20.0, "prices": {"EUR": 8.0}}),
    )
    .await
    .expect("sent")
    .json()
    .await
    .expect("json");
    assert_eq!(product["id"], 4711);
    let customer: Value = post("/_sim/customers", json!({"email": "bob@example.com"}))
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let created: Value = post(
        "/_sim/subscriptions",
        json!({"customer_id": customer["id"], "currency": "EUR", "interval_months": 1,
               "items": [{"product_id": 4711, "quantity": 5}]}),
    )
    .await
    .expect("sent")
    .json()
    .await
    .expect("json");
    let sub = created["Id"].as_u64().expect("id");
    let first = item(&h.current(sub).await, 1);
    assert_eq!(
        (
            first["NextBillingCustomerNetPrice"].clone(),
            first["NextBillingCustomerGrossPrice"].clone()
        ),
        (json!(40.0), json!(48.0))
    );
    let advanced: Value = post("/_sim/clock/advance", json!({"secs": 31 * DAY}))
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(advanced["now"], START + 31 * DAY);
    let orders: Value = http
        .get(h.url("/_sim/orders"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(orders.as_array().map(Vec::len), Some(2));
    assert_eq!(orders[1]["kind"], "Renewal");
    assert_eq!(orders[1]["gross"], 48.0);
}

#[tokio::test]
async fn a_payment_reminder_goes_out_the_time_frame_before_each_automatic_renewal() {
    let h = Harness::with(CleverbridgeSimConfig {
        reminder_days: Some(7),
        ..config()
    })
    .await;
    let sub = h.subscription(&[(h.product(Taxes::Gross, 10.0), 1)]);
    let reminders = |h: &Harness| -> Vec<NotificationInfo> {
        h.sim
            .notifications()
            .into_iter()
            .filter(|n| n.kind == "SubscriptionReminderChargeNotification")
            .collect()
    };
    // Monthly from 1 January: renewal on 1 February, reminder seven days before.
    h.sim.advance_clock(24 * DAY - 1);
    assert!(reminders(&h).is_empty(), "not before the time frame");
    h.sim.advance_clock(1);
    let sent = reminders(&h);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].created, START + 24 * DAY);
    let item = &sent[0].body["items"][0];
    assert_eq!(item["recurringBilling"]["subscriptionId"], sub);
    assert_eq!(
        item["recurringBilling"]["nextBillingDate"],
        "2026-02-01T00:00:00Z"
    );
    assert_eq!(item["customerGrossPrice"], 10.0);
    // One per renewal: the next one comes seven days before 1 March.
    h.sim.advance_clock(7 * DAY);
    assert_eq!(reminders(&h).len(), 1);
    h.sim.advance_clock(21 * DAY);
    assert_eq!(reminders(&h).len(), 2);
    // A cancelled subscription renews no more and is not reminded.
    let (status, body) = h
        .post(
            "updatesubscriptionrenewaltype",
            json!({"SubscriptionId": format!("S{sub}"), "RenewalType": "Manual"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    h.sim.advance_clock(40 * DAY);
    assert_eq!(reminders(&h).len(), 2);
}
