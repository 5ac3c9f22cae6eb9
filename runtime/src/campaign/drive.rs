//! The changes a campaign makes at Stripe: customers first (a NetSuite subscription needs its
//! customer), then a subscription each and a run of updates per subscription, by kind, paced
//! to the campaign's rate and spread over four tasks so changes of different subscriptions
//! interleave as a real account's do.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Map, Value, json};

use junction_sims::netsuite::NetSuiteSim;
use junction_sims::stripe::{ItemChange, SimState, SubChange};

/// Updates per subscription after its creation; the last may cancel it.
pub const UPDATES_PER_SUBSCRIPTION: usize = 8;

/// Changes per customer: the customer, its subscription and the updates.
pub const CHANGES_PER_CUSTOMER: usize = UPDATES_PER_SUBSCRIPTION + 2;

/// What kind of business change one Stripe change is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// A new customer.
    NewCustomer,
    /// A customer's profile edited (name).
    CustomerUpdate,
    /// A new subscription.
    NewSubscription,
    /// To the dearer plan.
    Upgrade,
    /// To the cheaper plan.
    Downgrade,
    /// More or fewer seats.
    QuantityChange,
    /// The same product at its new list price.
    PriceChange,
    /// Cancelled at period end: billing stops on a future date the change carries.
    CancelAtPeriodEnd,
    /// Cancelled now.
    CancelNow,
}

impl ChangeKind {
    /// Every kind, in the order tables list them.
    pub const ALL: [ChangeKind; 9] = [
        ChangeKind::NewCustomer,
        ChangeKind::CustomerUpdate,
        ChangeKind::NewSubscription,
        ChangeKind::Upgrade,
        ChangeKind::Downgrade,
        ChangeKind::QuantityChange,
        ChangeKind::PriceChange,
        ChangeKind::CancelAtPeriodEnd,
        ChangeKind::CancelNow,
    ];

    /// How a table names it.
    pub fn label(self) -> &'static str {
        match self {
            ChangeKind::NewCustomer => "new customer",
            ChangeKind::CustomerUpdate => "customer profile change",
            ChangeKind::NewSubscription => "new subscription",
            ChangeKind::Upgrade => "upgrade",
            ChangeKind::Downgrade => "downgrade",
            ChangeKind::QuantityChange => "quantity change",
            ChangeKind::PriceChange => "price change",
            ChangeKind::CancelAtPeriodEnd => "cancellation at period end (future-dated)",
            ChangeKind::CancelNow => "cancellation now",
        }
    }
}

/// The plans a campaign sells: one product at three prices.
#[derive(Debug, Clone)]
pub struct Catalog {
    basic: String,
    pro: String,
    /// The basic plan's new list price (a price change moves a subscription onto it).
    repriced: String,
}

impl Catalog {
    /// Creates the prices at Stripe and the product's item in NetSuite's catalog (the
    /// operator's one-time setup, `docs/netsuite-mapping.md`).
    pub fn create(stripe: &SimState, netsuite: &NetSuiteSim) -> anyhow::Result<Catalog> {
        let basic = stripe.create_price(2000, "usd", "month")?;
        let product = stripe
            .product_of(&basic)
            .context("the Stripe simulator's price has no product")?;
        let pro = stripe.create_price_of(&product, 5000, "usd", "month")?;
        let repriced = stripe.create_price_of(&product, 2400, "usd", "month")?;
        netsuite.add_item(&product, "Cloud");
        Ok(Catalog {
            basic,
            pro,
            repriced,
        })
    }
}

/// What the drive did, by kind.
pub type Made = BTreeMap<ChangeKind, u64>;

/// Creates `customers` customers at Stripe.
pub fn customers(
    stripe: &SimState,
    customers: usize,
    made: &mut Made,
) -> anyhow::Result<Vec<String>> {
    let ids = (0..customers)
        .map(|i| stripe.create_customer(&format!("buyer{i}@example.com"), &format!("Buyer {i}")))
        .collect::<Result<Vec<_>, _>>()?;
    *made.entry(ChangeKind::NewCustomer).or_default() += ids.len() as u64;
    Ok(ids)
}

/// Subscribes every customer and runs their updates, over four tasks, `pause` between two
/// changes of one task. `progress` counts every change made.
pub async fn subscriptions(
    stripe: Arc<SimState>,
    catalog: &Catalog,
    customers: &[String],
    seed: u64,
    pause: Duration,
    progress: Arc<std::sync::atomic::AtomicU64>,
) -> anyhow::Result<(Vec<String>, Made)> {
    const TASKS: usize = 4;
    let per_task = customers.len().div_ceil(TASKS).max(1);
    let mut set = tokio::task::JoinSet::new();
    for (n, slice) in customers.chunks(per_task).enumerate() {
        let (stripe, catalog, slice, progress) = (
            stripe.clone(),
            catalog.clone(),
            slice.to_vec(),
            progress.clone(),
        );
        let mut rng = StdRng::seed_from_u64(seed ^ (n as u64 + 1).wrapping_mul(0x9e37_79b9));
        set.spawn(async move {
            let mut made = Made::new();
            let mut subs = Vec::new();
            for c in &slice {
                subs.push(Subscriber {
                    customer: c.clone(),
                    sub: stripe.create_subscription(c, &[(&catalog.basic, 1)])?,
                    price: catalog.basic.clone(),
                    quantity: 1,
                });
                *made.entry(ChangeKind::NewSubscription).or_default() += 1;
                progress.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(pause).await;
            }
            for round in 0..UPDATES_PER_SUBSCRIPTION {
                let last = round + 1 == UPDATES_PER_SUBSCRIPTION;
                for (i, s) in subs.iter_mut().enumerate() {
                    let kind = if last && i % 3 == 0 {
                        ChangeKind::CancelNow
                    } else if last && i % 3 == 1 {
                        ChangeKind::CancelAtPeriodEnd
                    } else {
                        s.pick(&mut rng, &catalog)
                    };
                    s.apply(&stripe, &catalog, kind, &mut rng)?;
                    *made.entry(kind).or_default() += 1;
                    progress.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(pause).await;
                }
            }
            anyhow::Ok((subs.into_iter().map(|s| s.sub).collect::<Vec<_>>(), made))
        });
    }
    let mut all = Vec::new();
    let mut made = Made::new();
    while let Some(done) = set.join_next().await {
        let (subs, m) = done.context("a driver task panicked")??;
        all.extend(subs);
        for (k, n) in m {
            *made.entry(k).or_default() += n;
        }
    }
    Ok((all, made))
}

/// One subscription as the driver left it.
struct Subscriber {
    customer: String,
    sub: String,
    price: String,
    quantity: u64,
}

impl Subscriber {
    /// A change that makes sense now: upgrade from a basic plan, downgrade from pro, a
    /// quantity or price change, or a profile change of the customer.
    fn pick(&self, rng: &mut StdRng, catalog: &Catalog) -> ChangeKind {
        match rng.random_range(0..4) {
            0 if self.price == catalog.pro => ChangeKind::Downgrade,
            0 => ChangeKind::Upgrade,
            1 => ChangeKind::QuantityChange,
            2 if self.price == catalog.basic => ChangeKind::PriceChange,
            2 => ChangeKind::QuantityChange,
            _ => ChangeKind::CustomerUpdate,
        }
    }

    fn apply(
        &mut self,
        stripe: &SimState,
        catalog: &Catalog,
        kind: ChangeKind,
        rng: &mut StdRng,
    ) -> anyhow::Result<()> {
        let item = || -> anyhow::Result<String> {
            let s = stripe.subscription(&self.sub)?;
            s["items"]["data"][0]["id"]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("{} has no item", self.sub))
        };
        let price_change = |price: &str, quantity: u64| -> anyhow::Result<SubChange> {
            Ok(SubChange {
                items: vec![ItemChange {
                    id: Some(item()?),
                    price: Some(price.to_owned()),
                    quantity: Some(quantity),
                    ..ItemChange::default()
                }],
                ..SubChange::default()
            })
        };
        match kind {
            ChangeKind::Upgrade | ChangeKind::Downgrade | ChangeKind::PriceChange => {
                let price = match kind {
                    ChangeKind::Upgrade => &catalog.pro,
                    ChangeKind::Downgrade => &catalog.basic,
                    _ => &catalog.repriced,
                };
                stripe.update_subscription(&self.sub, &price_change(price, self.quantity)?)?;
                self.price = price.clone();
            }
            ChangeKind::QuantityChange => {
                let mut quantity = rng.random_range(1..=10);
                if quantity == self.quantity {
                    quantity = quantity % 10 + 1;
                }
                stripe.update_subscription(&self.sub, &price_change(&self.price, quantity)?)?;
                self.quantity = quantity;
            }
            ChangeKind::CustomerUpdate => {
                let mut fields = Map::new();
                fields.insert(
                    "name".into(),
                    json!(format!("Buyer {} ({})", self.customer, rng.random::<u16>())),
                );
                stripe.update_customer(&self.customer, fields)?;
            }
            ChangeKind::CancelAtPeriodEnd => {
                stripe.cancel_at_period_end(&self.sub)?;
            }
            ChangeKind::CancelNow => {
                stripe.cancel_now(&self.sub)?;
            }
            ChangeKind::NewCustomer | ChangeKind::NewSubscription => {
                bail!("{} is made by the drive itself", kind.label())
            }
        }
        Ok(())
    }
}

/// Waits until every customer is at NetSuite (a subscription written before its customer
/// would wait on it; the campaign keeps the two apart so its counts stay readable).
pub async fn customers_at_netsuite(
    netsuite: &NetSuiteSim,
    customers: &[String],
    within: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    let mut waiting: Vec<&String> = customers.iter().collect();
    while !waiting.is_empty() {
        waiting.retain(|c| netsuite.record("customer", c).is_none());
        if tokio::time::Instant::now() > deadline {
            bail!(
                "{} of {} customers did not reach NetSuite within {} s",
                waiting.len(),
                customers.len(),
                within.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Out-of-band edits in NetSuite, as a user editing customers by hand would make them: every
/// `1 / rate`th customer's name. What reconciliation must find and repair.
pub fn hand_edits(netsuite: &NetSuiteSim, customers: &[String], rate: f64) -> u64 {
    if rate <= 0.0 {
        return 0;
    }
    let step = ((1.0 / rate).round() as usize).max(1);
    let mut edited = 0;
    for c in customers.iter().step_by(step) {
        if netsuite.edit_record("customer", c, |f| {
            f.insert(
                "companyName".into(),
                Value::String(format!("{c} (edited by hand in NetSuite)")),
            );
        }) {
            edited += 1;
        }
    }
    edited
}
