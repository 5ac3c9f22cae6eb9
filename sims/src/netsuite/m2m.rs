//! OAuth 2.0 client credentials (machine-to-machine), as NetSuite's help center describes it
//! ("OAuth 2.0 Client Credentials Setup", "POST Request to the Token Endpoint and the Access
//! Token Response", "The Request Token Structure"; fact sheet §2a):
//!
//! - `POST /services/rest/auth/oauth2/v1/token`, form-encoded, with exactly
//!   `grant_type=client_credentials`, `client_assertion_type=
//!   urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and `client_assertion=<JWT>`
//!   (RFC 7523 allows a `client_id` beside them; it must then name the assertion's issuer);
//! - the assertion's header: `typ` JWT, `alg` one of PS256/384/512 and ES256/384/512, `kid` the
//!   certificate id of the M2M mapping; its claims: `iss` the integration's client id, `scope`
//!   (`rest_webservices` among them; a string or a list), `aud` this token endpoint, `iat`,
//!   and `exp` no more than 60 minutes after `iat`; signed with the certificate's private key;
//! - the answer: `access_token`, `expires_in` (the string `"3600"`: the help center says the
//!   value is always 3600 and the strictest reading for a client is that it comes as text),
//!   `token_type` `bearer`; the token is valid for 60 minutes.
//!
//! The simulator's clock can be moved forward, so tests expire tokens without sleeping.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;

/// The path of the token endpoint under the account's base URL.
pub const TOKEN_PATH: &str = "/services/rest/auth/oauth2/v1/token";
/// Access tokens are valid for 60 minutes.
pub const TOKEN_LIFETIME_S: i64 = 3600;

/// The integration and M2M mapping the account knows.
#[derive(Debug, Clone)]
pub struct M2mClient {
    /// The integration record's client id (the assertion's `iss`).
    pub client_id: String,
    /// The mapping's certificate id (the assertion's `kid`).
    pub certificate_id: String,
    /// The certificate's public key, PEM (`-----BEGIN PUBLIC KEY-----`).
    pub public_key_pem: String,
}

/// Issued tokens, the clock and the switches tests turn.
#[derive(Debug, Default)]
pub struct M2mState {
    tokens: std::sync::Mutex<HashMap<String, i64>>,
    issued: std::sync::Mutex<Vec<String>>,
    clock_offset_s: AtomicI64,
    client_revoked: AtomicBool,
    requests: AtomicU64,
}

impl M2mState {
    /// Now on the simulator's clock, Unix seconds.
    pub fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
            + self.clock_offset_s.load(Ordering::Relaxed)
    }

    /// Moves the simulator's clock forward.
    pub fn advance(&self, secs: i64) {
        self.clock_offset_s.fetch_add(secs, Ordering::Relaxed);
    }

    /// Whether `token` is an issued access token that has not expired.
    pub fn accepts(&self, token: &str) -> bool {
        let now = self.now();
        self.tokens
            .lock()
            .map(|t| t.get(token).is_some_and(|&exp| now < exp))
            .unwrap_or(false)
    }

    /// Every issued token stops working (an administrator revoked them).
    pub fn revoke_tokens(&self) {
        if let Ok(mut t) = self.tokens.lock() {
            t.clear();
        }
    }

    /// The mapping is revoked: the token endpoint refuses the client from now on.
    pub fn revoke_client(&self, revoked: bool) {
        self.client_revoked.store(revoked, Ordering::Relaxed);
    }

    /// Every access token issued so far, revoked and expired ones too.
    pub fn issued(&self) -> Vec<String> {
        self.issued.lock().map(|i| i.clone()).unwrap_or_default()
    }

    /// Token requests received.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

fn refuse(status: u16, error: &str, description: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "error": error, "error_description": description }).to_string(),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    #[serde(default)]
    scope: Option<Value>,
    iat: i64,
    exp: i64,
}

/// `POST /services/rest/auth/oauth2/v1/token`.
pub async fn token(State(sim): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let m2m = &sim.m2m;
    m2m.requests.fetch_add(1, Ordering::Relaxed);
    let Some(client) = &sim.m2m_client else {
        return refuse(
            400,
            "unauthorized_client",
            "The account has no M2M mapping.",
        );
    };
    let form_encoded = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_encoded {
        return refuse(
            400,
            "invalid_request",
            "The request must be application/x-www-form-urlencoded.",
        );
    }
    let mut params: HashMap<String, String> = HashMap::new();
    for (k, v) in form_urlencoded::parse(&body) {
        if params.insert(k.to_string(), v.into_owned()).is_some() {
            return refuse(
                400,
                "invalid_request",
                &format!("Parameter {k} is repeated."),
            );
        }
    }
    for key in params.keys() {
        if !matches!(
            key.as_str(),
            "grant_type" | "client_assertion_type" | "client_assertion" | "client_id"
        ) {
            return refuse(400, "invalid_request", &format!("Unknown parameter {key}."));
        }
    }
    if params.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return refuse(
            400,
            "unsupported_grant_type",
            "grant_type must be client_credentials.",
        );
    }
    if params.get("client_assertion_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return refuse(
            400,
            "invalid_request",
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
        );
    }
    let Some(assertion) = params.get("client_assertion") else {
        return refuse(400, "invalid_request", "client_assertion is missing.");
    };
    let Ok(head) = jsonwebtoken::decode_header(assertion) else {
        return refuse(400, "invalid_request", "client_assertion is not a JWT.");
    };
    use jsonwebtoken::Algorithm::*;
    if !matches!(head.alg, PS256 | PS384 | PS512 | ES256 | ES384) {
        return refuse(
            400,
            "invalid_request",
            "The JWT algorithm must be PS256, PS384, PS512, ES256 or ES384 (NetSuite also takes ES512, which this simulator cannot verify).",
        );
    }
    if head.typ.as_deref() != Some("JWT") {
        return refuse(400, "invalid_request", "The JWT header's typ must be JWT.");
    }
    if head.kid.as_deref() != Some(client.certificate_id.as_str())
        || m2m.client_revoked.load(Ordering::Relaxed)
    {
        return refuse(
            401,
            "invalid_client",
            "No active certificate mapping matches the JWT's kid.",
        );
    }
    let key = if matches!(head.alg, PS256 | PS384 | PS512) {
        jsonwebtoken::DecodingKey::from_rsa_pem(client.public_key_pem.as_bytes())
    } else {
        jsonwebtoken::DecodingKey::from_ec_pem(client.public_key_pem.as_bytes())
    };
    let Ok(key) = key else {
        return refuse(
            401,
            "invalid_client",
            "The mapped certificate does not fit the JWT's algorithm.",
        );
    };
    let audience = format!("{}{TOKEN_PATH}", sim.base);
    let mut validation = jsonwebtoken::Validation::new(head.alg);
    validation.set_audience(&[audience.as_str()]);
    validation.set_issuer(&[client.client_id.as_str()]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    // Time is checked below on the simulator's own clock.
    validation.validate_exp = false;
    let claims = match jsonwebtoken::decode::<Claims>(assertion, &key, &validation) {
        Ok(data) => data.claims,
        Err(e) => {
            return refuse(
                401,
                "invalid_client",
                &format!("The client assertion is not valid: {e}."),
            );
        }
    };
    if let Some(id) = params.get("client_id")
        && *id != claims.iss
    {
        return refuse(
            400,
            "invalid_request",
            "client_id differs from the assertion's iss.",
        );
    }
    let now = m2m.now();
    if claims.exp <= now || claims.iat > now + 60 || claims.exp - claims.iat > TOKEN_LIFETIME_S {
        return refuse(
            401,
            "invalid_grant",
            "The assertion has expired, is not yet valid, or lives longer than 60 minutes.",
        );
    }
    let scopes: Vec<String> = match &claims.scope {
        Some(Value::String(s)) => s
            .split([',', ' '])
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    if !scopes.iter().any(|s| s == "rest_webservices") {
        return refuse(
            400,
            "invalid_scope",
            "The scope must include rest_webservices.",
        );
    }
    let access = {
        use rand::distr::{Alphanumeric, SampleString};
        format!("eyJ{}", Alphanumeric.sample_string(&mut rand::rng(), 60))
    };
    if let Ok(mut tokens) = m2m.tokens.lock() {
        tokens.insert(access.clone(), now + TOKEN_LIFETIME_S);
    }
    if let Ok(mut issued) = m2m.issued.lock() {
        issued.push(access.clone());
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json!({
            "access_token": access,
            "expires_in": TOKEN_LIFETIME_S.to_string(),
            "token_type": "bearer",
        })
        .to_string(),
    )
        .into_response()
}
