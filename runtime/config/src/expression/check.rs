//! What can be told about a compiled expression without running it: the functions it calls
//! exist, how deeply its macros nest, and what kind of value it gives when that is fixed.

use cel::IdedExpr;
use cel::common::ast::{EntryExpr, Expr as Node, LiteralValue};

/// Functions the evaluator provides, called as `f(x)` (found by calling each candidate with the
/// `cel` crate 0.15's standard environment, the one `Program::compile` and
/// `Context::default` use).
pub const GLOBAL_FUNCTIONS: &[&str] = &[
    "bool",
    "bytes",
    "double",
    "duration",
    "dyn",
    "int",
    "matches",
    "size",
    "string",
    "timestamp",
    "type",
    "uint",
];

/// Functions the evaluator provides, called as methods, `x.f(..)`.
pub const METHODS: &[&str] = &[
    "contains",
    "endsWith",
    "getDate",
    "getDayOfMonth",
    "getDayOfWeek",
    "getDayOfYear",
    "getFullYear",
    "getHours",
    "getMilliseconds",
    "getMinutes",
    "getMonth",
    "getSeconds",
    "hasValue",
    "matches",
    "or",
    "orValue",
    "size",
    "startsWith",
    "value",
];

/// The macros; written with the wrong number of arguments they stay plain calls.
pub const MACROS: &[&str] = &["all", "exists", "exists_one", "filter", "has", "map"];

/// Macros nested in each other's bodies at most this deep: each level multiplies the work by
/// the size of what it iterates.
pub const MAX_MACRO_NESTING: usize = 3;

/// A call to a function the evaluator does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFunction {
    /// The function's name.
    pub name: String,
    /// Called as a method (`x.name()`) rather than as `name(x)`.
    pub method: bool,
    /// The node of the call, to locate it in the source.
    pub id: u64,
}

/// Every call to an unknown function, in source order. Operators (`_+_`, `@in`, ...) are the
/// parser's own and always exist.
pub fn unknown_functions(expr: &IdedExpr) -> Vec<UnknownFunction> {
    let mut found = Vec::new();
    visit(expr, &mut |node| {
        if let Node::Call(call) = &node.expr {
            let name = call.func_name.as_str();
            let operator =
                name.starts_with('_') || name.starts_with('@') || name == "!_" || name == "-_";
            let method = call.target.is_some();
            let known = if method {
                METHODS.contains(&name)
            } else {
                GLOBAL_FUNCTIONS.contains(&name)
            };
            if !operator && !known {
                found.push(UnknownFunction {
                    name: name.to_owned(),
                    method,
                    id: node.id,
                });
            }
        }
    });
    found
}

/// How deeply macros nest in each other's bodies (`a.all(x, x.b.all(y, ...))` is 2; a macro
/// over the result of another, `a.map(x, x).all(y, ...)`, is 1).
pub fn macro_nesting(expr: &IdedExpr) -> usize {
    match &expr.expr {
        Node::Comprehension(comp) => {
            let body = [&comp.loop_cond, &comp.loop_step, &comp.result]
                .into_iter()
                .map(macro_nesting)
                .max()
                .unwrap_or(0);
            macro_nesting(&comp.iter_range)
                .max(macro_nesting(&comp.accu_init))
                .max(body + 1)
        }
        _ => children(expr)
            .into_iter()
            .map(macro_nesting)
            .max()
            .unwrap_or(0),
    }
}

/// What an expression gives, as far as it is fixed by its form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A boolean.
    Bool,
    /// Not a boolean, whatever the change: described, e.g. "an int".
    Not(&'static str),
    /// Depends on the change (a field, an index, `dyn(..)`).
    Unknown,
}

/// The kind of value `expr` gives.
pub fn kind(expr: &IdedExpr) -> Kind {
    kind_in(expr, &mut Vec::new())
}

fn kind_in(expr: &IdedExpr, accumulators: &mut Vec<(String, Kind)>) -> Kind {
    match &expr.expr {
        Node::Literal(literal) => match literal {
            LiteralValue::Boolean(_) => Kind::Bool,
            LiteralValue::Int(_) => Kind::Not("an int"),
            LiteralValue::UInt(_) => Kind::Not("a uint"),
            LiteralValue::Double(_) => Kind::Not("a double"),
            LiteralValue::String(_) => Kind::Not("a string"),
            LiteralValue::Bytes(_) => Kind::Not("bytes"),
            LiteralValue::Null => Kind::Not("null"),
        },
        Node::List(_) => Kind::Not("a list"),
        Node::Map(_) => Kind::Not("a map"),
        Node::Select(select) if select.test => Kind::Bool,
        Node::Ident(name) => accumulators
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map_or(Kind::Unknown, |(_, k)| *k),
        Node::Call(call) => match call.func_name.as_str() {
            "_&&_"
            | "_||_"
            | "!_"
            | "_==_"
            | "_!=_"
            | "_<_"
            | "_<=_"
            | "_>_"
            | "_>=_"
            | "@in"
            | "@not_strictly_false"
            | "contains"
            | "startsWith"
            | "endsWith"
            | "matches"
            | "bool"
            | "hasValue" => Kind::Bool,
            "_+_" => call
                .args
                .iter()
                .map(|a| kind_in(a, accumulators))
                .find(|k| matches!(k, Kind::Not(_)))
                .unwrap_or(Kind::Not("a sum")),
            "_-_" | "_*_" | "_/_" | "_%_" | "-_" => Kind::Not("a number"),
            "size" | "int" => Kind::Not("an int"),
            "uint" => Kind::Not("a uint"),
            "double" => Kind::Not("a double"),
            "string" => Kind::Not("a string"),
            "bytes" => Kind::Not("bytes"),
            "duration" => Kind::Not("a duration"),
            "timestamp" => Kind::Not("a timestamp"),
            "type" => Kind::Not("a type"),
            name if name.starts_with("get") && call.target.is_some() => Kind::Not("an int"),
            "_?_:_" => match (
                call.args.get(1).map(|a| kind_in(a, accumulators)),
                call.args.get(2).map(|a| kind_in(a, accumulators)),
            ) {
                (Some(Kind::Bool), Some(Kind::Bool)) => Kind::Bool,
                (Some(Kind::Not(k)), Some(Kind::Not(_) | Kind::Bool))
                | (Some(Kind::Bool), Some(Kind::Not(k))) => Kind::Not(k),
                _ => Kind::Unknown,
            },
            _ => Kind::Unknown,
        },
        Node::Comprehension(comp) => {
            let init = kind_in(&comp.accu_init, accumulators);
            accumulators.push((comp.accu_var.clone(), init));
            let result = kind_in(&comp.result, accumulators);
            accumulators.pop();
            result
        }
        Node::Select(_) | Node::Struct(_) | Node::Unspecified => Kind::Unknown,
    }
}

/// Calls `f` on every node, parents before children, in source order.
fn visit(expr: &IdedExpr, f: &mut dyn FnMut(&IdedExpr)) {
    f(expr);
    for child in children(expr) {
        visit(child, f);
    }
}

fn children(expr: &IdedExpr) -> Vec<&IdedExpr> {
    match &expr.expr {
        Node::Unspecified | Node::Literal(_) | Node::Ident(_) => Vec::new(),
        Node::Call(call) => call
            .target
            .iter()
            .map(|t| t.as_ref())
            .chain(&call.args)
            .collect(),
        Node::Select(select) => vec![&select.operand],
        Node::List(list) => list.elements.iter().collect(),
        Node::Map(map) => entry_children(&map.entries),
        Node::Struct(object) => entry_children(&object.entries),
        Node::Comprehension(comp) => vec![
            &comp.iter_range,
            &comp.accu_init,
            &comp.loop_cond,
            &comp.loop_step,
            &comp.result,
        ],
    }
}

fn entry_children(entries: &[cel::common::ast::IdedEntryExpr]) -> Vec<&IdedExpr> {
    entries
        .iter()
        .flat_map(|entry| match &entry.expr {
            EntryExpr::StructField(field) => vec![&field.value],
            EntryExpr::MapEntry(pair) => vec![&pair.key, &pair.value],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(source: &str) -> cel::Program {
        cel::Program::compile(source).expect("compiles")
    }

    #[test]
    fn unknown_functions_are_found_known_ones_are_not() {
        let program = compile(
            "size(change.a) > 0 && change.b.startsWith('x') && lower(change.c) == 'y' && change.d.trim() == '' && contains(change.e, 'f')",
        );
        let unknown: Vec<(String, bool)> = unknown_functions(program.expression())
            .into_iter()
            .map(|u| (u.name, u.method))
            .collect();
        assert_eq!(
            unknown,
            [
                ("lower".to_owned(), false),
                ("trim".to_owned(), true),
                ("contains".to_owned(), false)
            ]
        );
        let fine = compile(
            "change.after.items.exists(i, i.price > 0) && has(change.after.email) && int(change.after.n) + 1 > 2 && change.after.tags.map(t, t).filter(t, t.matches('^a')).size() > 0",
        );
        assert_eq!(unknown_functions(fine.expression()), []);
    }

    #[test]
    fn the_kind_of_a_result_is_known_where_its_form_fixes_it() {
        let kind_of = |s: &str| kind(compile(s).expression());
        assert_eq!(kind_of("change.a == 1"), Kind::Bool);
        assert_eq!(kind_of("change.items.all(i, i > 0)"), Kind::Bool);
        assert_eq!(kind_of("change.items.exists_one(i, i > 0)"), Kind::Bool);
        assert_eq!(kind_of("has(change.a)"), Kind::Bool);
        assert_eq!(kind_of("1"), Kind::Not("an int"));
        assert_eq!(kind_of("'true'"), Kind::Not("a string"));
        assert_eq!(kind_of("change.a + 1"), Kind::Not("an int"));
        assert_eq!(kind_of("change.a + change.b"), Kind::Not("a sum"));
        assert_eq!(kind_of("size(change.a)"), Kind::Not("an int"));
        assert_eq!(kind_of("change.items.map(i, i)"), Kind::Not("a list"));
        assert_eq!(kind_of("change.a ? true : 0"), Kind::Not("an int"));
        assert_eq!(kind_of("change.a ? true : change.b"), Kind::Unknown);
        assert_eq!(kind_of("change.after.active"), Kind::Unknown);
    }

    #[test]
    fn macro_nesting_counts_bodies_not_chains() {
        let nesting = |s: &str| macro_nesting(compile(s).expression());
        assert_eq!(nesting("change.a == 1"), 0);
        assert_eq!(nesting("change.a.map(x, x).all(y, y > 0)"), 1);
        assert_eq!(nesting("change.a.all(x, x.b.all(y, y > 0))"), 2);
        assert_eq!(nesting("change.a.all(x, x.b.all(y, y.c.exists(z, z)))"), 3);
    }
}
