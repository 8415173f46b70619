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

    #[test]
    fn subjects_are_one_line() {
        assert_eq!(one_line("Hi\r\nBcc: x@y\t there "), "Hi Bcc: x@y there");
    }
}
