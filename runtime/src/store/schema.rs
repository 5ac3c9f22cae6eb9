//! The records that go into the store and come out of it: changes, deliveries, leases, attempts.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::Error;

/// What a change did to its entity, and so what its writes do. Stored as its name; a name
/// this version does not know is [`Error::Corrupt`], never silently an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// The entity was created.
    Create,
    /// The entity was changed.
    Update,
    /// The entity was deleted.
    Delete,
    /// The entity's whole current state, not a change (a poll or a reconciliation).
    Snapshot,
}

impl Operation {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::Snapshot => "snapshot",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Operation {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "create" => Operation::Create,
            "update" => Operation::Update,
            "delete" => Operation::Delete,
            "snapshot" => Operation::Snapshot,
            other => {
                return Err(Error::Corrupt {
                    what: "operation",
                    detail: other.to_owned(),
                });
            }
        })
    }
}

impl TryFrom<String> for Operation {
    type Error = Error;

    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

/// One change as a source reported it, ready for intake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChange {
    /// The pipeline that received it.
    pub pipeline: String,
    /// The source connector's name.
    pub source: String,
    /// The provider's event id: the dedupe key, with pipeline, source, object and key.
    pub source_event_id: String,
    /// The canonical object, e.g. `subscription`.
    pub object: String,
    /// The entity's key in the source system.
    pub key: String,
    /// What happened.
    pub operation: Operation,
    /// The canonical document before the change (JSON text), if the source told.
    pub before: Option<String>,
    /// The canonical document after the change (JSON text); absent for a delete.
    pub after: Option<String>,
    /// When it happened in the source.
    pub occurred_at_ms: i64,
    /// When it takes effect, if not at once (e.g. a downgrade at period end).
    pub effective_at_ms: Option<i64>,
    /// The source's version of the entity: orders writes per entity and detects stale ones.
    pub source_version: i64,
    /// Connector metadata (JSON text).
    pub metadata: String,
    /// The correlation id that follows this change through logs, audit and outbound calls.
    pub correlation_id: String,
}

impl NewChange {
    /// An audit entry about this change (its change id is filled in once it is stored).
    pub fn audit(&self, kind: super::AuditKind, detail: serde_json::Value) -> super::NewAudit {
        super::NewAudit {
            pipeline: self.pipeline.clone(),
            correlation_id: self.correlation_id.clone(),
            object: self.object.clone(),
            key: self.key.clone(),
            event_id: Some(self.source_event_id.clone()),
            change_id: None,
            delivery_id: None,
            idempotency_key: None,
            kind,
            detail,
        }
    }
}

impl StoredChange {
    /// An audit entry about this change; `idempotency_key` names the write it concerns, if
    /// any (the store links it to that delivery when the plan is committed).
    pub fn audit(
        &self,
        kind: super::AuditKind,
        idempotency_key: Option<String>,
        detail: serde_json::Value,
    ) -> super::NewAudit {
        super::NewAudit {
            pipeline: self.pipeline.clone(),
            correlation_id: self.correlation_id.clone(),
            object: self.object.clone(),
            key: self.key.clone(),
            event_id: Some(self.source_event_id.clone()),
            change_id: Some(self.id),
            delivery_id: None,
            idempotency_key,
            kind,
            detail,
        }
    }
}

/// What intake did with one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// First arrival: stored as a new change.
    Accepted {
        /// The new change's id.
        change_id: i64,
    },
    /// Seen before: nothing stored; `change_id` is the first arrival's.
    Duplicate {
        /// The change first stored for this event.
        change_id: i64,
    },
}

impl Intake {
    /// The id of the stored change (new or first arrival).
    pub fn change_id(self) -> i64 {
        match self {
            Intake::Accepted { change_id } | Intake::Duplicate { change_id } => change_id,
        }
    }

    /// Whether this change had been received before.
    pub fn is_duplicate(self) -> bool {
        matches!(self, Intake::Duplicate { .. })
    }
}

/// A change as stored in the inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StoredChange {
    /// Its id.
    pub id: i64,
    /// See [`NewChange::pipeline`].
    pub pipeline: String,
    /// See [`NewChange::source`].
    pub source: String,
    /// See [`NewChange::source_event_id`].
    pub source_event_id: String,
    /// See [`NewChange::object`].
    pub object: String,
    /// See [`NewChange::key`].
    #[sqlx(rename = "entity_key")]
    pub key: String,
    /// See [`NewChange::operation`].
    #[sqlx(try_from = "String")]
    pub operation: Operation,
    /// See [`NewChange::before`].
    #[sqlx(rename = "before_doc")]
    pub before: Option<String>,
    /// See [`NewChange::after`].
    #[sqlx(rename = "after_doc")]
    pub after: Option<String>,
    /// See [`NewChange::occurred_at_ms`].
    pub occurred_at_ms: i64,
    /// See [`NewChange::effective_at_ms`].
    pub effective_at_ms: Option<i64>,
    /// See [`NewChange::source_version`].
    pub source_version: i64,
    /// See [`NewChange::metadata`].
    pub metadata: String,
    /// See [`NewChange::correlation_id`].
    pub correlation_id: String,
    /// When the store committed it.
    pub received_at_ms: i64,
}

/// How a planned delivery starts out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitialState {
    /// Ready to deliver (at `not_before_ms` if set).
    Pending,
    /// Held by a gate until resumed; the reason says what it waits for.
    Held {
        /// Why, and what would release it.
        reason: String,
    },
    /// Waiting for an operator's review (a red flag: `junction review`); blocks its lane.
    Review {
        /// The red flag, and what the operator is asked to decide.
        reason: String,
    },
    /// Recorded but never delivered (not the owner, filtered by `when`, ...).
    Suppressed {
        /// Why.
        reason: String,
    },
    /// On a shadow route: when its turn in the lane comes, the target is read and compared
    /// with the intended write ([`Store::shadow_compared`](super::Store::shadow_compared));
    /// nothing is written.
    Shadow,
}

/// How a write is confirmed by read-back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfirmSpec {
    /// The fields a read-back must show with the intended values.
    pub fields: Vec<String>,
    /// How long after the write (or after the target accepted it) confirmation may take.
    pub within_ms: i64,
}

/// A write planned for one route of one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// The pipeline.
    pub pipeline: String,
    /// The route that planned it.
    pub route: String,
    /// The target connector.
    pub target: String,
    /// The canonical object.
    pub object: String,
    /// The entity's canonical key; with target and object it names the delivery's lane.
    pub key: String,
    /// The operation to apply.
    pub operation: Operation,
    /// The mapped document to write (JSON text).
    pub document: String,
    /// The effective date passed to the target, if any.
    pub effective_at_ms: Option<i64>,
    /// When the change happened at the source.
    pub occurred_at_ms: i64,
    /// The source version of the change: the order within the lane.
    pub source_version: i64,
    /// Deterministic key of this write; a second plan with the same key writes nothing.
    pub idempotency_key: String,
    /// Lower goes first.
    pub priority: i32,
    /// A durable timer: not delivered before this time (e.g. future-dated changes).
    pub not_before_ms: Option<i64>,
    /// How it starts out.
    pub state: InitialState,
    /// The change's correlation id.
    pub correlation_id: String,
    /// Read-back confirmation, if the route asks for it.
    pub confirm: Option<ConfirmSpec>,
    /// The attempt budget before the delivery is dead-lettered.
    pub max_attempts: i32,
    /// The source connector and source event the write carries, when they are not the
    /// planned change's own: a repair re-sending the owner's change to a system that changed
    /// a field it does not own.
    pub on_behalf_of: Option<(String, String)>,
}

/// What [`Store::commit_plan`](super::Store::commit_plan) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanResult {
    /// The change had been planned already; nothing was written.
    pub already_planned: bool,
    /// One entry per delivery given, in order.
    pub deliveries: Vec<Planned>,
}

/// One delivery of a committed plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The delivery holding this idempotency key.
    pub delivery_id: i64,
    /// The key.
    pub idempotency_key: String,
    /// False when the key existed: the earlier delivery stands and nothing new was written.
    pub inserted: bool,
}

/// Where a delivery is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting to be delivered (possibly on a timer or a retry back-off).
    Pending,
    /// Held by a gate.
    Held,
    /// Waiting for an operator's review (a red flag); approved, it becomes pending.
    Review,
    /// Claimed by a worker that is writing it.
    InFlight,
    /// The target accepted it asynchronously; its job is polled.
    AwaitingJob,
    /// Written; read-back checks until the fields show or the deadline passes.
    Confirming,
    /// Done: the read-back showed the intended values.
    Confirmed,
    /// Never delivered, with a reason (stale, not the owner, filtered, ...).
    Suppressed,
    /// Dead-lettered.
    Dead,
}

impl DeliveryState {
    /// The name stored in the database and shown to operators.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Held => "held",
            DeliveryState::Review => "review",
            DeliveryState::InFlight => "in_flight",
            DeliveryState::AwaitingJob => "awaiting_job",
            DeliveryState::Confirming => "confirming",
            DeliveryState::Confirmed => "confirmed",
            DeliveryState::Suppressed => "suppressed",
            DeliveryState::Dead => "dead",
        }
    }

    /// Whether the delivery is settled and leaves its lane.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            DeliveryState::Confirmed | DeliveryState::Suppressed | DeliveryState::Dead
        )
    }
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryState {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "pending" => DeliveryState::Pending,
            "held" => DeliveryState::Held,
            "review" => DeliveryState::Review,
            "in_flight" => DeliveryState::InFlight,
            "awaiting_job" => DeliveryState::AwaitingJob,
            "confirming" => DeliveryState::Confirming,
            "confirmed" => DeliveryState::Confirmed,
            "suppressed" => DeliveryState::Suppressed,
            "dead" => DeliveryState::Dead,
            other => {
                return Err(Error::Corrupt {
                    what: "delivery state",
                    detail: other.to_owned(),
                });
            }
        })
    }
}

/// A worker's claim on a delivery. Every transition presents it; once another worker has
/// reclaimed the delivery (after this lease expired), the old lease is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    /// The delivery.
    pub delivery_id: i64,
    /// The worker holding it.
    pub worker: String,
    /// Changes on every claim.
    pub token: i64,
    /// When another worker may reclaim it.
    pub until_ms: i64,
}

/// A planned write, with everything the engine needs to deliver, poll, confirm or settle it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// Its id.
    pub id: i64,
    /// The pipeline.
    pub pipeline: String,
    /// The route that planned it.
    pub route: String,
    /// The change it came from.
    pub change_id: i64,
    /// The source connector of that change.
    pub source: String,
    /// The source event id of that change.
    pub source_event_id: String,
    /// The target connector.
    pub target: String,
    /// The canonical object.
    pub object: String,
    /// The entity's canonical key.
    pub key: String,
    /// The operation to apply.
    pub operation: Operation,
    /// The mapped document (JSON text; unmasked: never log it).
    #[serde(skip)]
    pub document: String,
    /// The effective date passed to the target.
    pub effective_at_ms: Option<i64>,
    /// When the change happened at the source, passed to the target.
    pub occurred_at_ms: i64,
    /// The source version: order in the lane.
    pub source_version: i64,
    /// The idempotency key sent with every attempt.
    pub idempotency_key: String,
    /// Lower goes first.
    pub priority: i32,
    /// The correlation id.
    pub correlation_id: String,
    /// Where it is in its life.
    pub state: DeliveryState,
    /// Why it is held, suppressed or dead.
    pub state_reason: Option<String>,
    /// Its durable timer, if any.
    pub not_before_ms: Option<i64>,
    /// When it is next due (timer, retry back-off or next check).
    pub next_at_ms: i64,
    /// The current claim, if a worker holds it.
    pub lease: Option<Lease>,
    /// Attempts recorded within the current budget (a redrive starts a fresh budget).
    pub attempts: i32,
    /// The attempt budget.
    pub max_attempts: i32,
    /// When the first attempt started.
    pub first_attempt_ms: Option<i64>,
    /// The last error seen (masked by the caller).
    pub last_error: Option<String>,
    /// The target's job id for an accepted asynchronous write.
    pub job_ref: Option<String>,
    /// Whether that job is one step of a write of several: once it succeeds the write is
    /// applied again for the next step.
    pub job_continues: bool,
    /// Steps of a write of several that succeeded (attempts that were not failures).
    pub steps: i32,
    /// The target's id for the written record.
    pub target_ref: Option<String>,
    /// Read-back confirmation, if the route asks for it.
    pub confirm: Option<ConfirmSpec>,
    /// When confirmation (including an accepted job) must have succeeded.
    pub confirm_deadline_ms: Option<i64>,
    /// How many times it was redriven from the dead-letter queue.
    pub redrives: i32,
    /// Corrective writes sent after read-backs that disagreed (each under its own key).
    pub repairs: i32,
    /// On a shadow route: the target is read and compared, never written.
    pub shadow: bool,
    /// Attempts the target refused as an idempotency-key conflict since the delivery was
    /// planned or last approved in review.
    pub key_conflicts: i32,
    /// When it was planned.
    pub created_at_ms: i64,
    /// When it last changed.
    pub updated_at_ms: i64,
}

impl Delivery {
    /// Whether the attempt budget is spent. Steps of a write of several that succeeded do
    /// not count against it.
    pub fn attempts_exhausted(&self) -> bool {
        self.attempts - self.steps >= self.max_attempts
    }

    /// The key the next write goes under: the delivery's idempotency key, or for a corrective
    /// write after a read-back that disagreed, a key derived from it and the repair
    /// generation. A target that saw the original key answers it with the original (already
    /// applied) write, so a correction under that key could never change anything; a derived
    /// key is new to the target yet the same after a crash.
    pub fn write_key(&self) -> String {
        write_key(&self.idempotency_key, self.repairs)
    }
}

/// [`Delivery::write_key`] for a key and repair generation.
pub fn write_key(idempotency_key: &str, repairs: i32) -> String {
    if repairs <= 0 {
        idempotency_key.to_string()
    } else {
        format!("{idempotency_key}/repair-{repairs}")
    }
}

/// One attempt at a write, as recorded (messages masked by the caller).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Attempt {
    /// Attempt number within the current budget, from 1.
    pub n: i32,
    /// When it started.
    pub started_ms: i64,
    /// How long the call took.
    pub latency_ms: i64,
    /// What came of it: `applied`, `accepted`, `transient`, `rejected`, `timeout`, ...
    pub outcome: String,
    /// The error's retry class, if it failed.
    pub error_class: Option<String>,
    /// The HTTP status, if any.
    pub status_code: Option<i32>,
    /// A short masked message.
    pub message: Option<String>,
}
