//! Sending a write's requests, each under its own idempotency key.
//!
//! A step is one request with a name that says what it does (`billing-account`,
//! `include-line-3`, `modify_pricing-2026-12-01-{...}`). Its key is derived from the write's
//! key and that name, so the same step of the same write always carries the same key and two
//! different steps never share one. NetSuite answers a key it has seen with the job it started
//! ("Asynchronous Request Idempotency"): the connector follows that job, and only if it failed
//! in a way a retry could fix does the step go again, under the key's next generation.

use junction_connector_kit::{
    Error, Host, HttpRequest, HttpResponse, JobState, Level, Outcome, Write,
};

use crate::api::{self, Config, WriteMode};
use crate::{errors, jobs, keys};

/// One request of a write.
#[derive(Debug, Clone)]
pub struct Step {
    /// What the step does; part of its idempotency key.
    pub name: String,
    /// The request (without the headers every write carries).
    pub request: HttpRequest,
    /// The connector has just read that what this step makes is not there (a record, a line's
    /// status, a change order): every step of a subscription is planned from the state read at
    /// the start of the call. If NetSuite then answers the step's key with a job that
    /// succeeded, the write was dropped (a silent validation drop, or undone since): see
    /// [`send_all`]. A job that finished between the read and the answer looks the same; it
    /// costs one more step, never a wrong write.
    pub absent: bool,
}

/// Sends `steps` in order and answers with the job of the last one that went asynchronously:
/// `InProgress` when `more` steps will follow once it succeeds, else `Accepted`. Steps answered
/// synchronously need no following; if every step was, the write is `Applied` (or, with more
/// to come, `InProgress` of nothing, which the caller resolves by planning again).
///
/// A step NetSuite dropped (its key answered by a succeeded job, its record still absent) ends
/// the call as `InProgress` of that job: the later steps would fail on the missing record, and
/// the same key can never bring it. The runtime follows the job and asks again; a write whose
/// steps keep reporting done without showing gets a corrective write under a derived key
/// (new step keys), bounded, then a dead letter.
pub fn send_all(
    host: &dyn Host,
    config: &Config,
    write: &Write,
    steps: Vec<Step>,
    more: bool,
) -> Result<Outcome, Error> {
    let mut last_job = None;
    let mut last_id = None;
    for step in steps {
        match send(host, config, write, step)? {
            Sent::Job(job) => last_job = Some(job),
            Sent::Done(id) => last_id = Some(id),
            Sent::Dropped(job) => return Ok(Outcome::InProgress(job)),
        }
    }
    Ok(match (last_job, more) {
        (Some(job), true) => Outcome::InProgress(job),
        (Some(job), false) => Outcome::Accepted(job),
        (None, true) => Outcome::InProgress(String::new()),
        (None, false) => Outcome::Applied(last_id.unwrap_or_else(|| write.key.clone())),
    })
}

/// What one step's request came to.
enum Sent {
    /// An asynchronous job to follow (`<job path>#<key>`).
    Job(String),
    /// Done synchronously; the record's id.
    Done(String),
    /// The key's job succeeded yet the record is absent: NetSuite dropped the step.
    Dropped(String),
}

fn send(host: &dyn Host, config: &Config, write: &Write, step: Step) -> Result<Sent, Error> {
    let base_key = format!("{}/{}", write.idempotency_key, step.name);
    let mut spent = None;
    for generation in 0..keys::MAX_GENERATIONS {
        let key = keys::idempotency_uuid(&base_key, generation);
        let mut request = step
            .request
            .clone()
            .header("Content-Type", "application/json")
            .header("X-NetSuite-PropertyNameValidation", "error")
            // Sent with every write; NetSuite honours it on asynchronous requests only.
            .header("X-NetSuite-Idempotency-Key", key);
        if config.mode == WriteMode::Async {
            request = request.header("Prefer", "respond-async");
        }
        let response = api::send(host, request)?;
        let Some(original) = replayed_job(&response) else {
            return answer(&response, &write.key);
        };
        let original = jobs::job_ref(&original, &write.key);
        match jobs::job_status(host, config, &original) {
            Ok(JobState::Failed(
                e @ (Error::Transient { .. }
                | Error::RateLimited(_)
                | Error::Conflict(_)
                | Error::NotFound(_)),
            )) => {
                host.log(
                    Level::Info,
                    &format!(
                        "step {} (key generation {generation}): job {original} failed and may pass now; sending it again under the next generation",
                        step.name
                    ),
                );
                spent = Some(e);
            }
            Ok(JobState::Succeeded(_)) if step.absent => {
                host.log(
                    Level::Warn,
                    &format!(
                        "step {} (key generation {generation}): job {original} succeeded but its record is not there; NetSuite dropped it",
                        step.name
                    ),
                );
                return Ok(Sent::Dropped(original));
            }
            // Pending, succeeded, failed for good, or its status could not be read now
            // (throttled): the runtime follows the original job and honours Retry-After.
            _ => return Ok(Sent::Job(original)),
        }
    }
    Err(spent.unwrap_or_else(|| {
        Error::transient("every idempotency key generation of this write is spent")
    }))
}

/// The original job's path when NetSuite says this idempotency key was already submitted.
fn replayed_job(response: &HttpResponse) -> Option<String> {
    let duplicate = matches!(response.status, 400 | 409)
        && errors::ErrorDetail::of(response).code == errors::IDEMPOTENCY_ERROR;
    duplicate.then(|| api::location_path(response)).flatten()
}

/// What a write's answer means: 202 a job, 2xx the record's id, anything else an error.
fn answer(response: &HttpResponse, key: &str) -> Result<Sent, Error> {
    match response.status {
        202 => api::location_path(response)
            .map(|path| Sent::Job(jobs::job_ref(&path, key)))
            .ok_or_else(|| {
                Error::transient("NetSuite accepted the write (202) without a job Location")
            }),
        // A PATCH answers 204 without a Location: the external id names the record then.
        200..=299 => Ok(Sent::Done(
            api::location_id(response).unwrap_or_else(|| key.to_string()),
        )),
        _ => Err(errors::classify(response)),
    }
}
