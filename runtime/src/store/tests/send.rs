//! Every store future can be spawned: the engine runs them on tokio's multi-threaded runtime.

use super::{change, delivery};
use crate::store::{Attempt, DlqFilter, Lease, NewAudit, Redrive, Store};

fn spawnable<F: Future + Send + 'static>(future: F) -> F {
    future
}

/// Borrowed arguments through a caller's own async fn, as the engine passes them.
async fn settle(store: &Store, lease: &Lease, target_ref: &str, attempt: &Attempt) {
    store.record_attempt(lease, attempt).await.ok();
    store.start_confirm(lease, target_ref, 0).await.ok();
    store.confirmed(lease, target_ref).await.ok();
    store.retry_later(lease, 0, target_ref).await.ok();
    store.dead_letter(lease, target_ref, target_ref).await.ok();
    store.cursor(target_ref, target_ref, target_ref).await.ok();
    store
        .intake_polled(&[], target_ref, target_ref, target_ref, target_ref)
        .await
        .ok();
}

async fn store_futures_are_send(store: Store) {
    let lease = Lease {
        delivery_id: 1,
        worker: "w1".into(),
        token: 1,
        until_ms: 0,
    };
    let attempt = Attempt {
        n: 1,
        started_ms: 0,
        latency_ms: 0,
        outcome: "applied".into(),
        error_class: None,
        status_code: None,
        message: None,
    };
    let text = String::from("x");
    let audit: Vec<NewAudit> = Vec::new();
    let (s2, lease2, attempt2) = (store.clone(), lease.clone(), attempt.clone());
    drop(spawnable(async move {
        let text = String::from("x");
        settle(&s2, &lease2, &text, &attempt2).await;
    }));
    let s = store.clone();
    // Only compiled, not awaited: the point is that `tokio::spawn` accepts them.
    drop(spawnable(async move {
        s.intake(&[change("e", "k", 1)]).await.ok();
        s.intake_polled(&[change("e", "k", 1)], &text, &text, &text, &text)
            .await
            .ok();
        s.unplanned_changes(1).await.ok();
        s.commit_plan(1, vec![delivery("e", "k", 1)], audit)
            .await
            .ok();
        s.claim_due(0, 1, &text, 1).await.ok();
        s.record_attempt(&lease, &attempt).await.ok();
        s.retry_later(&lease, 0, &text).await.ok();
        s.not_confirmed(&lease, 0, &text).await.ok();
        s.await_job(&lease, &text, 0, false).await.ok();
        s.start_confirm(&lease, &text, 0).await.ok();
        s.confirmed(&lease, &text).await.ok();
        s.dead_letter(&lease, &text, &text).await.ok();
        s.release(&lease).await.ok();
        s.resume_held(1, &text).await.ok();
        s.dlq_list(&DlqFilter::default()).await.ok();
        s.dlq_show(1).await.ok();
        s.redrive(&Redrive::Ids(vec![1])).await.ok();
        s.append_audit(&[]).await.ok();
        s.audit_verify().await.ok();
        s.trace(&text).await.ok();
        s.cursor(&text, &text, &text).await.ok();
        s.set_cursor(&text, &text, &text, &text).await.ok();
        s.xref(&text, &text, &text).await.ok();
        s.stats(0).await.ok();
        s.delivery(1).await.ok();
        s.held(1).await.ok();
        let filter = crate::store::WaitingFilter::default();
        let decision = crate::store::Decision {
            by: text.clone(),
            reason: text.clone(),
            overridden: false,
        };
        s.waiting(crate::store::DeliveryState::Held, &filter)
            .await
            .ok();
        s.held_of_entity(&text, &text, &text).await.ok();
        s.newest_change(&text, &text, &text).await.ok();
        s.attempts(1).await.ok();
        s.release_hold(1, &decision).await.ok();
        s.send_to_review(&lease, &text, serde_json::json!({}))
            .await
            .ok();
        s.approve(1, &text, &text).await.ok();
        s.reject(1, &text, &text).await.ok();
        s.pause_route(&text, &text, &text, &text).await.ok();
        s.resume_route(&text, &text, &text, &text).await.ok();
        s.paused_routes().await.ok();
        s.route_activity().await.ok();
    }));
}

super::acceptance!(store_futures_are_send);
