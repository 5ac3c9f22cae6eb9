//! The `junction run` process under test: spawned, timed to its first healthy answer, measured
//! through /proc and /metrics, and killed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// How to start Junction.
#[derive(Debug, Clone)]
pub struct Launch {
    pub exe: PathBuf,
    pub listen: String,
    pub cache_dir: PathBuf,
    pub durability: String,
    pub env: Vec<(&'static str, String)>,
}

/// A running `junction run`.
#[derive(Debug)]
pub struct Junction {
    child: Child,
    pub pid: u32,
    pub base: String,
    /// From spawn to the first 200 from `/healthz`.
    pub startup: Duration,
}

impl Launch {
    /// Starts `junction run pipeline` on the SQLite file `store` and waits (at most 60 s)
    /// until it is healthy.
    pub async fn start(
        &self,
        pipeline: &Path,
        store: &Path,
        log: &Path,
    ) -> anyhow::Result<Junction> {
        let url = format!("sqlite://{}", store.display());
        self.start_on(pipeline, &url, &[], log).await
    }

    /// Starts `junction run pipeline --store URL` with `extra` arguments (e.g. a worker id)
    /// and waits (at most 60 s) until it is healthy.
    pub async fn start_on(
        &self,
        pipeline: &Path,
        store: &str,
        extra: &[&str],
        log: &Path,
    ) -> anyhow::Result<Junction> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        // Another server on the port would answer /healthz for a Junction that never started.
        drop(
            std::net::TcpListener::bind(&self.listen)
                .with_context(|| format!("{} is taken; pick another --port", self.listen))?,
        );
        let spawned = Instant::now();
        let mut child = Command::new(&self.exe)
            .arg("run")
            .arg(pipeline)
            .args(["--listen", &self.listen, "--durability", &self.durability])
            .arg("--store")
            .arg(store)
            .args(extra)
            .arg("--cache-dir")
            .arg(&self.cache_dir)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} (build it with `cargo build --release -p junction`)",
                    self.exe.display()
                )
            })?;
        let pid = child.id().context("the child has no pid")?;
        let base = format!("http://{}", self.listen);
        let probe = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(2))
            .build()?;
        loop {
            if let Ok(r) = probe.get(format!("{base}/healthz")).send().await
                && r.status().is_success()
            {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!("junction exited ({status}) before answering /healthz");
            }
            if spawned.elapsed() > Duration::from_secs(60) {
                bail!("junction did not answer /healthz within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(Junction {
            startup: spawned.elapsed(),
            child,
            pid,
            base,
        })
    }
}

impl Junction {
    /// `VmRSS` and `VmHWM` (peak) in MiB.
    pub fn memory_mib(&self) -> (f64, f64) {
        memory_of(self.pid)
    }

    /// The sum of every series of `metric` on `/metrics` whose labels contain `labels`.
    pub async fn metric(
        &self,
        client: &reqwest::Client,
        metric: &str,
        labels: &str,
    ) -> anyhow::Result<f64> {
        let text = client
            .get(format!("{}/metrics", self.base))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        Ok(text
            .lines()
            .filter(|l| {
                l.starts_with(metric)
                    && l[metric.len()..].starts_with(['{', ' '])
                    && l.contains(labels)
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    /// SIGKILL and reap.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// `VmRSS` and `VmHWM` (peak) of process `pid` in MiB (NaN when it is gone).
pub fn memory_of(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
