//! Splits a segment file into tokens with byte spans. `#` starts a comment that runs to the end of the
//! line; whitespace and newlines only separate tokens.

use super::ast::{Span, Unit, Window};
use super::clock::MAX_WINDOW_DAYS;
use super::error::SyntaxError;
use crate::timestamp::Timestamp;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A word: a field, a keyword, an event-kind part or a function.
    Word(String),
    Text(String),
    Number(f64),
    Window(Window),
    Date(Timestamp),
    /// Punctuation and comparison symbols: `( ) [ ] , .` and `== != < <= > >=` (and the misspellings
    /// `=`, `=>`, `<>`, `===`, kept so the parser can say "did you mean").
    Sym(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub span: Span,
}

const SYMBOLS: [&str; 15] = [
    "===", "==", "!=", "<=", ">=", "=>", "<>", "=<", "<", ">", "=", "(", ")", "[", "]",
];

/// Tokenizes `source`, or reports the first character that cannot start a token.
pub fn tokenize(source: &str) -> Result<Vec<Token>, SyntaxError> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'#' {
            i = source[i..].find('\n').map_or(bytes.len(), |n| i + n);
        } else if c == b'"' {
            let (text, end) = string(source, i)?;
            tokens.push(token(Tok::Text(text), i..end));
            i = end;
        } else if c.is_ascii_digit()
            || (c == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let (tok, end) = number_like(source, i)?;
            tokens.push(token(tok, i..end));
            i = end;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let end = i + source[i..]
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .unwrap_or(bytes.len() - i);
            tokens.push(token(Tok::Word(source[i..end].to_string()), i..end));
            i = end;
        } else if c == b',' || c == b'.' {
            let sym = if c == b',' { "," } else { "." };
            tokens.push(token(Tok::Sym(sym), i..i + 1));
            i += 1;
        } else if let Some(sym) = SYMBOLS.iter().find(|s| source[i..].starts_with(**s)) {
            tokens.push(token(Tok::Sym(sym), i..i + sym.len()));
            i += sym.len();
        } else {
            let ch = source[i..].chars().next().expect("inside the text");
            return Err(SyntaxError::new(
                i..i + ch.len_utf8(),
                format!("unexpected character `{ch}`"),
            )
            .with_hint("strings go in double quotes, e.g. city == \"Portland\""));
        }
    }
    Ok(tokens)
}

fn token(tok: Tok, span: Span) -> Token {
    Token { tok, span }
}

/// A double-quoted string with `\"` and `\\` escapes; it may not span lines.
fn string(source: &str, start: usize) -> Result<(String, usize), SyntaxError> {
    let mut text = String::new();
    let mut chars = source[start + 1..].char_indices();
    while let Some((offset, ch)) = chars.next() {
        let at = start + 1 + offset;
        match ch {
            '"' => return Ok((text, at + 1)),
            '\\' => match chars.next() {
                Some((_, escaped @ ('"' | '\\'))) => text.push(escaped),
                _ => {
                    return Err(SyntaxError::new(at..at + 2, "unknown escape in a string")
                        .with_hint("write \\\" for a quote and \\\\ for a backslash"));
                }
            },
            '\n' => break,
            _ => text.push(ch),
        }
    }
    let end = source[start..]
        .find('\n')
        .map_or(source.len(), |n| start + n);
    Err(SyntaxError::new(start..end, "this string is not closed")
        .with_hint("end it with a double quote \" on the same line"))
}

/// A number (`3`, `-1.5`), a window (`30d`, `12w`, `6m`, `1y`) or a date (`2026-01-31`).
fn number_like(source: &str, start: usize) -> Result<(Tok, usize), SyntaxError> {
    let end = start
        + 1
        + source[start + 1..]
            .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '.' || ch == '-' || ch == '_'))
            .unwrap_or(source.len() - start - 1);
    // A trailing `.` followed by a word is a method call, e.g. never on a number; keep `3.5` whole.
    let end = trim_trailing_dot(source, start, end);
    let raw = &source[start..end];
    let span = start..end;
    if raw.len() == 10 && raw.as_bytes()[4] == b'-' && raw.as_bytes()[7] == b'-' {
        return Timestamp::parse_flexible(raw)
            .map(|t| (Tok::Date(t), end))
            .map_err(|_| {
                SyntaxError::new(span, format!("`{raw}` is not a date"))
                    .with_hint("write dates as YYYY-MM-DD, e.g. 2026-01-31")
            });
    }
    if let Ok(n) = raw.parse::<f64>()
        && n.is_finite()
        && raw
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return Ok((Tok::Number(n), end));
    }
    window(raw, span).map(|w| (Tok::Window(w), end))
}

fn trim_trailing_dot(source: &str, start: usize, end: usize) -> usize {
    let raw = &source[start..end];
    match raw.find('.') {
        Some(dot) if !raw[dot + 1..].starts_with(|c: char| c.is_ascii_digit()) => start + dot,
        _ => end,
    }
}

fn window(raw: &str, span: Span) -> Result<Window, SyntaxError> {
    let bad = || {
        SyntaxError::new(span.clone(), format!("bad window `{raw}`")).with_hint(
            "write a whole number and a unit: 7d (days), 12w (weeks), 6m (months of 30 days), 1y (years of 365 days)",
        )
    };
    let digits = raw.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = match &raw[digits.len()..] {
        "d" => Unit::Day,
        "w" => Unit::Week,
        "m" => Unit::Month,
        "y" => Unit::Year,
        _ => return Err(bad()),
    };
    let amount: u32 = digits.parse().map_err(|_| bad())?;
    let window = Window { amount, unit };
    if window.days() > MAX_WINDOW_DAYS {
        return Err(
            SyntaxError::new(span, format!("the window `{raw}` is too long"))
                .with_hint("windows reach back at most 100 years"),
        );
    }
    Ok(window)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(source: &str) -> Vec<Tok> {
        tokenize(source)
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn splits_behaviour_and_comparisons() {
        assert_eq!(
            toks("purchase.count(365d) >= 3 # note"),
            vec![
                Tok::Word("purchase".into()),
                Tok::Sym("."),
                Tok::Word("count".into()),
                Tok::Sym("("),
                Tok::Window(Window {
                    amount: 365,
                    unit: Unit::Day
                }),
                Tok::Sym(")"),
                Tok::Sym(">="),
                Tok::Number(3.0),
            ]
        );
        assert_eq!(
            toks("age > -1.5"),
            vec![Tok::Word("age".into()), Tok::Sym(">"), Tok::Number(-1.5)]
        );
        assert_eq!(
            toks(r#"city == "x' OR \"1\"=1 --""#)[2],
            Tok::Text("x' OR \"1\"=1 --".into())
        );
    }

    #[test]
    fn rejects_bad_windows_dates_and_strings() {
        assert!(
            tokenize("purchase.any(30x)")
                .unwrap_err()
                .message
                .contains("bad window `30x`")
        );
        assert!(
            tokenize("created_at before 2026-02-30")
                .unwrap_err()
                .message
                .contains("not a date")
        );
        assert!(
            tokenize("city == \"Port")
                .unwrap_err()
                .message
                .contains("not closed")
        );
        assert!(
            tokenize("purchase.any(999999y)")
                .unwrap_err()
                .message
                .contains("too long")
        );
    }
}
