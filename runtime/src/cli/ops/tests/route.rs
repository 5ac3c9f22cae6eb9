//! `junction route pause|resume|list`: unknown and ambiguous routes are named, a pause is shown
//! with who, when and why, and what waits is counted.

use clap::Parser;
use serde_json::json;

use super::T0;
use super::holds::{payment, plan, receive, store};
use crate::cli::ops::route::{RouteCommand, list_to, pause_to, resume_to};
use crate::cli::{Cli, Command};

fn route(args: &[&str]) -> RouteCommand {
    let argv = ["junction", "route"].iter().chain(args);
    match Cli::try_parse_from(argv).expect("valid arguments").command {
        Command::Route(command) => command,
        other => panic!("parsed as {other:?}"),
    }
}

#[tokio::test]
async fn routes_are_paused_listed_and_resumed_and_unknown_ones_named() {
    let (dir, store) = store().await;
    let plan = plan();
    let plans = [plan.clone()];

    // Before anything was planned, only the pipeline file knows the route.
    let RouteCommand::Pause(args) =
        route(&["pause", "payouts", "--reason", "bank outage", "--by", "ana"])
    else {
        unreachable!()
    };
    let err = super::capture(&store, async |s, o| pause_to(s, &[], &args, o).await)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with("unknown route `payouts`: no routes are known"),
        "{err}"
    );
    assert!(err.contains("pass --file FILE"), "{err}");

    let RouteCommand::Pause(typo) = route(&["pause", "payout", "--reason", "x", "--by", "ana"])
    else {
        unreachable!()
    };
    let err = super::capture(&store, async |s, o| pause_to(s, &plans, &typo, o).await)
        .await
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        "unknown route `payout`; known routes: payouts (pipeline payouts)"
    );
    let RouteCommand::Pause(elsewhere) = route(&[
        "pause",
        "payouts",
        "--pipeline",
        "other",
        "--reason",
        "x",
        "--by",
        "ana",
    ]) else {
        unreachable!()
    };
    let err = super::capture(&store, async |s, o| {
        pause_to(s, &plans, &elsewhere, o).await
    })
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.starts_with("unknown route `payouts` in pipeline `other`"),
        "{err}"
    );

    let out = super::capture(&store, async |s, o| pause_to(s, &plans, &args, o).await)
        .await
        .unwrap();
    assert!(
        out.text
            .starts_with("paused route payouts of pipeline payouts by ana"),
        "{}",
        out.text
    );
    let out = super::capture(&store, async |s, o| pause_to(s, &plans, &args, o).await)
        .await
        .unwrap();
    assert!(
        out.text
            .contains("was already paused since 2025-03-01T09:00:00.000Z by ana: bank outage"),
        "{}",
        out.text
    );

    // Planning goes on while paused; the writes wait.
    receive(&store, &plan, "evt_1", 1, None, payment("verified")).await;
    receive(&store, &plan, "evt_2", 2, None, payment("verified")).await;
    assert!(
        store
            .claim_due(T0, 10, "w1", 30_000)
            .await
            .unwrap()
            .is_empty()
    );
    let traced = super::capture(&store, async |s, o| {
        crate::cli::ops::trace::trace_to(s, "py_1", false, o).await
    })
    .await
    .unwrap();
    assert!(
        traced.text.contains(
            "[route paused since 2025-03-01T09:00:00.000Z by ana: bank outage; junction route resume payouts]"
        ),
        "{}",
        traced.text
    );

    let out = super::capture(&store, async |s, o| list_to(s, &[], true, o).await)
        .await
        .unwrap();
    assert_eq!(
        out.json(),
        json!([{
            "pipeline": "payouts", "route": "payouts", "paused": true, "paused_at_ms": T0,
            "paused_by": "ana", "reason": "bank outage", "waiting": 2, "parked": 0,
        }])
    );
    let out = super::capture(&store, async |s, o| list_to(s, &[], false, o).await)
        .await
        .unwrap();
    assert!(out.text.contains("PAUSED"), "{}", out.text);
    assert!(out.text.contains("1 route(s), 1 paused"), "{}", out.text);

    let RouteCommand::Resume(resume) = route(&["resume", "payouts", "--by", "ana"]) else {
        unreachable!()
    };
    let out = super::capture(&store, async |s, o| resume_to(s, &resume, o).await)
        .await
        .unwrap();
    assert!(
        out.text
            .contains("resumed route payouts of pipeline payouts by ana"),
        "{}",
        out.text
    );
    assert!(out.text.contains("2 waiting write(s)"), "{}", out.text);
    let due = store.claim_due(T0, 10, "w1", 30_000).await.unwrap();
    assert_eq!(
        due.iter().map(|d| d.source_version).collect::<Vec<_>>(),
        [1]
    );
    let out = super::capture(&store, async |s, o| resume_to(s, &resume, o).await)
        .await
        .unwrap();
    assert!(
        out.text.contains("is not paused; nothing to do"),
        "{}",
        out.text
    );
    let RouteCommand::Resume(unknown) = route(&["resume", "nope", "--by", "ana"]) else {
        unreachable!()
    };
    let err = super::capture(&store, async |s, o| resume_to(s, &unknown, o).await)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with("unknown route `nope`; known routes: payouts (pipeline payouts)"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
