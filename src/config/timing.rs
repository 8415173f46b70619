//! The values of `rapport.toml` that say *when*: cron schedules, one-shot instants, times of day,
//! quiet-hour windows, and the event kinds that trigger campaigns. What they mean for a given
//! instant and time zone is computed in [`crate::schedule`].

use chrono::{NaiveDateTime, NaiveTime};
use serde::Deserialize;
use std::fmt;
use std::str::FromStr;

/// `"21:00-08:00"`: a daily window (it may cross midnight) in the recipient's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

parsed_from_string!(QuietHours, |raw: String| {
    let bad = || format!("{raw:?} is not a time window: write it as \"21:00-08:00\"");
    let (start, end) = raw.split_once('-').ok_or_else(bad)?;
    let time = |s: &str| NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| bad());
    let (start, end) = (time(start)?, time(end)?);
    if start == end {
        return Err(format!(
            "{raw:?} starts and ends at the same time: the window would be empty"
        ));
    }
    Ok(QuietHours { start, end })
});

impl QuietHours {
    /// Whether the local time of day `t` falls inside the window (its start included, its end not).
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.start < self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }
}

impl fmt::Display for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

/// `"10:00"`: a time of day, read in whichever time zone applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct LocalTime(pub NaiveTime);

parsed_from_string!(LocalTime, |raw: String| {
    NaiveTime::parse_from_str(raw.trim(), "%H:%M")
        .map(LocalTime)
        .map_err(|_| format!("{raw:?} is not a time of day: write it as \"10:00\" (24-hour clock)"))
});

/// `"2026-12-01T10:00"`: a date and time on the wall clock of the workspace time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct LocalDateTime(pub NaiveDateTime);

parsed_from_string!(LocalDateTime, |raw: String| {
    ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(raw.trim(), format).ok())
        .map(LocalDateTime)
        .ok_or_else(|| {
            format!(
                "{raw:?} is not a date and time: write it as \"2026-12-01T10:00\" (in [daemon] timezone)"
            )
        })
});

/// A cron schedule in the cron crate's syntax: seconds, minutes, hours, day of month, month, day of
/// week, and an optional year. A schedule that can never fire (`0 0 10 30 2 *`) is refused.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct CronSchedule {
    pub text: String,
    pub schedule: cron::Schedule,
}

parsed_from_string!(CronSchedule, |raw: String| {
    let fields = raw.split_whitespace().count();
    if fields == 5 {
        return Err(format!(
            "{raw:?} has 5 fields, but schedules here start with seconds: write \"0 {}\"",
            raw.trim()
        ));
    }
    let schedule = cron::Schedule::from_str(raw.trim()).map_err(|e| {
        format!(
            "{raw:?} is not a cron schedule ({e}): e.g. \"0 0 10 * * Tue\" is Tuesdays at 10:00"
        )
    })?;
    if schedule.upcoming(chrono::Utc).next().is_none() {
        return Err(format!(
            "{raw:?} never fires: no date matches it (February 30th, say)"
        ));
    }
    Ok(CronSchedule {
        text: raw,
        schedule,
    })
});

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronSchedule({:?})", self.text)
    }
}

/// The kind of event that triggers a campaign: `purchase`, `cart.add`, `email.clicked`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct EventKind(String);

parsed_from_string!(EventKind, |raw: String| {
    crate::domain::parse_event_kind(&raw).map(EventKind)
});

impl EventKind {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: TryFrom<String, Error = String>>(raw: &str) -> Result<T, String> {
        T::try_from(raw.to_string())
    }

    #[test]
    fn five_field_cron_gets_a_hint() {
        let err = parse::<CronSchedule>("0 10 * * Tue").unwrap_err();
        assert!(err.contains("start with seconds"), "{err}");
        assert!(parse::<CronSchedule>("0 0 10 * * Tue").is_ok());
    }

    #[test]
    fn a_schedule_that_never_fires_is_refused() {
        let err = parse::<CronSchedule>("0 0 10 30 2 *").unwrap_err();
        assert!(err.contains("never fires"), "{err}");
    }

    #[test]
    fn quiet_hours_may_cross_midnight() {
        let night: QuietHours = parse("21:00-08:00").unwrap();
        let at = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert!(night.contains(at(21, 0)) && night.contains(at(2, 0)));
        assert!(!night.contains(at(8, 0)) && !night.contains(at(12, 0)));
        let lunch: QuietHours = parse("12:00-13:30").unwrap();
        assert!(lunch.contains(at(12, 45)) && !lunch.contains(at(13, 30)));
    }

    #[test]
    fn times_and_instants_read_like_a_calendar() {
        assert!(parse::<LocalTime>("10:00").is_ok());
        assert!(parse::<LocalTime>("25:00").is_err());
        assert!(parse::<LocalDateTime>("2026-12-01T10:00").is_ok());
        let err = parse::<LocalDateTime>("next tuesday").unwrap_err();
        assert!(err.contains("2026-12-01T10:00"), "{err}");
        assert!(parse::<EventKind>("cart.add").is_ok());
        assert!(parse::<EventKind>("Cart Add!").is_err());
    }
}
