//! What `rapport check` says about segments: every file must parse, type-check and resolve its
//! references (errors); event kinds and attributes that occur nowhere in the database are likely
//! misspellings (warnings, with a "did you mean" from what is stored).

use super::ast::{Expr, Field, Node, Rule};
use super::library::Library;
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::store::Store;
use crate::wording::plural;
use std::path::Path;

/// The kinds the sending engine records itself: never warned about, even before the first send.
pub const ENGINE_KINDS: [&str; 5] = [
    "email.sent",
    "email.opened",
    "email.clicked",
    "email.bounced",
    "email.unsubscribed",
];

/// Problems found in `segments/`.
#[derive(Debug, Default)]
pub struct Report {
    /// Files that cannot be used: `check` fails.
    pub errors: Vec<Diagnostic>,
    /// Rendered warnings: printed, but `check` still succeeds.
    pub warnings: Vec<String>,
    /// One line for the summary, e.g. `segments: 6 files`.
    pub summary: String,
    /// The event kinds stored (a full scan of the events: read once, for other checks too).
    pub stored_kinds: Vec<String>,
}

/// Checks every segment of the workspace in `dir` against the database in `store`.
pub async fn check_segments(dir: &Path, store: &Store) -> anyhow::Result<Report> {
    let library = Library::load(&dir.join("segments"))?;
    let mut report = Report::default();
    let mut rules = Vec::new();
    for name in library.names() {
        match library.rule(name) {
            Ok(rule) => rules.push(rule),
            Err(error) => match error.downcast::<Diagnostic>() {
                Ok(d) if !report.errors.contains(&d) => report.errors.push(d),
                Ok(_) => {}
                Err(other) => return Err(other),
            },
        }
    }
    let kinds = store.event_kinds().await?;
    let attributes = store.attribute_names().await?;
    for rule in &rules {
        let mut uses = Vec::new();
        collect_uses(&rule.expr, &mut uses);
        for (word, span, is_kind) in uses {
            let known: Vec<&str> = if is_kind {
                kinds
                    .iter()
                    .map(String::as_str)
                    .chain(ENGINE_KINDS)
                    .collect()
            } else {
                attributes.iter().map(String::as_str).collect()
            };
            let stored = if is_kind { &kinds } else { &attributes };
            if stored.is_empty() || known.contains(&word.as_str()) {
                continue;
            }
            report
                .warnings
                .push(warning(rule, span, &word, is_kind, &known));
        }
    }
    report.summary = format!(
        "segments: {}, {}, {}",
        plural(library.files.len() as u64, "file"),
        plural(report.errors.len() as u64, "error"),
        plural(report.warnings.len() as u64, "warning")
    );
    report.stored_kinds = kinds;
    Ok(report)
}

/// Event kinds (`true`) and customer attributes (`false`) a rule uses, with their spans.
fn collect_uses(expr: &Expr, out: &mut Vec<(String, std::ops::Range<usize>, bool)>) {
    match &expr.node {
        Node::And(l, r) | Node::Or(l, r) => {
            collect_uses(l, out);
            collect_uses(r, out);
        }
        Node::Not(inner) => collect_uses(inner, out),
        Node::Segment { .. } => {}
        Node::Behaviour(b) => out.push((b.kind.clone(), b.kind_span.clone(), true)),
        Node::Field(test) => {
            if let Field::Json(key) = &test.field {
                out.push((
                    key.clone(),
                    expr.span.start..expr.span.start + key.len(),
                    false,
                ));
            }
        }
    }
}

fn warning(
    rule: &Rule,
    span: std::ops::Range<usize>,
    word: &str,
    is_kind: bool,
    known: &[&str],
) -> String {
    let message = if is_kind {
        format!("no event of kind '{word}' is stored")
    } else {
        format!("no customer has the attribute '{word}'")
    };
    let hint = match did_you_mean(word, known.iter().copied()) {
        Some(near) => format!("did you mean '{near}'?"),
        None if is_kind => "import events of this kind, or check its spelling".to_string(),
        None => "import customers with this column, or check its spelling".to_string(),
    };
    let text = Diagnostic::new(&rule.file, &rule.source, span, message)
        .with_hint(hint)
        .to_string();
    text.replacen(": error: ", ": warning: ", 1)
}
