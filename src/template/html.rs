//! A small HTML scanner, enough for the HTML our own templates render: it splits text from tags,
//! reads an attribute of a tag, and decodes character references. It never fails: anything it does
//! not understand is passed through as text.

use std::borrow::Cow;
use std::ops::Range;

/// A piece of an HTML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token<'a> {
    Text(&'a str),
    Tag(Tag<'a>),
    /// `<!-- … -->`, `<!doctype …>`: nothing a reader sees.
    Other,
}

/// One start or end tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag<'a> {
    /// Lower-case element name, borrowed from the document unless it was written in capitals.
    pub name: Cow<'a, str>,
    pub closing: bool,
    /// The whole tag, `<a href="…">`.
    pub text: &'a str,
    /// Where `text` starts in the document.
    pub start: usize,
}

/// Splits `html` into text, tags and the rest, in order.
pub fn tokens(html: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < html.len() {
        let rest = &html[i..];
        let Some(lt) = rest.find('<') else {
            out.push(Token::Text(rest));
            break;
        };
        if lt > 0 {
            out.push(Token::Text(&rest[..lt]));
        }
        let tag_start = i + lt;
        let after = &html[tag_start..];
        if after.starts_with("<!--") {
            let end = after.find("-->").map_or(after.len(), |e| e + 3);
            out.push(Token::Other);
            i = tag_start + end;
            continue;
        }
        let Some(len) = tag_len(after) else {
            out.push(Token::Text(&after[..1]));
            i = tag_start + 1;
            continue;
        };
        let text = &after[..len];
        if text.starts_with("<!") || text.starts_with("<?") {
            out.push(Token::Other);
        } else {
            let closing = text.starts_with("</");
            let name = text[if closing { 2 } else { 1 }..]
                .split(|c: char| !c.is_ascii_alphanumeric())
                .next()
                .unwrap_or_default();
            let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(name.to_ascii_lowercase())
            } else {
                Cow::Borrowed(name)
            };
            if name.is_empty() {
                out.push(Token::Text(&after[..1]));
                i = tag_start + 1;
                continue;
            }
            out.push(Token::Tag(Tag {
                name,
                closing,
                text,
                start: tag_start,
            }));
        }
        i = tag_start + len;
    }
    out
}

/// The length of the tag at the start of `s` (which starts with `<`), quotes respected.
fn tag_len(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i + 1),
            (None, '<') => return None,
            _ => {}
        }
    }
    None
}

/// The raw value of attribute `name` in `tag` and its byte range inside `tag`.
pub fn attribute<'a>(tag: &'a str, name: &str) -> Option<(Range<usize>, &'a str)> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find(name) {
        let at = from + found;
        from = at + name.len();
        let before_ok = lower[..at].ends_with(|c: char| c.is_ascii_whitespace());
        let after = lower[from..].trim_start();
        if !before_ok || !after.starts_with('=') {
            continue;
        }
        let value_start = tag.len() - after.len() + 1;
        let value = &tag[value_start..];
        let trimmed = value.trim_start();
        let start = value_start + (value.len() - trimmed.len());
        return Some(match trimmed.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let end = trimmed[1..].find(q).map_or(trimmed.len(), |e| e + 1);
                (start + 1..start + end, &tag[start + 1..start + end])
            }
            _ => {
                let end = trimmed
                    .find(|c: char| c.is_ascii_whitespace() || c == '>')
                    .unwrap_or(trimmed.len());
                (start..start + end, &tag[start..start + end])
            }
        });
    }
    None
}

/// Decodes `&amp;`, `&#39;`, `&#x27;` and the named references email copy uses.
pub fn decode_entities(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest[1..]
            .find(';')
            .filter(|&end| end <= 10)
            .and_then(|end| entity(&rest[1..=end]).map(|c| (c, end + 2)));
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "middot" => '·',
        "copy" => '©',
        "rsquo" => '’',
        "lsquo" => '‘',
        "ldquo" => '“',
        "rdquo" => '”',
        "euro" => '€',
        "pound" => '£',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_tags_and_text() {
        let t = tokens("<!-- c --><p class='x>y'>Hi &amp; bye</p>");
        assert_eq!(t[0], Token::Other);
        let Token::Tag(p) = &t[1] else { panic!() };
        assert_eq!((p.name.as_ref(), p.closing), ("p", false));
        assert_eq!(t[2], Token::Text("Hi &amp; bye"));
        assert!(matches!(&t[3], Token::Tag(end) if end.closing));
    }

    #[test]
    fn reads_attributes_in_any_quoting() {
        let tag = r#"<a data-href="no" HREF = "https://x.example/?a=1&amp;b=2" title=t>"#;
        let (range, value) = attribute(tag, "href").unwrap();
        assert_eq!(value, "https://x.example/?a=1&amp;b=2");
        assert_eq!(&tag[range], value);
        assert_eq!(attribute("<a href=bare>", "href").unwrap().1, "bare");
        assert_eq!(attribute("<a title=x>", "href"), None);
    }

    #[test]
    fn decodes_references() {
        assert_eq!(
            decode_entities("a &amp; b &#39;c&#x27; &bogus; &"),
            "a & b 'c' &bogus; &"
        );
    }
}
