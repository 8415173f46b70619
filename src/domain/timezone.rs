//! IANA time zone names (`Europe/Paris`), validated with chrono-tz.

use chrono_tz::Tz;

/// Parses an IANA zone name, accepting any letter case; the error suggests the nearest real zone.
pub fn parse_timezone(raw: &str) -> Result<Tz, String> {
    let name = raw.trim();
    if let Ok(tz) = name.parse::<Tz>() {
        return Ok(tz);
    }
    if let Some(tz) = chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(name))
    {
        return Ok(*tz);
    }
    let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
    let hint = match crate::diagnostic::did_you_mean(name, names) {
        Some(near) => format!("; did you mean {near:?}?"),
        None => "; use an IANA name such as \"America/Chicago\"".to_string(),
    };
    Err(format!("unknown time zone {name:?}{hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_iana_names_in_any_case() {
        assert_eq!(
            parse_timezone("europe/paris").unwrap(),
            chrono_tz::Europe::Paris
        );
        assert_eq!(parse_timezone(" UTC ").unwrap(), chrono_tz::UTC);
    }

    #[test]
    fn suggests_the_nearest_zone() {
        let err = parse_timezone("America/Los_Angles").unwrap_err();
        assert!(
            err.contains("did you mean \"America/Los_Angeles\"?"),
            "{err}"
        );
    }
}
