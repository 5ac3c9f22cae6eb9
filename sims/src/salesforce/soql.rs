//! The SOQL the simulator understands (fact sheet §6): `SELECT fields FROM Object [WHERE
//! conditions] [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]`,
//! where conditions compare a field with a literal (`=`, `!=`, `<>`, `<`, `<=`, `>`, `>=`,
//! `IN (...)`, `NOT IN (...)`) joined by `AND` / `OR` (not mixed without parentheses, as in
//! SOQL) and `NOT`. Anything else is `MALFORMED_QUERY`, with Salesforce's row/column text.

use std::cmp::Ordering;

use serde_json::Value;

use super::clock::{parse_date, parse_datetime};
use super::error::ApiError;
use super::ids;
use super::schema::{Kind, ObjectDef, Schema};
use super::store::{Record, Store};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(f64),
    /// A date or dateTime literal, as written.
    Temporal(String),
    Sym(&'static str),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    at: usize,
}

/// `\nQUERY\n   ^\nERROR at Row:1:Column:4\nmessage`, as Salesforce points at the problem.
fn located(q: &str, at: usize, message: &str) -> String {
    let before = &q[..at.min(q.len())];
    let row = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!(
        "\n{q}\n{}^\nERROR at Row:{row}:Column:{col}\n{message}",
        " ".repeat(col - 1)
    )
}

fn malformed(q: &str, at: usize, message: &str) -> ApiError {
    ApiError::malformed_query(located(q, at, message))
}

fn lex(q: &str) -> Result<Vec<Token>, ApiError> {
    let bytes = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let tok = if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || b"_.".contains(&bytes[i]))
            {
                i += 1;
            }
            Tok::Word(q[start..i].to_owned())
        } else if c == b'\'' {
            i += 1;
            let mut s = String::new();
            loop {
                match bytes.get(i) {
                    None => return Err(malformed(q, start, "unexpected token: <EOF>")),
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let escaped = match bytes.get(i + 1) {
                            Some(b'n') => '\n',
                            Some(b't') => '\t',
                            Some(b'r') => '\r',
                            Some(b'\'') => '\'',
                            Some(b'"') => '"',
                            Some(b'\\') => '\\',
                            _ => return Err(malformed(q, i, "Invalid string literal")),
                        };
                        s.push(escaped);
                        i += 2;
                    }
                    Some(_) => {
                        let ch = q[i..].chars().next().unwrap_or_default();
                        s.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            Tok::Str(s)
        } else if c.is_ascii_digit()
            || (c == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            i += 1;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            if i - start == 4 && bytes.get(i) == Some(&b'-') {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || b":.+-".contains(&bytes[i]))
                {
                    i += 1;
                }
                Tok::Temporal(q[start..i].to_owned())
            } else {
                let n = q[start..i].parse().map_err(|_| {
                    malformed(q, start, &format!("unexpected token: {}", &q[start..i]))
                })?;
                Tok::Num(n)
            }
        } else {
            let two = q.get(i..i + 2).unwrap_or_default();
            let sym = ["!=", "<>", "<=", ">="]
                .into_iter()
                .find(|s| *s == two)
                .or_else(|| {
                    ["=", "<", ">", ",", "(", ")"]
                        .into_iter()
                        .find(|s| s.as_bytes()[0] == c)
                });
            let Some(sym) = sym else {
                let ch = q[i..].chars().next().unwrap_or_default();
                return Err(malformed(q, i, &format!("unexpected token: '{ch}'")));
            };
            i += sym.len();
            Tok::Sym(sym)
        };
        out.push(Token { tok, at: start });
    }
    Ok(out)
}

/// A literal in a condition, typed.
#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    Date(String),
    DateTime(i64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone)]
enum Expr {
    Cmp {
        field: String,
        op: Op,
        lit: Lit,
    },
    In {
        field: String,
        lits: Vec<Lit>,
        negated: bool,
    },
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
}

#[derive(Debug, Clone)]
struct Order {
    field: String,
    desc: bool,
    nulls_first: bool,
}

/// A parsed query, its names resolved against the schema.
#[derive(Debug, Clone)]
pub struct Soql {
    pub object: ObjectDef,
    pub fields: Vec<String>,
    filter: Option<Expr>,
    order: Vec<Order>,
    limit: Option<usize>,
    offset: usize,
}

/// The comparison type of a field.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ty {
    Text,
    Id,
    Number,
    Bool,
    Date,
    DateTime,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Text => "string",
            Ty::Id => "id",
            Ty::Number => "double",
            Ty::Bool => "boolean",
            Ty::Date => "date",
            Ty::DateTime => "dateTime",
        }
    }
}

fn field_type(od: &ObjectDef, name: &str) -> Ty {
    match name {
        "Id" | "CreatedById" | "LastModifiedById" => Ty::Id,
        "IsDeleted" => Ty::Bool,
        "CreatedDate" | "LastModifiedDate" | "SystemModstamp" => Ty::DateTime,
        _ => match od.find(name).map(|f| &f.kind) {
            Some(Kind::Reference { .. }) => Ty::Id,
            Some(Kind::Number) => Ty::Number,
            Some(Kind::Checkbox) => Ty::Bool,
            Some(Kind::Date) => Ty::Date,
            Some(Kind::DateTime) => Ty::DateTime,
            _ => Ty::Text,
        },
    }
}

struct Parser<'a> {
    q: &'a str,
    toks: Vec<Token>,
    pos: usize,
    od: Option<ObjectDef>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.q.len(), |t| t.at)
    }

    fn unexpected(&self) -> ApiError {
        let shown = match self.toks.get(self.pos) {
            None => "<EOF>".to_owned(),
            Some(t) => self.q[t.at..]
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned(),
        };
        malformed(self.q, self.at(), &format!("unexpected token: {shown}"))
    }

    fn keyword(&mut self, kw: &str) -> bool {
        let hit = matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw));
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect_keyword(&mut self, kw: &str) -> Result<(), ApiError> {
        if self.keyword(kw) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn sym(&mut self, s: &'static str) -> bool {
        let hit = self.peek() == Some(&Tok::Sym(s));
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn word(&mut self) -> Result<(String, usize), ApiError> {
        match self.peek() {
            Some(Tok::Word(w)) => {
                let out = (w.clone(), self.at());
                self.pos += 1;
                Ok(out)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn column(&self, name: &str, at: usize) -> Result<String, ApiError> {
        let od = self.od.as_ref().ok_or_else(|| self.unexpected())?;
        od.readable(name).ok_or_else(|| {
            ApiError::one(
                axum::http::StatusCode::BAD_REQUEST,
                "INVALID_FIELD",
                located(
                    self.q,
                    at,
                    &format!(
                        "No such column '{name}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
                        od.name
                    ),
                ),
            )
        })
    }

    fn literal(&mut self, field: &str) -> Result<Lit, ApiError> {
        let od = self.od.clone().ok_or_else(|| self.unexpected())?;
        let ty = field_type(&od, field);
        let at = self.at();
        let wrong = |quoted: bool| {
            ApiError::one(
                axum::http::StatusCode::BAD_REQUEST,
                "INVALID_QUERY_FILTER_OPERATOR",
                located(
                    self.q,
                    at,
                    &format!(
                        "value of filter criterion for field '{field}' must be of type {} and should {}be enclosed in quotes",
                        ty.name(),
                        if quoted { "not " } else { "" }
                    ),
                ),
            )
        };
        let tok = self.peek().cloned().ok_or_else(|| self.unexpected())?;
        let lit = match (tok, ty) {
            (Tok::Word(w), _) if w.eq_ignore_ascii_case("null") => Lit::Null,
            (Tok::Word(w), Ty::Bool) if w.eq_ignore_ascii_case("true") => Lit::Bool(true),
            (Tok::Word(w), Ty::Bool) if w.eq_ignore_ascii_case("false") => Lit::Bool(false),
            (Tok::Str(s), Ty::Text) => Lit::Str(s),
            (Tok::Str(s), Ty::Id) => Lit::Str(ids::normalize(&s).ok_or_else(|| {
                ApiError::one(
                    axum::http::StatusCode::BAD_REQUEST,
                    "INVALID_QUERY_FILTER_OPERATOR",
                    located(self.q, at, &format!("invalid ID field: {s}")),
                )
            })?),
            (Tok::Num(n), Ty::Number) => Lit::Num(n),
            (Tok::Temporal(t), Ty::DateTime) => {
                Lit::DateTime(parse_datetime(&t).ok_or_else(|| {
                    malformed(
                        self.q,
                        at,
                        &format!("line 1:{at} no viable alternative at character '{t}'"),
                    )
                })?)
            }
            (Tok::Temporal(t), Ty::Date) => {
                parse_date(&t).ok_or_else(|| self.unexpected())?;
                Lit::Date(t)
            }
            (Tok::Str(_), _) => return Err(wrong(true)),
            (Tok::Num(_) | Tok::Temporal(_), _) => return Err(wrong(false)),
            (Tok::Word(_), Ty::Text | Ty::Id) => return Err(wrong(false)),
            _ => return Err(self.unexpected()),
        };
        self.pos += 1;
        Ok(lit)
    }

    fn comparison(&mut self) -> Result<Expr, ApiError> {
        if self.sym("(") {
            let inner = self.expr()?;
            if !self.sym(")") {
                return Err(self.unexpected());
            }
            return Ok(inner);
        }
        if self.keyword("NOT") {
            return Ok(Expr::Not(Box::new(self.comparison()?)));
        }
        let (name, at) = self.word()?;
        let field = self.column(&name, at)?;
        let negated = self.keyword("NOT");
        if self.keyword("IN") {
            if !self.sym("(") {
                return Err(self.unexpected());
            }
            let mut lits = vec![self.literal(&field)?];
            while self.sym(",") {
                lits.push(self.literal(&field)?);
            }
            if !self.sym(")") {
                return Err(self.unexpected());
            }
            return Ok(Expr::In {
                field,
                lits,
                negated,
            });
        }
        if negated {
            return Err(self.unexpected());
        }
        let op = match self.peek() {
            Some(Tok::Sym("=")) => Op::Eq,
            Some(Tok::Sym("!=" | "<>")) => Op::Ne,
            Some(Tok::Sym("<")) => Op::Lt,
            Some(Tok::Sym("<=")) => Op::Le,
            Some(Tok::Sym(">")) => Op::Gt,
            Some(Tok::Sym(">=")) => Op::Ge,
            _ => return Err(self.unexpected()),
        };
        self.pos += 1;
        let lit = self.literal(&field)?;
        let ty = self.od.as_ref().map(|od| field_type(od, &field));
        if ty == Some(Ty::Bool) && !matches!(op, Op::Eq | Op::Ne) {
            return Err(malformed(self.q, at, "invalid operator on boolean field"));
        }
        Ok(Expr::Cmp { field, op, lit })
    }

    fn expr(&mut self) -> Result<Expr, ApiError> {
        let first = self.comparison()?;
        let mut terms = vec![first];
        let mut joiner: Option<&str> = None;
        loop {
            let next = if self.keyword("AND") {
                "AND"
            } else if self.keyword("OR") {
                "OR"
            } else {
                break;
            };
            if joiner.is_some_and(|j| j != next) {
                // SOQL refuses `a AND b OR c` without parentheses.
                self.pos -= 1;
                return Err(self.unexpected());
            }
            joiner = Some(next);
            terms.push(self.comparison()?);
        }
        Ok(match (joiner, terms.len()) {
            (_, 1) => terms.remove(0),
            (Some("OR"), _) => Expr::Or(terms),
            _ => Expr::And(terms),
        })
    }

    fn count(&mut self) -> Result<usize, ApiError> {
        match self.peek() {
            Some(Tok::Num(n)) if n.fract() == 0.0 && *n >= 0.0 => {
                let n = *n as usize;
                self.pos += 1;
                Ok(n)
            }
            _ => Err(self.unexpected()),
        }
    }
}

/// Parses `q` against the org's schema.
pub fn parse(schema: &Schema, q: &str) -> Result<Soql, ApiError> {
    let mut p = Parser {
        q,
        toks: lex(q)?,
        pos: 0,
        od: None,
    };
    p.expect_keyword("SELECT")?;
    let mut names = vec![p.word()?];
    while p.sym(",") {
        names.push(p.word()?);
    }
    p.expect_keyword("FROM")?;
    let (object, at) = p.word()?;
    let od = schema.object(&object).cloned().ok_or_else(|| {
        ApiError::one(
            axum::http::StatusCode::BAD_REQUEST,
            "INVALID_TYPE",
            located(
                q,
                at,
                &format!(
                    "sObject type '{object}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names."
                ),
            ),
        )
    })?;
    p.od = Some(od.clone());
    let fields = names
        .iter()
        .map(|(n, at)| p.column(n, *at))
        .collect::<Result<Vec<_>, _>>()?;
    let filter = if p.keyword("WHERE") {
        Some(p.expr()?)
    } else {
        None
    };
    let mut order = Vec::new();
    if p.keyword("ORDER") {
        p.expect_keyword("BY")?;
        loop {
            let (name, at) = p.word()?;
            let field = p.column(&name, at)?;
            let desc = if p.keyword("DESC") {
                true
            } else {
                p.keyword("ASC");
                false
            };
            // SOQL's default: nulls first ascending, last descending.
            let mut nulls_first = !desc;
            if p.keyword("NULLS") {
                nulls_first = if p.keyword("FIRST") {
                    true
                } else {
                    p.expect_keyword("LAST")?;
                    false
                };
            }
            order.push(Order {
                field,
                desc,
                nulls_first,
            });
            if !p.sym(",") {
                break;
            }
        }
    }
    let limit = if p.keyword("LIMIT") {
        Some(p.count()?)
    } else {
        None
    };
    let offset = if p.keyword("OFFSET") { p.count()? } else { 0 };
    if p.pos < p.toks.len() {
        return Err(p.unexpected());
    }
    Ok(Soql {
        object: od,
        fields,
        filter,
        order,
        limit,
        offset,
    })
}

/// A value as compared: text case-insensitively, dateTimes as instants.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Key {
    Num(f64),
    Text(String),
    Bool(bool),
}

fn key_of(ty: Ty, v: &Value) -> Option<Key> {
    match (ty, v) {
        (_, Value::Null) => None,
        (Ty::Number, Value::Number(n)) => n.as_f64().map(Key::Num),
        (Ty::Bool, Value::Bool(b)) => Some(Key::Bool(*b)),
        (Ty::DateTime, Value::String(s)) => parse_datetime(s).map(|ms| Key::Num(ms as f64)),
        (Ty::Text, Value::String(s)) => Some(Key::Text(s.to_lowercase())),
        (_, Value::String(s)) => Some(Key::Text(s.clone())),
        _ => None,
    }
}

fn lit_key(lit: &Lit) -> Option<Key> {
    match lit {
        Lit::Null => None,
        Lit::Str(s) => Some(Key::Text(s.clone())),
        Lit::Num(n) => Some(Key::Num(*n)),
        Lit::Bool(b) => Some(Key::Bool(*b)),
        Lit::Date(d) => Some(Key::Text(d.clone())),
        Lit::DateTime(ms) => Some(Key::Num(*ms as f64)),
    }
}

impl Soql {
    fn key(&self, store: &Store, rec: &Record, field: &str) -> Option<Key> {
        let ty = field_type(&self.object, field);
        key_of(ty, &store.value(rec, field))
    }

    fn lit(&self, field: &str, lit: &Lit) -> Option<Key> {
        match (field_type(&self.object, field), lit_key(lit)) {
            (Ty::Text, Some(Key::Text(s))) => Some(Key::Text(s.to_lowercase())),
            (_, k) => k,
        }
    }

    fn holds(&self, store: &Store, rec: &Record, e: &Expr) -> bool {
        match e {
            Expr::And(es) => es.iter().all(|e| self.holds(store, rec, e)),
            Expr::Or(es) => es.iter().any(|e| self.holds(store, rec, e)),
            Expr::Not(e) => !self.holds(store, rec, e),
            Expr::In {
                field,
                lits,
                negated,
            } => {
                let have = self.key(store, rec, field);
                let found = lits.iter().any(|l| self.lit(field, l) == have);
                found != *negated
            }
            Expr::Cmp { field, op, lit } => {
                let (have, want) = (self.key(store, rec, field), self.lit(field, lit));
                match (have, want, op) {
                    (h, w, Op::Eq) => h == w,
                    (h, w, Op::Ne) => h != w,
                    (Some(h), Some(w), op) => match h.partial_cmp(&w) {
                        Some(Ordering::Less) => matches!(op, Op::Lt | Op::Le),
                        Some(Ordering::Equal) => matches!(op, Op::Le | Op::Ge),
                        Some(Ordering::Greater) => matches!(op, Op::Gt | Op::Ge),
                        None => false,
                    },
                    _ => false,
                }
            }
        }
    }

    /// The matching records, rendered, ordered and cut by LIMIT/OFFSET.
    pub fn run(&self, store: &Store, include_deleted: bool, version: &str) -> Vec<Value> {
        let mut hits: Vec<&Record> = store
            .all(&self.object.name)
            .filter(|r| include_deleted || !r.deleted)
            .filter(|r| self.filter.as_ref().is_none_or(|f| self.holds(store, r, f)))
            .collect();
        hits.sort_by(|a, b| {
            for o in &self.order {
                let (ka, kb) = (self.key(store, a, &o.field), self.key(store, b, &o.field));
                let ord = match (ka, kb) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => {
                        if o.nulls_first {
                            Ordering::Less
                        } else {
                            Ordering::Greater
                        }
                    }
                    (Some(_), None) => {
                        if o.nulls_first {
                            Ordering::Greater
                        } else {
                            Ordering::Less
                        }
                    }
                    (Some(x), Some(y)) => {
                        let ord = x.partial_cmp(&y).unwrap_or(Ordering::Equal);
                        if o.desc { ord.reverse() } else { ord }
                    }
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            Ordering::Equal
        });
        hits.into_iter()
            .skip(self.offset)
            .take(self.limit.unwrap_or(usize::MAX))
            .map(|r| store.render(r, &self.fields, version))
            .collect()
    }
}
