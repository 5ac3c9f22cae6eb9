//! Evaluating the pipeline's CEL expressions (`when`, `map`, gate `require`) against a change.

use crate::config::Expr;
use crate::store::StoredChange;

/// The `change` variable expressions see: the envelope plus parsed `before`/`after`.
pub fn change_value(change: &StoredChange) -> serde_json::Value {
    let parse = |d: &Option<String>| {
        d.as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or(serde_json::Value::Null)
    };
    serde_json::json!({
        "source": change.source,
        "source_event_id": change.source_event_id,
        "object": change.object,
        "key": change.key,
        "operation": change.operation,
        "before": parse(&change.before),
        "after": parse(&change.after),
        "occurred_at": change.occurred_at_ms,
        "effective_at": change.effective_at_ms,
        "source_version": change.source_version,
        "metadata": serde_json::from_str::<serde_json::Value>(&change.metadata).unwrap_or(serde_json::Value::Null),
    })
}

/// Evaluates an expression to JSON, unless its worst case on this change is over the cost
/// limit ([`Expr::check_cost`]): the evaluator cannot be interrupted, so it is not started.
pub fn eval(expr: &Expr, change: &serde_json::Value) -> Result<serde_json::Value, String> {
    expr.check_cost(change)?;
    let mut ctx = cel::Context::default();
    let value =
        cel::to_value(change).map_err(|e| format!("cannot expose the change to CEL: {e}"))?;
    ctx.add_variable_from_value("change", value);
    let out = expr
        .program
        .execute(&ctx)
        .map_err(|e| format!("`{}` failed: {e}", expr.source))?;
    out.json()
        .map_err(|e| format!("`{}` gave a value with no JSON form: {e:?}", expr.source))
}

/// Evaluates a condition; anything but `true` is false, and an evaluation error is reported.
pub fn holds(expr: &Expr, change: &serde_json::Value) -> Result<bool, String> {
    match eval(expr, change)? {
        serde_json::Value::Bool(b) => Ok(b),
        other => Err(format!("`{}` gave {other}, not a boolean", expr.source)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn expr(source: &str) -> Expr {
        Expr {
            source: source.into(),
            program: Arc::new(cel::Program::compile(source).expect("compiles")),
        }
    }

    #[test]
    fn an_expression_too_costly_for_the_change_is_not_evaluated() {
        // Three macros nested over one list: validation refuses this, so only a plan built by
        // hand can hold it. Here it would finish at once (one item), but its worst case on a
        // change of this size is beyond the limit, and the limit is what is checked.
        let triple = expr(
            "change.after.items.all(a, change.after.items.all(b, change.after.items.all(c, a + b + c >= 0)))",
        );
        let change = serde_json::json!({
            "after": { "items": [1], "note": "x".repeat(2_000) },
        });
        let error = holds(&triple, &change).err().unwrap_or_default();
        assert!(
            error.contains("evaluation steps on this change") && error.contains("not evaluated"),
            "{error}"
        );
        // The same on a small change runs.
        let small = serde_json::json!({ "after": { "items": [1, 2] } });
        assert_eq!(holds(&triple, &small), Ok(true));
    }

    #[test]
    fn a_pass_over_a_large_change_is_within_the_limit() {
        let exists = expr("change.after.items.exists(i, i > 999)");
        let items: Vec<u32> = (0..100_000).collect();
        let change = serde_json::json!({ "after": { "items": items } });
        assert_eq!(holds(&exists, &change), Ok(true));
    }
}
