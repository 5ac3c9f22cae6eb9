//! The conformance report: a table for people (one row per check, each failure spelled out
//! below it) and JSON for machines. Everything the module said is made safe for a terminal.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use super::checks::Verdict;
use super::vendors::Vendor;
use crate::config::printable;

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// The check's id.
    pub id: &'static str,
    /// What it proves.
    pub title: &'static str,
    /// What it concluded.
    pub verdict: Verdict,
    /// How long it took.
    pub elapsed: Duration,
}

/// The outcome of a run of the kit.
#[derive(Debug, Clone)]
pub struct Report {
    /// The module as given.
    pub module: String,
    /// Its manifest's name.
    pub name: String,
    /// Its manifest's version.
    pub version: String,
    /// SHA-256 of the component.
    pub sha256: String,
    /// The simulator it ran against.
    pub vendor: Vendor,
    /// Per check, in order.
    pub results: Vec<CheckResult>,
}

impl Report {
    /// Whether no check failed (not-applicable ones do not count as failures).
    pub fn passed(&self) -> bool {
        !self
            .results
            .iter()
            .any(|r| matches!(r.verdict, Verdict::Fail(_)))
    }

    /// The result of check `id`.
    pub fn result(&self, id: &str) -> Option<&CheckResult> {
        self.results.iter().find(|r| r.id == id)
    }

    fn counts(&self) -> (usize, usize, usize) {
        let count = |f: fn(&Verdict) -> bool| self.results.iter().filter(|r| f(&r.verdict)).count();
        (
            count(|v| matches!(v, Verdict::Pass(_))),
            count(|v| matches!(v, Verdict::Fail(_))),
            count(|v| matches!(v, Verdict::NotApplicable(_))),
        )
    }

    /// The report as a table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "conformance of {} ({} {}, sha256 {}) against the {} simulator\n",
            printable(&self.module),
            printable(&self.name),
            printable(&self.version),
            self.sha256.get(..12).unwrap_or(&self.sha256),
            self.vendor
        );
        let width = self
            .results
            .iter()
            .map(|r| r.id.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let _ = writeln!(out, "{:<width$}  {:<6}  DETAIL", "CHECK", "RESULT");
        for r in &self.results {
            let (word, detail) = match &r.verdict {
                Verdict::Pass(d) => ("pass", d.clone()),
                Verdict::Fail(f) => ("FAIL", f.wanted.clone()),
                Verdict::NotApplicable(why) => ("n/a", why.clone()),
            };
            let _ = writeln!(out, "{:<width$}  {word:<6}  {}", r.id, printable(&detail));
            if let Verdict::Fail(f) = &r.verdict {
                let pad = " ".repeat(width + 10);
                let _ = writeln!(out, "{pad}sent:   {}", printable(&f.sent));
                let _ = writeln!(out, "{pad}got:    {}", printable(&f.got));
                let _ = writeln!(out, "{pad}wanted: {}", printable(&f.wanted));
            }
        }
        let (pass, failed, na) = self.counts();
        let _ = writeln!(
            out,
            "\n{} checks: {pass} passed, {failed} failed, {na} not applicable",
            self.results.len()
        );
        out
    }

    /// The report as JSON.
    pub fn json(&self) -> Value {
        let (pass, failed, na) = self.counts();
        json!({
            "module": self.module,
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "simulator": self.vendor.name(),
            "passed": self.passed(),
            "summary": {"checks": self.results.len(), "passed": pass, "failed": failed, "not_applicable": na},
            "checks": self.results.iter().map(|r| {
                let mut v = json!({"id": r.id, "title": r.title, "elapsed_ms": r.elapsed.as_millis() as u64});
                match &r.verdict {
                    Verdict::Pass(d) => { v["result"] = json!("pass"); v["detail"] = json!(d); }
                    Verdict::Fail(f) => {
                        v["result"] = json!("fail");
                        v["sent"] = json!(f.sent);
                        v["got"] = json!(f.got);
                        v["wanted"] = json!(f.wanted);
                    }
                    Verdict::NotApplicable(why) => { v["result"] = json!("not-applicable"); v["reason"] = json!(why); }
                }
                v
            }).collect::<Vec<_>>(),
        })
    }
}
