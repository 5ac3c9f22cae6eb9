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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::conformance::Failure;

    fn report() -> Report {
        let result = |id, verdict| CheckResult {
            id,
            title: "what it proves",
            verdict,
            elapsed: Duration::from_millis(3),
        };
        Report {
            module: "evil.wasm".into(),
            name: "evil\u{1b}[2J".into(),
            version: "1.0.0".into(),
            sha256: "ab".repeat(32),
            vendor: Vendor::Stripe,
            results: vec![
                result("describe.manifest", Verdict::Pass("fine".into())),
                result(
                    "webhook.forged",
                    Verdict::Fail(Failure {
                        sent: "receive(a forged webhook)".into(),
                        got: "accepted, 1 change(s)\u{1b}[31m".into(),
                        wanted: "invalid-webhook".into(),
                    }),
                ),
                result(
                    "list.exactly-once",
                    Verdict::NotApplicable("the module answers list with unsupported".into()),
                ),
            ],
        }
    }

    #[test]
    fn a_failure_names_the_check_what_was_sent_and_what_came_back() {
        let r = report();
        assert!(!r.passed());
        let table = r.table();
        assert!(
            table.contains("webhook.forged     FAIL    invalid-webhook"),
            "{table}"
        );
        assert!(
            table.contains("sent:   receive(a forged webhook)"),
            "{table}"
        );
        assert!(table.contains("got:    accepted, 1 change(s)"), "{table}");
        assert!(
            table.contains("list.exactly-once  n/a     the module answers list"),
            "{table}"
        );
        assert!(
            table.contains("3 checks: 1 passed, 1 failed, 1 not applicable"),
            "{table}"
        );
        assert!(
            !table.contains('\u{1b}'),
            "the module's words are made printable: {table}"
        );

        let json = r.json();
        assert_eq!(json["passed"], false);
        assert_eq!(json["summary"]["failed"], 1);
        assert_eq!(json["checks"][1]["result"], "fail");
        assert_eq!(json["checks"][1]["sent"], "receive(a forged webhook)");
        assert_eq!(json["checks"][2]["result"], "not-applicable");
        assert!(json["checks"][2]["reason"].is_string());
    }

    #[test]
    fn not_applicable_checks_do_not_fail_a_run() {
        let mut r = report();
        r.results.remove(1);
        assert!(r.passed());
    }
}
