//! `junction dlq`: list, show with the attempt history, and redrive once.

use std::process::ExitCode;

use clap::Parser;

use super::{MASKED_EMAIL, capture, fixture, reader};
use crate::cli::ops::dlq::{DlqCommand, list_to, redrive_to, show_to};
use crate::cli::ops::trace::trace_to;
use crate::cli::{Cli, Command};

/// Parses `junction dlq ARGS...`.
pub(super) fn dlq(args: &[&str]) -> DlqCommand {
    let argv = ["junction", "dlq"].iter().chain(args);
    match Cli::try_parse_from(argv).expect("valid arguments").command {
        Command::Dlq(command) => command,
        other => panic!("parsed as {other:?}"),
    }
}

#[tokio::test]
async fn list_and_show_a_dead_letter_with_its_history() {
    let f = fixture().await;
    let store = reader(&f.url).await;
    let DlqCommand::List(args) = dlq(&["list"]) else {
        unreachable!()
    };
    let out = capture(&store, async |s, o| list_to(s, &args, o).await)
        .await
        .unwrap();
    assert_eq!(out.code, ExitCode::SUCCESS);
    let row = out.text.lines().nth(1).expect("a row under the header");
    for cell in [
        &f.letter.to_string()[..],
        "subs-to-billing",
        "subscription-to-billing -> netsuite",
        "sub_1",
        "not confirmed",
    ] {
        assert!(row.contains(cell), "{cell} missing from {row:?}");
    }
    assert!(out.text.contains("1 dead letter, 1 open"), "{}", out.text);

    let DlqCommand::List(args) = dlq(&["list", "--json"]) else {
        unreachable!()
    };
    let out = capture(&store, async |s, o| list_to(s, &args, o).await)
        .await
        .unwrap()
        .json();
    assert_eq!(out[0]["id"], f.letter);
    assert_eq!(out[0]["payload"]["email"], MASKED_EMAIL);

    let DlqCommand::List(args) = dlq(&["list", "--pipeline", "other", "--json"]) else {
        unreachable!()
    };
    let out = capture(&store, async |s, o| list_to(s, &args, o).await)
        .await
        .unwrap();
    assert_eq!(out.json(), serde_json::json!([]));

    let out = capture(&store, async |s, o| show_to(s, f.letter, false, o).await)
        .await
        .unwrap();
    let text = &out.text;
    assert!(text.contains("reason           not confirmed"), "{text}");
    assert!(
        text.contains(&format!("\"email\": \"{MASKED_EMAIL}\"")),
        "masked payload shown:\n{text}"
    );
    let first = text.lines().position(|l| {
        l.contains("#1")
            && l.contains("transient")
            && l.contains("HTTP 503")
            && l.contains("upstream busy")
    });
    let second = text
        .lines()
        .position(|l| l.contains("#2") && l.contains("applied") && l.contains("HTTP 200"));
    assert!(first.is_some() && first < second, "{text}");

    let json = capture(&store, async |s, o| show_to(s, f.letter, true, o).await)
        .await
        .unwrap()
        .json();
    assert_eq!(json["letter"]["reason"], "not confirmed");
    assert_eq!(json["letter"]["payload"]["email"], MASKED_EMAIL);
    assert_eq!(json["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(json["attempts"][0]["status_code"], 503);

    let err = capture(&store, async |s, o| show_to(s, 999, false, o).await)
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("no dead letter 999"), "{err}");
}

#[tokio::test]
async fn redriving_twice_redrives_once() {
    let f = fixture().await;
    let id = f.letter.to_string();
    let DlqCommand::Redrive(args) = dlq(&["redrive", &id]) else {
        unreachable!()
    };
    let first = capture(&f.store, async |s, o| redrive_to(s, &args, o).await)
        .await
        .unwrap();
    assert!(
        first.text.contains("redriven 1 dead letter"),
        "{}",
        first.text
    );
    let second = capture(&f.store, async |s, o| redrive_to(s, &args, o).await)
        .await
        .unwrap();
    assert!(second.text.contains("already redriven"), "{}", second.text);
    assert!(
        second.text.contains("nothing to redrive"),
        "{}",
        second.text
    );

    let DlqCommand::Redrive(json) = dlq(&["redrive", &id, "--json"]) else {
        unreachable!()
    };
    let third = capture(&f.store, async |s, o| redrive_to(s, &json, o).await)
        .await
        .unwrap()
        .json();
    assert_eq!(
        third,
        serde_json::json!({ "redriven": 0, "already_redriven": [f.letter] })
    );
    let DlqCommand::Redrive(all) = dlq(&["redrive", "--all", "--pipeline", "subs-to-billing"])
    else {
        unreachable!()
    };
    let fourth = capture(&f.store, async |s, o| redrive_to(s, &all, o).await)
        .await
        .unwrap();
    assert_eq!(fourth.text, "nothing to redrive\n");

    let store = reader(&f.url).await;
    let DlqCommand::List(open) = dlq(&["list"]) else {
        unreachable!()
    };
    let out = capture(&store, async |s, o| list_to(s, &open, o).await)
        .await
        .unwrap();
    assert_eq!(out.text, "no open dead letters\n");
    let DlqCommand::List(all) = dlq(&["list", "--all"]) else {
        unreachable!()
    };
    let out = capture(&store, async |s, o| list_to(s, &all, o).await)
        .await
        .unwrap();
    assert!(
        out.text.contains("REDRIVEN") && out.text.contains("1 dead letter, 0 open"),
        "{}",
        out.text
    );

    // The trace tells it too, once, and the delivery is pending again.
    let trace = capture(&store, async |s, o| trace_to(s, "sub_1", false, o).await)
        .await
        .unwrap()
        .text;
    assert_eq!(
        trace
            .lines()
            .filter(|l| l.contains("redriven") && l.contains(&format!("dead letter {id}")))
            .count(),
        1,
        "{trace}"
    );
    assert!(trace.lines().last().unwrap().contains("pending"), "{trace}");
}

#[tokio::test]
async fn a_mistyped_id_redrives_nothing() {
    let f = fixture().await;
    let id = f.letter.to_string();
    let DlqCommand::Redrive(args) = dlq(&["redrive", &id, "777"]) else {
        unreachable!()
    };
    let err = capture(&f.store, async |s, o| redrive_to(s, &args, o).await)
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("no dead letter 777; nothing was redriven"),
        "{err}"
    );
    let open = f.store.dlq_list(&Default::default()).await.unwrap();
    assert_eq!(open.len(), 1, "the good id was not redriven either");
}
