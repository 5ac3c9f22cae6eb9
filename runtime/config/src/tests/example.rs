//! The shipped example pipeline loads into the plan operators expect, and loading several files
//! checks what must be unique across them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::super::*;
use super::fakes::{self, FakeCatalog};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn example() -> Loaded {
    let path = workspace().join("pipelines/stripe-to-netsuite.toml");
    match load(&[path], &fakes::env, &FakeCatalog) {
        Ok(loaded) => loaded,
        Err(diagnostics) => panic!("the example pipeline must load:\n{diagnostics}"),
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn example_pipeline_loads_without_warnings() {
    let loaded = example();
    // The example passes future-dated changes to NetSuite on purpose (the documents carry their
    // own billing_stop_at); an explicit choice is not second-guessed.
    assert_eq!(loaded.warnings.iter().count(), 0, "{}", loaded.warnings);
}

#[test]
fn example_connectors_are_resolved_with_their_secrets() {
    let plan = &example().plans[0];
    assert_eq!(
        plan.connectors.keys().collect::<Vec<_>>(),
        ["netsuite", "stripe"]
    );

    let stripe = &plan.connectors["stripe"];
    assert_eq!(stripe.module, ModuleRef::Builtin("stripe".into()));
    assert_eq!(stripe.info, fakes::stripe());
    assert_eq!(stripe.base_url.as_deref(), Some("https://api.stripe.com"));
    assert_eq!(
        stripe.allow_hosts,
        [AllowedHost::Name("api.stripe.com".into())]
    );
    assert_eq!(
        stripe.auth,
        Auth::Bearer {
            secret: Secret::new("sk_test_fake_api_key")
        }
    );
    assert_eq!(stripe.secrets["webhook"].expose(), "whsec_fake");
    assert_eq!(
        stripe.limits,
        Limits {
            memory: 32 << 20,
            call_timeout: secs(5),
            rate: Some(Rate {
                count: 25,
                per: secs(1)
            }),
            concurrency: 4,
        }
    );

    let netsuite = &plan.connectors["netsuite"];
    assert_eq!(
        netsuite.auth,
        Auth::OAuth2M2m {
            token_url:
                "https://1234567.suitetalk.api.netsuite.com/services/rest/auth/oauth2/v1/token"
                    .into(),
            client_id: Secret::new("ns-client-id"),
            certificate_id: "your-certificate-id".into(),
            private_key: Secret::new(fakes::NS_PRIVATE_KEY),
            algorithm: "PS256".into(),
            scope: "rest_webservices".into(),
        }
    );
    assert_eq!(
        netsuite.settings["account"],
        Setting::Plain("1234567".into())
    );
    assert!(netsuite.secrets.is_empty());
    assert_eq!(
        netsuite.limits.rate,
        Some(Rate {
            count: 10,
            per: secs(1)
        })
    );
}

#[test]
fn example_flows_ownership_and_policies() {
    let plan = &example().plans[0];
    for object in ["customer", "subscription"] {
        assert_eq!(
            plan.ownership[object],
            Ownership {
                owner: "stripe".into(),
                fields: Default::default()
            }
        );
    }
    assert_eq!(
        plan.sources,
        [Source {
            connector: "stripe".into(),
            trigger: Trigger::Webhook("/hooks/stripe".into()),
            objects: vec!["customer".into(), "subscription".into()],
        }]
    );
    let names: Vec<&str> = plan.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["customer-to-netsuite", "subscription-to-billing"]);

    let customer = plan.route("customer-to-netsuite").expect("customer route");
    assert_eq!(
        customer.confirm.fields,
        ConfirmFields::Only(
            ["name", "email", "phone", "currency"]
                .map(String::from)
                .to_vec()
        )
    );
    assert_eq!(customer.priority, Priority::Normal);
    assert!(customer.map.is_none() && customer.when.is_none());

    let billing = plan
        .route("subscription-to-billing")
        .expect("billing route");
    assert_eq!(
        (billing.from.as_str(), billing.to.as_str()),
        ("stripe", "netsuite")
    );
    assert_eq!(billing.object, "subscription");
    assert_eq!(billing.scope, Scope::Object);
    assert_eq!(billing.mode, Mode::Write);
    assert_eq!(
        billing.confirm,
        Confirm {
            fields: ConfirmFields::Only(
                ["status", "items", "started_at", "billing_stop_at"]
                    .map(String::from)
                    .to_vec()
            ),
            within: secs(120),
            interval: secs(1),
        }
    );
    assert_eq!(
        billing.retry,
        RetryPolicy {
            attempts: 12,
            initial: secs(1),
            max: secs(600),
            jitter: Jitter::Full
        }
    );
    assert_eq!(billing.priority, Priority::Financial);
    assert_eq!(billing.future_dated, FutureDated::Pass);

    assert!(
        plan.masking.key.is_some(),
        "the example's hash rule is keyed by masking-key"
    );
    assert_eq!(
        plan.masking.rules,
        [
            MaskRule {
                object: "customer".into(),
                field: "email".into(),
                strategy: MaskStrategy::Hash
            },
            MaskRule {
                object: "customer".into(),
                field: "phone".into(),
                strategy: MaskStrategy::Last4
            },
        ]
    );
    let reconcile = &plan.reconcile["subscriptions"];
    assert_eq!(
        reconcile.between,
        ["stripe".to_owned(), "netsuite".to_owned()]
    );
    assert_eq!(reconcile.every, secs(86_400));
    assert!(reconcile.repair);
}

#[test]
fn example_condition_is_compiled_and_runs() {
    let plan = &example().plans[0];
    let when = plan
        .route("subscription-to-billing")
        .and_then(|r| r.when.as_ref())
        .expect("the billing route has a condition");
    assert_eq!(when.source, "change.after.status != 'incomplete'");
    let passes = |status: &str| {
        let change = serde_json::json!({ "object": "subscription", "after": { "status": status } });
        let mut context = cel::Context::default();
        context.add_variable_from_value("change", cel::to_value(change).expect("json converts"));
        when.program.execute(&context)
    };
    assert_eq!(passes("active"), Ok(cel::Value::Bool(true)));
    assert_eq!(passes("incomplete"), Ok(cel::Value::Bool(false)));
}

#[test]
fn plan_debug_output_hides_every_secret() {
    let plan = &example().plans[0];
    let debug = format!("{plan:?}");
    for secret in ["sk_test_fake_api_key", "whsec_fake", "ns-client-id", "MIIE"] {
        assert!(!debug.contains(secret), "{secret} leaked into {debug}");
    }
}

#[test]
fn a_missing_variable_fails_the_example_and_is_named() {
    let path = workspace().join("pipelines/stripe-to-netsuite.toml");
    let env = |name: &str| {
        (name != "NS_M2M_PRIVATE_KEY")
            .then(|| fakes::env(name))
            .flatten()
    };
    let diagnostics = load(&[path], &env, &FakeCatalog).expect_err("a secret is missing");
    assert_eq!(diagnostics.error_count(), 1, "{diagnostics}");
    assert!(
        diagnostics
            .to_string()
            .contains("environment variable `NS_M2M_PRIVATE_KEY`")
    );
}

/// A scratch folder with pipeline files, removed at the end of the test.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str, files: &[(&str, &str)]) -> Self {
        let dir =
            std::env::temp_dir().join(format!("junction-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        for (file, text) in files {
            std::fs::write(dir.join(file), text).expect("scratch file");
        }
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const MINIMAL: &str = r#"
[pipeline]
name = "NAME"

[connectors.stripe]
module = "builtin:stripe"
secrets = { webhook = "file:webhook-secret.txt" }

[connectors.netsuite]
module = "builtin:netsuite"
settings = { account = "1", subscription-plan = "101", price-book = "102", initial-term = "-102", billing-schedule = "1" }

[ownership]
customer = "stripe"

[[source]]
connector = "stripe"
webhook = "/hooks/stripe"
objects = ["customer"]

[[route]]
name = "customers"
from = "stripe"
to = "netsuite"
object = "customer"
"#;

#[test]
fn files_loaded_together_need_distinct_names_and_webhook_paths() {
    let one = MINIMAL.replace("NAME", "one");
    let scratch = Scratch::new(
        "together",
        &[
            ("a.toml", &one),
            ("b.toml", &one),
            ("webhook-secret.txt", "s3cret\n"),
        ],
    );
    let paths = [scratch.0.join("a.toml"), scratch.0.join("b.toml")];
    let diagnostics = load(&paths, &fakes::env, &FakeCatalog).expect_err("duplicates across files");
    let text = diagnostics.relative_to(&scratch.0).to_string();
    assert!(
        text.contains("error: pipeline name `one` is used by two pipelines\n --> b.toml:3:8"),
        "{text}"
    );
    assert!(
        text.contains(
            "error: webhook path `/hooks/stripe` is used by two pipelines\n  --> b.toml:18:11"
        ),
        "{text}"
    );
    assert!(text.contains("= hint: also used in "), "{text}");
}

#[test]
fn file_secrets_are_read_relative_to_the_pipeline_and_trimmed() {
    let two = MINIMAL.replace("NAME", "two");
    let scratch = Scratch::new(
        "file-secret",
        &[("p.toml", &two), ("webhook-secret.txt", "s3cret\n")],
    );
    let loaded = load(&[scratch.0.join("p.toml")], &fakes::env, &FakeCatalog)
        .unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(
        loaded.plans[0].connectors["stripe"].secrets["webhook"].expose(),
        "s3cret"
    );
}

#[test]
fn an_unreadable_file_is_reported_and_the_others_still_checked() {
    let scratch = Scratch::new("unreadable", &[("bad.toml", "[pipeline]\nname = 1\n")]);
    let paths = [scratch.0.join("missing.toml"), scratch.0.join("bad.toml")];
    let diagnostics = load(&paths, &fakes::env, &FakeCatalog).expect_err("both fail");
    let text = diagnostics.relative_to(&scratch.0).to_string();
    assert!(
        text.contains("error: cannot read pipeline file: No such file or directory"),
        "{text}"
    );
    assert!(
        text.contains("error: `name` must be a string, found an integer"),
        "{text}"
    );
}
