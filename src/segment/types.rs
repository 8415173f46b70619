//! Type checking, done while parsing: each test must fit the type of its field.
//!
//! - Text columns (`email`, `first_name`, …, `status`) take text values and every text operator.
//! - `created_at` takes `before`, `after` and `within` only.
//! - `amount` (in event filters) and `count`, `sum`, `avg` take numbers with `== != < <= > >=`.
//! - Custom attributes and event properties are typed by the value they are compared with: text
//!   operators need text, ordering needs text or a number, booleans take `==` and `!=` only, and a list
//!   after `in` holds values of one type. Attributes hold no times, so time tests do not apply.

use super::ast::*;
use super::error::SyntaxError;

/// Event kinds are lower-case words joined by dots, e.g. `purchase` or `email.opened`.
pub fn check_kind(kind: &str, span: &Span) -> Result<(), SyntaxError> {
    let ok = kind.split('.').all(|part| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    });
    if ok {
        Ok(())
    } else {
        Err(
            SyntaxError::new(span.clone(), format!("`{kind}` is not an event kind")).with_hint(
                format!("event kinds are lower case, e.g. {}", kind.to_lowercase()),
            ),
        )
    }
}

/// `count`, `sum` and `avg` compare with `== != < <= > >=`.
pub fn check_number_op(function: &str, op: CmpOp, span: Span) -> Result<(), SyntaxError> {
    if op.is_text_only() {
        return Err(SyntaxError::new(
            span,
            format!(
                "`{}` applies to text, but {function}(…) is a number",
                op.symbol()
            ),
        )
        .with_hint("compare numbers with == != < <= > >="));
    }
    Ok(())
}

pub fn check_number_literal(
    function: &str,
    (value, span): &(Literal, Span),
) -> Result<(), SyntaxError> {
    match value {
        Literal::Number(_) => Ok(()),
        other => Err(SyntaxError::new(
            span.clone(),
            format!(
                "type mismatch: {function}(…) is a number, but this is {}",
                describe(other)
            ),
        )
        .with_hint(format!(
            "compare it with a number, e.g. purchase.{function}(…) >= 3"
        ))),
    }
}

fn describe(value: &Literal) -> &'static str {
    match value {
        Literal::Text(_) => "text",
        Literal::Number(_) => "a number",
        Literal::Bool(_) => "a boolean",
    }
}

/// Whether `test` can apply to `field`; the span covers the whole test.
pub fn check_field_test(field: &Field, test: &Test, span: Span) -> Result<(), SyntaxError> {
    let name = match field {
        Field::Column(c) => c.name(),
        Field::Json(key) => key.as_str(),
    };
    let fail =
        |message: String, hint: &str| Err(SyntaxError::new(span.clone(), message).with_hint(hint));
    match (field, test) {
        (_, Test::Exists | Test::Missing) => Ok(()),
        (Field::Column(c), Test::Time(_)) if c.column_type() == ColumnType::Time => Ok(()),
        (_, Test::Time(_)) => fail(
            format!("type mismatch: `{name}` is not a time"),
            "before, after and within apply to created_at and to .last of events",
        ),
        (Field::Column(c), _) if c.column_type() == ColumnType::Time => fail(
            format!("type mismatch: `{name}` is a time"),
            "write created_at before 90d ago, created_at after 2026-01-31 or created_at within 30d",
        ),
        (field, Test::Compare(op, value)) => {
            check_compare(field, name, *op, value).or_else(|m| fail(m.0, &m.1))
        }
        (field, Test::In(values)) => check_list(field, name, values).or_else(|m| fail(m.0, &m.1)),
    }
}

fn check_compare(
    field: &Field,
    name: &str,
    op: CmpOp,
    value: &Literal,
) -> Result<(), (String, String)> {
    let expected = match field {
        Field::Column(c) => Some(c.column_type()),
        Field::Json(_) => None,
    };
    let mismatch = |what: &str| {
        Err((
            format!(
                "type mismatch: `{name}` is {what}, but the value is {}",
                describe(value)
            ),
            format!("write a value of the same type, e.g. {}", example(what)),
        ))
    };
    match (expected, value) {
        (Some(ColumnType::Text), Literal::Number(_) | Literal::Bool(_)) => return mismatch("text"),
        (Some(ColumnType::Number), Literal::Text(_) | Literal::Bool(_)) => {
            return mismatch("a number");
        }
        _ => {}
    }
    match value {
        Literal::Text(_) => Ok(()),
        Literal::Number(_) if !op.is_text_only() => Ok(()),
        Literal::Bool(_) if op.is_equality() => Ok(()),
        _ => Err((
            format!("`{}` does not apply to {}", op.symbol(), describe(value)),
            match value {
                Literal::Bool(_) => "compare booleans with == or !=".to_string(),
                _ => "contains, starts_with and ends_with take text in quotes".to_string(),
            },
        )),
    }
}

fn check_list(field: &Field, name: &str, values: &[Literal]) -> Result<(), (String, String)> {
    let first = std::mem::discriminant(&values[0]);
    if values.iter().any(|v| std::mem::discriminant(v) != first) {
        return Err((
            format!("the list after `{name} in` mixes types"),
            "put values of one type in a list: all text, or all numbers".to_string(),
        ));
    }
    values
        .iter()
        .try_for_each(|v| check_compare(field, name, CmpOp::Eq, v))
}

fn example(what: &str) -> &'static str {
    match what {
        "text" => "city == \"Portland\"",
        _ => "amount >= 20",
    }
}
