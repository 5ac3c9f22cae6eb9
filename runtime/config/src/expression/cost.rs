//! A worst-case bound on what evaluating an expression costs, since the `cel` crate (0.15) has
//! no cost limit of its own: its evaluator runs an expression to the end however long that takes.
//!
//! The bound is computed from the syntax tree and the size of the `change` value, before
//! anything runs. Every value gets a *size* (1 for a scalar, 1 + the bytes of a string, 1 +
//! the sizes of a list's or map's members), an upper bound on its length and on the work of
//! copying or comparing it; every node gets a *cost* in evaluation steps. Inside a macro (`all`,
//! `exists`, `exists_one`, `map`, `filter`) sizes and costs are polynomials in the sizes of the
//! macros' variables, and closing a macro over a range of size `R` turns a per-element term
//! `c * x^k` into `c * R^k`: the elements' sizes add up to at most `R`, so nested macros over
//! disjoint parts of a document stay linear while a macro nested over the same list twice is
//! quadratic, and a body that doubles its variable (`[s].map(a, a + a).map(a, a + a)...`)
//! doubles the bound at each step.

use cel::IdedExpr;
use cel::common::ast::{EntryExpr, Expr as Node, LiteralValue};

/// Macro variables tracked as polynomial variables; deeper macros (refused at validation)
/// fall back to a coarser bound.
const VARS: usize = 3;

/// Sizes and costs: sums of `coefficient * x0^e0 * x1^e1 * x2^e2` over macro variables' sizes.
/// Coefficients are positive, so every operation below is an upper bound of its exact
/// counterpart.
#[derive(Debug, Clone, Default, PartialEq)]
struct Poly(Vec<([u8; VARS], f64)>);

impl Poly {
    fn constant(c: f64) -> Self {
        let mut p = Poly::default();
        p.push([0; VARS], c);
        p
    }

    fn var(index: usize) -> Self {
        let mut exponents = [0; VARS];
        exponents[index] = 1;
        let mut p = Poly::default();
        p.push(exponents, 1.0);
        p
    }

    fn push(&mut self, exponents: [u8; VARS], c: f64) {
        if c == 0.0 {
            return;
        }
        match self.0.iter_mut().find(|(e, _)| *e == exponents) {
            Some((_, sum)) => *sum += c,
            None => self.0.push((exponents, c)),
        }
    }

    fn plus(mut self, other: &Poly) -> Self {
        for (e, c) in &other.0 {
            self.push(*e, *c);
        }
        self
    }

    fn plus_const(self, c: f64) -> Self {
        self.plus(&Poly::constant(c))
    }

    fn times(&self, other: &Poly) -> Self {
        let mut out = Poly::default();
        for (ea, ca) in &self.0 {
            for (eb, cb) in &other.0 {
                let mut e = [0; VARS];
                for (i, slot) in e.iter_mut().enumerate() {
                    *slot = ea[i].saturating_add(eb[i]);
                }
                out.push(e, ca * cb);
            }
        }
        out
    }

    /// Term by term, an upper bound of the larger of the two.
    fn max(&self, other: &Poly) -> Self {
        let mut out = self.clone();
        for (e, c) in &other.0 {
            match out.0.iter_mut().find(|(oe, _)| oe == e) {
                Some((_, oc)) => *oc = oc.max(*c),
                None => out.0.push((*e, *c)),
            }
        }
        out
    }

    /// Either one bounds the smaller of the two; the one with fewer variables is the tighter
    /// for most of their range (a comparison with a literal costs the literal's size).
    fn min(&self, other: &Poly) -> Self {
        let degree = |p: &Poly| {
            p.0.iter()
                .map(|(e, _)| e.iter().map(|&x| u32::from(x)).sum::<u32>())
                .max()
                .unwrap_or(0)
        };
        let total = |p: &Poly| p.0.iter().map(|(_, c)| c).sum::<f64>();
        if (degree(self), total(self)) <= (degree(other), total(other)) {
            self.clone()
        } else {
            other.clone()
        }
    }

    fn power(&self, n: u8) -> Self {
        (0..n).fold(Poly::constant(1.0), |acc, _| acc.times(self))
    }

    /// Sums `self`, a per-element bound in variable `index`, over the elements of a range of
    /// size `range`: a term `c * x^0` adds up to `c * R` (at most `R` elements), a term
    /// `c * x^k` to at most `c * R^k` (the elements' sizes add up to at most `R`).
    fn over(&self, index: usize, range: &Poly) -> Self {
        let mut out = Poly::default();
        for (e, c) in &self.0 {
            let k = e[index];
            let mut rest = *e;
            rest[index] = 0;
            let mut term = Poly::default();
            term.push(rest, *c);
            let factor = if k == 0 {
                range.clone()
            } else {
                range.power(k)
            };
            out = out.plus(&term.times(&factor));
        }
        out
    }

    /// The value once no variable is left (every macro closed); infinite when out of range.
    fn value(&self) -> f64 {
        let v: f64 = self.0.iter().map(|(_, c)| c).sum();
        if v.is_nan() { f64::INFINITY } else { v }
    }
}

/// The size and the cost of one node.
struct Bound {
    size: Poly,
    cost: Poly,
}

impl Bound {
    fn unit() -> Self {
        Bound {
            size: Poly::constant(1.0),
            cost: Poly::constant(1.0),
        }
    }
}

struct Walker {
    change_size: f64,
    /// Variables in scope, innermost last, with their sizes.
    scopes: Vec<(String, Poly)>,
    /// Macro variables tracked as polynomial variables so far (nesting depth).
    depth: usize,
}

/// An upper bound, in evaluation steps, of evaluating `expr` with a `change` of
/// `change_size` (see [`input_size`]). Converting the change for the evaluator is included.
pub fn bound(expr: &IdedExpr, change_size: f64) -> f64 {
    let mut walker = Walker {
        change_size,
        scopes: Vec::new(),
        depth: 0,
    };
    walker.walk(expr).cost.value() + change_size
}

/// The size of a JSON value as the cost model counts it (see the module comment).
pub fn input_size(value: &serde_json::Value) -> f64 {
    let mut total = 0.0;
    let mut pending = vec![value];
    while let Some(v) = pending.pop() {
        total += 1.0;
        match v {
            serde_json::Value::String(s) => total += s.len() as f64,
            serde_json::Value::Array(items) => pending.extend(items),
            serde_json::Value::Object(map) => {
                for (key, item) in map {
                    total += 1.0 + key.len() as f64;
                    pending.push(item);
                }
            }
            _ => {}
        }
    }
    total
}

impl Walker {
    fn walk(&mut self, expr: &IdedExpr) -> Bound {
        match &expr.expr {
            Node::Unspecified => Bound::unit(),
            Node::Literal(literal) => {
                let len = match literal {
                    LiteralValue::String(s) => s.inner().len(),
                    LiteralValue::Bytes(b) => b.inner().len(),
                    _ => 0,
                };
                Bound {
                    size: Poly::constant(1.0 + len as f64),
                    cost: Poly::constant(1.0),
                }
            }
            Node::Ident(name) => {
                let size = match self.scopes.iter().rev().find(|(n, _)| n == name) {
                    Some((_, size)) => size.clone(),
                    None if name == "change" => Poly::constant(self.change_size),
                    None => Poly::constant(1.0),
                };
                Bound {
                    size,
                    cost: Poly::constant(1.0),
                }
            }
            Node::Select(select) => {
                let operand = self.walk(&select.operand);
                Bound {
                    size: if select.test {
                        Poly::constant(1.0)
                    } else {
                        operand.size
                    },
                    cost: operand.cost.plus_const(1.0),
                }
            }
            Node::List(list) => self.members(list.elements.iter()),
            Node::Map(map) => self.entries(&map.entries),
            Node::Struct(object) => self.entries(&object.entries),
            Node::Call(call) => {
                let operands: Vec<Bound> = call
                    .target
                    .iter()
                    .map(|t| t.as_ref())
                    .chain(&call.args)
                    .map(|e| self.walk(e))
                    .collect();
                let cost = operands
                    .iter()
                    .fold(Poly::constant(1.0), |acc, b| acc.plus(&b.cost));
                let sizes = operands
                    .iter()
                    .fold(Poly::default(), |acc, b| acc.plus(&b.size));
                let size_of = |i: usize| {
                    operands
                        .get(i)
                        .map_or_else(|| Poly::constant(1.0), |b| b.size.clone())
                };
                let one = Poly::constant(1.0);
                let (size, own) = match call.func_name.as_str() {
                    "_&&_"
                    | "_||_"
                    | "!_"
                    | "@not_strictly_false"
                    | "_-_"
                    | "_*_"
                    | "_/_"
                    | "_%_"
                    | "-_"
                    | "size"
                    | "hasValue" => (one.clone(), one),
                    "_?_:_" => (size_of(1).max(&size_of(2)), one),
                    "_==_" | "_!=_" | "_<_" | "_<=_" | "_>_" | "_>=_" => {
                        (one, size_of(0).min(&size_of(1)))
                    }
                    "@in" => (one, size_of(1)),
                    // Concatenation copies both sides. Appending to a macro's accumulator
                    // (`@result + [x]`) is done in place, and the accumulator counts 0 here.
                    "_+_" => (sizes.clone(), sizes),
                    "_[_]" | "_[?_]" => (size_of(0), one),
                    "contains" | "startsWith" | "endsWith" => (one, sizes),
                    // The pattern is compiled, then matched against the text.
                    "matches" => (
                        one.clone(),
                        size_of(0).plus(&one).times(&size_of(1).plus(&one)),
                    ),
                    // Conversions: a number or a date printed takes a few dozen bytes.
                    "int" | "uint" | "double" | "bool" | "string" | "bytes" | "dyn" | "type"
                    | "duration" | "timestamp" => {
                        let size = sizes.plus_const(32.0);
                        (size.clone(), size)
                    }
                    name if name.starts_with("get") => (one.clone(), one),
                    _ => (sizes.clone(), sizes.plus_const(1.0)),
                };
                Bound {
                    size,
                    cost: cost.plus(&own),
                }
            }
            Node::Comprehension(comp) => {
                let range = self.walk(&comp.iter_range);
                let init = self.walk(&comp.accu_init);
                let tracked = self.depth < VARS;
                let element = if tracked {
                    Poly::var(self.depth)
                } else {
                    range.size.clone()
                };
                let scopes = self.scopes.len();
                self.scopes.push((comp.iter_var.clone(), element.clone()));
                if let Some(second) = &comp.iter_var2 {
                    self.scopes.push((second.clone(), element.clone()));
                }
                // What one step adds to the accumulator, and what it costs apart from it.
                self.scopes.push((comp.accu_var.clone(), Poly::default()));
                if tracked {
                    self.depth += 1;
                }
                let cond = self.walk(&comp.loop_cond);
                let step = self.walk(&comp.loop_step);
                if tracked {
                    self.depth -= 1;
                }
                self.scopes.truncate(scopes);
                // Each element is copied into the variable.
                let per_element = cond.cost.plus(&step.cost).plus(&element).plus_const(1.0);
                let (loop_cost, growth) = if tracked {
                    (
                        per_element.over(self.depth, &range.size),
                        step.size.over(self.depth, &range.size),
                    )
                } else {
                    (per_element.times(&range.size), step.size.times(&range.size))
                };
                self.scopes
                    .push((comp.accu_var.clone(), init.size.plus(&growth)));
                let result = self.walk(&comp.result);
                self.scopes.truncate(scopes);
                Bound {
                    size: result.size,
                    cost: range
                        .cost
                        .plus(&init.cost)
                        .plus(&loop_cost)
                        .plus(&result.cost)
                        .plus_const(1.0),
                }
            }
        }
    }

    fn members<'e>(&mut self, items: impl Iterator<Item = &'e IdedExpr>) -> Bound {
        let mut bound = Bound::unit();
        for item in items {
            let b = self.walk(item);
            bound.size = bound.size.plus(&b.size);
            bound.cost = bound.cost.plus(&b.cost).plus_const(1.0);
        }
        bound
    }

    fn entries(&mut self, entries: &[cel::common::ast::IdedEntryExpr]) -> Bound {
        let mut bound = Bound::unit();
        for entry in entries {
            let parts: Vec<&IdedExpr> = match &entry.expr {
                EntryExpr::StructField(field) => vec![&field.value],
                EntryExpr::MapEntry(pair) => vec![&pair.key, &pair.value],
            };
            let b = self.members(parts.into_iter());
            bound.size = bound.size.plus(&b.size);
            bound.cost = bound.cost.plus(&b.cost);
        }
        bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(source: &str, change_size: f64) -> f64 {
        let program = cel::Program::compile(source).expect("compiles");
        bound(program.expression(), change_size)
    }

    #[test]
    fn one_pass_over_the_change_is_linear_in_its_size() {
        let linear = "change.after.items.exists(i, i.price.amount > 1000 && 'vip' in i.tags)";
        let small = cost(linear, 1_000.0);
        let large = cost(linear, 1_000_000.0);
        assert!(large / small < 1_100.0, "{small} -> {large}");
        // Macros nested over parts of one element are still one pass.
        let nested = "change.after.items.all(i, i.tiers.all(t, t.flags.all(f, f != 'x')))";
        assert!(cost(nested, 1_000_000.0) / cost(nested, 1_000.0) < 1_100.0);
        let plain = "change.after.status != 'incomplete'";
        assert!(cost(plain, 1e6) < 1e6 + 20.0, "{}", cost(plain, 1e6));
    }

    #[test]
    fn a_macro_nested_over_the_same_list_is_quadratic() {
        let pairs = "change.after.items.all(a, change.after.items.all(b, a == b))";
        let ratio = cost(pairs, 1_000_000.0) / cost(pairs, 1_000.0);
        assert!(ratio > 500_000.0, "{ratio}");
    }

    #[test]
    fn literal_ranges_multiply_and_doubling_bodies_explode() {
        let list = format!("[{}]", vec!["1"; 100].join(","));
        let nested = format!("{list}.all(a, {list}.all(b, {list}.all(c, a + b + c > 0)))");
        assert!(cost(&nested, 10.0) > 1e6 * 5.0, "{}", cost(&nested, 10.0));
        let doubling = format!("[change.key]{}", ".map(a, a + a)".repeat(40));
        assert!(cost(&doubling, 100.0) > 1e12, "{}", cost(&doubling, 100.0));
    }

    #[test]
    fn input_size_counts_members_and_bytes() {
        let v = serde_json::json!({"a": "xyz", "b": [1, 2]});
        // object 1, key a 2 + "xyz" 4, key b 2 + list 1 + 1 + 1
        assert_eq!(input_size(&v), 12.0);
    }
}
