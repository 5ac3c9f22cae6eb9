//! The account state and every operation on it, validated before anything changes: item
//! changes with alignment, deactivation and reinstatement, renewal type, billing dates and the
//! renewals the clock makes due. Each change that Cleverbridge notifies about queues a
//! notification here; `notify.rs` delivers them.

use std::collections::BTreeMap;

use super::error::CbError;
use super::model::*;
use super::money::{Prices, Taxes, cents, decimal};
use super::render;

/// fact sheet §5: "Failed deliveries are retried once every two hours".
pub const RETRY_SECS: i64 = 2 * 3600;

/// fact sheet §2: the new next billing date "must be in the future (≥1 min)".
const MIN_BILLING_DATE_LEAD_SECS: i64 = 60;

/// `CustomerPrice{Currency, IsGross, Value}` (fact sheet §2: all three required).
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerPrice {
    pub currency: String,
    pub is_gross: bool,
    pub value: f64,
}

/// `AlignmentSettings` (fact sheet §2).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Alignment {
    pub align_to_current_interval: bool,
    pub extend_interval: bool,
    pub preview_only: bool,
}

/// A change of one item's product, price and/or quantity.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemChange {
    pub subscription: u64,
    pub running_no: u32,
    /// A new product (`updatesubscriptionitem`); `None` keeps it.
    pub product: Option<u64>,
    pub price: Option<CustomerPrice>,
    /// The total after the change.
    pub quantity: u32,
    pub alignment: Alignment,
    pub product_name: Option<String>,
    pub product_name_extension: Option<String>,
}

/// What a change costs: the preview fields of fact sheet §2.
#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    pub alignment: Prices,
    pub next_billing: Prices,
    pub currency: String,
}

#[derive(Debug, Default, Clone)]
pub struct Store {
    pub products: BTreeMap<u64, Product>,
    pub customers: BTreeMap<u64, Customer>,
    pub subs: BTreeMap<u64, Subscription>,
    pub orders: Vec<Order>,
    pub notifications: Vec<NotificationInfo>,
    /// New notifications are held back while true.
    pub holding: bool,
    /// The client account's payment reminder time frame in days (`None`: no reminders).
    pub reminder_days: Option<u32>,
    pub stats: CbStats,
    ids: BTreeMap<&'static str, u64>,
}

impl Store {
    /// An empty account whose payment reminders go out `days` before each renewal.
    pub fn with_reminders(days: Option<u32>) -> Self {
        Self {
            reminder_days: days,
            ..Self::default()
        }
    }

    fn next_id(&mut self, kind: &'static str, first: u64) -> u64 {
        let id = self.ids.entry(kind).or_insert(first);
        *id += 1;
        *id - 1
    }

    pub fn sub(&self, id: u64) -> Result<&Subscription, CbError> {
        self.subs.get(&id).ok_or_else(CbError::not_found)
    }

    fn sub_mut(&mut self, id: u64) -> Result<&mut Subscription, CbError> {
        self.subs.get_mut(&id).ok_or_else(CbError::not_found)
    }

    fn product(&self, id: u64) -> Result<&Product, CbError> {
        self.products.get(&id).ok_or_else(CbError::not_found)
    }

    // ----- setup (Web Admin and checkout, through the scenario API) -----

    pub fn create_product(&mut self, spec: ProductSpec) -> Result<u64, CbError> {
        let id = match spec.id {
            Some(id) if self.products.contains_key(&id) => {
                return Err(CbError::invalid(format!("Product {id} exists.")));
            }
            Some(id) => id,
            None => loop {
                let id = self.next_id("product", 293_000);
                if !self.products.contains_key(&id) {
                    break id;
                }
            },
        };
        let prices = spec
            .prices
            .iter()
            .map(|(c, v)| (c.clone(), cents(*v)))
            .collect();
        self.products.insert(
            id,
            Product {
                id,
                name: spec.name,
                name_extension: spec.name_extension,
                taxes: spec.taxes,
                vat_rate: spec.vat_rate,
                prices,
                sold: spec.sold,
            },
        );
        Ok(id)
    }

    pub fn set_product_sold(&mut self, id: u64, sold: bool) -> Result<(), CbError> {
        self.products
            .get_mut(&id)
            .ok_or_else(CbError::not_found)?
            .sold = sold;
        Ok(())
    }

    pub fn create_customer(&mut self, spec: CustomerSpec) -> u64 {
        let id = self.next_id("customer", 157_656_000);
        let reference_id = spec.reference_id.unwrap_or_else(|| format!("ref-{id}"));
        self.customers.insert(
            id,
            Customer {
                id,
                email: spec.email,
                first_name: spec.first_name,
                last_name: spec.last_name,
                reference_id,
                reference_no: spec.reference_no,
                payment_fails: false,
            },
        );
        id
    }

    pub fn set_payment_fails(&mut self, customer: u64, fails: bool) -> Result<(), CbError> {
        self.customers
            .get_mut(&customer)
            .ok_or_else(CbError::not_found)?
            .payment_fails = fails;
        Ok(())
    }

    /// A completed checkout: the subscription, its first order and `PaidOrderNotification`.
    pub fn create_subscription(
        &mut self,
        spec: SubscriptionSpec,
        now: i64,
    ) -> Result<u64, CbError> {
        if !self.customers.contains_key(&spec.customer_id) {
            return Err(CbError::not_found());
        }
        if spec.interval_months == 0 && spec.interval_days == 0 {
            return Err(CbError::invalid("The billing interval must not be empty."));
        }
        if spec.items.is_empty() {
            return Err(CbError::missing_field());
        }
        let manual = spec.renewal_type == RenewalType::Manual;
        let mut items = BTreeMap::new();
        for (i, item) in spec.items.iter().enumerate() {
            let product = self.product(item.product_id)?;
            let unit = match item.price {
                Some(price) => cents(price),
                None => *product.prices.get(&spec.currency).ok_or_else(|| {
                    CbError::invalid("The product has no price in the subscription currency.")
                })?,
            };
            let quantity = item.quantity.max(1);
            let version = ItemVersion {
                version: 1,
                product_id: product.id,
                product_name: product.name.clone(),
                product_name_extension: product.name_extension.clone(),
                quantity,
                unit_price: unit,
                next_billing: Prices::from_basis(
                    unit * i64::from(quantity),
                    product.taxes,
                    product.vat_rate,
                ),
                // fact sheet §4: a manual-renewal sign-up leaves its items "Aw. reinstate".
                status: if manual {
                    ItemStatus::AwaitingReinstate
                } else {
                    ItemStatus::Active
                },
                start: now,
                end: None,
                deactivation_date: None,
                allow_reinstate: true,
                cancelled_with_subscription: false,
                last_interval_no: 0,
            };
            // fact sheet §3: running numbers are 1-based [U].
            items.insert(i as u32 + 1, vec![version]);
        }
        let id = self.next_id("subscription", 67_560_000);
        let mut sub = Subscription {
            id,
            customer_id: spec.customer_id,
            currency: spec.currency,
            interval_months: spec.interval_months,
            interval_days: spec.interval_days,
            grace_period_days: spec.grace_period_days,
            // fact sheet §4: auto-renew sign-up -> Active/Active; manual -> Deactivated.
            status: if manual {
                SubStatus::Deactivated
            } else {
                SubStatus::Active
            },
            renewal_type: spec.renewal_type,
            recurrence_count: spec.recurrence_count,
            start: now,
            anchor: now,
            intervals_since_anchor: 1,
            period_start: now,
            next_billing: now,
            end_date: None,
            grace_until: None,
            last_interval_no: 0,
            reminded_for: None,
            items,
        };
        sub.next_billing = sub.billing_date();
        if manual {
            sub.end_date = Some(sub.next_billing);
        }
        self.subs.insert(id, sub);
        // fact sheet §5: PaidOrderNotification is sent for the initial purchase.
        self.bill_interval(id, now, OrderKind::New, true);
        Ok(id)
    }

    // ----- the Subscription API's writes -----

    /// `updatesubscriptionitemprice` and `updatesubscriptionitem`.
    pub fn change_item(&mut self, change: &ItemChange, now: i64) -> Result<Preview, CbError> {
        let sub = self.sub(change.subscription)?;
        // fact sheet §2 (guides' "Before you start"): the subscription has the status Active.
        if sub.status != SubStatus::Active {
            return Err(CbError::invalid("The subscription is not active."));
        }
        let current = sub
            .current(change.running_no)
            .ok_or_else(CbError::not_found)?;
        if current.status != ItemStatus::Active {
            return Err(CbError::invalid("The subscription item is not active."));
        }
        let product = self.product(change.product.unwrap_or(current.product_id))?;
        if change.product.is_some_and(|p| p != current.product_id) && !product.sold {
            return Err(CbError::invalid("The product is not available."));
        }
        let unit = match &change.price {
            Some(price) => {
                // fact sheet §2: the currency must equal the subscription's.
                if price.currency != sub.currency {
                    return Err(CbError::invalid(
                        "'CustomerPrice' currency differs from subscription currency",
                    ));
                }
                // fact sheet §2: IsGross must match the product's Taxes setting.
                if price.is_gross != (product.taxes == Taxes::Gross) {
                    return Err(CbError::invalid(
                        "'CustomerPrice' IsGross does not match the product's taxes setting",
                    ));
                }
                if !price.value.is_finite() || price.value < 0.0 {
                    return Err(CbError::invalid("'CustomerPrice' value is invalid"));
                }
                cents(price.value)
            }
            None if product.id == current.product_id => current.unit_price,
            None => *product.prices.get(&sub.currency).ok_or_else(|| {
                CbError::invalid("The product has no price in the subscription currency.")
            })?,
        };
        if change.quantity == 0 {
            return Err(CbError::invalid("'Quantity' must be at least 1."));
        }
        if change.alignment.extend_interval {
            // fact sheet §2 names ExtendInterval without saying what it does: refused loudly
            // rather than guessed.
            return Err(CbError::invalid(
                "ExtendInterval=true is not modelled by the simulator.",
            ));
        }
        let next = Prices::from_basis(
            unit * i64::from(change.quantity),
            product.taxes,
            product.vat_rate,
        );
        let alignment = if change.alignment.align_to_current_interval {
            // fact sheet §2: "prorated alignment charge now": the difference for what is left
            // of the current interval.
            let left = (sub.next_billing - now).max(0) as f64;
            let length = (sub.next_billing - sub.period_start).max(1) as f64;
            let delta = next.basis(product.taxes) - current.next_billing.basis(product.taxes);
            let charge = (delta as f64 * (left / length).min(1.0)).round() as i64;
            if charge < 0 {
                // The alignment guides: "Cases in which the resulting pro-rated billing
                // calculation results in a negative amount are not supported."
                return Err(CbError::invalid(
                    "A negative alignment amount is not supported.",
                ));
            }
            Prices::from_basis(charge, product.taxes, product.vat_rate)
        } else {
            Prices::default()
        };
        let preview = Preview {
            alignment,
            next_billing: next,
            currency: sub.currency.clone(),
        };
        if change.alignment.preview_only {
            // fact sheet §2: GetCustomerPricePreviewOnly is a dry run returning prices only.
            return Ok(preview);
        }
        let (product_id, name, extension) = (
            product.id,
            change
                .product_name
                .clone()
                .unwrap_or_else(|| product.name.clone()),
            change
                .product_name_extension
                .clone()
                .unwrap_or_else(|| product.name_extension.clone()),
        );
        let (id, running_no, quantity) = (change.subscription, change.running_no, change.quantity);
        let sub = self.sub_mut(id)?;
        // AlignToCurrentInterval=false: the item's next-billing prices change now; what was
        // billed for the current interval stays as it was.
        sub.revise(running_no, now, |v| {
            v.product_id = product_id;
            v.product_name = name;
            v.product_name_extension = extension;
            v.quantity = quantity;
            v.unit_price = unit;
            v.next_billing = next;
        });
        if alignment.gross > 0 {
            self.record_order(id, now, OrderKind::Alignment, vec![(running_no, alignment)]);
        }
        self.stats.writes += 1;
        Ok(preview)
    }

    /// `deactivatesubscriptionitems`: effective at the next billing date; at least one item
    /// must stay active (fact sheet §2).
    pub fn deactivate_items(
        &mut self,
        id: u64,
        items: &[u32],
        allow_reinstate: bool,
        now: i64,
    ) -> Result<(), CbError> {
        let sub = self.sub(id)?;
        if items.is_empty() {
            return Err(CbError::missing_field());
        }
        if sub.status != SubStatus::Active {
            return Err(CbError::invalid("The subscription is not active."));
        }
        for no in items {
            let item = sub.current(*no).ok_or_else(CbError::not_found)?;
            if item.status != ItemStatus::Active {
                return Err(CbError::invalid("The subscription item is not active."));
            }
        }
        let remaining = sub
            .currents()
            .filter(|(no, v)| v.status == ItemStatus::Active && !items.contains(no))
            .count();
        if remaining == 0 {
            // fact sheet §2: "must leave ≥1 active item"; the whole subscription is cancelled
            // with updatesubscriptionrenewaltype (SM 2.0).
            return Err(CbError::invalid(
                "At least one subscription item must remain active. Use updatesubscriptionrenewaltype to cancel the subscription.",
            ));
        }
        let sub = self.sub_mut(id)?;
        let effective = sub.next_billing;
        for no in items {
            sub.revise(*no, now, |v| {
                v.status = ItemStatus::Deactivated;
                v.deactivation_date = Some(effective);
                v.allow_reinstate = allow_reinstate;
            });
        }
        self.stats.writes += 1;
        self.notify_subscription("RecurringBillingCanceledNotification", id, now);
        Ok(())
    }

    /// `reinstatesubscriptionitems`: items must be Deactivated and their product still sold.
    pub fn reinstate_items(&mut self, id: u64, items: &[u32], now: i64) -> Result<(), CbError> {
        let sub = self.sub(id)?;
        if items.is_empty() {
            return Err(CbError::missing_field());
        }
        if matches!(sub.status, SubStatus::Finished) {
            return Err(CbError::invalid("The subscription is finished."));
        }
        for no in items {
            let item = sub.current(*no).ok_or_else(CbError::not_found)?;
            if item.status != ItemStatus::Deactivated {
                return Err(CbError::invalid(
                    "The subscription item is not deactivated.",
                ));
            }
            if !item.allow_reinstate {
                return Err(CbError::invalid(
                    "The subscription item cannot be reinstated.",
                ));
            }
            if !self.product(item.product_id)?.sold {
                return Err(CbError::invalid("The product is not available."));
            }
        }
        let sub = self.sub_mut(id)?;
        for no in items {
            sub.revise(*no, now, |v| {
                v.status = ItemStatus::Active;
                v.deactivation_date = None;
                v.cancelled_with_subscription = false;
            });
        }
        if sub.status == SubStatus::Deactivated {
            sub.status = SubStatus::Active;
            sub.renewal_type = RenewalType::Automatic;
            sub.end_date = None;
            sub.rebase_past_billing_date(now);
        }
        self.stats.writes += 1;
        self.notify_subscription("RecurringBillingReinstatedNotification", id, now);
        Ok(())
    }

    /// `updatesubscriptionrenewaltype`: Manual cancels (fact sheet §4: cancel ->
    /// Deactivated/Deactivated, effective at the end of the interval); Automatic reactivates
    /// what the cancellation deactivated.
    pub fn set_renewal_type(
        &mut self,
        id: u64,
        renewal: RenewalType,
        now: i64,
    ) -> Result<(), CbError> {
        let sub = self.sub(id)?;
        if sub.renewal_type == renewal {
            return Ok(());
        }
        if matches!(sub.status, SubStatus::Finished) {
            return Err(CbError::invalid("The subscription is finished."));
        }
        let sub = self.sub_mut(id)?;
        sub.renewal_type = renewal;
        let status_notification = match renewal {
            RenewalType::Manual => {
                let effective = sub.next_billing;
                let active: Vec<u32> = sub
                    .currents()
                    .filter(|(_, v)| v.status == ItemStatus::Active)
                    .map(|(no, _)| no)
                    .collect();
                for no in active {
                    sub.revise(no, now, |v| {
                        v.status = ItemStatus::Deactivated;
                        v.deactivation_date = Some(effective);
                        v.cancelled_with_subscription = true;
                        v.allow_reinstate = true;
                    });
                }
                sub.status = SubStatus::Deactivated;
                sub.end_date = Some(effective);
                "RecurringBillingCanceledNotification"
            }
            RenewalType::Automatic => {
                let back: Vec<u32> = sub
                    .currents()
                    .filter(|(_, v)| {
                        v.status == ItemStatus::AwaitingReinstate
                            || (v.status == ItemStatus::Deactivated
                                && v.cancelled_with_subscription)
                    })
                    .map(|(no, _)| no)
                    .collect();
                for no in back {
                    sub.revise(no, now, |v| {
                        v.status = ItemStatus::Active;
                        v.deactivation_date = None;
                        v.cancelled_with_subscription = false;
                    });
                }
                if sub.status == SubStatus::Deactivated {
                    sub.status = SubStatus::Active;
                    sub.rebase_past_billing_date(now);
                }
                sub.end_date = None;
                "RecurringBillingReinstatedNotification"
            }
        };
        self.stats.writes += 1;
        self.notify_subscription("SubscriptionRenewalTypeChangedNotification", id, now);
        self.notify_subscription(status_notification, id, now);
        Ok(())
    }

    /// `updatenextbillingdate`: at least a minute in the future (fact sheet §2).
    pub fn set_next_billing_date(&mut self, id: u64, date: i64, now: i64) -> Result<(), CbError> {
        let sub = self.sub(id)?;
        if date < now + MIN_BILLING_DATE_LEAD_SECS {
            return Err(CbError::invalid(
                "'NextBillingDate' must be at least one minute in the future.",
            ));
        }
        if matches!(sub.status, SubStatus::Finished) {
            return Err(CbError::invalid("The subscription is finished."));
        }
        let later = date > sub.next_billing;
        let sub = self.sub_mut(id)?;
        sub.next_billing = date;
        sub.anchor = date;
        sub.intervals_since_anchor = 0;
        if sub.end_date.is_some() {
            sub.end_date = Some(date);
        }
        self.stats.writes += 1;
        if later {
            self.notify_subscription("SubscriptionBillingDateExtendedNotification", id, now);
        }
        Ok(())
    }

    /// `renewsubscription`: an instant renewal attempt, billing the next interval now.
    pub fn renew_now(&mut self, id: u64, now: i64) -> Result<(), CbError> {
        let sub = self.sub(id)?;
        if !matches!(
            sub.status,
            SubStatus::Active | SubStatus::Grace | SubStatus::Hold
        ) {
            return Err(CbError::invalid("The subscription cannot be renewed."));
        }
        if self
            .customers
            .get(&sub.customer_id)
            .is_some_and(|c| c.payment_fails)
        {
            return Err(CbError::invalid("The renewal payment failed."));
        }
        self.stats.writes += 1;
        if self.bill_interval(id, now, OrderKind::Renewal, false) {
            Ok(())
        } else {
            Err(CbError::invalid("The subscription has no active item."))
        }
    }

    /// A refund made in Web Admin: the order is refunded and its subscription Deactivated
    /// (fact sheet §4: "Deactivated (cancelled or refunded)"); `RefundNotification` follows.
    pub fn refund(&mut self, purchase_id: u64, now: i64) -> Result<(), CbError> {
        let order = self
            .orders
            .iter_mut()
            .find(|o| o.purchase_id == purchase_id)
            .ok_or_else(CbError::not_found)?;
        if order.refunded {
            return Err(CbError::invalid("The order is refunded already."));
        }
        order.refunded = true;
        let order = order.clone();
        if let Some(sub) = self.subs.get_mut(&order.subscription_id) {
            let active: Vec<u32> = sub
                .currents()
                .filter(|(_, v)| v.status == ItemStatus::Active)
                .map(|(no, _)| no)
                .collect();
            for no in active {
                sub.revise(no, now, |v| {
                    v.status = ItemStatus::Deactivated;
                    v.deactivation_date = Some(now);
                    v.allow_reinstate = false;
                });
            }
            sub.status = SubStatus::Deactivated;
            sub.end_date = Some(now);
        }
        let body = render::purchase_notification(self, &order, "RefundNotification", now);
        self.queue("RefundNotification", order.subscription_id, body, now);
        Ok(())
    }

    // ----- time -----

    /// Applies everything due up to `now` in time order: renewals at next billing dates (or
    /// Grace/Hold when payment fails, Finished after the last billing) and Grace ending in Hold.
    pub fn tick(&mut self, now: i64) {
        // A bound against a loop that makes no progress; each step moves a date forward.
        for _ in 0..100_000 {
            let due = self
                .subs
                .values()
                .filter_map(|s| match s.status {
                    SubStatus::Active if s.next_billing <= now => Some((s.next_billing, s.id)),
                    SubStatus::Grace => s.grace_until.filter(|g| *g <= now).map(|g| (g, s.id)),
                    _ => None,
                })
                .min();
            let reminder = self
                .subs
                .values()
                .filter_map(|s| Some((self.reminder_due(s)?, s.id)))
                .filter(|(at, _)| *at <= now)
                .min();
            match (due, reminder) {
                (_, Some((at, id))) if due.is_none_or(|(d, _)| at < d) => self.remind(id, at),
                (Some((at, id)), _) => self.due(id, at),
                (None, _) => return,
            }
        }
    }

    /// When the payment reminder for `sub`'s next renewal falls due, if one does. "About
    /// Subscription Renewals and Payment Reminders": for online payments with a fully automated
    /// renewal, reminders go out by default the client account's time frame before the renewal
    /// date (the docs' example: 15 days). One per renewal; none for a manual renewal.
    fn reminder_due(&self, sub: &Subscription) -> Option<i64> {
        let days = self.reminder_days?;
        let automatic =
            sub.status == SubStatus::Active && sub.renewal_type == RenewalType::Automatic;
        let at = sub.next_billing - i64::from(days) * 86_400;
        (automatic && sub.reminded_for != Some(sub.next_billing) && at > sub.period_start)
            .then_some(at)
    }

    /// Sends `SubscriptionReminderChargeNotification` (dev.cleverbridge.com reference: "A
    /// reminder that the subscription renewal is approaching for online payments", purchase
    /// model) for the subscription's next renewal.
    fn remind(&mut self, id: u64, at: i64) {
        let Some(sub) = self.subs.get_mut(&id) else {
            return;
        };
        sub.reminded_for = Some(sub.next_billing);
        let kind = "SubscriptionReminderChargeNotification";
        if let Some(body) = render::reminder_notification(self, id, kind, at) {
            self.queue(kind, id, body, at);
        }
    }

    fn due(&mut self, id: u64, at: i64) {
        let Some(sub) = self.subs.get_mut(&id) else {
            return;
        };
        if sub.status == SubStatus::Grace {
            // fact sheet §4: "missed payment -> Grace then Hold".
            sub.status = SubStatus::Hold;
            sub.grace_until = None;
            self.notify_subscription("RecurringBillingOnHoldNotification", id, at);
            return;
        }
        if sub
            .recurrence_count
            .is_some_and(|n| sub.last_interval_no >= n)
        {
            // fact sheet §4: Finished = "fixed number of billings reached".
            let active: Vec<u32> = sub
                .currents()
                .filter(|(_, v)| v.status == ItemStatus::Active)
                .map(|(no, _)| no)
                .collect();
            for no in active {
                sub.revise(no, at, |v| v.status = ItemStatus::Finished);
            }
            sub.status = SubStatus::Finished;
            sub.end_date = Some(at);
            return;
        }
        let fails = self
            .customers
            .get(&sub.customer_id)
            .is_some_and(|c| c.payment_fails);
        if fails {
            let kind = if sub.grace_period_days > 0 {
                sub.status = SubStatus::Grace;
                sub.grace_until = Some(at + i64::from(sub.grace_period_days) * 86_400);
                "RecurringBillingOnGraceNotification"
            } else {
                sub.status = SubStatus::Hold;
                "RecurringBillingOnHoldNotification"
            };
            self.notify_subscription(kind, id, at);
            return;
        }
        if !self.bill_interval(id, at, OrderKind::Renewal, false) {
            // Nothing left to bill: the subscription ends at this billing date.
            if let Some(sub) = self.subs.get_mut(&id) {
                sub.status = SubStatus::Deactivated;
                sub.end_date = Some(at);
            }
        }
    }

    /// Bills the interval starting at the next billing date (or, for the first purchase, now)
    /// with each active item's next-billing price, advances the billing date and sends
    /// `PaidOrderNotification`. False when no item is billable.
    fn bill_interval(&mut self, id: u64, at: i64, kind: OrderKind, first: bool) -> bool {
        let Some(sub) = self.subs.get_mut(&id) else {
            return false;
        };
        let billable = |v: &ItemVersion| {
            v.status == ItemStatus::Active || (first && v.status == ItemStatus::AwaitingReinstate)
        };
        let lines: Vec<(u32, Prices)> = sub
            .currents()
            .filter(|(_, v)| billable(v))
            .map(|(no, v)| (no, v.next_billing))
            .collect();
        if lines.is_empty() {
            return false;
        }
        sub.last_interval_no += 1;
        let interval = sub.last_interval_no;
        for (no, _) in &lines {
            if let Some(v) = sub.items.get_mut(no).and_then(|v| v.last_mut()) {
                v.last_interval_no = interval;
            }
        }
        if !first {
            sub.period_start = sub.next_billing;
            sub.intervals_since_anchor += 1;
            sub.next_billing = sub.billing_date();
            sub.status = SubStatus::Active;
            sub.grace_until = None;
        }
        self.record_order(id, at, kind, lines);
        true
    }

    fn record_order(&mut self, id: u64, at: i64, kind: OrderKind, lines: Vec<(u32, Prices)>) {
        let Some(sub) = self.subs.get(&id) else {
            return;
        };
        let total = lines
            .iter()
            .fold(Prices::default(), |sum, (_, p)| sum.add(*p));
        let items = lines
            .iter()
            .filter_map(|(no, p)| {
                let v = sub.current(*no)?;
                Some(OrderItem {
                    running_no: *no,
                    product_id: v.product_id,
                    quantity: v.quantity,
                    gross: decimal(p.gross),
                    net: decimal(p.net),
                    vat: decimal(p.vat),
                })
            })
            .collect();
        let order = Order {
            purchase_id: 0,
            subscription_id: id,
            customer_id: sub.customer_id,
            kind,
            interval_no: if kind == OrderKind::Alignment {
                0
            } else {
                sub.last_interval_no
            },
            created: at,
            currency: sub.currency.clone(),
            gross: decimal(total.gross),
            net: decimal(total.net),
            vat: decimal(total.vat),
            items,
            refunded: false,
        };
        let order = Order {
            purchase_id: self.next_id("purchase", 300_000_000),
            ..order
        };
        let body = render::purchase_notification(self, &order, "PaidOrderNotification", at);
        self.orders.push(order);
        self.queue("PaidOrderNotification", id, body, at);
    }

    // ----- notifications -----

    fn notify_subscription(&mut self, kind: &str, id: u64, at: i64) {
        if let Some(body) = render::subscription_notification(self, id, kind, at) {
            self.queue(kind, id, body, at);
        }
    }

    fn queue(&mut self, kind: &str, subscription_id: u64, body: serde_json::Value, at: i64) {
        let id = self.next_id("notification", 1);
        self.notifications.push(NotificationInfo {
            id,
            kind: kind.to_owned(),
            subscription_id,
            created: at,
            body,
            held: self.holding,
            attempts: 0,
            delivered_at: None,
            next_attempt: at,
            in_flight: false,
        });
    }

    /// Ends the hold; returns the ids released.
    pub fn release(&mut self) -> Vec<u64> {
        self.holding = false;
        self.notifications
            .iter_mut()
            .filter(|n| n.held)
            .map(|n| {
                n.held = false;
                n.id
            })
            .collect()
    }

    /// The oldest notification due for an attempt at `now`, marked in flight.
    pub fn take_due(&mut self, now: i64) -> Option<(u64, serde_json::Value)> {
        let n = self.notifications.iter_mut().find(|n| {
            !n.held && !n.in_flight && n.delivered_at.is_none() && n.next_attempt <= now
        })?;
        n.in_flight = true;
        n.attempts += 1;
        self.stats.notification_attempts += 1;
        Some((n.id, n.body.clone()))
    }

    /// Records an attempt's outcome; a failure is tried again two hours later.
    pub fn attempted(&mut self, id: u64, delivered: bool, now: i64) {
        if let Some(n) = self.notifications.iter_mut().find(|n| n.id == id) {
            n.in_flight = false;
            if delivered {
                n.delivered_at = Some(now);
                self.stats.notifications_delivered += 1;
            } else {
                n.next_attempt = now + RETRY_SECS;
            }
        }
    }
}
