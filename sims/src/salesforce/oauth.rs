//! `POST /services/oauth2/token`, the client credentials flow (fact sheet §1): form or HTTP
//! Basic client authentication, opaque tokens that expire after the session timeout, no
//! refresh token and no `expires_in`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use sha2::Sha256;

use super::error::json_reply;
use super::{SalesforceSimConfig, Shared};

/// Issued tokens and the connected app's credentials.
#[derive(Debug)]
pub struct Auth {
    client_id: String,
    pub client_secret: String,
    /// Token -> issue time (simulated ms).
    tokens: HashMap<String, i64>,
    timeout_ms: i64,
    rng: StdRng,
}

impl Auth {
    pub fn new(config: &SalesforceSimConfig) -> Self {
        Self {
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            tokens: HashMap::new(),
            timeout_ms: config.session_timeout.as_millis() as i64,
            rng: StdRng::seed_from_u64(config.seed ^ 0x5f5f_5f5f),
        }
    }

    /// Whether `token` is a live session: issued, not revoked, younger than the timeout.
    /// The fact sheet gives no sliding renewal for client-credentials tokens, so the strict
    /// reading is used: a token dies `timeout` after issue, however busy.
    pub fn valid(&self, token: &str, now_ms: i64) -> bool {
        self.tokens
            .get(token)
            .is_some_and(|issued| now_ms - issued < self.timeout_ms)
    }

    pub fn revoke_all(&mut self) {
        self.tokens.clear();
    }

    fn issue(&mut self, org_id: &str, now_ms: i64) -> String {
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._";
        let tail: String = (0..96)
            .map(|_| char::from(ALPHABET[self.rng.random_range(0..ALPHABET.len())]))
            .collect();
        // `00D...!AR...`: the org id's 15 characters, `!`, then the opaque part.
        let token = format!("{}!AR{tail}", &org_id[..15]);
        self.tokens.insert(token.clone(), now_ms);
        token
    }
}

/// Fact sheet §1, token errors: 400 `{"error","error_description"}`.
fn refuse(error: &str, description: &str) -> Response {
    json_reply(
        StatusCode::BAD_REQUEST,
        &json!({"error": error, "error_description": description}),
    )
}

/// `Authorization: Basic base64(client_id:client_secret)`.
fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("basic "))
        .map(|_| value[6..].trim())?;
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

pub async fn token(State(sim): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    sim.count(|s| s.token_requests += 1);
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    match grant(&sim, &headers, &form) {
        Ok(body) => json_reply(StatusCode::OK, &body),
        Err((error, description)) => {
            sim.count(|s| s.token_failures += 1);
            refuse(error, description)
        }
    }
}

/// An OAuth error: `error` and `error_description`.
type Refusal = (&'static str, &'static str);

fn grant(
    sim: &Shared,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<serde_json::Value, Refusal> {
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return Err(("unsupported_grant_type", "grant type not supported"));
    }
    let given = match (form.get("client_id"), form.get("client_secret")) {
        (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
        _ => basic(headers),
    };
    let Some((client_id, secret)) = given else {
        return Err(("invalid_client_id", "client identifier invalid"));
    };
    let now = sim.now_ms();
    let mut auth = sim.auth();
    // An unknown consumer key and a wrong secret are told apart, as Salesforce does.
    if client_id != auth.client_id {
        return Err(("invalid_client_id", "client identifier invalid"));
    }
    if secret != auth.client_secret {
        return Err(("invalid_client", "invalid client credentials"));
    }
    let access_token = auth.issue(&sim.org_id, now);
    let secret = auth.client_secret.clone();
    drop(auth);
    let user_id = sim.store().user_id.clone();
    let id = format!("{}/id/{}/{user_id}", sim.base, sim.org_id);
    let issued_at = now.to_string();
    // The documented signature: base64 HMAC-SHA256 of `id + issued_at`, keyed by the secret.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| ("invalid_client", "invalid client credentials"))?;
    mac.update(id.as_bytes());
    mac.update(issued_at.as_bytes());
    let signature = STANDARD.encode(mac.finalize().into_bytes());
    sim.count(|s| s.tokens_issued += 1);
    Ok(json!({
        "access_token": access_token,
        "signature": signature,
        "scope": sim.config.scope,
        "instance_url": sim.base,
        "id": id,
        "token_type": "Bearer",
        "issued_at": issued_at,
    }))
}
