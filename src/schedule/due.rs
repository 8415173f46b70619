//! When one recipient's message is due: at the campaign's `deliver_at` time of day in their own time
//! zone, and never inside the quiet hours (a message that would arrive then waits for their end).

use super::local::next_local_time;
use crate::config::{Config, LocalTime, QuietHours};
use crate::timestamp::Timestamp;
use chrono::Timelike;
use chrono_tz::Tz;

/// The courtesy rules that move a message in time, for one campaign.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// `deliver_at` of the campaign: the time of day each recipient's message is due.
    pub deliver_at: Option<LocalTime>,
    pub quiet_hours: Option<QuietHours>,
    /// For customers without a time zone of their own.
    pub default_timezone: Tz,
}

/// Why and until when a message waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deferral {
    /// Until the campaign's `deliver_at` in the recipient's zone.
    DeliverAt(Timestamp),
    /// Until the end of the quiet hours in the recipient's zone.
    QuietHours(Timestamp),
}

impl Deferral {
    pub fn until(self) -> Timestamp {
        match self {
            Deferral::DeliverAt(t) | Deferral::QuietHours(t) => t,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Deferral::DeliverAt(_) => "deliver_at",
            Deferral::QuietHours(_) => "quiet hours",
        }
    }
}

impl Timing {
    /// The timing of campaign `deliver_at` under the workspace's courtesy rules.
    pub fn new(config: &Config, deliver_at: Option<LocalTime>) -> Self {
        Timing {
            deliver_at,
            quiet_hours: config.courtesy.quiet_hours,
            default_timezone: config.courtesy.default_timezone.0,
        }
    }

    /// The recipient's zone: their own (an IANA name, validated on import), else the default.
    pub fn zone(&self, customer_timezone: Option<&str>) -> Tz {
        customer_timezone
            .and_then(|name| crate::domain::parse_timezone(name).ok())
            .unwrap_or(self.default_timezone)
    }

    /// When a message planned for `planned` is due for a recipient in `tz`, and why it waits, if it
    /// does: first the next `deliver_at`, then past the quiet hours.
    pub fn due(&self, tz: Tz, planned: Timestamp) -> Option<Deferral> {
        let mut deferral = None;
        let mut due = planned;
        if let Some(LocalTime(time)) = self.deliver_at {
            due = next_local_time(tz, time, planned);
            if due > planned {
                deferral = Some(Deferral::DeliverAt(due));
            }
        }
        if let Some(end) = self.quiet_until(tz, due) {
            deferral = Some(Deferral::QuietHours(end));
        }
        deferral
    }

    /// The end of the quiet hours if `at` falls inside them in `tz`.
    pub fn quiet_until(&self, tz: Tz, at: Timestamp) -> Option<Timestamp> {
        let quiet = self.quiet_hours?;
        let local = at.datetime().with_timezone(&tz).time();
        // Whole minutes are what the owner wrote; seconds within the minute don't matter.
        let local = local.with_second(0)?.with_nanosecond(0)?;
        quiet
            .contains(local)
            .then(|| next_local_time(tz, quiet.end, at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_flexible(text).unwrap()
    }

    fn timing(deliver_at: Option<&str>, quiet: Option<&str>) -> Timing {
        Timing {
            deliver_at: deliver_at.map(|t| LocalTime::try_from(t.to_string()).unwrap()),
            quiet_hours: quiet.map(|q| QuietHours::try_from(q.to_string()).unwrap()),
            default_timezone: chrono_tz::UTC,
        }
    }

    #[test]
    fn quiet_hours_defer_to_their_end_in_the_recipients_zone() {
        let night = timing(None, Some("21:00-08:00"));
        let paris = chrono_tz::Europe::Paris;
        // 22:30 UTC is 23:30 in Paris: wait until 08:00 Paris, 07:00 UTC.
        assert_eq!(
            night.due(paris, at("2026-12-01T22:30:00Z")),
            Some(Deferral::QuietHours(at("2026-12-02T07:00:00Z")))
        );
        // 03:00 UTC is 04:00 in Paris: the same morning.
        assert_eq!(
            night
                .due(paris, at("2026-12-02T03:00:00Z"))
                .map(Deferral::until),
            Some(at("2026-12-02T07:00:00Z"))
        );
        // Noon: no wait.
        assert_eq!(night.due(paris, at("2026-12-02T11:00:00Z")), None);
    }

    #[test]
    fn deliver_at_then_quiet_hours() {
        // A 22:00 delivery time inside 21:00-08:00 quiet hours ends up at 08:00 the next morning.
        let late = timing(Some("22:00"), Some("21:00-08:00"));
        let due = late.due(chrono_tz::UTC, at("2026-12-01T12:00:00Z"));
        assert_eq!(due, Some(Deferral::QuietHours(at("2026-12-02T08:00:00Z"))));
        let ten = timing(Some("10:00"), None);
        assert_eq!(
            ten.due(chrono_tz::UTC, at("2026-12-01T10:00:00Z")),
            None,
            "already 10:00: due at once"
        );
        assert_eq!(
            ten.quiet_until(chrono_tz::UTC, at("2026-12-01T10:00:00Z")),
            None
        );
    }

    #[test]
    fn customers_without_a_zone_use_the_default() {
        let t = Timing {
            default_timezone: chrono_tz::Asia::Tokyo,
            ..timing(None, None)
        };
        assert_eq!(t.zone(None), chrono_tz::Asia::Tokyo);
        assert_eq!(t.zone(Some("Europe/Paris")), chrono_tz::Europe::Paris);
    }
}
