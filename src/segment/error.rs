//! Errors in segment files: a span, what is wrong and a hint, turned into a [`Diagnostic`] (file, line,
//! column, caret) once the file name and text are known.

use super::ast::Span;
use crate::diagnostic::Diagnostic;

/// A parse or type error located in one segment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub span: Span,
    pub message: String,
    pub hint: Option<String>,
}

impl SyntaxError {
    pub fn new(span: Span, message: impl Into<String>) -> Self {
        SyntaxError {
            span,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds "did you mean `x`?" when `word` is close to one of `candidates`, else `fallback`.
    pub fn suggest<'a>(
        self,
        word: &str,
        candidates: impl IntoIterator<Item = &'a str>,
        fallback: &str,
    ) -> Self {
        match crate::diagnostic::did_you_mean(word, candidates) {
            Some(near) => self.with_hint(format!("did you mean `{near}`?")),
            None => self.with_hint(fallback),
        }
    }

    pub fn into_diagnostic(self, file: &str, source: &str) -> Diagnostic {
        let diagnostic = Diagnostic::new(file, source, self.span, self.message);
        match self.hint {
            Some(hint) => diagnostic.with_hint(hint),
            None => diagnostic,
        }
    }
}
