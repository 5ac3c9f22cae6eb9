//! Sending requests to the org: every answer's `Sforce-Limit-Info` checked against the share
//! of the daily limit Junction may use, and every failure turned into the contract's error
//! (fact sheet §4, §5).

use junction_connector_kit::form::pct;
use junction_connector_kit::{Error, Host, HttpRequest, HttpResponse, Level};
use serde_json::Value;

use crate::config::Config;

/// The shortest and longest wait asked for when the org's API budget is spent.
const MIN_WAIT_MS: u64 = 60_000;
const MAX_WAIT_MS: u64 = 3_600_000;
/// Salesforce's daily limit is a rolling 24 hours (fact sheet §5).
const WINDOW_MS: f64 = 24.0 * 3600.0 * 1000.0;

/// `api-usage=<used>/<limit>` from `Sforce-Limit-Info` (other parts, such as `api-bursts`,
/// are ignored).
pub fn api_usage(response: &HttpResponse) -> Option<(u64, u64)> {
    let info = response.header("sforce-limit-info")?;
    info.split([';', ','])
        .filter_map(|part| part.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("api-usage"))
        .and_then(|(_, v)| {
            let (used, limit) = v.trim().split_once('/')?;
            Some((used.trim().parse().ok()?, limit.trim().parse().ok()?))
        })
        .filter(|(_, limit)| *limit > 0)
}

/// How long to wait once `used` of `limit` is past `share`: as long as an even load takes to
/// age the excess out of the rolling 24 hours, between a minute and an hour.
pub fn backoff_ms(used: u64, limit: u64, share: f64) -> u64 {
    let excess = (used as f64 / limit as f64 - share).max(0.0);
    ((excess * WINDOW_MS) as u64).clamp(MIN_WAIT_MS, MAX_WAIT_MS)
}

/// The requests of one call.
pub struct Api<'h> {
    pub host: &'h dyn Host,
    pub config: Config,
}

impl<'h> Api<'h> {
    pub fn new(host: &'h dyn Host) -> Result<Self, Error> {
        Ok(Self {
            host,
            config: Config::from_host(host)?,
        })
    }

    /// Sends a request; answers the response whatever its status, unless the org is past its
    /// share of the API budget (rate-limited) or the request did not get through (transient).
    pub fn send(&self, request: HttpRequest) -> Result<HttpResponse, Error> {
        let summary = format!("{} {}", request.method, request.url);
        let response = self
            .host
            .send(request)
            .map_err(|e| Error::transient(format!("{summary}: {e}")))?;
        if let Some((used, limit)) = api_usage(&response)
            && used as f64 >= self.config.share * limit as f64
        {
            let wait = backoff_ms(used, limit, self.config.share);
            self.host.log(
                Level::Warn,
                &format!(
                    "the org has used {used} of its {limit} daily API requests, past the {}% Junction may use: backing off {} s",
                    (self.config.share * 100.0).round(),
                    wait / 1000
                ),
            );
            return Err(Error::RateLimited(Some(wait)));
        }
        Ok(response)
    }

    /// Sends a request and answers its JSON body if it succeeded, its error otherwise.
    pub fn ok(&self, request: HttpRequest) -> Result<Value, Error> {
        let response = self.send(request)?;
        if response.is_success() {
            Ok(response.json())
        } else {
            Err(classify(&response))
        }
    }

    /// A SOQL query's first batch (`batch` records asked for, 200..=2000, fact sheet §6).
    pub fn query(&self, soql: &str, all: bool, batch: u32) -> Result<Value, Error> {
        let resource = if all { "queryAll" } else { "query" };
        let url = format!("{}/{resource}?q={}", self.config.root(), pct(soql));
        self.ok(HttpRequest::new("GET", url).header(
            "Sforce-Query-Options",
            format!("batchSize={}", batch.clamp(200, 2000)),
        ))
    }

    /// The next batch of a query: `nextRecordsUrl` is a path on the instance.
    pub fn more(&self, next: &str) -> Result<Value, Error> {
        if !next.starts_with("/services/data/") {
            return Err(Error::rejected(format!(
                "`{next}` is not a Salesforce nextRecordsUrl"
            )));
        }
        self.ok(HttpRequest::new(
            "GET",
            format!("{}{next}", self.config.base),
        ))
    }
}

/// A text literal in SOQL: quotes and backslashes escaped.
pub fn soql_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// One entry of an error array: `errorCode` for a request, `statusCode` for one record of an
/// sObject Collections result (fact sheet §3, §4).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Failure {
    pub code: String,
    pub message: String,
    pub fields: Vec<String>,
}

impl Failure {
    pub fn from_json(v: &Value) -> Self {
        let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
        let code = if text("errorCode").is_empty() {
            text("statusCode")
        } else {
            text("errorCode")
        };
        Self {
            code: code.to_owned(),
            message: text("message").to_owned(),
            fields: v
                .get("fields")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// The error array of a response (a single object is taken as an array of one).
pub fn failures(body: &Value) -> Vec<Failure> {
    match body {
        Value::Array(items) => items.iter().map(Failure::from_json).collect(),
        Value::Object(_) => vec![Failure::from_json(body)],
        _ => Vec::new(),
    }
}

/// Codes that say the record, as sent, will never save: the field is named when Salesforce
/// names one.
const REJECTED: &[&str] = &[
    "FIELD_CUSTOM_VALIDATION_EXCEPTION",
    "DUPLICATE_VALUE",
    "DUPLICATES_DETECTED",
    "REQUIRED_FIELD_MISSING",
    "INVALID_FIELD",
    "INVALID_FIELD_FOR_INSERT_UPDATE",
    "STRING_TOO_LONG",
    "MALFORMED_ID",
    "INVALID_EMAIL_ADDRESS",
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    "JSON_PARSER_ERROR",
    "MALFORMED_QUERY",
    "INVALID_TYPE",
    "ENTITY_IS_DELETED",
    "INVALID_CROSS_REFERENCE_KEY",
    "DUPLICATE_EXTERNAL_ID",
];

/// A failed answer as the contract's error: status first, then the error array's code.
pub fn classify(response: &HttpResponse) -> Error {
    let status = response.status;
    let body = response.json();
    let items = failures(&body);
    let first = items.first().cloned().unwrap_or_default();
    let described = if items.is_empty() {
        format!("HTTP {status}")
    } else {
        items
            .iter()
            .map(|f| format!("{}: {}", f.code, f.message))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let locked = items.iter().any(|f| {
        f.code == "UNABLE_TO_LOCK_ROW"
            || (f.code == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
                && f.message.contains("UNABLE_TO_LOCK_ROW"))
    });
    match status {
        300 => several(&body, None),
        401 => Error::Unauthorized(described),
        403 if first.code == "REQUEST_LIMIT_EXCEEDED" => Error::RateLimited(Some(
            api_usage(response).map_or(15 * 60_000, |(used, limit)| backoff_ms(used, limit, 1.0)),
        )),
        // Not Salesforce's org-limit signal, but an edge in front of it may throttle so.
        429 => Error::RateLimited(response.retry_after_ms()),
        403 => Error::Unauthorized(described),
        404 => Error::NotFound(described),
        409 | 412 => Error::Conflict(described),
        _ if locked => Error::Conflict(described),
        500..=599 => Error::Transient {
            message: described,
            retry_after_ms: response.retry_after_ms(),
        },
        400 if first.code == "INVALID_FIELD"
            && first.message.contains("Foreign key external ID")
            && first.message.contains("not found") =>
        {
            // The account a subscription names is not in Salesforce yet: its own write may
            // still be on the way, so this is worth trying again.
            Error::NotFound(described)
        }
        400 if first.code == "INVALID_QUERY_LOCATOR" => Error::rejected(format!(
            "{described} (the listing's query locator expired: start the listing again)"
        )),
        _ => Error::Rejected {
            field: rejected_field(&items),
            message: described,
        },
    }
}

/// The field a rejection names: the first entry's `fields`, else for a duplicate the field in
/// its message (`duplicate value found: <Field__c> duplicates value on record with id: ..`).
fn rejected_field(items: &[Failure]) -> Option<String> {
    let first = items.first()?;
    if !REJECTED.contains(&first.code.as_str()) && first.fields.is_empty() {
        return None;
    }
    first.fields.first().cloned().or_else(|| {
        first
            .message
            .strip_prefix("duplicate value found: ")
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
    })
}

/// 300: several records carry one external id; nothing was written (fact sheet §2). The
/// rejection names the field and the value when the caller knows them.
pub fn several(body: &Value, key: Option<(&str, &str, &str)>) -> Error {
    let urls: Vec<&str> = body
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let found = if urls.is_empty() {
        "300 Multiple Choices".to_owned()
    } else {
        urls.join(", ")
    };
    match key {
        Some((object, field, value)) => Error::Rejected {
            message: format!(
                "several {object} records have {field} = `{value}` ({found}): merge them or make {field} unique"
            ),
            field: Some(field.to_owned()),
        },
        None => Error::rejected(format!(
            "several records match the external id ({found}): merge them or make the field unique"
        )),
    }
}
