//! `Timestamp`: the one instant type of the engine, always UTC, to the microsecond.
//!
//! PostgreSQL stores it as `timestamptz`; SQLite as an `INTEGER` of microseconds since the Unix epoch,
//! which compares and indexes as fast as a number can (segment windows are range scans on it) and
//! round-trips exactly the same instants as PostgreSQL does.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SubsecRound, TimeZone, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef, Postgres};
use sqlx::sqlite::{Sqlite, SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Type};
use std::fmt;

/// A UTC instant with microsecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// 1970-01-01 00:00 UTC: the key of a triggered campaign's one run.
    pub const EPOCH: Timestamp = Timestamp(DateTime::UNIX_EPOCH);

    /// Now, truncated to the microsecond like everything the databases store.
    pub fn now() -> Self {
        Timestamp::from(Utc::now())
    }

    pub fn from_micros(micros: i64) -> Option<Self> {
        DateTime::from_timestamp_micros(micros).map(Timestamp)
    }

    pub fn micros(self) -> i64 {
        self.0.timestamp_micros()
    }

    pub fn datetime(self) -> DateTime<Utc> {
        self.0
    }

    /// Parses what owners put in files: RFC 3339 (`2026-03-01T14:30:00+01:00`), a date and time without
    /// offset (`2026-03-01 14:30:00`, taken as UTC), or a date (`2026-03-01`, midnight UTC).
    pub fn parse_flexible(raw: &str) -> Result<Self, String> {
        let text = raw.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Ok(Timestamp::from(t.with_timezone(&Utc)));
        }
        for format in [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M",
        ] {
            if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
                return Ok(Timestamp::from(Utc.from_utc_datetime(&t)));
            }
        }
        if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(Timestamp::from(
                Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight")),
            ));
        }
        Err(format!(
            "{text:?} is not a date: write 2026-03-01 or 2026-03-01T14:30:00Z"
        ))
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Self {
        Timestamp(t.trunc_subsecs(6))
    }
}

impl fmt::Display for Timestamp {
    /// `2026-03-01 14:30 UTC`: what an owner reads in tables.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d %H:%M UTC"))
    }
}

impl Type<Sqlite> for Timestamp {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Timestamp {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<Sqlite>>::encode(self.micros(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Timestamp {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let micros = <i64 as Decode<Sqlite>>::decode(value)?;
        Timestamp::from_micros(micros)
            .ok_or_else(|| format!("timestamp out of range: {micros}").into())
    }
}

impl Type<Postgres> for Timestamp {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <DateTime<Utc> as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for Timestamp {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <DateTime<Utc> as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Timestamp {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        <DateTime<Utc> as Decode<Postgres>>::decode(value).map(Timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_formats_owners_use() {
        let day = Timestamp::parse_flexible("2026-03-01").unwrap();
        assert_eq!(day.to_string(), "2026-03-01 00:00 UTC");
        let offset = Timestamp::parse_flexible("2026-03-01T14:30:00+01:00").unwrap();
        assert_eq!(offset.to_string(), "2026-03-01 13:30 UTC");
        let naive = Timestamp::parse_flexible("2026-03-01 14:30:00").unwrap();
        assert_eq!(naive.to_string(), "2026-03-01 14:30 UTC");
        assert!(Timestamp::parse_flexible("03/01/2026").is_err());
        assert!(Timestamp::parse_flexible("2026-02-30").is_err());
    }

    #[test]
    fn keeps_microseconds() {
        let t = Timestamp::parse_flexible("2026-03-01T14:30:00.1234567Z").unwrap();
        assert_eq!(Timestamp::from_micros(t.micros()), Some(t));
        assert_eq!(t.micros() % 1_000_000, 123_456);
    }
}
