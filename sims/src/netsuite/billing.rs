//! SuiteBilling as NetSuite documents it: a subscription is created from a plan with one line
//! per plan member ("SuiteBilling Subscriptions"); lines are never created or deleted directly
//! ("Subscription Line", section_156027199749); once a line is active, its status, quantity and
//! price change only through change orders that take effect on a date ("SuiteBilling Change
//! Orders", subsect_1547761140); the subscription's status is NetSuite's own, derived from its
//! lines.
//!
//! Line state is never stored after a change order: it is computed for a date from the line's
//! own fields (set while it is not yet active) and the change orders applying to it, in order
//! of effective date. Changes take effect at the start of their day, terminations too (the
//! account preference "Default Terminations Effective at Start of Day", "Removing One-Day
//! Charges").

use serde_json::{Map, Value, json};

use super::error::NsError;
use super::schema::RecordType;
use super::store::{Store, StoredRecord, Target, Write, WriteOp, merge_lines};

/// A subscription line's status values ("Subscription Line"; SuiteBilling statuses).
pub const NOT_INCLUDED: &str = "NOT_INCLUDED";
pub const DRAFT: &str = "DRAFT";
pub const PENDING_ACTIVATION: &str = "PENDING_ACTIVATION";
pub const ACTIVE: &str = "ACTIVE";
pub const SUSPENDED: &str = "SUSPENDED";
pub const TERMINATED: &str = "TERMINATED";

/// Change order actions ("SuiteBilling Change Orders").
const ACTIONS: &[&str] = &[
    "ACTIVATE",
    "MODIFY_PRICING",
    "TERMINATE",
    "SUSPEND",
    "REACTIVATE",
];

/// What a line is on a given date.
#[derive(Debug, Clone, PartialEq)]
pub struct LineState {
    pub status: &'static str,
    pub quantity: Value,
    pub price_plan: Value,
    /// The effective date of its activation, once one exists.
    pub start: Option<String>,
    /// The effective date of its termination, once one exists (it may lie ahead).
    pub end: Option<String>,
}

/// `2026-2-5` -> `2026-02-05`, so dates compare as strings.
pub fn normalize_date(date: &str) -> String {
    let mut parts = date.splitn(3, '-');
    let (y, m, d) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    format!(
        "{y}-{:0>2}-{:0>2}",
        m.trim_start_matches('0'),
        d.trim_start_matches('0')
    )
}

/// Today in UTC, `YYYY-MM-DD`.
pub fn today() -> String {
    super::rfc3339(std::time::SystemTime::now())[..10].to_string()
}

fn text<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    fields.get(name).and_then(Value::as_str)
}

fn ref_id(value: Option<&Value>) -> Option<u64> {
    value?.get("id")?.as_str()?.parse().ok()
}

fn user_error(detail: impl Into<String>) -> NsError {
    NsError::new(
        400,
        "USER_ERROR",
        format!("Error while accessing resource: {}", detail.into()),
    )
}

impl Store {
    /// The lines of a subscription, by line number.
    pub fn lines_of(&self, subscription: u64) -> Vec<&StoredRecord> {
        let mut lines: Vec<&StoredRecord> = self
            .all(RecordType::SubscriptionLine)
            .filter(|l| ref_id(l.fields.get("subscription")) == Some(subscription))
            .collect();
        lines.sort_by_key(|l| l.fields.get("lineNumber").and_then(Value::as_u64));
        lines
    }

    /// Change orders applying to a line (`apply: true` on its sequence), by effective date,
    /// then creation; `skip` leaves one out (the one being validated).
    fn orders_for(&self, line: &StoredRecord, skip: Option<u64>) -> Vec<(&StoredRecord, Value)> {
        let subscription = ref_id(line.fields.get("subscription"));
        let sequence = line
            .fields
            .get("lineNumber")
            .cloned()
            .unwrap_or(Value::Null);
        let mut orders: Vec<(&StoredRecord, Value)> = self
            .all(RecordType::ChangeOrder)
            .filter(|o| Some(o.id) != skip)
            .filter(|o| ref_id(o.fields.get("subscription")) == subscription)
            .filter_map(|o| {
                let subline = o.fields.get("subline")?["items"]
                    .as_array()?
                    .iter()
                    .find(|s| {
                        s.get("sequence").and_then(Value::as_u64) == sequence.as_u64()
                            && s.get("apply").and_then(Value::as_bool) == Some(true)
                    })?
                    .clone();
                Some((o, subline))
            })
            .collect();
        orders.sort_by_key(|(o, _)| (text(&o.fields, "effectiveDate").map(normalize_date), o.id));
        orders
    }

    /// A line's state on `date`, from its own fields and the change orders in effect by then.
    pub fn line_state(&self, line: &StoredRecord, date: &str, skip: Option<u64>) -> LineState {
        let base = text(&line.fields, "subscriptionLineStatus").unwrap_or(NOT_INCLUDED);
        let mut state = LineState {
            status: [NOT_INCLUDED, DRAFT, PENDING_ACTIVATION]
                .into_iter()
                .find(|s| s.eq_ignore_ascii_case(base))
                .unwrap_or(NOT_INCLUDED),
            quantity: line.fields.get("quantity").cloned().unwrap_or(json!(1)),
            price_plan: line.fields.get("pricePlan").cloned().unwrap_or(Value::Null),
            start: None,
            end: None,
        };
        for (order, subline) in self.orders_for(line, skip) {
            let effective = text(&order.fields, "effectiveDate")
                .map(normalize_date)
                .unwrap_or_default();
            let in_effect = effective.as_str() <= date;
            match text(&order.fields, "action").unwrap_or_default() {
                "ACTIVATE" => {
                    state.start = Some(effective.clone());
                    if in_effect {
                        state.status = ACTIVE;
                    }
                }
                "TERMINATE" => {
                    state.end = Some(effective.clone());
                    if in_effect {
                        state.status = TERMINATED;
                    }
                }
                "SUSPEND" if in_effect => state.status = SUSPENDED,
                "REACTIVATE" if in_effect => state.status = ACTIVE,
                "MODIFY_PRICING" if in_effect => {
                    if let Some(q) = subline.get("quantityNew").filter(|q| !q.is_null()) {
                        state.quantity = q.clone();
                    }
                    if let Some(p) = subline.get("pricePlanNew").filter(|p| !p.is_null()) {
                        state.price_plan = p.clone();
                    }
                }
                _ => {}
            }
        }
        state
    }

    /// The subscription's status today, as NetSuite derives it from its lines.
    pub fn subscription_status(&self, subscription: u64) -> &'static str {
        let today = today();
        let states: Vec<&str> = self
            .lines_of(subscription)
            .into_iter()
            .map(|l| self.line_state(l, &today, None).status)
            .collect();
        [ACTIVE, SUSPENDED, PENDING_ACTIVATION, TERMINATED]
            .into_iter()
            .find(|s| states.contains(s))
            .unwrap_or(DRAFT)
    }

    /// SuiteBilling's rules for a write about to be stored (references already resolved).
    pub fn billing_rules(
        &self,
        rt: RecordType,
        w: &Write,
        existing: Option<u64>,
        fields: &Map<String, Value>,
    ) -> Result<(), NsError> {
        match rt {
            RecordType::SubscriptionLine if existing.is_none() => Err(user_error(
                "You cannot create a subscription line. Lines are created from the subscription plan.",
            )),
            RecordType::SubscriptionLine => self.line_update(existing.unwrap_or_default(), fields),
            RecordType::Subscription if existing.is_none() => self.subscription_create(fields),
            RecordType::ChangeOrder => {
                if let (Some(id), WriteOp::Update(_) | WriteOp::Upsert(_)) = (existing, &w.op) {
                    let order = self
                        .find(RecordType::ChangeOrder, &Target::Internal(id))
                        .ok_or_else(|| user_error("The change order does not exist."))?;
                    let effective = text(&order.fields, "effectiveDate").map(normalize_date);
                    // [U] Editing a change order: the documentation is silent; the simulator
                    // allows it only until the order's date has passed.
                    if effective.is_some_and(|d| d < today()) {
                        return Err(user_error(
                            "A change order whose effective date has passed cannot be changed.",
                        ));
                    }
                    // Validated as it will be stored: keyed sublist lines merged unless replaced.
                    let mut merged = order.fields.clone();
                    for (k, v) in fields {
                        let replace = w.replace.iter().any(|r| r.eq_ignore_ascii_case(k));
                        match merged.get_mut(k) {
                            Some(old) if k == "subline" && !replace => merge_lines(old, v),
                            _ => {
                                merged.insert(k.clone(), v.clone());
                            }
                        }
                    }
                    return self.change_order(&merged, Some(id));
                }
                self.change_order(fields, None)
            }
            _ => Ok(()),
        }
    }

    /// Refuses deletes SuiteBilling does not allow.
    pub fn billing_delete(&self, rt: RecordType, id: u64) -> Result<(), NsError> {
        match rt {
            RecordType::SubscriptionLine => Err(user_error(
                "You cannot delete a subscription line. Terminate it with a change order.",
            )),
            RecordType::ChangeOrder => {
                let order = self.find(rt, &Target::Internal(id));
                let effective = order
                    .and_then(|o| text(&o.fields, "effectiveDate"))
                    .map(normalize_date);
                // "Voiding a Change Order": strictest reading, only one not yet in effect.
                if effective.is_some_and(|d| d <= today()) {
                    return Err(user_error(
                        "A change order that has taken effect cannot be deleted.",
                    ));
                }
                Ok(())
            }
            RecordType::Subscription => {
                let billed = self
                    .lines_of(id)
                    .into_iter()
                    .any(|l| self.line_state(l, &today(), None).start.is_some());
                if billed {
                    return Err(user_error(
                        "This subscription has activated lines and cannot be deleted. Terminate it with a change order.",
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn subscription_create(&self, fields: &Map<String, Value>) -> Result<(), NsError> {
        let plan = ref_id(fields.get("subscriptionPlan"));
        let book_plan = ref_id(fields.get("priceBook"))
            .and_then(|b| self.find(RecordType::PriceBook, &Target::Internal(b)))
            .and_then(|b| ref_id(b.fields.get("subscriptionPlan")));
        if book_plan.is_some() && book_plan != plan {
            return Err(NsError::invalid_content(
                "The price book does not belong to the subscription plan.",
                "priceBook",
            ));
        }
        Ok(())
    }

    /// After a subscription is created: one line per plan member, `NOT_INCLUDED` (every member
    /// the simulator's plans hold is optional).
    pub fn create_lines(&mut self, subscription: u64) {
        let plan = self
            .find(RecordType::Subscription, &Target::Internal(subscription))
            .and_then(|s| ref_id(s.fields.get("subscriptionPlan")));
        let members: Vec<Value> = plan
            .and_then(|p| self.find(RecordType::SubscriptionPlan, &Target::Internal(p)))
            .and_then(|p| p.fields.get("member")?["items"].as_array().cloned())
            .unwrap_or_default();
        let existing = self.lines_of(subscription).len();
        for (i, member) in members.iter().enumerate().skip(existing) {
            let mut line = Map::new();
            line.insert(
                "subscription".into(),
                json!({"id": subscription.to_string()}),
            );
            line.insert("item".into(), member["item"].clone());
            line.insert("lineNumber".into(), json!(i + 1));
            line.insert("subscriptionLineStatus".into(), json!(NOT_INCLUDED));
            line.insert("quantity".into(), json!(1));
            self.insert_record(RecordType::SubscriptionLine, None, line);
        }
    }

    fn line_update(&self, id: u64, fields: &Map<String, Value>) -> Result<(), NsError> {
        let line = self
            .find(RecordType::SubscriptionLine, &Target::Internal(id))
            .ok_or_else(|| user_error("The subscription line does not exist."))?;
        let now = self.line_state(line, &today(), None);
        let committed =
            now.start.is_some() || !matches!(now.status, NOT_INCLUDED | DRAFT | PENDING_ACTIVATION);
        if committed
            && (fields.contains_key("quantity")
                || fields.contains_key("pricePlan")
                || fields.contains_key("subscriptionLineStatus"))
        {
            return Err(user_error(
                "The subscription line is active or scheduled to activate: change its status, quantity or price with a change order.",
            ));
        }
        if let Some(status) = fields.get("subscriptionLineStatus") {
            let allowed = status.as_str().is_some_and(|s| {
                [NOT_INCLUDED, DRAFT, PENDING_ACTIVATION]
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(s))
            });
            if !allowed {
                return Err(NsError::invalid_content(
                    format!(
                        "You have entered an Invalid Field Value {status} for the following field: subscriptionLineStatus"
                    ),
                    "subscriptionLineStatus",
                ));
            }
        }
        Ok(())
    }

    /// Validates a change order (its fields merged with the stored ones when updated).
    fn change_order(&self, fields: &Map<String, Value>, this: Option<u64>) -> Result<(), NsError> {
        let action = text(fields, "action").unwrap_or_default();
        if !ACTIONS.contains(&action) {
            return Err(NsError::invalid_content(
                format!(
                    "You have entered an Invalid Field Value {action} for the following field: action"
                ),
                "action",
            ));
        }
        let subscription = ref_id(fields.get("subscription")).ok_or_else(|| {
            NsError::invalid_content("Please enter value(s) for: subscription", "subscription")
        })?;
        let date = text(fields, "effectiveDate")
            .map(normalize_date)
            .ok_or_else(|| {
                NsError::invalid_content(
                    "Please enter value(s) for: effectiveDate",
                    "effectiveDate",
                )
            })?;
        let lines = self.lines_of(subscription);
        let applied: Vec<&Value> = fields
            .get("subline")
            .and_then(|s| s["items"].as_array())
            .into_iter()
            .flatten()
            .filter(|s| s.get("apply").and_then(Value::as_bool) == Some(true))
            .collect();
        if applied.is_empty() {
            return Err(NsError::invalid_content(
                "Select at least one subscription line to apply the change order to.",
                "subline",
            ));
        }
        for (i, subline) in applied.iter().enumerate() {
            let at = format!("subline.items[{i}]");
            let sequence = subline.get("sequence").and_then(Value::as_u64);
            let line = lines
                .iter()
                .find(|l| l.fields.get("lineNumber").and_then(Value::as_u64) == sequence)
                .ok_or_else(|| {
                    NsError::invalid_content(
                        format!(
                            "The subscription has no line with sequence {}.",
                            subline["sequence"]
                        ),
                        format!("{at}.sequence"),
                    )
                })?;
            let state = self.line_state(line, &date, this);
            let status = state.status;
            let refused =
                |why: &str| user_error(format!("{action} on line {}: {why}", subline["sequence"]));
            match action {
                "ACTIVATE" if status != PENDING_ACTIVATION => {
                    return Err(refused(
                        "only a line in Pending Activation can be activated",
                    ));
                }
                "MODIFY_PRICING" if status != ACTIVE => {
                    return Err(refused("only an active line can be modified"));
                }
                "MODIFY_PRICING"
                    if subline.get("quantityNew").is_none_or(Value::is_null)
                        && subline.get("pricePlanNew").is_none_or(Value::is_null) =>
                {
                    return Err(refused(
                        "a modify pricing change order changes a quantity or a price plan",
                    ));
                }
                "TERMINATE" if !matches!(status, ACTIVE | PENDING_ACTIVATION) => {
                    return Err(refused("only an active or pending line can be terminated"));
                }
                "SUSPEND" if status != ACTIVE => {
                    return Err(refused("only an active line can be suspended"));
                }
                "REACTIVATE" if status != SUSPENDED => {
                    return Err(refused("only a suspended line can be reactivated"));
                }
                _ => {}
            }
            // "You can have only one change order of a specific type per subscription line
            // item per date", and no termination ahead of a later suspend or modify.
            for (other, _) in self.orders_for(line, this) {
                let other_action = text(&other.fields, "action").unwrap_or_default();
                let other_date = text(&other.fields, "effectiveDate")
                    .map(normalize_date)
                    .unwrap_or_default();
                if other_action == action && other_date == date {
                    return Err(refused(&format!(
                        "the line already has a {action} change order on {date} (change order {})",
                        other.id
                    )));
                }
                if action == "TERMINATE"
                    && matches!(other_action, "SUSPEND" | "MODIFY_PRICING")
                    && other_date > date
                {
                    return Err(refused(
                        "the line has a later suspend or modify pricing change order",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The computed fields NetSuite shows on a SuiteBilling record (status, lines, dates).
    pub fn present_billing(
        &self,
        rt: RecordType,
        rec: &StoredRecord,
        out: &mut Map<String, Value>,
        expand: bool,
    ) {
        let today = today();
        match rt {
            RecordType::Subscription => {
                let status = self.subscription_status(rec.id);
                out.insert(
                    "status".into(),
                    json!({"id": status, "refName": label(status), "links": []}),
                );
                let lines = self.lines_of(rec.id);
                let ends: Vec<Option<String>> = lines
                    .iter()
                    .map(|l| self.line_state(l, &today, None))
                    .filter(|s| s.start.is_some())
                    .map(|s| s.end)
                    .collect();
                if !ends.is_empty() && ends.iter().all(Option::is_some) {
                    out.insert("endDate".into(), json!(ends.iter().flatten().max()));
                }
                let href = self.href(rt, rec.id);
                let link = json!([{"rel": "self", "href": format!("{href}/subscriptionLine")}]);
                if expand {
                    let items: Vec<Value> = lines
                        .iter()
                        .map(|l| self.present_line_entry(l, &today))
                        .collect();
                    out.insert(
                        "subscriptionLine".into(),
                        json!({"links": link, "items": items, "totalResults": items.len()}),
                    );
                } else {
                    out.insert("subscriptionLine".into(), json!({"links": link}));
                }
            }
            RecordType::SubscriptionLine => {
                let state = self.line_state(rec, &today, None);
                out.insert(
                    "subscriptionLineStatus".into(),
                    json!({"id": state.status, "refName": label(state.status), "links": []}),
                );
                out.insert("quantity".into(), state.quantity);
                out.remove("pricePlan");
                if let Some(plan) = self.held_ref(RecordType::PricePlan, &state.price_plan) {
                    out.insert("pricePlan".into(), plan);
                }
                if let Some(start) = state.start {
                    out.insert("startDate".into(), json!(start));
                }
                if let Some(end) = state.end {
                    out.insert("endDate".into(), json!(end));
                }
            }
            _ => {}
        }
    }

    /// A subscription's line as its `subscriptionLine` sublist shows it.
    fn present_line_entry(&self, line: &StoredRecord, today: &str) -> Value {
        let state = self.line_state(line, today, None);
        let mut entry = json!({
            "links": [],
            "lineNumber": line.fields.get("lineNumber"),
            "subscriptionLine": {
                "id": line.id.to_string(),
                "refName": line.id.to_string(),
                "links": [{"rel": "self", "href": self.href(RecordType::SubscriptionLine, line.id)}],
            },
            "status": {"id": state.status, "refName": label(state.status), "links": []},
            "quantity": state.quantity,
        });
        if let Some(item) = line
            .fields
            .get("item")
            .and_then(|i| self.held_ref(RecordType::ServiceSaleItem, i))
        {
            entry["item"] = item;
        }
        if let Some(plan) = self.held_ref(RecordType::PricePlan, &state.price_plan) {
            entry["pricePlan"] = plan;
        }
        if let Some(start) = state.start {
            entry["startDate"] = json!(start);
        }
        if let Some(end) = state.end {
            entry["endDate"] = json!(end);
        }
        entry
    }
}

/// "PENDING_ACTIVATION" -> "Pending Activation".
fn label(id: &str) -> String {
    id.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| format!("{}{}", &w[..1], w[1..].to_ascii_lowercase()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_normalize_for_comparison() {
        assert_eq!(normalize_date("2026-2-5"), "2026-02-05");
        assert_eq!(normalize_date("2026-12-15"), "2026-12-15");
        assert!(normalize_date("2026-2-5") < normalize_date("2026-10-1"));
    }
}
