//! DKIM's "relaxed" canonicalization (RFC 6376 §3.4.2 and §3.4.4) of a message as it goes on the
//! wire: what is hashed is what a verifier rebuilds from the message it received.

/// The header fields of `head` (a message up to its blank line) as (name, value), the value as
/// written: folding included, without the field's final CRLF. Bytes, not text: what is hashed must
/// be exactly what is sent.
pub fn fields(head: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut fields = Vec::new();
    let mut start = 0;
    let mut at = 0;
    while let Some(end) = find_crlf(&head[at..]).map(|i| at + i) {
        // A line that starts with whitespace continues the field before it.
        if !matches!(head.get(end + 2), Some(b' ' | b'\t')) {
            fields.extend(split_field(&head[start..end]));
            start = end + 2;
        }
        at = end + 2;
    }
    // A last field without its CRLF.
    fields.extend(split_field(&head[start..]));
    fields
}

fn find_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

fn split_field(field: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = field.iter().position(|&b| b == b':')?;
    Some((&field[..colon], &field[colon + 1..]))
}

/// One header field, relaxed: `name:value` and CRLF, with the name in lower case and the value
/// unfolded, each run of whitespace made one space, and none at either end.
pub fn header(name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + value.len() + 3);
    let name = name.trim_ascii_end();
    out.extend(name.iter().map(u8::to_ascii_lowercase));
    out.push(b':');
    let mut space = false;
    let mut started = false;
    for &b in value {
        match b {
            // Unfolding: the line break goes, the whitespace after it counts as whitespace.
            b'\r' | b'\n' => {}
            b' ' | b'\t' => space = true,
            b => {
                if space && started {
                    out.push(b' ');
                }
                space = false;
                started = true;
                out.push(b);
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The body, relaxed: whitespace at the end of each line removed, each run of whitespace within a
/// line made one space, and the empty lines at the end removed; a last line without its line break
/// gets one. A bare LF ends a line too, as the receiving servers that make it CRLF will have it.
pub fn body(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    // Where the output ends if every line from here on turns out empty.
    let mut content_end = 0;
    let mut rest = body;
    while !rest.is_empty() {
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
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
        let head = b"From: a@b.example\r\nSubject: one\r\n two:\tthree\r\nTo: c@d.example\r\n";
        assert_eq!(fields(head.trim_ascii_end()), fields(head));
        let fields: Vec<(&str, &str)> = fields(head)
            .into_iter()
            .map(|(n, v)| {
                (
                    std::str::from_utf8(n).unwrap(),
                    std::str::from_utf8(v).unwrap(),
                )
            })
            .collect();
        assert_eq!(
            fields,
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
        assert_eq!(header(b"A ", b" X"), b"a:X\r\n");
        assert_eq!(header(b"B ", b" Y\t\r\n\tZ  "), b"b:Y Z\r\n");
        assert_eq!(header(b"C", b" x:  y"), b"c:x: y\r\n");
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

    /// Bytes that are not UTF-8 are hashed as they are sent, and a bare LF ends a line.
    #[test]
    fn bytes_are_kept_and_bare_line_feeds_end_lines() {
        assert_eq!(header(b"Subject", b" caf\xe9"), b"subject:caf\xe9\r\n");
        assert_eq!(body(b"caf\xe9 \nx\n\n"), b"caf\xe9\r\nx\r\n");
    }
}
