//! The Zendesk setup: an API token as Basic credentials, the text ticket field where the
//! connector keeps the invoice it wrote, invoices that opened tickets counted per external id.

use super::*;

pub(super) struct Zendesk {
    pub(super) sim: ZendeskSim,
    /// The custom ticket field created for the connector's `invoice-field` setting.
    pub(super) invoice_field: u64,
}

/// A canonical invoice whose payment failed, as Stripe's connector decodes it.
fn invoice(key: &str, email: &str) -> Value {
    json!({
        "id": key, "customer_id": "cus_KitZendesk", "customer_email": email,
        "subscription_id": "sub_KitZendesk",
        "status": "open", "currency": "usd", "total": 2000, "amount_due": 2000, "amount_paid": 0,
        "period_start": "2026-11-01T00:00:00Z", "period_end": "2026-12-01T00:00:00Z",
        "due_at": null, "created_at": "2026-12-01T00:00:00Z",
        "metadata": {"kit": "conformance"},
    })
}

impl Target for Zendesk {
    fn vendor(&self) -> Vendor {
        Vendor::Zendesk
    }

    fn spec(&self, name: &str, credentials: Credentials, timeout: Duration) -> InstanceSpec {
        let config = self.sim.config();
        let token = match credentials {
            Credentials::Good => config.api_token.clone(),
            Credentials::Wrong => "not-the-api-token".into(),
        };
        let url = self.sim.base_url();
        let field = self.invoice_field.to_string();
        spec(
            name,
            &[("base-url", url), ("invoice-field", &field)],
            &[],
            egress(
                url,
                // Security and authentication > API token: `{email}/token` : `{api_token}`.
                Auth::Basic {
                    username: Secret::new(format!("{}/token", config.email)),
                    password: Secret::new(token),
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
        let key = format!("in_Kit{n}");
        Sample {
            object: "invoice".into(),
            doc: SampleDoc::Literal(invoice(&key, &format!("buyer{n}@example.com"))),
            key,
        }
    }

    fn actions(&self, sample: &Sample) -> u64 {
        self.sim.tickets_with_external_id(&sample.key).len() as u64
    }

    fn actions_meaning(&self) -> &'static str {
        "tickets Zendesk holds for the invoice"
    }

    fn invalid(&self) -> Sample {
        // Zendesk refuses a requester whose e-mail address is not one.
        let key = "in_KitBadRequester".to_string();
        Sample {
            object: "invoice".into(),
            doc: SampleDoc::Literal(invoice(&key, "not an address")),
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
