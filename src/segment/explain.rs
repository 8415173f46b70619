//! `segment explain`: why one customer is in a segment or not, as a tree of the rule's clauses, each
//! with its truth value and the figures behind it, e.g.
//!
//! ```text
//! ✓ all of
//!   ✓ purchase.count(365d) >= 3  (5 purchases in 365d)
//!   ✗ not purchase.any(60d)  (1 purchase in 60d, last 12 days ago)
//! ```
//!
//! The truth values come from the reference interpreter, which the property test holds equal to SQL.

use super::ast::*;
use super::clock::describe_age;
use super::interpret::{Facts, customer_text};
use super::lexer::{Tok, tokenize};
use crate::wording::plural;
use std::fmt::Write;

/// The tree for `rule` over `facts`, one clause per line.
pub fn explain(rule: &Rule, facts: &Facts) -> String {
    let mut out = String::new();
    node(&mut out, &rule.source, &rule.expr, facts, 0);
    out.trim_end().to_string()
}

fn mark(value: bool) -> &'static str {
    if value { "✓" } else { "✗" }
}

fn node(out: &mut String, source: &str, expr: &Expr, facts: &Facts, depth: usize) {
    let indent = "  ".repeat(depth);
    let value = facts.eval(expr);
    match &expr.node {
        Node::And(..) | Node::Or(..) => {
            let and = matches!(expr.node, Node::And(..));
            let _ = writeln!(
                out,
                "{indent}{} {}",
                mark(value),
                if and { "all of" } else { "any of" }
            );
            for operand in operands(expr, and) {
                node(out, source, operand, facts, depth + 1);
            }
        }
        Node::Not(inner)
            if matches!(
                inner.node,
                Node::And(..) | Node::Or(..) | Node::Segment { .. }
            ) =>
        {
            let _ = writeln!(out, "{indent}{} not", mark(value));
            node(out, source, inner, facts, depth + 1);
        }
        Node::Not(inner) => {
            let _ = writeln!(
                out,
                "{indent}{} {}  ({})",
                mark(value),
                clause(source, expr),
                figures(inner, facts)
            );
        }
        Node::Segment { name, rule } => {
            let _ = writeln!(out, "{indent}{} segment(\"{name}\")", mark(value));
            if let Some(rule) = rule {
                node(out, &rule.source, &rule.expr, facts, depth + 1);
            }
        }
        Node::Field(_) | Node::Behaviour(_) => {
            let _ = writeln!(
                out,
                "{indent}{} {}  ({})",
                mark(value),
                clause(source, expr),
                figures(expr, facts)
            );
        }
    }
}

/// The clause as the owner wrote it, on one line.
fn clause(source: &str, expr: &Expr) -> String {
    source
        .get(expr.span.clone())
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn operands(expr: &Expr, and: bool) -> Vec<&Expr> {
    match &expr.node {
        Node::And(l, r) if and => [operands(l, and), operands(r, and)].concat(),
        Node::Or(l, r) if !and => [operands(l, and), operands(r, and)].concat(),
        _ => vec![expr],
    }
}

/// The facts a leaf clause looked at.
fn figures(expr: &Expr, facts: &Facts) -> String {
    match &expr.node {
        Node::Field(test) => field_figures(test, facts),
        Node::Behaviour(b) => behaviour_figures(b, facts),
        _ => String::new(),
    }
}

fn field_figures(test: &FieldTest, facts: &Facts) -> String {
    let customer = facts.customer;
    match &test.field {
        Field::Column(Column::CreatedAt) => format!(
            "customer since {}, {}",
            customer.created_at,
            describe_age(customer.created_at, facts.now)
        ),
        Field::Column(column) => match customer_text(customer, *column) {
            Some(text) => format!("{} is {text:?}", column.name()),
            None => format!("{} is missing", column.name()),
        },
        Field::Json(key) => match customer.attributes.0.get(key).filter(|v| !v.is_null()) {
            Some(value) => format!("{key} is {value}"),
            None => format!("{key} is missing"),
        },
    }
}

fn behaviour_figures(b: &Behaviour, facts: &Facts) -> String {
    let figure = facts.figure(b);
    let window = b
        .measure
        .window()
        .map(|w| format!(" in {w}"))
        .unwrap_or_default();
    let counted = format!("{}{window}", events(&b.kind, figure.count));
    let text = match &b.measure {
        Measure::Sum(..) => format!("total {:.2} over {counted}", figure.sum),
        Measure::Avg(..) => match figure.avg() {
            Some(avg) => format!("average {avg:.2} over {counted}"),
            None => format!("no amounts: {counted}"),
        },
        _ => counted,
    };
    let unwindowed = Behaviour {
        measure: Measure::Any(None),
        ..b.clone()
    };
    match facts.figure(&unwindowed).last {
        Some(last) => format!("{text}, last {}", describe_age(last, facts.now)),
        None => text,
    }
}

/// "5 purchases", "1 purchase", "3 email.opened events".
fn events(kind: &str, n: u64) -> String {
    if kind.contains('.') {
        plural(n, &format!("{kind} event"))
    } else {
        plural(n, kind)
    }
}

/// The figures a rule looks at, one column each for `segment show`: behaviour measures and fields,
/// including those of referenced segments, without repeats.
pub fn figure_columns(rule: &Rule) -> Vec<(String, Expr)> {
    let mut columns: Vec<(String, Expr)> = Vec::new();
    let mut visit = |label: String, leaf: &Expr| {
        if !columns.iter().any(|(l, _)| *l == label) {
            columns.push((label, leaf.clone()));
        }
    };
    leaves(&rule.source, &rule.expr, &mut visit);
    columns
}

fn leaves(source: &str, expr: &Expr, visit: &mut impl FnMut(String, &Expr)) {
    match &expr.node {
        Node::And(l, r) | Node::Or(l, r) => {
            leaves(source, l, visit);
            leaves(source, r, visit);
        }
        Node::Not(inner) => leaves(source, inner, visit),
        Node::Segment { rule, .. } => {
            if let Some(rule) = rule {
                leaves(&rule.source, &rule.expr, visit);
            }
        }
        Node::Field(test) => visit(field_name(&test.field).to_string(), expr),
        Node::Behaviour(b) => visit(measure_label(source, b, expr), expr),
    }
}

fn field_name(field: &Field) -> &str {
    match field {
        Field::Column(c) => c.name(),
        Field::Json(key) => key,
    }
}

/// `purchase.count(365d)`, `purchase[category == "garden"].sum(90d)`, `visit.last`.
fn measure_label(source: &str, b: &Behaviour, expr: &Expr) -> String {
    let filter = if b.filter.is_empty() {
        ""
    } else {
        filter_text(source, b.kind_span.end, expr.span.end)
    };
    let window = b
        .measure
        .window()
        .map(|w| w.to_string())
        .unwrap_or_default();
    let function = match b.measure {
        Measure::Any(_) | Measure::None(_) | Measure::Count(..) => format!("count({window})"),
        Measure::Sum(..) => format!("sum({window})"),
        Measure::Avg(..) => format!("avg({window})"),
        Measure::Last(_) => "last".to_string(),
    };
    format!("{}{filter}.{function}", b.kind)
}

/// The `[…]` filter as written, found by re-reading the tokens after the kind.
fn filter_text(source: &str, start: usize, end: usize) -> &str {
    let text = source.get(start..end).unwrap_or_default();
    let mut depth = 0;
    let close = tokenize(text).ok().and_then(|tokens| {
        tokens.into_iter().find_map(|t| {
            match t.tok {
                Tok::Sym("[") => depth += 1,
                Tok::Sym("]") => depth -= 1,
                _ => {}
            }
            (depth == 0).then_some(t.span.end)
        })
    });
    close.map_or("[…]", |close| &text[..close])
}

/// The value of one figure column for the customer in `facts`.
pub fn figure_value(leaf: &Expr, facts: &Facts) -> String {
    match &leaf.node {
        Node::Field(test) => match &test.field {
            Field::Column(Column::CreatedAt) => facts.customer.created_at.to_string(),
            Field::Column(c) => customer_text(facts.customer, *c)
                .unwrap_or_default()
                .to_string(),
            Field::Json(key) => match facts.customer.attributes.0.get(key) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            },
        },
        Node::Behaviour(b) => {
            let figure = facts.figure(b);
            match b.measure {
                Measure::Sum(..) => format!("{:.2}", figure.sum),
                Measure::Avg(..) => figure.avg().map(|a| format!("{a:.2}")).unwrap_or_default(),
                Measure::Last(_) => figure
                    .last
                    .map(|t| describe_age(t, facts.now))
                    .unwrap_or_default(),
                _ => figure.count.to_string(),
            }
        }
        _ => String::new(),
    }
}
