//! Parsing field tests (`city == "Portland"`, `tier in [...]`, `first_name exists`), operators and
//! values, with "did you mean" for misspelt operators.

use super::ast::*;
use super::error::SyntaxError;
use super::lexer::{Tok, Token};
use super::parser::{Parser, describe, word_of};
use super::types;

impl Parser {
    pub(super) fn field_test(&mut self, context: Context) -> Result<FieldTest, SyntaxError> {
        let name = match self.next() {
            Some(
                t @ Token {
                    tok: Tok::Word(_), ..
                },
            ) => t,
            _ => {
                self.pos -= 1;
                return Err(self.expected("a field name"));
            }
        };
        let field = context.field(&word_of(&name));
        let test = self.test()?;
        types::check_field_test(&field, &test, name.span.start..self.last_end())?;
        Ok(FieldTest { field, test })
    }

    pub(super) fn test(&mut self) -> Result<Test, SyntaxError> {
        if let Some(Tok::Word(w)) = self.peek_at(0) {
            match w.as_str() {
                "exists" => return self.keyword(Test::Exists),
                "missing" => return self.keyword(Test::Missing),
                "in" => {
                    self.next();
                    return self.list().map(Test::In);
                }
                "before" | "after" | "within" => return self.time_test().map(Test::Time),
                _ => {}
            }
        }
        let (op, _) = self.cmp_op()?;
        let (literal, _) = self.literal()?;
        Ok(Test::Compare(op, literal))
    }

    pub(super) fn keyword(&mut self, test: Test) -> Result<Test, SyntaxError> {
        self.next();
        Ok(test)
    }

    pub(super) fn list(&mut self) -> Result<Vec<Literal>, SyntaxError> {
        self.expect_sym(
            "[",
            "`[` to start a list, e.g. tier in [\"gold\", \"silver\"]",
        )?;
        let mut items = vec![self.literal()?.0];
        while self.at_sym(",") {
            self.next();
            items.push(self.literal()?.0);
        }
        self.expect_sym("]", "`,` or `]` to close the list")?;
        Ok(items)
    }

    pub(super) fn cmp_op(&mut self) -> Result<(CmpOp, Span), SyntaxError> {
        let Some(token) = self.peek().cloned() else {
            return Err(self.expected("an operator such as == or >="));
        };
        let written = match &token.tok {
            Tok::Sym(s) => s.to_string(),
            Tok::Word(w) => w.clone(),
            _ => return Err(self.expected("an operator such as == or >=")),
        };
        if let Some((_, op)) = CmpOp::ALL.iter().find(|(s, _)| *s == written) {
            self.next();
            return Ok((*op, token.span));
        }
        let near = match written.as_str() {
            "=" | "===" => Some("=="),
            "=>" => Some(">="),
            "=<" => Some("<="),
            "<>" => Some("!="),
            _ => None,
        };
        let error = SyntaxError::new(token.span, format!("unknown operator `{written}`"));
        let fallback = "operators are == != < <= > >= contains starts_with ends_with in exists missing before after within";
        Err(match near {
            Some(near) => error.with_hint(format!("did you mean `{near}`?")),
            None => error.suggest(&written, OPERATOR_WORDS, fallback),
        })
    }

    pub(super) fn literal(&mut self) -> Result<(Literal, Span), SyntaxError> {
        let Some(token) = self.next() else {
            return Err(self.expected("a value"));
        };
        match token.tok {
            Tok::Text(t) => Ok((Literal::Text(t), token.span)),
            Tok::Number(n) => Ok((Literal::Number(n), token.span)),
            Tok::Word(w) if w == "true" || w == "false" => {
                Ok((Literal::Bool(w == "true"), token.span))
            }
            Tok::Window(_) | Tok::Date(_) => Err(SyntaxError::new(
                token.span,
                "a time cannot be compared with an operator",
            )
            .with_hint("use before, after or within, e.g. created_at before 90d ago")),
            other => Err(SyntaxError::new(
                token.span,
                format!("expected a value, found {}", describe(&other)),
            )
            .with_hint("values are \"text in quotes\", numbers, true or false")),
        }
    }
}

/// Every operator written as a word or symbol, for "did you mean".
const OPERATOR_WORDS: [&str; 15] = [
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "contains",
    "starts_with",
    "ends_with",
    "in",
    "exists",
    "missing",
    "before",
    "after",
    "within",
];

/// Whether a field name is read against the customer or inside an event filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Context {
    Customer,
    Event,
}

impl Context {
    pub(super) fn field(self, name: &str) -> Field {
        match self {
            Context::Customer => Column::CUSTOMER
                .into_iter()
                .find(|c| c.name() == name)
                .map_or_else(|| Field::Json(name.to_string()), Field::Column),
            Context::Event if name == "amount" => Field::Column(Column::Amount),
            Context::Event => Field::Json(name.to_string()),
        }
    }
}
