//! The HTML of the server's pages. Every value that is not a literal of this file goes through
//! [`escape`]: names, addresses and topics come from imports and `rapport.toml`, and must never be
//! able to inject markup. Forms have no `action`, so they post back to the URL of the page itself
//! (which keeps working behind a reverse proxy that mounts the server under a path).

use super::state::Shop;
use axum::response::Html;
use std::fmt::Write as _;

/// `text` with the five HTML-special characters replaced by entities.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A page with a title and one paragraph of text, outside any shop (errors).
pub fn plain(title: &str, text: &str) -> Html<String> {
    document(title, &format!("<p>{}</p>", escape(text)), None)
}

/// A page in the shop's name: its body (already HTML), then the shop's name and postal address.
pub fn shop_page(shop: &Shop, title: &str, body: &str) -> Html<String> {
    document(title, body, Some(shop))
}

/// A form posting `action=VALUE` with one button.
pub fn button(action: &str, label: &str) -> String {
    format!(
        "<form method=\"post\"><input type=\"hidden\" name=\"action\" value=\"{}\">\
         <button type=\"submit\">{}</button></form>",
        escape(action),
        escape(label)
    )
}

fn document(title: &str, body: &str, shop: Option<&Shop>) -> Html<String> {
    let mut html = String::with_capacity(body.len() + 1024);
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    html.push_str("<meta name=\"robots\" content=\"noindex\">");
    let _ = write!(html, "<title>{}</title>", escape(title));
    html.push_str(
        "<style>body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;\
         line-height:1.5;color:#222}form{display:inline-block;margin:0 .5rem .5rem 0}\
         button{font-size:1rem;padding:.4rem .9rem}footer{margin-top:3rem;color:#666;font-size:.9rem}</style>",
    );
    html.push_str("</head><body>");
    if let Some(shop) = shop {
        let _ = write!(
            html,
            "<header><strong>{}</strong></header>",
            escape(&shop.name)
        );
    }
    let _ = write!(html, "<h1>{}</h1>{body}", escape(title));
    if let Some(shop) = shop {
        let _ = write!(
            html,
            "<footer>{} &middot; {} &middot; {}</footer>",
            escape(&shop.name),
            escape(&shop.postal_address),
            escape(&shop.email)
        );
    }
    html.push_str("</body></html>\n");
    Html(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_special_character_is_escaped() {
        assert_eq!(
            escape(r#"<script>alert('x') & "y"</script>"#),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert_eq!(escape("Zoë"), "Zoë");
    }

    #[test]
    fn shop_values_and_titles_are_escaped_in_pages() {
        let shop = Shop {
            name: "<b>Evil</b>".into(),
            email: "a@b.example".into(),
            postal_address: "1 \"Main\" St".into(),
        };
        let Html(html) = shop_page(&shop, "<i>t</i>", "<p>ok</p>");
        assert!(
            !html.contains("<b>Evil</b>") && !html.contains("<i>t</i>"),
            "{html}"
        );
        assert!(html.contains("&lt;b&gt;Evil&lt;/b&gt;") && html.contains("1 &quot;Main&quot; St"));
        assert!(html.contains("<p>ok</p>"));
    }
}
