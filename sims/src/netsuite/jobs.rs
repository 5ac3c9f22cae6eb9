//! Asynchronous requests (`Prefer: respond-async`): jobs with one task each, settled after the
//! configured pending time, deduplicated by `X-NetSuite-Idempotency-Key`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use super::Shared;
use super::error::{NsError, SimResponse};
use super::rfc3339;
use super::store::{Store, Write};
use crate::faults::FaultState;

/// One async job: the write it carries and, once settled, the answer it got.
#[derive(Debug, Clone)]
pub struct Job {
    id: u64,
    write: Write,
    submitted: Instant,
    started: SystemTime,
    ended: Option<SystemTime>,
    result: Option<SimResponse>,
}

impl Job {
    fn progress(&self) -> &'static str {
        match &self.result {
            None => "pending",
            Some(r) if r.status < 400 => "succeeded",
            Some(_) => "failed",
        }
    }
}

/// A job as tests see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobInfo {
    pub id: String,
    pub progress: &'static str,
    pub record_type: String,
    pub idempotency_key: Option<String>,
    /// The synchronous answer the task's result replays, once settled.
    pub result: Option<SimResponse>,
}

/// The relative `Location` NetSuite sends for a job.
pub fn job_location(id: u64) -> String {
    format!("/services/rest/async/v1/job/{id}")
}

impl Store {
    /// Queues a write: 202 with the job's location, or the documented 400 for a reused key.
    pub fn submit(&mut self, mut write: Write) -> Response {
        if let Some(job) = write
            .idempotency_key
            .as_ref()
            .and_then(|k| self.idempotency.get(k))
        {
            return NsError::idempotency_conflict(&job_location(*job)).into_response();
        }
        let id = self.next_job;
        self.next_job += 1;
        write.job = Some(id);
        if let Some(key) = &write.idempotency_key {
            self.idempotency.insert(key.clone(), id);
        }
        self.jobs.insert(
            id,
            Job {
                id,
                write,
                submitted: Instant::now(),
                started: SystemTime::now(),
                ended: None,
                result: None,
            },
        );
        self.stats.jobs += 1;
        (
            StatusCode::ACCEPTED,
            [
                (
                    header::HeaderName::from_static("preference-applied"),
                    "respond-async".to_owned(),
                ),
                (header::LOCATION, job_location(id)),
            ],
        )
            .into_response()
    }

    /// Applies, in submission order, every pending job older than `async_pending_ms`.
    pub fn settle_due(&mut self, faults: &FaultState) {
        let pending = Duration::from_millis(faults.get().async_pending_ms);
        let due: Vec<(u64, Write)> = self
            .jobs
            .values()
            .filter(|j| j.result.is_none() && j.submitted.elapsed() >= pending)
            .map(|j| (j.id, j.write.clone()))
            .collect();
        for (id, write) in due {
            let result = self.execute(&write, faults);
            if let Some(job) = self.jobs.get_mut(&id) {
                job.result = Some(result);
                job.ended = Some(SystemTime::now());
            }
        }
    }

    pub fn job_infos(&self) -> Vec<JobInfo> {
        self.jobs
            .values()
            .map(|j| JobInfo {
                id: j.id.to_string(),
                progress: j.progress(),
                record_type: j.write.rt.id().to_owned(),
                idempotency_key: j.write.idempotency_key.clone(),
                result: j.result.clone(),
            })
            .collect()
    }

    fn job_href(&self, id: u64) -> String {
        format!("{}{}", self.base, job_location(id))
    }
}

fn find(store: &Store, job: &str, task: Option<&str>) -> Result<Job, NsError> {
    let missing = || NsError::nonexistent_id(format!("The async job {job} does not exist."));
    let found = job
        .parse()
        .ok()
        .and_then(|id| store.jobs.get(&id))
        .ok_or_else(missing)?;
    // Each job has exactly one task, numbered like its job.
    if task.is_some_and(|t| t != job) {
        return Err(NsError::nonexistent_id(format!(
            "The task {} of job {job} does not exist.",
            task.unwrap_or_default()
        )));
    }
    Ok(found.clone())
}

/// `GET /services/rest/async/v1/job/{id}`
pub async fn job(
    State(sim): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<SimResponse, NsError> {
    let store = sim.store();
    let job = find(&store, &id, None)?;
    let href = store.job_href(job.id);
    Ok(SimResponse::ok(json!({
        "links": [{"rel": "self", "href": href}],
        "completed": job.result.is_some(),
        "id": job.id.to_string(),
        "progress": job.progress(),
        "task": {"links": [{"rel": "self", "href": format!("{href}/task")}]},
    })))
}

/// `GET /services/rest/async/v1/job/{id}/task`
pub async fn tasks(
    State(sim): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<SimResponse, NsError> {
    let store = sim.store();
    let job = find(&store, &id, None)?;
    let href = format!("{}/task", store.job_href(job.id));
    Ok(SimResponse::ok(json!({
        "links": [{"rel": "self", "href": href}],
        "count": 1, "hasMore": false, "offset": 0, "totalResults": 1,
        "items": [{"links": [{"rel": "self", "href": format!("{href}/{}", job.id)}], "id": job.id.to_string()}],
    })))
}

/// `GET /services/rest/async/v1/job/{id}/task/{task}`
pub async fn task(
    State(sim): State<Arc<Shared>>,
    Path((id, task)): Path<(String, String)>,
) -> Result<SimResponse, NsError> {
    let store = sim.store();
    let job = find(&store, &id, Some(&task))?;
    let href = format!("{}/task/{}", store.job_href(job.id), job.id);
    let mut links = vec![json!({"rel": "self", "href": href})];
    let mut body = json!({
        "completed": job.result.is_some(),
        "id": job.id.to_string(),
        "progress": job.progress(),
        "startTime": rfc3339(job.started),
    });
    if let Some(ended) = job.ended {
        links.insert(
            0,
            json!({"rel": "related", "href": format!("{href}/result")}),
        );
        body["endTime"] = json!(rfc3339(ended));
    }
    body["links"] = Value::Array(links);
    Ok(SimResponse::ok(body))
}

/// `GET /services/rest/async/v1/job/{id}/task/{task}/result`: the original synchronous answer.
pub async fn result(
    State(sim): State<Arc<Shared>>,
    Path((id, task)): Path<(String, String)>,
) -> Result<SimResponse, NsError> {
    let store = sim.store();
    find(&store, &id, Some(&task))?.result.ok_or_else(|| {
        NsError::nonexistent_id(format!(
            "The result of task {task} of job {id} is not available yet."
        ))
    })
}
