//! The typed decoding (`wire.rs`) against the `Value`-based one it replaced
//! (`reference.rs`): the same change, or the same error, for Stripe's published objects and
//! for every variant of them where one field is removed or given another JSON type, and the
//! same answer from `receive` for bodies that are not (good) JSON.

use junction_connector_kit::{Change, Connector, Error};
use serde_json::{Value, json};

use super::reference;
use super::{NOW, SECRET, event, fixture, hook, subscription};
use crate::errors::MapError;
use crate::wire::{Event, Object};
use crate::{Stripe, events};

/// Values a field is replaced with (`None`: the field is removed).
fn replacements() -> Vec<Option<Value>> {
    vec![
        None,
        Some(Value::Null),
        Some(json!("")),
        Some(json!("x")),
        Some(json!("month")),
        Some(json!(0)),
        Some(json!(1)),
        Some(json!(-1)),
        Some(json!(1.5)),
        Some(json!(u64::MAX)),
        Some(json!(253_402_300_800_i64)),
        Some(json!(true)),
        Some(json!([])),
        Some(json!([{ "id": "x" }])),
        Some(json!({})),
        Some(json!({ "id": "obj_1", "deleted": true, "a": "b" })),
    ]
}

/// Every path to a value in `v` (object keys and array indices).
fn paths(v: &Value, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                here.push(Step::Key(k.clone()));
                out.push(here.clone());
                paths(child, here, out);
                here.pop();
            }
        }
        Value::Array(list) => {
            for (i, child) in list.iter().enumerate() {
                here.push(Step::Index(i));
                out.push(here.clone());
                paths(child, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// `v` with the value at `path` replaced (or removed).
fn mutated(v: &Value, path: &[Step], with: &Option<Value>) -> Value {
    let mut out = v.clone();
    let mut at = &mut out;
    let (last, parents) = path.split_last().expect("a path has a step");
    for step in parents {
        at = match step {
            Step::Key(k) => &mut at[k.as_str()],
            Step::Index(i) => &mut at[*i],
        };
    }
    match (last, with) {
        (Step::Key(k), None) => {
            at.as_object_mut().expect("parent is an object").remove(k);
        }
        (Step::Key(k), Some(w)) => at[k.as_str()] = w.clone(),
        (Step::Index(i), None) => {
            at.as_array_mut().expect("parent is an array").remove(*i);
        }
        (Step::Index(i), Some(w)) => at[*i] = w.clone(),
    }
    out
}

fn typed(event: &Value) -> Result<Option<Change>, MapError> {
    let body = event.to_string();
    let from_body = Event::parse(body.as_bytes())
        .expect("the body is JSON")
        .map_or(Ok(None), |e| events::decode(&e));
    let from_value = events::decode(&Event::of_value(event));
    assert_eq!(
        from_body, from_value,
        "from the body and from a Value differ"
    );
    from_body
}

fn current_state(event: &Value, current: &Value) -> Option<Result<Change, MapError>> {
    let mut change = reference::events::decode(event).ok()??;
    let mut reference_change = change.clone();
    let expected =
        reference::events::with_current_state(&mut reference_change, event, current, 1_700_000_000)
            .map(|()| reference_change);
    let body = event.to_string();
    let typed_event = Event::parse(body.as_bytes()).expect("JSON")?;
    let current = Object::of_value(current).unwrap_or_default();
    let got = events::with_current_state(&mut change, &typed_event, &current, 1_700_000_000)
        .map(|()| change);
    assert_eq!(got, expected, "current state differs");
    Some(got)
}

/// The events compared: each kind of object created, updated (with `previous_attributes`
/// touching nested objects, metadata and the cancellation) and deleted.
fn events() -> Vec<Value> {
    let previous = json!({
        "status": "trialing",
        "cancel_at_period_end": true,
        "cancel_at": null,
        "customer": { "id": "cus_before" },
        "metadata": { "gone": null, "plan": "old", "n": 3 },
        "items": { "data": [{ "id": "si_old", "price": "price_old", "quantity": 2 }] },
        "address": { "city": "Oldtown" },
        "parent": { "subscription_details": { "subscription": "sub_before" } },
    });
    let mut out = Vec::new();
    for (prefix, object) in [
        ("customer.subscription", subscription()),
        ("customer", fixture("customer")),
        ("invoice", fixture("invoice")),
    ] {
        for suffix in ["created", "updated", "deleted"] {
            let mut previous = (suffix == "updated").then(|| previous.clone());
            if let (Some(p), "invoice") = (&mut previous, prefix) {
                p["status"] = json!("draft");
            }
            out.push(event(
                "evt_1",
                &format!("{prefix}.{suffix}"),
                object.clone(),
                previous,
            ));
        }
    }
    let mut legacy = fixture("subscription");
    legacy["items"]["data"][0]["plan"] = legacy["items"]["data"][0]["price"].clone();
    legacy["items"]["data"][0]
        .as_object_mut()
        .expect("an item")
        .remove("price");
    out.push(event(
        "evt_2",
        "customer.subscription.updated",
        legacy,
        None,
    ));
    out.push(fixture("event"));
    out
}

#[test]
fn published_events_decode_as_before() {
    let mut mapped = 0;
    for e in events() {
        let expected = reference::events::decode(&e);
        assert!(expected.is_ok(), "the base events map: {expected:?}");
        mapped += usize::from(matches!(expected, Ok(Some(_))));
        assert_eq!(typed(&e), expected, "{}", e["type"]);
    }
    assert_eq!(
        mapped, 10,
        "all but the published event (an unmapped type) give a change"
    );
}

#[test]
fn every_field_removed_or_retyped_decodes_as_before() {
    let mut compared = 0;
    let mut errors = 0;
    for base in events() {
        let mut all = Vec::new();
        paths(&base, &mut Vec::new(), &mut all);
        for path in &all {
            for with in replacements() {
                let e = mutated(&base, path, &with);
                let expected = reference::events::decode(&e);
                errors += usize::from(expected.is_err());
                assert_eq!(typed(&e), expected, "at {path:?} = {with:?}");
                compared += 1;
            }
        }
    }
    // The variants reach the mapping's checks, not only its happy path.
    assert!(
        compared > 10_000 && errors > 1_000,
        "{compared} compared, {errors} errors"
    );
}

#[test]
fn current_state_variants_map_as_before() {
    let mut compared = 0;
    for base in events() {
        let object = base["data"]["object"].clone();
        let mut all = Vec::new();
        paths(&object, &mut Vec::new(), &mut all);
        for path in &all {
            for with in replacements() {
                let current = mutated(&object, path, &with);
                compared += usize::from(current_state(&base, &current).is_some());
            }
        }
        compared += usize::from(
            current_state(&base, &json!({ "id": object["id"], "deleted": true })).is_some(),
        );
        compared += usize::from(current_state(&base, &json!("not an object")).is_some());
    }
    assert!(compared > 1_000, "{compared} compared");
}

/// What `receive` answered before for a body (signature checked, current state from the event).
fn reference_receive(body: &[u8]) -> Result<Vec<Change>, Error> {
    let event: Value = serde_json::from_slice(body)
        .map_err(|e| Error::InvalidWebhook(format!("the body is not a JSON Stripe event: {e}")))?;
    if !event.is_object() {
        return Err(Error::InvalidWebhook(
            "the body is not a JSON object".into(),
        ));
    }
    let change = reference::events::decode(&event).map_err(|e| {
        let id = event["id"].as_str().unwrap_or("without an id");
        Error::InvalidWebhook(format!("event {id} cannot be mapped: {e}"))
    })?;
    Ok(change.into_iter().collect())
}

/// `receive` on `body`, signed over its exact bytes (which need not be UTF-8).
fn receive(body: &[u8]) -> Result<Vec<Change>, Error> {
    let host = super::host().with_setting("current-state", "event");
    let mut payload = format!("{NOW}.").into_bytes();
    payload.extend_from_slice(body);
    let mac = junction_connector_kit::testing::hmac_sha256(SECRET.as_bytes(), &payload);
    let v1: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    let mut hook = hook(&format!("t={NOW},v1={v1}"), "");
    hook.body = body.to_vec();
    Stripe::receive(&host, hook)
}

#[test]
fn bodies_that_are_not_good_json_are_answered_as_before() {
    let good = event("evt_1", "customer.created", fixture("customer"), None).to_string();
    let deep = format!(
        "{{\"type\":\"customer.created\",\"x\":{}1{}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    let duplicate = good.replacen("{", "{\"id\":\"evt_first\",", 1);
    let mut bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"   ".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"\"event\"".to_vec(),
        b"{".to_vec(),
        b"{}".to_vec(),
        b"{} trailing".to_vec(),
        b"{\"type\": \"customer.created\", \"id\": }".to_vec(),
        b"{\"type\": \"customer.created\", \"x\": \"\\ud800\"}".to_vec(),
        b"{\"type\": \"customer.created\", \"x\": \"\\q\"}".to_vec(),
        b"{\"type\": \"customer.created\", \"x\": 1e999}".to_vec(),
        b"{\"type\": \"customer.created\", \"x\": 01}".to_vec(),
        b"{\"type\": \"customer.created\", \"x\": \"a\x01b\"}".to_vec(),
        b"{\"t\\u0079pe\": \"customer.created\", \"id\": \"evt_escaped\", \"created\": 1, \"data\": {\"object\": {\"id\": \"cus_1\"}}}".to_vec(),
        deep.into_bytes(),
        duplicate.into_bytes(),
        good.clone().into_bytes(),
    ];
    let mut invalid_utf8 = good.clone().into_bytes();
    let at = good.find("\"email\"").expect("the fixture has an email") + 9;
    invalid_utf8.splice(at..at, [0xff, 0xfe]);
    bodies.push(invalid_utf8);
    let mut ignored_invalid_utf8 = good.into_bytes();
    ignored_invalid_utf8.splice(1..1, *b"\"unread\": \"\xff\", ");
    bodies.push(ignored_invalid_utf8);
    for body in bodies {
        assert_eq!(
            receive(&body),
            reference_receive(&body),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
}
