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

/// Evaluates an expression to JSON.
pub fn eval(expr: &Expr, change: &serde_json::Value) -> Result<serde_json::Value, String> {
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
