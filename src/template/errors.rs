//! Tera's errors in the owner's terms: the template file, the byte span of the problem in it, a
//! message and a hint, ready to become a [`Diagnostic`] that prints `templates/FILE:LINE:COL`.
//!
//! Tera 2 reports syntax and rendering errors with a span, reference errors (unknown filter,
//! function or include) as pre-rendered reports that carry `--> FILE:LINE:COL`, and inheritance
//! cycles by template name; all three are mapped back to a span in our copy of the source.

use crate::diagnostic::Diagnostic;
use std::collections::BTreeMap;
use std::ops::Range;
use tera::ErrorKind;

/// One problem in one template file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file name inside `templates/`.
    pub file: String,
    pub source: String,
    pub span: Range<usize>,
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    pub fn into_diagnostic(self) -> Diagnostic {
        let d = Diagnostic::new(
            format!("templates/{}", self.file),
            self.source,
            self.span,
            self.message,
        );
        match self.hint {
            Some(hint) => d.with_hint(hint),
            None => d,
        }
    }
}

/// The problems an error describes, each located in `sources` (file name → text).
pub fn problem_from_tera(error: &tera::Error, sources: &BTreeMap<String, String>) -> Vec<Problem> {
    let at = |file: &str, span: Range<usize>, message: String, hint: Option<String>| Problem {
        file: file.to_string(),
        source: sources.get(file).cloned().unwrap_or_default(),
        span,
        message,
        hint,
    };
    let find = |file: &str, needle: &str| {
        let text = sources.get(file).map(String::as_str).unwrap_or_default();
        text.find(needle).map_or(0..0, |i| i..i + needle.len())
    };
    match error.kind() {
        ErrorKind::SyntaxError(report) | ErrorKind::RenderingError(report) => {
            let hint = hint_for(report.message());
            vec![at(
                report.filename(),
                report.span().range.clone(),
                report.message().to_string(),
                hint,
            )]
        }
        ErrorKind::CircularExtend { tpl, .. } => vec![at(
            tpl,
            find(tpl, "extends"),
            format!("{tpl} extends itself (directly or through its parents)"),
            Some("a template may extend a layout, but the layout must not extend it back".into()),
        )],
        ErrorKind::CircularInclude { tpl, include_chain } => vec![at(
            tpl,
            find(tpl, "include"),
            format!("{tpl} includes itself: {}", include_chain.join(" → ")),
            Some(
                "break the cycle: a partial must not include the template that includes it".into(),
            ),
        )],
        ErrorKind::MissingParent { current, parent } => vec![at(
            current,
            find(current, parent),
            format!("{current} extends {parent}, which does not exist or does not compile"),
            Some(format!("create templates/{parent} or fix the name")),
        )],
        _ => parse_reports(&error.to_string(), sources),
    }
}

/// Splits Tera's joined reports ("error: MESSAGE\n  --> FILE:LINE:COL\n…") into problems.
fn parse_reports(text: &str, sources: &BTreeMap<String, String>) -> Vec<Problem> {
    text.split("\n\n")
        .filter_map(|report| {
            let message = report.lines().next()?.trim().strip_prefix("error: ")?;
            let locus = report.lines().find_map(|l| l.trim().strip_prefix("--> "))?;
            let mut parts = locus.rsplitn(3, ':');
            let col: usize = parts.next()?.parse().ok()?;
            let line: usize = parts.next()?.parse().ok()?;
            let file = parts.next()?;
            let source = sources.get(file)?;
            let start = offset_of(source, line, col);
            let len = word_len(&source[start..]);
            Some(Problem {
                file: file.to_string(),
                source: source.clone(),
                span: start..start + len,
                message: message.to_string(),
                hint: hint_for(message),
            })
        })
        .collect()
}

/// The byte offset of 1-based `line` and `col` (in characters).
fn offset_of(source: &str, line: usize, col: usize) -> usize {
    let line_start: usize = source
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let rest = &source[line_start.min(source.len())..];
    line_start
        + rest
            .char_indices()
            .nth(col.saturating_sub(1))
            .map_or(rest.len(), |(i, _)| i)
}

fn word_len(text: &str) -> usize {
    text.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(text.len())
}

/// What to do about the messages owners meet most.
fn hint_for(message: &str) -> Option<String> {
    let m = message.to_lowercase();
    if m.contains("undefined") || m.contains("not defined") {
        Some("give it a fallback, e.g. {{ customer.first_name | default(value=\"there\") }}, or test it with {% if … is defined %}; docs/templates.md lists every variable".into())
    } else if m.contains("unknown filter") || m.contains("unknown function") {
        Some("docs/templates.md lists the filters and functions templates can use".into())
    } else if m.contains("unknown template") {
        Some(
            "include and extend files of templates/ by their file name, e.g. \"_footer.html\""
                .into(),
        )
    } else {
        None
    }
}
