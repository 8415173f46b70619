//! Compiles a rule into one SQL condition over `customers c`, for SQLite or PostgreSQL.
//!
//! Invariants:
//! - No value from a segment file reaches the SQL text: literals, attribute keys, event kinds and
//!   instants are [`Bind`] parameters; the text holds only fixed SQL written here.
//! - Every condition is wrapped in `COALESCE(…, FALSE)`, so SQL's NULL never leaks into `not`: a
//!   missing attribute or an average over no events makes a comparison false, as in the interpreter.
//! - Text compares by bytes on both engines (SQLite's BINARY collation, PostgreSQL's `COLLATE "C"`).
//! - Behaviour tests are correlated subqueries that the index `events_customer_kind_time
//!   (customer_id, kind, occurred_at)` answers alone; `and`/`or` operands are ordered cheapest first
//!   (customer fields, then existence, then aggregates) so the database can stop early.

use super::ast::*;
use crate::store::Dialect;
use crate::timestamp::Timestamp;

/// One bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Number(f64),
    Time(Timestamp),
}

/// SQL text and bound values, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Sql(String),
    Bind(Bind),
}

/// A compiled condition: render it with `QueryBuilder::push` for `Sql` and `push_bind` for `Bind`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Condition {
    pub pieces: Vec<Piece>,
}

impl Condition {
    fn sql(&mut self, text: &str) -> &mut Self {
        self.pieces.push(Piece::Sql(text.to_string()));
        self
    }

    fn bind(&mut self, value: Bind) -> &mut Self {
        self.pieces.push(Piece::Bind(value));
        self
    }

    /// The SQL with `?` for each parameter: for tests and `--sql` displays, never for execution.
    pub fn preview(&self) -> String {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Sql(s) => s.as_str(),
                Piece::Bind(_) => "?",
            })
            .collect()
    }
}

/// Compiles `expr` (whose segment references are resolved) evaluated at `now`.
pub fn compile(expr: &Expr, dialect: Dialect, now: Timestamp) -> anyhow::Result<Condition> {
    let mut compiler = Compiler {
        dialect,
        now,
        out: Condition::default(),
    };
    compiler.expr(expr)?;
    Ok(compiler.out)
}

struct Compiler {
    dialect: Dialect,
    now: Timestamp,
    out: Condition,
}

/// Which row a field test reads: the customer, or the event inside a behaviour subquery.
#[derive(Clone, Copy)]
enum Row {
    Customer,
    Event,
}

impl Row {
    fn alias(self) -> &'static str {
        match self {
            Row::Customer => "c",
            Row::Event => "e",
        }
    }

    fn json(self) -> &'static str {
        match self {
            Row::Customer => "c.attributes",
            Row::Event => "e.properties",
        }
    }
}

impl Compiler {
    fn expr(&mut self, expr: &Expr) -> anyhow::Result<()> {
        match &expr.node {
            Node::And(..) | Node::Or(..) => {
                let (operands, joiner) = flatten(expr);
                self.out.sql("(");
                for (i, operand) in operands.into_iter().enumerate() {
                    if i > 0 {
                        self.out.sql(joiner);
                    }
                    self.expr(operand)?;
                }
                self.out.sql(")");
            }
            Node::Not(inner) => {
                self.out.sql("(NOT ");
                self.expr(inner)?;
                self.out.sql(")");
            }
            Node::Segment { name, rule } => {
                let rule = rule
                    .as_ref()
                    .ok_or_else(|| anyhow::anyhow!("segment(\"{name}\") was not resolved"))?;
                self.expr(&rule.expr)?;
            }
            Node::Field(test) => {
                self.out.sql("COALESCE((");
                self.field_test(test, Row::Customer);
                self.out.sql("), FALSE)");
            }
            Node::Behaviour(behaviour) => {
                self.out.sql("COALESCE((");
                self.behaviour(behaviour);
                self.out.sql("), FALSE)");
            }
        }
        Ok(())
    }

    fn behaviour(&mut self, b: &Behaviour) {
        let (prefix, suffix) = match &b.measure {
            Measure::Any(_) => ("EXISTS (SELECT 1", ")"),
            Measure::None(_) => ("NOT EXISTS (SELECT 1", ")"),
            Measure::Count(..) => ("(SELECT COUNT(*)", ")"),
            Measure::Sum(..) => ("(SELECT COALESCE(SUM(e.amount), 0)", ")"),
            Measure::Avg(..) => ("(SELECT AVG(e.amount)", ")"),
            Measure::Last(_) => ("(SELECT MAX(e.occurred_at)", ")"),
        };
        self.out
            .sql(prefix)
            .sql(" FROM events e WHERE e.customer_id = c.id AND e.kind = ");
        self.out.bind(Bind::Text(b.kind.clone()));
        if let Some(window) = b.measure.window() {
            self.out
                .sql(" AND e.occurred_at >= ")
                .bind(Bind::Time(window.start(self.now)));
        }
        for test in &b.filter {
            self.out.sql(" AND COALESCE((");
            self.field_test(test, Row::Event);
            self.out.sql("), FALSE)");
        }
        self.out.sql(suffix);
        match &b.measure {
            Measure::Count(_, op, n) | Measure::Sum(_, op, n) | Measure::Avg(_, op, n) => {
                self.out
                    .sql(&format!(" {} ", sql_op(*op)))
                    .bind(Bind::Number(*n));
            }
            Measure::Last(test) => self.time_test(*test),
            Measure::Any(_) | Measure::None(_) => {}
        }
    }

    fn time_test(&mut self, test: TimeTest) {
        let (op, at) = match test {
            TimeTest::Before(p) => (" < ", p.instant(self.now)),
            TimeTest::After(p) => (" > ", p.instant(self.now)),
            TimeTest::Within(w) => (" >= ", w.start(self.now)),
        };
        self.out.sql(op).bind(Bind::Time(at));
    }

    fn field_test(&mut self, test: &FieldTest, row: Row) {
        match &test.field {
            Field::Column(column) => self.column_test(*column, &test.test, row),
            Field::Json(key) => self.json_test(key, &test.test, row),
        }
    }

    fn column_test(&mut self, column: Column, test: &Test, row: Row) {
        let col = format!("{}.{}", row.alias(), column.name());
        match test {
            Test::Exists => {
                self.out.sql(&format!("{col} IS NOT NULL"));
            }
            Test::Missing => {
                self.out.sql(&format!("{col} IS NULL"));
            }
            Test::Time(t) => {
                self.out.sql(&col);
                self.time_test(*t);
            }
            Test::Compare(op, value) => self.compare(&col, *op, value),
            Test::In(values) => self.any_of(values, |me, v| me.compare(&col, CmpOp::Eq, v)),
        }
    }

    fn json_test(&mut self, key: &str, test: &Test, row: Row) {
        match test {
            Test::Exists | Test::Missing => {
                let not = if matches!(test, Test::Missing) {
                    "NOT "
                } else {
                    ""
                };
                self.out.sql(&format!("{not}COALESCE("));
                self.json_type(key, row);
                self.out.sql(" <> 'null', FALSE)");
            }
            Test::Compare(op, value) => self.json_compare(key, *op, value, row),
            Test::In(values) => {
                self.any_of(values, |me, v| me.json_compare(key, CmpOp::Eq, v, row))
            }
            Test::Time(_) => unreachable!("type checking refuses time tests on JSON values"),
        }
    }

    /// `(a OR b OR …)` over the values of an `in` list.
    fn any_of(&mut self, values: &[Literal], mut each: impl FnMut(&mut Self, &Literal)) {
        self.out.sql("(");
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.out.sql(" OR ");
            }
            self.out.sql("(");
            each(self, value);
            self.out.sql(")");
        }
        self.out.sql(")");
    }

    /// The JSON type name of the value at `key`: SQLite's `json_type` or PostgreSQL's `jsonb_typeof`.
    fn json_type(&mut self, key: &str, row: Row) {
        match self.dialect {
            Dialect::Sqlite => {
                self.out
                    .sql(&format!("json_type({}, ", row.json()))
                    .bind(sqlite_path(key))
                    .sql(")");
            }
            Dialect::Postgres => {
                self.out
                    .sql(&format!("jsonb_typeof({} -> ", row.json()))
                    .bind(Bind::Text(key.into()))
                    .sql(")");
            }
        }
    }

    /// The scalar at `key` as SQL text or number.
    fn json_value(&mut self, key: &str, row: Row, number: bool) {
        match (self.dialect, number) {
            (Dialect::Sqlite, false) => {
                self.out
                    .sql(&format!("json_extract({}, ", row.json()))
                    .bind(sqlite_path(key))
                    .sql(")");
            }
            (Dialect::Sqlite, true) => {
                self.out
                    .sql(&format!("CAST(json_extract({}, ", row.json()))
                    .bind(sqlite_path(key))
                    .sql(") AS REAL)");
            }
            (Dialect::Postgres, _) => {
                self.out
                    .sql(&format!("({} ->> ", row.json()))
                    .bind(Bind::Text(key.into()))
                    .sql(")");
                if number {
                    self.out.sql("::float8");
                }
            }
        }
    }

    fn json_compare(&mut self, key: &str, op: CmpOp, value: &Literal, row: Row) {
        let types = match (self.dialect, value) {
            (Dialect::Sqlite, Literal::Text(_)) => " = 'text'",
            (Dialect::Sqlite, Literal::Number(_)) => " IN ('integer', 'real')",
            (Dialect::Sqlite, Literal::Bool(_)) => " IN ('true', 'false')",
            (Dialect::Postgres, Literal::Text(_)) => " = 'string'",
            (Dialect::Postgres, Literal::Number(_)) => " = 'number'",
            (Dialect::Postgres, Literal::Bool(_)) => " = 'boolean'",
        };
        // On SQLite a text value is never `=` to a number, a boolean (0/1) or NULL, so text equality
        // needs no type test, and skipping it spares parsing the JSON twice.
        let plain_equality =
            self.dialect == Dialect::Sqlite && op == CmpOp::Eq && matches!(value, Literal::Text(_));
        if !plain_equality {
            self.json_type(key, row);
            self.out.sql(types).sql(" AND ");
        }
        match value {
            Literal::Bool(b) => {
                // SQLite's json_extract turns booleans into 0/1; its json_type names them exactly.
                match self.dialect {
                    Dialect::Sqlite => self.json_type(key, row),
                    Dialect::Postgres => self.json_value(key, row, false),
                }
                self.out
                    .sql(&format!(" {} ", sql_op(op)))
                    .bind(Bind::Text(b.to_string()));
            }
            Literal::Number(n) => {
                self.json_value(key, row, true);
                self.out
                    .sql(&format!(" {} ", sql_op(op)))
                    .bind(Bind::Number(*n));
            }
            Literal::Text(text) => {
                let mut value = Condition::default();
                std::mem::swap(&mut value, &mut self.out);
                self.json_value(key, row, false);
                std::mem::swap(&mut value, &mut self.out);
                self.text_compare(value.pieces, op, text);
            }
        }
    }

    fn compare(&mut self, col: &str, op: CmpOp, value: &Literal) {
        match value {
            Literal::Text(text) => self.text_compare(vec![Piece::Sql(col.to_string())], op, text),
            Literal::Number(n) => {
                self.out
                    .sql(&format!("{col} {} ", sql_op(op)))
                    .bind(Bind::Number(*n));
            }
            Literal::Bool(_) => unreachable!("type checking refuses booleans on columns"),
        }
    }

    /// `subject OP text`, by bytes, where `subject` is SQL pieces yielding text.
    fn text_compare(&mut self, subject: Vec<Piece>, op: CmpOp, text: &str) {
        let text = || Bind::Text(text.to_string());
        let pg = self.dialect == Dialect::Postgres;
        let put = |me: &mut Self| me.out.pieces.extend(subject.iter().cloned());
        match op {
            CmpOp::Contains => {
                self.out.sql(if pg { "strpos(" } else { "instr(" });
                put(self);
                self.out.sql(", ").bind(text()).sql(") > 0");
            }
            CmpOp::StartsWith => {
                self.out.sql("substr(");
                put(self);
                self.out
                    .sql(", 1, length(")
                    .bind(text())
                    .sql(")) = ")
                    .bind(text());
            }
            CmpOp::EndsWith => {
                self.out.sql("length(");
                put(self);
                self.out
                    .sql(") >= length(")
                    .bind(text())
                    .sql(") AND substr(");
                put(self);
                self.out.sql(", length(");
                put(self);
                self.out
                    .sql(") - length(")
                    .bind(text())
                    .sql(") + 1) = ")
                    .bind(text());
            }
            _ => {
                put(self);
                let collate = if pg && !op.is_equality() {
                    " COLLATE \"C\""
                } else {
                    ""
                };
                self.out
                    .sql(&format!("{collate} {} ", sql_op(op)))
                    .bind(text());
            }
        }
    }
}

/// SQLite's JSON path for a key: `$."key"` (keys are identifiers, so they need no escaping).
fn sqlite_path(key: &str) -> Bind {
    Bind::Text(format!("$.\"{key}\""))
}

/// The operands of a chain of the same operator, cheapest first, with the SQL that joins them.
fn flatten(expr: &Expr) -> (Vec<&Expr>, &'static str) {
    fn collect<'a>(expr: &'a Expr, and: bool, out: &mut Vec<&'a Expr>) {
        match &expr.node {
            Node::And(l, r) if and => {
                collect(l, and, out);
                collect(r, and, out);
            }
            Node::Or(l, r) if !and => {
                collect(l, and, out);
                collect(r, and, out);
            }
            _ => out.push(expr),
        }
    }
    let and = matches!(expr.node, Node::And(..));
    let mut operands = Vec::new();
    collect(expr, and, &mut operands);
    operands.sort_by_key(|e| cost(e));
    (operands, if and { " AND " } else { " OR " })
}

/// A rough price of evaluating `expr` for one customer, used only to order operands.
fn cost(expr: &Expr) -> u8 {
    match &expr.node {
        Node::Field(_) => 0,
        Node::Behaviour(b) => match b.measure {
            Measure::Any(_) | Measure::None(_) => 1,
            _ => 2,
        },
        Node::Not(inner) => cost(inner),
        Node::And(l, r) | Node::Or(l, r) => cost(l).max(cost(r)),
        Node::Segment { .. } => 3,
    }
}

/// The SQL spelling of a comparison (`=` and `<>`, which both engines accept).
fn sql_op(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "=",
        CmpOp::Ne => "<>",
        other => other.symbol(),
    }
}
