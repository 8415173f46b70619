//! The templates folder, compiled once: every file of `templates/` (not its subfolders, never through a
//! symbolic link) added to one Tera instance that has no access to the environment or the file system.
//!
//! A message template `NAME` is `NAME.subject` plus `NAME.html`, with an optional `NAME.txt`; every
//! other file (layouts, `_partials`) is only reachable through `extends`, `include` and `import`.
//! HTML files are auto-escaped; subject and text files are not. A broken file is reported with its
//! line and column and left out, so one mistake does not hide the others.

use super::errors::{Problem, problem_from_tera};
use super::filters;
use super::output::{Capped, MAX_RENDERED_BYTES, one_line};
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
        let mut unreadable = Vec::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_template = EXTENSIONS
                .iter()
                .any(|ext| name.ends_with(&format!(".{ext}")));
            if !is_template || !entry.file_type()?.is_file() || name.starts_with('.') {
                continue;
            }
            match std::fs::read_to_string(entry.path()) {
                Ok(text) => {
                    sources.insert(name, text);
                }
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => unreadable.push(
                    Diagnostic::new(
                        format!("templates/{name}"),
                        "",
                        0..0,
                        "this file is not UTF-8 text",
                    )
                    .with_hint("save it as UTF-8 in your editor"),
                ),
                Err(e) => return Err(e).with_context(|| format!("cannot read templates/{name}")),
            }
        }
        let (library, problems) = Library::compile(sources);
        unreadable.extend(problems);
        Ok((library, unreadable))
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

    /// The `.subject` files that compiled, with their text.
    pub fn subject_files(&self) -> impl Iterator<Item = (&str, &str)> {
        self.sources
            .iter()
            .filter(|(file, _)| file.ends_with(".subject"))
            .map(|(file, text)| (file.as_str(), text.as_str()))
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
        let subject = self.render_file(&format!("{name}.subject"), context)?;
        let html = self.render_file(&format!("{name}.html"), context)?;
        let text_file = format!("{name}.txt");
        let text = if self.has(&text_file) {
            Some(self.render_file(&text_file, context)?)
        } else {
            None
        };
        Ok(Parts {
            subject: one_line(&subject),
            html,
            text,
        })
    }

    /// Renders one file (HTML files auto-escaped). Output past [`MAX_RENDERED_BYTES`] stops the
    /// render, so a loop over a huge range fails fast instead of filling memory; so does a loop
    /// that writes nothing but takes more than its share of `range` (see `super::range`).
    pub fn render_file(&self, file: &str, context: &Context) -> Result<String, tera::Error> {
        let mut out = Capped(Vec::with_capacity(8 * 1024));
        super::range::reset_budget();
        match self.tera.render_to(file, context, &mut out) {
            Ok(()) => String::from_utf8(out.0).map_err(|_| tera::Error::message("invalid UTF-8")),
            Err(_) if out.0.len() >= MAX_RENDERED_BYTES => Err(tera::Error::message(format!(
                "{file} renders to more than {} KB: is a loop running over a huge list?",
                MAX_RENDERED_BYTES / 1024
            ))),
            Err(e) => Err(e),
        }
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
    tera.set_escape_fn(super::output::escape_html);
    filters::register(&mut tera);
    super::range::register(&mut tera);
    tera
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
    fn a_file_that_is_not_utf8_is_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("latin1.html"), b"caf\xe9").unwrap();
        std::fs::write(dir.path().join("ok.subject"), "Hi").unwrap();
        std::fs::write(dir.path().join("ok.html"), "<p>fine</p>").unwrap();
        let (lib, problems) = Library::load(dir.path()).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].file, "templates/latin1.html");
        assert_eq!(lib.message_names(), ["ok"]);
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
    fn a_runaway_loop_stops_at_the_size_cap() {
        let (lib, problems) = library(&[
            ("big.subject", "x"),
            (
                "big.html",
                "{% for i in range(end=90000) %}<p>one more line</p>{% endfor %}",
            ),
        ]);
        assert!(problems.is_empty(), "{problems:?}");
        let error = lib.render("big", &Context::new()).unwrap_err();
        assert!(
            error.to_string().contains("renders to more than 1024 KB"),
            "{error}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn files_outside_the_folder_are_out_of_reach() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret.txt");
        std::fs::write(&secret, "database password").unwrap();
        let templates = dir.path().join("templates");
        std::fs::create_dir(&templates).unwrap();
        std::os::unix::fs::symlink(&secret, templates.join("_secret.txt")).unwrap();
        std::fs::write(templates.join("a.subject"), "hi").unwrap();
        std::fs::write(templates.join("a.html"), "{% include \"_secret.txt\" %}").unwrap();
        let (lib, problems) = Library::load(&templates).unwrap();
        assert_eq!(
            problems.len(),
            1,
            "the include of a symbolic link is refused: {problems:?}"
        );
        assert!(!lib.has("_secret.txt"));
    }
}
