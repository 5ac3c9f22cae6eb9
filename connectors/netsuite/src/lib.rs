//! Junction's NetSuite connector: a sink for canonical customers and subscriptions over the
//! SuiteTalk REST record API.
//!
//! ```text
//! apply(write) --mapping--> PUT  record/v1/<type>/eid:<key>   (upsert; delete -> PATCH close)
//!                             202 + Location: job  -> accepted(job)  --job_status--> job/task/result
//!                             204 + Location: id   -> applied(id)
//! fetch/list   <--mapping-- GET  record/v1/<type>/eid:<key> | ?limit&offset
//! ```
//!
//! Records are addressed by external id (the source system's id), so one entity always lands on
//! one NetSuite record. Writes go asynchronously by default with `Prefer: respond-async` and the
//! write's idempotency key, which is what makes a retry after a crash safe: NetSuite answers a
//! repeated key with the original job, and the connector follows that job. The exact canonical
//! values travel in custom fields (`docs/netsuite-mapping.md`) so a read-back compares equal.
//! Authentication (OAuth 1.0 TBA or an OAuth 2.0 bearer) is added by the host.

mod api;
mod errors;
mod jobs;
mod mapping;
mod money;
#[cfg(test)]
mod tests;

use junction_connector_kit::form::pct;
use junction_connector_kit::{
    Connector, DocumentPage, Error, Host, HttpRequest, HttpResponse, JobState, KeyedDocument,
    Level, Manifest, Operation, Outcome, SettingSpec, Write,
};

use api::{Config, Kind, WriteMode};

/// Most records NetSuite returns in one collection page.
const MAX_PAGE: u64 = 1000;

/// The NetSuite connector.
pub struct NetSuite;

impl Connector for NetSuite {
    fn describe() -> Manifest {
        let setting = |name: &str, description: &str, required: bool| SettingSpec {
            name: name.into(),
            description: description.into(),
            required,
            sensitive: false,
        };
        Manifest {
            name: "netsuite".into(),
            version: "0.1.0".into(),
            description: "NetSuite SuiteTalk REST: customers and SuiteBilling subscriptions, upserted by external id".into(),
            source_objects: Vec::new(),
            sink_objects: vec!["customer".into(), "subscription".into()],
            hosts: vec!["*.suitetalk.api.netsuite.com".into()],
            settings: vec![
                setting("account", "The NetSuite account id, e.g. 1234567 or 1234567_SB1 for a sandbox", true),
                setting(
                    "base-url",
                    "The REST host; defaults to https://<account, lower case, _ as ->.suitetalk.api.netsuite.com",
                    false,
                ),
                setting(
                    "write-mode",
                    "`async` (default: Prefer: respond-async with the idempotency key) or `sync`",
                    false,
                ),
            ],
            secrets: Vec::new(),
            webhooks: false,
            polling: false,
            async_writes: true,
            future_dated_writes: false,
        }
    }

    fn apply(host: &dyn Host, write: Write) -> Result<Outcome, Error> {
        let config = Config::from_host(host)?;
        let kind = Kind::parse(&write.object)?;
        let url = config.record_url(kind, &api::eid(&write.key)?);
        // A delete that carries the entity's final state (Stripe's cancelled subscription, with
        // its billing stop date) is written whole, so the read-back shows every final value;
        // without a document the record is only closed.
        let has_final_state = serde_json::from_str::<serde_json::Value>(&write.document)
            .is_ok_and(|d| d.get("id").is_some());
        let (method, body) = match write.operation {
            Operation::Delete if !has_final_state => {
                ("PATCH", mapping::close_record(kind, write.effective_at))
            }
            Operation::Create | Operation::Update | Operation::Snapshot | Operation::Delete => (
                "PUT",
                mapping::to_record(kind, &write.document, write.effective_at)?,
            ),
        };
        let request = |mode: WriteMode| {
            let mut request = HttpRequest::new(method, url.clone())
                .header("Content-Type", "application/json")
                .header("X-NetSuite-PropertyNameValidation", "error")
                .body(body.to_string());
            if mode == WriteMode::Async {
                request = request.header("Prefer", "respond-async");
                if !write.idempotency_key.is_empty() {
                    request =
                        request.header("X-NetSuite-Idempotency-Key", write.idempotency_key.clone());
                }
            }
            request
        };
        let response = api::send(host, request(config.mode))?;
        let Some(original) = replayed_job(&response) else {
            return outcome(&response, &write.key);
        };
        // The key was used before (a retry after a crash or a lost answer): follow the job it
        // started. Only if that job failed in a way a retry could fix (including a referenced
        // record that did not exist yet) is the write sent again, synchronously, since NetSuite
        // would answer the same key with the same failed job; the upsert by external id makes
        // sending it again harmless.
        let original = jobs::job_ref(&original, &write.key);
        match jobs::job_status(host, &config, &original) {
            Ok(JobState::Failed(
                Error::Transient { .. }
                | Error::RateLimited(_)
                | Error::Conflict(_)
                | Error::NotFound(_),
            )) => {
                host.log(Level::Info, &format!("job {original} failed and may pass now: sending the write again synchronously"));
                outcome(&api::send(host, request(WriteMode::Sync))?, &write.key)
            }
            _ => Ok(Outcome::Accepted(original)),
        }
    }

    fn job_status(host: &dyn Host, job: &str) -> Result<JobState, Error> {
        jobs::job_status(host, &Config::from_host(host)?, job)
    }

    fn fetch(host: &dyn Host, object: &str, key: &str) -> Result<Option<String>, Error> {
        let config = Config::from_host(host)?;
        let kind = Kind::parse(object)?;
        match get_record(host, &config, kind, &api::eid(key)?)? {
            Some(record) => Ok(Some(mapping::from_record(kind, &record, key)?)),
            None => Ok(None),
        }
    }

    fn list(
        host: &dyn Host,
        object: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<DocumentPage, Error> {
        let config = Config::from_host(host)?;
        let kind = Kind::parse(object)?;
        let offset = match cursor.as_deref() {
            None | Some("") => 0,
            Some(c) => c
                .parse::<u64>()
                .map_err(|_| Error::rejected(format!("`{c}` is not a netsuite list cursor")))?,
        };
        let limit = u64::from(limit).clamp(1, MAX_PAGE);
        // NetSuite refuses an offset that is not a multiple of the limit.
        let limit = if offset == 0 {
            limit
        } else {
            gcd(offset, limit)
        };
        let page = api::get_ok(host, config.collection_url(kind, limit, offset))?.json();
        let mut items = Vec::new();
        for entry in page["items"].as_array().into_iter().flatten() {
            let id = match &entry["id"] {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => continue,
            };
            // Gone since the page was read: nothing to reconcile.
            let Some(record) = get_record(host, &config, kind, &pct(&id))? else {
                continue;
            };
            // A record without an external id was not made from any source entity.
            let Some(key) = record["externalId"].as_str().map(str::to_string) else {
                continue;
            };
            match mapping::from_record(kind, &record, &key) {
                Ok(document) => items.push(KeyedDocument { key, document }),
                Err(e) => host.log(
                    Level::Warn,
                    &format!("skipping {} {id} ({key}): {e}", kind.record_type()),
                ),
            }
        }
        let next_cursor =
            (page["hasMore"].as_bool() == Some(true)).then(|| (offset + limit).to_string());
        Ok(DocumentPage { items, next_cursor })
    }
}

/// A record with its sublists (`subscriptionLine`), or `None` if NetSuite has no such record.
fn get_record(
    host: &dyn Host,
    config: &Config,
    kind: Kind,
    id: &str,
) -> Result<Option<serde_json::Value>, Error> {
    let url = format!("{}?expandSubResources=true", config.record_url(kind, id));
    let response = api::send(host, HttpRequest::new("GET", url))?;
    match response.status {
        404 => Ok(None),
        _ if response.is_success() => Ok(Some(response.json())),
        _ => Err(errors::classify(&response)),
    }
}

/// The original job's path when NetSuite says this idempotency key was already submitted.
fn replayed_job(response: &HttpResponse) -> Option<String> {
    let duplicate = matches!(response.status, 400 | 409)
        && errors::ErrorDetail::of(response).code == errors::IDEMPOTENCY_ERROR;
    duplicate.then(|| api::location_path(response)).flatten()
}

/// What a write's answer means: 202 a job, 2xx the record's id, anything else an error.
fn outcome(response: &HttpResponse, key: &str) -> Result<Outcome, Error> {
    match response.status {
        202 => api::location_path(response)
            .map(|path| Outcome::Accepted(jobs::job_ref(&path, key)))
            .ok_or_else(|| {
                Error::transient("NetSuite accepted the write (202) without a job Location")
            }),
        // A PATCH answers 204 without a Location: the external id names the record then.
        200..=299 => Ok(Outcome::Applied(
            api::location_id(response).unwrap_or_else(|| key.to_string()),
        )),
        _ => Err(errors::classify(response)),
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

junction_connector_kit::export_connector!(NetSuite);
