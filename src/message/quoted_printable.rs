//! The body of a text or HTML part: quoted-printable (RFC 2045 §6.7) when it needs an encoding,
//! written here in one pass over the bytes.
//!
//! lettre chooses an encoding and encodes through the `quoted_printable` crate, which pushes the
//! output a character at a time: about a tenth of the instructions a whole send spends per message
//! (bench/README.md). [`body`] makes lettre's choice (7bit for short ASCII lines, base64 when most
//! bytes would need escaping, which lettre still does; it takes quoted-printable for a first line
//! of 75 bytes, where lettre would not) and encodes the common case itself. The lines break at
//! different places than lettre's would; they decode the same.

use lettre::message::Body;
use lettre::message::header::ContentTransferEncoding;

/// The longest encoded line, without its CRLF (RFC 2045).
const MAX_LINE: usize = 76;

/// The part's body: `text` as 7bit or base64 through lettre, or quoted-printable from here.
pub fn body(text: &str) -> Body {
    if needs_quoted_printable(text) {
        Body::dangerous_pre_encoded(encode(text), ContentTransferEncoding::QuotedPrintable)
    } else {
        Body::new(text.to_string())
    }
}

/// Whether to encode `text` as quoted-printable: some byte is not ASCII or some line is too long
/// for 7bit, and at most a third of the bytes need escaping (else base64 is shorter, and lettre
/// chooses). A line of 75 bytes counts as long; lettre lets the first line of a part have 75.
fn needs_quoted_printable(text: &str) -> bool {
    // lettre counts the CR it adds before each LF.
    let seven_bit = text.is_ascii() && text.split('\n').all(|line| line.len() + 1 < MAX_LINE);
    let escaped = text.bytes().filter(|&b| !PRINTABLE[usize::from(b)]).count();
    !seven_bit && escaped <= text.len() / 3
}

/// `text` in quoted-printable, its line breaks (LF or CRLF) as CRLF, every line at most 76 bytes.
pub fn encode(text: &str) -> Vec<u8> {
    // Room for a soft break per line and a few escapes, so that the output is rarely moved.
    let mut out = Vec::with_capacity(text.len() + text.len() / 8 + 64);
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        let last_line = lines.peek().is_none();
        // A CR before the LF is part of the line break; any other CR is data.
        let line = match line.strip_suffix('\r') {
            Some(content) if !last_line => content,
            _ => line,
        };
        encode_line(line.as_bytes(), &mut out);
        if !last_line {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// Bytes that stand for themselves, in runs copied whole; a space or tab only inside a line (at
/// its end, it would be taken for padding and dropped).
fn plain(byte: u8) -> bool {
    PLAIN[usize::from(byte)]
}

/// Tab and printable ASCII: what needs no escaping in 7bit, nor in quoted-printable but "=".
const PRINTABLE: [bool; 256] = printable(false);
/// [`PRINTABLE`] but "=": the bytes [`plain`] copies as they are. (Tables, since the encoder asks
/// about every byte of every message.)
const PLAIN: [bool; 256] = printable(true);

const fn printable(but_equals: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        table[b] =
            (byte == b'\t' || (byte >= b' ' && byte <= b'~')) && !(but_equals && byte == b'=');
        b += 1;
    }
    table
}

/// One line of the text, with soft line breaks (`=` CRLF) so that no line passes [`MAX_LINE`]:
/// a line that goes on holds at most `MAX_LINE - 1` bytes before its `=`.
fn encode_line(line: &[u8], out: &mut Vec<u8>) {
    // A trailing space or tab is escaped, as its own last token.
    let body = match line.last() {
        Some(b' ' | b'\t') => &line[..line.len() - 1],
        _ => line,
    };
    let mut width = 0;
    let mut i = 0;
    while i < body.len() {
        // Counted no further than a line holds: a longer run is cut at a soft break anyway, and
        // counting it whole at every break would make a long line cost its length squared.
        let run = body[i..]
            .iter()
            .take(MAX_LINE)
            .take_while(|&&b| plain(b))
            .count();
        let ends_line = i + run.max(1) == line.len();
        let room = if ends_line { MAX_LINE } else { MAX_LINE - 1 } - width;
        if run > 0 {
            // A run that does not fit goes on after a soft break, so this line keeps room for "=".
            let take = if run <= room {
                run
            } else {
                MAX_LINE - 1 - width
            };
            out.extend_from_slice(&body[i..i + take]);
            width += take;
            i += take;
            if take < run {
                out.extend_from_slice(b"=\r\n");
                width = 0;
            }
        } else {
            if 3 > room {
                out.extend_from_slice(b"=\r\n");
                width = 0;
            }
            escape(body[i], out);
            width += 3;
            i += 1;
        }
    }
    if body.len() < line.len() {
        if width + 3 > MAX_LINE {
            out.extend_from_slice(b"=\r\n");
        }
        escape(line[line.len() - 1], out);
    }
}

fn escape(byte: u8, out: &mut Vec<u8>) {
    out.extend_from_slice(&[
        b'=',
        HEX[usize::from(byte >> 4)],
        HEX[usize::from(byte & 15)],
    ]);
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decoded(encoded: &[u8]) -> String {
        let bytes = ::quoted_printable::decode(encoded, ::quoted_printable::ParseMode::Strict)
            .expect("valid quoted-printable");
        String::from_utf8(bytes).expect("UTF-8")
    }

    /// `text` with every line break as CRLF, as the message carries it.
    fn crlf(text: &str) -> String {
        let mut out = String::new();
        let mut lines = text.split('\n').peekable();
        while let Some(line) = lines.next() {
            if lines.peek().is_none() {
                out.push_str(line);
            } else {
                out.push_str(line.strip_suffix('\r').unwrap_or(line));
                out.push_str("\r\n");
            }
        }
        out
    }

    #[test]
    fn escapes_what_mail_cannot_carry_and_keeps_the_rest() {
        let encoded = encode("Prix: 5 € = cinq\nfin \t\n");
        assert_eq!(
            String::from_utf8(encoded).unwrap(),
            "Prix: 5 =E2=82=AC =3D cinq\r\nfin =09\r\n"
        );
    }

    #[test]
    fn long_lines_break_softly_at_76_bytes() {
        let line = "é".repeat(60);
        let encoded = String::from_utf8(encode(&line)).unwrap();
        assert!(encoded.lines().all(|l| l.len() <= MAX_LINE), "{encoded}");
        assert!(encoded.contains("=\r\n"));
        assert_eq!(decoded(encoded.as_bytes()), line);
    }

    #[test]
    fn chooses_the_encoding_lettre_would() {
        assert!(!needs_quoted_printable("short ascii\nlines"));
        assert!(needs_quoted_printable(&"x".repeat(80)));
        assert!(needs_quoted_printable(
            "Choose what you receive · Unsubscribe"
        ));
        assert!(
            !needs_quoted_printable("日本語のメールです"),
            "base64 is shorter"
        );
    }

    proptest! {
        /// Any text comes back the same, in lines mail can carry.
        #[test]
        fn decodes_to_the_text_in_lines_mail_can_carry(
            text in "([a-z =.\t\r\n]|é|€|\u{1F600}){0,300}"
        ) {
            let encoded = encode(&text);
            let as_text = String::from_utf8(encoded.clone()).expect("ASCII");
            for line in as_text.split("\r\n") {
                prop_assert!(line.len() <= MAX_LINE, "{line:?}");
                prop_assert!(line.bytes().all(|b| matches!(b, b' '..=b'~' | b'\t')), "{line:?}");
                prop_assert!(!line.ends_with([' ', '\t']), "{line:?}");
            }
            prop_assert_eq!(decoded(&encoded), crlf(&text));
        }
    }
}
