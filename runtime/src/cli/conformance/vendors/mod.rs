//! The per-vendor setups of the conformance kit, in one place: how each simulator is started,
//! what a module is granted to talk to it (settings, secrets, credentials), the writes it can
//! take, how its state counts business actions, and the webhooks it sends.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

mod cleverbridge;
mod netsuite;
mod salesforce;
mod stripe;
mod zendesk;

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
use junction_sims::zendesk::{ZendeskSim, ZendeskSimConfig};
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
    /// Zendesk Support tickets (API token, idempotent creation, cursor pages, rate limits).
    Zendesk,
}

impl Vendor {
    /// Every vendor, for error messages and docs.
    pub const ALL: [Vendor; 5] = [
        Vendor::Stripe,
        Vendor::Netsuite,
        Vendor::Salesforce,
        Vendor::Cleverbridge,
        Vendor::Zendesk,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Vendor::Stripe => "stripe",
            Vendor::Netsuite => "netsuite",
            Vendor::Salesforce => "salesforce",
            Vendor::Cleverbridge => "cleverbridge",
            Vendor::Zendesk => "zendesk",
        }
    }

    /// Starts this vendor's simulator on 127.0.0.1 with a free port.
    pub(super) async fn start(self) -> anyhow::Result<Box<dyn Target>> {
        let started: Box<dyn Target> = match self {
            Vendor::Stripe => Box::new(stripe::Stripe {
                sim: StripeSim::start(StripeSimConfig::default())
                    .await
                    .context("starting the Stripe simulator")?,
            }),
            Vendor::Netsuite => {
                let sim = NetSuiteSim::start(NetSuiteSimConfig::default())
                    .await
                    .context("starting the NetSuite simulator")?;
                sim.add_item(netsuite::NETSUITE_ITEM, "Conformance seat");
                Box::new(netsuite::NetSuite { sim })
            }
            Vendor::Salesforce => Box::new(salesforce::Salesforce {
                sim: SalesforceSim::start(SalesforceSimConfig::default())
                    .await
                    .context("starting the Salesforce simulator")?,
            }),
            Vendor::Cleverbridge => Box::new(cleverbridge::Cleverbridge {
                sim: CleverbridgeSim::start(CleverbridgeSimConfig::default())
                    .await
                    .context("starting the Cleverbridge simulator")?,
            }),
            Vendor::Zendesk => {
                let sim = ZendeskSim::start(ZendeskSimConfig::default())
                    .await
                    .context("starting the Zendesk simulator")?;
                let invoice_field = sim.add_ticket_field("Junction invoice", "textarea");
                Box::new(zendesk::Zendesk { sim, invoice_field })
            }
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
        clock: crate::services::clock::Clock::system(),
        masking_key: None,
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
