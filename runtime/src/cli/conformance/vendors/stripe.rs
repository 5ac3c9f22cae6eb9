//! The Stripe setup: bearer API key, the `webhook` signing secret, subscriptions seeded in the
//! simulator and edited through the module, writes counted per subscription.

use super::*;

/// The webhook signing secret the kit grants as `webhook`.
const STRIPE_WEBHOOK_SECRET: &str = "whsec_conformance_kit_0123456789";

pub(super) struct Stripe {
    pub(super) sim: StripeSim,
}

impl Stripe {
    /// A customer with a monthly 20.00 USD subscription of one unit; its id.
    fn subscribed(&self, n: usize) -> String {
        let customer = self
            .sim
            .create_customer(
                &format!("buyer{n}@example.com"),
                &format!("Conformance buyer {n}"),
            )
            .expect("the Stripe simulator creates a customer");
        let price = self
            .sim
            .create_price(2000, "usd", "month")
            .expect("the Stripe simulator creates a price");
        self.sim
            .create_subscription(&customer, &[(&price, 1)])
            .expect("the Stripe simulator creates a subscription")
    }

    fn signed(&self, body: &str, secret: &str, timestamp: i64) -> kit::Webhook {
        kit::Webhook {
            method: "POST".into(),
            path: self.webhook_path(),
            headers: vec![
                (
                    "content-type".into(),
                    "application/json; charset=utf-8".into(),
                ),
                (
                    "stripe-signature".into(),
                    junction_sims::stripe::sign_payload(secret, timestamp, body),
                ),
            ],
            body: body.as_bytes().to_vec(),
        }
    }
}

impl Target for Stripe {
    fn vendor(&self) -> Vendor {
        Vendor::Stripe
    }

    fn spec(&self, name: &str, credentials: Credentials, timeout: Duration) -> InstanceSpec {
        let key = match credentials {
            Credentials::Good => StripeSimConfig::default().api_key,
            Credentials::Wrong => "sk_test_not_the_simulators_key".into(),
        };
        let url = self.sim.base_url();
        spec(
            name,
            &[("base-url", &url)],
            &[("webhook", STRIPE_WEBHOOK_SECRET)],
            egress(&url, Auth::Bearer(Secret::new(key)), timeout),
            timeout,
        )
    }

    fn faults(&self) -> &FaultState {
        self.sim.faults()
    }

    fn sample(&self, n: usize) -> Sample {
        Sample {
            object: "subscription".into(),
            key: self.subscribed(n),
            doc: SampleDoc::Edit(Arc::new(|doc: &mut Value| {
                let quantity = doc["items"][0]["quantity"].as_u64().unwrap_or(1);
                doc["items"][0]["quantity"] = json!(quantity + 1);
            })),
        }
    }

    fn actions(&self, sample: &Sample) -> u64 {
        self.sim.mutations(&sample.key)
    }

    fn actions_meaning(&self) -> &'static str {
        "writes Stripe executed on the subscription"
    }

    fn invalid(&self) -> Sample {
        // Stripe refuses items whose prices differ in currency (invalid_request_error).
        let key = self.subscribed(900);
        let euro = self
            .sim
            .create_price(1500, "eur", "month")
            .expect("the Stripe simulator creates a price");
        Sample {
            object: "subscription".into(),
            key,
            doc: SampleDoc::Edit(Arc::new(move |doc: &mut Value| {
                let mut item = doc["items"][0].clone();
                item["id"] = Value::Null;
                item["price_id"] = json!(euro);
                item["product_id"] = Value::Null;
                item["unit_amount"] = json!(1500);
                item["currency"] = json!("eur");
                if let Some(items) = doc["items"].as_array_mut() {
                    items.push(item);
                }
            })),
        }
    }

    fn webhook(&self, kind: HookKind) -> Option<kit::Webhook> {
        let key = self.subscribed(0);
        let event = self
            .sim
            .events()
            .into_iter()
            .rev()
            .find(|e| e["data"]["object"]["id"] == key.as_str())?;
        let body = event.to_string();
        Some(match kind {
            HookKind::Genuine => self.signed(&body, STRIPE_WEBHOOK_SECRET, now_secs()),
            HookKind::Forged => self.signed(&body, "whsec_forged_by_someone_else", now_secs()),
            // Stripe's libraries refuse timestamps older than five minutes.
            HookKind::Stale => self.signed(&body, STRIPE_WEBHOOK_SECRET, now_secs() - 3600),
        })
    }

    fn stale_policy(&self) -> StalePolicy {
        StalePolicy::Refuse
    }
}
