//! The plain-text part derived from the HTML part, for templates without a `.txt` file: paragraphs
//! and line breaks kept, list items as "- ", headings, styles and scripts dropped, character
//! references decoded, and every link kept as a numbered reference ("shop now [1]") listed at the
//! end, so a text-only reader can still follow it. Images (the open pixel among them) vanish.

use super::html::{Token, attribute, decode_entities, tokens};

/// Elements whose content a reader never sees.
const HIDDEN: &[&str] = &["head", "style", "script", "title", "template"];
/// Elements that start a new paragraph.
const PARAGRAPHS: &[&str] = &[
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "ul",
    "ol",
    "blockquote",
    "section",
    "article",
    "header",
    "footer",
    "hr",
];
/// Elements that start a new line.
const LINES: &[&str] = &["div", "tr", "li", "br"];

/// A readable text version of `html`.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut links: Vec<String> = Vec::new();
    let mut open_link: Option<(String, usize)> = None;
    let mut hidden: Option<std::borrow::Cow<'_, str>> = None;
    for token in tokens(html) {
        match token {
            Token::Text(_) | Token::Other if hidden.is_some() => {}
            Token::Other => {}
            Token::Text(text) => push_text(&mut out, &decode_entities(text)),
            Token::Tag(tag) => {
                if let Some(name) = &hidden {
                    if tag.closing && tag.name == *name {
                        hidden = None;
                    }
                    continue;
                }
                let name = tag.name.as_ref();
                if HIDDEN.contains(&name) && !tag.closing {
                    hidden = Some(tag.name.clone());
                } else if name == "a" && !tag.closing {
                    open_link = attribute(tag.text, "href")
                        .map(|(_, href)| (decode_entities(href).into_owned(), out.len()));
                } else if name == "a" {
                    if let Some((href, start)) = open_link.take() {
                        close_link(&mut out, &mut links, href, start);
                    }
                } else if PARAGRAPHS.contains(&name) {
                    break_line(&mut out, 2);
                    if name == "hr" {
                        out.push_str("----");
                        break_line(&mut out, 2);
                    }
                } else if LINES.contains(&name) {
                    break_line(&mut out, 1);
                    if name == "li" && !tag.closing {
                        out.push_str("- ");
                    }
                }
            }
        }
    }
    finish(out, &links)
}

/// Appends text with HTML's whitespace rules: every run of white space is one space.
fn push_text(out: &mut String, text: &str) {
    for (i, word) in text
        .split(|c: char| c.is_whitespace() && c != '\u{a0}')
        .enumerate()
    {
        if i > 0 && !out.ends_with([' ', '\n']) && !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
}

/// Ends the current line, so that at least `n` newlines separate it from what follows.
fn break_line(out: &mut String, n: usize) {
    while out.ends_with(' ') {
        out.pop();
    }
    if out.is_empty() {
        return;
    }
    let have = out.len() - out.trim_end_matches('\n').len();
    for _ in have..n {
        out.push('\n');
    }
}

/// After the link text: " [N]", unless the text already is the address.
fn close_link(out: &mut String, links: &mut Vec<String>, href: String, start: usize) {
    let label = out[start..].trim();
    if href.is_empty() || href.starts_with('#') || label == href {
        return;
    }
    let number = match links.iter().position(|l| *l == href) {
        Some(i) => i + 1,
        None => {
            links.push(href);
            links.len()
        }
    };
    while out.ends_with(' ') {
        out.pop();
    }
    out.push_str(&format!(" [{number}]"));
}

fn finish(out: String, links: &[String]) -> String {
    let mut text: String = out
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string();
    while text.contains("\n\n\n") {
        text = text.replace("\n\n\n", "\n\n");
    }
    if !links.is_empty() {
        text.push_str("\n\nLinks:");
        for (i, link) in links.iter().enumerate() {
            text.push_str(&format!("\n[{}] {link}", i + 1));
        }
    }
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_derived_from_html_keeps_the_links() {
        let html = r#"<html><head><style>p { color: red }</style></head><body>
<h1>New   arrivals</h1>
<p>Hello Alice,<br>the <a href="https://shop.example/wool?a=1&amp;b=2">wool coats</a> are in.</p>
<ul><li>Scarves</li><li>Hats &amp; gloves</li></ul>
<p><a href="https://shop.example/wool?a=1&amp;b=2">Again</a> or <a href="https://x.example/">https://x.example/</a></p>
<img src="https://t.example/o/abc" alt="">
</body></html>"#;
        assert_eq!(
            html_to_text(html),
            "New arrivals\n\nHello Alice,\nthe wool coats [1] are in.\n\n- Scarves\n- Hats & gloves\n\n\
             Again [1] or https://x.example/\n\nLinks:\n[1] https://shop.example/wool?a=1&b=2\n"
        );
    }
}
