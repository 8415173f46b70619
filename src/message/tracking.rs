//! Click and open tracking, applied to the rendered parts exactly as they will be sent.
//!
//! Every `http`/`https` link of the HTML part (and every such address in a hand-written text part)
//! becomes `BASE/c/TOKEN`, where the token signs the delivery and the link's index in [`Tracked::links`];
//! the tracking server redirects by that index only, so it can never be turned into an open redirect.
//! Links already under `BASE` (unsubscribe, preferences) are left alone. An invisible `BASE/o/TOKEN`
//! image is added before `</body>`.

use crate::template::html::{Token, attribute, decode_entities, tokens};
use crate::token::{Purpose, Signer};

/// The links of one message, in the order of their click-token indexes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tracked {
    pub links: Vec<String>,
}

/// Rewrites links for one delivery.
pub struct Tracker<'a> {
    pub signer: &'a Signer,
    /// `https://mail.shop.example`, without a trailing slash.
    pub base_url: &'a str,
    pub delivery_id: i64,
    pub tracked: Tracked,
    /// Add the open pixel (the campaign's `track_opens`).
    pub opens: bool,
    /// Rewrite links to tracked click links (the campaign's `track_clicks`).
    pub clicks: bool,
}

impl Tracker<'_> {
    /// The HTML with tracked links and the open pixel.
    pub fn html(&mut self, html: &str) -> String {
        let mut out = String::with_capacity(html.len() + 512);
        let mut copied = 0;
        let mut pixel_added = false;
        for token in tokens(html) {
            let Token::Tag(tag) = token else { continue };
            if tag.closing && tag.name == "body" && self.opens {
                out.push_str(&html[copied..tag.start]);
                out.push_str(&self.pixel());
                pixel_added = true;
                copied = tag.start;
                continue;
            }
            if tag.closing || tag.name != "a" || !self.clicks {
                continue;
            }
            let Some((range, href)) = attribute(tag.text, "href") else {
                continue;
            };
            let Some(tracked) = self.track(&decode_entities(href)) else {
                continue;
            };
            let at = tag.start + range.start;
            out.push_str(&html[copied..at]);
            out.push_str(&tracked);
            copied = tag.start + range.end;
        }
        out.push_str(&html[copied..]);
        if self.opens && !pixel_added {
            out.push_str(&self.pixel());
        }
        out
    }

    /// A hand-written text part with its web addresses tracked.
    pub fn text(&mut self, text: &str) -> String {
        if !self.clicks {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len() + 256);
        let mut rest = text;
        while let Some(start) = find_url(rest) {
            out.push_str(&rest[..start]);
            let url_text = &rest[start..];
            let end = url_text
                .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
                .unwrap_or(url_text.len());
            let url = url_text[..end].trim_end_matches(['.', ',', ')', ';', ':', '!', '?']);
            match self.track(url) {
                Some(tracked) => out.push_str(&tracked),
                None => out.push_str(url),
            }
            rest = &url_text[url.len()..];
        }
        out.push_str(rest);
        out
    }

    /// The tracked form of `url`, or `None` for links that stay as they are.
    fn track(&mut self, url: &str) -> Option<String> {
        let lower = url.to_ascii_lowercase();
        let web = lower.starts_with("https://") || lower.starts_with("http://");
        if !web || url.starts_with(self.base_url) {
            return None;
        }
        let index = match self.tracked.links.iter().position(|l| l == url) {
            Some(i) => i,
            None => {
                self.tracked.links.push(url.to_string());
                self.tracked.links.len() - 1
            }
        };
        let index = u16::try_from(index).ok()?;
        Some(self.url(Purpose::Click(index)))
    }

    /// `BASE/PATH/TOKEN` for this delivery.
    pub fn url(&self, purpose: Purpose) -> String {
        format!(
            "{}/{}/{}",
            self.base_url,
            purpose.path(),
            self.signer.sign(self.delivery_id, purpose)
        )
    }

    fn pixel(&self) -> String {
        format!(
            "<img src=\"{}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;border:0;width:1px;height:1px\">",
            self.url(Purpose::Open)
        )
    }
}

fn find_url(text: &str) -> Option<usize> {
    match (text.find("https://"), text.find("http://")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::new(b"0123456789abcdef0123456789abcdef")
    }

    /// A tracker for delivery 9 under `https://t.example`.
    fn tracker(signer: &Signer, opens: bool, clicks: bool) -> Tracker<'_> {
        Tracker {
            signer,
            base_url: "https://t.example",
            delivery_id: 9,
            tracked: Tracked::default(),
            opens,
            clicks,
        }
    }

    #[test]
    fn tracking_can_be_switched_off() {
        let signer = signer();
        let mut t = tracker(&signer, false, false);
        let html = "<body><a href=\"https://shop.example/a\">A</a></body>";
        assert_eq!(t.html(html), html);
        assert_eq!(
            t.text("See https://shop.example/a"),
            "See https://shop.example/a"
        );
        assert!(t.tracked.links.is_empty());
    }

    /// The pixel goes once before the real closing body tag, however it is written, and at the end
    /// when there is none (a `</body>` in a comment is not one).
    #[test]
    fn the_open_pixel_goes_once_before_the_closing_body_tag() {
        let signer = signer();
        let mut t = tracker(&signer, true, false);
        for html in ["<body>Hi</BODY >", "<body>Hi</body\n>", "<body>Hi</body>"] {
            let out = t.html(html);
            assert_eq!(out.matches("<img src=").count(), 1, "{out}");
            assert!(
                out.find("<img").unwrap() < out.rfind("</").unwrap(),
                "{out}"
            );
        }
        let out = t.html("<p>Hi</p><!-- </body> -->");
        assert_eq!(out.matches("<img src=").count(), 1, "{out}");
        assert!(out.ends_with('>') && out.rfind("<img").unwrap() > out.find("-->").unwrap());
    }

    #[test]
    fn links_become_signed_click_urls_and_a_pixel_is_added() {
        let signer = signer();
        let mut t = tracker(&signer, true, true);
        let html = "<body><a href=\"https://shop.example/a?x=1&amp;y=2\">A</a> \
                    <a href='https://shop.example/b'>B</a> <a href=\"https://t.example/u/abc\">stop</a> \
                    <a href=\"mailto:hi@shop.example\">mail</a></body>";
        let out = t.html(html);
        assert_eq!(
            t.tracked.links,
            ["https://shop.example/a?x=1&y=2", "https://shop.example/b"]
        );
        assert!(!out.contains("shop.example/a"), "{out}");
        assert!(out.contains("https://t.example/u/abc"), "{out}");
        assert!(out.contains("mailto:hi@shop.example"), "{out}");
        let click = out.split("href=\"https://t.example/c/").nth(1).unwrap();
        let token = &click[..click.find('"').unwrap()];
        let claim = signer.verify(token).unwrap();
        assert_eq!((claim.delivery_id, claim.purpose), (9, Purpose::Click(0)));
        assert!(out.contains("<img src=\"https://t.example/o/"), "{out}");
        assert!(out.ends_with("</body>"), "{out}");
        let text = t.text("See https://shop.example/b. Or https://t.example/u/abc");
        assert_eq!(t.tracked.links.len(), 2, "the same link keeps its index");
        assert!(
            text.starts_with("See https://t.example/c/")
                && text.contains(". Or https://t.example/u/abc")
        );
    }
}
