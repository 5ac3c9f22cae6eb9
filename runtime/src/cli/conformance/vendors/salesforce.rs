//! The Salesforce setup: OAuth 2.0 client credentials with `instance-url`, customers upserted
//! through the module, Accounts created counted.

use super::*;

pub(super) struct Salesforce {
    pub(super) sim: SalesforceSim,
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
