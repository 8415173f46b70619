//! The reference interpreter: evaluates a rule over one customer and their events, in memory.
//!
//! It is the specification the SQL must meet (the property test in `tests/segment_property.rs`
//! compares them on both databases), and `explain` uses it to show the figures behind each clause.
//! Semantics, shared with the compiler:
//! - a missing attribute, or one holding another type than the value it is compared with, makes every
//!   comparison false (`!=` too); only `missing` is true for it;
//! - text compares by bytes; numbers as 64-bit floats; booleans only with `==` and `!=`;
//! - `sum` of no amounts is 0; `avg` and `last` of no events are unknown, so comparisons are false.

use super::ast::*;
use crate::store::{Customer, Event};
use crate::timestamp::Timestamp;
use serde_json::Value;

/// One customer and all their events, at one instant.
pub struct Facts<'a> {
    pub customer: &'a Customer,
    pub events: &'a [Event],
    pub now: Timestamp,
}

impl Facts<'_> {
    /// Whether the customer satisfies `expr` (segment references must be resolved).
    pub fn eval(&self, expr: &Expr) -> bool {
        match &expr.node {
            Node::And(l, r) => self.eval(l) && self.eval(r),
            Node::Or(l, r) => self.eval(l) || self.eval(r),
            Node::Not(inner) => !self.eval(inner),
            Node::Segment { rule, .. } => rule.as_ref().is_some_and(|r| self.eval(&r.expr)),
            Node::Field(test) => self.customer_test(test),
            Node::Behaviour(b) => self.behaviour(b),
        }
    }

    /// The events a behaviour test looks at: its kind, inside its window, passing its filter.
    pub fn matching<'e>(&'e self, b: &'e Behaviour) -> impl Iterator<Item = &'e Event> + 'e {
        let start = b.measure.window().map(|w| w.start(self.now));
        self.events.iter().filter(move |e| {
            e.kind == b.kind
                && start.is_none_or(|s| e.occurred_at >= s)
                && b.filter.iter().all(|t| event_test(e, t))
        })
    }

    pub fn behaviour(&self, b: &Behaviour) -> bool {
        let figure = self.figure(b);
        match &b.measure {
            Measure::Any(_) => figure.count > 0,
            Measure::None(_) => figure.count == 0,
            Measure::Count(_, op, n) => number_cmp(figure.count as f64, *op, *n),
            Measure::Sum(_, op, n) => number_cmp(figure.sum, *op, *n),
            Measure::Avg(_, op, n) => figure.avg().is_some_and(|avg| number_cmp(avg, *op, *n)),
            Measure::Last(test) => figure
                .last
                .is_some_and(|at| time_holds(at, *test, self.now)),
        }
    }

    /// Count, sum of amounts, number of amounts and latest time of the matching events.
    pub fn figure(&self, b: &Behaviour) -> Figure {
        let mut figure = Figure::default();
        for event in self.matching(b) {
            figure.count += 1;
            if let Some(amount) = event.amount {
                figure.sum += amount;
                figure.amounts += 1;
            }
            figure.last = figure.last.max(Some(event.occurred_at));
        }
        figure
    }

    fn customer_test(&self, test: &FieldTest) -> bool {
        match &test.field {
            Field::Column(Column::CreatedAt) => match &test.test {
                Test::Time(t) => time_holds(self.customer.created_at, *t, self.now),
                Test::Exists => true,
                _ => false,
            },
            Field::Column(column) => {
                let value =
                    customer_text(self.customer, *column).map(|s| Value::String(s.to_string()));
                value_test(value.as_ref(), &test.test)
            }
            Field::Json(key) => value_test(self.customer.attributes.0.get(key), &test.test),
        }
    }
}

/// What a behaviour test measured for one customer.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figure {
    pub count: u64,
    pub sum: f64,
    /// How many of the events had an amount.
    pub amounts: u64,
    pub last: Option<Timestamp>,
}

impl Figure {
    pub fn avg(&self) -> Option<f64> {
        (self.amounts > 0).then(|| self.sum / self.amounts as f64)
    }
}

/// A text column of the customer (`None` when empty in the database).
pub fn customer_text(customer: &Customer, column: Column) -> Option<&str> {
    match column {
        Column::Email => Some(&customer.email),
        Column::FirstName => customer.first_name.as_deref(),
        Column::LastName => customer.last_name.as_deref(),
        Column::Timezone => customer.timezone.as_deref(),
        Column::Locale => customer.locale.as_deref(),
        Column::Status => Some(&customer.status),
        Column::CreatedAt | Column::Amount => None,
    }
}

fn event_test(event: &Event, test: &FieldTest) -> bool {
    let value = match &test.field {
        Field::Column(_) => event
            .amount
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        Field::Json(key) => event.properties.0.get(key).cloned(),
    };
    value_test(value.as_ref(), &test.test)
}

/// A test on a JSON-like value; `None` and JSON null are missing.
pub fn value_test(value: Option<&Value>, test: &Test) -> bool {
    let value = value.filter(|v| !v.is_null());
    match test {
        Test::Exists => value.is_some(),
        Test::Missing => value.is_none(),
        Test::Compare(op, literal) => value.is_some_and(|v| compare(v, *op, literal)),
        Test::In(literals) => {
            value.is_some_and(|v| literals.iter().any(|l| compare(v, CmpOp::Eq, l)))
        }
        Test::Time(_) => false,
    }
}

fn compare(value: &Value, op: CmpOp, literal: &Literal) -> bool {
    match (value, literal) {
        (Value::String(s), Literal::Text(t)) => text_cmp(s, op, t),
        (Value::Number(n), Literal::Number(x)) => n.as_f64().is_some_and(|n| number_cmp(n, op, *x)),
        (Value::Bool(b), Literal::Bool(x)) => match op {
            CmpOp::Eq => b == x,
            CmpOp::Ne => b != x,
            _ => false,
        },
        _ => false,
    }
}

fn text_cmp(s: &str, op: CmpOp, t: &str) -> bool {
    match op {
        CmpOp::Eq => s == t,
        CmpOp::Ne => s != t,
        CmpOp::Lt => s < t,
        CmpOp::Le => s <= t,
        CmpOp::Gt => s > t,
        CmpOp::Ge => s >= t,
        CmpOp::Contains => s.contains(t),
        CmpOp::StartsWith => s.starts_with(t),
        CmpOp::EndsWith => s.ends_with(t),
    }
}

pub fn number_cmp(n: f64, op: CmpOp, x: f64) -> bool {
    match op {
        CmpOp::Eq => n == x,
        CmpOp::Ne => n != x,
        CmpOp::Lt => n < x,
        CmpOp::Le => n <= x,
        CmpOp::Gt => n > x,
        CmpOp::Ge => n >= x,
        _ => false,
    }
}

pub fn time_holds(at: Timestamp, test: TimeTest, now: Timestamp) -> bool {
    match test {
        TimeTest::Before(p) => at < p.instant(now),
        TimeTest::After(p) => at > p.instant(now),
        TimeTest::Within(w) => at >= w.start(now),
    }
}
