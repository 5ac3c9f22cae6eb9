//! Stripe's list conventions: newest-first pages of `{object: "list", data, has_more, url}` with
//! `limit`, `starting_after`, `ending_before`, plus the `created` range and event type filters.

use axum::Json;
use serde_json::{Value, json};

use super::error::ApiError;
use super::form::Params;

/// A newest-first page over `ids` (oldest first), Stripe's list object.
pub fn page(
    ids: &[String],
    keep: impl Fn(&str) -> bool,
    render: impl Fn(&str) -> Value,
    p: &Params,
    object: &str,
    url: &str,
) -> Result<Json<Value>, ApiError> {
    page_located(
        ids,
        |id| ids.iter().rposition(|i| i == id),
        keep,
        render,
        p,
        object,
        url,
    )
}

/// [`page`] with `locate` answering where an id is in `ids`, so a cursor deep in a long list
/// is found without a scan (the benchmarks list a million customers).
pub fn page_located(
    ids: &[String],
    locate: impl Fn(&str) -> Option<usize>,
    keep: impl Fn(&str) -> bool,
    render: impl Fn(&str) -> Value,
    p: &Params,
    object: &str,
    url: &str,
) -> Result<Json<Value>, ApiError> {
    let limit = p.int("limit")?.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid(
            "Invalid limit: must be between 1 and 100.",
            "limit",
        ));
    }
    let limit = limit as usize;
    // Positions in `ids` (oldest first); the list itself is newest first.
    let cursor = |param: &str| -> Result<Option<usize>, ApiError> {
        let Some(id) = p.text(param)? else {
            return Ok(None);
        };
        locate(&id)
            .map(Some)
            .ok_or_else(|| ApiError::no_such_param(object, &id, param))
    };
    let (after, before) = (cursor("starting_after")?, cursor("ending_before")?);
    let (data, has_more): (Vec<&str>, bool) = match (after, before) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "You may only specify one of these parameters: ending_before, starting_after.",
            ));
        }
        (_, Some(end)) => {
            // Newer than `end`, newest first; the page is the oldest `limit` of them.
            let newer: Vec<&str> = ids[end + 1..]
                .iter()
                .rev()
                .map(String::as_str)
                .filter(|i| keep(i))
                .collect();
            let start = newer.len().saturating_sub(limit);
            (newer[start..].to_vec(), start > 0)
        }
        (after, None) => {
            let older = after.unwrap_or(ids.len());
            let mut rest = ids[..older]
                .iter()
                .rev()
                .map(String::as_str)
                .filter(|i| keep(i));
            let data = rest.by_ref().take(limit).collect();
            (data, rest.next().is_some())
        }
    };
    let data: Vec<Value> = data.into_iter().map(render).collect();
    Ok(Json(
        json!({ "object": "list", "data": data, "has_more": has_more, "url": url }),
    ))
}

/// `created=<t>` or `created[gt|gte|lt|lte]=<t>`.
pub fn created_filter(p: &Params) -> Result<impl Fn(i64) -> bool + use<>, ApiError> {
    let mut bounds = [None; 4];
    if let Some(range) = p.hash("created")? {
        range.only(&["gt", "gte", "lt", "lte"])?;
        for (i, k) in ["gt", "gte", "lt", "lte"].iter().enumerate() {
            bounds[i] = range.int(k)?;
        }
    } else if let Some(t) = p.int("created")? {
        bounds = [None, Some(t), None, Some(t)];
    }
    let [gt, gte, lt, lte] = bounds;
    Ok(move |t: i64| {
        gt.is_none_or(|b| t > b)
            && gte.is_none_or(|b| t >= b)
            && lt.is_none_or(|b| t < b)
            && lte.is_none_or(|b| t <= b)
    })
}

/// `customer.subscription.*`-style match; `*` stands for any run of characters.
pub fn type_matches(pattern: &str, kind: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == kind;
    };
    let Some(mut rest) = kind.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}
