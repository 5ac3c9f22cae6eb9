//! CEL expressions in `when`, `map` and `require`: compiled once here, errors located in the file.

use std::ops::Range;
use std::sync::Arc;

use cel::IdedExpr;
use cel::common::ast::{EntryExpr, Expr as Node};

use super::super::plan::Expr;
use super::super::raw::Text;
use super::super::suggest;
use super::Validator;

/// Variables an expression may use.
const VARIABLES: &[&str] = &["change"];
/// Identifiers CEL resolves to types (`type(x) == string`), not variables.
const TYPE_NAMES: &[&str] = &[
    "bool",
    "bytes",
    "double",
    "int",
    "list",
    "map",
    "null_type",
    "string",
    "type",
    "uint",
];

impl Validator<'_, '_> {
    /// Compiles an expression, reporting syntax errors and unknown variables.
    pub(super) fn expr(&mut self, text: &Text, what: &str) -> Option<Expr> {
        let source = text.get_ref();
        if source.trim().is_empty() {
            self.rep
                .error(text.span(), format!("{what} is an empty expression"));
            return None;
        }
        let program = match cel::Program::compile(source) {
            Ok(program) => program,
            Err(errors) => {
                // Only the first error: the parser's later ones follow from it. It also adds
                // "Incomplete `...Context`!" next to the real error of an unfinished
                // expression, which says the same less clearly.
                let first = errors
                    .errors
                    .iter()
                    .find(|e| !e.msg.starts_with("Incomplete `"))
                    .or(errors.errors.first());
                if let Some(error) = first {
                    let span = self.expr_span(text, error.pos);
                    self.rep
                        .error(span, format!("invalid expression in {what}: {}", error.msg))
                        .hint("expressions are CEL, e.g. change.after.status != 'incomplete'");
                }
                return None;
            }
        };
        let mut free = Vec::new();
        free_variables(program.expression(), &mut Vec::new(), &mut free);
        free.sort();
        free.dedup();
        let mut ok = true;
        for name in free {
            if VARIABLES.contains(&name.as_str()) || TYPE_NAMES.contains(&name.as_str()) {
                continue;
            }
            let hint = match suggest::closest(&name, VARIABLES.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => "expressions see one variable, `change` (change.before, change.after, change.object, change.operation, ...)".to_owned(),
            };
            self.rep
                .error(text.span(), format!("unknown variable `{name}` in {what}"))
                .hint(hint);
            ok = false;
        }
        ok.then(|| Expr {
            source: source.clone(),
            program: Arc::new(program),
        })
    }

    /// Where CEL's 1-based (line, column) falls in the file: exact when the string is written
    /// without escapes, otherwise the whole string.
    fn expr_span(&self, text: &Text, (line, col): (isize, isize)) -> Range<usize> {
        let span = text.span();
        let written = self.rep.file().slice(&span);
        // A basic or literal string: one quote on each side (multi-line strings take the
        // fallback, as their text differs from the written one only by the quotes).
        let inner = written
            .get(1..written.len().saturating_sub(1))
            .unwrap_or("");
        let (Ok(line), Ok(col)) = (usize::try_from(line - 1), usize::try_from(col - 1)) else {
            return span;
        };
        if inner != text.get_ref() {
            return span;
        }
        let line_start: usize = inner.split_inclusive('\n').take(line).map(str::len).sum();
        let rest = inner.get(line_start..).unwrap_or("");
        let offset = line_start + rest.char_indices().nth(col).map_or(rest.len(), |(i, _)| i);
        let start = span.start + 1 + offset;
        start..start + 1
    }
}

/// Collects identifiers not bound by a comprehension (`x` in `list.exists(x, ...)`).
fn free_variables(expr: &IdedExpr, bound: &mut Vec<String>, free: &mut Vec<String>) {
    match &expr.expr {
        Node::Unspecified | Node::Literal(_) => {}
        Node::Ident(name) => {
            if !name.starts_with('@') && !bound.contains(name) {
                free.push(name.clone());
            }
        }
        Node::Call(call) => {
            if let Some(target) = &call.target {
                free_variables(target, bound, free);
            }
            for arg in &call.args {
                free_variables(arg, bound, free);
            }
        }
        Node::Select(select) => free_variables(&select.operand, bound, free),
        Node::List(list) => {
            for element in &list.elements {
                free_variables(element, bound, free);
            }
        }
        Node::Map(map) => entries(&map.entries, bound, free),
        Node::Struct(object) => entries(&object.entries, bound, free),
        Node::Comprehension(comp) => {
            free_variables(&comp.iter_range, bound, free);
            free_variables(&comp.accu_init, bound, free);
            let depth = bound.len();
            bound.push(comp.iter_var.clone());
            bound.extend(comp.iter_var2.clone());
            bound.push(comp.accu_var.clone());
            free_variables(&comp.loop_cond, bound, free);
            free_variables(&comp.loop_step, bound, free);
            free_variables(&comp.result, bound, free);
            bound.truncate(depth);
        }
    }
}

fn entries(
    entries: &[cel::common::ast::IdedEntryExpr],
    bound: &mut Vec<String>,
    free: &mut Vec<String>,
) {
    for entry in entries {
        match &entry.expr {
            EntryExpr::StructField(field) => free_variables(&field.value, bound, free),
            EntryExpr::MapEntry(pair) => {
                free_variables(&pair.key, bound, free);
                free_variables(&pair.value, bound, free);
            }
        }
    }
}
