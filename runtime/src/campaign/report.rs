//! A campaign's result: the numbers, the verdict, a table for people and JSON for machines;
//! and the counts a progress display shows while it runs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use comfy_table::{Cell, CellAlignment, Table, presets};
use serde::Serialize;

use super::Observer;
use super::check::Outcomes;
use super::drive::ChangeKind;
use crate::pipeline::reconcile;
use crate::store::Store;
use junction_sims::faults::{FaultState, Injected};
use junction_sims::netsuite::NetSuiteSim;
use junction_sims::stripe::SimState;

/// What was thrown at Junction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultsInjected {
    /// By NetSuite's simulator.
    pub netsuite: Injected,
    /// By Stripe's simulator.
    pub stripe: Injected,
    /// NetSuite outage windows opened.
    pub outage_windows: u64,
    /// Junction processes killed with SIGKILL.
    pub sigkills: u64,
    /// Process starts that got as far as listening.
    pub starts: usize,
    /// NetSuite customers edited by hand after the drain (drift for reconciliation).
    pub hand_edits: u64,
}

/// One reconciliation job's run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reconciled {
    /// The job.
    pub job: String,
    /// Entities listed on the owner's side.
    pub compared: i64,
    /// Entities found out of sync.
    pub out_of_sync: i64,
    /// Repairs stored (and delivered through the route before the second comparison).
    pub repairs: u64,
    /// Repairs not stored because a write to the entity was still under way.
    pub not_repaired: u64,
}

impl Reconciled {
    /// The counts of a run.
    pub fn of(report: &reconcile::Report) -> Reconciled {
        Reconciled {
            job: report.job.clone(),
            compared: report.counts.owner_listed,
            out_of_sync: report.out_of_sync(),
            repairs: report.repairs.queued,
            not_repaired: report.repairs.in_flight,
        }
    }
}

/// A campaign's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Replays the same changes, faults and kills.
    pub seed: u64,
    /// The pipeline run.
    pub pipeline: String,
    /// The store (any password as `***`).
    pub store: String,
    /// `junction run` processes (0: inside the campaign's process).
    pub workers: usize,
    /// Changes made at Stripe, by kind.
    pub changes: BTreeMap<ChangeKind, u64>,
    /// The events Stripe emitted for them (what Junction takes in).
    pub events: u64,
    /// Webhook deliveries Stripe attempted (retries and duplicates included).
    pub webhook_attempts: u64,
    /// Faults, kills and hand edits.
    pub faults: FaultsInjected,
    /// Each change's outcome.
    pub outcomes: Outcomes,
    /// Business actions NetSuite applied twice (each named).
    pub duplicate_business_actions: Vec<String>,
    /// Events Stripe saw acknowledged that the store does not hold.
    pub lost: Vec<String>,
    /// Events Stripe never got a 2xx for.
    pub unacknowledged: u64,
    /// Writes NetSuite applied.
    pub netsuite_writes: u64,
    /// Entities that differ between Stripe and NetSuite after the drain and the hand edits.
    pub discrepancies_before: Vec<String>,
    /// The reconciliation runs, with repair.
    pub reconciliation: Vec<Reconciled>,
    /// Entities that still differ after reconciliation and its repairs.
    pub discrepancies_after: Vec<String>,
    /// Whether `junction audit verify` finds every chain whole.
    pub audit_intact: bool,
    /// How long it all took.
    pub elapsed_ms: u64,
    /// Entities whose stories are worth telling.
    #[serde(skip)]
    pub examples: Examples,
}

/// Entities whose stories are worth telling (`junction demo` traces them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Examples {
    /// A customer edited by hand in NetSuite (reconciliation repaired it).
    pub edited_customer: Option<String>,
    /// The first subscriptions made.
    pub subscriptions: Vec<String>,
}

impl Report {
    /// The promise: nothing lost, nothing applied twice, nothing unacknowledged, dead-lettered,
    /// held or unsettled, both systems equal after reconciliation, the audit trail whole.
    pub fn clean(&self) -> bool {
        self.problems().is_empty()
    }

    /// What breaks the promise, one line each.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let o = &self.outcomes;
        for (n, what) in [
            (self.lost.len() as u64, "changes lost"),
            (
                self.duplicate_business_actions.len() as u64,
                "business actions applied twice",
            ),
            (self.unacknowledged, "webhooks never acknowledged"),
            (o.dead_lettered, "changes dead-lettered"),
            (o.held, "changes held"),
            (o.unsettled, "changes unsettled"),
            (
                self.discrepancies_after.len() as u64,
                "entities differing after reconciliation",
            ),
        ] {
            if n > 0 {
                p.push(format!("{n} {what}"));
            }
        }
        if o.total() != self.events {
            p.push(format!(
                "{} changes in the store for {} events Stripe sent",
                o.total(),
                self.events
            ));
        }
        if !self.audit_intact {
            p.push("the audit trail does not verify".into());
        }
        p
    }

    /// The table for people.
    pub fn table(&self) -> String {
        let mut t = Table::new();
        t.load_preset(presets::ASCII_MARKDOWN);
        t.set_header(vec!["", "count"]);
        fn row(t: &mut Table, label: impl AsRef<str>, count: u64) {
            t.add_row(vec![
                Cell::new(label.as_ref()),
                Cell::new(count).set_alignment(CellAlignment::Right),
            ]);
        }
        fn section(t: &mut Table, title: &str) {
            t.add_row(vec![Cell::new(format!("**{title}**")), Cell::new("")]);
        }
        section(&mut t, "changes made at Stripe");
        for kind in ChangeKind::ALL {
            let made = self.changes.get(&kind).copied().unwrap_or(0);
            row(&mut t, format!("  {}", kind.label()), made);
        }
        row(&mut t, "  events Stripe sent for them", self.events);
        row(
            &mut t,
            "  webhook deliveries (retries, duplicates)",
            self.webhook_attempts,
        );
        section(&mut t, "faults injected");
        let injected = self.faults.netsuite.plus(self.faults.stripe);
        for (kind, count) in injected.by_kind() {
            let (ns, st) = (
                by_kind(&self.faults.netsuite, kind),
                by_kind(&self.faults.stripe, kind),
            );
            row(
                &mut t,
                format!("  {kind} (NetSuite {ns}, Stripe {st})"),
                count,
            );
        }
        row(
            &mut t,
            "  NetSuite outage windows (1 s each)",
            self.faults.outage_windows,
        );
        row(
            &mut t,
            "  SIGKILL of a Junction process",
            self.faults.sigkills,
        );
        row(
            &mut t,
            "  NetSuite customers edited by hand",
            self.faults.hand_edits,
        );
        section(&mut t, "outcomes");
        let o = &self.outcomes;
        row(&mut t, "  confirmed by read-back", o.confirmed);
        for (reason, count) in &o.suppressed {
            row(&mut t, format!("  suppressed: {reason}"), *count);
        }
        if o.not_routed > 0 {
            row(&mut t, "  no route carries it", o.not_routed);
        }
        row(&mut t, "  held", o.held);
        row(&mut t, "  dead-lettered", o.dead_lettered);
        row(&mut t, "  unsettled", o.unsettled);
        section(&mut t, "the promise");
        row(&mut t, "  lost changes", self.lost.len() as u64);
        row(&mut t, "  webhooks never acknowledged", self.unacknowledged);
        row(
            &mut t,
            "  duplicate business actions",
            self.duplicate_business_actions.len() as u64,
        );
        row(
            &mut t,
            "  discrepancies before reconciliation",
            self.discrepancies_before.len() as u64,
        );
        for r in &self.reconciliation {
            row(
                &mut t,
                format!(
                    "  reconciliation `{}`: {} compared, repairs",
                    r.job, r.compared
                ),
                r.repairs,
            );
        }
        row(
            &mut t,
            "  discrepancies after reconciliation",
            self.discrepancies_after.len() as u64,
        );
        t.add_row(vec![
            Cell::new("  audit trail"),
            Cell::new(if self.audit_intact {
                "intact"
            } else {
                "BROKEN"
            })
            .set_alignment(CellAlignment::Right),
        ]);
        let mut out = t.to_string();
        out.push('\n');
        let problems = self.problems();
        let shown = |title: &str, items: &[String], out: &mut String| {
            if !items.is_empty() {
                out.push_str(&format!("\n{title}:\n"));
                for item in items.iter().take(10) {
                    out.push_str(&format!("  {item}\n"));
                }
                if items.len() > 10 {
                    out.push_str(&format!("  ... and {} more\n", items.len() - 10));
                }
            }
        };
        shown("lost", &self.lost, &mut out);
        shown("applied twice", &self.duplicate_business_actions, &mut out);
        shown(
            "still differing after reconciliation",
            &self.discrepancies_after,
            &mut out,
        );
        if problems.is_empty() {
            out.push_str(&format!(
                "\n{} changes, {} faults and {} kills: 0 lost, 0 applied twice, 0 unreconciled \
                 ({:.1} s, seed {})\n",
                self.changes.values().sum::<u64>(),
                injected.by_kind().iter().map(|(_, n)| n).sum::<u64>() + self.faults.outage_windows,
                self.faults.sigkills,
                self.elapsed_ms as f64 / 1000.0,
                self.seed
            ));
        } else {
            out.push_str(&format!(
                "\nthe promise is broken: {} (seed {} replays this campaign)\n",
                problems.join(", "),
                self.seed
            ));
        }
        out
    }
}

fn by_kind(injected: &Injected, kind: &str) -> u64 {
    injected
        .by_kind()
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(0, |(_, n)| *n)
}

/// The counts a progress display shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Changes made at Stripe so far.
    pub driven: u64,
    /// Changes the campaign makes in all.
    pub total: u64,
    /// Deliveries confirmed.
    pub confirmed: i64,
    /// Deliveries still on their way (unplanned changes included).
    pub busy: i64,
    /// Deliveries dead-lettered.
    pub dead: i64,
    /// Faults injected so far.
    pub faults: u64,
    /// SIGKILLs so far.
    pub kills: u64,
}

/// Tells the observer the counts every 250 ms.
pub struct Ticker<'a> {
    store: Store,
    stripe: Arc<SimState>,
    netsuite: &'a NetSuiteSim,
    driven: Arc<AtomicU64>,
    total: u64,
    kills: Arc<AtomicU64>,
    observer: &'a dyn Observer,
}

/// A ticker over the campaign's counters.
pub fn ticker<'a>(
    store: Store,
    stripe: Arc<SimState>,
    netsuite: &'a NetSuiteSim,
    driven: Arc<AtomicU64>,
    total: u64,
    kills: Arc<AtomicU64>,
    observer: &'a dyn Observer,
) -> Ticker<'a> {
    Ticker {
        store,
        stripe,
        netsuite,
        driven,
        total,
        kills,
        observer,
    }
}

impl Ticker<'_> {
    /// Ticks until dropped.
    pub async fn run(&self) {
        let count = |f: &FaultState| {
            let i = f.injected();
            i.by_kind().iter().map(|(_, n)| n).sum::<u64>()
        };
        loop {
            if let Ok(st) = self.store.stats(self.store.clock().now_ms()).await {
                self.observer.progress(&Snapshot {
                    driven: self.driven.load(Ordering::Relaxed),
                    total: self.total,
                    confirmed: st.confirmed,
                    busy: st.unplanned
                        + st.pending
                        + st.in_flight
                        + st.awaiting_job
                        + st.confirming,
                    dead: st.dead,
                    faults: count(self.netsuite.faults()) + count(self.stripe.faults()),
                    kills: self.kills.load(Ordering::Relaxed),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
