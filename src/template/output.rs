//! What a render may produce: at most [`MAX_RENDERED_BYTES`] per file, and header values on one line.

/// The most one file may render to. Gmail clips messages past about 100 KB; 1 MB is far beyond any
/// real email and small enough to stop a runaway loop early.
pub const MAX_RENDERED_BYTES: usize = 1024 * 1024;

/// A writer that refuses to grow past [`MAX_RENDERED_BYTES`].
pub(super) struct Capped(pub(super) Vec<u8>);

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_RENDERED_BYTES {
            self.0.resize(MAX_RENDERED_BYTES, 0);
            return Err(std::io::Error::other("rendered text too large"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Tera's HTML escaping, the same five characters to the same entities, written a run at a time:
/// Tera's own writes every byte apart through `dyn Write`, which was about 4% of the instructions
/// a message cost to send (callgrind, bench/README.md).
pub(super) fn escape_html(input: &str, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let bytes = input.as_bytes();
    let mut copied = 0;
    for (i, byte) in bytes.iter().enumerate() {
        let entity: &[u8] = match byte {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' => b"&quot;",
            b'\'' => b"&#39;",
            _ => continue,
        };
        out.write_all(&bytes[copied..i])?;
        out.write_all(entity)?;
        copied = i + 1;
    }
    out.write_all(&bytes[copied..])
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

    proptest::proptest! {
        #[test]
        fn html_is_escaped_as_tera_escapes_it(text in "[&<>\"'a-zé€😀 ]*|.*") {
            let mut ours = Vec::new();
            escape_html(&text, &mut ours).unwrap();
            let mut teras = Vec::new();
            tera::escape_html(&text, &mut teras).unwrap();
            proptest::prop_assert_eq!(ours, teras);
        }
    }

    #[test]
    fn html_special_characters_become_entities() {
        let mut out = Vec::new();
        escape_html(r#"<a href="x">Tom & 'Jerry'</a>"#, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn subjects_are_one_line() {
        assert_eq!(one_line("Hi\r\nBcc: x@y\t there "), "Hi Bcc: x@y there");
    }
}
