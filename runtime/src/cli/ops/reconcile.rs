//! `junction reconcile NAME`: compare both sides of a `[reconcile.NAME]` job now, report drift,
//! and with `--repair` send the owner's values through the route; `--last` shows the last run.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use serde_json::Value;

use super::format::{Table, utc};
use super::{Access, Printable, open, write_json};
use crate::host::{Host, cache};
use crate::pipeline::reconcile::{DriftKind, Progress, Report, RunOptions, Side};
use crate::pipeline::{Engine, Options};
use crate::store::{ReconcileRun, RunTrigger};

/// `junction reconcile`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 when both sides agree, 1 when drift was found (or on \
                        error). Values are shown masked by the pipeline's [masking]. Extra \
                        entities at the target are reported, never deleted."
)]
pub struct ReconcileArgs {
    /// The job: NAME in `[reconcile.NAME]`.
    name: String,
    /// Pipeline files (TOML) declaring the job and its connectors (`--file`, as for
    /// `junction holds`, works too).
    #[arg(
        long = "pipeline",
        visible_alias = "file",
        value_name = "FILE",
        required = true
    )]
    pipelines: Vec<PathBuf>,
    /// The durable store `junction run` uses (the run is recorded there; repairs are stored
    /// there for `junction run` to deliver).
    #[arg(long, default_value = "sqlite://junction.db", env = "JUNCTION_STORE")]
    store: String,
    /// Repair drift: store the owner's current document as a change through the route, so the
    /// owner's values win (idempotency keys, ordering and confirmation apply).
    #[arg(long, conflicts_with = "last")]
    repair: bool,
    /// Show the last recorded run of the job instead of running it.
    #[arg(long)]
    last: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Differences listed (all are counted).
    #[arg(long, default_value_t = 50)]
    show: usize,
    /// Entities asked for per `list` call (each connector clamps it to what its vendor
    /// allows: Stripe 100, NetSuite 1,000).
    #[arg(long, default_value_t = 100)]
    page: u32,
    /// Directory for the comparison's temporary file (default: the system's temp directory).
    #[arg(long)]
    spill_dir: Option<PathBuf>,
    /// Compiled-component cache directory.
    #[arg(long, env = "JUNCTION_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

/// Runs (or shows) one reconcile job.
pub async fn reconcile(args: ReconcileArgs) -> anyhow::Result<ExitCode> {
    let host = Host::new(args.cache_dir.clone().or_else(cache::default_dir))?;
    let loaded = match super::super::pipeline::load(&host, &args.pipelines) {
        Ok(loaded) => loaded,
        Err(diagnostics) => {
            eprint!("{diagnostics}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut stdout = Printable(std::io::stdout());
    if args.last {
        let Some(plan) = loaded
            .plans
            .iter()
            .find(|p| p.reconcile.contains_key(&args.name))
        else {
            let known: Vec<String> = loaded
                .plans
                .iter()
                .flat_map(|p| p.reconcile.keys().cloned())
                .collect();
            bail!(
                "{}",
                crate::pipeline::reconcile::Error::UnknownJob {
                    name: args.name.clone(),
                    known
                }
            );
        };
        let store = open(&args.store, Access::Read).await?;
        let runs = store.reconcile_runs(&plan.name, &args.name, 1).await;
        store.close().await;
        let Some(run) = runs?.into_iter().next() else {
            bail!("job `{}` has not run yet", args.name);
        };
        if args.json {
            let mut value = serde_json::to_value(&run)?;
            if let Some(summary) = run.summary.as_deref() {
                value["summary"] = serde_json::from_str(summary).unwrap_or(Value::Null);
            }
            write_json(&mut stdout, &value)?;
        } else {
            stdout.write_all(render_run(&run).as_bytes())?;
        }
        return Ok(exit(run.missing + run.extra + run.differing));
    }

    let store = open(&args.store, Access::Repair).await?;
    let engine = Engine::new(loaded.plans, store, &host, Options::default()).await?;
    let bar = Bar::new(!args.json && std::io::stdout().is_terminal());
    let options = RunOptions {
        repair: args.repair,
        trigger: RunTrigger::Manual,
        show: args.show,
        spill_dir: args.spill_dir.clone(),
        page: args.page.max(1),
    };
    let result = engine.reconcile(&args.name, &options, &bar).await;
    bar.finish();
    engine.store.close().await;
    let report = result?;
    if args.json {
        write_json(&mut stdout, &report)?;
    } else {
        stdout.write_all(render(&report).as_bytes())?;
    }
    Ok(exit(report.out_of_sync()))
}

fn exit(out_of_sync: i64) -> ExitCode {
    if out_of_sync == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The report for people.
pub(super) fn render(r: &Report) -> String {
    let mut text = format!(
        "reconcile {} ({}): {} at {} (owner) vs {}, fields {}; run {} at {}, {:.1} s\n",
        r.job,
        r.pipeline,
        r.object,
        r.owner,
        r.target,
        r.fields.join(", "),
        r.run_id,
        utc(r.started_at_ms),
        (r.finished_at_ms - r.started_at_ms) as f64 / 1000.0
    );
    let c = &r.counts;
    text.push_str(&format!(
        "listed {} at {}, {} at {}: {} in sync, {} missing at {}, {} extra at {}, {} differing\n",
        c.owner_listed,
        r.owner,
        c.target_listed,
        r.target,
        c.in_sync,
        c.missing,
        r.target,
        c.extra,
        r.target,
        c.differing
    ));
    if r.not_routed > 0 {
        text.push_str(&format!(
            "{} at {} not carried by the route (its `when` is false): not expected at {}\n",
            r.not_routed, r.owner, r.target
        ));
    }
    if let Some(why) = &r.repair_unavailable {
        text.push_str(&format!("no repairs: {why}\n"));
    }
    if r.repair {
        text.push_str(&format!(
            "repairs: {} queued through {} (`junction run` delivers and confirms them), {} already \
             queued, {} skipped while a write to the entity is under way\n",
            r.repairs.queued,
            r.route.as_deref().unwrap_or("the route"),
            r.repairs.duplicate,
            r.repairs.in_flight
        ));
    }
    if r.drift.is_empty() {
        if r.out_of_sync() == 0 {
            text.push_str("in sync\n");
        }
        return text;
    }
    let mut table = Table::default();
    let mut header = vec![
        "KEY".to_owned(),
        "DRIFT".to_owned(),
        "FIELD".to_owned(),
        r.owner.to_uppercase(),
        r.target.to_uppercase(),
    ];
    if r.repair {
        header.insert(2, "REPAIR".to_owned());
    }
    table.row(header);
    for d in &r.drift {
        let kind = match d.kind {
            DriftKind::Missing => "missing",
            DriftKind::Extra => "extra",
            DriftKind::Differing => "differing",
        };
        let repair = d
            .repair
            .map(|o| {
                serde_json::to_value(o)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
            })
            .unwrap_or_default()
            .unwrap_or_else(|| "-".to_owned());
        let lines: Vec<(String, String, String)> = if d.fields.is_empty() {
            vec![("-".into(), "-".into(), "-".into())]
        } else {
            d.fields
                .iter()
                .map(|f| (f.field.clone(), short(&f.owner), short(&f.target)))
                .collect()
        };
        for (i, (field, owner, target)) in lines.into_iter().enumerate() {
            let (key, kind) = if i == 0 {
                (d.key.clone(), kind.to_owned())
            } else {
                (String::new(), String::new())
            };
            let mut row = vec![key, kind, field, owner, target];
            if r.repair {
                row.insert(
                    2,
                    if i == 0 {
                        repair.clone()
                    } else {
                        String::new()
                    },
                );
            }
            table.row(row);
        }
    }
    text.push_str(&table.render());
    if r.truncated {
        text.push_str(&format!(
            "({} more not shown; --show N lists more)\n",
            r.out_of_sync() - r.drift.len() as i64
        ));
    }
    text
}

/// A value on one line, cut to a readable width.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(59).collect::<String>())
    } else {
        s
    }
}

/// A stored run for people.
fn render_run(run: &ReconcileRun) -> String {
    let mut text = format!(
        "reconcile {} ({}): run {} ({}{}), started {}, {}\n",
        run.job,
        run.pipeline,
        run.id,
        run.trigger,
        if run.repair { ", repairing" } else { "" },
        utc(run.started_at_ms),
        match run.finished_at_ms {
            Some(t) => format!("finished {}", utc(t)),
            None => "not finished (running, or the process stopped)".to_owned(),
        }
    );
    text.push_str(&format!(
        "status {}: listed {} / {}, {} in sync, {} missing, {} extra, {} differing, {} repaired\n",
        run.status,
        run.owner_listed,
        run.target_listed,
        run.in_sync,
        run.missing,
        run.extra,
        run.differing,
        run.repaired
    ));
    if let Some(e) = &run.error {
        text.push_str(&format!("error: {e}\n"));
    }
    if let Some(drift) = run
        .summary
        .as_deref()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|v| v.get("drift").cloned())
        .and_then(|d| d.as_array().cloned())
    {
        let mut table = Table::default();
        table.row(vec!["KEY".into(), "DRIFT".into(), "FIELDS".into()]);
        for d in drift {
            let fields: Vec<String> = d["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["field"].as_str().map(str::to_owned))
                .collect();
            table.row(vec![
                d["key"].as_str().unwrap_or_default().to_owned(),
                d["kind"].as_str().unwrap_or_default().to_owned(),
                fields.join(", "),
            ]);
        }
        text.push_str(&table.render());
    }
    text
}

/// The progress bar: shown on a terminal only, on stderr.
struct Bar {
    bar: indicatif::ProgressBar,
    counts: Mutex<(u64, u64)>,
}

impl Bar {
    fn new(visible: bool) -> Bar {
        let bar = if visible {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        Bar {
            bar,
            counts: Mutex::new((0, 0)),
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn listed(&self, side: Side, connector: &str, total: u64) {
        let Ok(mut counts) = self.counts.lock() else {
            return;
        };
        match side {
            Side::Owner => counts.0 = total,
            Side::Target => counts.1 = total,
        }
        let (owner, target) = *counts;
        drop(counts);
        self.bar.set_message(format!(
            "listing: {owner} at the owner, {target} at the target (last page from {connector})"
        ));
    }

    fn comparing(&self) {
        self.bar.set_message("comparing in key order");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::pipeline::reconcile::{Drift, FieldDiff, RepairCounts};
    use crate::store::{RepairOutcome, RunCounts};

    fn report() -> Report {
        Report {
            run_id: 4,
            pipeline: "stripe-to-netsuite".into(),
            job: "customers".into(),
            object: "customer".into(),
            owner: "stripe".into(),
            target: "netsuite".into(),
            route: Some("customer-to-netsuite".into()),
            fields: vec!["name".into(), "email".into()],
            repair: true,
            started_at_ms: 1_740_819_600_000,
            finished_at_ms: 1_740_819_601_500,
            counts: RunCounts {
                owner_listed: 3,
                target_listed: 3,
                in_sync: 1,
                missing: 1,
                extra: 1,
                differing: 1,
                repaired: 2,
            },
            not_routed: 0,
            repairs: RepairCounts {
                queued: 2,
                duplicate: 0,
                in_flight: 0,
            },
            drift: vec![
                Drift {
                    key: "cus_b".into(),
                    kind: DriftKind::Differing,
                    fields: vec![
                        FieldDiff {
                            field: "name".into(),
                            owner: json!("Bravo"),
                            target: json!("Bravo (edited)"),
                        },
                        FieldDiff {
                            field: "email".into(),
                            owner: json!("sha256:1111"),
                            target: json!("sha256:2222"),
                        },
                    ],
                    repair: Some(RepairOutcome::Queued),
                },
                Drift {
                    key: "cus_c".into(),
                    kind: DriftKind::Missing,
                    fields: vec![],
                    repair: Some(RepairOutcome::Queued),
                },
                Drift {
                    key: "cus_x".into(),
                    kind: DriftKind::Extra,
                    fields: vec![],
                    repair: None,
                },
            ],
            truncated: false,
            timings: Default::default(),
            repair_unavailable: None,
        }
    }

    #[test]
    fn the_report_for_people_is_a_table_of_differences() {
        let shown = render(&report());
        let expected = "\
reconcile customers (stripe-to-netsuite): customer at stripe (owner) vs netsuite, fields name, email; run 4 at 2025-03-01T09:00:00.000Z, 1.5 s
listed 3 at stripe, 3 at netsuite: 1 in sync, 1 missing at netsuite, 1 extra at netsuite, 1 differing
repairs: 2 queued through customer-to-netsuite (`junction run` delivers and confirms them), 0 already queued, 0 skipped while a write to the entity is under way
KEY    DRIFT      REPAIR  FIELD  STRIPE         NETSUITE
cus_b  differing  queued  name   \"Bravo\"        \"Bravo (edited)\"
                          email  \"sha256:1111\"  \"sha256:2222\"
cus_c  missing    queued  -      -              -
cus_x  extra      -       -      -              -
";
        assert_eq!(shown, expected, "\n{shown}");
    }

    #[test]
    fn an_unknown_job_names_the_known_ones() {
        let e = crate::pipeline::reconcile::Error::UnknownJob {
            name: "custmers".into(),
            known: vec!["customers".into(), "subscriptions".into()],
        };
        assert_eq!(
            e.to_string(),
            "no reconcile job `custmers`; known: `customers`, `subscriptions`"
        );
    }
}
