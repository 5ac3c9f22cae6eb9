//! The pipeline format itself: every table, key and value shape, with the docs editors show.

use super::{FUTURE_DATED, JITTERS, MASKS, MODES, ON_FAIL, PRIORITIES};
use super::{Field, OBJECTS, Shape, Table};

const fn req(key: &'static str, shape: &'static Shape, doc: &'static str) -> Field {
    Field {
        key,
        required: true,
        shape,
        doc,
    }
}

const fn opt(key: &'static str, shape: &'static Shape, doc: &'static str) -> Field {
    Field {
        key,
        required: false,
        shape,
        doc,
    }
}

const NAME: &str = "^[a-z0-9-]+$";
const DURATION: &str = "^([0-9]+(ms|s|m|h|d))+$";
const RATE: &str = "^[0-9]+/(s|sec|second|min|minute|h|hour|d|day|([0-9]+(ms|s|m|h|d))+)$";
const SIZE: &str = "^[0-9]+ ?(B|KB|MB|GB|KiB|MiB|GiB)$";
const SECRET_REF: &str = "^(env|file|literal):.+$";

static STRING: Shape = Shape::Str(None);
static NAME_STR: Shape = Shape::Str(Some(NAME));
static DURATION_STR: Shape = Shape::Str(Some(DURATION));
static RATE_STR: Shape = Shape::Str(Some(RATE));
static SIZE_STR: Shape = Shape::Str(Some(SIZE));
static SECRET_STR: Shape = Shape::Str(Some(SECRET_REF));
static PATH_STR: Shape = Shape::Str(Some("^/"));
static STRINGS: Shape = Shape::List(&STRING);
static STRING_MAP: Shape = Shape::Map(&STRING);
static SECRET_MAP: Shape = Shape::Map(&SECRET_STR);
static OBJECT_ENUM: Shape = Shape::Enum {
    what: "object",
    names: OBJECTS,
};
static OBJECT_LIST: Shape = Shape::List(&OBJECT_ENUM);
static BOOL: Shape = Shape::Bool;

static PIPELINE: Table = Table {
    name: "[pipeline]",
    fields: &[
        req(
            "name",
            &NAME_STR,
            "Pipeline name: lowercase letters, digits and hyphens. Part of every idempotency key, so do not rename a running pipeline.",
        ),
        opt(
            "description",
            &STRING,
            "What the pipeline is for, for operators.",
        ),
        opt(
            "masking-key",
            &SECRET_STR,
            "The installation's key of keyed hashes (HMAC-SHA256), at least 16 bytes: env:VAR or file:PATH. Needed by `hash` masking rules; without it, e-mail addresses in free text are redacted instead of hashed. Use the same key in every pipeline of an installation so hashes stay comparable.",
        ),
    ],
};

static AUTH_NONE: Table = Table {
    name: "auth (scheme none)",
    fields: &[req("scheme", &STRING, "No authentication.")],
};
static AUTH_BEARER: Table = Table {
    name: "auth (scheme bearer)",
    fields: &[
        req("scheme", &STRING, "`Authorization: Bearer <secret>`."),
        req(
            "secret",
            &SECRET_STR,
            "The token: env:VAR, file:PATH or literal:VALUE.",
        ),
    ],
};
static AUTH_BASIC: Table = Table {
    name: "auth (scheme basic)",
    fields: &[
        req("scheme", &STRING, "HTTP basic authentication."),
        req(
            "username",
            &SECRET_STR,
            "env:VAR, file:PATH or literal:VALUE.",
        ),
        req(
            "password",
            &SECRET_STR,
            "env:VAR, file:PATH or literal:VALUE.",
        ),
    ],
};
static AUTH_OAUTH1: Table = Table {
    name: "auth (scheme oauth1-tba)",
    fields: &[
        req(
            "scheme",
            &STRING,
            "OAuth 1.0 token-based authentication (NetSuite TBA), signed by the host.",
        ),
        req(
            "realm",
            &STRING,
            "The account id, e.g. 1234567 or 1234567_SB1.",
        ),
        req(
            "consumer-key",
            &SECRET_STR,
            "env:VAR, file:PATH or literal:VALUE.",
        ),
        req(
            "consumer-secret",
            &SECRET_STR,
            "env:VAR, file:PATH or literal:VALUE.",
        ),
        req("token", &SECRET_STR, "env:VAR, file:PATH or literal:VALUE."),
        req(
            "token-secret",
            &SECRET_STR,
            "env:VAR, file:PATH or literal:VALUE.",
        ),
    ],
};
static AUTH_OAUTH2_CLIENT_CREDENTIALS: Table = Table {
    name: "auth (scheme oauth2-client-credentials)",
    fields: &[
        req(
            "scheme",
            &STRING,
            "OAuth 2.0 client credentials (e.g. Salesforce): the host fetches and renews the access token.",
        ),
        req(
            "token-url",
            &STRING,
            "The token endpoint, e.g. https://MyDomain.my.salesforce.com/services/oauth2/token.",
        ),
        req(
            "client-id",
            &SECRET_STR,
            "env:VAR, file:PATH or literal:VALUE.",
        ),
        req(
            "client-secret",
            &SECRET_STR,
            "env:VAR, file:PATH or literal:VALUE.",
        ),
        opt(
            "instance-url",
            &BOOL,
            "Use the token answer's instance_url as the connector's base-url (Salesforce); it must be in allow-hosts.",
        ),
    ],
};
static JWT_ALGORITHM: Shape = Shape::Enum {
    what: "JWT algorithm",
    names: JWT_ALGORITHMS,
};
/// The algorithms NetSuite accepts for an M2M client assertion, but ES512, which the JWT
/// library cannot sign with.
pub(crate) const JWT_ALGORITHMS: &[&str] = &["PS256", "PS384", "PS512", "ES256", "ES384"];
static AUTH_OAUTH2_M2M: Table = Table {
    name: "auth (scheme oauth2-m2m)",
    fields: &[
        req(
            "scheme",
            &STRING,
            "OAuth 2.0 client credentials with a JWT client assertion signed by the integration's certificate key (NetSuite machine-to-machine).",
        ),
        opt(
            "token-url",
            &STRING,
            "The token endpoint; default: base-url + /services/rest/auth/oauth2/v1/token.",
        ),
        req(
            "client-id",
            &SECRET_STR,
            "The integration record's client id: env:VAR, file:PATH or literal:VALUE.",
        ),
        req(
            "certificate-id",
            &STRING,
            "The certificate id of the M2M setup mapping (the JWT's kid).",
        ),
        req(
            "private-key",
            &SECRET_STR,
            "The certificate's private key, PEM (PKCS#8): usually file:PATH.",
        ),
        opt(
            "algorithm",
            &JWT_ALGORITHM,
            "PS256 (default), PS384, PS512 for an RSA key; ES256, ES384 for an EC key.",
        ),
        opt(
            "scope",
            &STRING,
            "Comma-separated scopes; default rest_webservices.",
        ),
    ],
};
/// Auth schemes, as written in `scheme`.
pub(crate) static AUTH_SCHEMES: &[(&str, &Table)] = &[
    ("none", &AUTH_NONE),
    ("bearer", &AUTH_BEARER),
    ("basic", &AUTH_BASIC),
    ("oauth1-tba", &AUTH_OAUTH1),
    ("oauth2-client-credentials", &AUTH_OAUTH2_CLIENT_CREDENTIALS),
    ("oauth2-m2m", &AUTH_OAUTH2_M2M),
];
static AUTH: Shape = Shape::Tagged {
    tag: "scheme",
    variants: AUTH_SCHEMES,
};

static LIMITS: Table = Table {
    name: "limits",
    fields: &[
        opt(
            "memory",
            &SIZE_STR,
            "Linear memory cap of one instance, e.g. 32MiB (at most 4GiB).",
        ),
        opt(
            "call-timeout",
            &DURATION_STR,
            "CPU deadline of one call into the module, e.g. 5s.",
        ),
        opt(
            "rate",
            &RATE_STR,
            "Requests the connector may send, e.g. 25/s or 100/min.",
        ),
        opt(
            "concurrency",
            &Shape::Int { min: 1, max: 1024 },
            "Calls in flight at once.",
        ),
    ],
};

static CONNECTOR: Table = Table {
    name: "[connectors.NAME]",
    fields: &[
        req(
            "module",
            &STRING,
            "builtin:NAME, or a path to a .wasm component (relative to this file's folder).",
        ),
        opt(
            "base-url",
            &STRING,
            "The vendor API's base URL; tests point it at a simulator.",
        ),
        opt(
            "allow-hosts",
            &STRINGS,
            "Hosts the module may call besides base-url's. Loopback and private addresses must be listed explicitly.",
        ),
        opt(
            "auth",
            &AUTH,
            "How the host authenticates the module's requests; the module never sees the credentials.",
        ),
        opt(
            "secrets",
            &SECRET_MAP,
            "Named secrets the module may use only through the host's hmac, e.g. webhook = \"env:STRIPE_WEBHOOK_SECRET\".",
        ),
        opt("limits", &Shape::Table(&LIMITS), "Sandbox limits."),
        opt(
            "settings",
            &STRING_MAP,
            "Module settings (strings); the module declares which it takes.",
        ),
    ],
};

static OWNERSHIP_LONG: Table = Table {
    name: "ownership",
    fields: &[
        req(
            "owner",
            &STRING,
            "Connector that is the system of record for the object.",
        ),
        opt(
            "fields",
            &STRING_MAP,
            "Fields owned by another connector: field = \"connector\".",
        ),
    ],
};

static SOURCE: Table = Table {
    name: "[[source]]",
    fields: &[
        req("connector", &STRING, "Connector the changes come from."),
        opt(
            "webhook",
            &PATH_STR,
            "Path webhooks arrive at, e.g. /hooks/stripe (unique across sources).",
        ),
        opt(
            "poll",
            &DURATION_STR,
            "Poll interval, e.g. 1m (instead of webhook).",
        ),
        req("objects", &OBJECT_LIST, "Objects this source delivers."),
    ],
};

static CONFIRM: Table = Table {
    name: "confirm",
    fields: &[
        opt(
            "fields",
            &STRINGS,
            "Top-level fields of the object a read-back must show before a write counts as done (default: the mapped fields, or the whole document without `map`).",
        ),
        opt(
            "within",
            &DURATION_STR,
            "Deadline for confirmation (default 30s).",
        ),
        opt(
            "interval",
            &DURATION_STR,
            "Time between read-backs (default 500ms).",
        ),
    ],
};

static RETRY: Table = Table {
    name: "retry",
    fields: &[
        opt(
            "attempts",
            &Shape::Int { min: 1, max: 1000 },
            "Attempts before dead-lettering (default 12).",
        ),
        opt("initial", &DURATION_STR, "First back-off (default 1s)."),
        opt("max", &DURATION_STR, "Longest back-off (default 10m)."),
        opt(
            "jitter",
            &Shape::Enum {
                what: "jitter",
                names: JITTERS,
            },
            "full (default) or none.",
        ),
    ],
};

static ROUTE: Table = Table {
    name: "[[route]]",
    fields: &[
        req(
            "name",
            &NAME_STR,
            "Route name, unique in the pipeline; part of idempotency keys.",
        ),
        req(
            "from",
            &STRING,
            "Connector the changes come from; must own the object.",
        ),
        req("to", &STRING, "Connector the changes are written to."),
        req(
            "object",
            &OBJECT_ENUM,
            "Canonical object the route carries.",
        ),
        opt(
            "mode",
            &Shape::Enum {
                what: "mode",
                names: MODES,
            },
            "write (default), or shadow: plan and diff, write nothing.",
        ),
        opt(
            "when",
            &STRING,
            "CEL condition on `change`; the route applies when it is true.",
        ),
        opt(
            "map",
            &STRING_MAP,
            "Target field = CEL expression over `change`, set over the source document. Without it the document passes as is.",
        ),
        opt(
            "confirm",
            &Shape::Table(&CONFIRM),
            "Read-back confirmation.",
        ),
        opt("retry", &Shape::Table(&RETRY), "Retry policy."),
        opt(
            "priority",
            &Shape::Enum {
                what: "priority",
                names: PRIORITIES,
            },
            "financial, normal (default) or low: replay order after an incident.",
        ),
        opt(
            "future-dated",
            &Shape::Enum {
                what: "future-dated policy",
                names: FUTURE_DATED,
            },
            "hold changes effective in the future until due, or pass them at once (default: pass only to targets that accept future-dated writes).",
        ),
    ],
};

static GATE: Table = Table {
    name: "[gates.NAME]",
    fields: &[
        req(
            "before",
            &STRINGS,
            "Objects or route names the gate guards.",
        ),
        req(
            "require",
            &STRING,
            "CEL condition on `change` that must hold.",
        ),
        opt(
            "on-fail",
            &Shape::Enum {
                what: "on-fail action",
                names: ON_FAIL,
            },
            "hold (default): keep the change until the condition holds.",
        ),
    ],
};

static RECONCILE: Table = Table {
    name: "[reconcile.NAME]",
    fields: &[
        req("between", &STRINGS, "The two connectors to compare."),
        req("object", &OBJECT_ENUM, "Object to compare."),
        req("fields", &STRINGS, "Fields to compare."),
        req("every", &DURATION_STR, "How often, e.g. 24h."),
        opt(
            "repair",
            &BOOL,
            "Repair drift through the route from the owner (default false).",
        ),
    ],
};

/// The whole file.
pub(crate) static ROOT: Table = Table {
    name: "the pipeline file",
    fields: &[
        req(
            "pipeline",
            &Shape::Table(&PIPELINE),
            "Name and description.",
        ),
        opt(
            "connectors",
            &Shape::Map(&Shape::Table(&CONNECTOR)),
            "Connector instances by name.",
        ),
        opt(
            "ownership",
            &Shape::Map(&Shape::StrOrTable(&OWNERSHIP_LONG)),
            "System of record per object: object = \"connector\" or { owner, fields }.",
        ),
        opt(
            "source",
            &Shape::List(&Shape::Table(&SOURCE)),
            "Where changes come from.",
        ),
        opt(
            "route",
            &Shape::List(&Shape::Table(&ROUTE)),
            "Where changes go.",
        ),
        opt(
            "gates",
            &Shape::Map(&Shape::Table(&GATE)),
            "Conditions that hold changes back.",
        ),
        opt(
            "masking",
            &Shape::Map(&Shape::Enum {
                what: "masking strategy",
                names: MASKS,
            }),
            "\"object.field\" = hash | redact | last4 | first6last4.",
        ),
        opt(
            "reconcile",
            &Shape::Map(&Shape::Table(&RECONCILE)),
            "Scheduled comparisons between systems.",
        ),
    ],
};
