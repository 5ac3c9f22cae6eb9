//! Polling `/v1/events`: oldest first, cursor on the newest event returned.

use junction_connector_kit::{Connector, Error, Level};
use serde_json::{Value, json};

use super::{event, host, subscription};
use crate::Stripe;

/// A list page, newest first, of subscription events with these ids.
fn page(ids: &[&str], has_more: bool) -> String {
    let data: Vec<Value> = ids
        .iter()
        .map(|id| event(id, "customer.subscription.updated", subscription(), None))
        .collect();
    json!({ "object": "list", "data": data, "has_more": has_more, "url": "/v1/events" }).to_string()
}

fn keys(page: &junction_connector_kit::ChangePage) -> Vec<&str> {
    page.changes
        .iter()
        .map(|c| c.source_event_id.as_str())
        .collect()
}

const TYPES: &str =
    "types%5B%5D=customer.subscription.created&types%5B%5D=customer.subscription.updated";

/// Stripe's answer to `GET /v1/subscriptions/{id}`: [`subscription`] as it is now.
fn current() -> String {
    subscription().to_string()
}

#[test]
fn after_a_cursor_returns_newer_events_oldest_first() {
    let host = host();
    host.respond(200, &[], &page(&["evt_5", "evt_4", "evt_3"], true));
    host.respond(200, &[], &current());
    let got = Stripe::poll(&host, "subscription", Some("evt_2".into()), 3).expect("polled");
    assert_eq!(keys(&got), ["evt_3", "evt_4", "evt_5"]);
    assert_eq!(
        (got.next_cursor.as_deref(), got.has_more),
        (Some("evt_5"), true)
    );
    let url = host.requests.borrow()[0].url.clone();
    assert!(
        url.starts_with(&format!("https://api.stripe.com/v1/events?{TYPES}")),
        "{url}"
    );
    assert!(url.ends_with("&limit=3&ending_before=evt_2"), "{url}");
    assert_eq!(
        host.requests.borrow().len(),
        2,
        "three events of one subscription: its state is read once"
    );

    host.respond(200, &[], &page(&[], false));
    let idle = Stripe::poll(&host, "subscription", Some("evt_5".into()), 3).expect("polled");
    assert_eq!(
        (
            idle.changes.len(),
            idle.next_cursor.as_deref(),
            idle.has_more
        ),
        (0, Some("evt_5"), false)
    );
}

#[test]
fn without_a_cursor_it_walks_back_to_the_oldest_events() {
    let host = host();
    host.respond(200, &[], &page(&["evt_9", "evt_8"], true));
    host.respond(200, &[], &page(&["evt_7", "evt_6", "evt_5"], false));
    host.respond(200, &[], &current());
    let got = Stripe::poll(&host, "subscription", None, 2).expect("polled");
    assert_eq!(keys(&got), ["evt_5", "evt_6"]);
    assert_eq!(
        (got.next_cursor.as_deref(), got.has_more),
        (Some("evt_6"), true)
    );
    let urls: Vec<String> = host
        .requests
        .borrow()
        .iter()
        .map(|r| r.url.clone())
        .collect();
    assert!(urls[0].ends_with("&limit=100"), "{urls:?}");
    assert!(
        urls[1].ends_with("&limit=100&starting_after=evt_8"),
        "{urls:?}"
    );
}

#[test]
fn an_unmappable_event_is_skipped_but_the_cursor_moves_past_it() {
    let host = host();
    let mut broken = event(
        "evt_2",
        "customer.subscription.updated",
        subscription(),
        None,
    );
    broken["data"]["object"]["items"] = Value::Null;
    let good = event(
        "evt_1",
        "customer.subscription.updated",
        subscription(),
        None,
    );
    host.respond(
        200,
        &[],
        &json!({ "object": "list", "data": [broken, good], "has_more": false }).to_string(),
    );
    host.respond(200, &[], &current());
    let got = Stripe::poll(&host, "subscription", Some("evt_0".into()), 10).expect("polled");
    assert_eq!(
        (keys(&got), got.next_cursor.as_deref()),
        (vec!["evt_1"], Some("evt_2"))
    );
    assert!(
        host.logs
            .borrow()
            .iter()
            .any(|(level, line)| *level == Level::Warn && line.contains("evt_2"))
    );
}

#[test]
fn unknown_objects_are_unsupported() {
    assert!(matches!(
        Stripe::poll(&host(), "payment", None, 10),
        Err(Error::Unsupported(_))
    ));
}

#[test]
fn a_long_walk_is_spread_over_calls_with_a_seek_cursor() {
    let host = host();
    for i in 0..crate::source::SEEK_PAGES_PER_CALL {
        host.respond(200, &[], &page(&[&format!("evt_{i}")], true));
    }
    let walking = Stripe::poll(&host, "subscription", None, 5).expect("polled");
    let last = crate::source::SEEK_PAGES_PER_CALL - 1;
    assert_eq!((walking.changes.len(), walking.has_more), (0, true));
    assert_eq!(walking.next_cursor, Some(format!("seek:evt_{last}")));

    // The walk resumes after that event; an empty page means it was the oldest one left.
    host.respond(200, &[], &page(&[], false));
    host.respond(
        200,
        &[],
        &event(
            &format!("evt_{last}"),
            "customer.subscription.created",
            subscription(),
            None,
        )
        .to_string(),
    );
    host.respond(200, &[], &current());
    let arrived = Stripe::poll(&host, "subscription", walking.next_cursor, 5).expect("polled");
    assert_eq!(keys(&arrived), [format!("evt_{last}")]);
    assert_eq!(
        (arrived.next_cursor, arrived.has_more),
        (Some(format!("evt_{last}")), true)
    );
    let urls: Vec<String> = host
        .requests
        .borrow()
        .iter()
        .map(|r| r.url.clone())
        .collect();
    assert!(
        urls[last + 1].ends_with(&format!("starting_after=evt_{last}")),
        "{urls:?}"
    );
    assert_eq!(
        urls[last + 2],
        format!("https://api.stripe.com/v1/events/evt_{last}")
    );
    assert_eq!(
        urls[last + 3],
        "https://api.stripe.com/v1/subscriptions/sub_1Pgc6rB7WZ01zgkWNy0Cn5nw"
    );
}

/// An update event of subscription `sub` whose object says `quantity`.
fn about(id: &str, sub: &str, quantity: u64) -> Value {
    let mut object = subscription();
    object["id"] = json!(sub);
    object["items"]["data"][0]["quantity"] = json!(quantity);
    event(id, "customer.subscription.updated", object, None)
}

fn list(newest_first: &[Value], has_more: bool) -> String {
    json!({ "object": "list", "data": newest_first, "has_more": has_more, "url": "/v1/events" })
        .to_string()
}

fn now_holding(sub: &str, quantity: u64) -> String {
    let mut s = subscription();
    s["id"] = json!(sub);
    s["items"]["data"][0]["quantity"] = json!(quantity);
    s.to_string()
}

#[test]
fn polled_changes_carry_the_current_state_read_once_per_object() {
    let host = host();
    // Oldest first: sub_a at 2, sub_b at 7, sub_a at 3; Stripe now holds sub_a at 4.
    host.respond(
        200,
        &[],
        &list(
            &[
                about("evt_3", "sub_a", 3),
                about("evt_2", "sub_b", 7),
                about("evt_1", "sub_a", 2),
            ],
            false,
        ),
    );
    host.respond(200, &[], &now_holding("sub_a", 4));
    host.respond(200, &[], &now_holding("sub_b", 7));
    let got = Stripe::poll(&host, "subscription", Some("evt_0".into()), 10).expect("polled");
    let seen: Vec<(&str, &str, Value)> = got
        .changes
        .iter()
        .map(|c| {
            let after: Value = serde_json::from_str(c.after.as_deref().unwrap()).unwrap();
            (
                c.source_event_id.as_str(),
                c.key.as_str(),
                after["items"][0]["quantity"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("evt_1", "sub_a", json!(4)),
            ("evt_2", "sub_b", json!(7)),
            ("evt_3", "sub_a", json!(4)),
        ]
    );
    let urls: Vec<String> = host
        .requests
        .borrow()
        .iter()
        .map(|r| r.url.clone())
        .collect();
    assert_eq!(
        urls[1..],
        [
            "https://api.stripe.com/v1/subscriptions/sub_a",
            "https://api.stripe.com/v1/subscriptions/sub_b"
        ]
    );
}

#[test]
fn a_page_needing_too_many_reads_ends_early_and_the_next_call_goes_on() {
    let reads = crate::source::READS_PER_POLL;
    let events: Vec<Value> = (0..=reads)
        .rev()
        .map(|i| about(&format!("evt_{i}"), &format!("sub_{i}"), 1))
        .collect();
    let host = host();
    host.respond(200, &[], &list(&events, false));
    for i in 0..reads {
        host.respond(200, &[], &now_holding(&format!("sub_{i}"), 1));
    }
    let got = Stripe::poll(&host, "subscription", Some("evt_start".into()), 100).expect("polled");
    assert_eq!(got.changes.len(), reads);
    let last = format!("evt_{}", reads - 1);
    assert_eq!(
        (got.next_cursor.as_deref(), got.has_more),
        (Some(last.as_str()), true),
        "the cursor stops at the last event returned"
    );
    assert_eq!(host.requests.borrow().len(), 1 + reads);
}

#[test]
fn a_failed_read_fails_the_poll_so_the_cursor_stays() {
    let host = host();
    host.respond(200, &[], &page(&["evt_3"], false));
    host.respond(
        503,
        &[],
        r#"{"error":{"type":"api_error","message":"down"}}"#,
    );
    assert!(matches!(
        Stripe::poll(&host, "subscription", Some("evt_2".into()), 10),
        Err(Error::Transient { .. })
    ));
}

#[test]
fn a_current_state_that_cannot_be_mapped_keeps_the_event_object_when_polling() {
    let host = host();
    host.respond(200, &[], &list(&[about("evt_1", "sub_a", 2)], false));
    let mut broken = subscription();
    broken["id"] = json!("sub_a");
    broken["items"] = Value::Null;
    host.respond(200, &[], &broken.to_string());
    let got = Stripe::poll(&host, "subscription", Some("evt_0".into()), 10).expect("polled");
    let after: Value = serde_json::from_str(got.changes[0].after.as_deref().unwrap()).unwrap();
    assert_eq!(after["items"][0]["quantity"], 2);
    assert!(
        host.logs
            .borrow()
            .iter()
            .any(|(level, line)| *level == Level::Warn && line.contains("sub_a"))
    );
}
