//! The typed syntax tree of a segment rule, with byte spans into the file it came from.
//!
//! Invariant: a tree that left [`super::parse_expr`] is well typed (every comparison pairs a field with a
//! literal it can hold), so the compiler and the interpreter never re-check types.

use crate::timestamp::Timestamp;
use std::ops::Range;
use std::sync::Arc;

/// A byte range in the segment file.
pub type Span = Range<usize>;

/// A boolean expression over one customer.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub node: Node,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    /// A test on a customer field or custom attribute.
    Field(FieldTest),
    /// A test on the customer's events of one kind.
    Behaviour(Behaviour),
    /// `segment("vip")`; `rule` is filled in by the library once the reference is resolved.
    Segment {
        name: String,
        rule: Option<Arc<Rule>>,
    },
}

/// A parsed segment file: its text (for explain and errors) and its expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// What errors call the file, e.g. `segments/vip.seg`.
    pub file: String,
    pub source: String,
    pub expr: Expr,
}

/// Where a value lives: a column of the row, or a key of its JSON (`attributes` or `properties`).
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Column(Column),
    Json(String),
}

/// The built-in columns segments can test, with their types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Email,
    FirstName,
    LastName,
    Timezone,
    Locale,
    Status,
    CreatedAt,
    /// The event's amount (only inside an event filter).
    Amount,
}

/// What a column holds, which decides the tests it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    Time,
    Number,
}

impl Column {
    pub const CUSTOMER: [Column; 7] = [
        Column::Email,
        Column::FirstName,
        Column::LastName,
        Column::Timezone,
        Column::Locale,
        Column::Status,
        Column::CreatedAt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Column::Email => "email",
            Column::FirstName => "first_name",
            Column::LastName => "last_name",
            Column::Timezone => "timezone",
            Column::Locale => "locale",
            Column::Status => "status",
            Column::CreatedAt => "created_at",
            Column::Amount => "amount",
        }
    }

    pub fn column_type(self) -> ColumnType {
        match self {
            Column::CreatedAt => ColumnType::Time,
            Column::Amount => ColumnType::Number,
            _ => ColumnType::Text,
        }
    }
}

/// `field TEST`: the field and what is asked of it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldTest {
    pub field: Field,
    pub test: Test,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Compare(CmpOp, Literal),
    In(Vec<Literal>),
    Exists,
    Missing,
    Time(TimeTest),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    StartsWith,
    EndsWith,
}

impl CmpOp {
    /// Every operator as written, for parsing and "did you mean".
    pub const ALL: [(&'static str, CmpOp); 9] = [
        ("==", CmpOp::Eq),
        ("!=", CmpOp::Ne),
        ("<", CmpOp::Lt),
        ("<=", CmpOp::Le),
        (">", CmpOp::Gt),
        (">=", CmpOp::Ge),
        ("contains", CmpOp::Contains),
        ("starts_with", CmpOp::StartsWith),
        ("ends_with", CmpOp::EndsWith),
    ];

    pub fn symbol(self) -> &'static str {
        CmpOp::ALL
            .iter()
            .find(|(_, op)| *op == self)
            .map(|(s, _)| *s)
            .expect("every operator has a symbol")
    }

    /// `contains`, `starts_with`, `ends_with`: only for text.
    pub fn is_text_only(self) -> bool {
        matches!(self, CmpOp::Contains | CmpOp::StartsWith | CmpOp::EndsWith)
    }

    /// `==` and `!=`, the only operators for booleans.
    pub fn is_equality(self) -> bool {
        matches!(self, CmpOp::Eq | CmpOp::Ne)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Number(f64),
    Bool(bool),
}

/// `before X`, `after X`, `within WINDOW`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeTest {
    Before(TimePoint),
    After(TimePoint),
    Within(Window),
}

/// `90d ago` or `2026-01-31`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimePoint {
    Ago(Window),
    Date(Timestamp),
}

/// A length of time back from now: days, weeks, months (30 days) or years (365 days).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub amount: u32,
    pub unit: Unit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Day,
    Week,
    Month,
    Year,
}

/// `kind[filter].measure`.
#[derive(Debug, Clone, PartialEq)]
pub struct Behaviour {
    pub kind: String,
    pub kind_span: Span,
    /// Every test must hold for an event to count.
    pub filter: Vec<FieldTest>,
    pub measure: Measure,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Measure {
    Any(Option<Window>),
    None(Option<Window>),
    Count(Option<Window>, CmpOp, f64),
    Sum(Option<Window>, CmpOp, f64),
    Avg(Option<Window>, CmpOp, f64),
    Last(TimeTest),
}

impl Measure {
    /// The functions after the dot, for parsing and "did you mean".
    pub const FUNCTIONS: [&'static str; 6] = ["any", "none", "count", "sum", "avg", "last"];

    pub fn window(&self) -> Option<Window> {
        match self {
            Measure::Any(w)
            | Measure::None(w)
            | Measure::Count(w, ..)
            | Measure::Sum(w, ..)
            | Measure::Avg(w, ..) => *w,
            Measure::Last(_) => None,
        }
    }
}
