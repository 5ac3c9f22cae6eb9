//! What a campaign checks once everything has drained: each change's outcome from the store,
//! the changes Stripe saw acknowledged that the store does not hold (lost), the business
//! actions NetSuite applied twice, and whether both systems hold the same values for every
//! entity (read through the pipeline's own connectors, as its read-back confirmation does).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::pipeline::Engine;
use crate::store::{ChangeOutcome, DeliveryState};
use junction_sims::netsuite::AppliedWrite;

/// Changes by how they ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Outcomes {
    /// Written and read back with the intended values.
    pub confirmed: u64,
    /// Not written, by reason (a newer change was applied first, a route's `when`, ...).
    pub suppressed: BTreeMap<String, u64>,
    /// Held by a gate, a durable timer or waiting for review.
    pub held: u64,
    /// In the dead-letter queue.
    pub dead_lettered: u64,
    /// Still on their way (none, once drained).
    pub unsettled: u64,
    /// Planned, with no route carrying them (and so nothing to deliver).
    pub not_routed: u64,
}

impl Outcomes {
    /// Counts `changes`: a change counts once, by its most pressing delivery (dead, then held,
    /// then unsettled, then confirmed, then suppressed).
    pub fn count(changes: &[ChangeOutcome]) -> Outcomes {
        let mut o = Outcomes::default();
        for c in changes {
            let has = |s: DeliveryState| c.deliveries.iter().any(|(d, _)| *d == s);
            if !c.planned {
                o.unsettled += 1;
            } else if has(DeliveryState::Dead) {
                o.dead_lettered += 1;
            } else if has(DeliveryState::Held) || has(DeliveryState::Review) {
                o.held += 1;
            } else if c.deliveries.iter().any(|(d, _)| !d.is_terminal()) {
                o.unsettled += 1;
            } else if has(DeliveryState::Confirmed) {
                o.confirmed += 1;
            } else if let Some((_, reason)) = c.deliveries.first() {
                *o.suppressed
                    .entry(suppression(reason.as_deref()))
                    .or_default() += 1;
            } else {
                o.not_routed += 1;
            }
        }
        o
    }

    /// Every change counted.
    pub fn total(&self) -> u64 {
        self.confirmed
            + self.suppressed.values().sum::<u64>()
            + self.held
            + self.dead_lettered
            + self.unsettled
            + self.not_routed
    }
}

/// A suppression's reason as a table row names it.
fn suppression(reason: Option<&str>) -> String {
    match reason {
        Some("stale") => "stale: a newer change of the entity was applied first".into(),
        Some(r) if r.starts_with("when `") => "the route's `when` is false".into(),
        Some(r) => r.split(':').next().unwrap_or(r).trim().to_owned(),
        None => "no reason recorded".into(),
    }
}

/// The events Stripe saw acknowledged (`pending_webhooks` 0) that are not among `changes`:
/// changes Junction lost after its 2xx. Only `customer.*` events, the ones the pipeline takes.
pub fn lost(events: &[Value], changes: &[ChangeOutcome]) -> Vec<String> {
    let held: HashSet<&str> = changes.iter().map(|c| c.source_event_id.as_str()).collect();
    events
        .iter()
        .filter(|e| is_change(e) && e["pending_webhooks"] == 0)
        .filter_map(|e| e["id"].as_str())
        .filter(|id| !held.contains(id))
        .map(str::to_owned)
        .collect()
}

/// Stripe events the pipeline takes in (`customer.*`, `customer.subscription.*`).
pub fn is_change(event: &Value) -> bool {
    event["type"]
        .as_str()
        .is_some_and(|t| t.starts_with("customer."))
}

/// Events Stripe never got a 2xx for (it retries, then gives up).
pub fn unacknowledged(events: &[Value]) -> u64 {
    events
        .iter()
        .filter(|e| is_change(e) && e["pending_webhooks"] != 0)
        .count() as u64
}

/// Business actions NetSuite applied more than once: idempotency keys it applied twice, and
/// writes applied without a key (NetSuite honours keys only on asynchronous requests, so one
/// without has no protection against a repeat). Empty when every action happened once.
pub fn applied_twice(writes: &[AppliedWrite]) -> Vec<String> {
    let mut per_key: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut found = Vec::new();
    for w in writes {
        match &w.idempotency_key {
            Some(k) => per_key.entry(k).or_default().push(w.seq),
            None => found.push(format!(
                "write {} to {} {} carries no idempotency key",
                w.seq, w.record_type, w.internal_id
            )),
        }
    }
    found.extend(
        per_key
            .iter()
            .filter(|(_, seqs)| seqs.len() > 1)
            .map(|(key, seqs)| format!("{key}: applied writes {seqs:?}")),
    );
    found
}

/// The entities the events are about, as `(object, key)`.
pub fn entities(events: &[Value]) -> BTreeSet<(&'static str, String)> {
    events
        .iter()
        .filter(|e| is_change(e))
        .filter_map(|e| {
            let object = if e["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("customer.subscription."))
            {
                "subscription"
            } else {
                "customer"
            };
            Some((object, e["data"]["object"]["id"].as_str()?.to_owned()))
        })
        .collect()
}

/// The fields compared between Stripe and NetSuite, per object: what the pipeline confirms
/// (plus `cancel_at_period_end` for subscriptions).
pub fn compared_fields(object: &str) -> &'static [&'static str] {
    match object {
        "customer" => &["name", "email", "phone", "currency"],
        _ => &[
            "status",
            "items",
            "started_at",
            "billing_stop_at",
            "cancel_at_period_end",
        ],
    }
}

/// Stripe's document as NetSuite keeps it: what a NetSuite read-back must equal (the NetSuite
/// connector's `expected`, as the pipeline's confirmation uses it).
pub async fn as_kept(
    engine: &Engine,
    pipeline: &str,
    object: &str,
    key: &str,
    doc: &Value,
) -> Result<Value, String> {
    let netsuite = engine
        .connector(pipeline, "netsuite")
        .ok_or("no netsuite connector")?;
    let write = junction_connector_kit::Write {
        object: object.to_string(),
        key: key.to_string(),
        operation: junction_connector_kit::Operation::Update,
        document: doc.to_string(),
        effective_at: None,
        occurred_at: 0,
        idempotency_key: String::new(),
        correlation_id: String::new(),
    };
    let kept = netsuite
        .expected(&Default::default(), write)
        .await
        .result
        .map_err(|e| format!("{object} {key}: netsuite cannot say how it keeps it: {e}"))?;
    serde_json::from_str(&kept).map_err(|e| format!("{object} {key}: {e}"))
}

/// Whether Stripe and NetSuite agree on one entity, read through `engine`'s connectors of
/// `pipeline`; if not, which field differs and how.
pub async fn compare(
    engine: &Engine,
    pipeline: &str,
    object: &str,
    key: &str,
) -> Result<(), String> {
    let read = |connector: &'static str| async move {
        let c = engine
            .connector(pipeline, connector)
            .ok_or_else(|| format!("no connector {connector}"))?;
        let doc = c
            .fetch(&Default::default(), object, key)
            .await
            .result
            .map_err(|e| format!("{object} {key}: reading {connector} failed: {e}"))?;
        let doc = doc.ok_or_else(|| format!("{object} {key}: missing at {connector}"))?;
        serde_json::from_str::<Value>(&doc)
            .map_err(|e| format!("{object} {key}: {connector} sent bad JSON: {e}"))
    };
    let (stripe, netsuite) = (read("stripe").await?, read("netsuite").await?);
    let stripe = as_kept(engine, pipeline, object, key, &stripe).await?;
    for f in compared_fields(object) {
        if stripe[f] != netsuite[f] {
            return Err(format!(
                "{object} {key}.{f}: stripe {} vs netsuite {}",
                stripe[f], netsuite[f]
            ));
        }
    }
    Ok(())
}

/// [`compare`] for every entity, eight at a time; the differences found, in key order.
pub async fn discrepancies(
    engine: &Arc<Engine>,
    pipeline: &str,
    entities: &BTreeSet<(&'static str, String)>,
) -> Vec<String> {
    let entities: Vec<(&'static str, String)> = entities.iter().cloned().collect();
    let per_task = entities.len().div_ceil(8).max(1);
    let mut set = tokio::task::JoinSet::new();
    for (n, chunk) in entities.chunks(per_task).enumerate() {
        let (engine, pipeline, chunk) = (engine.clone(), pipeline.to_owned(), chunk.to_vec());
        set.spawn(async move {
            let mut found = Vec::new();
            for (object, key) in &chunk {
                if let Err(e) = compare(&engine, &pipeline, object, key).await {
                    found.push(e);
                }
            }
            (n, found)
        });
    }
    let mut parts = Vec::new();
    while let Some(done) = set.join_next().await {
        match done {
            Ok(part) => parts.push(part),
            Err(e) => parts.push((usize::MAX, vec![format!("a comparison task failed: {e}")])),
        }
    }
    parts.sort_by_key(|(n, _)| *n);
    parts.into_iter().flat_map(|(_, found)| found).collect()
}
