//! A synthetic but believable shop for `rapport demo`: customers in several time zones, purchases by
//! category, visits, and a history of newsletters opened or ignored, generated deterministically from
//! a seed and written as the CSV files an owner would import.
//!
//! The shape is chosen so that every example segment has members: regulars who lapsed, new
//! customers, big spenders, garden fans who never bought seeds, engaged and never-opening readers.

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fmt::Write as _;

const FIRST: &[&str] = &[
    "Alice", "Bob", "Camille", "Dev", "Erin", "Farah", "Gus", "Hana", "Ines", "Jonah", "Keiko",
    "Liam", "Maya", "Noor", "Oscar", "Priya", "Quinn", "Rosa", "Sam", "Tomás", "Uma", "Victor",
    "Wren", "Yusuf", "Zoë",
];
const LAST: &[&str] = &[
    "Martin", "Nguyen", "Dubois", "O'Brien", "Garcia", "Kowalski", "Okafor", "Rossi", "Sato",
    "Smith", "Larsen", "Haddad",
];
/// (time zone, city, share in percent)
const PLACES: &[(&str, &str, u32)] = &[
    ("America/Los_Angeles", "Portland", 40),
    ("America/New_York", "Brooklyn", 25),
    ("America/Chicago", "Chicago", 15),
    ("Europe/London", "London", 10),
    ("Europe/Paris", "Lyon", 10),
];
const CATEGORIES: &[&str] = &["garden", "seeds", "tools", "fabric", "kitchen"];

/// The two CSV files of a generated shop.
pub struct ShopData {
    pub customers_csv: String,
    pub events_csv: String,
    pub customers: usize,
    pub events: usize,
}

/// Generates `customers` customers and their history up to `now`, the same for the same seed.
pub fn generate(seed: u64, customers: usize, now: DateTime<Utc>) -> ShopData {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut people = String::from(
        "email,first_name,last_name,timezone,locale,created_at,city,loyalty_tier,vip\n",
    );
    let mut events = String::from("email,kind,occurred_at,amount,id,category,campaign\n");
    let mut event_count = 0;
    let mut order = 1000;
    for i in 0..customers {
        let first = FIRST[rng.random_range(0..FIRST.len())];
        let last = LAST[rng.random_range(0..LAST.len())];
        let email = format!(
            "{}.{}{i}@example.com",
            first.to_lowercase().replace(['é', 'ë', 'á'], "e"),
            last.to_lowercase().replace('\'', "")
        );
        let (zone, city) = place(&mut rng);
        let new_customer = rng.random_bool(0.05);
        let joined = if new_customer {
            days_ago(now, rng.random_range(1..30))
        } else {
            days_ago(now, rng.random_range(60..1100))
        };
        let first_name = if rng.random_bool(0.05) { "" } else { first };
        let zone = if rng.random_bool(0.05) { "" } else { zone };
        let locale = if zone.starts_with("Europe/Paris") {
            "fr-FR"
        } else {
            "en-US"
        };
        let tier = ["", "silver", "gold"][rng.random_range(0..3)];
        let vip = rng.random_bool(0.1);
        let _ = writeln!(
            people,
            "{email},{first_name},{last},{zone},{locale},{},{city},{tier},{vip}",
            day(joined)
        );

        // Purchases: a third are regulars; some regulars lapsed two to six months ago.
        let regular = rng.random_bool(0.33);
        let lapsed = regular && rng.random_bool(0.4);
        let purchases = if regular {
            rng.random_range(3..12)
        } else {
            rng.random_range(0..3)
        };
        let garden_fan = rng.random_bool(0.15);
        let span = (now - joined).num_days().max(1);
        for _ in 0..purchases {
            let latest = if lapsed { 61 } else { 0 };
            let ago = rng.random_range(latest..=span.clamp(latest + 1, 400));
            let category = if garden_fan {
                "garden"
            } else {
                CATEGORIES[rng.random_range(0..CATEGORIES.len())]
            };
            let amount = (rng.random_range(800..25_000) as f64) / 100.0;
            order += 1;
            let _ = writeln!(
                events,
                "{email},purchase,{},{amount:.2},order-{order},{category},",
                stamp(days_ago(now, ago), &mut rng)
            );
            event_count += 1;
        }
        for _ in 0..rng.random_range(0..6) {
            let _ = writeln!(
                events,
                "{email},visit,{},,,,",
                stamp(days_ago(now, rng.random_range(0..span.min(200))), &mut rng)
            );
            event_count += 1;
        }
        // Newsletters of the last months: some readers open most, some never do.
        if !new_customer && rng.random_bool(0.6) {
            let engagement: f64 = [0.0, 0.3, 0.8][rng.random_range(0..3)];
            for month in 1..=rng.random_range(3..7) {
                let sent = days_ago(now, month * 30);
                let campaign = format!("newsletter-{}", sent.format("%Y-%m"));
                let _ = writeln!(
                    events,
                    "{email},email.sent,{},,,,{campaign}",
                    stamp(sent, &mut rng)
                );
                event_count += 1;
                if rng.random_bool(engagement) {
                    let _ = writeln!(
                        events,
                        "{email},email.opened,{},,,,{campaign}",
                        stamp(sent + Duration::hours(rng.random_range(1..48)), &mut rng)
                    );
                    event_count += 1;
                }
            }
        }
    }
    ShopData {
        customers_csv: people,
        events_csv: events,
        customers,
        events: event_count,
    }
}

fn place(rng: &mut StdRng) -> (&'static str, &'static str) {
    let mut roll = rng.random_range(0..100);
    for (zone, city, share) in PLACES {
        if roll < *share {
            return (zone, city);
        }
        roll -= share;
    }
    (PLACES[0].0, PLACES[0].1)
}

fn days_ago(now: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    now - Duration::days(days)
}

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// A time of day during opening hours, in RFC 3339.
fn stamp(t: DateTime<Utc>, rng: &mut StdRng) -> String {
    let at = t
        .date_naive()
        .and_hms_opt(
            rng.random_range(9..20),
            rng.random_range(0..60),
            rng.random_range(0..60),
        )
        .expect("valid time");
    format!("{}Z", at.format("%Y-%m-%dT%H:%M:%S"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_shop() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let a = generate(7, 50, now);
        let b = generate(7, 50, now);
        let c = generate(8, 50, now);
        assert_eq!(a.customers_csv, b.customers_csv);
        assert_eq!(a.events_csv, b.events_csv);
        assert_ne!(a.customers_csv, c.customers_csv);
        assert_eq!(a.customers_csv.lines().count(), 51);
        assert_eq!(a.events_csv.lines().count(), a.events + 1);
    }
}
