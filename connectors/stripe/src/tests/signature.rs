//! `Stripe-Signature` verification through `receive`, as Stripe signs.

use junction_connector_kit::{Connector, Error};

use super::{NOW, SECRET, hook, host, sign};
use crate::Stripe;

const KAT_BODY: &str = r#"{"id":"evt_test_webhook","object":"event"}"#;
const KAT_HEADER: &str =
    "t=1700000000,v1=d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990";

fn refusal(result: Result<Vec<junction_connector_kit::Change>, Error>) -> String {
    match result {
        Err(Error::InvalidWebhook(reason)) => reason,
        other => panic!("expected invalid-webhook, got {other:?}"),
    }
}

#[test]
fn fact_sheet_known_answer_is_accepted() {
    // The event has no type Junction maps, so it is accepted with no changes.
    assert_eq!(
        Stripe::receive(&host(), hook(KAT_HEADER, KAT_BODY)),
        Ok(vec![])
    );
}

#[test]
fn one_changed_byte_in_the_body_is_refused() {
    let altered = KAT_BODY.replace("evt_test_webhook", "evt_test_webhooK");
    assert!(
        refusal(Stripe::receive(&host(), hook(KAT_HEADER, &altered)))
            .contains("no signature matches")
    );
}

#[test]
fn a_rotated_secret_passes_when_any_v1_matches() {
    let header = format!(
        "t={NOW},v1={},v1={}",
        sign("whsec_old", NOW, KAT_BODY),
        sign(SECRET, NOW, KAT_BODY)
    );
    assert_eq!(
        Stripe::receive(&host(), hook(&header, KAT_BODY)),
        Ok(vec![])
    );
    let only_old = format!("t={NOW},v1={}", sign("whsec_old", NOW, KAT_BODY));
    assert!(
        refusal(Stripe::receive(&host(), hook(&only_old, KAT_BODY)))
            .contains("no signature matches")
    );
}

#[test]
fn other_schemes_are_ignored() {
    let v0_only = format!("t={NOW},v0={}", sign(SECRET, NOW, KAT_BODY));
    assert!(
        refusal(Stripe::receive(&host(), hook(&v0_only, KAT_BODY))).contains("no `v1` signature")
    );
}

#[test]
fn missing_header_or_timestamp_is_refused() {
    let mut unsigned = hook("", KAT_BODY);
    unsigned.headers.retain(|(n, _)| n != "stripe-signature");
    assert!(refusal(Stripe::receive(&host(), unsigned)).contains("header is missing"));
    let no_t = format!("v1={}", sign(SECRET, NOW, KAT_BODY));
    assert!(refusal(Stripe::receive(&host(), hook(&no_t, KAT_BODY))).contains("no timestamp"));
}

#[test]
fn timestamps_beyond_the_tolerance_are_refused_in_the_past_and_in_the_future() {
    let at = |t: i64| format!("t={t},v1={}", sign(SECRET, t, KAT_BODY));
    for within in [NOW - 300, NOW, NOW + 300] {
        assert_eq!(
            Stripe::receive(&host(), hook(&at(within), KAT_BODY)),
            Ok(vec![]),
            "t = now {:+} s",
            within - NOW
        );
    }
    assert!(
        refusal(Stripe::receive(&host(), hook(&at(NOW - 301), KAT_BODY))).contains("301 s old")
    );
    // Unlike stripe-node, which checks the age only.
    assert!(
        refusal(Stripe::receive(&host(), hook(&at(NOW + 301), KAT_BODY)))
            .contains("301 s in the future")
    );
    let years = NOW + 5 * 365 * 86_400;
    assert!(
        refusal(Stripe::receive(&host(), hook(&at(years), KAT_BODY))).contains("in the future")
    );
}

#[test]
fn extreme_timestamps_are_refused_without_overflow() {
    for t in [i64::MIN, i64::MAX] {
        let header = format!("t={t},v1={}", sign(SECRET, t, KAT_BODY));
        let reason = refusal(Stripe::receive(&host(), hook(&header, KAT_BODY)));
        assert!(reason.contains("tolerance"), "t={t}: {reason}");
    }
}

#[test]
fn tolerance_setting_narrows_or_disables_the_age_check() {
    let old = format!(
        "t={},v1={}",
        NOW - 86_400,
        sign(SECRET, NOW - 86_400, KAT_BODY)
    );
    let disabled = host().with_setting("webhook-tolerance-seconds", "0");
    assert_eq!(Stripe::receive(&disabled, hook(&old, KAT_BODY)), Ok(vec![]));
    let strict = host().with_setting("webhook-tolerance-seconds", "5");
    let ten_seconds = format!("t={},v1={}", NOW - 10, sign(SECRET, NOW - 10, KAT_BODY));
    assert!(
        refusal(Stripe::receive(&strict, hook(&ten_seconds, KAT_BODY))).contains("5 s tolerance")
    );
    let bad = host().with_setting("webhook-tolerance-seconds", "five");
    assert!(matches!(
        Stripe::receive(&bad, hook(KAT_HEADER, KAT_BODY)),
        Err(Error::Unsupported(_))
    ));
}

#[test]
fn a_missing_secret_is_a_credentials_problem() {
    let no_secret = junction_connector_kit::testing::FakeHost::at(NOW * 1000);
    assert!(matches!(
        Stripe::receive(&no_secret, hook(KAT_HEADER, KAT_BODY)),
        Err(Error::Unauthorized(_))
    ));
}

#[test]
fn a_signed_body_that_is_not_json_is_refused() {
    let body = "not json";
    let header = format!("t={NOW},v1={}", sign(SECRET, NOW, body));
    assert!(
        refusal(Stripe::receive(&host(), hook(&header, body))).contains("not a JSON Stripe event")
    );
}
