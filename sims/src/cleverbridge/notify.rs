//! Notification delivery: each queued notification POSTed as JSON to the configured URL,
//! oldest first; a failed one is tried again two hours of simulated time later (fact sheet §5),
//! so a test advances the clock to see the retry. The `duplicate_webhook_rate` fault sends a
//! delivered notification a second time (at-least-once delivery).

use crate::faults::Fault;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;

use super::{NotificationAuth, Shared};

pub(super) fn spawn(shared: Arc<Shared>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            // Woken by new notifications and clock moves; the second-long wait also lets a
            // running clock bring renewals due on its own.
            let _ = tokio::time::timeout(Duration::from_secs(1), shared.wake.notified()).await;
            if shared.config.notifications.is_none() {
                drop(shared.begin());
                continue;
            }
            loop {
                let due = {
                    let (mut store, now) = shared.begin();
                    store.take_due(now)
                };
                let Some((id, body)) = due else { break };
                let delivered = send(&shared, &body).await;
                let now = shared.clock.now();
                shared.lock().attempted(id, delivered, now);
                if delivered && shared.faults.strikes(Fault::DuplicateWebhook) {
                    send(&shared, &body).await;
                    shared.lock().stats.notification_duplicates += 1;
                }
            }
        }
    })
}

/// One POST; true on a 2xx.
async fn send(shared: &Shared, body: &Value) -> bool {
    let Some(endpoint) = &shared.config.notifications else {
        return false;
    };
    let mut request = shared
        .http
        .post(&endpoint.url)
        .header("Content-Type", "application/json; charset=utf-8")
        .body(body.to_string());
    request = match &endpoint.auth {
        NotificationAuth::None => request,
        NotificationAuth::Basic { user, password } => request.basic_auth(user, Some(password)),
        NotificationAuth::Header { name, value } => request.header(name.as_str(), value.as_str()),
    };
    request.send().await.is_ok_and(|r| r.status().is_success())
}
