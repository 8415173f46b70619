//! Durations written the way people say them: `30s`, `5m` (or `5min`), `2h`, `3d`, `1w`.

use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// A positive duration from `rapport.toml`.
#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Span(pub Duration);

impl TryFrom<String> for Span {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        let bad = || {
            format!(
                "{raw:?} is not a duration: write it like \"30s\", \"5m\", \"2h\", \"3d\" or \"1w\""
            )
        };
        let text = raw.trim();
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let count: u64 = text[..split].parse().map_err(|_| bad())?;
        let unit = match text[split..].trim() {
            "s" | "sec" => 1,
            "m" | "min" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            _ => return Err(bad()),
        };
        if count == 0 {
            return Err(format!("{raw:?} is zero: a duration must be positive"));
        }
        Ok(Span(Duration::from_secs(count.saturating_mul(unit))))
    }
}

impl Span {
    pub fn from_secs(secs: u64) -> Self {
        Span(Duration::from_secs(secs))
    }
}

impl fmt::Display for Span {
    /// In the largest unit that divides it: `3d`, `90m`, `45s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        let (count, unit) = [(7 * 86_400, "w"), (86_400, "d"), (3600, "h"), (60, "m")]
            .into_iter()
            .find(|(unit, _)| secs % unit == 0 && secs > 0)
            .map_or((secs, "s"), |(unit, name)| (secs / unit, name));
        write!(f, "{count}{unit}")
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_spoken_durations() {
        let secs = |s: &str| Span::try_from(s.to_string()).map(|d| d.0.as_secs());
        assert_eq!(secs("30s"), Ok(30));
        assert_eq!(secs("5m"), Ok(300));
        assert_eq!(secs("2h"), Ok(7200));
        assert_eq!(secs("3d"), Ok(259_200));
        assert!(secs("0s").is_err());
        assert!(secs("soon").is_err());
        assert!(secs("5").is_err());
        let shown = |s: &str| Span::try_from(s.to_string()).unwrap().to_string();
        assert_eq!(
            (shown("72h"), shown("90m"), shown("45s")),
            ("3d".into(), "90m".into(), "45s".into())
        );
    }
}
