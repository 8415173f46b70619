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
        let secrets = secret_runs(line_text, in_list);
        let shown = masked(line_text, &secrets).replace('\t', " ");
        writeln!(f, "{} | {shown}", pos.line)?;
        let end = self.span.end.clamp(start, line_end);
        let end_column = pos.column
            + self.source[start..floor_char_boundary(&self.source, end)]
                .chars()
                .count();
        let (from, to) = (
            shown_column(pos.column - 1, &secrets, false),
            shown_column(end_column - 1, &secrets, true),
        );
        write!(
            f,
            "{:gutter$} | {}{}",
            "",
            " ".repeat(from),
            "^".repeat(to.saturating_sub(from).max(1))
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

/// Whether a key holding secrets: `secret`, `previous_secrets`, also written as a dotted key
/// (`tracking.secret`) or quoted.
fn is_secret_key(key: &str) -> bool {
    let key = key.rsplit('.').next().unwrap_or(key);
    let key = key.trim().trim_matches(['"', '\'']);
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

/// What stands for a secret in a line shown: always as long, so that it tells nothing of the secret's
/// length.
const MASK: &str = "********";

/// The secrets of a line, as ranges of characters: the password of any `scheme://user:password@`
/// URL, and each value of a `secret = …` or `previous_secrets = […]` line (or of a line `in_list` of
/// the latter).
fn secret_runs(line: &str, in_list: bool) -> Vec<Range<usize>> {
    let chars: Vec<char> = line.chars().collect();
    let value_from = match line.split_once('=') {
        Some((key, _)) if is_secret_key(key) => Some(key.chars().count() + 1),
        _ => in_list.then_some(0),
    };
    let mut runs = Vec::new();
    if let Some(from) = value_from {
        let secret = |c: &char| !c.is_whitespace() && !matches!(c, '"' | '\'' | '[' | ']' | ',');
        let mut i = from;
        while i < chars.len() {
            if secret(&chars[i]) {
                let start = i;
                while i < chars.len() && secret(&chars[i]) {
                    i += 1;
                }
                runs.push(start..i);
            } else {
                i += 1;
            }
        }
        return runs;
    }
    let mut search = 0;
    while let Some(found) = line[search..].find("://") {
        let start = search + found + 3;
        // To the end of the URL, not of its host: a password may hold a `/` that was not encoded.
        let end = line[start..]
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .map_or(line.len(), |i| start + i);
        if let Some(at) = line[start..end].rfind('@') {
            if let Some(colon) = line[start..start + at].find(':') {
                let run =
                    line[..start + colon + 1].chars().count()..line[..start + at].chars().count();
                if !run.is_empty() {
                    runs.push(run);
                }
            }
        }
        search = end;
    }
    runs
}

/// The line with each of its secrets (`runs`, from [`secret_runs`]) replaced by [`MASK`].
fn masked(line: &str, runs: &[Range<usize>]) -> String {
    let mut shown = String::with_capacity(line.len());
    for (i, c) in line.chars().enumerate() {
        match runs.iter().find(|run| run.contains(&i)) {
            Some(run) if run.start == i => shown.push_str(MASK),
            Some(_) => {}
            None => shown.push(c),
        }
    }
    shown
}

/// Where the caret's edge at character `column` (from 0) of a line is once its secrets are masked:
/// an edge inside a secret moves into its mask (a start onto one of its stars, an `end` at most to
/// its end), and one after it moves by the difference in length.
fn shown_column(column: usize, runs: &[Range<usize>], end: bool) -> usize {
    let mask = MASK.chars().count();
    let mut shown = column;
    for run in runs {
        if run.end <= column {
            shown = shown + mask - run.len();
        } else if run.start < column {
            let inside = (column - run.start).min(if end { mask } else { mask - 1 });
            shown = shown - (column - run.start) + inside;
        }
    }
    shown
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

    fn shown(line: &str) -> String {
        masked(line, &secret_runs(line, false))
    }

    #[test]
    fn secrets_in_quoted_lines_are_masked() {
        assert_eq!(
            shown(r#"smtp_ur = "smtp://shop:hunter2@mail.example:587""#),
            r#"smtp_ur = "smtp://shop:********@mail.example:587""#
        );
        assert_eq!(shown(r#"secret = "abc""#), r#"secret = "********""#);
        assert_eq!(
            shown(r#"previous_secrets = ["abc", "de"]"#),
            r#"previous_secrets = ["********", "********"]"#
        );
        assert_eq!(
            shown(r#"url = "postgres://app@db/shop""#),
            r#"url = "postgres://app@db/shop""#
        );
        assert_eq!(
            shown(r#"smtp_url = "smtp://shop:ab/cd@mail.example""#),
            r#"smtp_url = "smtp://shop:********@mail.example""#,
            "a password with a `/` that was not encoded"
        );
        assert_eq!(
            shown(r#"tracking.secret = "abc""#),
            r#"tracking.secret = "********""#
        );
        assert_eq!(
            shown("smtp_url = \"smtp://shop:@mail.example\""),
            "smtp_url = \"smtp://shop:@mail.example\"",
            "no password, nothing to mask"
        );
        let d = Diagnostic::new("rapport.toml", "secret = \"abc\"\n", 9..14, "too short");
        assert!(!d.to_string().contains("abc") && !format!("{d:?}").contains("abc"));
        // A list over several lines: its lines are masked, and the ones after it are not.
        let text = "previous_secrets = [\n  \"abc\",\n  \"hunter2\",\n]\nrate = \"40/mni\"\n";
        let d = Diagnostic::new("rapport.toml", text, 30..37, "too short");
        assert!(d.to_string().contains("3 |   \"********\","), "{d}");
        let d = Diagnostic::new("rapport.toml", text, 49..55, "not a rate");
        assert!(d.to_string().contains("40/mni"), "{d}");
    }

    /// The mask is as long whatever the secret, and the caret still points where it should: at the
    /// mask, or at what follows it.
    #[test]
    fn the_mask_hides_a_secrets_length_and_the_caret_follows() {
        let caret = |text: &str, span: std::ops::Range<usize>| {
            let d = Diagnostic::new("rapport.toml", text, span, "bad").to_string();
            let lines: Vec<&str> = d.lines().collect();
            (lines[2].to_string(), lines[3].to_string())
        };
        let (short, _) = caret("secret = \"abc\"\n", 10..13);
        let (long, under) = caret("secret = \"abcdefghijklmnopqrstuvwxyz\"\n", 10..36);
        assert_eq!(short, long);
        assert_eq!(under, "  |           ^^^^^^^^");
        let url = "smtp_url = \"smtp://shop:hunter2@mail.example:587x\"\n";
        let at = url.find("587x").unwrap();
        let (line, under) = caret(url, at + 3..at + 4);
        let column = under.find('^').unwrap();
        assert_eq!(&line[column..column + 1], "x", "{line}\n{under}");
        // A span that starts deep inside a secret still points at its mask.
        let (line, under) = caret("secret = \"abcdefghijklmnopqrstuvwxyz\"\n", 30..31);
        let column = under.find('^').unwrap();
        assert_eq!(&line[column..column + 1], "*", "{line}\n{under}");
    }

    #[test]
    fn suggests_only_close_words() {
        let keys = ["smtp_url", "transport", "concurrency", "rate"];
        assert_eq!(did_you_mean("smtp_ur", keys), Some("smtp_url"));
        assert_eq!(did_you_mean("concurency", keys), Some("concurrency"));
        assert_eq!(did_you_mean("colour", keys), None);
    }
}
