//! Secrets and personal data planted in a run never appear in logs, audit rows (what `junction
//! trace` prints), dead letters or metrics: every output is scanned for them.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use junction::store::DlqFilter;
use junction_tests::sim::faults::Faults;

use crate::rig::{Rig, WEBHOOK_SECRET, fast};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of this test binary, at debug level, from the moment this is first called.
fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .try_init();
        captured
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_and_personal_data_appear_in_no_output() {
    let logs = logs();
    let rig = Rig::start(fast).await;
    let email = "planted.person@example.org";
    let phone = "+15550001234";
    let ns = rig.netsuite.config().clone();
    let mut planted_secrets: Vec<String> = [
        WEBHOOK_SECRET,
        "sk_test_junction",
        junction_tests::demo::NS_CLIENT_ID,
        ns.consumer_key.as_str(),
        ns.consumer_secret.as_str(),
        ns.token_id.as_str(),
        ns.token_secret.as_str(),
    ]
    .map(String::from)
    .to_vec();

    let price = rig.price(4200, "Team");
    let cus = rig.stripe.create_customer(email, "Planted Person").unwrap();
    rig.stripe
        .create_subscription(&cus, &[(&price, 1)])
        .unwrap();
    rig.drain().await;
    // Make NetSuite drop writes silently so the customer's next change is dead-lettered with
    // its payload: the dead letter must hold the masked document.
    rig.netsuite.faults().set(Faults {
        silent_drop_rate: 1.0,
        ..Faults::default()
    });
    let form = format!(
        "phone={}&email={}",
        phone.replace('+', "%2B"),
        email.replace('@', "%40")
    );
    let client = reqwest::Client::new();
    let answer = client
        .post(format!("{}/v1/customers/{cus}", rig.stripe.base_url()))
        .bearer_auth("sk_test_junction")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{:?}", answer.text().await);
    rig.drain().await;
    // Now NetSuite answers every request with an error that quotes the credentials it was
    // sent (as is and URL-encoded): the attempts, the dead letter and the logs must not repeat
    // them.
    rig.netsuite.faults().set(Faults {
        echo_credentials_rate: 1.0,
        ..Faults::default()
    });
    let answer = client
        .post(format!("{}/v1/customers/{cus}", rig.stripe.base_url()))
        .bearer_auth("sk_test_junction")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "name=Renamed&metadata[note]={}",
            "write%20to%20".to_owned() + &email.replace('@', "%40")
        ))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{:?}", answer.text().await);
    rig.drain().await;
    assert!(
        rig.netsuite.stats().server_errors > 0,
        "NetSuite echoed the credentials"
    );

    // The OAuth 2.0 access tokens the host fetched from NetSuite's M2M endpoint are what the
    // echoing NetSuite quoted: they must be masked although no pipeline file names them.
    let tokens = rig.netsuite.m2m().issued();
    assert!(!tokens.is_empty(), "NetSuite was reached with M2M tokens");
    planted_secrets.extend(tokens);

    let mut outputs: Vec<(String, String)> = Vec::new();
    for entry in rig.engine.store.trace(&cus).await.unwrap() {
        outputs.push(("audit".into(), serde_json::to_string(&entry).unwrap()));
    }
    let letters = rig
        .engine
        .store
        .dlq_list(&DlqFilter::default())
        .await
        .unwrap();
    assert!(
        letters.iter().any(|l| l.key == cus),
        "the customer's update was dead-lettered: {letters:?}"
    );
    for letter in &letters {
        let detail = rig.engine.store.dlq_show(letter.id).await.unwrap().unwrap();
        outputs.push((
            "dead letter".into(),
            format!(
                "{} {} {:?}",
                detail.letter.payload, detail.letter.reason, detail.attempts
            ),
        ));
    }
    let stats = rig
        .engine
        .store
        .stats(rig.engine.clock().now_ms())
        .await
        .ok();
    outputs.push(("metrics".into(), rig.engine.metrics.render(stats.as_ref())));
    outputs.push((
        "logs".into(),
        String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned(),
    ));

    // The policy masks, it does not just drop: the dead letter still shows a phone's last 4.
    let dead = outputs
        .iter()
        .find(|(k, _)| k == "dead letter")
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(dead.contains("1234") && dead.contains("hash:"), "{dead}");

    let echoed = outputs
        .iter()
        .any(|(kind, text)| kind == "dead letter" && text.contains("simulated-echo"));
    assert!(
        echoed,
        "the echoing answer reached a dead letter: {outputs:?}"
    );
    for (kind, text) in &outputs {
        for secret in &planted_secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a secret leaked into {kind}: {text}"
            );
            let encoded = junction_tests::sim::netsuite::percent_encode(secret);
            assert!(
                !text.contains(&encoded),
                "a URL-encoded secret leaked into {kind}"
            );
        }
        assert!(
            !text.contains(email) && !text.contains("planted.person"),
            "the e-mail address leaked into {kind}: {text}"
        );
        assert!(!text.contains(phone), "the phone number leaked into {kind}");
    }
}
