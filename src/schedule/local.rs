//! Wall-clock times in a time zone, mapped to instants. Daylight saving makes some wall-clock times
//! exist twice (autumn) and some not at all (spring): the first is read as its earlier instant, the
//! second as the instant just as far past the jump, so a time never vanishes and never happens twice.

use crate::timestamp::Timestamp;
use chrono::{Days, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// The instant at which the wall clock of `tz` shows `local`.
pub fn instant_of(tz: Tz, local: NaiveDateTime) -> Timestamp {
    if let Some(at) = tz.from_local_datetime(&local).earliest() {
        return Timestamp::from(at.with_timezone(&Utc));
    }
    // In the gap of a spring-forward: keep the offset in force before it, so 02:30 becomes 03:30.
    let before = tz.offset_from_utc_datetime(&(local - chrono::Duration::hours(12)));
    let offset = chrono::Duration::seconds(i64::from(before.fix().local_minus_utc()));
    Timestamp::from(Utc.from_utc_datetime(&(local - offset)))
}

/// The first instant at or after `from` at which the wall clock of `tz` shows `time`.
pub fn next_local_time(tz: Tz, time: NaiveTime, from: Timestamp) -> Timestamp {
    let today = from.datetime().with_timezone(&tz).date_naive();
    let mut day = today;
    loop {
        let candidate = instant_of(tz, day.and_time(time));
        if candidate >= from {
            return candidate;
        }
        day = day + Days::new(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_flexible(text).unwrap()
    }

    fn time(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn next_ten_oclock_in_three_zones() {
        let from = at("2026-12-01T12:00:00Z");
        let ten = time(10, 0);
        // Los Angeles is at 04:00 (UTC-8): 10:00 today there is 18:00 UTC.
        assert_eq!(
            next_local_time(chrono_tz::America::Los_Angeles, ten, from),
            at("2026-12-01T18:00:00Z")
        );
        // Paris is at 13:00: 10:00 has passed, so tomorrow 09:00 UTC.
        assert_eq!(
            next_local_time(chrono_tz::Europe::Paris, ten, from),
            at("2026-12-02T09:00:00Z")
        );
        // Tokyo is at 21:00: tomorrow 10:00 JST is 01:00 UTC.
        assert_eq!(
            next_local_time(chrono_tz::Asia::Tokyo, ten, from),
            at("2026-12-02T01:00:00Z")
        );
    }

    #[test]
    fn a_time_in_the_spring_gap_happens_once_after_the_jump() {
        let ny = chrono_tz::America::New_York;
        // 2026-03-08: clocks go from 02:00 EST to 03:00 EDT; 02:30 does not exist.
        let local = at("2026-03-08T02:30:00Z").datetime().naive_utc();
        assert_eq!(instant_of(ny, local), at("2026-03-08T07:30:00Z"));
        // 2026-11-01: 01:30 happens twice; the first (EDT) is taken.
        let local = at("2026-11-01T01:30:00Z").datetime().naive_utc();
        assert_eq!(instant_of(ny, local), at("2026-11-01T05:30:00Z"));
    }
}
