//! DKIM's "relaxed" canonicalization (RFC 6376 §3.4.2 and §3.4.4) of a message as it goes on the
//! wire: what is hashed is what a verifier rebuilds from the message it received.

/// The header fields of `head` (a message up to its blank line) as (name, value), the value as
/// written: folding included, without the field's final CRLF.
pub fn fields(head: &str) -> Vec<(&str, &str)> {
    let mut fields = Vec::new();
    let mut start = 0;
    let bytes = head.as_bytes();
    let mut at = 0;
    while let Some(end) = head[at..].find("\r\n").map(|i| at + i) {
        // A line that starts with whitespace continues the field before it.
        if !matches!(bytes.get(end + 2), Some(b' ' | b'\t')) {
            if let Some((name, value)) = head[start..end].split_once(':') {
                fields.push((name, value));
            }
            start = end + 2;
        }
        at = end + 2;
    }
    // A last field without its CRLF.
    if let Some((name, value)) = head[start..].split_once(':') {
        fields.push((name, value));
    }
    fields
}

/// One header field, relaxed: `name:value` and CRLF, with the name in lower case and the value
/// unfolded, each run of whitespace made one space, and none at either end.
pub fn header(name: &str, value: &str) -> String {
    let mut out = String::with_capacity(name.len() + value.len() + 3);
    out.push_str(&name.trim_end_matches([' ', '\t']).to_ascii_lowercase());
    out.push(':');
    let mut space = false;
    let mut started = false;
    for c in value.chars() {
        match c {
            '\r' | '\n' => {}
            ' ' | '\t' => space = true,
            c => {
                if space && started {
                    out.push(' ');
                }
                space = false;
                started = true;
                out.push(c);
            }
        }
    }
    out.push_str("\r\n");
    out
}

/// The body, relaxed: whitespace at the end of each line removed, each run of whitespace within a
/// line made one space, and the empty lines at the end removed; a last line without its CRLF gets
/// one.
pub fn body(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    // Where the output ends if every line from here on turns out empty.
    let mut content_end = 0;
    let mut rest = body;
    while !rest.is_empty() {
        let (line, next) = match rest.windows(2).position(|w| w == b"\r\n") {
            Some(at) => (&rest[..at], &rest[at + 2..]),
            None => (rest, &rest[rest.len()..]),
        };
        let line_start = out.len();
        let mut space = false;
        for &b in line {
            if b == b' ' || b == b'\t' {
                space = true;
                continue;
            }
            if space {
                out.push(b' ');
                space = false;
            }
            out.push(b);
        }
        let empty = out.len() == line_start;
        out.extend_from_slice(b"\r\n");
        if !empty {
            content_end = out.len();
        }
        rest = next;
    }
    out.truncate(content_end);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_their_folding_and_split_at_the_first_colon() {
        let head = "From: a@b.example\r\nSubject: one\r\n two:\tthree\r\nTo: c@d.example\r\n";
        assert_eq!(fields(head.trim_end()), fields(head));
        assert_eq!(
            fields(head),
            [
                ("From", " a@b.example"),
                ("Subject", " one\r\n two:\tthree"),
                ("To", " c@d.example")
            ]
        );
    }

    /// The examples of RFC 6376 §3.4.5.
    #[test]
    fn the_rfc_example_canonicalizes_as_the_rfc_says() {
        assert_eq!(header("A ", " X"), "a:X\r\n");
        assert_eq!(header("B ", " Y\t\r\n\tZ  "), "b:Y Z\r\n");
        assert_eq!(header("C", " x:  y"), "c:x: y\r\n");
        assert_eq!(body(b" C \r\nD \t E\r\n\r\n\r\n"), b" C\r\nD E\r\n");
    }

    #[test]
    fn a_body_loses_its_trailing_empty_lines_and_gains_a_final_crlf() {
        assert_eq!(body(b""), b"");
        assert_eq!(body(b"\r\n\r\n"), b"");
        assert_eq!(body(b"x"), b"x\r\n");
        assert_eq!(body(b"x\r\n \r\n\t\r\n"), b"x\r\n");
        assert_eq!(body(b"\r\nx\r\n"), b"\r\nx\r\n");
    }
}
