//! The Stripe connector's webhook decoder on arbitrary requests. Whatever arrives on the
//! webhook port: no panic; a request not signed with the endpoint's secret never yields a
//! change; every change decoded from a signed one is a valid canonical document.
//!
//! Input layout: the first byte chooses the case. Even: the rest is a body, signed correctly
//! (so the fuzzer reaches the event decoder). Odd: the rest is `Stripe-Signature` value, a
//! newline, then the body, unsigned (so it reaches the signature parser).
#![no_main]

use junction_connector_kit::testing::{FakeHost, hmac_sha256};
use junction_connector_kit::{Connector, Webhook};
use junction_connector_stripe::Stripe;
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "whsec_fuzz_secret";
const NOW_S: i64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let signed = mode % 2 == 0;
    let (signature, body) = if signed {
        let mut payload = format!("{NOW_S}.").into_bytes();
        payload.extend_from_slice(rest);
        let v1 = hex::encode(hmac_sha256(SECRET.as_bytes(), &payload));
        (format!("t={NOW_S},v1={v1}"), rest.to_vec())
    } else {
        let split = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let header = String::from_utf8_lossy(&rest[..split]).into_owned();
        (header, rest.get(split + 1..).unwrap_or_default().to_vec())
    };
    let hook = Webhook {
        method: "POST".into(),
        path: "/hooks/stripe".into(),
        headers: vec![
            ("stripe-signature".into(), signature),
            ("content-type".into(), "application/json".into()),
        ],
        body,
    };
    let host = FakeHost::at(NOW_S * 1000)
        .with_secret("webhook", SECRET)
        // Decode what the event carries: reading current state is a network call.
        .with_setting("current-state", "event");
    let Ok(changes) = Stripe::receive(&host, hook) else {
        return;
    };
    assert!(
        signed,
        "an unsigned request yielded {} changes",
        changes.len()
    );
    for change in changes {
        for document in [&change.before, &change.after].into_iter().flatten() {
            if let Err(invalid) = junction_config::canonical::validate(&change.object, document) {
                panic!("{} {}: {invalid}\n{document}", change.object, change.key);
            }
        }
    }
});
