//! Several workers on one PostgreSQL database: a commit wakes the others, one worker leads at
//! a time and another takes over when it goes. (Waits below are bounded only to fail a broken
//! build instead of hanging it; nothing is asserted about how fast.)

use std::time::Duration;

use super::{change, delivery, memory, planned_entry};
use crate::store::testing::TestDatabase;
use crate::store::{Store, Wakeups};

/// Long enough for any machine; a test that needs it has failed.
const PATIENCE: Duration = Duration::from_secs(30);

async fn worker(db: &TestDatabase) -> Store {
    Store::open(db.url()).await.expect("open the store")
}

#[tokio::test]
async fn a_commit_on_one_worker_wakes_the_others() {
    let db = TestDatabase::create().await;
    let (listening, other) = (worker(&db).await, worker(&db).await);
    let wake = Wakeups::default();
    let task = listening
        .listen(wake.clone())
        .await
        .unwrap()
        .expect("PostgreSQL listens");

    // New changes wake the planners.
    let changes = wake.changes.notified();
    let intake = other.intake(&[change("evt_1", "sub_1", 1)]).await.unwrap();
    tokio::time::timeout(PATIENCE, changes)
        .await
        .expect("the intake woke the other worker's planner");

    // A committed plan wakes the delivery loops.
    let deliveries = wake.deliveries.notified();
    let d = delivery("evt_1", "sub_1", 1);
    let entry = planned_entry(&d, "evt_1");
    other
        .commit_plan(intake[0].change_id(), vec![d], vec![entry])
        .await
        .unwrap();
    tokio::time::timeout(PATIENCE, deliveries)
        .await
        .expect("the plan woke the other worker's delivery loop");
    task.abort();
}

#[tokio::test]
async fn releasing_approving_and_resuming_wake_the_other_workers() {
    let db = TestDatabase::create().await;
    let (listening, other) = (worker(&db).await, worker(&db).await);
    let mut held = delivery("evt_1", "sub_1", 1);
    held.state = crate::store::InitialState::Held {
        reason: "gate kyc: waiting".into(),
    };
    let held = super::plan(&other, "evt_1", held).await;
    let mut flagged = delivery("evt_2", "sub_2", 1);
    flagged.state = crate::store::InitialState::Review {
        reason: "no source event".into(),
    };
    let flagged = super::plan(&other, "evt_2", flagged).await;
    other
        .pause_route(super::PIPELINE, "subscription-to-billing", "ana", "outage")
        .await
        .unwrap();
    // A listener of its own for each step, started after the commits before it: only that
    // step's notification can wake it.
    let listen = async || {
        let wake = Wakeups::default();
        let task = listening
            .listen(wake.clone())
            .await
            .unwrap()
            .expect("PostgreSQL listens");
        (wake, task)
    };

    let (wake, task) = listen().await;
    let decision = crate::store::Decision {
        by: "ana".into(),
        reason: "checked".into(),
        overridden: false,
    };
    other
        .release_hold(held.id, &decision)
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(PATIENCE, wake.deliveries.notified())
        .await
        .expect("a release woke the other worker's delivery loop");
    task.abort();

    let (wake, task) = listen().await;
    other
        .approve(flagged.id, "ana", "ok")
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(PATIENCE, wake.deliveries.notified())
        .await
        .expect("an approval woke the other worker's delivery loop");
    task.abort();

    let (wake, task) = listen().await;
    other
        .resume_route(super::PIPELINE, "subscription-to-billing", "ana", "over")
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(PATIENCE, wake.deliveries.notified())
        .await
        .expect("a resume woke the other worker's delivery loop");
    task.abort();
}

#[tokio::test]
async fn one_worker_leads_and_another_takes_over_when_it_goes() {
    let db = TestDatabase::create().await;
    let (a, b) = (worker(&db).await, worker(&db).await);
    let mut first = a.leadership("poll");
    tokio::time::timeout(PATIENCE, first.until_leader())
        .await
        .expect("a lone worker leads");
    let mut second = b.leadership("poll");
    // The second keeps trying and must not lead while the first does: give it several tries.
    for _ in 0..3 {
        assert!(
            tokio::time::timeout(Duration::from_millis(1500), second.until_leader())
                .await
                .is_err(),
            "two workers lead at once"
        );
        assert!(first.is_leader());
    }
    // The leader goes (its session ends, as when the process is killed): the other takes over.
    drop(first);
    tokio::time::timeout(PATIENCE, second.until_leader())
        .await
        .expect("the other worker took over");
    // A different role has a leader of its own.
    let mut other_role = a.leadership("reconcile");
    tokio::time::timeout(PATIENCE, other_role.until_leader())
        .await
        .expect("another role is led independently");
}

#[tokio::test]
async fn on_sqlite_the_one_worker_always_leads_and_nobody_listens() {
    let store = memory().await;
    assert!(store.leadership("poll").is_leader());
    assert!(store.listen(Wakeups::default()).await.unwrap().is_none());
}
