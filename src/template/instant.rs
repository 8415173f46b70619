//! Instants as templates see them: RFC 3339 strings (`2026-03-01T14:30:00Z`, or with the customer's
//! offset for `now`). Formatting and parsing them is on the hot path of every render, so the fixed
//! shapes this module writes are handled without chrono's general-purpose formatter and parser.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, SecondsFormat, TimeZone, Timelike, Utc};

/// `2026-03-01T14:30:00Z`.
pub fn format_utc(t: DateTime<Utc>) -> String {
    let mut s = String::with_capacity(20);
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return t.to_rfc3339_opts(SecondsFormat::Secs, true);
    }
    push_digits(&mut s, year as u32, 4);
    s.push('-');
    push_digits(&mut s, t.month(), 2);
    s.push('-');
    push_digits(&mut s, t.day(), 2);
    s.push('T');
    push_digits(&mut s, t.hour(), 2);
    s.push(':');
    push_digits(&mut s, t.minute(), 2);
    s.push(':');
    push_digits(&mut s, t.second(), 2);
    s.push('Z');
    s
}

fn push_digits(s: &mut String, value: u32, width: u32) {
    for i in (0..width).rev() {
        let digit = (value / 10_u32.pow(i)) % 10;
        s.push(char::from(b'0' + digit as u8));
    }
}

/// Parses RFC 3339: the shapes written here quickly, anything else through chrono.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    fast_parse(text).or_else(|| {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ` or `YYYY-MM-DDTHH:MM:SS±HH:MM`.
fn fast_parse(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0_u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let naive = date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
    let offset_seconds = match (b.len(), b[19]) {
        (20, b'Z') => 0,
        (25, sign @ (b'+' | b'-')) if b[22] == b':' => {
            let seconds = (num(20..22)? * 3600 + num(23..25)? * 60) as i32;
            if sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    let offset = FixedOffset::east_opt(offset_seconds)?;
    Some(
        offset
            .from_local_datetime(&naive)
            .single()?
            .with_timezone(&Utc),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_agrees_with_chrono() {
        let t = DateTime::parse_from_rfc3339("2026-03-01T14:30:05Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_utc(t), "2026-03-01T14:30:05Z");
        for text in [
            "2026-03-01T14:30:05Z",
            "2026-03-01T06:30:05-08:00",
            "2026-03-02T00:00:00+09:30",
            "2026-03-01T14:30:05.25Z",
        ] {
            let chrono = DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc);
            assert_eq!(parse(text), Some(chrono), "{text}");
        }
        assert_eq!(parse("2026-02-30T00:00:00Z"), None);
        assert_eq!(parse("yesterday"), None);
    }
}
