//! The Cleverbridge setup: Basic credentials, the `webhook` secret the notification credential
//! derives from, subscriptions seeded in the simulator, every write counted.

use super::*;

/// The secret the kit grants as `webhook`.
const CLEVERBRIDGE_WEBHOOK_SECRET: &str = "cb-conformance-kit-secret-0123456789";

pub(super) struct Cleverbridge {
    pub(super) sim: CleverbridgeSim,
}

impl Cleverbridge {
    /// Cloudify Gold at 95.19 USD gross, monthly, one seat, for customer `n`; its id.
    fn subscribed(&self, n: usize) -> u64 {
        let product = self
            .sim
            .create_product(ProductSpec {
                id: None,
                name: "Cloudify Gold".into(),
                name_extension: "Monthly".into(),
                taxes: Taxes::Gross,
                vat_rate: 19.0,
                prices: [("USD".to_owned(), 95.19)].into(),
                sold: true,
            })
            .expect("the Cleverbridge simulator creates a product");
        let customer = self.sim.create_customer(CustomerSpec {
            email: format!("buyer{n}@example.com"),
            first_name: "Conformance".into(),
            last_name: format!("Buyer {n}"),
            reference_id: Some(format!("kit-{n}")),
            reference_no: String::new(),
        });
        self.sim
            .create_subscription(SubscriptionSpec {
                customer_id: customer,
                currency: "USD".into(),
                interval_months: 1,
                interval_days: 0,
                grace_period_days: 0,
                renewal_type: RenewalType::Automatic,
                recurrence_count: None,
                items: vec![ItemSpec {
                    product_id: product,
                    quantity: 1,
                    price: None,
                }],
            })
            .expect("the Cleverbridge simulator creates a subscription")
    }

    /// The connector's documented notification credential: the password the operator enters
    /// in Web Admin, `hex(HMAC-SHA256(webhook secret, "cleverbridge-notification"))`.
    fn notification(&self, body: &Value, password: &str) -> kit::Webhook {
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("cleverbridge:{password}"));
        kit::Webhook {
            method: "POST".into(),
            path: self.webhook_path(),
            headers: vec![
                (
                    "content-type".into(),
                    "application/json; charset=utf-8".into(),
                ),
                ("authorization".into(), format!("Basic {basic}")),
            ],
            body: body.to_string().into_bytes(),
        }
    }
}

impl Target for Cleverbridge {
    fn vendor(&self) -> Vendor {
        Vendor::Cleverbridge
    }

    fn spec(&self, name: &str, credentials: Credentials, timeout: Duration) -> InstanceSpec {
        let config = self.sim.config();
        let password = match credentials {
            Credentials::Good => config.password.clone(),
            Credentials::Wrong => "not-the-password".into(),
        };
        let url = self.sim.base_url();
        spec(
            name,
            &[("base-url", url)],
            &[("webhook", CLEVERBRIDGE_WEBHOOK_SECRET)],
            egress(
                url,
                Auth::Basic {
                    username: Secret::new(config.user.as_str()),
                    password: Secret::new(password),
                },
                timeout,
            ),
            timeout,
        )
    }

    fn faults(&self) -> &FaultState {
        self.sim.faults()
    }

    fn sample(&self, n: usize) -> Sample {
        Sample {
            object: "subscription".into(),
            key: self.subscribed(n).to_string(),
            // The field's case: Cloudify Gold from 95.19 to 100.00 at the next billing date.
            doc: SampleDoc::Edit(Arc::new(|doc: &mut Value| {
                doc["items"][0]["unit_amount"] = json!(10000);
            })),
        }
    }

    fn actions(&self, _sample: &Sample) -> u64 {
        self.sim.stats().writes
    }

    fn actions_meaning(&self) -> &'static str {
        "writes Cleverbridge executed"
    }

    fn invalid(&self) -> Sample {
        // A subscription's currency is fixed: Cleverbridge refuses a price in another one.
        Sample {
            object: "subscription".into(),
            key: self.subscribed(900).to_string(),
            doc: SampleDoc::Edit(Arc::new(|doc: &mut Value| {
                doc["items"][0]["currency"] = json!("eur");
            })),
        }
    }

    fn webhook(&self, kind: HookKind) -> Option<kit::Webhook> {
        let sub = self.subscribed(0);
        let password = hmac_hex(CLEVERBRIDGE_WEBHOOK_SECRET, b"cleverbridge-notification");
        let paid = self
            .sim
            .notifications()
            .into_iter()
            .rev()
            .find(|n| n.subscription_id == sub)
            .map(|n| n.body)?;
        Some(match kind {
            HookKind::Genuine => self.notification(&paid, &password),
            HookKind::Forged => self.notification(&paid, "guessed-password"),
            // Cleverbridge signs no timestamp: an old notification telling a story that is no
            // longer (or never was) true, with the right credential.
            HookKind::Stale => self.notification(
                &json!({
                    "meta": {"type": "RecurringBillingCanceledNotification", "date": "2020-01-01T00:00:00.000000"},
                    "subscriptionId": sub, "status": "Deactivated", "statusId": "DEA",
                }),
                &password,
            ),
        })
    }

    fn stale_policy(&self) -> StalePolicy {
        StalePolicy::ConfirmByFetch
    }
}
