//! Segments: who a campaign is for, written by the owner in `segments/NAME.seg`.
//!
//! A rule is tokenized ([`lexer`]), parsed and type-checked into a tree with spans ([`parser`],
//! [`types`], [`ast`]), its `segment("x")` references resolved ([`library`]), then either compiled to
//! one SQL condition per dialect with every value bound ([`compile()`]) or evaluated in memory by the
//! reference interpreter ([`interpret`]), which `explain` uses to show why ([`explain`]). Evaluation
//! always takes `now` explicitly ([`clock`]). The language is documented in `docs/segments.md`.

pub mod ast;
pub mod check;
pub mod clock;
pub mod compile;
mod compile_field;
#[cfg(test)]
mod diagnostics_tests;
pub mod error;
pub mod explain;
pub mod interpret;
pub mod lexer;
pub mod library;
mod parse_behaviour;
mod parse_field;
pub mod parser;
pub mod types;

pub use ast::{Expr, Rule};
pub use compile::{Bind, Condition, Piece, compile};
pub use error::SyntaxError;
pub use interpret::Facts;
pub use library::{Library, SegmentFile};
pub use parser::parse_expr;
