//! The `/subscription/<operation>` endpoints (fact sheet §2): reads are GET with a query
//! string, writes POST with a PascalCase JSON body; every answer carries `ResultMessage`.

use crate::faults::Fault;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Map, Value, json};

use super::error::CbError;
use super::model::RenewalType;
use super::money::decimal;
use super::store::{Alignment, CustomerPrice, ItemChange, Preview, Store};
use super::{Shared, clock, control, gate, render};

type Reply = Result<Response, CbError>;

pub fn app(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/subscription/{operation}", any(operation))
        .layer(from_fn_with_state(Arc::clone(&shared), gate::gate));
    api.merge(control::router())
        .fallback(|| async { CbError::not_found() })
        .with_state(shared)
}

/// A JSON answer with Cleverbridge's content type.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn ok(mut fields: Map<String, Value>) -> Response {
    fields.insert("ResultMessage".into(), json!("OK"));
    json_response(StatusCode::OK, &Value::Object(fields))
}

async fn operation(
    State(sim): State<Arc<Shared>>,
    Path(op): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Reply {
    let read = matches!(
        op.as_str(),
        "getsubscription" | "getsubscriptionsforcustomer"
    );
    let write = matches!(
        op.as_str(),
        "updatesubscriptionitemprice"
            | "updatesubscriptionitem"
            | "deactivatesubscriptionitems"
            | "reinstatesubscriptionitems"
            | "updatesubscriptionrenewaltype"
            | "updatenextbillingdate"
            | "renewsubscription"
    );
    if !read && !write {
        return Err(CbError::not_found());
    }
    let expected = if read { Method::GET } else { Method::POST };
    if method != expected {
        return Err(CbError::method_not_allowed(method.as_str()));
    }
    if read {
        let query = Query::parse(query.as_deref().unwrap_or_default());
        return match op.as_str() {
            "getsubscription" => get_subscription(&sim, &query),
            _ => get_subscriptions_for_customer(&sim, &query),
        };
    }
    match op.as_str() {
        "updatesubscriptionitemprice" => update_item_price(&sim, &body),
        "updatesubscriptionitem" => update_item(&sim, &body),
        "deactivatesubscriptionitems" => deactivate(&sim, &body),
        "reinstatesubscriptionitems" => reinstate(&sim, &body),
        "updatesubscriptionrenewaltype" => renewal_type(&sim, &body),
        "updatenextbillingdate" => next_billing_date(&sim, &body),
        _ => renew(&sim, &body),
    }
}

// ----- reads -----

struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: &str) -> Self {
        Self(
            form_urlencoded::parse(raw.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// `isCurrent`: without it every item version is listed (the history); `true` shows only
    /// the live ones (fact sheet §3).
    fn is_current(&self) -> Result<bool, CbError> {
        match self
            .get("isCurrent")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(CbError::invalid("'isCurrent' is invalid.")),
        }
    }
}

fn get_subscription(sim: &Shared, q: &Query) -> Reply {
    let id = subscription_id(q.get("subscriptionId").ok_or_else(CbError::missing_field)?)?;
    let current = q.is_current()?;
    let (store, _) = sim.begin();
    let sub = store.sub(id)?;
    Ok(ok(Map::from_iter([(
        "Subscription".to_owned(),
        render::subscription(&store, sub, current),
    )])))
}

/// fact sheet §2: one of `customerId`, `customerReferenceId`, `customerEmail`.
fn get_subscriptions_for_customer(sim: &Shared, q: &Query) -> Reply {
    let given: Vec<(&str, &str)> = ["customerId", "customerReferenceId", "customerEmail"]
        .into_iter()
        .filter_map(|k| q.get(k).map(|v| (k, v)))
        .collect();
    let (key, value) = match given.as_slice() {
        [] => return Err(CbError::missing_field()),
        [one] => *one,
        _ => {
            return Err(CbError::invalid(
                "Only one of 'customerId', 'customerReferenceId', 'customerEmail' is allowed.",
            ));
        }
    };
    let current = q.is_current()?;
    let (store, _) = sim.begin();
    let customer = store
        .customers
        .values()
        .find(|c| match key {
            "customerId" => c.id.to_string() == value,
            "customerReferenceId" => c.reference_id == value,
            _ => c.email.eq_ignore_ascii_case(value),
        })
        .ok_or_else(CbError::not_found)?;
    let subs: Vec<Value> = store
        .subs
        .values()
        .filter(|s| s.customer_id == customer.id)
        .map(|s| render::subscription(&store, s, current))
        .collect();
    Ok(ok(Map::from_iter([(
        "Subscriptions".to_owned(),
        json!(subs),
    )])))
}

/// fact sheet §3: `S67890819` or `67890819`, as a string or a number.
fn subscription_id(raw: &str) -> Result<u64, CbError> {
    let digits = raw.strip_prefix(['S', 's']).unwrap_or(raw);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CbError::invalid("'SubscriptionId' is invalid."));
    }
    digits
        .parse()
        .map_err(|_| CbError::invalid("'SubscriptionId' is invalid."))
}

// ----- write bodies -----

/// A JSON object body; unknown fields are refused (the strictest reading), `null` counts as
/// absent.
struct Body(Map<String, Value>);

impl Body {
    fn parse(bytes: &[u8], allowed: &[&str]) -> Result<Self, CbError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|_| CbError::bad_request("The request body is not valid JSON."))?;
        let Value::Object(map) = value else {
            return Err(CbError::bad_request(
                "The request body must be a JSON object.",
            ));
        };
        Self::check(map, allowed)
    }

    fn check(map: Map<String, Value>, allowed: &[&str]) -> Result<Self, CbError> {
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(CbError::bad_request(format!("Unknown field '{unknown}'.")));
        }
        Ok(Self(map))
    }

    fn field(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    fn wrong(key: &str) -> CbError {
        CbError::bad_request(format!("'{key}' is invalid."))
    }

    fn subscription_id(&self) -> Result<u64, CbError> {
        match self.field("SubscriptionId") {
            None => Err(CbError::missing_field()),
            Some(Value::String(s)) => subscription_id(s),
            Some(Value::Number(n)) => n.as_u64().ok_or_else(|| Self::wrong("SubscriptionId")),
            Some(_) => Err(Self::wrong("SubscriptionId")),
        }
    }

    fn u32(&self, key: &str) -> Result<Option<u32>, CbError> {
        self.field(key)
            .map(|v| {
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| Self::wrong(key))
            })
            .transpose()
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, CbError> {
        self.field(key)
            .map(|v| v.as_bool().ok_or_else(|| Self::wrong(key)))
            .transpose()
    }

    fn string(&self, key: &str) -> Result<Option<String>, CbError> {
        self.field(key)
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| Self::wrong(key))
            })
            .transpose()
    }

    fn object(&self, key: &str, allowed: &[&str]) -> Result<Option<Body>, CbError> {
        match self.field(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Self::check(map.clone(), allowed).map(Some),
            Some(_) => Err(Self::wrong(key)),
        }
    }

    fn running_numbers(&self, key: &str) -> Result<Vec<u32>, CbError> {
        let items = self
            .field(key)
            .ok_or_else(CbError::missing_field)?
            .as_array()
            .ok_or_else(|| Self::wrong(key))?;
        items
            .iter()
            .map(|v| {
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| Self::wrong(key))
            })
            .collect()
    }

    /// `CustomerPrice{Currency, IsGross, Value}`: fact sheet §2, all three required.
    fn customer_price(&self) -> Result<Option<CustomerPrice>, CbError> {
        let Some(p) = self.object("CustomerPrice", &["Currency", "IsGross", "Value"])? else {
            return Ok(None);
        };
        let value = p
            .field("Value")
            .ok_or_else(CbError::missing_field)?
            .as_f64()
            .ok_or_else(|| Self::wrong("Value"))?;
        Ok(Some(CustomerPrice {
            currency: p.string("Currency")?.ok_or_else(CbError::missing_field)?,
            is_gross: p.bool("IsGross")?.ok_or_else(CbError::missing_field)?,
            value,
        }))
    }

    /// `AlignmentSettings` (fact sheet §2). The guides call the parameter required, so the
    /// strictest reading requires it and its `AlignToCurrentInterval`.
    fn alignment(&self) -> Result<Alignment, CbError> {
        let a = self
            .object(
                "AlignmentSettings",
                &[
                    "AlignToCurrentInterval",
                    "ExtendInterval",
                    "GetCustomerPricePreviewOnly",
                ],
            )?
            .ok_or_else(CbError::missing_field)?;
        Ok(Alignment {
            align_to_current_interval: a
                .bool("AlignToCurrentInterval")?
                .ok_or_else(CbError::missing_field)?,
            extend_interval: a.bool("ExtendInterval")?.unwrap_or(false),
            preview_only: a.bool("GetCustomerPricePreviewOnly")?.unwrap_or(false),
        })
    }
}

/// Applies a write, with the write faults: `silent_drop_rate` answers OK after validating
/// against a scratch copy that is thrown away; `error_after_write_rate` answers 500 after the
/// write is in.
fn write(
    sim: &Shared,
    preview: bool,
    f: impl FnOnce(&mut Store, i64) -> Result<Map<String, Value>, CbError>,
) -> Reply {
    let (mut store, now) = sim.begin();
    if !preview && sim.faults.strikes(Fault::SilentDrop) {
        let mut scratch = store.clone();
        let answer = f(&mut scratch, now)?;
        store.stats.silent_drops += 1;
        return Ok(ok(answer));
    }
    let answer = f(&mut store, now)?;
    let after_write = !preview && sim.faults.strikes(Fault::ErrorAfterWrite);
    if after_write {
        store.stats.errors_after_write += 1;
    }
    drop(store);
    sim.wake.notify_one();
    if after_write {
        return Err(CbError::server("An error has occurred."));
    }
    Ok(ok(answer))
}

const NAME_FIELDS: [&str; 3] = ["ProductName", "ProductNameEn", "ProductNameExtension"];

fn preview_fields(p: &Preview) -> Map<String, Value> {
    Map::from_iter(
        [
            (
                "AlignmentCustomerGrossPrice",
                json!(decimal(p.alignment.gross)),
            ),
            ("AlignmentCustomerNetPrice", json!(decimal(p.alignment.net))),
            ("AlignmentCustomerVatPrice", json!(decimal(p.alignment.vat))),
            (
                "NextBillingCustomerGrossPrice",
                json!(decimal(p.next_billing.gross)),
            ),
            (
                "NextBillingCustomerNetPrice",
                json!(decimal(p.next_billing.net)),
            ),
            (
                "NextBillingCustomerVatPrice",
                json!(decimal(p.next_billing.vat)),
            ),
            ("PriceCurrencyId", json!(p.currency)),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    )
}

fn change_item(sim: &Shared, change: ItemChange) -> Reply {
    let preview = change.alignment.preview_only;
    write(sim, preview, |store, now| {
        let p = store.change_item(&change, now)?;
        // fact sheet §2: the preview response adds the price fields [C].
        Ok(if preview {
            preview_fields(&p)
        } else {
            Map::new()
        })
    })
}

/// `updatesubscriptionitemprice`.
fn update_item_price(sim: &Shared, bytes: &[u8]) -> Reply {
    let body = Body::parse(
        bytes,
        &[
            "SubscriptionId",
            "RunningNumber",
            "CustomerPrice",
            "Quantity",
            "AlignmentSettings",
            "GenerateMail",
        ],
    )?;
    body.bool("GenerateMail")?;
    let change = ItemChange {
        subscription: body.subscription_id()?,
        running_no: body
            .u32("RunningNumber")?
            .ok_or_else(CbError::missing_field)?,
        product: None,
        // fact sheet §2: all three fields of CustomerPrice are required, and so is it here.
        price: Some(body.customer_price()?.ok_or_else(CbError::missing_field)?),
        // fact sheet §2: "Quantity is the total after the update and the reference says it
        // defaults to 1": a client that omits it resets the seats to 1.
        quantity: body.u32("Quantity")?.unwrap_or(1),
        alignment: body.alignment()?,
        product_name: None,
        product_name_extension: None,
    };
    change_item(sim, change)
}

/// `updatesubscriptionitem`.
fn update_item(sim: &Shared, bytes: &[u8]) -> Reply {
    let mut allowed = vec![
        "SubscriptionId",
        "RunningNumber",
        "ProductId",
        "Quantity",
        "UpdateAction",
        "CustomerPrice",
        "AlignmentSettings",
        "GenerateMail",
    ];
    allowed.extend(NAME_FIELDS);
    let body = Body::parse(bytes, &allowed)?;
    body.bool("GenerateMail")?;
    // fact sheet §2: UpdateAction is Upgrade, Downgrade or Update [C].
    match body.string("UpdateAction")?.as_deref() {
        None => return Err(CbError::missing_field()),
        Some("Upgrade" | "Downgrade" | "Update") => {}
        Some(other) => {
            return Err(CbError::invalid(format!(
                "'UpdateAction' {other} is invalid."
            )));
        }
    }
    let product = body
        .field("ProductId")
        .ok_or_else(CbError::missing_field)?
        .as_u64()
        .ok_or_else(|| Body::wrong("ProductId"))?;
    let name = match body.string("ProductName")? {
        Some(name) => Some(name),
        None => body.string("ProductNameEn")?,
    };
    let change = ItemChange {
        subscription: body.subscription_id()?,
        running_no: body
            .u32("RunningNumber")?
            .ok_or_else(CbError::missing_field)?,
        product: Some(product),
        price: body.customer_price()?,
        // The fact sheet gives the default of 1 for updatesubscriptionitemprice; the strictest
        // reading applies it to this endpoint's Quantity too [U].
        quantity: body.u32("Quantity")?.unwrap_or(1),
        alignment: body.alignment()?,
        product_name: name,
        product_name_extension: body.string("ProductNameExtension")?,
    };
    change_item(sim, change)
}

/// `deactivatesubscriptionitems`.
fn deactivate(sim: &Shared, bytes: &[u8]) -> Reply {
    let body = Body::parse(
        bytes,
        &["SubscriptionId", "Items", "GenerateMail", "AllowReinstate"],
    )?;
    body.bool("GenerateMail")?;
    let id = body.subscription_id()?;
    let items = body.running_numbers("Items")?;
    // Not reinstatable unless asked for (the strictest reading of an optional flag [C]).
    let allow = body.bool("AllowReinstate")?.unwrap_or(false);
    write(sim, false, |store, now| {
        store.deactivate_items(id, &items, allow, now)?;
        Ok(Map::new())
    })
}

/// `reinstatesubscriptionitems`.
fn reinstate(sim: &Shared, bytes: &[u8]) -> Reply {
    let body = Body::parse(bytes, &["SubscriptionId", "Items", "GenerateMail"])?;
    body.bool("GenerateMail")?;
    let id = body.subscription_id()?;
    let items = body.running_numbers("Items")?;
    write(sim, false, |store, now| {
        store.reinstate_items(id, &items, now)?;
        Ok(Map::new())
    })
}

/// `updatesubscriptionrenewaltype`.
fn renewal_type(sim: &Shared, bytes: &[u8]) -> Reply {
    let body = Body::parse(bytes, &["SubscriptionId", "RenewalType"])?;
    let id = body.subscription_id()?;
    let renewal = match body.string("RenewalType")?.as_deref() {
        None => return Err(CbError::missing_field()),
        Some("Automatic") => RenewalType::Automatic,
        Some("Manual") => RenewalType::Manual,
        Some(other) => {
            return Err(CbError::invalid(format!(
                "'RenewalType' {other} is invalid."
            )));
        }
    };
    write(sim, false, |store, now| {
        store.set_renewal_type(id, renewal, now)?;
        Ok(Map::new())
    })
}

/// `updatenextbillingdate`.
fn next_billing_date(sim: &Shared, bytes: &[u8]) -> Reply {
    let body = Body::parse(bytes, &["SubscriptionId", "NextBillingDate"])?;
    let id = body.subscription_id()?;
    let raw = body
        .string("NextBillingDate")?
        .ok_or_else(CbError::missing_field)?;
    let date = clock::parse_rfc3339(&raw).ok_or_else(|| Body::wrong("NextBillingDate"))?;
    write(sim, false, |store, now| {
        store.set_next_billing_date(id, date, now)?;
        Ok(Map::new())
    })
}

/// `renewsubscription`.
fn renew(sim: &Shared, bytes: &[u8]) -> Reply {
    let body = Body::parse(bytes, &["SubscriptionId"])?;
    let id = body.subscription_id()?;
    write(sim, false, |store, now| {
        store.renew_now(id, now)?;
        Ok(Map::new())
    })
}
