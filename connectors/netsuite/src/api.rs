//! The SuiteTalk REST requests the connector makes: settings, URLs, keys and sending.

use junction_connector_kit::form::pct;
use junction_connector_kit::{Error, Host, HttpRequest, HttpResponse};

use crate::errors;

/// The record types this connector writes, named by canonical object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `customer` <-> the `customer` record.
    Customer,
    /// `subscription` <-> the SuiteBilling `subscription` record.
    Subscription,
}

impl Kind {
    /// The kind for a canonical object name.
    pub fn parse(object: &str) -> Result<Self, Error> {
        match object {
            "customer" => Ok(Kind::Customer),
            "subscription" => Ok(Kind::Subscription),
            other => Err(Error::Unsupported(format!(
                "the netsuite connector does not handle `{other}` (only customer and subscription)"
            ))),
        }
    }

    /// The REST record type id.
    pub fn record_type(self) -> &'static str {
        match self {
            Kind::Customer => "customer",
            Kind::Subscription => "subscription",
        }
    }
}

/// How writes are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// `Prefer: respond-async` with an idempotency key: 202 and a job.
    Async,
    /// Plain requests answered 204. NetSuite honours no idempotency key on these, so only an
    /// account without asynchronous processing should use them.
    Sync,
}

/// The connector's settings, read from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `https://1234567.suitetalk.api.netsuite.com`, without a trailing slash.
    pub base: String,
    /// How writes are sent.
    pub mode: WriteMode,
}

impl Config {
    /// Reads `account`, `base-url` and `write-mode`. A bad configuration answers `Unauthorized`
    /// because that pauses the connector instance until an operator fixes it, instead of
    /// dead-lettering every write.
    pub fn from_host(host: &dyn Host) -> Result<Self, Error> {
        let setting = |name: &str| {
            host.setting(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let base = match (setting("base-url"), setting("account")) {
            (Some(url), _) => url.trim_end_matches('/').to_string(),
            (None, Some(account)) => default_base_url(&account)?,
            (None, None) => {
                return Err(Error::Unauthorized(
                    "the netsuite connector needs the setting `account` (e.g. 1234567 or 1234567_SB1)".into(),
                ));
            }
        };
        let mode = match setting("write-mode").as_deref() {
            None | Some("async") => WriteMode::Async,
            Some("sync") => WriteMode::Sync,
            Some(other) => {
                return Err(Error::Unauthorized(format!(
                    "the setting `write-mode` must be `async` or `sync`, not `{other}`"
                )));
            }
        };
        Ok(Self { base, mode })
    }

    /// `{base}/services/rest/record/v1/<type>/<id>` where `id` is an internal id or `eid:...`.
    pub fn record_url(&self, kind: Kind, id: &str) -> String {
        format!(
            "{}/services/rest/record/v1/{}/{id}",
            self.base,
            kind.record_type()
        )
    }

    /// `{base}/services/rest/record/v1/<record type>/<id>` for any record type.
    pub fn record_url_named(&self, record_type: &str, id: &str) -> String {
        format!("{}/services/rest/record/v1/{record_type}/{id}", self.base)
    }

    /// One page of a record collection.
    pub fn collection_url(&self, kind: Kind, limit: u64, offset: u64) -> String {
        format!(
            "{}/services/rest/record/v1/{}?limit={limit}&offset={offset}",
            self.base,
            kind.record_type()
        )
    }
}

/// The host NetSuite gives an account: lower case, `_` as `-` (`1234567_SB1` ->
/// `1234567-sb1.suitetalk.api.netsuite.com`).
pub fn default_base_url(account: &str) -> Result<String, Error> {
    if !account
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Error::Unauthorized(format!(
            "the setting `account` must be a NetSuite account id such as 1234567_SB1, not `{account}`"
        )));
    }
    let host = account.to_ascii_lowercase().replace('_', "-");
    Ok(format!("https://{host}.suitetalk.api.netsuite.com"))
}

/// Checks an external id against what NetSuite accepts: letters, digits, `_` and `-`. Anything
/// else would be misread (`|` is a multi-select delimiter), so it is refused up front.
pub fn check_external_id(value: &str, field: &str) -> Result<(), Error> {
    if !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Ok(());
    }
    Err(Error::Rejected {
        message: format!(
            "`{value}` cannot be a NetSuite external id: only letters, digits, `_` and `-` are allowed"
        ),
        field: Some(field.to_string()),
    })
}

/// The URL segment addressing a record by external id: `eid:<key>`.
pub fn eid(key: &str) -> Result<String, Error> {
    check_external_id(key, "id")?;
    Ok(format!("eid:{}", pct(key)))
}

/// Sends a request; only a network failure is an error here (any status is returned).
///
/// A read (`GET`) answered with a server error (500, 502, 503, 504) is asked again at once, at
/// most [`READ_RETRIES`] times: reads change nothing, and one write of a SuiteBilling
/// subscription makes up to ~30 of them (the subscription, its lines, price plans, change
/// orders), so without this a few percent of failing requests fail most attempts of a busy
/// subscription. Writes are never sent again here (their retries belong to the runtime, under
/// their idempotency keys); nor is a read that timed out (the call's deadline is spent), nor
/// an async task's stored result.
pub fn send(host: &dyn Host, request: HttpRequest) -> Result<HttpResponse, Error> {
    let what = format!("{} {}", request.method, request.url);
    // An async task's `.../result` answers with the status the task ended with, a stored
    // answer that asking again cannot change.
    let stored = request
        .url
        .split('?')
        .next()
        .is_some_and(|p| p.ends_with("/result"));
    let retries = if request.method == "GET" && !stored {
        READ_RETRIES
    } else {
        0
    };
    let mut tries = 0;
    loop {
        let response = host
            .send(request.clone())
            .map_err(|reason| Error::transient(format!("{what}: {reason}")))?;
        if tries == retries || !matches!(response.status, 500 | 502 | 503 | 504) {
            return Ok(response);
        }
        tries += 1;
    }
}

/// How many times a read answered with a server error is asked again within one call.
pub const READ_RETRIES: usize = 2;

/// GETs a URL and requires a 2xx answer.
pub fn get_ok(host: &dyn Host, url: String) -> Result<HttpResponse, Error> {
    let response = send(host, HttpRequest::new("GET", url))?;
    if response.is_success() {
        Ok(response)
    } else {
        Err(errors::classify(&response))
    }
}

/// The path of a `Location` header, absolute or relative
/// (`https://x/services/rest/async/v1/job/1` -> `/services/rest/async/v1/job/1`).
pub fn location_path(response: &HttpResponse) -> Option<String> {
    let location = response.header("location")?.trim();
    let path = match location.split_once("://") {
        Some((_, rest)) => &rest[rest.find('/')?..],
        None => location,
    };
    path.starts_with('/').then(|| path.to_string())
}

/// The record's internal id: the last segment of the `Location` path.
pub fn location_id(response: &HttpResponse) -> Option<String> {
    let path = location_path(response)?;
    let id = path.rsplit('/').next()?;
    (!id.is_empty()).then(|| id.to_string())
}
