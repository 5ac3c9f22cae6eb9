//! Expressions that would crash or stall the `cel` crate are refused with a clear error, in
//! the test's own thread and stack; those at the limits still compile and run.

use std::path::Path;

use super::super::*;
use super::fakes::{self, FakeCatalog};

/// A valid pipeline whose one route has `key = "expression"` (`when` or a `map` entry).
fn pipeline(key: &str, expression: &str) -> String {
    let line = match key {
        "when" => format!("when = \"{expression}\""),
        field => format!("map = {{ {field} = \"{expression}\" }}"),
    };
    format!(
        "\
[pipeline]
name = \"limits\"

[connectors.stripe]
module = \"builtin:stripe\"
secrets = {{ webhook = \"env:STRIPE_WEBHOOK_SECRET\" }}

[connectors.netsuite]
module = \"builtin:netsuite\"
settings = {{ account = \"1\", subscription-plan = \"1\", price-book = \"1\", initial-term = \"1\", billing-schedule = \"1\" }}

[ownership]
subscription = \"stripe\"

[[source]]
connector = \"stripe\"
webhook = \"/hooks/stripe\"
objects = [\"subscription\"]

[[route]]
name = \"r\"
from = \"stripe\"
to = \"netsuite\"
object = \"subscription\"
{line}
"
    )
}

fn load_one(text: &str) -> Result<Loaded, Diagnostics> {
    load_str(Path::new("limits.toml"), text, &fakes::env, &FakeCatalog)
}

#[test]
fn expressions_that_would_overflow_the_parser_are_refused() {
    let cases = [
        // The reported crashes: 40 KB of `change.a.a...`, 50,000 terms of `1 + 1 + ...`.
        (
            format!("change{}", ".a".repeat(20_000)),
            "is 40006 bytes long, more than the 4096 allowed",
        ),
        (vec!["1"; 50_000].join(" + "), "is 199997 bytes long"),
        // Short enough, but a chain the parser recurses through once per link.
        (
            format!("change{}", ".a".repeat(2_000)),
            "nests about 2001 levels deep, more than the 64 allowed",
        ),
        (format!("change{}", "[0]".repeat(1_300)), "nests about"),
        (format!("{}true", "!".repeat(3_000)), "nests about"),
    ];
    for (expression, expected) in cases {
        let report = match load_one(&pipeline("when", &expression)) {
            Ok(_) => panic!("{} bytes of expression accepted", expression.len()),
            Err(diagnostics) => diagnostics.to_string(),
        };
        assert!(
            report.starts_with(&format!("error: expression in `when` {expected}")),
            "{}",
            &report[..report.len().min(300)]
        );
        assert!(
            report.ends_with("error: 1 error found\n"),
            "one error, nothing else"
        );
    }
}

#[test]
fn expressions_at_the_limits_compile_and_evaluate() {
    let chain = vec!["1"; 60].join(" + ");
    let parens = format!("{}1{}", "(".repeat(60), ")".repeat(60));
    let alternatives = (0..100)
        .map(|i| format!("change.after.status == 's{i}'"))
        .collect::<Vec<_>>()
        .join(" || ");
    for (field, expression, expected) in [
        ("status", chain.as_str(), cel::Value::Int(60)),
        ("status", parens.as_str(), cel::Value::Int(1)),
        ("when", alternatives.as_str(), cel::Value::Bool(true)),
    ] {
        let loaded = match load_one(&pipeline(field, expression)) {
            Ok(loaded) => loaded,
            Err(diagnostics) => panic!("{diagnostics}"),
        };
        let route = &loaded.plans[0].routes[0];
        let expr = match field {
            "when" => route.when.clone(),
            _ => route.map.as_ref().and_then(|m| m.get(field).cloned()),
        }
        .expect("compiled");
        let mut context = cel::Context::default();
        let change = serde_json::json!({ "after": { "status": "s99" } });
        context.add_variable_from_value("change", cel::to_value(&change).expect("converts"));
        assert_eq!(expr.program.execute(&context), Ok(expected), "{field}");
    }
}
