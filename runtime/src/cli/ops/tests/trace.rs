//! `junction trace`: one change's story in order, by any of its names, masked.

use std::process::ExitCode;

use super::{MASKED_EMAIL, capture, fixture, reader};
use crate::cli::ops::trace::trace_to;

/// The position of the first line containing every one of `needles`.
fn line_of(text: &str, needles: &[&str]) -> usize {
    text.lines()
        .position(|line| needles.iter().all(|n| line.contains(n)))
        .unwrap_or_else(|| panic!("no line with {needles:?} in:\n{text}"))
}

#[tokio::test]
async fn trace_tells_a_dead_letter_story_in_order() {
    let f = fixture().await;
    let store = reader(&f.url).await;
    let out = capture(&store, async |s, o| trace_to(s, "sub_1", false, o).await)
        .await
        .unwrap();
    assert_eq!(out.code, ExitCode::SUCCESS);
    let text = &out.text;

    let route = "subscription-to-billing -> netsuite";
    let steps = [
        line_of(
            text,
            &[
                "2025-03-01T09:00:00.000Z",
                "subs-to-billing",
                "stripe",
                "received",
                "event evt_1",
                "version 1",
            ],
        ),
        line_of(
            text,
            &[
                route,
                "planned",
                "effective 2025-03-02T09:00:00.000Z",
                MASKED_EMAIL,
            ],
        ),
        line_of(
            text,
            &[
                route,
                "attempt",
                "#1",
                "failed",
                "transient",
                "HTTP 503",
                "120 ms",
                "upstream busy",
            ],
        ),
        line_of(
            text,
            &[
                route,
                "retry scheduled",
                "next try 2025-03-01T09:00:01.000Z",
            ],
        ),
        line_of(
            text,
            &[route, "attempt", "#2", "applied", "HTTP 200", "85 ms"],
        ),
        line_of(text, &[route, "applied", "target ref ns_1"]),
        line_of(
            text,
            &[
                route,
                "dead lettered",
                "not confirmed",
                "after 2 attempts",
                &format!("dead letter {}", f.letter),
            ],
        ),
    ];
    assert!(
        steps.windows(2).all(|w| w[0] < w[1]),
        "out of order: {steps:?}\n{text}"
    );
    // Nothing about the other subscription.
    assert!(!text.contains("sub_2") && !text.contains("ns_2"), "{text}");

    let summary = line_of(text, &["summary:"]);
    let last = line_of(
        text,
        &[
            "delivery 1",
            "sub_1",
            route,
            "DEAD: not confirmed after 2 attempts",
        ],
    );
    assert!(summary < last && last == text.lines().count() - 1, "{text}");
}

#[tokio::test]
async fn an_event_id_idempotency_key_or_correlation_id_finds_the_same_story() {
    let f = fixture().await;
    let store = reader(&f.url).await;
    let by_key = capture(&store, async |s, o| trace_to(s, "sub_2", true, o).await)
        .await
        .unwrap()
        .json();
    for needle in ["evt_2", "jn-evt_2", "corr-evt_2"] {
        let other = capture(&store, async |s, o| trace_to(s, needle, true, o).await)
            .await
            .unwrap()
            .json();
        assert_eq!(other["entries"], by_key["entries"], "{needle}");
    }
    let kinds: Vec<&str> = by_key["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["received", "planned", "attempt", "applied", "confirmed"]
    );
    assert_eq!(
        by_key["entries"][1]["detail"]["document"]["email"],
        MASKED_EMAIL
    );
    let delivery = &by_key["deliveries"][0];
    assert_eq!(delivery["state"], "confirmed");
    assert_eq!(delivery["target_ref"], "ns_2");
    assert_eq!(delivery["route"], "subscription-to-billing");
}

#[tokio::test]
async fn a_trace_that_matches_nothing_fails_clearly() {
    let f = fixture().await;
    let store = reader(&f.url).await;
    let err = capture(&store, async |s, o| {
        trace_to(s, "sub_nobody", false, o).await
    })
    .await
    .err()
    .expect("nothing matches");
    let message = err.to_string();
    assert!(
        message.contains("nothing in the store matches `sub_nobody`"),
        "{message}"
    );
}

/// `junction replay --pause R --until-clean JOB`: a route name the store has never seen is
/// refused before anything is paused or replayed; a known one is paused until the job is clean.
#[tokio::test]
async fn a_replay_pauses_known_routes_until_clean_and_refuses_unknown_ones() {
    use crate::cli::ops::replay::{Pause, pause_until_clean};
    let f = super::fixture().await;
    let pause = |routes: &[&str]| Pause {
        pipeline: super::PIPELINE.into(),
        routes: routes.iter().map(|r| (*r).to_owned()).collect(),
        job: "subscriptions".into(),
    };
    let err = super::capture(&f.store, async |s, o| {
        pause_until_clean(s, &pause(&[super::ROUTE, "emials"]), "replayed by ops", o)
            .await
            .map(|()| std::process::ExitCode::SUCCESS)
    })
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("--pause `emials`"), "{err}");
    assert!(
        f.store.paused_routes().await.unwrap().is_empty(),
        "nothing paused"
    );

    let out = super::capture(&f.store, async |s, o| {
        pause_until_clean(s, &pause(&[super::ROUTE]), "replayed by ops: restore", o)
            .await
            .map(|()| std::process::ExitCode::SUCCESS)
    })
    .await
    .unwrap();
    assert!(
        out.text.contains("until `subscriptions` runs clean"),
        "{}",
        out.text
    );
    let paused = f.store.paused_routes().await.unwrap();
    assert_eq!(paused[0].until_clean.as_deref(), Some("subscriptions"));
    assert_eq!(paused[0].paused_by, "ops");
    // A clean run of that job resumes it; another job's does not.
    assert!(
        f.store
            .resume_after_clean(super::PIPELINE, "customers")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        f.store
            .resume_after_clean(super::PIPELINE, "subscriptions")
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(f.store.paused_routes().await.unwrap().is_empty());
}
