//! The checked pipeline: every reference resolved, every unit parsed, every expression compiled.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::catalog::{ModuleInfo, ModuleRef};
use super::units::Rate;
use crate::Secret;

/// One pipeline, ready to run. Built only when its file has no errors.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `[pipeline] name`.
    pub name: String,
    /// `[pipeline] description`.
    pub description: Option<String>,
    /// The file it was loaded from.
    pub file: PathBuf,
    /// Connector instances by name.
    pub connectors: BTreeMap<String, Connector>,
    /// System of record per object.
    pub ownership: BTreeMap<String, Ownership>,
    /// Where changes come from, in file order.
    pub sources: Vec<Source>,
    /// Where changes go, in file order.
    pub routes: Vec<Route>,
    /// Conditions that hold changes back, by name.
    pub gates: BTreeMap<String, Gate>,
    /// Masking rules and the key of keyed hashes.
    pub masking: Masking,
    /// Scheduled comparisons, by name.
    pub reconcile: BTreeMap<String, Reconcile>,
}

impl Plan {
    /// The route with this name.
    pub fn route(&self, name: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.name == name)
    }
}

/// A connector instance: a module plus what the pipeline grants it.
#[derive(Debug, Clone)]
pub struct Connector {
    /// Its name in `[connectors.NAME]`.
    pub name: String,
    /// Where the module comes from.
    pub module: ModuleRef,
    /// What the module declared about itself when validated.
    pub info: ModuleInfo,
    /// The vendor API's base URL, if set.
    pub base_url: Option<String>,
    /// Hosts the module may reach: `allow-hosts` plus the host of `base-url`.
    pub allow_hosts: Vec<AllowedHost>,
    /// How the host authenticates the module's requests.
    pub auth: Auth,
    /// Secrets usable through the host's hmac, by name.
    pub secrets: BTreeMap<String, Secret>,
    /// Sandbox limits.
    pub limits: Limits,
    /// Module settings; the ones the module declares sensitive are held as [`Secret`]s.
    pub settings: BTreeMap<String, Setting>,
}

/// A host a connector may call.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum AllowedHost {
    /// A DNS name, lowercased, e.g. `api.stripe.com`.
    Name(String),
    /// An IP literal, e.g. `127.0.0.1` (loopback and private addresses are reachable only
    /// when listed like this).
    Ip(IpAddr),
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowedHost::Name(name) => f.write_str(name),
            AllowedHost::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// How the host authenticates a connector's outgoing requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No credentials.
    None,
    /// `Authorization: Bearer <secret>`.
    Bearer {
        /// The token.
        secret: Secret,
    },
    /// HTTP basic authentication.
    Basic {
        /// User name (often an API key).
        username: Secret,
        /// Password.
        password: Secret,
    },
    /// OAuth 1.0 token-based authentication (NetSuite TBA), HMAC-SHA256 signed by the host.
    OAuth1Tba {
        /// Account id.
        realm: String,
        /// Integration record's consumer key.
        consumer_key: Secret,
        /// Integration record's consumer secret.
        consumer_secret: Secret,
        /// Access token id.
        token: Secret,
        /// Access token secret.
        token_secret: Secret,
    },
    /// OAuth 2.0 client credentials with a client secret (Salesforce): the host fetches the
    /// access token, caches it, and fetches it again once when the target answers 401.
    OAuth2ClientCredentials {
        /// The token endpoint.
        token_url: String,
        /// Client id.
        client_id: Secret,
        /// Client secret.
        client_secret: Secret,
        /// The token answer's `instance_url` is the connector's base URL.
        instance_url: bool,
    },
    /// OAuth 2.0 client credentials with a JWT client assertion (RFC 7523) signed by the
    /// integration's certificate key (NetSuite machine-to-machine).
    OAuth2M2m {
        /// The token endpoint (also the assertion's `aud`).
        token_url: String,
        /// The integration's client id (the assertion's `iss`).
        client_id: Secret,
        /// The certificate id (the assertion's `kid`).
        certificate_id: String,
        /// The certificate's private key, PEM.
        private_key: Secret,
        /// `PS256`, `PS384`, `PS512`, `ES256`, `ES384` or `ES512`.
        algorithm: String,
        /// The assertion's `scope`, e.g. `rest_webservices`.
        scope: String,
    },
}

/// Sandbox limits of one connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory cap per instance, in bytes.
    pub memory: u64,
    /// CPU deadline of one call into the module.
    pub call_timeout: Duration,
    /// Outgoing request rate; `None` means unlimited.
    pub rate: Option<Rate>,
    /// Calls in flight at once.
    pub concurrency: u32,
}

impl Limits {
    /// Used for every limit the pipeline does not set.
    pub const DEFAULT: Limits = Limits {
        memory: 64 << 20,
        call_timeout: Duration::from_secs(10),
        rate: None,
        concurrency: 4,
    };
}

/// A module setting's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    /// An ordinary value.
    Plain(String),
    /// A value the module declares sensitive; masked wherever it could be shown.
    Sensitive(Secret),
}

impl Setting {
    /// The value, for handing to the module.
    pub fn expose(&self) -> &str {
        match self {
            Setting::Plain(value) => value,
            Setting::Sensitive(secret) => secret.expose(),
        }
    }
}

/// The system of record for one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    /// Connector that owns the object.
    pub owner: String,
    /// Fields owned by another connector.
    pub fields: BTreeMap<String, String>,
}

impl Ownership {
    /// The connector that owns `field` of the object.
    pub fn owner_of(&self, field: &str) -> &str {
        self.fields.get(field).map_or(&self.owner, String::as_str)
    }
}

/// Where a source's changes arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Pushed to this path (starts with `/`).
    Webhook(String),
    /// Pulled at this interval with a durable cursor.
    Poll(Duration),
}

/// A source of changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Connector the changes come from.
    pub connector: String,
    /// Webhook or polling.
    pub trigger: Trigger,
    /// Objects it delivers.
    pub objects: Vec<String>,
}

/// Write or only plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Write to the target.
    #[default]
    Write,
    /// Plan and diff, write nothing (the read-only phase before switching writes on).
    Shadow,
}

/// Replay order after an incident, highest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Priority {
    /// Money moves: replayed first.
    Financial,
    /// The default.
    #[default]
    Normal,
    /// Replayed last.
    Low,
}

/// Randomisation of back-off delays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Jitter {
    /// A random delay between zero and the back-off (spreads retries of many changes).
    #[default]
    Full,
    /// Exactly the back-off.
    None,
}

/// What to do with a change whose effective date is in the future.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FutureDated {
    /// Hold it on a durable timer until it is due.
    Hold,
    /// Pass it on at once; the target applies it at its effective date.
    Pass,
}

/// What a failing gate does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFail {
    /// Keep the change, with the reason, until the condition holds.
    #[default]
    Hold,
}

/// How a masked field is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MaskStrategy {
    /// A keyed hash: equal values stay comparable, the value stays hidden.
    Hash,
    /// Replaced entirely.
    Redact,
    /// Only the last four characters shown.
    Last4,
    /// The first six and last four characters shown (card numbers).
    First6last4,
}

/// A compiled CEL expression and the text it came from.
#[derive(Debug, Clone)]
pub struct Expr {
    /// The expression as written.
    pub source: String,
    /// The compiled program; `change` is the one variable in scope.
    pub program: Arc<cel::Program>,
}

impl Expr {
    /// Refuses to let this expression run against `change` when the worst case of evaluating
    /// it there could exceed [`MAX_EVALUATION_COST`](super::expression::MAX_EVALUATION_COST): the
    /// evaluator has no budget of its own and cannot be stopped once it runs. Validation
    /// checked the same bound for a change of
    /// [`VALIDATION_CHANGE_SIZE`](super::expression::VALIDATION_CHANGE_SIZE); only larger
    /// changes can fail here.
    pub fn check_cost(&self, change: &serde_json::Value) -> Result<(), String> {
        let size = super::expression::input_size(change);
        let bound = super::expression::cost::bound(self.program.expression(), size);
        if bound <= super::expression::MAX_EVALUATION_COST {
            return Ok(());
        }
        Err(format!(
            "`{}` could take up to {bound:.1e} evaluation steps on this change (size {size}), more than the {:.0e} allowed; it was not evaluated",
            self.source,
            super::expression::MAX_EVALUATION_COST
        ))
    }
}

/// Which fields a read-back must show before a write counts as done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmFields {
    /// Every field of the written document (a route without `map`).
    All,
    /// These fields.
    Only(Vec<String>),
}

/// Read-back confirmation of a route's writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    /// Fields to compare.
    pub fields: ConfirmFields,
    /// Deadline after the write (or after an async job completes).
    pub within: Duration,
    /// Time between read-backs.
    pub interval: Duration,
}

/// Retry policy of a route's writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before the change is dead-lettered.
    pub attempts: u32,
    /// First back-off.
    pub initial: Duration,
    /// Longest back-off.
    pub max: Duration,
    /// Randomisation.
    pub jitter: Jitter,
}

impl RetryPolicy {
    /// Used for every retry setting a route does not set.
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        attempts: 12,
        initial: Duration::from_secs(1),
        max: Duration::from_secs(600),
        jitter: Jitter::Full,
    };
}

/// Which part of an object the route's source owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The whole object (except fields owned by other connectors).
    Object,
    /// Only these fields (the source owns them, another connector owns the object).
    Fields(Vec<String>),
}

/// A route: changes of one object from one connector to another.
#[derive(Debug, Clone)]
pub struct Route {
    /// Unique name.
    pub name: String,
    /// Source connector (the owner of the object or of some of its fields).
    pub from: String,
    /// Target connector.
    pub to: String,
    /// Canonical object.
    pub object: String,
    /// What part of the object `from` may propagate.
    pub scope: Scope,
    /// Write or shadow.
    pub mode: Mode,
    /// Condition; `None` means every change.
    pub when: Option<Expr>,
    /// Target field -> expression; `None` means the document passes as is.
    pub map: Option<BTreeMap<String, Expr>>,
    /// Read-back confirmation.
    pub confirm: Confirm,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Replay order.
    pub priority: Priority,
    /// Future-dated changes.
    pub future_dated: FutureDated,
}

/// What a gate guards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateTarget {
    /// Every route that carries this object.
    Object(String),
    /// One route.
    Route(String),
}

/// A condition that must hold before changes pass.
#[derive(Debug, Clone)]
pub struct Gate {
    /// Its name in `[gates.NAME]`.
    pub name: String,
    /// What it guards.
    pub before: Vec<GateTarget>,
    /// The condition.
    pub require: Expr,
    /// What happens when it does not hold.
    pub on_fail: OnFail,
}

/// How a pipeline masks personal data in everything Junction writes or shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Masking {
    /// `[pipeline] masking-key`: the installation's key of keyed hashes (HMAC-SHA256), so a
    /// hashed value cannot be recovered by hashing guesses. Without one, `hash` rules are
    /// refused and e-mail addresses in free text are redacted instead of hashed.
    pub key: Option<Secret>,
    /// The rules, ordered by object then field path.
    pub rules: Vec<MaskRule>,
}

/// One masking rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskRule {
    /// Object, e.g. `customer`.
    pub object: String,
    /// Field path inside the object, e.g. `email` or `address.line1`; through an array it
    /// names the field of every item (`items.price_id`).
    pub field: String,
    /// How it is shown.
    pub strategy: MaskStrategy,
}

/// A scheduled comparison of one object between two systems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconcile {
    /// Its name in `[reconcile.NAME]`.
    pub name: String,
    /// The two connectors.
    pub between: [String; 2],
    /// Object compared.
    pub object: String,
    /// Fields compared.
    pub fields: Vec<String>,
    /// How often.
    pub every: Duration,
    /// Repair drift through the route from the owner.
    pub repair: bool,
}
