//! CEL expressions in `when`, `map` and `require`: checked within limits, compiled once here,
//! errors located in the file.

use std::ops::Range;
use std::sync::Arc;

use cel::IdedExpr;
use cel::common::ast::{EntryExpr, Expr as Node};

use super::super::expression::check::{self, GLOBAL_FUNCTIONS, Kind, MACROS, METHODS};
use super::super::expression::text::{self, TextLimit};
use super::super::expression::{MAX_EVALUATION_COST, VALIDATION_CHANGE_SIZE, cost};
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

/// Why the cost limit exists, for hints: the evaluator cannot be stopped once it runs.
const COST_HINT: &str = "the CEL evaluator has no cost limit of its own, so Junction refuses what could stall the planner: a macro nested over the same list costs the square of the change's size, literal lists multiply, and a body that repeats its variable in `+` doubles at each step; iterate once, or compare with a literal list";

/// What an expression must give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    /// A condition: `when`, `require`.
    Bool,
    /// Any value: a `map` field.
    Value,
}

impl Validator<'_, '_> {
    /// Compiles an expression, reporting what is too long or deep to parse safely, syntax
    /// errors, unknown variables and functions, a result that cannot be a boolean where one is
    /// needed, and a worst case too costly to evaluate.
    pub(super) fn expr(&mut self, text: &Text, what: &str, expect: Expect) -> Option<Expr> {
        let source = text.get_ref();
        if source.trim().is_empty() {
            self.rep
                .error(text.span(), format!("{what} is an empty expression"));
            return None;
        }
        // Before the parser, which would overflow the stack on a deep enough chain.
        if let Err(limit) = text::check(source) {
            let hint = match limit {
                TextLimit::TooLong(_) => {
                    "split the condition (a gate, a second route) or the mapping (one field per expression)"
                }
                TextLimit::TooDeep(_) => {
                    "long chains and deep nesting are refused so parsing cannot overflow the stack; write alternatives as `x in ['a', 'b']` and split the rest"
                }
            };
            self.rep
                .error(text.span(), format!("expression in {what} {limit}"))
                .hint(hint);
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
        let mut ok = self.variables(text, what, program.expression());
        ok &= self.functions(text, what, &program);
        let nesting = check::macro_nesting(program.expression());
        if nesting > check::MAX_MACRO_NESTING {
            self.rep
                .error(
                    text.span(),
                    format!(
                        "macros in {what} nest {nesting} deep, more than the {} allowed",
                        check::MAX_MACRO_NESTING
                    ),
                )
                .hint(COST_HINT);
            ok = false;
        } else {
            let bound = cost::bound(program.expression(), VALIDATION_CHANGE_SIZE);
            if bound > MAX_EVALUATION_COST {
                self.rep
                    .error(
                        text.span(),
                        format!(
                            "{what} could take up to {bound:.1e} evaluation steps on a change of {} KiB, more than the {MAX_EVALUATION_COST:.0e} allowed",
                            VALIDATION_CHANGE_SIZE / 1024.0
                        ),
                    )
                    .hint(COST_HINT);
                ok = false;
            }
        }
        if expect == Expect::Bool
            && let Kind::Not(kind) = check::kind(program.expression())
        {
            self.rep
                .error(text.span(), format!("{what} gives {kind}, not a boolean"))
                .hint("a condition is true or false, e.g. change.after.status == 'active'; anything else holds every change at run time");
            ok = false;
        }
        ok.then(|| Expr {
            source: source.clone(),
            program: Arc::new(program),
        })
    }

    /// Reports identifiers other than `change` and type names.
    fn variables(&mut self, text: &Text, what: &str, expr: &IdedExpr) -> bool {
        let mut free = Vec::new();
        free_variables(expr, &mut Vec::new(), &mut free);
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
        ok
    }

    /// Reports calls to functions the evaluator does not have: they would fail on every change.
    fn functions(&mut self, text: &Text, what: &str, program: &cel::Program) -> bool {
        let unknown = check::unknown_functions(program.expression());
        for call in &unknown {
            let name = call.name.as_str();
            let hint = if MACROS.contains(&name) {
                if name == "has" {
                    "`has` is a macro over a field: has(change.after.email)".to_owned()
                } else {
                    format!(
                        "`{name}` is a macro taking a variable and an expression: list.{name}(x, x > 0)"
                    )
                }
            } else if call.method && GLOBAL_FUNCTIONS.contains(&name) {
                format!("`{name}` is called as a function: {name}(x)")
            } else if !call.method && METHODS.contains(&name) {
                format!("`{name}` is called as a method: x.{name}(..)")
            } else if call.method {
                suggest::hint(name, METHODS.iter().copied(), "methods")
            } else {
                suggest::hint(name, GLOBAL_FUNCTIONS.iter().copied(), "functions")
            };
            // The parser places a call at its `(`; the name is just before it.
            let span = match program.source_info().offset_for(call.id) {
                Some((open, _)) => {
                    let open = open as usize;
                    let before = text.get_ref().get(..open).unwrap_or("");
                    let start = before.strip_suffix(name).map_or(open, str::len);
                    self.span_at(text, start, open.saturating_sub(start).max(1))
                }
                None => text.span(),
            };
            self.rep
                .error(span, format!("unknown function `{name}` in {what}"))
                .hint(hint);
        }
        unknown.is_empty()
    }

    /// Where CEL's 1-based (line, column) falls in the file: exact when the string is written
    /// without escapes, otherwise the whole string.
    fn expr_span(&self, text: &Text, (line, col): (isize, isize)) -> Range<usize> {
        let source = text.get_ref();
        let (Ok(line), Ok(col)) = (usize::try_from(line - 1), usize::try_from(col - 1)) else {
            return text.span();
        };
        let line_start: usize = source.split_inclusive('\n').take(line).map(str::len).sum();
        let rest = source.get(line_start..).unwrap_or("");
        let offset = line_start + rest.char_indices().nth(col).map_or(rest.len(), |(i, _)| i);
        self.span_at(text, offset, 1)
    }

    /// Where `len` bytes at `offset` of the expression fall in the file: exact when the string
    /// is written without escapes, otherwise the whole string.
    fn span_at(&self, text: &Text, offset: usize, len: usize) -> Range<usize> {
        let span = text.span();
        let written = self.rep.file().slice(&span);
        // A basic or literal string: one quote on each side (multi-line strings take the
        // fallback, as their text differs from the written one only by the quotes).
        let inner = written
            .get(1..written.len().saturating_sub(1))
            .unwrap_or("");
        // An error at the very end points at the closing quote.
        let fits = offset + len <= inner.len() || (len == 1 && offset == inner.len());
        if inner != text.get_ref() || !fits {
            return span;
        }
        let start = span.start + 1 + offset;
        start..start + len
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
