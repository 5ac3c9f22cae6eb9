//! Subscriptions as SuiteBilling keeps them (`docs/netsuite-mapping.md`): reading a
//! subscription with its lines, choosing the next step that makes it match a canonical
//! document, and the canonical document it reads back as.
//!
//! ```text
//! apply(write) -> read the subscription and its lines -> next step:
//!   missing                   -> billing account, price plans, subscription   (in progress)
//!   a price plan missing      -> price plans                                  (in progress)
//!   wanted line not included  -> subscription lines: pending activation       (in progress)
//!   suspended line to end     -> REACTIVATE change order                      (in progress)
//!   anything else that differs-> change orders (ACTIVATE, MODIFY_PRICING,
//!                                TERMINATE, SUSPEND, REACTIVATE), or deletes   (accepted)
//!   nothing differs           -> applied
//! ```
//!
//! Each step is chosen from what NetSuite holds now, so a write that crashed half way, or whose
//! step failed, carries on from where NetSuite is. Every request is asynchronous with its own
//! idempotency key derived from the write's key and the step's name.

use std::collections::BTreeMap;

use junction_connector_kit::form::pct;
use junction_connector_kit::{Error, Host, HttpRequest, Operation, Outcome, Write};
use serde_json::{Value, json};

use crate::api::{self, Config, Kind};
use crate::mapping::{self, Item, MappingError, Status, Subscription};
use crate::money;
use crate::references::Resolver;
use crate::steps::{self, Step};

/// A subscription line as the subscription's `subscriptionLine` sublist shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// `lineNumber`, the `sequence` change orders name it by.
    pub number: u64,
    /// The `subscriptionline` record's internal id.
    pub record: String,
    /// The item's external id (the source's product id).
    pub product: Option<String>,
    /// `NOT_INCLUDED`, `DRAFT`, `PENDING_ACTIVATION`, `ACTIVE`, `SUSPENDED`, `TERMINATED`.
    pub status: String,
    pub quantity: u64,
    /// The price plan's external id (the source's price id) and its rate in minor units.
    pub price: Option<(String, u64)>,
    /// When its activation takes effect, once one exists.
    pub start: Option<String>,
    /// When its termination takes effect, once one exists (it may lie ahead).
    pub end: Option<String>,
}

impl Line {
    fn is(&self, status: &str) -> bool {
        self.status.eq_ignore_ascii_case(status)
    }

    /// Whether the line bills now or is about to (active, suspended, pending activation).
    fn in_billing(&self) -> bool {
        self.is("ACTIVE") || self.is("SUSPENDED") || self.is("PENDING_ACTIVATION")
    }
}

/// A subscription as NetSuite holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub internal_id: String,
    pub external_id: Option<String>,
    pub customer: Option<String>,
    /// NetSuite's own status (`ACTIVE`, ...).
    pub status: String,
    pub currency: Option<String>,
    pub start_date: Option<String>,
    pub lines: Vec<Line>,
}

/// Reads a subscription (by `eid:<key>` or internal id) with its lines, their items and
/// price plans; `None` if NetSuite has no such subscription.
pub fn read(host: &dyn Host, config: &Config, id: &str) -> Result<Option<State>, Error> {
    let url = format!(
        "{}?expandSubResources=true",
        config.record_url(Kind::Subscription, id)
    );
    let response = api::send(host, HttpRequest::new("GET", url))?;
    if response.status == 404 {
        return Ok(None);
    }
    if !response.is_success() {
        return Err(crate::errors::classify(&response));
    }
    let record = response.json();
    let resolver = Resolver::new(host, config);
    let currency = mapping::currency_of(&record).map_err(Error::from)?;
    let mut lines = Vec::new();
    for line in record["subscriptionLine"]["items"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let product = match line.get("item") {
            Some(item) => resolver.external_id(item)?,
            None => None,
        };
        let price = match line.get("pricePlan").filter(|p| !p.is_null()) {
            Some(plan) => match resolver.expanded(plan)? {
                Some(plan) => price_of(&plan, currency.as_deref())?,
                None => None,
            },
            None => None,
        };
        lines.push(Line {
            number: line["lineNumber"].as_u64().unwrap_or_default(),
            record: mapping::reference(&line["subscriptionLine"], "id").unwrap_or_default(),
            product,
            status: mapping::reference(&line["status"], "id").unwrap_or_default(),
            quantity: whole(&line["quantity"]).unwrap_or_default(),
            price,
            start: mapping::text(line, "startDate"),
            end: mapping::text(line, "endDate"),
        });
    }
    lines.sort_by_key(|l| l.number);
    let customer = match record.get("customer") {
        Some(c) => resolver.external_id(c)?,
        None => None,
    };
    Ok(Some(State {
        internal_id: mapping::reference(&record["id"], "id").unwrap_or_default(),
        external_id: mapping::text(&record, "externalId"),
        customer,
        status: mapping::reference(&record["status"], "id").unwrap_or_default(),
        currency,
        start_date: mapping::text(&record, "startDate"),
        lines,
    }))
}

/// A price plan's external id and its (first) tier's value in minor units.
fn price_of(plan: &Value, currency: Option<&str>) -> Result<Option<(String, u64)>, Error> {
    let Some(eid) = mapping::text(plan, "externalId") else {
        return Ok(None);
    };
    let value = plan["priceTiers"]["items"][0]["value"].as_f64();
    let currency = mapping::currency_of(plan)
        .map_err(Error::from)?
        .or_else(|| currency.map(str::to_string))
        .unwrap_or_default();
    let minor = match value {
        Some(rate) => money::to_minor(rate, &currency)
            .map_err(|e| Error::rejected(format!("price plan {eid}: {e}")))?,
        None => return Ok(None),
    };
    Ok(Some((price_id_of_plan(&eid).to_string(), minor)))
}

fn whole(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0)
            .map(|f| f as u64)
    })
}

/// The canonical subscription a read-back shows, per the mapping's "Reading back" table.
pub fn canonical(state: &State, key: &str) -> Result<Subscription, MappingError> {
    let currency = state
        .currency
        .clone()
        .ok_or_else(|| MappingError::field("currency", "the subscription has no currency"))?;
    let status = Status::from_netsuite(&state.status).ok_or_else(|| {
        MappingError::field(
            "status",
            format!("unknown NetSuite subscription status `{}`", state.status),
        )
    })?;
    // What bills from now on: the lines in billing (none once terminated).
    let billing: Vec<&Line> = state.lines.iter().filter(|l| l.in_billing()).collect();
    let last_end = state.lines.iter().filter_map(|l| l.end.clone()).max();
    let mut items = Vec::with_capacity(billing.len());
    for line in &billing {
        let (price_id, unit_amount) = line.price.clone().ok_or_else(|| {
            MappingError::field(
                format!("subscriptionLine.items[{}].pricePlan", line.number),
                "the line has no price plan Junction can read",
            )
        })?;
        items.push(Item {
            id: None,
            price_id,
            product_id: line.product.clone(),
            quantity: line.quantity,
            unit_amount,
            currency: currency.clone(),
            interval: None,
            interval_count: None,
        });
    }
    mapping::sort_items(&mut items);
    // Billing stops when the last line in billing ends, or, once terminated, ended.
    let ends: Vec<Option<&String>> = billing.iter().map(|l| l.end.as_ref()).collect();
    let billing_stop_at = if status == Status::Canceled {
        last_end.as_deref().and_then(mapping::midnight)
    } else if !ends.is_empty() && ends.iter().all(Option::is_some) {
        ends.into_iter()
            .flatten()
            .max()
            .and_then(|d| mapping::midnight(d))
    } else {
        None
    };
    Ok(Subscription {
        id: state.external_id.clone().unwrap_or_else(|| key.to_string()),
        customer_id: state
            .customer
            .clone()
            .ok_or_else(|| MappingError::field("customer", "the subscription has no customer"))?,
        status,
        currency,
        items,
        interval: None,
        current_period_start: None,
        current_period_end: None,
        next_billing_at: None,
        cancel_at_period_end: billing_stop_at.is_some() && status != Status::Canceled,
        cancel_at: None,
        canceled_at: None,
        billing_stop_at,
        started_at: state.start_date.as_deref().and_then(mapping::midnight),
        metadata: BTreeMap::new(),
    })
}

/// The pipeline's SuiteBilling setup (`[connectors.netsuite.settings]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    pub subscription_plan: String,
    pub price_book: String,
    pub initial_term: String,
    pub billing_schedule: String,
}

impl Setup {
    /// Reads the setup's internal ids; a missing one pauses the connector instance
    /// (`unauthorized`) with the setting's name, since every subscription write needs it.
    pub fn from_host(host: &dyn Host) -> Result<Self, Error> {
        let get = |name: &str| {
            host.setting(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    Error::Unauthorized(format!(
                        "the netsuite connector needs the setting `{name}` (the internal id from the account's SuiteBilling setup; docs/netsuite-mapping.md)"
                    ))
                })
        };
        Ok(Self {
            subscription_plan: get("subscription-plan")?,
            price_book: get("price-book")?,
            initial_term: get("initial-term")?,
            billing_schedule: get("billing-schedule")?,
        })
    }
}

/// What a subscription write wants NetSuite to hold.
struct Wanted {
    doc: Subscription,
    /// Canonical status as NetSuite will hold it.
    status: Status,
    /// Lines wanted, by product: (price id, unit amount, quantity).
    products: BTreeMap<String, (String, u64, u64)>,
    /// The date changes take effect.
    effective: String,
    /// The date billing stops, if it does.
    stop: Option<String>,
    start: String,
}

fn wanted(write: &Write) -> Result<Wanted, Error> {
    let mut doc: Subscription = mapping::parse("subscription", &write.document)?;
    if write.operation == Operation::Delete {
        doc.status = Status::Canceled;
    }
    let mut products = BTreeMap::new();
    for (i, item) in doc.items.iter().enumerate().filter(|(_, i)| i.quantity > 0) {
        let product = item.product_id.clone().ok_or_else(|| Error::Rejected {
            message: format!(
                "items[{i}] ({}) names no product: NetSuite bills items, one per product",
                item.price_id
            ),
            field: Some(format!("items[{i}].product_id")),
        })?;
        api::check_external_id(&product, &format!("items[{i}].product_id"))?;
        api::check_external_id(&item.price_id, &format!("items[{i}].price_id"))?;
        if !item.currency.eq_ignore_ascii_case(&doc.currency) {
            return Err(Error::Rejected {
                message: format!(
                    "items[{i}]: currency `{}` differs from the subscription's `{}`",
                    item.currency, doc.currency
                ),
                field: Some(format!("items[{i}].currency")),
            });
        }
        if products
            .insert(
                product.clone(),
                (item.price_id.clone(), item.unit_amount, item.quantity),
            )
            .is_some()
        {
            return Err(Error::Rejected {
                message: format!(
                    "two items bill product {product}: NetSuite has one line per product"
                ),
                field: Some(format!("items[{i}].product_id")),
            });
        }
    }
    api::check_external_id(&doc.customer_id, "customer_id")?;
    money::exponent(&doc.currency).map_err(|e| Error::Rejected {
        message: e.to_string(),
        field: Some("currency".into()),
    })?;
    let stop = mapping::stop_date(&doc, write)?;
    let effective = mapping::change_date(write, stop.as_deref());
    let start = match &doc.started_at {
        Some(at) => mapping::date_of("started_at", at)?,
        None => effective.clone(),
    };
    Ok(Wanted {
        status: doc.status.as_kept(),
        doc,
        products,
        effective,
        stop,
        start,
    })
}

/// One change order to create (or, when one of its kind exists on that date for the lines,
/// to update).
struct Order {
    action: &'static str,
    date: String,
    sublines: Vec<Value>,
}

impl Order {
    fn new(action: &'static str, date: &str) -> Self {
        Self {
            action,
            date: date.to_string(),
            sublines: Vec::new(),
        }
    }
}

/// Makes NetSuite's subscription match the write: the next step of it (see the module doc).
pub fn apply(host: &dyn Host, config: &Config, write: &Write) -> Result<Outcome, Error> {
    let setup = Setup::from_host(host)?;
    let wanted = wanted(write)?;
    let eid = api::eid(&write.key)?;
    let Some(state) = read(host, config, &eid)? else {
        return create(host, config, write, &setup, &wanted);
    };
    if let Some(customer) = &state.customer
        && customer != &wanted.doc.customer_id
    {
        return Err(Error::Rejected {
            message: format!(
                "the NetSuite subscription belongs to customer {customer}; a subscription cannot change customer"
            ),
            field: Some("customer_id".into()),
        });
    }

    // Price plans the write needs and NetSuite lacks, and the plan each price bills with.
    let mut plans = Vec::new();
    let mut plan_ids: BTreeMap<&str, String> = BTreeMap::new();
    for (price, amount, _) in wanted.products.values() {
        let shown = state
            .lines
            .iter()
            .any(|l| l.price.as_ref() == Some(&(price.clone(), *amount)));
        if shown {
            continue;
        }
        let (plan, exists) = plan_for(host, config, price, *amount, &wanted.doc.currency)?;
        if !exists {
            plans.push(price_plan_step(
                config,
                &plan,
                *amount,
                &wanted.doc.currency,
            )?);
        }
        plan_ids.insert(price, plan);
    }
    let plan_of = |price: &str| {
        plan_ids
            .get(price)
            .cloned()
            .unwrap_or_else(|| price.to_string())
    };
    if !plans.is_empty() {
        return steps::send_all(host, config, write, plans, true);
    }

    // Every wanted product needs its line; lines come from the plan.
    let line_of = |product: &str| {
        state
            .lines
            .iter()
            .find(|l| l.product.as_deref() == Some(product))
    };
    for product in wanted.products.keys() {
        if line_of(product).is_none() {
            return Err(Error::Rejected {
                message: format!(
                    "the NetSuite subscription has no line for product {product}: add a service sale item with External ID {product} to the subscription plan (docs/netsuite-mapping.md, account setup)"
                ),
                field: Some("items".into()),
            });
        }
    }

    let ending = wanted.status == Status::Canceled;
    // A subscription that ends before NetSuite ever billed it is still recorded: its lines
    // are activated on its start and terminated on its stop date.
    let never_billed = !state.lines.iter().any(|l| l.start.is_some());
    // Lines to include: wanted, never activated, not yet pending.
    let mut include = Vec::new();
    if !ending || never_billed {
        for (product, (price, _, quantity)) in &wanted.products {
            let Some(line) = line_of(product) else {
                continue;
            };
            if line.is("NOT_INCLUDED") || line.is("DRAFT") {
                include.push(Step {
                    name: format!("include-line-{}", line.number),
                    absent: true,
                    request: HttpRequest::new(
                        "PATCH",
                        config.record_url_named("subscriptionline", &pct(&line.record)),
                    )
                    .body(
                        json!({
                            "subscriptionLineStatus": "PENDING_ACTIVATION",
                            "quantity": quantity,
                            "pricePlan": {"externalId": plan_of(price)},
                        })
                        .to_string(),
                    ),
                });
            } else if line.is("TERMINATED") {
                return Err(Error::Rejected {
                    message: format!(
                        "product {product} ended on this NetSuite subscription ({}); NetSuite does not reactivate a terminated line, so it needs a new subscription",
                        line.end.as_deref().unwrap_or("an earlier date")
                    ),
                    field: Some("items".into()),
                });
            }
        }
    }
    if !include.is_empty() {
        return steps::send_all(host, config, write, include, true);
    }

    // A suspended line that must end is reactivated first ("to terminate a subscription line
    // item, it must have a status of Active or Pending Activation").
    let ends_for_good = |l: &Line| {
        let product_wanted = l
            .product
            .as_ref()
            .is_some_and(|p| wanted.products.contains_key(p));
        ending || !product_wanted
    };
    let mut reactivate_first = Order::new("REACTIVATE", &wanted.effective);
    for line in state
        .lines
        .iter()
        .filter(|l| l.is("SUSPENDED") && ends_for_good(l))
    {
        reactivate_first
            .sublines
            .push(json!({"sequence": line.number, "apply": true}));
    }
    if !reactivate_first.sublines.is_empty() {
        let existing = change_orders(host, config, &state.internal_id)?;
        let step = order_step(config, &state, reactivate_first, &existing);
        return steps::send_all(host, config, write, vec![step], true);
    }

    // Everything else is change orders (and deletes of scheduled ends no longer wanted).
    let mut activate = Order::new("ACTIVATE", &wanted.start);
    let mut modify = Order::new("MODIFY_PRICING", &wanted.effective);
    let mut suspend = Order::new("SUSPEND", &wanted.effective);
    let mut reactivate = Order::new("REACTIVATE", &wanted.effective);
    let mut terminate: BTreeMap<String, Order> = BTreeMap::new();
    let mut end = |date: &str, line: &Line| {
        terminate
            .entry(date.to_string())
            .or_insert_with(|| Order::new("TERMINATE", date))
            .sublines
            .push(json!({"sequence": line.number, "apply": true}));
    };
    let mut undo_end = Vec::new();
    let suspended_wanted = wanted.status == Status::Paused;
    let today = junction_connector_kit::time::date(host.now_ms().div_euclid(1000));
    for line in &state.lines {
        let product = line.product.as_ref().and_then(|p| wanted.products.get(p));
        if ending && never_billed && product.is_some() && line.is("PENDING_ACTIVATION") {
            activate
                .sublines
                .push(json!({"sequence": line.number, "apply": true}));
        }
        let want = product.filter(|_| !ending);
        match want {
            Some((price, amount, quantity)) => {
                if line.is("PENDING_ACTIVATION") && line.start.is_none() {
                    // A line added to a running subscription starts when the change does.
                    if state.lines.iter().any(|l| l.start.is_some()) {
                        activate.date = wanted.effective.clone();
                    }
                    activate
                        .sublines
                        .push(json!({"sequence": line.number, "apply": true}));
                }
                if line.is("ACTIVE") || line.is("SUSPENDED") {
                    let mut change = json!({"sequence": line.number, "apply": true});
                    let mut changed = false;
                    if line.quantity != *quantity {
                        change["quantitynew"] = json!(quantity);
                        changed = true;
                    }
                    if line
                        .price
                        .as_ref()
                        .is_none_or(|(p, a)| p != price || a != amount)
                    {
                        change["priceplannew"] = json!({"externalId": plan_of(price)});
                        changed = true;
                    }
                    if changed && line.is("ACTIVE") {
                        modify.sublines.push(change);
                    }
                }
                if line.is("ACTIVE") && suspended_wanted {
                    suspend
                        .sublines
                        .push(json!({"sequence": line.number, "apply": true}));
                }
                if line.is("SUSPENDED") && !suspended_wanted {
                    reactivate
                        .sublines
                        .push(json!({"sequence": line.number, "apply": true}));
                }
                match (&line.end, &wanted.stop) {
                    (None, Some(stop)) => end(stop, line),
                    (Some(scheduled), Some(stop)) if scheduled != stop => {
                        undo_end.push(line.number);
                        end(stop, line);
                    }
                    (Some(_), None) => undo_end.push(line.number),
                    _ => {}
                }
            }
            None if (line.in_billing() && line.start.is_some())
                || line.is("PENDING_ACTIVATION") =>
            {
                // No longer wanted (or the subscription ends): terminated on the stop date
                // when billing stops, else when the change takes effect.
                let date = wanted
                    .stop
                    .clone()
                    .unwrap_or_else(|| wanted.effective.clone());
                match &line.end {
                    Some(scheduled) if *scheduled == date => {}
                    Some(_) => {
                        undo_end.push(line.number);
                        end(&date, line);
                    }
                    None => end(&date, line),
                }
            }
            None => {}
        }
    }
    // A line activated now can be suspended only once it is active: the suspension is the
    // next step.
    let suspend_next = suspended_wanted && !activate.sublines.is_empty();
    if suspend_next {
        let existing = change_orders(host, config, &state.internal_id)?;
        let step = order_step(config, &state, activate, &existing);
        return steps::send_all(host, config, write, vec![step], true);
    }
    let orders: Vec<Order> = [activate, modify, suspend, reactivate]
        .into_iter()
        .chain(terminate.into_values())
        .filter(|o| !o.sublines.is_empty())
        .collect();
    if orders.is_empty() && undo_end.is_empty() {
        return Ok(Outcome::Applied(state.internal_id));
    }
    // Only now are the subscription's change orders read: for the ends to withdraw, and for
    // the same-day orders to update instead of duplicating.
    let existing = change_orders(host, config, &state.internal_id)?;
    let mut requests = Vec::new();
    for number in undo_end {
        for order in existing
            .iter()
            .filter(|o| o.action == "TERMINATE" && o.sequences.contains(&number) && o.date > today)
        {
            requests.push(Step {
                name: format!("undo-terminate-{}", order.id),
                absent: true,
                request: HttpRequest::new(
                    "DELETE",
                    config.record_url_named("subscriptionchangeorder", &pct(&order.id)),
                ),
            });
        }
    }
    requests.dedup_by(|a, b| a.name == b.name);
    for order in orders {
        requests.push(order_step(config, &state, order, &existing));
    }
    if requests.is_empty() {
        return Ok(Outcome::Applied(state.internal_id));
    }
    steps::send_all(host, config, write, requests, false)
}

/// The write that closes a subscription when the source sent no final state: every line still
/// in billing ends on the write's effective date.
pub fn closing_write(
    host: &dyn Host,
    config: &Config,
    write: &Write,
) -> Result<Option<Write>, Error> {
    let Some(state) = read(host, config, &api::eid(&write.key)?)? else {
        return Ok(None);
    };
    let mut doc = canonical(&state, &write.key)?;
    doc.status = Status::Canceled;
    doc.billing_stop_at = None;
    Ok(Some(Write {
        document: serde_json::to_string(&doc).map_err(|e| Error::rejected(e.to_string()))?,
        ..write.clone()
    }))
}

/// The first steps of a subscription NetSuite does not have yet.
fn create(
    host: &dyn Host,
    config: &Config,
    write: &Write,
    setup: &Setup,
    wanted: &Wanted,
) -> Result<Outcome, Error> {
    let doc = &wanted.doc;
    let account = billing_account_id(&doc.customer_id, &doc.currency);
    let currency = json!({"refName": doc.currency.to_ascii_uppercase()});
    let mut steps = Vec::new();
    // The customer's billing account in this currency is made once, by its first subscription.
    if !exists(host, config, "billingaccount", &account)? {
        steps.push(Step {
            name: "billing-account".into(),
            absent: true,
            request: HttpRequest::new(
                "PUT",
                config.record_url_named("billingaccount", &api::eid(&account)?),
            )
            .body(
                json!({
                    "name": account,
                    "customer": {"externalId": doc.customer_id},
                    "currency": currency,
                    "billingSchedule": {"id": setup.billing_schedule},
                    "startDate": wanted.start,
                })
                .to_string(),
            ),
        });
    }
    for (price, amount, _) in wanted.products.values() {
        let (plan, exists) = plan_for(host, config, price, *amount, &doc.currency)?;
        if !exists {
            steps.push(price_plan_step(config, &plan, *amount, &doc.currency)?);
        }
    }
    steps.push(Step {
        name: "subscription".into(),
        // `create` runs only for a subscription NetSuite does not have.
        absent: true,
        request: HttpRequest::new(
            "PUT",
            config.record_url(Kind::Subscription, &api::eid(&write.key)?),
        )
        .body(
            json!({
                "name": write.key,
                "customer": {"externalId": doc.customer_id},
                "billingAccount": {"externalId": account},
                "subscriptionPlan": {"id": setup.subscription_plan},
                "priceBook": {"id": setup.price_book},
                "initialTerm": {"id": setup.initial_term},
                "currency": currency,
                "startDate": wanted.start,
            })
            .to_string(),
        ),
    });
    steps::send_all(host, config, write, steps, true)
}

/// A customer's billing account for one currency: `<customer>-<currency>`.
pub fn billing_account_id(customer: &str, currency: &str) -> String {
    format!("{customer}-{}", currency.to_ascii_lowercase())
}

/// The price plan that bills `price` at `amount`, and whether NetSuite has it. A source price
/// is one price plan (External ID = the price id) at its amount. A source whose price ids do
/// not change with the amount (Cleverbridge, where the product is the price) can ask for
/// another amount under the same id: that amount gets a plan of its own,
/// `<price>--<amount in minor units>`, because changing the first plan's rate would reprice
/// every line billing with it at once, including periods before the change takes effect.
fn plan_for(
    host: &dyn Host,
    config: &Config,
    price: &str,
    amount: u64,
    currency: &str,
) -> Result<(String, bool), Error> {
    let response = api::send(
        host,
        HttpRequest::new(
            "GET",
            config.record_url_named("priceplan", &api::eid(price)?),
        ),
    )?;
    match response.status {
        404 => return Ok((price.to_string(), false)),
        _ if response.is_success() => {}
        _ => return Err(crate::errors::classify(&response)),
    }
    if price_of(&response.json(), Some(currency))?.is_some_and(|(_, rate)| rate == amount) {
        return Ok((price.to_string(), true));
    }
    let variant = format!("{price}{PLAN_AMOUNT_SEPARATOR}{amount}");
    let exists = exists(host, config, "priceplan", &variant)?;
    Ok((variant, exists))
}

/// Between a price id and an amount in the External ID of a price plan for another amount of
/// that price ([`plan_for`]); External IDs allow letters, digits, `_` and `-`.
const PLAN_AMOUNT_SEPARATOR: &str = "--";

/// The source's price id of a price plan's External ID ([`plan_for`]).
fn price_id_of_plan(eid: &str) -> &str {
    match eid.rsplit_once(PLAN_AMOUNT_SEPARATOR) {
        Some((price, amount))
            if !price.is_empty()
                && !amount.is_empty()
                && amount.bytes().all(|b| b.is_ascii_digit()) =>
        {
            price
        }
        _ => eid,
    }
}

/// Whether NetSuite has the `record` (a record type) with External ID `external_id`.
fn exists(
    host: &dyn Host,
    config: &Config,
    record: &str,
    external_id: &str,
) -> Result<bool, Error> {
    let url = format!(
        "{}?fields=externalId",
        config.record_url_named(record, &api::eid(external_id)?)
    );
    let response = api::send(host, HttpRequest::new("GET", url))?;
    match response.status {
        404 => Ok(false),
        _ if response.is_success() => Ok(true),
        _ => Err(crate::errors::classify(&response)),
    }
}

fn price_plan_step(
    config: &Config,
    price: &str,
    amount: u64,
    currency: &str,
) -> Result<Step, Error> {
    let rate = money::to_rate(amount, currency).map_err(|e| Error::Rejected {
        message: e.to_string(),
        field: Some("items".into()),
    })?;
    Ok(Step {
        name: format!("price-plan-{price}"),
        // Made only for a plan `plan_for` found missing.
        absent: true,
        request: HttpRequest::new(
            "PUT",
            // "Replacing a Sublist": sent again (a retry), the tiers replace rather than add.
            format!(
                "{}?replace=priceTiers",
                config.record_url_named("priceplan", &api::eid(price)?)
            ),
        )
        .body(
            json!({
                "currency": {"refName": currency.to_ascii_uppercase()},
                "pricePlanType": "2",
                "priceTiers": {"items": [{"fromVal": 0, "value": rate}]},
            })
            .to_string(),
        ),
    })
}

/// A change order as listed for a subscription.
struct Existing {
    id: String,
    action: String,
    date: String,
    sequences: Vec<u64>,
}

/// The subscription's change orders (`q=subscription IS <id>`), each read for its action, date
/// and lines.
fn change_orders(
    host: &dyn Host,
    config: &Config,
    subscription: &str,
) -> Result<Vec<Existing>, Error> {
    let q = pct(&format!("subscription IS {subscription}"));
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let url = format!(
            "{}/services/rest/record/v1/subscriptionchangeorder?q={q}&limit=1000&offset={offset}",
            config.base
        );
        let page = api::get_ok(host, url)?.json();
        for item in page["items"].as_array().into_iter().flatten() {
            let Some(id) = mapping::reference(&item["id"], "id") else {
                continue;
            };
            let url = format!(
                "{}?expandSubResources=true",
                config.record_url_named("subscriptionchangeorder", &pct(&id))
            );
            let response = api::send(host, HttpRequest::new("GET", url))?;
            if response.status == 404 {
                continue;
            }
            if !response.is_success() {
                return Err(crate::errors::classify(&response));
            }
            let order = response.json();
            out.push(Existing {
                id,
                action: mapping::reference(mapping::field(&order, "action"), "id")
                    .unwrap_or_default(),
                date: mapping::field(&order, "effectiveDate")
                    .as_str()
                    .map(str::to_string)
                    .and_then(|d| mapping::midnight(&d))
                    .map(|t| t[..10].to_string())
                    .unwrap_or_default(),
                sequences: mapping::field(mapping::field(&order, "subline"), "items")
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|s| mapping::field(s, "apply").as_bool() == Some(true))
                    .filter_map(|s| mapping::field(s, "sequence").as_u64())
                    .collect(),
            });
        }
        if page["hasMore"].as_bool() != Some(true) {
            return Ok(out);
        }
        offset += 1000;
    }
}

/// The request for a change order: a new one, or, when one of the same kind exists on that
/// date for these lines ("only one change order of a specific type per subscription line item
/// per date"), an update of it.
fn order_step(config: &Config, state: &State, order: Order, existing: &[Existing]) -> Step {
    let sequences: Vec<u64> = order
        .sublines
        .iter()
        .filter_map(|s| s["sequence"].as_u64())
        .collect();
    let same_day = existing.iter().find(|o| {
        o.action == order.action
            && o.date == order.date
            && sequences.iter().any(|s| o.sequences.contains(s))
    });
    let subline = json!({"items": order.sublines});
    match same_day {
        Some(o) => Step {
            // The step's name holds what it sends: two different changes on one day never
            // share an idempotency key, while the same change always does.
            name: format!(
                "update-{}-{}-{subline}",
                order.action.to_ascii_lowercase(),
                o.id
            ),
            absent: true,
            request: HttpRequest::new(
                "PATCH",
                config.record_url_named("subscriptionchangeorder", &pct(&o.id)),
            )
            .body(json!({"subline": subline}).to_string()),
        },
        None => Step {
            name: format!(
                "{}-{}-{subline}",
                order.action.to_ascii_lowercase(),
                order.date
            ),
            absent: true,
            request: HttpRequest::new(
                "POST",
                format!(
                    "{}/services/rest/record/v1/subscriptionchangeorder",
                    config.base
                ),
            )
            .body(
                json!({
                    "action": order.action,
                    "subscription": {"id": state.internal_id},
                    "effectiveDate": order.date,
                    "subline": subline,
                })
                .to_string(),
            ),
        },
    }
}
