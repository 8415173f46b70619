//! Filters for humane copy, registered on every template: `money`, `date`, `ago` and `greet`
//! (Tera's own `default`, `pluralize`, `title`, `truncate`… stay available).
//!
//! Dates in the context are RFC 3339 strings in UTC; `date` and `ago` read them in the customer's
//! time zone (the top-level `zone` variable), so "yesterday" means yesterday where the customer is.
//! `money` formats for the top-level `locale`. A filter given an undefined value is an error, which
//! `rapport check` reports with its line and column.

use super::money::format_money;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use tera::{Error, Kwargs, State, Tera, TeraResult, Value};

/// The date format when a template gives none: "March 4, 2026".
pub const DEFAULT_DATE_FORMAT: &str = "%B %-d, %Y";

pub fn register(tera: &mut Tera) {
    tera.register_filter("money", money);
    tera.register_filter("date", date);
    tera.register_filter("ago", ago);
    tera.register_filter("greet", greet);
}

/// `{{ summary.total_spent | money }}` (in `[sender] currency`), `{{ 12 | money(currency="EUR") }}`.
fn money(value: Value, kwargs: Kwargs, state: &State) -> TeraResult<String> {
    let amount = value
        .as_f64()
        .ok_or_else(|| Error::message(format!("money needs a number, got {}", value.name())))?;
    let shop_currency = state.get::<Value>("currency")?;
    let currency = match kwargs.get::<&str>("currency")? {
        Some(currency) => currency,
        None => shop_currency
            .as_ref()
            .and_then(Value::as_str)
            .unwrap_or("USD"),
    };
    let locale = state.get::<Value>("locale")?;
    let locale = locale.as_ref().and_then(Value::as_str).unwrap_or_default();
    Ok(format_money(amount, currency, locale))
}

/// `{{ summary.last_purchase_at | date }}` or `date(format="%A %-d %B")`, in the customer's zone.
fn date(value: Value, kwargs: Kwargs, state: &State) -> TeraResult<String> {
    let instant = instant(&value)?;
    let format = kwargs.get::<&str>("format")?.unwrap_or(DEFAULT_DATE_FORMAT);
    let items: Vec<_> = chrono::format::StrftimeItems::new(format).collect();
    if items.contains(&chrono::format::Item::Error) {
        return Err(Error::message(format!("{format:?} is not a date format")));
    }
    let local = instant.with_timezone(&zone(state)?);
    Ok(local.format_with_items(items.into_iter()).to_string())
}

/// `{{ summary.last_purchase_at | ago }}`: "today", "yesterday", "5 days ago", "3 weeks ago",
/// "2 months ago", "a year ago"; counted in calendar days where the customer is, up to `now`.
fn ago(value: Value, _: Kwargs, state: &State) -> TeraResult<String> {
    let then = instant(&value)?;
    let now = match state.get::<Value>("now")? {
        Some(now) => instant(&now)?,
        None => Utc::now(),
    };
    let zone = zone(state)?;
    let day = |t: DateTime<Utc>| t.with_timezone(&zone).date_naive();
    Ok(relative_days(day(then), day(now)))
}

/// The English words for the distance from `then` to `today`.
pub fn relative_days(then: NaiveDate, today: NaiveDate) -> String {
    let days = (today - then).num_days();
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("a {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    match days {
        i64::MIN..=-2 => format!("in {} days", -days),
        -1 => "tomorrow".into(),
        0 => "today".into(),
        1 => "yesterday".into(),
        2..=13 => format!("{days} days ago"),
        14..=59 => format!("{} ago", plural(days / 7, "week")),
        60..=364 => format!("{} ago", plural(days / 30, "month")),
        _ => format!("{} ago", plural(days / 365, "year")),
    }
}

/// `{{ customer.first_name | greet }}`: "Hi Alice", or "Hi there" when the name is missing or blank;
/// `greet(greeting="Hello", fallback="friend")`. A lower-case name gets a capital first letter.
fn greet(value: Value, kwargs: Kwargs, _: &State) -> TeraResult<String> {
    let greeting = kwargs.get::<&str>("greeting")?.unwrap_or("Hi");
    let fallback = kwargs.get::<&str>("fallback")?.unwrap_or("there");
    let name = value.as_str().map(str::trim).unwrap_or_default();
    let name = if name.is_empty() {
        fallback.to_string()
    } else if name.chars().all(|c| !c.is_uppercase()) {
        let mut chars = name.chars();
        chars
            .next()
            .map(|first| first.to_uppercase().chain(chars).collect())
            .unwrap_or_default()
    } else {
        name.to_string()
    };
    Ok(if greeting.is_empty() {
        name
    } else {
        format!("{greeting} {name}")
    })
}

fn instant(value: &Value) -> TeraResult<DateTime<Utc>> {
    match value.as_str() {
        Some(text) => parse_instant(text),
        None if value.is_undefined() => Err(Error::message("the date is undefined")),
        None => Err(Error::message(format!(
            "expected a date, got {}",
            value.name()
        ))),
    }
}

fn parse_instant(text: &str) -> TeraResult<DateTime<Utc>> {
    super::instant::parse(text)
        .ok_or_else(|| Error::message(format!("{text:?} is not a date (expected RFC 3339)")))
}

fn zone(state: &State) -> TeraResult<Tz> {
    let name = state.get::<Value>("zone")?;
    Ok(name
        .as_ref()
        .and_then(Value::as_str)
        .and_then(|name| name.parse().ok())
        .unwrap_or(chrono_tz::UTC))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, zone: &str, now: &str, locale: &str) -> String {
        let mut tera = Tera::new();
        register(&mut tera);
        tera.add_raw_template("t.txt", template).unwrap();
        let mut ctx = tera::Context::new();
        ctx.insert("zone", zone);
        ctx.insert("now", now);
        ctx.insert("locale", locale);
        ctx.insert("then", "2026-03-01T23:30:00Z");
        tera.render("t.txt", &ctx).unwrap()
    }

    #[test]
    fn relative_dates_count_days_where_the_customer_lives() {
        let now = "2026-03-02T10:00:00Z";
        // 23:30 UTC on March 1 is the afternoon of March 1 in Los Angeles, but March 2 in Tokyo.
        assert_eq!(
            render("{{ then | ago }}", "America/Los_Angeles", now, "en"),
            "yesterday"
        );
        assert_eq!(render("{{ then | ago }}", "Asia/Tokyo", now, "en"), "today");
        assert_eq!(
            render(
                "{{ then | date(format=\"%a %-d %b %H:%M\") }}",
                "Asia/Tokyo",
                now,
                "en"
            ),
            "Mon 2 Mar 08:30"
        );
    }

    #[test]
    fn relative_days_read_naturally() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 30).unwrap();
        let ago = |d: i64| relative_days(today - chrono::Duration::days(d), today);
        assert_eq!(ago(3), "3 days ago");
        assert_eq!(ago(21), "3 weeks ago");
        assert_eq!(ago(7 * 8), "8 weeks ago");
        assert_eq!(ago(65), "2 months ago");
        assert_eq!(ago(400), "a year ago");
        assert_eq!(ago(-1), "tomorrow");
    }

    #[test]
    fn greet_falls_back_and_capitalises() {
        let t = "{{ a | greet }}|{{ b | greet(greeting=\"Hello\", fallback=\"friend\") }}|{{ c | greet }}";
        let mut tera = Tera::new();
        register(&mut tera);
        tera.add_raw_template("t.txt", t).unwrap();
        let mut ctx = tera::Context::new();
        ctx.insert("a", "alice");
        ctx.insert("c", "  ");
        assert_eq!(
            tera.render("t.txt", &ctx).unwrap(),
            "Hi Alice|Hello friend|Hi there"
        );
    }

    #[test]
    fn money_follows_the_locale() {
        let out = render(
            "{{ 1234.5 | money(currency=\"EUR\") }}",
            "UTC",
            "2026-01-01T00:00:00Z",
            "de-DE",
        );
        assert_eq!(out, "1.234,50\u{a0}€");
    }

    #[test]
    fn money_is_in_the_shop_currency_unless_told_otherwise() {
        let mut tera = Tera::new();
        register(&mut tera);
        let t = "{{ 12 | money }}|{{ 12 | money(currency=\"USD\") }}";
        tera.add_raw_template("t.txt", t).unwrap();
        let mut ctx = tera::Context::new();
        ctx.insert("locale", "en-GB");
        assert_eq!(
            tera.render("t.txt", &ctx).unwrap(),
            "$12.00|$12.00",
            "USD without [sender] currency"
        );
        ctx.insert("currency", "GBP");
        assert_eq!(tera.render("t.txt", &ctx).unwrap(), "£12.00|$12.00");
    }
}
