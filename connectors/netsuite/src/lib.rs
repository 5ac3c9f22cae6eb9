//! Junction's NetSuite connector: a sink for canonical customers and SuiteBilling
//! subscriptions over the SuiteTalk REST record API, as `docs/netsuite-mapping.md` maps them.
//!
//! ```text
//! customer:     PUT record/v1/customer/eid:<key>                        -> accepted(job)
//! subscription: read it with its lines -> the next step (billing account, price plans,
//!               subscription, lines, change orders)                      -> in-progress(job)
//!               ... until nothing but change orders is left              -> accepted(job)
//! job_status:   job -> task -> result
//! fetch/list:   GET record/v1/<type>/eid:<key>, references followed to their external ids
//! expected:     the document as NetSuite keeps it (dates, coarser status, no Stripe ids)
//! ```
//!
//! Records are addressed by external id (the source system's id), so one entity always lands on
//! one NetSuite record. Writes go asynchronously with `Prefer: respond-async` and an idempotency
//! key per step, which is what makes a retry after a crash safe: NetSuite answers a repeated key
//! with the original job, and the connector follows that job. Junction needs no custom fields.
//! Authentication (OAuth 1.0 TBA or an OAuth 2.0 bearer) is added by the host.

mod api;
mod billing;
mod errors;
mod jobs;
mod keys;
mod mapping;
mod money;
mod references;
mod steps;
#[cfg(test)]
mod tests;

use junction_connector_kit::form::pct;
use junction_connector_kit::{
    Connector, DocumentPage, Error, Host, HttpRequest, JobState, KeyedDocument, Level, Manifest,
    Operation, Outcome, SettingSpec, Write,
};

use api::{Config, Kind};
use steps::Step;

/// Most records NetSuite returns in one collection page.
const MAX_PAGE: u64 = 1000;

/// Steps of one write planned in one call when NetSuite answers them synchronously
/// (`write-mode = sync`): a subscription takes at most five.
const MAX_SYNC_STEPS: usize = 8;

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
            version: "0.2.0".into(),
            description: "NetSuite SuiteTalk REST: customers, and SuiteBilling subscriptions through change orders".into(),
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
                    "`async` (default: Prefer: respond-async with the idempotency key) or `sync` (NetSuite ignores the key on synchronous requests)",
                    false,
                ),
                setting("subscription-plan", "Internal id of the SuiteBilling subscription plan whose members are the products sold", true),
                setting("price-book", "Internal id of that plan's price book", true),
                setting("initial-term", "Internal id of the subscriptions' initial term", true),
                setting("billing-schedule", "Internal id of the billing schedule for new billing accounts", true),
            ],
            secrets: Vec::new(),
            webhooks: false,
            polling: false,
            async_writes: true,
            future_dated_writes: true,
        }
    }

    fn apply(host: &dyn Host, write: Write) -> Result<Outcome, Error> {
        let config = Config::from_host(host)?;
        match Kind::parse(&write.object)? {
            Kind::Customer => {
                let body = mapping::customer_record(&write.document)?;
                let step = Step {
                    name: "customer".into(),
                    // An upsert: the customer may well be there already.
                    absent: false,
                    request: HttpRequest::new(
                        "PUT",
                        config.record_url(Kind::Customer, &api::eid(&write.key)?),
                    )
                    .body(body.to_string()),
                };
                steps::send_all(host, &config, &write, vec![step], false)
            }
            Kind::Subscription => {
                // A delete that carries no final state closes what NetSuite has.
                let has_final_state = serde_json::from_str::<serde_json::Value>(&write.document)
                    .is_ok_and(|d| d.get("id").is_some());
                let write = if write.operation == Operation::Delete && !has_final_state {
                    match billing::closing_write(host, &config, &write)? {
                        Some(closing) => closing,
                        None => return Ok(Outcome::Applied(write.key)),
                    }
                } else {
                    write
                };
                for _ in 0..MAX_SYNC_STEPS {
                    match billing::apply(host, &config, &write)? {
                        // Every step so far was answered synchronously: plan the next at once.
                        Outcome::InProgress(job) if job.is_empty() => continue,
                        outcome => return Ok(outcome),
                    }
                }
                Err(Error::transient(
                    "the subscription still differs after every step NetSuite answered; trying again later",
                ))
            }
        }
    }

    fn job_status(host: &dyn Host, job: &str) -> Result<JobState, Error> {
        jobs::job_status(host, &Config::from_host(host)?, job)
    }

    fn fetch(host: &dyn Host, object: &str, key: &str) -> Result<Option<String>, Error> {
        let config = Config::from_host(host)?;
        let eid = api::eid(key)?;
        match Kind::parse(object)? {
            Kind::Customer => match get_record(host, &config, Kind::Customer, &eid)? {
                Some(record) => Ok(Some(mapping::customer_from(&record, key)?)),
                None => Ok(None),
            },
            Kind::Subscription => match billing::read(host, &config, &eid)? {
                Some(state) => Ok(Some(subscription_text(&state, key)?)),
                None => Ok(None),
            },
        }
    }

    fn expected(_host: &dyn Host, write: &Write) -> Result<String, Error> {
        Ok(mapping::expected(Kind::parse(&write.object)?, write)?)
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
            let read = match kind {
                Kind::Customer => get_record(host, &config, kind, &pct(&id))?.map(|record| {
                    let key = record["externalId"].as_str().map(str::to_string);
                    (
                        key.clone(),
                        key.map(|k| mapping::customer_from(&record, &k)),
                    )
                }),
                Kind::Subscription => billing::read(host, &config, &pct(&id))?.map(|state| {
                    let key = state.external_id.clone();
                    (key.clone(), key.map(|k| subscription_text(&state, &k)))
                }),
            };
            // Gone since the page was read, or not made from any source entity (no external
            // id): nothing to reconcile.
            let Some((Some(key), Some(document))) = read else {
                continue;
            };
            match document {
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

/// A record as `GET` returns it, or `None` if NetSuite has no such record.
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

fn subscription_text(state: &billing::State, key: &str) -> Result<String, mapping::MappingError> {
    let doc = billing::canonical(state, key)?;
    serde_json::to_string(&doc).map_err(|e| mapping::MappingError::field("record", e.to_string()))
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

junction_connector_kit::export_connector!(NetSuite);
