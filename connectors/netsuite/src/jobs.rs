//! Asynchronous writes: job references and polling a job through its task to its result.
//!
//! A job reference is the job's path with the record's external id as a fragment
//! (`/services/rest/async/v1/job/42#sub_123`). The fragment is never sent; it names the record
//! when the job's result does not (a `PATCH` answers 204 without a `Location`).

use junction_connector_kit::{Error, Host, HttpRequest, HttpResponse, JobState};

use crate::api::{self, Config};
use crate::errors;

/// Where NetSuite keeps async jobs; a reference elsewhere is refused rather than fetched.
const JOB_PREFIX: &str = "/services/rest/async/v1/job/";

/// The reference `apply` answers for a job path and the record's external id.
pub fn job_ref(path: &str, key: &str) -> String {
    format!("{path}#{key}")
}

/// The job path and external id of a reference.
fn parse_ref(job: &str) -> Result<(&str, Option<&str>), Error> {
    let (path, key) = match job.split_once('#') {
        Some((path, key)) => (path, Some(key).filter(|k| !k.is_empty())),
        None => (job, None),
    };
    let id = path.strip_prefix(JOB_PREFIX).unwrap_or_default();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::NotFound(format!(
            "`{job}` is not a NetSuite async job reference"
        )));
    }
    Ok((path, key))
}

/// Follows a job: the job says whether it completed, its task whether it succeeded, and the
/// task's result is the answer the write would have had synchronously.
pub fn job_status(host: &dyn Host, config: &Config, job: &str) -> Result<JobState, Error> {
    let (path, key) = parse_ref(job)?;
    let job_url = format!("{}{path}", config.base);
    let body = api::get_ok(host, job_url.clone())?.json();
    if body["completed"].as_bool() != Some(true) {
        return Ok(JobState::Pending);
    }
    let tasks = api::get_ok(host, format!("{job_url}/task/"))?.json();
    let Some(task_id) = tasks["items"][0]["id"].as_str().map(str::to_string) else {
        return Err(Error::transient(format!(
            "job {path} completed but lists no task"
        )));
    };
    let task_url = format!("{job_url}/task/{task_id}");
    let task = api::get_ok(host, task_url.clone())?.json();
    let progress = task["progress"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if task["completed"].as_bool() == Some(false)
        || !matches!(progress.as_str(), "succeeded" | "failed")
    {
        return Ok(JobState::Pending);
    }
    let result = api::send(host, HttpRequest::new("GET", format!("{task_url}/result")))?;
    // Throttling and login failures are answers to this GET, not the stored result of a write.
    if matches!(result.status, 401 | 429) {
        return Err(errors::classify(&result));
    }
    match (progress.as_str(), result.is_success()) {
        ("succeeded", true) => Ok(JobState::Succeeded(record_id(&result, key, path))),
        ("succeeded", false) => Err(errors::classify(&result)),
        (_, true) => Ok(JobState::Failed(Error::transient(format!(
            "job {path} reports failure although its result is HTTP {}",
            result.status
        )))),
        (_, false) => Ok(JobState::Failed(errors::classify(&result))),
    }
}

/// The record's internal id from the result's `Location` or body, else its external id.
fn record_id(result: &HttpResponse, key: Option<&str>, path: &str) -> String {
    api::location_id(result)
        .or_else(|| result.json()["id"].as_str().map(str::to_string))
        .or_else(|| key.map(str::to_string))
        .unwrap_or_else(|| path.to_string())
}
