//! Where the campaign's Junction runs: real `junction run` processes on one store, killed with
//! SIGKILL at random moments and restarted on the same store and port (several behind a
//! round-robin balancer that skips a dead one, as a load balancer with health checks does), or
//! one engine inside the campaign's own process (`junction demo`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep};

/// One `junction run` child process, restarted on the same store and port after each kill.
pub struct Process {
    exe: PathBuf,
    pipeline: PathBuf,
    store: String,
    worker_id: String,
    listen: String,
    log: PathBuf,
    env: Vec<(String, String)>,
    cache_dir: Option<PathBuf>,
    child: Option<Child>,
    http: reqwest::Client,
}

/// How to start the processes.
pub struct Spawn<'a> {
    /// The `junction` executable.
    pub exe: &'a Path,
    /// The pipeline file they run.
    pub pipeline: &'a Path,
    /// The store they share.
    pub store: &'a str,
    /// Where their logs go.
    pub dir: &'a Path,
    /// The environment their `env:` secrets come from.
    pub env: Vec<(String, String)>,
    /// The compiled-component cache.
    pub cache_dir: Option<&'a Path>,
}

impl Process {
    /// One process per address in `listen`, none started yet.
    pub fn cluster(listen: &[String], spawn: &Spawn<'_>) -> Vec<Process> {
        listen
            .iter()
            .enumerate()
            .map(|(i, listen)| Process {
                exe: spawn.exe.to_owned(),
                pipeline: spawn.pipeline.to_owned(),
                store: spawn.store.to_owned(),
                worker_id: format!("campaign-worker-{i}"),
                listen: listen.clone(),
                log: spawn.dir.join(format!("junction-{i}.log")),
                env: spawn.env.clone(),
                cache_dir: spawn.cache_dir.map(Path::to_owned),
                child: None,
                http: reqwest::Client::new(),
            })
            .collect()
    }

    /// Where its output goes.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Starts it (again).
    pub fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        let mut command = Command::new(&self.exe);
        command
            .arg("run")
            .arg(&self.pipeline)
            .args([
                "--listen",
                &self.listen,
                "--lease",
                "2s",
                "--durability",
                "full",
            ])
            .arg("--store")
            .arg(&self.store)
            .arg("--worker-id")
            .arg(&self.worker_id);
        if let Some(cache) = &self.cache_dir {
            command.arg("--cache-dir").arg(cache);
        }
        let child = command
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("JUNCTION_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", self.exe.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL (tokio's `Child::kill` on Unix), then reap.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Waits until `/healthz` answers 200; an error with the log's tail if it died or hung.
    pub async fn healthy(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = format!("http://{}/healthz", self.listen);
        loop {
            if let Ok(r) = self
                .http
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                && r.status().is_success()
            {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!(
                    "junction exited ({status}) before answering /healthz; the end of {}:\n{}",
                    self.log.display(),
                    self.log_tail()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "junction did not answer /healthz within 60 s; the end of {}:\n{}",
                    self.log.display(),
                    self.log_tail()
                );
            }
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// The last 40 lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// How many times it reached "listening" (starts that got that far).
    pub fn starts(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .matches("junction: listening on")
            .count()
    }
}

/// `n` loopback addresses nobody listens on now; a process binds its own again after every
/// restart.
pub fn ports(n: usize) -> anyhow::Result<Vec<String>> {
    (0..n)
        .map(|_| {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .context("no free loopback port")?
                .port();
            Ok(format!("127.0.0.1:{port}"))
        })
        .collect()
}

/// Kills a process chosen at random about every `every` (between half and one and a half
/// times it), mostly while it works and every fifth time while it starts, until `stop` is
/// set; restarts it at once. Counts the kills in `kills`.
pub async fn killer(
    mut processes: Vec<Process>,
    every: Duration,
    seed: u64,
    stop: Arc<AtomicBool>,
    kills: Arc<AtomicU64>,
) -> anyhow::Result<Vec<Process>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut k = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let victim = rng.random_range(0..processes.len());
        let process = &mut processes[victim];
        let wait = every.mul_f64(rng.random_range(0.5..1.5));
        if k % 5 == 4 {
            sleep(Duration::from_millis(rng.random_range(0..150))).await;
        } else {
            process.healthy().await?;
            sleep(wait).await;
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        process.kill().await;
        process.spawn()?;
        k += 1;
        kills.fetch_add(1, Ordering::Relaxed);
    }
    Ok(processes)
}

/// A load balancer in front of several processes: each request goes to the next in turn, and
/// to the one after if that one does not answer (it was just killed). Answers 502 when none
/// does, which Stripe retries. Returns the address it listens on.
pub async fn balancer(workers: Vec<String>) -> anyhow::Result<String> {
    use axum::body::{Body, to_bytes};
    use axum::http::{Request, Response, StatusCode};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let front = listener.local_addr()?.to_string();
    let next = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let forward = move |request: Request<Body>| {
        let (workers, next, http) = (workers.clone(), next.clone(), http.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = to_bytes(body, 16 << 20).await.unwrap_or_default();
            let path = parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            let first = next.fetch_add(1, Ordering::Relaxed);
            for i in 0..workers.len() {
                let worker = &workers[(first + i) % workers.len()];
                let mut sent = http
                    .request(parts.method.clone(), format!("http://{worker}{path}"))
                    .timeout(Duration::from_secs(10))
                    .body(body.clone());
                for (name, value) in &parts.headers {
                    if name != "host" && name != "content-length" {
                        sent = sent.header(name, value);
                    }
                }
                if let Ok(answer) = sent.send().await {
                    let status = answer.status();
                    let bytes = answer.bytes().await.unwrap_or_default();
                    return Response::builder()
                        .status(status)
                        .body(Body::from(bytes))
                        .unwrap_or_default();
                }
            }
            Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .body(Body::empty())
                .unwrap_or_default()
        }
    };
    let app = axum::Router::new().fallback(forward);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(front)
}
