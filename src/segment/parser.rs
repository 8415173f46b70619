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
use super::types;

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

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Where the text ends, for errors at the end of the file.
    end: usize,
    depth: usize,
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
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn peek_at(&self, ahead: usize) -> Option<&Tok> {
        self.tokens.get(self.pos + ahead).map(|t| &t.tok)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += usize::from(token.is_some());
        token
    }

    fn at_word(&self, word: &str) -> bool {
        matches!(self.peek_at(0), Some(Tok::Word(w)) if w == word)
    }

    fn at_sym(&self, sym: &str) -> bool {
        matches!(self.peek_at(0), Some(Tok::Sym(s)) if *s == sym)
    }

    /// The span of the token at the cursor, or the end of the text.
    fn here(&self) -> Span {
        self.peek().map_or(self.end..self.end, |t| t.span.clone())
    }

    fn last_end(&self) -> usize {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map_or(0, |t| t.span.end)
    }

    /// An error at the cursor: "expected X, found Y".
    fn expected(&self, what: &str) -> SyntaxError {
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

    fn expect_sym(&mut self, sym: &str, what: &str) -> Result<Span, SyntaxError> {
        if self.at_sym(sym) {
            Ok(self.next().expect("peeked").span)
        } else {
            Err(self.expected(what))
        }
    }

    fn expr(&mut self) -> Result<Expr, SyntaxError> {
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

    fn conj(&mut self) -> Result<Expr, SyntaxError> {
        let mut left = self.unary()?;
        while self.at_word("and") {
            self.next();
            let right = self.unary()?;
            left = join(left, right, Node::And);
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
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

    fn segment_reference(&mut self) -> Result<Expr, SyntaxError> {
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

    fn behaviour(&mut self) -> Result<Expr, SyntaxError> {
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

    fn filter(&mut self) -> Result<Vec<FieldTest>, SyntaxError> {
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

    fn measure(&mut self, function: &str, span: Span) -> Result<Measure, SyntaxError> {
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

    fn optional_window(&mut self) -> Result<Option<Window>, SyntaxError> {
        if self.at_sym(")") {
            Ok(None)
        } else {
            self.window().map(Some)
        }
    }

    fn window(&mut self) -> Result<Window, SyntaxError> {
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
    fn number_comparison(&mut self, function: &str) -> Result<(CmpOp, f64), SyntaxError> {
        let (op, op_span) = self.cmp_op()?;
        types::check_number_op(function, op, op_span)?;
        let value = self.literal()?;
        types::check_number_literal(function, &value)?;
        match value.0 {
            Literal::Number(n) => Ok((op, n)),
            _ => unreachable!("checked to be a number"),
        }
    }

    fn time_test(&mut self) -> Result<TimeTest, SyntaxError> {
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

    fn time_point(&mut self) -> Result<TimePoint, SyntaxError> {
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

    fn field_test(&mut self, context: Context) -> Result<FieldTest, SyntaxError> {
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

    fn test(&mut self) -> Result<Test, SyntaxError> {
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

    fn keyword(&mut self, test: Test) -> Result<Test, SyntaxError> {
        self.next();
        Ok(test)
    }

    fn list(&mut self) -> Result<Vec<Literal>, SyntaxError> {
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

    fn cmp_op(&mut self) -> Result<(CmpOp, Span), SyntaxError> {
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

    fn literal(&mut self) -> Result<(Literal, Span), SyntaxError> {
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
enum Context {
    Customer,
    Event,
}

impl Context {
    fn field(self, name: &str) -> Field {
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

fn word_of(token: &Token) -> String {
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
