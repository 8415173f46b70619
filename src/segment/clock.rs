//! Windows and time points relative to an explicit `now`: evaluation never reads the wall clock, so
//! tests, the property test and `explain` all control time.
//!
//! A day is 86,400 seconds, a week 7 days, a month 30 days and a year 365 days: fixed lengths, so a
//! window means the same on both databases, in every time zone and across daylight-saving changes.

use super::ast::{TimePoint, Unit, Window};
use crate::timestamp::Timestamp;
use crate::wording::plural;

/// Windows longer than this many days are refused by the parser (they would leave the calendar).
pub const MAX_WINDOW_DAYS: u64 = 100 * 366;

impl Unit {
    pub fn days(self) -> u64 {
        match self {
            Unit::Day => 1,
            Unit::Week => 7,
            Unit::Month => 30,
            Unit::Year => 365,
        }
    }

    pub fn letter(self) -> char {
        match self {
            Unit::Day => 'd',
            Unit::Week => 'w',
            Unit::Month => 'm',
            Unit::Year => 'y',
        }
    }
}

impl Window {
    pub fn days(self) -> u64 {
        u64::from(self.amount) * self.unit.days()
    }

    /// The first instant inside the window: `now` minus its length.
    pub fn start(self, now: Timestamp) -> Timestamp {
        let micros = self.days() as i64 * 86_400 * 1_000_000;
        Timestamp::from_micros(now.micros() - micros).unwrap_or(now)
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.amount, self.unit.letter())
    }
}

impl TimePoint {
    pub fn instant(self, now: Timestamp) -> Timestamp {
        match self {
            TimePoint::Ago(window) => window.start(now),
            TimePoint::Date(date) => date,
        }
    }
}

/// "12 days ago", "3 hours ago", "in 2 days": how long before `now` an instant was.
pub fn describe_age(at: Timestamp, now: Timestamp) -> String {
    let seconds = (now.micros() - at.micros()) / 1_000_000;
    let (n, unit) = match seconds.abs() {
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3600, "hour"),
        s => (s / 86_400, "day"),
    };
    let span = plural(n.unsigned_abs(), unit);
    if seconds >= 0 {
        format!("{span} ago")
    } else {
        format!("in {span}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_years_have_fixed_lengths() {
        let now = Timestamp::parse_flexible("2026-03-31").unwrap();
        let month = Window {
            amount: 1,
            unit: Unit::Month,
        };
        assert_eq!(month.start(now).to_string(), "2026-03-01 00:00 UTC");
        let year = Window {
            amount: 1,
            unit: Unit::Year,
        };
        assert_eq!(year.start(now).to_string(), "2025-03-31 00:00 UTC");
    }

    #[test]
    fn ages_read_naturally() {
        let now = Timestamp::parse_flexible("2026-03-31").unwrap();
        let before = Timestamp::parse_flexible("2026-03-19").unwrap();
        assert_eq!(describe_age(before, now), "12 days ago");
        assert_eq!(describe_age(now, before), "in 12 days");
    }
}
