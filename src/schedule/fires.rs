//! When a campaign fires. Fires are wall-clock times of the workspace time zone; each one happens
//! exactly once as an instant, whatever daylight saving does (see [`super::local`]). After downtime,
//! only the latest missed fire is still due, and only within the grace period.

use super::local::instant_of;
use crate::timestamp::Timestamp;
use chrono::{NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::time::Duration;

/// A campaign's fire times.
#[derive(Debug, Clone, Copy)]
pub enum When<'a> {
    /// Every match of a cron schedule.
    Cron(&'a cron::Schedule),
    /// Once.
    Once(NaiveDateTime),
}

impl<'a> When<'a> {
    /// The campaign's fire times, if it has a schedule or an `at` time.
    pub fn of(campaign: &'a crate::config::CampaignConfig) -> Option<When<'a>> {
        if let Some(schedule) = &campaign.schedule {
            return Some(When::Cron(&schedule.get_ref().schedule));
        }
        campaign.at.as_ref().map(|at| When::Once(at.get_ref().0))
    }
}

/// Fires after `after` up to and including `until`, oldest first, at most `cap` of them.
pub fn fires_between(
    when: When<'_>,
    tz: Tz,
    after: Timestamp,
    until: Timestamp,
    cap: usize,
) -> Vec<Timestamp> {
    let mut fires = Vec::new();
    let mut last = after;
    for fire in wall_clock_fires(when, tz, after) {
        if fire > until || fires.len() >= cap {
            break;
        }
        // A wall-clock time pushed past a spring-forward jump can land on a later fire: once only.
        if fire > last {
            fires.push(fire);
            last = fire;
        }
    }
    fires
}

/// The first fire after `after`.
pub fn next_fire(when: When<'_>, tz: Tz, after: Timestamp) -> Option<Timestamp> {
    wall_clock_fires(when, tz, after).find(|fire| *fire > after)
}

/// Instants of the wall-clock fire times from the local time of `after` on (some may not be later
/// than `after`: callers filter).
fn wall_clock_fires(
    when: When<'_>,
    tz: Tz,
    after: Timestamp,
) -> Box<dyn Iterator<Item = Timestamp> + '_> {
    // A jump forward moves a fire by at most a few hours: start that much earlier on the wall clock.
    let local = after.datetime().with_timezone(&tz).naive_local() - chrono::Duration::hours(3);
    match when {
        When::Cron(schedule) => Box::new(
            // The naive wall clock, iterated as if it were UTC: every wall-clock time once, in order.
            schedule
                .after(&Utc.from_utc_datetime(&local))
                .map(move |wall| instant_of(tz, wall.naive_utc())),
        ),
        When::Once(at) => Box::new(std::iter::once(instant_of(tz, at))),
    }
}

/// What a scheduler should do about the fires since it last looked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catchup {
    /// The fire to run now: the latest one due, if it is at most `grace` late.
    pub run: Option<Timestamp>,
    /// Fires that will not run: earlier ones, or too late.
    pub missed: Vec<Timestamp>,
}

/// Which of the fires after `after` up to `now` to run: only the latest, and only within `grace`.
pub fn catch_up(
    when: When<'_>,
    tz: Tz,
    after: Timestamp,
    now: Timestamp,
    grace: Duration,
) -> Catchup {
    // Listing every missed second of a `* * * * * *` schedule after a week down helps nobody.
    const MAX_LISTED: usize = 1000;
    let mut missed = fires_between(when, tz, after, now, MAX_LISTED + 1);
    if missed.len() > MAX_LISTED {
        // Too many to list: the latest is what matters; find it from a window just before now.
        let recent = Timestamp::from(now.datetime() - grace);
        let mut tail = fires_between(when, tz, recent.max(after), now, usize::MAX);
        missed.truncate(MAX_LISTED);
        if let Some(latest) = tail.pop() {
            return Catchup {
                run: Some(latest),
                missed,
            };
        }
        return Catchup { run: None, missed };
    }
    let run = match missed.last() {
        Some(latest)
            if (now.datetime() - latest.datetime())
                .to_std()
                .unwrap_or_default()
                <= grace =>
        {
            missed.pop()
        }
        _ => None,
    };
    Catchup { run, missed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_flexible(text).unwrap()
    }

    fn cron(text: &str) -> cron::Schedule {
        cron::Schedule::from_str(text).unwrap()
    }

    #[test]
    fn fires_are_read_in_the_workspace_zone() {
        let tuesdays = cron("0 0 10 * * Tue");
        let la = chrono_tz::America::Los_Angeles;
        let next = next_fire(When::Cron(&tuesdays), la, at("2026-11-27T00:00:00Z"));
        // Tuesday 2026-12-01 10:00 in Los Angeles (UTC-8) is 18:00 UTC.
        assert_eq!(next, Some(at("2026-12-01T18:00:00Z")));
    }

    #[test]
    fn a_daily_fire_happens_once_on_both_daylight_saving_days() {
        let ny = chrono_tz::America::New_York;
        // 02:30 does not exist on 2026-03-08 and 01:30 happens twice on 2026-11-01.
        for (schedule, day_before, day_after) in [
            (
                "0 30 2 * * *",
                "2026-03-07T12:00:00Z",
                "2026-03-09T12:00:00Z",
            ),
            (
                "0 30 1 * * *",
                "2026-10-31T12:00:00Z",
                "2026-11-02T12:00:00Z",
            ),
        ] {
            let schedule = cron(schedule);
            let fires = fires_between(When::Cron(&schedule), ny, at(day_before), at(day_after), 10);
            assert_eq!(fires.len(), 2, "{fires:?}");
        }
        let hourly = cron("0 0 * * * *");
        let spring = fires_between(
            When::Cron(&hourly),
            ny,
            at("2026-03-08T05:30:00Z"),
            at("2026-03-08T08:30:00Z"),
            10,
        );
        // 01:00 EST, then 03:00 EDT (02:00 does not exist), then 04:00 EDT: no fire twice.
        assert_eq!(
            spring,
            vec![
                at("2026-03-08T06:00:00Z"),
                at("2026-03-08T07:00:00Z"),
                at("2026-03-08T08:00:00Z")
            ]
        );
    }

    #[test]
    fn after_downtime_only_the_latest_fire_within_grace_runs() {
        let every_hour = cron("0 0 * * * *");
        let when = When::Cron(&every_hour);
        let hour = Duration::from_secs(3600);
        // Down from 09:30 to 12:10: 10:00, 11:00 and 12:00 were missed; 12:00 runs.
        let c = catch_up(
            when,
            chrono_tz::UTC,
            at("2026-12-01T09:30:00Z"),
            at("2026-12-01T12:10:00Z"),
            hour,
        );
        assert_eq!(c.run, Some(at("2026-12-01T12:00:00Z")));
        assert_eq!(c.missed.len(), 2);
        // With a 5-minute grace, 12:00 is too late as well.
        let c = catch_up(
            when,
            chrono_tz::UTC,
            at("2026-12-01T09:30:00Z"),
            at("2026-12-01T12:10:00Z"),
            Duration::from_secs(300),
        );
        assert_eq!((c.run, c.missed.len()), (None, 3));
        // A one-shot time runs once: not again once it is behind `after`.
        let once = When::Once(at("2026-12-01T10:00:00Z").datetime().naive_utc());
        let c = catch_up(
            once,
            chrono_tz::UTC,
            at("2026-12-01T09:00:00Z"),
            at("2026-12-01T10:00:01Z"),
            hour,
        );
        assert_eq!(c.run, Some(at("2026-12-01T10:00:00Z")));
        let c = catch_up(
            once,
            chrono_tz::UTC,
            at("2026-12-01T10:00:00Z"),
            at("2026-12-01T10:05:00Z"),
            hour,
        );
        assert_eq!(
            c,
            Catchup {
                run: None,
                missed: vec![]
            }
        );
    }
}
