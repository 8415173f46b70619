//! Parsing behaviour tests: `kind[filter].function`, windows and times.

use super::ast::*;
use super::error::SyntaxError;
use super::lexer::{Tok, Token};
use super::parse_field::Context;
use super::parser::{Parser, word_of};
use super::types;

impl Parser {
    pub(super) fn behaviour(&mut self) -> Result<Expr, SyntaxError> {
        let first = self.next().expect("peeked");
        let start = first.span.start;
        let mut parts = vec![(word_of(&first), first.span.clone())];
        while self.at_sym(".") && matches!(self.peek_at(1), Some(Tok::Word(_))) {
            self.next();
            let word = self.next().expect("peeked");
            parts.push((word_of(&word), word.span));
        }
        let mut filter = Vec::new();
        let function = if self.at_sym("[") {
            self.next();
            filter = self.filter()?;
            self.expect_sym(".", "`.` and a function after the filter, e.g. .any()")?;
            match self.next() {
                Some(
                    t @ Token {
                        tok: Tok::Word(_), ..
                    },
                ) => (word_of(&t), t.span),
                _ => {
                    self.pos -= 1;
                    return Err(self.expected("a function: any, none, count, sum, avg or last"));
                }
            }
        } else if parts.len() >= 2 {
            parts.pop().expect("two parts")
        } else {
            return Err(self.expected("`.` and a function, e.g. purchase.any()"));
        };
        let kind_span = parts[0].1.start..parts[parts.len() - 1].1.end;
        let kind = parts
            .iter()
            .map(|(w, _)| w.as_str())
            .collect::<Vec<_>>()
            .join(".");
        types::check_kind(&kind, &kind_span)?;
        let measure = self.measure(&function.0, function.1)?;
        let behaviour = Behaviour {
            kind,
            kind_span,
            filter,
            measure,
        };
        Ok(Expr {
            node: Node::Behaviour(behaviour),
            span: start..self.last_end(),
        })
    }

    pub(super) fn filter(&mut self) -> Result<Vec<FieldTest>, SyntaxError> {
        let mut tests = vec![self.field_test(Context::Event)?];
        while self.at_word("and") {
            self.next();
            tests.push(self.field_test(Context::Event)?);
        }
        self.expect_sym(
            "]",
            "`]` to close the event filter (conditions inside are joined with `and`)",
        )?;
        Ok(tests)
    }

    pub(super) fn measure(&mut self, function: &str, span: Span) -> Result<Measure, SyntaxError> {
        match function {
            "any" | "none" | "count" => {
                self.expect_sym("(", &format!("`(` after {function}"))?;
                let window = self.optional_window()?;
                self.expect_sym(")", "`)`")?;
                Ok(match function {
                    "any" => Measure::Any(window),
                    "none" => Measure::None(window),
                    _ => {
                        let (op, n) = self.number_comparison(function)?;
                        Measure::Count(window, op, n)
                    }
                })
            }
            "sum" | "avg" => {
                self.expect_sym("(", &format!("`(` after {function}"))?;
                if !self.at_word("amount") {
                    return Err(self.expected("`amount`").with_hint(format!(
                        "events have one numeric field: write {function}(amount) or {function}(amount, 365d)"
                    )));
                }
                self.next();
                let window = if self.at_sym(",") {
                    self.next();
                    Some(self.window()?)
                } else {
                    None
                };
                self.expect_sym(")", "`)`")?;
                let (op, n) = self.number_comparison(function)?;
                Ok(if function == "sum" { Measure::Sum(window, op, n) } else { Measure::Avg(window, op, n) })
            }
            "last" => Ok(Measure::Last(self.time_test()?)),
            other => Err(SyntaxError::new(span, format!("unknown function `{other}`")).suggest(
                other,
                Measure::FUNCTIONS,
                "after the event kind write .any(), .none(), .count(), .sum(amount), .avg(amount) or .last",
            )),
        }
    }

    pub(super) fn optional_window(&mut self) -> Result<Option<Window>, SyntaxError> {
        if self.at_sym(")") {
            Ok(None)
        } else {
            self.window().map(Some)
        }
    }

    pub(super) fn window(&mut self) -> Result<Window, SyntaxError> {
        match self.peek().cloned() {
            Some(Token {
                tok: Tok::Window(w),
                ..
            }) => {
                self.next();
                Ok(w)
            }
            Some(Token {
                tok: Tok::Number(n),
                span,
            }) => Err(
                SyntaxError::new(span, format!("bad window `{n}`: it has no unit")).with_hint(
                    format!(
                        "write {n}d (days), {n}w (weeks), {n}m (months of 30 days) or {n}y (years)"
                    ),
                ),
            ),
            _ => Err(self.expected("a window such as 30d, 12w, 6m or 1y")),
        }
    }

    /// `>= 3` after count, sum or avg: a numeric comparison.
    pub(super) fn number_comparison(
        &mut self,
        function: &str,
    ) -> Result<(CmpOp, f64), SyntaxError> {
        let (op, op_span) = self.cmp_op()?;
        types::check_number_op(function, op, op_span)?;
        let value = self.literal()?;
        types::check_number_literal(function, &value)?;
        match value.0 {
            Literal::Number(n) => Ok((op, n)),
            _ => unreachable!("checked to be a number"),
        }
    }

    pub(super) fn time_test(&mut self) -> Result<TimeTest, SyntaxError> {
        let Some(Token {
            tok: Tok::Word(w), ..
        }) = self.peek().cloned()
        else {
            return Err(self.expected("`before`, `after` or `within`"));
        };
        match w.as_str() {
            "before" | "after" => {
                self.next();
                let point = self.time_point()?;
                Ok(if w == "before" {
                    TimeTest::Before(point)
                } else {
                    TimeTest::After(point)
                })
            }
            "within" => {
                self.next();
                Ok(TimeTest::Within(self.window()?))
            }
            _ => Err(self.expected("`before`, `after` or `within`")),
        }
    }

    pub(super) fn time_point(&mut self) -> Result<TimePoint, SyntaxError> {
        match self.peek().cloned() {
            Some(Token {
                tok: Tok::Date(d), ..
            }) => {
                self.next();
                Ok(TimePoint::Date(d))
            }
            Some(Token {
                tok: Tok::Window(_) | Tok::Number(_),
                ..
            }) => {
                let window = self.window()?;
                if !self.at_word("ago") {
                    return Err(self
                        .expected("`ago`")
                        .with_hint(format!("write {window} ago")));
                }
                self.next();
                Ok(TimePoint::Ago(window))
            }
            _ => Err(self.expected("a time: 90d ago, or a date like 2026-01-31")),
        }
    }
}
