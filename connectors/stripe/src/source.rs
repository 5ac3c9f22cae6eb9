//! The source side: webhooks verified and decoded, and `/v1/events` polled oldest first.

use junction_connector_kit::{Change, ChangePage, Error, Host, Level, Webhook};
use serde_json::Value;

use crate::api::{Api, Params, list_data, segment};
use crate::{events, settings, signature};

/// Verifies the signature, then decodes the event (an unmapped type gives no changes).
pub(crate) fn receive(host: &dyn Host, hook: &Webhook) -> Result<Vec<Change>, Error> {
    signature::verify(host, hook, settings::tolerance_secs(host)?)?;
    let event: Value = serde_json::from_slice(&hook.body)
        .map_err(|e| Error::InvalidWebhook(format!("the body is not a JSON Stripe event: {e}")))?;
    if !event.is_object() {
        return Err(Error::InvalidWebhook(
            "the body is not a JSON object".into(),
        ));
    }
    let change = events::decode(&event).map_err(|e| {
        let id = event["id"].as_str().unwrap_or("without an id");
        Error::InvalidWebhook(format!("event {id} cannot be mapped: {e}"))
    })?;
    Ok(change.into_iter().collect())
}

/// Prefix of the cursor used while `poll` is still walking back to the oldest event.
const SEEK: &str = "seek:";
/// Pages of 100 events read per `poll` call while seeking, so one call stays short.
pub(crate) const SEEK_PAGES_PER_CALL: usize = 10;

/// Reads changes of `object` newer than `cursor`, oldest first.
///
/// The cursor is the id of the newest event already returned; `ending_before` then gives the
/// oldest `limit` events after it. Stripe lists newest first and keeps 30 days of events, so
/// without a cursor the connector first walks back (`starting_after`, 100 per page) to the
/// oldest retrievable event. A long walk is spread over calls with a `seek:<evt>` cursor and
/// `has_more`, and returns no changes until it arrives.
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
            Ok(page(
                host,
                data.iter().rev(),
                Some(newest.to_owned()),
                has_more,
            ))
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
                        return Ok(page(host, oldest, None, newer_remain));
                    }
                    None => return seek_from_empty(host, &api, after),
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
    Ok(page(host, std::iter::once(&event), Some(id), true))
}

/// Decodes `list` (oldest first) into a page whose cursor is the newest event seen. An event
/// that cannot be mapped is logged and skipped rather than stopping the source for good.
fn page<'a>(
    host: &dyn Host,
    list: impl Iterator<Item = &'a Value>,
    cursor: Option<String>,
    has_more: bool,
) -> ChangePage {
    let mut next_cursor = cursor;
    let mut changes = Vec::new();
    for event in list {
        let id = event["id"].as_str().unwrap_or_default();
        match events::decode(event) {
            Ok(change) => changes.extend(change),
            Err(e) => host.log(Level::Warn, &format!("skipping Stripe event {id}: {e}")),
        }
        if !id.is_empty() {
            next_cursor = Some(id.to_owned());
        }
    }
    ChangePage {
        changes,
        next_cursor,
        has_more,
    }
}
