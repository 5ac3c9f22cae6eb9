//! The per-vendor setups of the conformance kit, in one place: how each simulator is started,
//! what a module is granted to talk to it (settings, secrets, credentials), the writes it can
//! take, how its state counts business actions, and the webhooks it sends.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use junction_connector_kit as kit;
use junction_sims::cleverbridge::{
    CleverbridgeSim, CleverbridgeSimConfig, CustomerSpec, ItemSpec, ProductSpec, RenewalType,
    SubscriptionSpec, Taxes,
};
use junction_sims::faults::FaultState;
use junction_sims::netsuite::{NetSuiteSim, NetSuiteSimConfig, setup};
use junction_sims::salesforce::{
    Condition, SalesforceSim, SalesforceSimConfig, ValidationRule, WriteAction,
};
use junction_sims::stripe::{StripeSim, StripeSimConfig};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::host::oauth1::Tba;
use crate::host::oauth2::{Grant, OAuth2, TokenSource};
use crate::host::{Auth, EgressPolicy, InstanceSpec, Limits, Origin};
use crate::services::secret::Secret;

/// The vendors whose simulators the kit can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Vendor {
    /// Stripe Billing (bearer API key, signed webhooks, idempotency keys).
    Stripe,
    /// NetSuite SuiteTalk REST with SuiteBilling (TBA, async jobs, idempotency keys).
    Netsuite,
    /// Salesforce REST (OAuth 2.0 client credentials, upsert by external id).
    Salesforce,
    /// Cleverbridge Subscription API (Basic auth, notifications with a shared credential).
    Cleverbridge,
}

impl Vendor {
    /// Every vendor, for error messages and docs.
    pub const ALL: [Vendor; 4] = [
        Vendor::Stripe,
        Vendor::Netsuite,
        Vendor::Salesforce,
        Vendor::Cleverbridge,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Vendor::Stripe => "stripe",
            Vendor::Netsuite => "netsuite",
            Vendor::Salesforce => "salesforce",
            Vendor::Cleverbridge => "cleverbridge",
        }
    }

    /// Starts this vendor's simulator on 127.0.0.1 with a free port.
    pub(super) async fn start(self) -> anyhow::Result<Box<dyn Target>> {
        let started: Box<dyn Target> = match self {
            Vendor::Stripe => Box::new(Stripe {
                sim: StripeSim::start(StripeSimConfig::default())
                    .await
                    .context("starting the Stripe simulator")?,
            }),
            Vendor::Netsuite => {
                let sim = NetSuiteSim::start(NetSuiteSimConfig::default())
                    .await
                    .context("starting the NetSuite simulator")?;
                sim.add_item(NETSUITE_ITEM, "Conformance seat");
                Box::new(NetSuite { sim })
            }
            Vendor::Salesforce => Box::new(Salesforce {
                sim: SalesforceSim::start(SalesforceSimConfig::default())
                    .await
                    .context("starting the Salesforce simulator")?,
            }),
            Vendor::Cleverbridge => Box::new(Cleverbridge {
                sim: CleverbridgeSim::start(CleverbridgeSimConfig::default())
                    .await
                    .context("starting the Cleverbridge simulator")?,
            }),
        };
        Ok(started)
    }
}

impl std::fmt::Display for Vendor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which credentials an instance gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Credentials {
    /// The ones the simulator accepts.
    Good,
    /// Well-formed ones it refuses.
    Wrong,
}

/// A change to a document read back from the vendor.
pub(super) type Edit = Arc<dyn Fn(&mut Value) + Send + Sync>;

/// How the document of a sample write is made.
#[derive(Clone)]
pub(super) enum SampleDoc {
    /// Written as is (the target creates the entity).
    Literal(Value),
    /// The entity exists at the vendor (the target cannot create it): read it with `fetch`,
    /// change it with this function, write the result.
    Edit(Edit),
}

impl std::fmt::Debug for SampleDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SampleDoc::Literal(v) => f.debug_tuple("Literal").field(v).finish(),
            SampleDoc::Edit(_) => f.write_str("Edit(..)"),
        }
    }
}

/// One write the target can take, on an entity only this sample uses.
#[derive(Debug, Clone)]
pub(super) struct Sample {
    pub object: String,
    pub key: String,
    pub doc: SampleDoc,
}

/// Which webhook to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HookKind {
    /// As the vendor sends it.
    Genuine,
    /// Signed (or authenticated) with a credential that is not the pipeline's.
    Forged,
    /// Genuine credentials, but old (or telling an outdated story).
    Stale,
}

/// What a module must do with a stale webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StalePolicy {
    /// The vendor signs a timestamp: refuse it as `invalid-webhook`.
    Refuse,
    /// The vendor signs no timestamp: any change must carry the vendor's current state (what
    /// `fetch` reads), never the notification's story.
    ConfirmByFetch,
}

/// A running simulator and everything the kit needs to know about its vendor.
pub(super) trait Target: Send + Sync {
    /// The vendor.
    fn vendor(&self) -> Vendor;
    /// What a pipeline grants a connector for this vendor, pointed at the simulator.
    fn spec(&self, name: &str, credentials: Credentials, timeout: Duration) -> InstanceSpec;
    /// The simulator's fault switches.
    fn faults(&self) -> &FaultState;
    /// Sample write `n` (distinct entities for distinct `n`), seeding the simulator with what
    /// it needs.
    fn sample(&self, n: usize) -> Sample;
    /// Business actions the vendor performed on the sample's entity, from its own state.
    fn actions(&self, sample: &Sample) -> u64;
    /// What [`Target::actions`] counts, for the report.
    fn actions_meaning(&self) -> &'static str;
    /// A write the vendor refuses on its merits (a validation rule), seeding what it needs.
    fn invalid(&self) -> Sample;
    /// Whether the vendor's 429 carries `Retry-After` the connector must pass on.
    fn retry_after(&self) -> bool {
        true
    }
    /// A webhook as this vendor sends one (about sample 0's entity, seeded first), or none
    /// when the vendor sends no webhooks.
    fn webhook(&self, kind: HookKind) -> Option<kit::Webhook>;
    /// What a stale webhook must lead to.
    fn stale_policy(&self) -> StalePolicy;
    /// The webhook path the kit uses.
    fn webhook_path(&self) -> String {
        format!("/hooks/{}", self.vendor().name())
    }
}

fn egress(base_url: &str, auth: Auth, timeout: Duration) -> EgressPolicy {
    EgressPolicy {
        allow_hosts: vec!["127.0.0.1".into()],
        auth,
        credential_origins: Origin::of_url(base_url).into_iter().collect(),
        timeout,
    }
}

fn spec(
    name: &str,
    settings: &[(&str, &str)],
    secrets: &[(&str, &str)],
    egress: EgressPolicy,
    timeout: Duration,
) -> InstanceSpec {
    InstanceSpec {
        name: name.to_string(),
        settings: settings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        secrets: secrets
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Secret::new(*v)))
            .collect(),
        egress,
        limits: Limits {
            call_timeout: timeout + Duration::from_secs(2),
            ..Limits::default()
        },
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn hmac_hex(key: &str, data: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

/// A canonical customer that NetSuite and Salesforce create from scratch.
fn customer(key: &str) -> Value {
    json!({
        "id": key, "email": format!("{}@example.com", key.to_ascii_lowercase()),
        "name": format!("Conformance {key}"), "phone": "+1 555 0100", "currency": "usd",
        "address": {"line1": "1 Main St", "line2": null, "city": "Springfield",
                    "postal_code": "12345", "state": null, "country": "US"},
        "created_at": null, "deleted": false, "metadata": {"kit": "conformance"},
    })
}

// ---------------------------------------------------------------------------------------------
// Stripe

/// The webhook signing secret the kit grants as `webhook`.
const STRIPE_WEBHOOK_SECRET: &str = "whsec_conformance_kit_0123456789";

struct Stripe {
    sim: StripeSim,
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

// ---------------------------------------------------------------------------------------------
// NetSuite

/// The item the simulated account sells (in the subscription plan).
const NETSUITE_ITEM: &str = "prod_Conformance";

struct NetSuite {
    sim: NetSuiteSim,
}

impl Target for NetSuite {
    fn vendor(&self) -> Vendor {
        Vendor::Netsuite
    }

    fn spec(&self, name: &str, credentials: Credentials, timeout: Duration) -> InstanceSpec {
        let config = self.sim.config();
        let token_secret = match credentials {
            Credentials::Good => config.token_secret.clone(),
            Credentials::Wrong => "not-the-token-secret".into(),
        };
        // TBA: the simulator verifies every signature. (OAuth 2.0 M2M needs a certificate key
        // pair registered with the account; `--pipeline` runs a module with one.)
        let tba = Tba {
            realm: config.account.clone(),
            consumer_key: Secret::new(config.consumer_key.as_str()),
            consumer_secret: Secret::new(config.consumer_secret.as_str()),
            token: Secret::new(config.token_id.as_str()),
            token_secret: Secret::new(token_secret),
        };
        let url = self.sim.base_url();
        spec(
            name,
            &[
                ("account", &config.account),
                ("base-url", url),
                ("subscription-plan", setup::SUBSCRIPTION_PLAN),
                ("price-book", setup::PRICE_BOOK),
                ("initial-term", setup::INITIAL_TERM),
                ("billing-schedule", setup::BILLING_SCHEDULE),
            ],
            &[],
            egress(url, Auth::OAuth1(tba), timeout),
            timeout,
        )
    }

    fn faults(&self) -> &FaultState {
        self.sim.faults()
    }

    fn sample(&self, n: usize) -> Sample {
        let key = format!("cus_Kit{n}");
        Sample {
            object: "customer".into(),
            doc: SampleDoc::Literal(customer(&key)),
            key,
        }
    }

    fn actions(&self, sample: &Sample) -> u64 {
        self.sim
            .applied_writes()
            .iter()
            .filter(|w| w.external_id.as_deref() == Some(sample.key.as_str()))
            .count() as u64
    }

    fn actions_meaning(&self) -> &'static str {
        "writes NetSuite applied to the record with that external id"
    }

    fn invalid(&self) -> Sample {
        // NetSuite refuses an external id with characters it does not allow (INVALID_CONTENT).
        let key = "cus_Kit|invalid".to_string();
        Sample {
            object: "customer".into(),
            doc: SampleDoc::Literal(customer(&key)),
            key,
        }
    }

    fn webhook(&self, _kind: HookKind) -> Option<kit::Webhook> {
        None
    }

    fn stale_policy(&self) -> StalePolicy {
        StalePolicy::Refuse
    }
}

// ---------------------------------------------------------------------------------------------
// Salesforce

struct Salesforce {
    sim: SalesforceSim,
}

impl Target for Salesforce {
    fn vendor(&self) -> Vendor {
        Vendor::Salesforce
    }

    fn spec(&self, name: &str, credentials: Credentials, timeout: Duration) -> InstanceSpec {
        let config = self.sim.config();
        let client_secret = match credentials {
            Credentials::Good => config.client_secret.clone(),
            Credentials::Wrong => "not-the-client-secret".into(),
        };
        let source = TokenSource::new(
            name,
            OAuth2 {
                token_url: self.sim.token_url(),
                grant: Grant::ClientSecret {
                    client_id: Secret::new(config.client_id.as_str()),
                    client_secret: Secret::new(client_secret),
                },
                instance_url: true,
            },
        )
        .expect("the simulator's token URL is a URL");
        let url = self.sim.base_url();
        // The simulator's clock stamps records, so polling needs no lag behind the host's.
        spec(
            name,
            &[("poll-lag-seconds", "0")],
            &[],
            egress(url, Auth::OAuth2(Arc::new(source)), timeout),
            timeout,
        )
    }

    fn faults(&self) -> &FaultState {
        self.sim.faults()
    }

    fn sample(&self, n: usize) -> Sample {
        let key = format!("cus_Kit{n}");
        Sample {
            object: "customer".into(),
            doc: SampleDoc::Literal(customer(&key)),
            key,
        }
    }

    fn actions(&self, sample: &Sample) -> u64 {
        // Salesforce has no idempotency keys: a repeated upsert by external id that lands on
        // the same record is the documented safe retry; a second record is a second action.
        let _ = sample;
        self.sim
            .applied_writes()
            .iter()
            .filter(|w| w.object == "Account" && w.action == WriteAction::Create)
            .count() as u64
    }

    fn actions_meaning(&self) -> &'static str {
        "Account records Salesforce created"
    }

    fn invalid(&self) -> Sample {
        self.sim.add_validation_rule(ValidationRule {
            object: "Account".into(),
            name: "Phone_Required".into(),
            error_message: "Accounts need a phone number".into(),
            error_field: Some("Phone".into()),
            when: Condition::Blank {
                field: "Phone".into(),
            },
        });
        let key = "cus_KitNoPhone".to_string();
        let mut doc = customer(&key);
        doc["phone"] = Value::Null;
        Sample {
            object: "customer".into(),
            doc: SampleDoc::Literal(doc),
            key,
        }
    }

    fn webhook(&self, _kind: HookKind) -> Option<kit::Webhook> {
        None
    }

    fn stale_policy(&self) -> StalePolicy {
        StalePolicy::Refuse
    }
}

// ---------------------------------------------------------------------------------------------
// Cleverbridge

/// The secret the kit grants as `webhook`.
const CLEVERBRIDGE_WEBHOOK_SECRET: &str = "cb-conformance-kit-secret-0123456789";

struct Cleverbridge {
    sim: CleverbridgeSim,
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
