//! Held writes re-checked: a write held by a gate is released once every gate before it passes
//! on the newest change stored for its entity (so a later change that satisfies the gate, say
//! `kyc_status` now `verified`, releases the earlier write, which then goes first in its lane).
//!
//! The engine re-checks on two occasions: right after planning a change of an entity that has
//! held writes, and in a slow sweep over every held write, run by the one worker that holds the
//! `gates` leadership. `junction holds release` asks the same question before releasing by hand.

use std::sync::Arc;

use crate::config::{Gate, GateTarget, Plan};
use crate::store::{self, Decision, Delivery, DeliveryState, StoredChange, WaitingFilter};

use super::{Engine, expr};

/// What re-checking a held write's gates says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every gate before the write passes on `change`.
    Passes {
        /// The gates that were checked, by name.
        gates: Vec<String>,
    },
    /// A gate still fails (or cannot be evaluated): why, for the operator.
    Fails {
        /// The gate.
        gate: String,
        /// Its condition's source, e.g. `change.after.kyc_status == 'verified'`.
        require: String,
        /// What happened.
        reason: String,
    },
    /// The write is held for another reason than a gate (an expression that could not be
    /// evaluated when it was planned, or a gate no longer in the pipeline): there is nothing
    /// to re-check, only an operator can release it.
    NoGate {
        /// Why it is held.
        reason: String,
    },
}

/// The gates of `plan` that guard a write of `object` on `route`, in name order.
pub fn gates_for<'a>(plan: &'a Plan, route: &str, object: &str) -> Vec<&'a Gate> {
    plan.gates
        .values()
        .filter(|gate| {
            gate.before.iter().any(|t| match t {
                GateTarget::Object(o) => o == object,
                GateTarget::Route(r) => r == route,
            })
        })
        .collect()
}

/// The gate a held write waits for, from the reason the planner recorded
/// (`gate NAME: ...`), if it is held by a gate at all.
pub fn held_by(d: &Delivery) -> Option<&str> {
    let reason = d.state_reason.as_deref()?;
    let rest = reason.strip_prefix("gate ")?;
    rest.split_once(':').map(|(name, _)| name)
}

/// Re-evaluates every gate guarding the held write `d` with `newest` (the newest change of its
/// entity) as `change`.
pub fn recheck(plan: &Plan, d: &Delivery, newest: &StoredChange) -> Verdict {
    let reason = || d.state_reason.clone().unwrap_or_default();
    let Some(name) = held_by(d) else {
        return Verdict::NoGate { reason: reason() };
    };
    let gates = gates_for(plan, &d.route, &d.object);
    if !gates.iter().any(|g| g.name == name) {
        return Verdict::NoGate {
            reason: format!(
                "{}; gate `{name}` no longer guards this route in pipeline `{}`",
                reason(),
                plan.name
            ),
        };
    }
    let ctx = expr::change_value(newest);
    for gate in &gates {
        let failed = match expr::holds(&gate.require, &ctx) {
            Ok(true) => continue,
            Ok(false) => format!(
                "`{}` is false on the newest change (event {}, version {})",
                gate.require.source, newest.source_event_id, newest.source_version
            ),
            Err(e) => e,
        };
        return Verdict::Fails {
            gate: gate.name.clone(),
            require: gate.require.source.clone(),
            reason: failed,
        };
    }
    Verdict::Passes {
        gates: gates.iter().map(|g| g.name.clone()).collect(),
    }
}

/// How many held writes a sweep reads at a time.
const SWEEP: u32 = 512;

impl Engine {
    /// Re-checks every held write, oldest first, a page at a time, and releases those whose
    /// gates now pass; returns how many were released. The `gates` leader runs this.
    pub async fn release_passing_holds(&self) -> Result<usize, store::Error> {
        let mut filter = WaitingFilter {
            limit: Some(SWEEP),
            ..WaitingFilter::default()
        };
        let mut released = 0;
        loop {
            let held = self.store.waiting(DeliveryState::Held, &filter).await?;
            let Some(last) = held.last().map(|d| d.id) else {
                return Ok(released);
            };
            for d in &held {
                released += usize::from(self.recheck_hold(d).await?);
            }
            if held.len() < SWEEP as usize {
                return Ok(released);
            }
            filter.after_id = Some(last);
        }
    }

    /// Re-checks the held writes of one entity, in source order, after a change of it was
    /// planned; returns how many were released.
    pub(super) async fn recheck_entity(
        &self,
        change: &StoredChange,
    ) -> Result<usize, store::Error> {
        let held = self
            .store
            .held_of_entity(&change.pipeline, &change.object, &change.key)
            .await?;
        let mut released = 0;
        for d in held {
            released += usize::from(self.recheck_hold(&d).await?);
        }
        Ok(released)
    }

    async fn recheck_hold(&self, d: &Delivery) -> Result<bool, store::Error> {
        let Some(plan) = self.plan(&d.pipeline) else {
            return Ok(false);
        };
        let Some(newest) = self
            .store
            .newest_change(&d.pipeline, &d.object, &d.key)
            .await?
        else {
            return Ok(false);
        };
        let Verdict::Passes { gates } = recheck(plan, d, &newest) else {
            return Ok(false);
        };
        let decision = Decision {
            by: format!("gate {}", gates.join(", gate ")),
            reason: format!(
                "the gate passes on change {} (event {}, version {})",
                newest.id, newest.source_event_id, newest.source_version
            ),
            overridden: false,
        };
        let released = self.store.release_hold(d.id, &decision).await?.is_some();
        if released {
            tracing::info!(pipeline = %d.pipeline, route = %d.route, delivery = d.id, "released: the gate passes");
        }
        Ok(released)
    }

    /// The `gates` leader's sweep: every few seconds, release the held writes whose gates now
    /// pass (a change planned by another worker, a pipeline reloaded with a changed gate).
    pub(super) async fn gates_loop(
        self: Arc<Self>,
        stop: Arc<tokio::sync::Notify>,
        leader: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            if *leader.borrow() {
                match self.release_passing_holds().await {
                    Ok(n) if n > 0 => self.wake_delivery.notify_one(),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "re-checking held writes failed"),
                }
            }
            tokio::select! {
                () = stop.notified() => return,
                () = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            }
        }
    }
}
