//! The account's records: products, customers, subscriptions with versioned items, orders and
//! notifications, and the setup specs a test creates them from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::money::{Prices, Taxes};

/// fact sheet §4: subscription statuses, with the codes the XML form uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SubStatus {
    Active,
    Deactivated,
    Finished,
    Grace,
    Hold,
    New,
    HandledByClient,
    Other,
}

impl SubStatus {
    pub fn code(self) -> &'static str {
        match self {
            Self::Active => "ACT",
            Self::Deactivated => "DEA",
            Self::Finished => "FIN",
            Self::Grace => "GRA",
            Self::Hold => "HLD",
            Self::New => "NEW",
            Self::HandledByClient => "HBC",
            Self::Other => "OTH",
        }
    }
}

/// fact sheet §4: item statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ItemStatus {
    Active,
    Deactivated,
    Finished,
    Removed,
    AwaitingReinstate,
    HandledByClient,
    Other,
}

impl ItemStatus {
    pub fn code(self) -> &'static str {
        match self {
            Self::Active => "ACT",
            Self::Deactivated => "DEA",
            Self::Finished => "FIN",
            Self::Removed => "REM",
            Self::AwaitingReinstate => "WAT",
            Self::HandledByClient => "HBC",
            Self::Other => "OTH",
        }
    }
}

/// fact sheet §4: Subscription Management 2.0 renewal types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum RenewalType {
    #[default]
    Automatic,
    Manual,
}

/// A catalog product as the operator set it up in Web Admin.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductSpec {
    /// `None` picks the next free id.
    #[serde(default)]
    pub id: Option<u64>,
    pub name: String,
    #[serde(default)]
    pub name_extension: String,
    /// Whether its prices are gross or net.
    pub taxes: Taxes,
    /// VAT in percent (19.0).
    #[serde(default)]
    pub vat_rate: f64,
    /// List price per unit by currency (`{"USD": 95.19}`), in the taxes setting's basis; used
    /// when an item is created or changes product without a `CustomerPrice`.
    #[serde(default)]
    pub prices: BTreeMap<String, f64>,
    /// Whether it is still sold (fact sheet §2: reinstating needs the product still sold).
    #[serde(default = "yes")]
    pub sold: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize)]
pub struct Product {
    pub id: u64,
    pub name: String,
    pub name_extension: String,
    pub taxes: Taxes,
    pub vat_rate: f64,
    /// Cents per unit by currency.
    pub prices: BTreeMap<String, i64>,
    pub sold: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerSpec {
    pub email: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    /// Your own customer id (`CustomerReferenceId`); generated when absent.
    #[serde(default)]
    pub reference_id: Option<String>,
    #[serde(default)]
    pub reference_no: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Customer {
    pub id: u64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub reference_id: String,
    pub reference_no: String,
    /// While true, renewal payments fail (the customer's card is declined).
    pub payment_fails: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemSpec {
    pub product_id: u64,
    #[serde(default = "one")]
    pub quantity: u32,
    /// Per-unit customer price in the product's taxes basis; the product's list price when
    /// absent.
    #[serde(default)]
    pub price: Option<f64>,
}

fn one() -> u32 {
    1
}

/// A subscription as a completed checkout leaves it: the initial purchase is billed at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSpec {
    pub customer_id: u64,
    pub currency: String,
    #[serde(default)]
    pub interval_months: u32,
    #[serde(default)]
    pub interval_days: u32,
    #[serde(default)]
    pub grace_period_days: u32,
    /// fact sheet §4: an automatic sign-up is Active/Active, a manual one Deactivated /
    /// AwaitingReinstate.
    #[serde(default)]
    pub renewal_type: RenewalType,
    /// A fixed number of billings, after which the subscription is Finished.
    #[serde(default)]
    pub recurrence_count: Option<u32>,
    pub items: Vec<ItemSpec>,
}

/// One version of an item (fact sheet §3: several entries share a `RunningNo`; only the last
/// is `IsCurrent`).
#[derive(Debug, Clone)]
pub struct ItemVersion {
    pub version: u32,
    pub product_id: u64,
    pub product_name: String,
    pub product_name_extension: String,
    pub quantity: u32,
    /// Per-unit price in cents, in the product's taxes basis.
    pub unit_price: i64,
    /// The total billed at the next billing date (unit price times quantity, split).
    pub next_billing: Prices,
    pub status: ItemStatus,
    pub start: i64,
    /// When a later version replaced this one.
    pub end: Option<i64>,
    /// When a deactivation takes effect (the next billing date at the time).
    pub deactivation_date: Option<i64>,
    pub allow_reinstate: bool,
    /// Deactivated by switching the whole subscription to manual renewal.
    pub cancelled_with_subscription: bool,
    pub last_interval_no: u32,
}

#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: u64,
    pub customer_id: u64,
    pub currency: String,
    pub interval_months: u32,
    pub interval_days: u32,
    pub grace_period_days: u32,
    pub status: SubStatus,
    pub renewal_type: RenewalType,
    pub recurrence_count: Option<u32>,
    pub start: i64,
    /// Billing dates are `anchor` plus whole intervals (reset by `updatenextbillingdate`).
    pub anchor: i64,
    pub intervals_since_anchor: u32,
    /// The start of the interval being used now (the last billing date).
    pub period_start: i64,
    pub next_billing: i64,
    pub end_date: Option<i64>,
    /// While in Grace: when Hold follows.
    pub grace_until: Option<i64>,
    pub last_interval_no: u32,
    /// The billing date the last payment reminder announced (one reminder per renewal).
    pub reminded_for: Option<i64>,
    /// Versions by running number, oldest first.
    pub items: BTreeMap<u32, Vec<ItemVersion>>,
}

impl Subscription {
    pub fn current(&self, running_no: u32) -> Option<&ItemVersion> {
        self.items.get(&running_no).and_then(|v| v.last())
    }

    pub fn currents(&self) -> impl Iterator<Item = (u32, &ItemVersion)> {
        self.items
            .iter()
            .filter_map(|(no, versions)| Some((*no, versions.last()?)))
    }

    /// Adds a version of an item changed by `change`, at `now`.
    pub fn revise(&mut self, running_no: u32, now: i64, change: impl FnOnce(&mut ItemVersion)) {
        let Some(versions) = self.items.get_mut(&running_no) else {
            return;
        };
        let Some(last) = versions.last_mut() else {
            return;
        };
        let mut next = last.clone();
        last.end = Some(now);
        next.version += 1;
        next.start = now;
        change(&mut next);
        versions.push(next);
    }

    /// The billing date `intervals_since_anchor` intervals after the anchor.
    pub fn billing_date(&self) -> i64 {
        super::clock::add_intervals(
            self.anchor,
            self.interval_months,
            self.interval_days,
            self.intervals_since_anchor,
        )
    }

    /// Reactivated after its billing date passed: it renews now (one interval), not for every
    /// interval it was cancelled [U].
    pub fn rebase_past_billing_date(&mut self, now: i64) {
        if self.next_billing < now {
            self.anchor = now;
            self.intervals_since_anchor = 0;
            self.next_billing = now;
        }
    }
}

/// Why an order was billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OrderKind {
    /// The checkout that created the subscription.
    New,
    /// A renewal at (or, by `renewsubscription`, before) the next billing date.
    Renewal,
    /// The prorated charge of a change aligned to the current interval.
    Alignment,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrderItem {
    pub running_no: u32,
    pub product_id: u64,
    pub quantity: u32,
    pub gross: f64,
    pub net: f64,
    pub vat: f64,
}

/// A purchase Cleverbridge billed: what a test inspects to see what a customer paid.
#[derive(Debug, Clone, Serialize)]
pub struct Order {
    pub purchase_id: u64,
    pub subscription_id: u64,
    pub customer_id: u64,
    pub kind: OrderKind,
    /// The interval number it pays for (0 for an alignment).
    pub interval_no: u32,
    pub created: i64,
    pub currency: String,
    pub gross: f64,
    pub net: f64,
    pub vat: f64,
    pub items: Vec<OrderItem>,
    pub refunded: bool,
}

/// A notification and its delivery so far.
#[derive(Debug, Clone, Serialize)]
pub struct NotificationInfo {
    pub id: u64,
    /// `meta.type`, e.g. `PaidOrderNotification`.
    pub kind: String,
    pub subscription_id: u64,
    pub created: i64,
    pub body: Value,
    /// Held back by `hold_notifications` until released.
    pub held: bool,
    pub attempts: u32,
    pub delivered_at: Option<i64>,
    /// Simulated second of the next attempt (two hours after a failed one).
    pub next_attempt: i64,
    #[serde(skip)]
    pub in_flight: bool,
}

/// Counters a test asserts on.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CbStats {
    /// Requests to `/subscription/`.
    pub requests: u64,
    /// Requests answered by an injected fault before being handled.
    pub faults_injected: u64,
    pub auth_failures: u64,
    /// Writes answered OK that changed nothing (the `silent_drop_rate` fault).
    pub silent_drops: u64,
    /// Writes applied, then answered 500 (the `error_after_write_rate` fault).
    pub errors_after_write: u64,
    /// Writes that changed state.
    pub writes: u64,
    pub notification_attempts: u64,
    pub notifications_delivered: u64,
    pub notification_duplicates: u64,
}
