//! The contract's types as plain Rust, mirroring `wit/connector.wit` one to one.

use std::fmt;

/// Milliseconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// What happened to an entity at the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// The entity came into existence.
    Create,
    /// The entity changed.
    Update,
    /// The entity was deleted.
    Delete,
    /// The full current state.
    Snapshot,
}

/// One change read from a source system.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The source's id for the event.
    pub source_event_id: String,
    /// Canonical object kind.
    pub object: String,
    /// The entity's id at the source.
    pub key: String,
    /// What happened.
    pub operation: Operation,
    /// Canonical JSON before the change.
    pub before: Option<String>,
    /// Canonical JSON after the change.
    pub after: Option<String>,
    /// When the change happened.
    pub occurred_at: Timestamp,
    /// When it takes business effect, if different.
    pub effective_at: Option<Timestamp>,
    /// Grows with every change of this entity.
    pub source_version: u64,
    /// Free-form facts about the change.
    pub metadata: Vec<(String, String)>,
}

/// An inbound webhook exactly as it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// HTTP method, upper case.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Lower-case header names.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
}

impl Webhook {
    /// The first value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One page of changes.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangePage {
    /// Oldest first.
    pub changes: Vec<Change>,
    /// Where to continue.
    pub next_cursor: Option<String>,
    /// Whether more is ready now.
    pub has_more: bool,
}

/// A canonical document with its key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyedDocument {
    /// The entity's id in the system it was read from.
    pub key: String,
    /// Canonical JSON.
    pub document: String,
}

/// One page of documents.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentPage {
    /// The documents.
    pub items: Vec<KeyedDocument>,
    /// Where to continue.
    pub next_cursor: Option<String>,
}

/// A write the runtime asks a sink to perform.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    /// Canonical object kind.
    pub object: String,
    /// The entity's key (the source's id, used as external id).
    pub key: String,
    /// Upsert for create/update/snapshot; close or remove for delete.
    pub operation: Operation,
    /// Canonical JSON to make true.
    pub document: String,
    /// When the write takes business effect.
    pub effective_at: Option<Timestamp>,
    /// When the change happened at the source.
    pub occurred_at: Timestamp,
    /// Sent to the target's idempotency mechanism.
    pub idempotency_key: String,
    /// Correlates the write with its source change.
    pub correlation_id: String,
}

/// What a sink did with a write.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Applied synchronously; the target's record id.
    Applied(String),
    /// Accepted for asynchronous processing; a job reference.
    Accepted(String),
    /// One step of a write that takes several was accepted asynchronously (a job reference);
    /// once the job succeeds the runtime calls `apply` again with the same write.
    InProgress(String),
}

/// The state of an asynchronous job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    /// Still running.
    Pending,
    /// Done; the target's record id.
    Succeeded(String),
    /// Failed.
    Failed(Error),
}

/// Every failure a connector reports; the runtime acts on the variant, never on the text.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// May pass if tried again.
    Transient {
        /// What went wrong.
        message: String,
        /// How long the vendor asked us to wait.
        retry_after_ms: Option<u64>,
    },
    /// The vendor is throttling us.
    RateLimited(Option<u64>),
    /// The target refused the write on its merits.
    Rejected {
        /// What the target said.
        message: String,
        /// The field it blamed.
        field: Option<String>,
    },
    /// Credentials missing, wrong or expired.
    Unauthorized(String),
    /// The entity does not exist.
    NotFound(String),
    /// Another write to the same record is in flight.
    Conflict(String),
    /// The idempotency key was used for a different request.
    IdempotencyMismatch(String),
    /// Not supported by this connector.
    Unsupported(String),
    /// A webhook that failed verification.
    InvalidWebhook(String),
}

impl Error {
    /// A transient error without a retry hint.
    pub fn transient(message: impl Into<String>) -> Self {
        Error::Transient {
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// A rejection without a field.
    pub fn rejected(message: impl Into<String>) -> Self {
        Error::Rejected {
            message: message.into(),
            field: None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Transient {
                message,
                retry_after_ms: Some(ms),
            } => write!(f, "transient: {message} (retry after {ms} ms)"),
            Error::Transient { message, .. } => write!(f, "transient: {message}"),
            Error::RateLimited(Some(ms)) => write!(f, "rate limited (retry after {ms} ms)"),
            Error::RateLimited(None) => write!(f, "rate limited"),
            Error::Rejected {
                message,
                field: Some(field),
            } => write!(f, "rejected: {message} (field `{field}`)"),
            Error::Rejected { message, .. } => write!(f, "rejected: {message}"),
            Error::Unauthorized(m) => write!(f, "unauthorized: {m}"),
            Error::NotFound(m) => write!(f, "not found: {m}"),
            Error::Conflict(m) => write!(f, "conflict: {m}"),
            Error::IdempotencyMismatch(m) => {
                write!(f, "idempotency key reused with different parameters: {m}")
            }
            Error::Unsupported(m) => write!(f, "unsupported: {m}"),
            Error::InvalidWebhook(m) => write!(f, "invalid webhook: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Very detailed.
    Trace,
    /// Detailed.
    Debug,
    /// Normal.
    Info,
    /// Something looks wrong.
    Warn,
    /// Something failed.
    Error,
}

/// A setting the connector reads.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingSpec {
    /// Its name in `[connectors.X.settings]`.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Whether the connector fails without it.
    pub required: bool,
    /// Whether its value must be masked.
    pub sensitive: bool,
}

/// What a connector is and needs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Manifest {
    /// Short name.
    pub name: String,
    /// Semver.
    pub version: String,
    /// One line.
    pub description: String,
    /// Objects it emits as a source.
    pub source_objects: Vec<String>,
    /// Objects it writes as a sink.
    pub sink_objects: Vec<String>,
    /// Hosts it calls by default.
    pub hosts: Vec<String>,
    /// Settings it reads.
    pub settings: Vec<SettingSpec>,
    /// Secrets it signs with through the host.
    pub secrets: Vec<String>,
    /// Verifies and decodes webhooks.
    pub webhooks: bool,
    /// Can poll.
    pub polling: bool,
    /// `apply` may answer `accepted`.
    pub async_writes: bool,
    /// The target accepts future-dated writes.
    pub future_dated_writes: bool,
}
