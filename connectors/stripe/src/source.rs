//! The source side: webhooks verified and decoded, and `/v1/events` polled oldest first. For
//! subscription and customer events the change's `after` is the object's current state, read
//! from the API while the event is processed (see [`events::with_current_state`] and
//! docs/stripe-mapping.md).

use junction_connector_kit::{Change, ChangePage, Error, Host, Level, Webhook};
use serde_json::Value;

use crate::api::{Api, Found, Params, list_data, segment};
use crate::wire::{Event, str_of};
use crate::{events, settings, signature, sink};

/// Verifies the signature, decodes the event (an unmapped type gives no changes), then reads
/// the current state of a subscription or customer from the API.
///
/// A failed read fails `receive` with its own error class (`transient`, `rate-limited`,
/// `unauthorized`, ...): the runtime then answers the webhook with a 503 and stores nothing,
/// and Stripe delivers it again later. A 404 (`resource_missing`: the object is gone) keeps the
/// object the event carries. The signature is checked first, so a forged webhook never makes
/// the connector call Stripe.
pub(crate) fn receive(host: &dyn Host, hook: &Webhook) -> Result<Vec<Change>, Error> {
    signature::verify(host, hook, settings::tolerance_secs(host)?)?;
    let event = Event::parse(&hook.body)
        .map_err(|e| Error::InvalidWebhook(format!("the body is not a JSON Stripe event: {e}")))?
        .ok_or_else(|| Error::InvalidWebhook("the body is not a JSON object".into()))?;
    let change = events::decode(&event).map_err(|e| {
        let id = str_of(&event.id).unwrap_or("without an id");
        Error::InvalidWebhook(format!("event {id} cannot be mapped: {e}"))
    })?;
    let Some(mut change) = change else {
        return Ok(Vec::new());
    };
    CurrentState::new(host)?.apply(&mut change, &event, Unmappable::Fail)?;
    Ok(vec![change])
}

/// What to do when the current state the API returned cannot be mapped.
#[derive(Clone, Copy, PartialEq)]
enum Unmappable {
    /// Fail the call (`receive`: the webhook is not acknowledged and comes again).
    Fail,
    /// Log it and keep the event's own object (`poll`: one object must not stop the source).
    KeepEvent,
}

/// The current state of events' objects, read from the API at most once per object per call.
struct CurrentState<'h> {
    host: &'h dyn Host,
    /// `None` when the pipeline set `current-state = "event"`.
    api: Option<Api<'h>>,
    /// `(object, key)` read so far, with what Stripe answered (`None`: 404) and the second it did.
    read: Vec<((String, String), Option<Found>, u64)>,
}

impl<'h> CurrentState<'h> {
    fn new(host: &'h dyn Host) -> Result<Self, Error> {
        Ok(Self {
            host,
            api: settings::fetch_current_state(host)?.then(|| Api::new(host)),
            read: Vec::new(),
        })
    }

    /// Whether `change` needs a request not made yet in this call.
    fn needs_request(&self, change: &Change) -> bool {
        self.api.is_some()
            && events::has_current_state(&change.object)
            && !self
                .read
                .iter()
                .any(|((o, k), _, _)| *o == change.object && *k == change.key)
    }

    /// Replaces `change.after` with the current state of its object (reading it if needed).
    fn apply(
        &mut self,
        change: &mut Change,
        event: &Event<'_>,
        unmappable: Unmappable,
    ) -> Result<(), Error> {
        let Some(api) = &self.api else {
            return Ok(());
        };
        if !events::has_current_state(&change.object) {
            return Ok(());
        }
        let subject = (change.object.clone(), change.key.clone());
        let (current, read_at) = match self.read.iter().find(|(s, _, _)| *s == subject) {
            Some((_, current, read_at)) => (current.clone(), *read_at),
            None => {
                let current = sink::retrieve(api, &change.object, &change.key)?;
                // The second the state was read: it is Stripe's state as of then.
                let read_at = u64::try_from(self.host.now_ms() / 1000).unwrap_or(0);
                self.read.push((subject, current.clone(), read_at));
                (current, read_at)
            }
        };
        let Some(current) = current else {
            self.host.log(
                Level::Warn,
                &format!(
                    "Stripe has no {} {} (404): event {} keeps the object it carries",
                    change.object, change.key, change.source_event_id
                ),
            );
            return Ok(());
        };
        let current = current.object();
        match events::with_current_state(change, event, &current, read_at) {
            Ok(()) => Ok(()),
            Err(e) if unmappable == Unmappable::KeepEvent => {
                self.host.log(
                    Level::Warn,
                    &format!(
                        "the current state of {} {} cannot be mapped ({e}): event {} keeps the object it carries",
                        change.object, change.key, change.source_event_id
                    ),
                );
                Ok(())
            }
            Err(e) => Err(e.rejected(&format!("a {}", change.object))),
        }
    }
}

/// Prefix of the cursor used while `poll` is still walking back to the oldest event.
const SEEK: &str = "seek:";
/// Pages of 100 events read per `poll` call while seeking, so one call stays short.
pub(crate) const SEEK_PAGES_PER_CALL: usize = 10;
/// Objects whose current state one `poll` call reads; a page needing more is cut short (the
/// cursor stops at the last event returned and `has_more` is set), so one call stays short.
pub(crate) const READS_PER_POLL: usize = 10;

/// Reads changes of `object` newer than `cursor`, oldest first.
///
/// The cursor is the id of the newest event already returned; `ending_before` then gives the
/// oldest `limit` events after it. Stripe lists newest first and keeps 30 days of events, so
/// without a cursor the connector first walks back (`starting_after`, 100 per page) to the
/// oldest retrievable event. A long walk is spread over calls with a `seek:<evt>` cursor and
/// `has_more`, and returns no changes until it arrives.
///
/// Like `receive`, each subscription or customer change carries its object's current state,
/// read once per object per call (at most [`READS_PER_POLL`] objects); a failed read fails the
/// call, so the cursor does not move and the next poll tries again.
pub(crate) fn poll(
    host: &dyn Host,
    object: &str,
    cursor: Option<String>,
    limit: u32,
) -> Result<ChangePage, Error> {
    let types = events::types_for(object).ok_or_else(|| {
        Error::Unsupported(format!(
            "Stripe events of `{object}` are not mapped; poll subscription, customer or invoice"
        ))
    })?;
    let api = Api::new(host);
    let mut state = CurrentState::new(host)?;
    let limit = limit.clamp(1, 100) as usize;
    let query = |limit: usize, key: &str, at: Option<&str>| -> Params {
        let mut q: Params = types
            .iter()
            .map(|t| ("types[]".to_owned(), (*t).to_owned()))
            .collect();
        q.push(("limit".to_owned(), limit.to_string()));
        q.extend(at.map(|id| (key.to_owned(), id.to_owned())));
        q
    };
    match cursor.as_deref() {
        Some(newest) if !newest.starts_with(SEEK) => {
            let list = api.get("/v1/events", &query(limit, "ending_before", Some(newest)))?;
            let (data, has_more) = list_data(&list)?;
            page(
                host,
                &mut state,
                data.iter().rev(),
                Some(newest.to_owned()),
                has_more,
            )
        }
        seek => {
            let mut after = seek.and_then(|c| c.strip_prefix(SEEK)).map(str::to_owned);
            for _ in 0..SEEK_PAGES_PER_CALL {
                let list = api.get(
                    "/v1/events",
                    &query(100, "starting_after", after.as_deref()),
                )?;
                let (data, has_more) = list_data(&list)?;
                match data.last().and_then(|e| e["id"].as_str()) {
                    Some(oldest) if has_more => after = Some(oldest.to_owned()),
                    Some(_) => {
                        // The last page: its tail holds the oldest events.
                        let newer_remain = data.len() > limit || after.is_some();
                        let oldest = data[data.len().saturating_sub(limit)..].iter().rev();
                        return page(host, &mut state, oldest, None, newer_remain);
                    }
                    None => return seek_from_empty(host, &mut state, &api, after),
                }
            }
            Ok(ChangePage {
                changes: Vec::new(),
                next_cursor: after.map(|a| format!("{SEEK}{a}")),
                has_more: true,
            })
        }
    }
}

/// The walk found an empty page: the event it continued after (if any) is the oldest left.
fn seek_from_empty(
    host: &dyn Host,
    state: &mut CurrentState<'_>,
    api: &Api<'_>,
    after: Option<String>,
) -> Result<ChangePage, Error> {
    let Some(id) = after else {
        return Ok(ChangePage {
            changes: Vec::new(),
            next_cursor: None,
            has_more: false,
        });
    };
    let event = api.get(&format!("/v1/events/{}", segment(&id)), &Params::new())?;
    page(host, state, std::iter::once(&event), Some(id), true)
}

/// Decodes `list` (oldest first) into a page whose cursor is the newest event seen. An event
/// that cannot be mapped is logged and skipped rather than stopping the source for good. The
/// page ends early, before the first change whose current state would be one read too many.
fn page<'a>(
    host: &dyn Host,
    state: &mut CurrentState<'_>,
    list: impl Iterator<Item = &'a Value>,
    cursor: Option<String>,
    mut has_more: bool,
) -> Result<ChangePage, Error> {
    let mut next_cursor = cursor;
    let mut changes = Vec::new();
    for event in list {
        let id = event["id"].as_str().unwrap_or_default();
        let typed = Event::of_value(event);
        match events::decode(&typed) {
            Ok(Some(mut change)) => {
                if state.needs_request(&change) && state.read.len() >= READS_PER_POLL {
                    has_more = true;
                    break;
                }
                state.apply(&mut change, &typed, Unmappable::KeepEvent)?;
                changes.push(change);
            }
            Ok(None) => {}
            Err(e) => host.log(Level::Warn, &format!("skipping Stripe event {id}: {e}")),
        }
        if !id.is_empty() {
            next_cursor = Some(id.to_owned());
        }
    }
    Ok(ChangePage {
        changes,
        next_cursor,
        has_more,
    })
}
