//! OAuth 2.0 in the host, against the simulators' token endpoints: Salesforce's client
//! credentials (token kept until the org refuses it, then fetched again once and the request
//! sent again) and NetSuite's machine-to-machine grant (a JWT client assertion the simulator
//! verifies with the certificate's public key; tokens renewed before their hour is up). The
//! guest (the hostile test component's `/fetch`) never holds a credential: the host adds it.

use std::sync::Arc;
use std::time::Duration;

use junction::host::oauth2::{Grant, OAuth2, TokenSource};
use junction::host::{
    Auth, CallContext, CallError, Connector, EgressPolicy, InstanceSpec, Limits, Origin,
};
use junction::services::clock::{Clock, ManualClock};
use junction::services::secret::Secret;
use junction_connector_kit::{Error as KitError, Webhook};
use junction_tests::sim::netsuite::{M2mClient, NetSuiteSim, NetSuiteSimConfig};
use junction_tests::sim::salesforce::{SalesforceSim, SalesforceSimConfig};

use crate::support::{HOSTILE, host};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/keys");

fn key(name: &str) -> String {
    std::fs::read_to_string(format!("{KEYS}/{name}")).expect("test key")
}

async fn connector(source: Arc<TokenSource>, base: &str, concurrency: usize) -> Connector {
    let host = host();
    let module = host.load(HOSTILE, None).await.expect("hostile loads");
    let spec = InstanceSpec {
        name: "oauth".into(),
        egress: EgressPolicy {
            allow_hosts: vec!["127.0.0.1".into()],
            auth: Auth::OAuth2(source),
            credential_origins: vec![Origin::of_url(base).expect("origin")],
            timeout: Duration::from_secs(10),
        },
        limits: Limits {
            concurrency,
            ..Limits::default()
        },
        ..InstanceSpec::default()
    };
    host.instantiate(module, spec)
}

/// Has the guest GET `url`; the hostile component reports the status it got as a transient
/// error ("the request went through with status N").
async fn fetch(c: &Connector, url: &str) -> Result<u16, CallError> {
    let hook = Webhook {
        method: "POST".into(),
        path: "/fetch".into(),
        headers: vec![],
        body: url.as_bytes().to_vec(),
    };
    match c.receive(&CallContext::default(), hook).await.result {
        Err(CallError::Connector(KitError::Transient { message, .. }))
            if message.starts_with("the request went through with status ") =>
        {
            Ok(message.rsplit(' ').next().unwrap().parse().unwrap())
        }
        Err(e) => Err(e),
        Ok(_) => panic!("the hostile /fetch always answers with an error"),
    }
}

async fn salesforce() -> (SalesforceSim, Arc<TokenSource>, String) {
    let sim = SalesforceSim::start(SalesforceSimConfig::default())
        .await
        .unwrap();
    let config = sim.config().clone();
    let source = TokenSource::new(
        "salesforce",
        OAuth2 {
            token_url: sim.token_url(),
            grant: Grant::ClientSecret {
                client_id: Secret::new(config.client_id),
                client_secret: Secret::new(config.client_secret),
            },
            instance_url: false,
        },
    )
    .unwrap();
    let url = format!("{}/services/data/v62.0/limits", sim.base_url());
    (sim, Arc::new(source), url)
}

#[tokio::test]
async fn a_token_the_org_expired_is_fetched_again_once_and_the_request_sent_again() {
    let (sim, source, url) = salesforce().await;
    let c = connector(source.clone(), sim.base_url(), 4).await;
    assert_eq!(fetch(&c, &url).await, Ok(200));
    assert_eq!(fetch(&c, &url).await, Ok(200));
    assert_eq!(source.token_requests(), 1, "the token is cached");

    // The org's session timeout passes: the next request gets 401 INVALID_SESSION_ID, the
    // host fetches a new token and sends the request again; the guest sees only the 200.
    sim.advance_clock(3 * 3600);
    assert_eq!(fetch(&c, &url).await, Ok(200));
    assert_eq!(source.token_requests(), 2);
    assert_eq!(sim.stats().token_requests, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_deliveries_that_find_no_token_cause_one_token_request() {
    let (sim, source, url) = salesforce().await;
    let c = connector(source.clone(), sim.base_url(), 64).await;
    let calls: Vec<_> = (0..64)
        .map(|_| {
            let (c, url) = (c.clone(), url.clone());
            tokio::spawn(async move { fetch(&c, &url).await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), Ok(200));
    }
    assert_eq!(source.token_requests(), 1);
    assert_eq!(sim.stats().token_requests, 1);
}

#[tokio::test]
async fn a_revoked_client_pauses_the_connector_as_unauthorized() {
    let (sim, source, url) = salesforce().await;
    let c = connector(source.clone(), sim.base_url(), 4).await;
    assert_eq!(fetch(&c, &url).await, Ok(200));
    // An administrator rotates the secret and revokes the sessions.
    sim.rotate_client_secret("rotated");
    sim.revoke_tokens();
    match fetch(&c, &url).await {
        Err(CallError::Connector(KitError::Unauthorized(message))) => {
            assert!(
                message.contains("connector `oauth` is paused")
                    && message.contains("invalid_client")
                    && message.contains(&sim.token_url()),
                "{message}"
            );
            assert!(!message.contains("sim-consumer-secret"), "{message}");
        }
        other => panic!("expected unauthorized, got {other:?}"),
    }
    let asked = source.token_requests();
    // Paused: the next call does not ask the token endpoint again.
    assert!(matches!(
        fetch(&c, &url).await,
        Err(CallError::Connector(KitError::Unauthorized(_)))
    ));
    assert_eq!(source.token_requests(), asked);
}

fn netsuite_m2m(key_file: &str) -> NetSuiteSimConfig {
    NetSuiteSimConfig {
        bearer_token: None,
        m2m: Some(M2mClient {
            client_id: "ns-m2m-client".into(),
            certificate_id: "cert-2026".into(),
            public_key_pem: key(key_file),
        }),
        ..NetSuiteSimConfig::default()
    }
}

fn m2m_source(
    sim: &NetSuiteSim,
    key_file: &str,
    algorithm: &str,
    clock: Clock,
) -> Arc<TokenSource> {
    Arc::new(
        TokenSource::with_clock(
            "netsuite",
            OAuth2 {
                token_url: sim.token_url(),
                grant: Grant::JwtAssertion {
                    client_id: Secret::new("ns-m2m-client"),
                    certificate_id: "cert-2026".into(),
                    private_key: Secret::new(key(key_file)),
                    algorithm: junction::host::oauth2::algorithm(algorithm).unwrap(),
                    scope: "rest_webservices".into(),
                },
                instance_url: false,
            },
            clock,
        )
        .unwrap(),
    )
}

#[tokio::test]
async fn netsuite_m2m_tokens_come_from_signed_assertions_and_are_renewed_before_the_hour() {
    for (private, public, algorithm) in [
        ("netsuite-m2m-rsa.pem", "netsuite-m2m-rsa.pub.pem", "PS256"),
        ("netsuite-m2m-ec.pem", "netsuite-m2m-ec.pub.pem", "ES256"),
    ] {
        let sim = NetSuiteSim::start(netsuite_m2m(public)).await.unwrap();
        // The host's clock, moved by the test; the simulator's follows it.
        let now = ManualClock::new(Clock::system().now_ms());
        let source = m2m_source(&sim, private, algorithm, now.clock());
        let c = connector(source.clone(), sim.base_url(), 4).await;
        let url = format!("{}/services/rest/record/v1/customer", sim.base_url());
        assert_eq!(fetch(&c, &url).await, Ok(200), "{algorithm}");
        assert_eq!(fetch(&c, &url).await, Ok(200));
        assert_eq!(source.token_requests(), 1);

        // 56 minutes on: within five minutes of the token's hour, the host renews it before
        // sending, so NetSuite never sees an expired token.
        now.advance(Duration::from_secs(56 * 60));
        sim.m2m().advance(56 * 60);
        assert_eq!(fetch(&c, &url).await, Ok(200));
        assert_eq!(source.token_requests(), 2);
        assert_eq!(sim.m2m().requests(), 2);
        assert_eq!(
            sim.stats().auth_failures,
            0,
            "no request went with a dead token"
        );
    }
}

#[tokio::test]
async fn an_assertion_signed_with_another_key_is_refused() {
    // The account maps the EC certificate; the host signs with the RSA key.
    let sim = NetSuiteSim::start(netsuite_m2m("netsuite-m2m-ec.pub.pem"))
        .await
        .unwrap();
    let source = m2m_source(&sim, "netsuite-m2m-rsa.pem", "PS256", Clock::system());
    let c = connector(source, sim.base_url(), 4).await;
    let url = format!("{}/services/rest/record/v1/customer", sim.base_url());
    match fetch(&c, &url).await {
        Err(CallError::Connector(KitError::Unauthorized(message))) => {
            assert!(message.contains("invalid_client"), "{message}");
        }
        other => panic!("expected unauthorized, got {other:?}"),
    }
    assert_eq!(sim.stats().requests, 0, "nothing reached the REST API");
}

/// `junction connector call --pipeline FILE --connector NAME` makes the instance `junction run`
/// would: here NetSuite's OAuth 2.0 machine-to-machine grant from the example pipeline, with no
/// credential on the command line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_calls_a_connector_with_its_pipelines_oauth2_credentials() {
    let sim = NetSuiteSim::start(junction_tests::demo::netsuite_sim_config())
        .await
        .unwrap();
    let text = junction_tests::demo::pipeline_for_simulators("http://127.0.0.1:9", sim.base_url())
        .unwrap();
    let dir = std::env::temp_dir().join(format!(
        "junction-cli-oauth2-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("stripe-to-netsuite.toml");
    std::fs::write(&file, text).unwrap();
    let env = junction_tests::demo::simulator_env(sim.config());
    let call = |module: &str| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_junction-cli"));
        command
            .args(["connector", "call", module, "list", "--object", "customer"])
            .arg("--pipeline")
            .arg(&file)
            .args(["--connector", "netsuite"])
            .env(
                "JUNCTION_CACHE_DIR",
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../target/junction-test-cache"),
            );
        for name in junction_tests::demo::SIMULATOR_ENV {
            command.env(name, env(name).unwrap());
        }
        command.output().expect("the junction CLI runs")
    };
    let out = call("builtin:netsuite");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        sim.m2m().requests(),
        1,
        "one token, from a signed assertion"
    );
    assert_eq!(sim.stats().auth_failures, 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("BEGIN PRIVATE KEY"), "{stderr}");

    let wrong = call("builtin:stripe");
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("connector `netsuite` in"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
