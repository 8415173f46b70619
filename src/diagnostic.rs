//! Errors in files the owner writes (`rapport.toml`, segments, templates), rendered the way compilers do:
//! the file, line and column, the offending line with a caret under the problem, and a hint.
//!
//! Spans are byte ranges into the file's text; line and column are computed here, counting columns in
//! characters so that a caret lands under the right letter in non-ASCII lines.

use std::fmt;
use std::ops::Range;

/// One problem located in a source file. Its `Debug` leaves out the file's text, which may hold secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as the owner would type it, e.g. `rapport.toml` or `segments/vip.seg`.
    pub file: String,
    /// The whole text of the file, so the offending line can be quoted.
    pub source: String,
    /// Byte range of the problem; an empty range points at a position.
    pub span: Range<usize>,
    pub message: String,
    pub hint: Option<String>,
}

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Diagnostic {
    pub fn new(
        file: impl Into<String>,
        source: impl Into<String>,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file: file.into(),
            source: source.into(),
            span,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Where the span starts.
    pub fn position(&self) -> Position {
        position_of(&self.source, self.span.start)
    }

    /// `FILE:LINE:COL`, the part editors and terminals turn into a link.
    pub fn location(&self) -> String {
        let p = self.position();
        format!("{}:{}:{}", self.file, p.line, p.column)
    }
}

/// The 1-based line and column of byte `offset` in `source` (clamped to the text).
pub fn position_of(source: &str, offset: usize) -> Position {
    let offset = floor_char_boundary(source, offset.min(source.len()));
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = source[line_start..offset].chars().count() + 1;
    Position { line, column }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let start = floor_char_boundary(&self.source, self.span.start.min(self.source.len()));
        let pos = position_of(&self.source, start);
        writeln!(f, "{}: error: {}", self.location(), self.message)?;
        let line_start = self.source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.source[start..]
            .find('\n')
            .map_or(self.source.len(), |i| start + i);
        let line_text = self.source[line_start..line_end].trim_end_matches('\r');
        let gutter = pos.line.to_string().len();
        writeln!(f, "{:gutter$} |", "")?;
        let in_list = in_secret_list(&self.source[..line_start]);
        let shown = masked(line_text, in_list).replace('\t', " ");
        writeln!(f, "{} | {shown}", pos.line)?;
        let end = self.span.end.clamp(start, line_end);
        let width = self.source[start..floor_char_boundary(&self.source, end)]
            .chars()
            .count()
            .max(1);
        write!(
            f,
            "{:gutter$} | {}{}",
            "",
            " ".repeat(pos.column - 1),
            "^".repeat(width)
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n{:gutter$} = hint: {}", "", hint)?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

impl fmt::Debug for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Diagnostic({}: {})", self.location(), self.message)
    }
}

/// Whether a key holding secrets: `secret`, `previous_secrets`.
fn is_secret_key(key: &str) -> bool {
    let key = key.trim();
    key == "secret" || key.ends_with("_secrets")
}

/// Whether the text `before` a line leaves it inside a `previous_secrets = [` list written over
/// several lines.
fn in_secret_list(before: &str) -> bool {
    let mut inside = false;
    for line in before.lines() {
        match line.split_once('=') {
            Some((key, value)) if !inside => {
                inside = is_secret_key(key) && value.contains('[') && !value.contains(']');
            }
            _ => inside &= !line.contains(']'),
        }
    }
    inside
}

/// The line as it may be shown: the password of any `scheme://user:password@` URL and the values
/// of a `secret = …` or `previous_secrets = […]` line (or a line `in_list` of the latter) are
/// masked with as many `*`, so the caret still lines up.
fn masked(line: &str, in_list: bool) -> String {
    let mut chars: Vec<char> = line.chars().collect();
    let text: String = chars.iter().collect();
    let value_from = match text.split_once('=') {
        Some((key, _)) if is_secret_key(key) => Some(key.chars().count() + 1),
        _ => in_list.then_some(0),
    };
    if let Some(from) = value_from {
        chars[from..]
            .iter_mut()
            .filter(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | '[' | ']' | ','))
            .for_each(|c| *c = '*');
        return chars.into_iter().collect();
    }
    let mut search = 0;
    while let Some(found) = text[search..].find("://") {
        let start = search + found + 3;
        let end = text[start..]
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '/')
            .map_or(text.len(), |i| start + i);
        if let Some(at) = text[start..end].rfind('@') {
            if let Some(colon) = text[start..start + at].find(':') {
                let (from, to) = (
                    text[..start + colon + 1].chars().count(),
                    text[..start + at].chars().count(),
                );
                chars[from..to].iter_mut().for_each(|c| *c = '*');
            }
        }
        search = end;
    }
    chars.into_iter().collect()
}

/// The candidate closest to `word`, if it is close enough to be a likely misspelling, or else the
/// only candidate that begins with `word` (of three characters or more): a name cut short, such as
/// `lapsed` for `lapsed_regulars`.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word = word.to_lowercase();
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let misspelt = candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(&word, &c.to_lowercase()), *c))
        .filter(|(d, c)| *d <= (c.chars().count() / 3).max(1) + usize::from(c.len() > 6))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c);
    misspelt.or_else(|| {
        let mut begun = candidates
            .iter()
            .filter(|c| word.chars().count() >= 3 && c.to_lowercase().starts_with(&word));
        match (begun.next(), begun.next()) {
            (Some(only), None) => Some(*only),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_a_misspelling_or_the_one_name_cut_short() {
        let names = [
            "lapsed_regulars",
            "lapsed_buyers",
            "garden_fans",
            "newsletter",
        ];
        assert_eq!(did_you_mean("garden_fan", names), Some("garden_fans"));
        assert_eq!(did_you_mean("Newsleter", names), Some("newsletter"));
        assert_eq!(did_you_mean("garden", names), Some("garden_fans"));
        assert_eq!(did_you_mean("lapsed", names), None, "two names begin so");
        assert_eq!(did_you_mean("ga", names), None, "too short to tell");
        assert_eq!(did_you_mean("winback", names), None);
    }

    #[test]
    fn position_counts_lines_and_characters() {
        let src = "a = 1\nbé = 2\n";
        assert_eq!(position_of(src, 0), Position { line: 1, column: 1 });
        let offset = src.find("= 2").unwrap();
        assert_eq!(position_of(src, offset), Position { line: 2, column: 4 });
    }

    #[test]
    fn renders_line_caret_and_hint() {
        let src = "[delivery]\nsmtp_ur = \"x\"\n";
        let d = Diagnostic::new("rapport.toml", src, 11..18, "unknown key `smtp_ur`")
            .with_hint("did you mean `smtp_url`?");
        let text = d.to_string();
        assert!(
            text.starts_with("rapport.toml:2:1: error: unknown key `smtp_ur`"),
            "{text}"
        );
        assert!(text.contains("2 | smtp_ur = \"x\""), "{text}");
        assert!(text.contains("  | ^^^^^^^\n"), "{text}");
        assert!(text.ends_with("= hint: did you mean `smtp_url`?"), "{text}");
    }

    #[test]
    fn secrets_in_quoted_lines_are_masked() {
        assert_eq!(
            masked(r#"smtp_ur = "smtp://shop:hunter2@mail.example:587""#, false),
            r#"smtp_ur = "smtp://shop:*******@mail.example:587""#
        );
        assert_eq!(masked(r#"secret = "abc""#, false), r#"secret = "***""#);
        assert_eq!(
            masked(r#"previous_secrets = ["abc", "de"]"#, false),
            r#"previous_secrets = ["***", "**"]"#
        );
        assert_eq!(
            masked(r#"url = "postgres://app@db/shop""#, false),
            r#"url = "postgres://app@db/shop""#
        );
        let d = Diagnostic::new("rapport.toml", "secret = \"abc\"\n", 9..14, "too short");
        assert!(!d.to_string().contains("abc") && !format!("{d:?}").contains("abc"));
        // A list over several lines: its lines are masked, and the ones after it are not.
        let text = "previous_secrets = [\n  \"abc\",\n  \"hunter2\",\n]\nrate = \"40/mni\"\n";
        let d = Diagnostic::new("rapport.toml", text, 30..37, "too short");
        assert!(d.to_string().contains("3 |   \"*******\","), "{d}");
        let d = Diagnostic::new("rapport.toml", text, 49..55, "not a rate");
        assert!(d.to_string().contains("40/mni"), "{d}");
    }

    #[test]
    fn suggests_only_close_words() {
        let keys = ["smtp_url", "transport", "concurrency", "rate"];
        assert_eq!(did_you_mean("smtp_ur", keys), Some("smtp_url"));
        assert_eq!(did_you_mean("concurency", keys), Some("concurrency"));
        assert_eq!(did_you_mean("colour", keys), None);
    }
}
