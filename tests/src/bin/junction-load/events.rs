//! Signed Stripe webhooks for the load: real events rendered by the Stripe simulator, with their
//! ids rewritten so every body is a distinct event about a chosen entity.

use anyhow::{Context, anyhow};
use junction_tests::demo::WEBHOOK_SECRET;
use junction_tests::sim::stripe::{StripeSim, sign_payload};
use serde_json::Value;

/// One webhook ready to send: the exact body and its `Stripe-Signature`.
#[derive(Debug, Clone)]
pub struct Shot {
    pub body: String,
    pub signature: String,
}

/// Which event a shot carries.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    CustomerCreated,
    SubscriptionCreated,
    SubscriptionUpdated,
}

/// Event templates and the ids in them that each shot replaces.
#[derive(Debug)]
pub struct Templates {
    customer_created: Value,
    subscription_created: Value,
    subscription_updated: Value,
    customer: String,
    subscription: String,
    item: String,
    /// The Stripe price every templated subscription bills.
    pub price: String,
}

impl Templates {
    /// Renders the templates with `sim`: a customer, a subscription, and one update to it.
    pub fn from_sim(sim: &StripeSim) -> anyhow::Result<Templates> {
        let price = sim
            .create_price(2000, "usd", "month")
            .map_err(|e| anyhow!("{e}"))?;
        let customer = sim
            .create_customer("load@example.com", "Load Buyer")
            .map_err(|e| anyhow!("{e}"))?;
        let subscription = sim
            .create_subscription(&customer, &[(&price, 1)])
            .map_err(|e| anyhow!("{e}"))?;
        sim.update_subscription_quantity(&subscription, 2)
            .map_err(|e| anyhow!("{e}"))?;
        let item = sim
            .subscription(&subscription)
            .map_err(|e| anyhow!("{e}"))?["items"]["data"][0]["id"]
            .as_str()
            .context("the simulator's subscription has no item")?
            .to_owned();
        let events = sim.events();
        let find = |kind: &str| {
            events
                .iter()
                .find(|e| e["type"] == kind)
                .cloned()
                .with_context(|| format!("the simulator emitted no {kind}"))
        };
        Ok(Templates {
            customer_created: find("customer.created")?,
            subscription_created: find("customer.subscription.created")?,
            subscription_updated: find("customer.subscription.updated")?,
            customer,
            subscription,
            item,
            price,
        })
    }

    /// Event `event` of `kind` about entity number `entity`, signed now.
    pub fn shot(&self, kind: Kind, event: &str, entity: usize) -> Shot {
        let template = match kind {
            Kind::CustomerCreated => &self.customer_created,
            Kind::SubscriptionCreated => &self.subscription_created,
            Kind::SubscriptionUpdated => &self.subscription_updated,
        };
        let mut event_value = template.clone();
        event_value["id"] = Value::String(event.to_owned());
        let body = event_value
            .to_string()
            .replace(&self.customer, &format!("cus_L{entity:07}"))
            .replace(&self.subscription, &format!("sub_L{entity:07}"))
            .replace(&self.item, &format!("si_L{entity:07}"));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        Shot {
            signature: sign_payload(WEBHOOK_SECRET, now, &body),
            body,
        }
    }

    /// `n` shots of `kind`, events `evt_<tag><i>` about entities `first..first + n`.
    pub fn shots(&self, kind: Kind, tag: &str, first: usize, n: usize) -> Vec<Shot> {
        (0..n)
            .map(|i| self.shot(kind, &format!("evt_{tag}{i:08}"), first + i))
            .collect()
    }
}
