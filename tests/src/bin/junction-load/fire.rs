//! Firing webhooks: a closed-loop burst from concurrent senders, and an open-loop steady rate
//! whose latency counts from each request's scheduled time (so a stall is not hidden).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::events::Shot;

/// What one run measured.
#[derive(Debug, Default)]
pub struct Run {
    /// Answered 2xx.
    pub ok: usize,
    /// Not answered 2xx: a sample of what came back instead, and how many in all.
    pub failures: Vec<String>,
    pub failed: usize,
    /// Ack latency of each 2xx.
    pub latencies: Vec<Duration>,
    /// From the first send to the last answer.
    pub elapsed: Duration,
}

impl Run {
    fn merge(&mut self, other: Run) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.latencies.extend(other.latencies);
        for f in other.failures {
            if self.failures.len() < 5 {
                self.failures.push(f);
            }
        }
    }

    fn record(&mut self, answer: Result<reqwest::StatusCode, reqwest::Error>, latency: Duration) {
        match answer {
            Ok(status) if status.is_success() => {
                self.ok += 1;
                self.latencies.push(latency);
            }
            other => {
                self.failed += 1;
                if self.failures.len() < 5 {
                    self.failures.push(match other {
                        Ok(status) => format!("HTTP {status}"),
                        Err(e) => e.to_string(),
                    });
                }
            }
        }
    }

    /// Answers per second over the run.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency at quantile `q` (0..=1), in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let Some(last) = sorted.len().checked_sub(1) else {
            return f64::NAN;
        };
        sorted[((last as f64) * q).round() as usize].as_secs_f64() * 1000.0
    }
}

async fn send(
    client: &reqwest::Client,
    url: &str,
    shot: &Shot,
) -> Result<reqwest::StatusCode, reqwest::Error> {
    let response = client
        .post(url)
        .header("Content-Type", "application/json; charset=utf-8")
        .header("Stripe-Signature", &shot.signature)
        .body(shot.body.clone())
        .send()
        .await?;
    let status = response.status();
    // Read the answer whole, so the connection is reusable and the ack is complete.
    response.bytes().await?;
    Ok(status)
}

/// Every shot, as fast as `senders` concurrent senders get answers; stops at `limit`.
pub async fn burst(
    client: &reqwest::Client,
    url: &str,
    shots: Arc<Vec<Shot>>,
    senders: usize,
    limit: Duration,
) -> Run {
    burst_spread(client, &[url.to_owned()], shots, senders, limit).await
}

/// [`burst`] spread over several workers: sender `i` sends to `urls[i % urls.len()]`, as a
/// round-robin balancer would.
pub async fn burst_spread(
    client: &reqwest::Client,
    urls: &[String],
    shots: Arc<Vec<Shot>>,
    senders: usize,
    limit: Duration,
) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut set = JoinSet::new();
    for sender in 0..senders {
        let url = &urls[sender % urls.len()];
        let (client, url, shots, next) =
            (client.clone(), url.to_owned(), shots.clone(), next.clone());
        set.spawn(async move {
            let mut run = Run::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= shots.len() || started.elapsed() > limit {
                    return run;
                }
                let sent = Instant::now();
                let answer = send(&client, &url, &shots[i]).await;
                run.record(answer, sent.elapsed());
            }
        });
    }
    let mut total = Run::default();
    while let Some(run) = set.join_next().await {
        total.merge(run.unwrap_or_default());
    }
    total.elapsed = started.elapsed();
    total
}

/// The shots at `rate` per second, each on schedule whatever the answers before it (at most
/// `max_open` outstanding); latency counts from the scheduled time.
pub async fn steady(
    client: &reqwest::Client,
    url: &str,
    shots: Arc<Vec<Shot>>,
    rate: u32,
    max_open: usize,
) -> Run {
    let period = Duration::from_secs(1) / rate.max(1);
    let open = Arc::new(Semaphore::new(max_open));
    let started = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..shots.len() {
        let due = started + period * u32::try_from(i).unwrap_or(u32::MAX);
        tokio::time::sleep_until(due.into()).await;
        let Ok(permit) = open.clone().acquire_owned().await else {
            break;
        };
        let (client, url, shots) = (client.clone(), url.to_owned(), shots.clone());
        set.spawn(async move {
            let mut run = Run::default();
            let answer = send(&client, &url, &shots[i]).await;
            run.record(answer, due.elapsed());
            drop(permit);
            run
        });
    }
    let mut total = Run::default();
    while let Some(run) = set.join_next().await {
        total.merge(run.unwrap_or_default());
    }
    total.elapsed = started.elapsed();
    total
}
