//! Webhook delivery as Stripe does it: each event POSTed to the endpoint, signed with
//! `Stripe-Signature`, retried with backoff on non-2xx; faults can duplicate or shuffle deliveries,
//! and a test can hold events and release them in reverse (`SimState::release_webhooks`).
//! Both follow docs.stripe.com/webhooks, "Best practices for using webhooks": "Handle duplicate
//! events" (an endpoint may receive the same event more than once) and "Event ordering" (Stripe
//! does not guarantee delivery in the order events are generated).

use crate::faults::Fault;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use rand::seq::SliceRandom;
use sha2::Sha256;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use super::SimState;

/// The `Stripe-Signature` header for `payload`, exactly as stripe-node's
/// `generateTestHeaderString`: `t=<timestamp>,v1=<hex hmac-sha256(secret, "<t>.<payload>")>`.
/// The key is the whole secret string, `whsec_` prefix included.
pub fn sign_payload(secret: &str, timestamp: i64, payload: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(format!("{timestamp}.{payload}").as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Starts the delivery loop for queued event ids.
pub(super) fn spawn(state: Arc<SimState>, mut queue: UnboundedReceiver<String>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(first) = queue.recv().await {
            let mut batch = vec![first];
            if state.faults.get().shuffle_webhooks {
                // "Event ordering": no delivery order is guaranteed.
                // Let a burst queue up, so there is an order to shuffle.
                tokio::time::sleep(Duration::from_millis(50)).await;
                while let Ok(id) = queue.try_recv() {
                    batch.push(id);
                }
                batch.shuffle(state.store().rng());
            }
            for id in batch {
                deliver(&state, id).await;
            }
        }
    })
}

/// First attempt inline (so deliveries keep creation order when all goes well); retries run
/// aside, so one failing event does not hold back the next, which is how Stripe behaves.
async fn deliver(state: &Arc<SimState>, id: String) {
    // "Handle duplicate events": the same event may arrive more than once.
    let duplicate = state.faults.strikes(Fault::DuplicateWebhook);
    if send(state, &id).await {
        state.store().delivered(&id);
    } else {
        let state = state.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let mut wait = state.config.webhook_retry_base;
            for _ in 0..state.config.webhook_retries {
                tokio::time::sleep(wait).await;
                if send(&state, &id).await {
                    state.store().delivered(&id);
                    return;
                }
                wait *= 2;
            }
            state.store().stats.webhooks_abandoned += 1;
        });
    }
    if duplicate {
        send(state, &id).await;
    }
}

/// One signed POST; true on a 2xx.
async fn send(state: &SimState, id: &str) -> bool {
    let Some(endpoint) = &state.config.webhook else {
        return false;
    };
    let payload = {
        let mut store = state.store();
        store.stats.webhook_attempts += 1;
        // Stripe sends events pretty-printed; receivers must verify the exact bytes.
        store
            .event(id)
            .and_then(|e| serde_json::to_string_pretty(e).ok())
    };
    let Some(payload) = payload else { return false };
    // The signature uses the wall clock (not the simulated one): receivers check it against theirs.
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let response = state
        .http
        .post(&endpoint.url)
        .header("Content-Type", "application/json; charset=utf-8")
        .header(
            "User-Agent",
            "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        )
        .header("Cache-Control", "no-cache")
        .header("Accept", "*/*; q=0.5, application/xml")
        .header(
            "Stripe-Signature",
            sign_payload(&endpoint.secret, t, &payload),
        )
        .body(payload)
        .send()
        .await;
    response.is_ok_and(|r| r.status().is_success())
}
