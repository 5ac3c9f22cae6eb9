//! OAuth 2.0 access tokens the host obtains for a connector instance and adds to its requests
//! as `Authorization: Bearer`. The guest never sees a token, a client secret or a private key.
//!
//! Two grants, both the client-credentials grant of RFC 6749 §4.4 (through the `oauth2`
//! crate):
//! - with a client secret (Salesforce's client credentials flow);
//! - with a JWT client assertion (RFC 7523) signed by the integration's certificate key
//!   (`jsonwebtoken`), as NetSuite's machine-to-machine setup requires: header `kid` = the
//!   certificate id, claims `iss` = client id, `scope`, `aud` = the token endpoint, `iat`, `exp`.
//!
//! One [`TokenSource`] per connector instance: the token is cached until it expires (renewed
//! [`RENEW_BEFORE`] ahead; Salesforce gives no expiry, so its token is kept until refused),
//! fetched by one caller at a time (64 deliveries that find it expired cause one token
//! request), and dropped when the target answers 401 with it, so the next request fetches a
//! new one. A token endpoint that refuses the client (`invalid_client`, `invalid_grant`, ...)
//! pauses the instance: calls fail as `unauthorized` with the endpoint's answer, without asking
//! again, for [`PAUSE`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, Client, ClientId, ClientSecret, EndpointNotSet, EndpointSet, ExtraTokenFields,
    RequestTokenError, StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};

use crate::services::clock::Clock;
use crate::services::secret::Secret;

/// A token is renewed this long before it expires (NetSuite's last an hour).
pub const RENEW_BEFORE: Duration = Duration::from_secs(300);
/// How long a refused client is not asked for again.
pub const PAUSE: Duration = Duration::from_secs(60);
/// How long a client assertion is valid (NetSuite requires `exp` within 60 minutes of `iat`;
/// the assertion is used at once).
const ASSERTION_LIFETIME_S: i64 = 300;
/// The deadline of one token request.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);

/// How the host proves who it is to the token endpoint.
#[derive(Debug, Clone)]
pub enum Grant {
    /// `client_id` and `client_secret` in the form body.
    ClientSecret {
        /// Client id.
        client_id: Secret,
        /// Client secret.
        client_secret: Secret,
    },
    /// A signed JWT client assertion (`client_assertion_type` jwt-bearer).
    JwtAssertion {
        /// The integration's client id (`iss`).
        client_id: Secret,
        /// The certificate id (`kid`).
        certificate_id: String,
        /// The certificate's private key, PEM.
        private_key: Secret,
        /// `PS256` ... `ES512`.
        algorithm: jsonwebtoken::Algorithm,
        /// The `scope` claim.
        scope: String,
    },
}

/// One connector instance's OAuth 2.0 setup.
#[derive(Debug, Clone)]
pub struct OAuth2 {
    /// The token endpoint.
    pub token_url: String,
    /// How the host authenticates there.
    pub grant: Grant,
    /// The token answer's `instance_url` is the connector's base URL (Salesforce).
    pub instance_url: bool,
}

impl OAuth2 {
    /// Every credential value, for masking.
    pub fn values(&self) -> Vec<String> {
        match &self.grant {
            Grant::ClientSecret {
                client_id,
                client_secret,
            } => vec![
                client_id.expose().to_string(),
                client_secret.expose().to_string(),
            ],
            Grant::JwtAssertion {
                client_id,
                private_key,
                ..
            } => {
                let mut values = vec![client_id.expose().to_string()];
                // The key's base64 body lines, as a vendor error might quote them.
                values.extend(
                    private_key
                        .expose()
                        .lines()
                        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
                        .map(str::to_string),
                );
                values
            }
        }
    }
}

/// An access token as the host holds it.
#[derive(Debug, Clone)]
pub struct Token {
    /// The value sent as `Authorization: Bearer`.
    pub access: Secret,
    /// Unix ms after which it is renewed (`None`: kept until the target refuses it).
    renew_at_ms: Option<i64>,
    /// Salesforce's `instance_url`.
    pub instance_url: Option<String>,
    /// Which fetch produced it, so a 401 drops only the token it was sent with.
    pub generation: u64,
}

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token endpoint refused the client; the instance is paused.
    #[error("{0}")]
    Refused(String),
    /// The token endpoint could not be reached or answered garbage; retrying may help.
    #[error("{0}")]
    Unavailable(String),
}

#[derive(Debug)]
enum State {
    Empty,
    Valid(Token),
    Refused { reason: String, until_ms: i64 },
}

pub use crate::services::masking::LiveSecrets;

/// Fetches, caches and renews one connector instance's access token.
pub struct TokenSource {
    config: OAuth2,
    connector: String,
    http: reqwest::Client,
    clock: Clock,
    state: tokio::sync::Mutex<State>,
    generation: AtomicU64,
    requests: AtomicU64,
    live: LiveSecrets,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("connector", &self.connector)
            .field("token_url", &self.config.token_url)
            .field("requests", &self.requests.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The token answer's extra field Salesforce adds.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
struct InstanceFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    instance_url: Option<String>,
}
impl ExtraTokenFields for InstanceFields {}

type TokenClient = Client<
    BasicErrorResponse,
    StandardTokenResponse<InstanceFields, BasicTokenType>,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

impl TokenSource {
    /// A source for connector `connector` on the system clock.
    pub fn new(connector: &str, config: OAuth2) -> Result<Self, String> {
        Self::with_clock(connector, config, Clock::system())
    }

    /// A source on `clock`: the engine's, so token expiry, renewal, the refusal pause and the
    /// assertion's `iat` follow the same "now" as everything else (a manual clock in tests).
    pub fn with_clock(connector: &str, config: OAuth2, clock: Clock) -> Result<Self, String> {
        TokenUrl::new(config.token_url.clone())
            .map_err(|e| format!("token-url `{}`: {e}", config.token_url))?;
        let http = reqwest::Client::builder()
            // The oauth2 crate's advice: a redirect could carry the client's credentials
            // elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TOKEN_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the token client: {e}"))?;
        Ok(Self {
            config,
            connector: connector.to_string(),
            http,
            clock,
            state: tokio::sync::Mutex::new(State::Empty),
            generation: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            live: LiveSecrets::default(),
        })
    }

    /// The setup it serves.
    pub fn config(&self) -> &OAuth2 {
        &self.config
    }

    /// Token requests made so far.
    pub fn token_requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Tokens issued so far, for the masker.
    pub fn live_secrets(&self) -> LiveSecrets {
        self.live.clone()
    }

    /// A valid token: the cached one, or one fetched now. Callers that arrive while a fetch
    /// is under way wait for it and share its result.
    pub async fn token(&self) -> Result<Token, TokenError> {
        let mut state = self.state.lock().await;
        let now = self.clock.now_ms();
        match &*state {
            State::Valid(token) if token.renew_at_ms.is_none_or(|at| now < at) => {
                return Ok(token.clone());
            }
            State::Refused { reason, until_ms } if now < *until_ms => {
                return Err(TokenError::Refused(reason.clone()));
            }
            _ => {}
        }
        match self.fetch(now).await {
            Ok(token) => {
                *state = State::Valid(token.clone());
                Ok(token)
            }
            Err(TokenError::Refused(reason)) => {
                tracing::error!(connector = %self.connector, token_url = %self.config.token_url, %reason, "connector paused: the token endpoint refused its credentials");
                *state = State::Refused {
                    reason: reason.clone(),
                    until_ms: now + PAUSE.as_millis() as i64,
                };
                Err(TokenError::Refused(reason))
            }
            Err(unavailable) => {
                *state = State::Empty;
                Err(unavailable)
            }
        }
    }

    /// The target refused the token of `generation` (401): drop it, so the next request
    /// fetches a new one. A newer token (another caller already renewed it) is kept.
    pub async fn refused(&self, generation: u64) {
        let mut state = self.state.lock().await;
        if matches!(&*state, State::Valid(t) if t.generation == generation) {
            *state = State::Empty;
        }
    }

    async fn fetch(&self, now_ms: i64) -> Result<Token, TokenError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let url = TokenUrl::new(self.config.token_url.clone())
            .map_err(|e| TokenError::Refused(format!("token-url: {e}")))?;
        let answer = match &self.config.grant {
            Grant::ClientSecret {
                client_id,
                client_secret,
            } => {
                let client: TokenClient = Client::new(ClientId::new(client_id.expose().into()))
                    .set_client_secret(ClientSecret::new(client_secret.expose().into()))
                    .set_auth_type(AuthType::RequestBody)
                    .set_token_uri(url);
                client
                    .exchange_client_credentials()
                    .request_async(&|request| exchange(self.http.clone(), request))
                    .await
            }
            Grant::JwtAssertion {
                client_id,
                certificate_id,
                private_key,
                algorithm,
                scope,
            } => {
                let assertion = self.assertion(
                    client_id,
                    certificate_id,
                    private_key,
                    *algorithm,
                    scope,
                    now_ms,
                )?;
                let client: TokenClient = Client::new(ClientId::new(client_id.expose().into()))
                    .set_auth_type(AuthType::RequestBody)
                    .set_token_uri(url);
                client
                    .exchange_client_credentials()
                    .add_extra_param(
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    )
                    .add_extra_param("client_assertion", assertion)
                    .request_async(&|request| exchange(self.http.clone(), request))
                    .await
            }
        };
        let endpoint = &self.config.token_url;
        let response = answer.map_err(|e| match e {
            RequestTokenError::ServerResponse(refusal) => TokenError::Refused(format!(
                "the token endpoint {endpoint} refused the client: {}",
                match refusal.error_description() {
                    Some(d) => format!("{} ({d})", refusal.error()),
                    None => refusal.error().to_string(),
                }
            )),
            RequestTokenError::Request(e) => TokenError::Unavailable(format!(
                "the token endpoint {endpoint} could not be reached: {e}"
            )),
            RequestTokenError::Parse(e, _) => TokenError::Unavailable(format!(
                "the token endpoint {endpoint} answered something that is not a token: {e}"
            )),
            RequestTokenError::Other(e) => {
                TokenError::Unavailable(format!("the token endpoint {endpoint} answered: {e}"))
            }
        })?;
        let access = response.access_token().secret().clone();
        {
            let mut live = self.live.write().expect("live secrets lock");
            live.push(access.clone());
            // Old tokens can still be quoted back for a while; a bounded memory of them.
            let excess = live.len().saturating_sub(16);
            live.drain(..excess);
        }
        let renew_at_ms = response.expires_in().map(|lifetime| {
            let lifetime = lifetime.as_millis() as i64;
            now_ms + (lifetime - RENEW_BEFORE.as_millis() as i64).max(lifetime / 2)
        });
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(connector = %self.connector, token_url = %endpoint, generation, "access token fetched");
        Ok(Token {
            access: Secret::new(access),
            renew_at_ms,
            instance_url: response
                .extra_fields()
                .instance_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_string()),
            generation,
        })
    }

    fn assertion(
        &self,
        client_id: &Secret,
        certificate_id: &str,
        private_key: &Secret,
        algorithm: jsonwebtoken::Algorithm,
        scope: &str,
        now_ms: i64,
    ) -> Result<String, TokenError> {
        #[derive(Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            scope: &'a str,
            aud: &'a str,
            iat: i64,
            exp: i64,
        }
        let pem = private_key.expose().as_bytes();
        let key = match algorithm {
            jsonwebtoken::Algorithm::PS256
            | jsonwebtoken::Algorithm::PS384
            | jsonwebtoken::Algorithm::PS512 => jsonwebtoken::EncodingKey::from_rsa_pem(pem),
            _ => jsonwebtoken::EncodingKey::from_ec_pem(pem),
        }
        .map_err(|e| TokenError::Refused(format!("the private key cannot sign: {e}")))?;
        let mut header = jsonwebtoken::Header::new(algorithm);
        header.kid = Some(certificate_id.to_string());
        header.typ = Some("JWT".into());
        let iat = now_ms / 1000;
        let claims = Claims {
            iss: client_id.expose(),
            scope,
            aud: &self.config.token_url,
            iat,
            exp: iat + ASSERTION_LIFETIME_S,
        };
        jsonwebtoken::encode(&header, &claims, &key)
            .map_err(|e| TokenError::Refused(format!("cannot sign the client assertion: {e}")))
    }
}

/// One token request through reqwest. NetSuite answers `"expires_in": "3600"`, a string where
/// RFC 6749 has a number; the answer is normalised before the `oauth2` crate reads it, so both
/// spellings work.
async fn exchange(
    http: reqwest::Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let answer = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let status = answer.status();
    let headers = answer.headers().clone();
    let mut body = answer.bytes().await?.to_vec();
    if let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_slice(&body)
        && let Some(seconds) = fields
            .get("expires_in")
            .and_then(serde_json::Value::as_str)
            .and_then(|s| s.trim().parse::<u64>().ok())
    {
        fields.insert("expires_in".into(), seconds.into());
        body = serde_json::Value::Object(fields).to_string().into_bytes();
    }
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

/// `PS256` ... `ES384` as `jsonwebtoken` names them.
pub fn algorithm(name: &str) -> Option<jsonwebtoken::Algorithm> {
    use jsonwebtoken::Algorithm::*;
    Some(match name {
        "PS256" => PS256,
        "PS384" => PS384,
        "PS512" => PS512,
        "ES256" => ES256,
        "ES384" => ES384,
        _ => return None,
    })
}
