//! A scripted sink for delivery tests: it makes no requests and keeps no state between calls
//! (a warm instance serves the next call with nothing of this one); every answer follows from what it is given and from the host's clock, so a
//! test on manual time sets up one scenario in the document it writes.
//!
//! `apply` reads the customer document's `metadata` (a string map, so the document stays a
//! valid canonical customer):
//!
//! | metadata | answer |
//! |---|---|
//! | none, or `apply = applied` | `applied(<key>)` |
//! | `apply = accepted`, `job = J` | `accepted("job/J/<key>")` |
//! | `apply = transient` | `transient` (Retry-After `retry_after_s` seconds if given) |
//! | `apply = rate-limited` | `rate-limited` (Retry-After `retry_after_s` seconds if given) |
//! | `apply = rejected` | `rejected`, blaming `name` |
//! | `apply = key-conflict` | `idempotency-mismatch` (the key was used for another request) |
//!
//! Payments and invoices are written the same way (their `metadata` is a string map too).
//!
//! With `until_ms = T`, a `transient`, `rate-limited` or `key-conflict` answer is given only while the host's
//! clock reads before `T`; from `T` on the write is applied.
//!
//! `job-status("job/J/<key>")`: `J = pending` stays pending; `succeeded` succeeds as `<key>`;
//! `failed` fails as rejected; `rate-limited` cannot be asked about (rate-limited, Retry-After
//! `1 s`); `pending-until-T` is pending while the clock reads before `T`, then succeeds.
//!
//! `fetch(customer, key)` reads back `{"id": key, "name": "Ada"}` ([`SHOWN_NAME`]), unless the
//! key starts with `drops-` (a silent drop: the name still reads `Old name`) or `missing-`
//! (no record). `fetch(payment | invoice, key)` reads back a minimal valid record with that id.

use junction_connector_kit::{Connector, Error, Host, JobState, Manifest, Outcome, Write};
use serde_json::Value;

/// The name every read-back shows (unless the key says otherwise).
pub const SHOWN_NAME: &str = "Ada";

/// The scripted sink.
pub struct Scripted;

fn clock_before(host: &dyn Host, until_ms: Option<i64>) -> bool {
    until_ms.is_none_or(|until| host.now_ms() < until)
}

impl Connector for Scripted {
    fn describe() -> Manifest {
        Manifest {
            name: "scripted".into(),
            version: "0.0.0".into(),
            description: "answers as the document says, for delivery tests".into(),
            source_objects: vec!["customer".into(), "payment".into(), "invoice".into()],
            sink_objects: vec!["customer".into(), "payment".into(), "invoice".into()],
            webhooks: true,
            async_writes: true,
            ..Manifest::default()
        }
    }

    fn apply(host: &dyn Host, write: Write) -> Result<Outcome, Error> {
        let document: Value = serde_json::from_str(&write.document)
            .map_err(|e| Error::rejected(format!("not JSON: {e}")))?;
        let script = |name: &str| {
            document
                .get("metadata")
                .and_then(|m| m.get(name))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let number = |name: &str| script(name).and_then(|v| v.parse::<i64>().ok());
        let retry_after_ms = number("retry_after_s").map(|s| s.max(0) as u64 * 1000);
        let until_ms = number("until_ms");
        match script("apply").as_deref().unwrap_or("applied") {
            "applied" => Ok(Outcome::Applied(write.key)),
            "accepted" => Ok(Outcome::Accepted(format!(
                "job/{}/{}",
                script("job").unwrap_or_else(|| "succeeded".into()),
                write.key
            ))),
            "transient" if clock_before(host, until_ms) => Err(Error::Transient {
                message: "scripted transient failure".into(),
                retry_after_ms,
            }),
            "rate-limited" if clock_before(host, until_ms) => {
                Err(Error::RateLimited(retry_after_ms))
            }
            "transient" | "rate-limited" => Ok(Outcome::Applied(write.key)),
            "key-conflict" if clock_before(host, until_ms) => Err(Error::IdempotencyMismatch(
                "scripted: the key was used for a different request".into(),
            )),
            "key-conflict" => Ok(Outcome::Applied(write.key)),
            "rejected" => Err(Error::Rejected {
                message: "scripted rejection".into(),
                field: Some("name".into()),
            }),
            other => Err(Error::rejected(format!("unknown script `{other}`"))),
        }
    }

    fn job_status(host: &dyn Host, job: &str) -> Result<JobState, Error> {
        let mut parts = job.splitn(3, '/');
        let (Some("job"), Some(script), Some(key)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::NotFound(format!("no job `{job}`")));
        };
        if let Some(until) = script.strip_prefix("pending-until-") {
            let until = until.parse::<i64>().ok();
            return Ok(if clock_before(host, until) {
                JobState::Pending
            } else {
                JobState::Succeeded(key.to_string())
            });
        }
        match script {
            "pending" => Ok(JobState::Pending),
            "succeeded" => Ok(JobState::Succeeded(key.to_string())),
            "failed" => Ok(JobState::Failed(Error::rejected("scripted job failure"))),
            "rate-limited" => Err(Error::RateLimited(Some(1000))),
            other => Err(Error::NotFound(format!("no job script `{other}`"))),
        }
    }

    fn fetch(_host: &dyn Host, object: &str, key: &str) -> Result<Option<String>, Error> {
        match object {
            "customer" => {}
            "payment" => {
                return Ok(Some(
                    serde_json::json!({ "id": key, "amount": 0, "currency": "eur", "status": "succeeded" })
                        .to_string(),
                ));
            }
            "invoice" => {
                return Ok(Some(
                    serde_json::json!({ "id": key, "customer_id": "cus", "status": "open", "currency": "eur", "total": 0 })
                        .to_string(),
                ));
            }
            _ => return Err(Error::Unsupported(format!("no `{object}` here"))),
        }
        if key.starts_with("missing-") {
            return Ok(None);
        }
        let name = if key.starts_with("drops-") {
            "Old name"
        } else {
            SHOWN_NAME
        };
        Ok(Some(
            serde_json::json!({ "id": key, "name": name }).to_string(),
        ))
    }
}

junction_connector_kit::export_connector!(Scripted);
