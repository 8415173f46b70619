//! Recursive-descent parser from tokens to a typed [`Expr`]. Precedence, loosest first: `or`, `and`,
//! `not`; parentheses group. Every test is type-checked as it is built (see [`super::types`]).
//!
//! ```text
//! rule      = expr
//! expr      = conj { "or" conj }
//! conj      = unary { "and" unary }
//! unary     = "not" unary | "(" expr ")" | "segment" "(" STRING ")" | behaviour | field_test
//! behaviour = KIND [ "[" field_test { "and" field_test } "]" ] "." function
//! function  = ("any" | "none") "(" [WINDOW] ")"
//!           | "count" "(" [WINDOW] ")" CMP NUMBER
//!           | ("sum" | "avg") "(" "amount" [ "," WINDOW ] ")" CMP NUMBER
//!           | "last" time_test
//! field_test = NAME ( CMP literal | "in" "[" literal { "," literal } "]" | "exists" | "missing" | time_test )
//! time_test = "before" point | "after" point | "within" WINDOW
//! point     = WINDOW "ago" | DATE
//! ```

use super::ast::*;
use super::error::SyntaxError;
use super::lexer::{Tok, Token, tokenize};
use super::parse_field::Context;

/// Deeper nesting than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 64;

/// Parses one segment file's text into its expression.
pub fn parse_expr(source: &str) -> Result<Expr, SyntaxError> {
    let tokens = tokenize(source)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        end: source.trim_end().len(),
        depth: 0,
    };
    if parser.tokens.is_empty() {
        return Err(SyntaxError::new(0..0, "this segment has no rule")
            .with_hint("write a rule such as purchase.any(30d), after the # description line"));
    }
    let expr = parser.expr()?;
    if let Some(token) = parser.peek() {
        let hint = "join conditions with `and` or `or`";
        return Err(SyntaxError::new(
            token.span.clone(),
            format!("unexpected {}", describe(&token.tok)),
        )
        .with_hint(hint));
    }
    Ok(expr)
}

pub(super) struct Parser {
    pub(super) tokens: Vec<Token>,
    pub(super) pos: usize,
    /// Where the text ends, for errors at the end of the file.
    pub(super) end: usize,
    pub(super) depth: usize,
}

/// How a token reads in an error message.
pub fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Word(w) => format!("`{w}`"),
        Tok::Text(t) => format!("the string {t:?}"),
        Tok::Number(n) => format!("the number {n}"),
        Tok::Window(w) => format!("the window `{w}`"),
        Tok::Date(d) => format!("the date {}", d.datetime().format("%Y-%m-%d")),
        Tok::Sym(s) => format!("`{s}`"),
    }
}

impl Parser {
    pub(super) fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    pub(super) fn peek_at(&self, ahead: usize) -> Option<&Tok> {
        self.tokens.get(self.pos + ahead).map(|t| &t.tok)
    }

    pub(super) fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += usize::from(token.is_some());
        token
    }

    pub(super) fn at_word(&self, word: &str) -> bool {
        matches!(self.peek_at(0), Some(Tok::Word(w)) if w == word)
    }

    pub(super) fn at_sym(&self, sym: &str) -> bool {
        matches!(self.peek_at(0), Some(Tok::Sym(s)) if *s == sym)
    }

    /// The span of the token at the cursor, or the end of the text.
    pub(super) fn here(&self) -> Span {
        self.peek().map_or(self.end..self.end, |t| t.span.clone())
    }

    pub(super) fn last_end(&self) -> usize {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map_or(0, |t| t.span.end)
    }

    /// An error at the cursor: "expected X, found Y".
    pub(super) fn expected(&self, what: &str) -> SyntaxError {
        match self.peek() {
            Some(t) => SyntaxError::new(
                t.span.clone(),
                format!("expected {what}, found {}", describe(&t.tok)),
            ),
            None => SyntaxError::new(
                self.end..self.end,
                format!("expected {what}, but the rule ends here"),
            ),
        }
    }

    pub(super) fn expect_sym(&mut self, sym: &str, what: &str) -> Result<Span, SyntaxError> {
        if self.at_sym(sym) {
            Ok(self.next().expect("peeked").span)
        } else {
            Err(self.expected(what))
        }
    }

    pub(super) fn expr(&mut self) -> Result<Expr, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(
                SyntaxError::new(self.here(), "this rule is nested too deeply").with_hint(
                    "split it into several segments and combine them with segment(\"name\")",
                ),
            );
        }
        let mut left = self.conj()?;
        while self.at_word("or") {
            self.next();
            let right = self.conj()?;
            left = join(left, right, Node::Or);
        }
        self.depth -= 1;
        Ok(left)
    }

    pub(super) fn conj(&mut self) -> Result<Expr, SyntaxError> {
        let mut left = self.unary()?;
        while self.at_word("and") {
            self.next();
            let right = self.unary()?;
            left = join(left, right, Node::And);
        }
        Ok(left)
    }

    pub(super) fn unary(&mut self) -> Result<Expr, SyntaxError> {
        let Some(token) = self.peek().cloned() else {
            return Err(self.expected("a condition"));
        };
        match &token.tok {
            Tok::Word(w) if w == "not" => {
                self.next();
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(SyntaxError::new(
                        token.span,
                        "this rule is nested too deeply",
                    ));
                }
                let inner = self.unary()?;
                self.depth -= 1;
                let span = token.span.start..inner.span.end;
                Ok(Expr {
                    node: Node::Not(Box::new(inner)),
                    span,
                })
            }
            Tok::Sym("(") => {
                self.next();
                let inner = self.expr()?;
                if !self.at_sym(")") {
                    let found = self.peek().map(|t| describe(&t.tok));
                    let message = match found {
                        Some(found) => {
                            format!("this parenthesis is not closed: found {found} instead of `)`")
                        }
                        None => "this parenthesis is not closed".to_string(),
                    };
                    return Err(SyntaxError::new(token.span, message)
                        .with_hint("add `)` where the group ends"));
                }
                let close = self.next().expect("peeked").span;
                Ok(Expr {
                    node: inner.node,
                    span: token.span.start..close.end,
                })
            }
            Tok::Word(w) if w == "segment" && matches!(self.peek_at(1), Some(Tok::Sym("("))) => {
                self.segment_reference()
            }
            Tok::Word(_) => {
                if matches!(self.peek_at(1), Some(Tok::Sym(".") | Tok::Sym("["))) {
                    self.behaviour()
                } else {
                    let test = self.field_test(Context::Customer)?;
                    Ok(Expr {
                        node: Node::Field(test),
                        span: token.span.start..self.last_end(),
                    })
                }
            }
            _ => Err(self.expected("a condition")),
        }
    }

    pub(super) fn segment_reference(&mut self) -> Result<Expr, SyntaxError> {
        let start = self.next().expect("peeked").span.start;
        self.next();
        let name = match self.next() {
            Some(Token {
                tok: Tok::Text(name),
                ..
            }) => name,
            _ => {
                self.pos -= 1;
                return Err(self.expected("a segment name in quotes, e.g. segment(\"vip\")"));
            }
        };
        let close = self.expect_sym(")", "`)`")?;
        Ok(Expr {
            node: Node::Segment { name, rule: None },
            span: start..close.end,
        })
    }
}

pub(super) fn word_of(token: &Token) -> String {
    match &token.tok {
        Tok::Word(w) => w.clone(),
        _ => unreachable!("called on words only"),
    }
}

fn join(left: Expr, right: Expr, make: fn(Box<Expr>, Box<Expr>) -> Node) -> Expr {
    let span = left.span.start..right.span.end;
    Expr {
        node: make(Box::new(left), Box::new(right)),
        span,
    }
}
