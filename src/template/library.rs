//! The templates folder, compiled once: every file of `templates/` (not its subfolders, never through a
//! symbolic link) added to one Tera instance that has no access to the environment or the file system.
//!
//! A message template `NAME` is `NAME.subject` plus `NAME.html`, with an optional `NAME.txt`; every
//! other file (layouts, `_partials`) is only reachable through `extends`, `include` and `import`.
//! HTML files are auto-escaped; subject and text files are not. A broken file is reported with its
//! line and column and left out, so one mistake does not hide the others.

use super::errors::{Problem, problem_from_tera};
use super::filters;
use crate::diagnostic::Diagnostic;
use anyhow::Context as _;
use std::collections::BTreeMap;
use std::path::Path;
use tera::{Context, Tera};

/// The extensions a template file may have.
pub const EXTENSIONS: &[&str] = &["subject", "html", "txt"];

/// The compiled templates of a workspace.
pub struct Library {
    pub(super) tera: Tera,
    /// File name (`winback.html`) → text, for diagnostics.
    pub(super) sources: BTreeMap<String, String>,
}

/// One rendered message template, before tracking and headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Parts {
    /// One line: CR, LF and other control characters replaced by spaces.
    pub subject: String,
    pub html: String,
    /// The rendered `NAME.txt`, when the template has one.
    pub text: Option<String>,
}

impl Library {
    /// Reads and compiles `dir`; the problems are every file that could not be compiled (left out).
    pub fn load(dir: &Path) -> anyhow::Result<(Library, Vec<Diagnostic>)> {
        let mut sources = BTreeMap::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Library::compile(sources));
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_template = EXTENSIONS
                .iter()
                .any(|ext| name.ends_with(&format!(".{ext}")));
            if !is_template || !entry.file_type()?.is_file() || name.starts_with('.') {
                continue;
            }
            let text = std::fs::read_to_string(entry.path())
                .with_context(|| format!("cannot read templates/{name}"))?;
            sources.insert(name, text);
        }
        Ok(Library::compile(sources))
    }

    /// Compiles `sources` (file name → text), leaving out each file that does not compile.
    pub fn compile(mut sources: BTreeMap<String, String>) -> (Library, Vec<Diagnostic>) {
        let mut problems = Vec::new();
        loop {
            let mut tera = new_tera();
            match tera.add_raw_templates(sources.iter()) {
                Ok(()) => return (Library { tera, sources }, problems),
                Err(error) => {
                    let found = problem_from_tera(&error, &sources);
                    let mut culprits: Vec<String> = found.iter().map(|p| p.file.clone()).collect();
                    culprits.extend(cycle_members(&error));
                    problems.extend(found.into_iter().map(Problem::into_diagnostic));
                    let before = sources.len();
                    sources.retain(|name, _| !culprits.contains(name));
                    if sources.len() == before {
                        // Nothing identifiable to leave out: give up on the whole folder.
                        sources.clear();
                    }
                }
            }
        }
    }

    /// Names of the message templates (those with a `.subject` and an `.html` file), sorted.
    pub fn message_names(&self) -> Vec<String> {
        self.sources
            .keys()
            .filter_map(|file| file.strip_suffix(".subject"))
            .filter(|name| self.has(&format!("{name}.html")))
            .map(str::to_string)
            .collect()
    }

    /// Whether a file of this name compiled.
    pub fn has(&self, file: &str) -> bool {
        self.tera.contains_template(file)
    }

    /// The text of a file, as read.
    pub fn source(&self, file: &str) -> Option<&str> {
        self.sources.get(file).map(String::as_str)
    }

    /// Renders message template `name` for one recipient.
    pub fn render(&self, name: &str, context: &Context) -> Result<Parts, tera::Error> {
        let subject = self.tera.render(&format!("{name}.subject"), context)?;
        let html = self.tera.render(&format!("{name}.html"), context)?;
        let text_file = format!("{name}.txt");
        let text = if self.has(&text_file) {
            Some(self.tera.render(&text_file, context)?)
        } else {
            None
        };
        Ok(Parts {
            subject: one_line(&subject),
            html,
            text,
        })
    }

    /// Renders one file (HTML files auto-escaped), e.g. to try an example against a context.
    pub fn render_file(&self, file: &str, context: &Context) -> Result<String, tera::Error> {
        self.tera.render(file, context)
    }

    /// A Tera error as a diagnostic on the file and line it comes from.
    pub fn diagnostic(&self, error: &tera::Error) -> Diagnostic {
        problem_from_tera(error, &self.sources)
            .into_iter()
            .next()
            .map(Problem::into_diagnostic)
            .unwrap_or_else(|| Diagnostic::new("templates", "", 0..0, error.to_string()))
    }
}

/// The other templates of an include or extend cycle: left out with the one reported, so that
/// they are not reported again as including a template that no longer exists.
fn cycle_members(error: &tera::Error) -> Vec<String> {
    match error.kind() {
        tera::ErrorKind::CircularInclude { include_chain, .. } => include_chain.clone(),
        tera::ErrorKind::CircularExtend {
            inheritance_chain, ..
        } => inheritance_chain.clone(),
        _ => Vec::new(),
    }
}

/// A Tera with rapport's filters and functions, and nothing that reads outside the templates.
fn new_tera() -> Tera {
    let mut tera = Tera::new();
    tera.autoescape_on([".html"]);
    filters::register(&mut tera);
    tera
}

/// Header-safe text: control characters (CR and LF above all) become spaces, runs of spaces one.
pub fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn library(files: &[(&str, &str)]) -> (Library, Vec<Diagnostic>) {
        Library::compile(
            files
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect(),
        )
    }

    #[test]
    fn a_template_that_extends_itself_is_an_error_not_a_crash() {
        let (lib, problems) = library(&[
            ("loop.html", "{% extends \"loop.html\" %}"),
            ("a.html", "{% include \"b.html\" %}"),
            ("b.html", "{% include \"a.html\" %}"),
            ("ok.subject", "Hi"),
            ("ok.html", "<p>fine</p>"),
        ]);
        let files: Vec<&str> = problems.iter().map(|d| d.file.as_str()).collect();
        assert!(files.contains(&"templates/loop.html"), "{problems:?}");
        assert!(
            files.contains(&"templates/a.html") || files.contains(&"templates/b.html"),
            "{problems:?}"
        );
        assert_eq!(lib.message_names(), ["ok"]);
    }

    #[test]
    fn a_syntax_error_names_file_line_and_column() {
        let (lib, problems) = library(&[
            ("news.subject", "News"),
            ("news.html", "<p>\n{{ customer.email </p>"),
        ]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].file, "templates/news.html");
        assert_eq!(problems[0].position().line, 2);
        assert!(lib.message_names().is_empty());
    }

    #[test]
    fn an_unknown_filter_is_found_at_compile_time() {
        let (_, problems) = library(&[("a.subject", "{{ 3 | monye }}"), ("a.html", "x")]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].location(), "templates/a.subject:1:8");
    }

    #[test]
    fn the_environment_is_out_of_reach() {
        let (_, problems) = library(&[
            ("a.subject", "{{ get_env(name=\"HOME\") }}"),
            ("a.html", ""),
        ]);
        assert_eq!(problems.len(), 1, "get_env must not exist: {problems:?}");
    }

    #[test]
    fn subjects_are_one_line() {
        assert_eq!(one_line("Hi\r\nBcc: x@y\t there "), "Hi Bcc: x@y there");
    }
}
