//! The one hook every outbound guest request passes: a budget of requests per call, allow-list
//! by host name and by resolved address, host-side authentication bound to the credentials'
//! origin, the trace-context header, a timeout, and a journal of method, URL, status and
//! latency for the audit trail.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use http::uri::{Authority, Scheme};
use wasmtime_wasi_http::{DEFAULT_FORBIDDEN_HEADERS, RequestOptions, WasiBody, WasiHttpHooks};

use super::oauth1::Tba;
use super::oauth2::{TokenError, TokenSource};
use crate::services::secret::Secret;

/// The largest request body the host keeps to send again after a refused OAuth 2.0 token.
const MAX_REPLAYABLE_BODY: usize = 8 << 20;

/// How a connector instance authenticates; the host adds the header, the guest never sees it.
#[derive(Debug, Clone, Default)]
pub enum Auth {
    /// No credentials.
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// `Authorization: Basic base64(user:password)`.
    Basic {
        /// User name.
        username: Secret,
        /// Password.
        password: Secret,
    },
    /// OAuth 1.0a token-based authentication, HMAC-SHA256 (NetSuite TBA).
    OAuth1(Tba),
    /// An OAuth 2.0 access token the host fetches and renews (Salesforce client credentials,
    /// NetSuite machine-to-machine); a request the target answers 401 is sent once more with a
    /// new token.
    OAuth2(Arc<TokenSource>),
}

impl Auth {
    /// Every credential value, for masking: tokens, keys, secrets, and the `user:password` a
    /// Basic header encodes.
    pub fn values(&self) -> Vec<String> {
        match self {
            Auth::None => Vec::new(),
            Auth::Bearer(token) => vec![token.expose().to_string()],
            Auth::Basic { username, password } => vec![
                username.expose().to_string(),
                password.expose().to_string(),
                format!("{}:{}", username.expose(), password.expose()),
            ],
            Auth::OAuth1(tba) => vec![
                tba.consumer_key.expose().to_string(),
                tba.consumer_secret.expose().to_string(),
                tba.token.expose().to_string(),
                tba.token_secret.expose().to_string(),
            ],
            // The access tokens themselves reach the masker as they are issued
            // (`TokenSource::live_secrets`).
            Auth::OAuth2(source) => source.config().values(),
        }
    }
}

/// Where a connector instance may send requests, and how.
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    /// Host rules: `api.stripe.com`, `*.suitetalk.api.netsuite.com`, or an IP literal. Loopback,
    /// private and link-local addresses are reachable only through a rule that names them
    /// literally (`127.0.0.1`, `localhost`): a name that merely resolves there is refused.
    pub allow_hosts: Vec<String>,
    /// Credentials added to requests to `credential_origins`, and to no others.
    pub auth: Auth,
    /// The exact origins (scheme, host, port) the credentials belong to: the connector's
    /// `base-url` (and an OAuth token endpoint). A request to another scheme or port of an
    /// allowed host goes without them, and so does plain HTTP to anything but a loopback
    /// address the pipeline names.
    pub credential_origins: Vec<Origin>,
    /// Deadline for each request, from connect to the response head.
    pub timeout: Duration,
}

impl Default for EgressPolicy {
    fn default() -> Self {
        Self {
            allow_hosts: Vec::new(),
            auth: Auth::None,
            credential_origins: Vec::new(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// A URL's origin: scheme, host (lower case, without brackets) and port (the scheme's default
/// when the URL gives none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `https` or `http`.
    pub scheme: String,
    /// The host.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl Origin {
    /// The origin of an absolute `http(s)://` URL.
    pub fn of_url(url: &str) -> Result<Origin, String> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        Origin::of_uri(&uri).ok_or_else(|| format!("`{url}` is not an absolute http(s) URL"))
    }

    fn of_uri(uri: &http::Uri) -> Option<Origin> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return None,
        };
        let host = uri
            .host()?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        Some(Origin {
            port: uri.port_u16().unwrap_or(default_port),
            scheme,
            host,
        })
    }

    /// Whether credentials may travel to this origin at all: over HTTPS, or over plain HTTP to
    /// a loopback address (a simulator the pipeline names), never in clear text elsewhere.
    fn may_carry_credentials(&self) -> bool {
        self.scheme == "https"
            || self.host == "localhost"
            || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// The outbound requests one call may still make: a total, and a number waiting for an answer
/// at once. A connector that opens thousands of connections is stopped at the budget.
#[derive(Debug)]
pub(crate) struct RequestBudget {
    total: usize,
    in_flight: usize,
    sent: AtomicUsize,
    waiting: AtomicUsize,
}

impl RequestBudget {
    pub(crate) fn new(total: usize, in_flight: usize) -> Self {
        Self {
            total: total.max(1),
            in_flight: in_flight.max(1),
            sent: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Takes one request from the budget, or says which limit it would break.
    fn take(self: &Arc<Self>) -> Result<InFlight, String> {
        if self.sent.fetch_add(1, Ordering::SeqCst) >= self.total {
            return Err(format!("more than {} requests in one call", self.total));
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.in_flight {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(format!(
                "more than {} requests waiting for an answer at once",
                self.in_flight
            ));
        }
        Ok(InFlight(self.clone()))
    }
}

/// A request waiting for its answer; gives its place back when dropped.
struct InFlight(Arc<RequestBudget>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One outbound request as the audit trail records it. The URL carries no query string, which
/// may hold personal data.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Exchange {
    /// HTTP method.
    pub method: String,
    /// `scheme://host/path`.
    pub url: String,
    /// Response status, if one arrived.
    pub status: Option<u16>,
    /// Time to the response head.
    pub latency_ms: u64,
    /// Why it failed, if it did (denials included).
    pub error: Option<String>,
}

/// A rule the guest broke during a call. Any violation turns the call's result into a typed
/// host error, whatever the guest made of it.
#[derive(Debug, Clone, PartialEq)]
pub enum Violation {
    /// A request to a destination the policy does not allow.
    EgressDenied {
        /// The URL (without query).
        url: String,
        /// Which rule refused it.
        rule: String,
    },
    /// The guest tried to set a header only the host may set.
    ForbiddenHeader(String),
    /// No access token: the token endpoint refused the client, or could not be reached.
    Token(TokenError),
}

/// What a call's requests did, shared between the hook and the caller.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    pub exchanges: Vec<Exchange>,
    pub violations: Vec<Violation>,
}

pub(crate) struct EgressHooks {
    pub policy: Arc<EgressPolicy>,
    pub connector: Arc<str>,
    pub traceparent: Option<String>,
    pub journal: Arc<Mutex<Journal>>,
    pub budget: Arc<RequestBudget>,
    /// The instance's clock (OAuth 1.0 signatures carry a timestamp).
    pub clock: crate::services::clock::Clock,
}

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for EgressHooks {
    fn is_forbidden_header(&mut self, name: &HeaderName) -> bool {
        if *name == AUTHORIZATION || name.as_str() == "cookie" {
            self.journal
                .lock()
                .expect("journal lock")
                .violations
                .push(Violation::ForbiddenHeader(name.to_string()));
            tracing::warn!(connector = %self.connector, header = %name, "connector tried to set a header only the host may set");
            return true;
        }
        DEFAULT_FORBIDDEN_HEADERS.contains(name)
    }

    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendFuture {
        let policy = self.policy.clone();
        let journal = self.journal.clone();
        let connector = self.connector.clone();
        let traceparent = self.traceparent.clone();
        let budget = self.budget.clone();
        let clock = self.clock.clone();
        Box::new(async move {
            let method = request.method().to_string();
            let url = display_url(request.uri());
            // The origin as the guest addressed it (plain HTTP is pinned to an address below).
            let origin = Origin::of_uri(request.uri());
            let started = Instant::now();
            let record = |status: Option<u16>, error: Option<String>| {
                journal
                    .lock()
                    .expect("journal lock")
                    .exchanges
                    .push(Exchange {
                        method: method.clone(),
                        url: url.clone(),
                        status,
                        latency_ms: started.elapsed().as_millis() as u64,
                        error,
                    });
            };
            let _in_flight = match budget.take() {
                Ok(taken) => taken,
                Err(rule) => {
                    tracing::warn!(connector = %connector, %method, %url, %rule, "outbound request refused: request budget spent");
                    journal.lock().expect("journal lock").violations.push(
                        Violation::EgressDenied {
                            url: url.clone(),
                            rule: rule.clone(),
                        },
                    );
                    record(None, Some(format!("denied: {rule}")));
                    return Err(wasmtime_wasi_http::Error::HttpRequestDenied);
                }
            };
            if let Err(rule) = check_destination(&policy, &mut request).await {
                tracing::warn!(connector = %connector, %method, %url, %rule, "outbound request denied");
                journal
                    .lock()
                    .expect("journal lock")
                    .violations
                    .push(Violation::EgressDenied {
                        url: url.clone(),
                        rule: rule.clone(),
                    });
                record(None, Some(format!("denied: {rule}")));
                return Err(wasmtime_wasi_http::Error::HttpRequestDenied);
            }
            let credentials_belong_here = origin.as_ref().is_some_and(|o| {
                o.may_carry_credentials() && policy.credential_origins.contains(o)
            });
            if !credentials_belong_here && !matches!(policy.auth, Auth::None) {
                tracing::debug!(connector = %connector, %method, %url, "request sent without credentials: not their origin");
            }
            if let Some(tp) = traceparent
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok())
            {
                request
                    .headers_mut()
                    .insert(HeaderName::from_static("traceparent"), tp);
            }
            let options = RequestOptions {
                connect_timeout: Some(policy.timeout),
                first_byte_timeout: Some(policy.timeout),
                between_bytes_timeout: Some(
                    options
                        .and_then(|o| o.between_bytes_timeout)
                        .unwrap_or(policy.timeout),
                ),
            };
            let sent = match (&policy.auth, credentials_belong_here) {
                (Auth::OAuth2(source), true) => {
                    match send_with_token(source, request, options, policy.timeout).await {
                        Ok(sent) => sent,
                        Err(Refusal::Token(e)) => {
                            tracing::warn!(connector = %connector, %method, %url, error = %e, "outbound request not sent: no access token");
                            record(None, Some(e.to_string()));
                            journal
                                .lock()
                                .expect("journal lock")
                                .violations
                                .push(Violation::Token(e));
                            return Err(wasmtime_wasi_http::Error::HttpRequestDenied);
                        }
                        Err(Refusal::Body(e)) => {
                            record(None, Some(format!("{e:?}")));
                            return Err(e);
                        }
                    }
                }
                (auth, belongs) => {
                    let signed = belongs
                        .then(|| authorization(auth, &method, request.uri(), &clock))
                        .flatten();
                    if let Some(value) = signed {
                        let mut value = HeaderValue::from_str(&value)
                            .map_err(|_| wasmtime_wasi_http::Error::ConfigurationError)?;
                        value.set_sensitive(true);
                        request.headers_mut().insert(AUTHORIZATION, value);
                    }
                    send(request, options, policy.timeout).await
                }
            };
            match sent {
                Ok((response, io)) => {
                    record(Some(response.status().as_u16()), None);
                    Ok((response, io))
                }
                Err(e) => {
                    record(None, Some(e.to_string()));
                    Err(e.into())
                }
            }
        })
    }
}

/// A response and the connection task that feeds its body.
type Sent = (
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
);

/// Why a request was not sent.
enum SendError {
    Failed(wasmtime_wasi_http::Error),
    TimedOut(Duration),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Failed(e) => write!(f, "{e:?}"),
            SendError::TimedOut(d) => write!(f, "timed out after {d:?}"),
        }
    }
}

impl From<SendError> for wasmtime_wasi_http::Error {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Failed(e) => e,
            SendError::TimedOut(_) => wasmtime_wasi_http::Error::ConnectionTimeout,
        }
    }
}

async fn send(
    request: http::Request<WasiBody>,
    options: RequestOptions,
    timeout: Duration,
) -> Result<Sent, SendError> {
    use http_body_util::BodyExt;
    match tokio::time::timeout(
        timeout,
        wasmtime_wasi_http::default_send_request(request, Some(options)),
    )
    .await
    {
        Ok(Ok((response, io))) => Ok((
            response.map(BodyExt::boxed_unsync),
            Box::new(io) as Box<dyn Future<Output = _> + Send>,
        )),
        Ok(Err(e)) => Err(SendError::Failed(e)),
        Err(_) => Err(SendError::TimedOut(timeout)),
    }
}

enum Refusal {
    Token(TokenError),
    Body(wasmtime_wasi_http::Error),
}

/// Sends with the instance's access token; when the target answers 401, drops that token and
/// sends once more with a new one (the body is kept for that, up to [`MAX_REPLAYABLE_BODY`]).
async fn send_with_token(
    source: &TokenSource,
    request: http::Request<WasiBody>,
    options: RequestOptions,
    timeout: Duration,
) -> Result<Result<Sent, SendError>, Refusal> {
    use http_body_util::{BodyExt, Full, Limited};
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, MAX_REPLAYABLE_BODY)
        .collect()
        .await
        .map_err(|_| {
            Refusal::Body(wasmtime_wasi_http::Error::HttpRequestBodySize(Some(
                MAX_REPLAYABLE_BODY as u64,
            )))
        })?
        .to_bytes();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let token = source.token().await.map_err(Refusal::Token)?;
        let mut request = http::Request::new(
            Full::new(body.clone())
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = parts.uri.clone();
        *request.version_mut() = parts.version;
        *request.headers_mut() = parts.headers.clone();
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.access.expose()))
            .map_err(|_| Refusal::Body(wasmtime_wasi_http::Error::ConfigurationError))?;
        value.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, value);
        let sent = send(request, options, timeout).await;
        let refused = matches!(&sent, Ok((r, _)) if r.status() == http::StatusCode::UNAUTHORIZED);
        if !refused {
            return Ok(sent);
        }
        source.refused(token.generation).await;
        if attempt > 1 {
            return Ok(sent);
        }
        tracing::info!(
            generation = token.generation,
            "the target answered 401 to the access token; sending again with a new one"
        );
    }
}

fn display_url(uri: &http::Uri) -> String {
    format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("https"),
        uri.authority().map_or("", Authority::as_str),
        uri.path()
    )
}

/// Checks the request's destination against the policy, by name and by resolved address. For
/// plain HTTP the request is pinned to the checked address so a second DNS answer cannot
/// redirect it; over HTTPS the certificate check binds the connection to the name.
async fn check_destination(
    policy: &EgressPolicy,
    request: &mut http::Request<WasiBody>,
) -> Result<(), String> {
    let uri = request.uri().clone();
    let scheme = uri.scheme().cloned().unwrap_or(Scheme::HTTPS);
    if scheme != Scheme::HTTPS && scheme != Scheme::HTTP {
        return Err(format!("scheme `{scheme}` is not allowed"));
    }
    let host = uri
        .host()
        .ok_or("request has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let rule = policy
        .allow_hosts
        .iter()
        .find(|rule| host_matches(rule, &host))
        .ok_or_else(|| {
            format!(
                "host `{host}` is not in allow-hosts [{}]",
                policy.allow_hosts.join(", ")
            )
        })?;
    let literal_rule = rule.parse::<IpAddr>().is_ok() || rule.eq_ignore_ascii_case("localhost");
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == Scheme::HTTPS { 443 } else { 80 });
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot resolve `{host}`: {e}"))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(format!("`{host}` resolved to no address"));
    }
    for addr in &addrs {
        if is_internal(addr.ip()) && !literal_rule {
            return Err(format!(
                "`{host}` resolves to internal address {} (loopback, private and link-local addresses need a literal rule)",
                addr.ip()
            ));
        }
    }
    if scheme == Scheme::HTTP && host.parse::<IpAddr>().is_err() {
        let pinned = addrs[0];
        let mut parts = uri.into_parts();
        parts.authority = Some(
            pinned
                .to_string()
                .parse()
                .map_err(|_| "cannot pin the resolved address".to_string())?,
        );
        *request.uri_mut() = http::Uri::from_parts(parts).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn host_matches(rule: &str, host: &str) -> bool {
    let rule = rule.trim().to_ascii_lowercase();
    match rule.strip_prefix("*.") {
        Some(suffix) => {
            host.len() > suffix.len() + 1
                && host.ends_with(suffix)
                && host[..host.len() - suffix.len()].ends_with('.')
        }
        None => rule == host,
    }
}

/// Whether a host name is an internal address literal (or `localhost`): reachable only through
/// an allow-hosts rule that names it.
pub fn is_internal_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(is_internal)
}

/// Loopback, private, link-local (cloud metadata lives at 169.254.169.254), shared, unspecified,
/// multicast and the IPv6 equivalents.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
                || v4.octets()[0] == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

fn authorization(
    auth: &Auth,
    method: &str,
    uri: &http::Uri,
    clock: &crate::services::clock::Clock,
) -> Option<String> {
    use base64::Engine as _;
    match auth {
        Auth::None => None,
        Auth::Bearer(token) => Some(format!("Bearer {}", token.expose())),
        Auth::Basic { username, password } => Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                username.expose(),
                password.expose()
            ))
        )),
        Auth::OAuth1(tba) => {
            let nonce: String = {
                use rand::Rng;
                let bytes: [u8; 16] = rand::rng().random();
                hex::encode(bytes)
            };
            let timestamp = clock.since_epoch().as_secs();
            Some(tba.authorization(method, uri, &nonce, timestamp))
        }
        // Needs an await: added by `send_with_token`.
        Auth::OAuth2(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_rules_match_subdomains_only() {
        assert!(host_matches(
            "*.suitetalk.api.netsuite.com",
            "1234567.suitetalk.api.netsuite.com"
        ));
        assert!(!host_matches(
            "*.suitetalk.api.netsuite.com",
            "suitetalk.api.netsuite.com"
        ));
        assert!(!host_matches(
            "*.suitetalk.api.netsuite.com",
            "evilsuitetalk.api.netsuite.com"
        ));
        assert!(host_matches("API.stripe.com", "api.stripe.com"));
        assert!(!host_matches(
            "api.stripe.com",
            "api.stripe.com.evil.example"
        ));
    }

    #[test]
    fn credentials_travel_over_https_or_to_loopback_only() {
        let origin = |url: &str| Origin::of_url(url).unwrap();
        assert_eq!(
            origin("https://API.stripe.com/v1"),
            Origin {
                scheme: "https".into(),
                host: "api.stripe.com".into(),
                port: 443
            }
        );
        assert_eq!(origin("http://127.0.0.1:4010").port, 4010);
        assert!(origin("https://api.stripe.com").may_carry_credentials());
        assert!(origin("http://127.0.0.1:4010").may_carry_credentials());
        assert!(origin("http://[::1]:4010").may_carry_credentials());
        assert!(origin("http://localhost:4010").may_carry_credentials());
        assert!(!origin("http://api.stripe.com").may_carry_credentials());
        assert!(!origin("http://10.0.0.5:8080").may_carry_credentials());
        assert_ne!(
            origin("https://api.stripe.com"),
            origin("https://api.stripe.com:8443")
        );
        assert!(Origin::of_url("ftp://api.stripe.com").is_err());
    }

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "100.64.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "54.187.174.169", "2606:4700::1111"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }
}
