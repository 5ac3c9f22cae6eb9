//! The figures of one run, printed as a table with the raw HTTP floor and the targets beside.

use std::fmt;
use std::time::Duration;

use crate::fire::Run;

/// One stage of the delivery run.
#[derive(Debug)]
pub struct Stage {
    pub name: &'static str,
    pub changes: usize,
    /// From the first webhook to the last confirmation; `None` if it did not finish in time.
    pub took: Option<Duration>,
    /// Most deliveries seen in flight (being written, awaiting a job, or confirming).
    pub peak_in_flight: f64,
    /// Latency the NetSuite simulator added to every request.
    pub netsuite_latency_ms: u64,
}

/// Everything one run measured.
#[derive(Debug, Default)]
pub struct Report {
    pub senders: usize,
    pub durability: String,
    pub startups: Vec<Duration>,
    pub floor: Option<Run>,
    pub burst: Option<Run>,
    pub steady: Option<Run>,
    pub delivery: Vec<Stage>,
    pub rss_idle: f64,
    pub rss_after_intake: f64,
    pub rss_delivery: f64,
    pub rss_peak: f64,
    /// Largest RSS sampled while 64 or more deliveries were in flight (0: never that many).
    pub rss_64_in_flight: f64,
    pub netsuite_requests: u64,
    pub errors: Vec<String>,
}

fn latencies(r: &Run) -> String {
    format!(
        "p50 {:.2} / p90 {:.2} / p99 {:.2} / max {:.2} ms",
        r.ms(0.5),
        r.ms(0.9),
        r.ms(0.99),
        r.ms(1.0)
    )
}

fn row(f: &mut fmt::Formatter<'_>, what: &str, measured: String, target: &str) -> fmt::Result {
    writeln!(f, "| {what} | {measured} | {target} |")
}

impl Report {
    fn intake(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(b), Some(fl)) = (&self.burst, &self.floor) {
            let what = format!(
                "durable intake, {} senders, {} webhooks (durability {})",
                self.senders, b.ok, self.durability
            );
            row(
                f,
                &what,
                format!("{:.0} webhooks/s", b.rate()),
                ">= 10,000/s",
            )?;
            let floor = "raw HTTP floor, same senders and bodies (axum, answers only)";
            row(f, floor, format!("{:.0} requests/s", fl.rate()), "")?;
            let ratio = format!("{:.1} %", 100.0 * b.rate() / fl.rate());
            row(f, "intake / raw floor", ratio, "")?;
            row(f, "burst ack latency, Junction", latencies(b), "")?;
            row(f, "burst latency, raw floor", latencies(fl), "")?;
        }
        if let Some(s) = &self.steady {
            let rate = s.ok as f64 / s.elapsed.as_secs_f64().max(1e-9);
            let what = format!(
                "steady {rate:.0}/s for {:.0} s: ack latency (from the scheduled send)",
                s.elapsed.as_secs_f64()
            );
            row(f, &what, latencies(s), "p99 <= 10 ms")?;
        }
        Ok(())
    }

    fn delivery(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut total = (0, Duration::ZERO, true);
        for st in &self.delivery {
            let what = format!(
                "delivered + confirmed: {} {} (peak {:.0} in flight)",
                st.changes, st.name, st.peak_in_flight
            );
            let zero = st.netsuite_latency_ms == 0;
            let target = if zero { ">= 3,000/s" } else { "" };
            match st.took {
                Some(t) => {
                    let secs = t.as_secs_f64();
                    let rate = st.changes as f64 / secs;
                    row(
                        f,
                        &what,
                        format!("{rate:.0} changes/s ({secs:.2} s)"),
                        target,
                    )?;
                    if zero {
                        total = (total.0 + st.changes, total.1 + t, total.2);
                    }
                }
                None => {
                    row(f, &what, "did not finish".into(), target)?;
                    total.2 &= !zero;
                }
            }
        }
        if total.2 && total.0 > 0 {
            let rate = total.0 as f64 / total.1.as_secs_f64();
            let measured = format!(
                "{rate:.0} changes/s ({} NetSuite requests in the whole run)",
                self.netsuite_requests
            );
            row(
                f,
                "delivered + confirmed, zero-latency stages together",
                measured,
                ">= 3,000/s",
            )?;
        }
        Ok(())
    }

    fn resources(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |v: f64| format!("{v:.1} MiB");
        row(
            f,
            "resident memory: idle after start",
            mib(self.rss_idle),
            "",
        )?;
        row(
            f,
            "resident memory: after the intake runs",
            mib(self.rss_after_intake),
            "",
        )?;
        let busy = if self.rss_64_in_flight > 0.0 {
            mib(self.rss_64_in_flight)
        } else {
            "never 64 in flight".into()
        };
        let what = "resident memory: pipeline loaded, >= 64 deliveries in flight (max sampled)";
        row(f, what, busy, "<= 100 MiB")?;
        let whole = format!("{} (VmHWM {})", mib(self.rss_delivery), mib(self.rss_peak));
        row(
            f,
            "resident memory: whole delivery run (max sampled)",
            whole,
            "<= 100 MiB",
        )?;
        if !self.startups.is_empty() {
            let mut s = self.startups.clone();
            s.sort_unstable();
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            let what = format!(
                "start-up, cached connectors (spawn -> /healthz 200), {} starts",
                s.len()
            );
            let measured = format!(
                "median {:.0} ms (min {:.0}, max {:.0})",
                ms(s[s.len() / 2]),
                ms(s[0]),
                ms(s[s.len() - 1])
            );
            row(f, &what, measured, "<= 300 ms")?;
        }
        Ok(())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "| measure | measured | target |")?;
        writeln!(f, "|---|---|---|")?;
        self.intake(f)?;
        self.delivery(f)?;
        self.resources(f)
    }
}
