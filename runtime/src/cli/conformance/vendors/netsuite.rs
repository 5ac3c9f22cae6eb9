//! The NetSuite setup: TBA credentials, the SuiteBilling settings, customers created through
//! the module, writes counted per external id.

use super::*;

/// The item the simulated account sells (in the subscription plan).
pub(super) const NETSUITE_ITEM: &str = "prod_Conformance";

pub(super) struct NetSuite {
    pub(super) sim: NetSuiteSim,
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
