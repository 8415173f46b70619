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
    /// True of every customer: the audience of a triggered campaign without a segment.
    pub fn everyone() -> Self {
        Condition {
            pieces: vec![Piece::Sql("1 = 1".to_string())],
        }
    }

    pub(super) fn sql(&mut self, text: &str) -> &mut Self {
        self.pieces.push(Piece::Sql(text.to_string()));
        self
    }

    pub(super) fn bind(&mut self, value: Bind) -> &mut Self {
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

pub(super) struct Compiler {
    pub(super) dialect: Dialect,
    pub(super) now: Timestamp,
    pub(super) out: Condition,
}

/// Which row a field test reads: the customer, or the event inside a behaviour subquery.
#[derive(Clone, Copy)]
pub(super) enum Row {
    Customer,
    Event,
}

impl Row {
    pub(super) fn alias(self) -> &'static str {
        match self {
            Row::Customer => "c",
            Row::Event => "e",
        }
    }

    pub(super) fn json(self) -> &'static str {
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

    pub(super) fn time_test(&mut self, test: TimeTest) {
        let (op, at) = match test {
            TimeTest::Before(p) => (" < ", p.instant(self.now)),
            TimeTest::After(p) => (" > ", p.instant(self.now)),
            TimeTest::Within(w) => (" >= ", w.start(self.now)),
        };
        self.out.sql(op).bind(Bind::Time(at));
    }
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
pub(super) fn sql_op(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "=",
        CmpOp::Ne => "<>",
        other => other.symbol(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::parse_expr;

    /// Every value, key and kind of the rule is a bound parameter; none appears in the SQL text.
    #[test]
    fn nothing_from_the_file_reaches_the_sql_text() {
        let rule = "zzcity == \"x' OR 1=1 --\" and zzkind.qqsub[zzprop starts_with \"Robert'); DROP\"]\
                    .sum(amount, 4242d) > 4243.5 and zztier in [\"gold\\\"\", \"zzsilver\"]";
        let expr = parse_expr(rule).unwrap();
        let now = Timestamp::parse_flexible("2026-06-15").unwrap();
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let condition = compile(&expr, dialect, now).unwrap();
            let sql = condition.preview();
            for word in ["zz", "qq", "OR 1", "DROP", "4242", "4243", "gold"] {
                assert!(!sql.contains(word), "{word} in {sql}");
            }
            let binds: Vec<&Bind> = condition
                .pieces
                .iter()
                .filter_map(|p| match p {
                    Piece::Bind(b) => Some(b),
                    Piece::Sql(_) => None,
                })
                .collect();
            assert!(binds.contains(&&Bind::Text("x' OR 1=1 --".into())));
            assert!(binds.contains(&&Bind::Text("zzkind.qqsub".into())));
            assert!(binds.contains(&&Bind::Number(4243.5)));
        }
    }
}
