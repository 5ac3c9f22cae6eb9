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

#[test]
fn after_a_cursor_returns_newer_events_oldest_first() {
    let host = host();
    host.respond(200, &[], &page(&["evt_5", "evt_4", "evt_3"], true));
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
}
