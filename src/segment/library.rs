//! The workspace's segments: every `segments/NAME.seg`, parsed, with `segment("x")` references
//! resolved. The description of a segment is its first line when that line is a `#` comment.
//!
//! Invariant: a rule handed out by [`Library::rule`] has every reference resolved and no cycle, so the
//! compiler and the interpreter can follow references without checks.

use super::ast::{Expr, Node, Rule};
use super::parser::parse_expr;
use crate::diagnostic::{Diagnostic, did_you_mean};
use anyhow::Context;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// One segment file as read.
#[derive(Debug, Clone)]
pub struct SegmentFile {
    pub name: String,
    pub description: String,
    /// The parsed rule (references unresolved), or why it does not parse.
    pub parsed: Result<Rule, Diagnostic>,
}

/// Every segment of a workspace, by name.
#[derive(Debug, Clone, Default)]
pub struct Library {
    pub files: BTreeMap<String, SegmentFile>,
}

impl Library {
    /// Reads and parses every `*.seg` file in `dir` (a missing folder is an empty library).
    pub fn load(dir: &Path) -> anyhow::Result<Library> {
        let mut library = Library::default();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(library);
        };
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "seg") {
                continue;
            }
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let source = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            library.insert(&name, &source);
        }
        Ok(library)
    }

    /// Adds a segment from its text (as if read from `segments/NAME.seg`).
    pub fn insert(&mut self, name: &str, source: &str) {
        let file = format!("segments/{name}.seg");
        let parsed = parse_expr(source)
            .map(|expr| Rule {
                file: file.clone(),
                source: source.to_string(),
                expr,
            })
            .map_err(|e| e.into_diagnostic(&file, source));
        let description = describe(source);
        let name = name.to_string();
        self.files.insert(
            name.clone(),
            SegmentFile {
                name,
                description,
                parsed,
            },
        );
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// The segment `name` with its references resolved, or the first error met on the way.
    pub fn rule(&self, name: &str) -> anyhow::Result<Arc<Rule>> {
        if !self.files.contains_key(name) {
            let hint = match did_you_mean(name, self.names()) {
                Some(near) => format!("did you mean {near:?}?"),
                None => {
                    format!("create segments/{name}.seg (segment list shows the existing ones)")
                }
            };
            anyhow::bail!("there is no segment {name:?}\n  = hint: {hint}");
        }
        Ok(self.resolve(name, &mut Vec::new())?)
    }

    fn resolve(&self, name: &str, stack: &mut Vec<String>) -> Result<Arc<Rule>, Diagnostic> {
        let file = &self.files[name];
        let mut rule = file.parsed.clone()?;
        stack.push(name.to_string());
        let (source, path) = (rule.source.clone(), rule.file.clone());
        self.resolve_expr(&mut rule.expr, stack, &path, &source)?;
        stack.pop();
        Ok(Arc::new(rule))
    }

    fn resolve_expr(
        &self,
        expr: &mut Expr,
        stack: &mut Vec<String>,
        file: &str,
        source: &str,
    ) -> Result<(), Diagnostic> {
        let span = expr.span.clone();
        match &mut expr.node {
            Node::And(l, r) | Node::Or(l, r) => {
                self.resolve_expr(l, stack, file, source)?;
                self.resolve_expr(r, stack, file, source)
            }
            Node::Not(inner) => self.resolve_expr(inner, stack, file, source),
            Node::Field(_) | Node::Behaviour(_) => Ok(()),
            Node::Segment { name, rule } => {
                if stack.iter().any(|s| s == name) {
                    let path = stack
                        .iter()
                        .chain(std::iter::once(&*name))
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" → ");
                    return Err(Diagnostic::new(file, source, span, format!("cyclic segment reference: {path}"))
                        .with_hint("a segment cannot include itself, directly or through others; remove one reference"));
                }
                if !self.files.contains_key(name.as_str()) {
                    let hint = match did_you_mean(name, self.names()) {
                        Some(near) => format!("did you mean \"{near}\"?"),
                        None => format!(
                            "create segments/{name}.seg, or use one of: {}",
                            self.names().collect::<Vec<_>>().join(", ")
                        ),
                    };
                    return Err(Diagnostic::new(
                        file,
                        source,
                        span,
                        format!("unknown segment \"{name}\""),
                    )
                    .with_hint(hint));
                }
                *rule = Some(self.resolve(name, stack)?);
                Ok(())
            }
        }
    }
}

/// The first line of the file when it is a comment, without the `#`.
fn describe(source: &str) -> String {
    source
        .lines()
        .next()
        .and_then(|line| line.trim().strip_prefix('#'))
        .map(|text| text.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_and_cycles_are_errors() {
        let mut library = Library::default();
        library.insert(
            "vip",
            "# Our best.\nsegment(\"big\") and city == \"Portland\"\n",
        );
        library.insert("big", "purchase.sum(amount, 365d) > 500\n");
        library.insert("a", "segment(\"b\")\n");
        library.insert("b", "visit.any() and segment(\"a\")\n");
        assert!(library.rule("vip").is_ok());
        assert_eq!(library.files["vip"].description, "Our best.");
        let error = library.rule("a").unwrap_err().to_string();
        assert!(
            error.starts_with("segments/b.seg:1:17: error: cyclic segment reference: a → b → a"),
            "{error}"
        );
    }
}
