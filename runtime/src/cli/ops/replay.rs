//! `junction replay`: after an incident at a target, send the confirmed writes of a time window
//! again, in source order within each entity, financial ones first, under their original
//! idempotency keys; each is confirmed again by read-back, and corrected if the target no
//! longer shows it. A running `junction run` delivers them.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use super::format::{Table, count, utc};
use super::{Access, StoreArg, with_store, write_json};
use crate::store::{ReplayFilter, Store};

/// `junction replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Writes of changes that happened at or after this time: RFC 3339
    /// (`2026-11-30T08:00:00Z`) or a duration ago (`6h`).
    #[arg(long)]
    since: String,
    /// ...and before this time (same forms); now when left out.
    #[arg(long)]
    until: Option<String>,
    /// Only this pipeline.
    #[arg(long)]
    pipeline: Option<String>,
    /// Only these routes (repeat, or separate with commas).
    #[arg(long = "route", value_delimiter = ',')]
    routes: Vec<String>,
    /// Only these classes, by the routes' `priority`: financial, subscription (the default
    /// `normal` priority), enrichment (`low`). They always go in that order.
    #[arg(long, value_delimiter = ',')]
    priority: Vec<String>,
    /// Pause these routes (of --pipeline) first, until reconciliation --until-clean runs
    /// clean: customer-facing writes wait while the systems of record are put right.
    #[arg(long = "pause", value_delimiter = ',', requires_all = ["until_clean", "pipeline"])]
    pause: Vec<String>,
    /// The `[reconcile.NAME]` job whose next clean run resumes the --pause routes.
    #[arg(long, requires = "pause")]
    until_clean: Option<String>,
    /// Show what would be replayed; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Why (audited with every replayed write).
    #[arg(long, default_value = "")]
    reason: String,
    /// Who asks (audited); the login name by default.
    #[arg(long)]
    by: Option<String>,
    /// Print the replayed writes as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

/// Runs `junction replay`.
pub async fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let access = if args.dry_run {
        Access::Read
    } else {
        Access::Repair
    };
    let now = crate::services::clock::Clock::system().now_ms();
    let filter = filter(&args, now)?;
    let pause = match (&args.pipeline, &args.until_clean) {
        (Some(pipeline), Some(job)) if !args.pause.is_empty() => Some(Pause {
            pipeline: pipeline.clone(),
            routes: args.pause.clone(),
            job: job.clone(),
        }),
        _ => None,
    };
    with_store(&args.store.store, access, async |store, out| {
        if let Some(pause) = &pause
            && !filter.dry_run
        {
            pause_until_clean(store, pause, &filter.note, out).await?;
        }
        replay_to(store, &filter, args.json, out).await
    })
    .await
}

/// Routes a replay pauses until a reconciliation is clean.
pub(super) struct Pause {
    pub(super) pipeline: String,
    pub(super) routes: Vec<String>,
    pub(super) job: String,
}

/// Pauses `pause.routes` until `pause.job` runs clean. A route name the store has never seen
/// is refused, so a typo does not leave the customer-facing route running.
pub(super) async fn pause_until_clean(
    store: &Store,
    pause: &Pause,
    note: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let known = store.route_activity().await?;
    for route in &pause.routes {
        if !known
            .iter()
            .any(|r| r.pipeline == pause.pipeline && r.route == *route)
        {
            bail!(
                "--pause `{route}`: pipeline `{}` has no deliveries on a route of that name; nothing was paused or replayed",
                pause.pipeline
            );
        }
    }
    let by = note
        .split(':')
        .next()
        .unwrap_or(note)
        .trim_start_matches("replayed by ");
    for route in &pause.routes {
        let (paused, new) = store
            .pause_route_until_clean(
                &pause.pipeline,
                route,
                by,
                &format!(
                    "incident replay ({note}); resumes when reconciliation `{}` runs clean",
                    pause.job
                ),
                &pause.job,
            )
            .await?;
        if new {
            writeln!(
                out,
                "paused {} until `{}` runs clean",
                paused.route, pause.job
            )?;
        } else {
            writeln!(
                out,
                "{} was paused already ({}); left as it was",
                paused.route, paused.reason
            )?;
        }
    }
    Ok(())
}

/// The filter `args` ask for, with relative times counted back from `now_ms`.
pub(super) fn filter(args: &ReplayArgs, now_ms: i64) -> anyhow::Result<ReplayFilter> {
    let since_ms = instant(&args.since, now_ms).context("--since")?;
    let until_ms = args
        .until
        .as_deref()
        .map(|u| instant(u, now_ms).context("--until"))
        .transpose()?;
    if until_ms.is_some_and(|u| u <= since_ms) {
        bail!("--until must be later than --since");
    }
    let priorities = args
        .priority
        .iter()
        .map(|p| match p.trim() {
            "financial" => Ok(0),
            "subscription" | "normal" => Ok(1),
            "enrichment" | "low" => Ok(2),
            other => bail!(
                "--priority `{other}` is not a class; use financial, subscription or enrichment"
            ),
        })
        .collect::<anyhow::Result<Vec<i32>>>()?;
    let by = args
        .by
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into());
    Ok(ReplayFilter {
        since_ms,
        until_ms,
        pipeline: args.pipeline.clone(),
        routes: args.routes.clone(),
        priorities,
        dry_run: args.dry_run,
        note: if args.reason.is_empty() {
            format!("replayed by {by}")
        } else {
            format!("replayed by {by}: {}", args.reason)
        },
    })
}

/// An RFC 3339 time, or a duration before `now_ms`.
pub(crate) fn instant(text: &str, now_ms: i64) -> anyhow::Result<i64> {
    if let Ok(at) =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
    {
        return Ok((at.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    match crate::config::parse_duration(text) {
        Ok(ago) => Ok(now_ms - ago.as_millis() as i64),
        Err(_) => bail!(
            "`{text}` is neither an RFC 3339 time (2026-11-30T08:00:00Z) nor a duration ago (6h, 30m)"
        ),
    }
}

/// `junction replay` against an open store.
pub(super) async fn replay_to(
    store: &Store,
    filter: &ReplayFilter,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let replayed = store.replay(filter).await?;
    if json {
        write_json(out, &replayed)?;
        return Ok(ExitCode::SUCCESS);
    }
    let window = format!(
        "{} .. {}",
        utc(filter.since_ms),
        filter.until_ms.map_or_else(|| "now".to_owned(), utc)
    );
    if replayed.is_empty() {
        writeln!(
            out,
            "no confirmed writes of changes between {window} to replay"
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::default();
    table.row(
        [
            "ORDER",
            "CLASS",
            "PIPELINE",
            "ROUTE -> TARGET",
            "KEY",
            "VERSION",
            "OCCURRED (UTC)",
            "WHY",
        ]
        .map(str::to_owned)
        .to_vec(),
    );
    for (n, r) in replayed.iter().enumerate() {
        table.row(vec![
            (n + 1).to_string(),
            match r.priority {
                0 => "financial",
                1 => "subscription",
                _ => "enrichment",
            }
            .to_owned(),
            r.pipeline.clone(),
            format!("{} -> {}", r.route, r.target),
            r.key.clone(),
            r.source_version.to_string(),
            utc(r.occurred_at_ms),
            if r.in_window {
                "in the window".to_owned()
            } else {
                "a later write of the entity".to_owned()
            },
        ]);
    }
    out.write_all(table.render().as_bytes())?;
    let verb = if filter.dry_run {
        "would be sent again (dry run: nothing changed)"
    } else {
        "sent again under their original idempotency keys; a running `junction run` delivers and confirms them"
    };
    writeln!(
        out,
        "{} of changes between {window} {verb}",
        count(replayed.len() as i64, "write")
    )?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ReplayArgs,
    }

    fn parse(args: &[&str]) -> ReplayArgs {
        Cli::try_parse_from(std::iter::once("replay").chain(args.iter().copied()))
            .unwrap()
            .args
    }

    const NOW: i64 = 1_764_590_400_000; // 2025-12-01T12:00:00Z

    #[test]
    fn times_are_rfc3339_or_a_duration_ago_and_classes_are_named() {
        let f = filter(
            &parse(&[
                "--since",
                "6h",
                "--until",
                "2025-12-01T11:00:00Z",
                "--priority",
                "financial,subscription",
                "--by",
                "ops",
                "--reason",
                "restore",
            ]),
            NOW,
        )
        .unwrap();
        assert_eq!(f.since_ms, NOW - 6 * 3_600_000);
        assert_eq!(f.until_ms, Some(NOW - 3_600_000));
        assert_eq!(f.priorities, [0, 1]);
        assert_eq!(f.note, "replayed by ops: restore");
    }

    #[test]
    fn pausing_names_the_pipeline_and_the_reconciliation_that_resumes_it() {
        let parse_err = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("replay").chain(args.iter().copied()))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(parse_err(&["--since", "1h", "--pause", "emails"]).contains("--until-clean"));
        assert!(
            parse_err(&[
                "--since",
                "1h",
                "--pause",
                "emails",
                "--until-clean",
                "subs"
            ])
            .contains("--pipeline")
        );
        let args = parse(&[
            "--since",
            "1h",
            "--pipeline",
            "p",
            "--pause",
            "emails,crm",
            "--until-clean",
            "subs",
        ]);
        assert_eq!(args.pause, ["emails", "crm"]);
    }

    #[test]
    fn bad_input_is_named() {
        let err = |args: &[&str]| format!("{:#}", filter(&parse(args), NOW).unwrap_err());
        assert!(err(&["--since", "yesterday"]).contains("--since: `yesterday` is neither"));
        assert!(err(&["--since", "1h", "--until", "2h"]).contains("later than --since"));
        assert!(
            err(&["--since", "1h", "--priority", "urgent"]).contains("`urgent` is not a class")
        );
    }
}
