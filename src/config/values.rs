//! Value types of `rapport.toml`, each parsed from its text form with an error message that says what
//! a valid value looks like. serde attaches the span of the value, so errors point at it.

use serde::Deserialize;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A name used in files and commands: lower-case letters, digits, `_` and `-`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Identifier(String);

parsed_from_string!(Identifier, |raw: String| {
    let ok = raw.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(Identifier(raw))
    } else {
        Err(format!(
            "{raw:?} is not a valid name: use lower-case letters, digits, `_` and `-`, starting with a letter"
        ))
    }
});

impl Identifier {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Text that must not be blank (the postal address, for instance).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct NonEmpty(String);

parsed_from_string!(NonEmpty, |raw: String| {
    if raw.trim().is_empty() {
        Err("must not be empty".to_string())
    } else {
        Ok(NonEmpty(raw.trim().to_string()))
    }
});

/// The shop's currency, an ISO 4217 code such as `EUR`: what `money` writes amounts in.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Currency(String);

parsed_from_string!(Currency, |raw: String| {
    let code = raw.trim().to_ascii_uppercase();
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(Currency(code))
    } else {
        Err(format!(
            "{raw:?} is not a currency code: use three letters (ISO 4217), such as \"EUR\" or \"GBP\""
        ))
    }
});

impl Default for Currency {
    fn default() -> Self {
        Currency("USD".to_string())
    }
}

impl Currency {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl NonEmpty {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `Name <address@domain>` or a bare address, parsed by lettre.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct SenderMailbox(pub lettre::message::Mailbox);

parsed_from_string!(SenderMailbox, |raw: String| {
    let mailbox = lettre::message::Mailbox::from_str(raw.trim()).map_err(|_| {
        format!("{raw:?} is not a sender address: write it as \"Shop Name <hello@shop.example>\"")
    })?;
    crate::domain::EmailAddress::parse(mailbox.email.as_ref()).map_err(|e| e.to_string())?;
    Ok(SenderMailbox(mailbox))
});

/// Where the customer tables live.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct DatabaseUrl(String);

parsed_from_string!(DatabaseUrl, DatabaseUrl::parse);

impl DatabaseUrl {
    pub fn parse(raw: String) -> Result<Self, String> {
        let url = raw.trim().to_string();
        if url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://")
        {
            Ok(DatabaseUrl(url))
        } else {
            Err(format!(
                "{:?} is not a database URL: use sqlite://rapport.db or postgres://user@host/db",
                redact_url(&url)
            ))
        }
    }

    pub fn default_sqlite() -> Self {
        DatabaseUrl("sqlite://rapport.db".to_string())
    }

    /// The URL itself, password included: pass it to the driver, never to a log.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_postgres(&self) -> bool {
        !self.0.starts_with("sqlite:")
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", redact_url(&self.0))
    }
}

impl fmt::Display for DatabaseUrl {
    /// Printable: any password is replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

/// `scheme://user:password@host` → `scheme://user:***@host`; a URL that does not parse loses
/// everything between `://` and `@`, where a password could be.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_string(),
        Err(_) => match (url.find("://"), url.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                format!("{}***{}", &url[..scheme_end + 3], &url[at..])
            }
            _ => url.to_string(),
        },
    }
}

/// A value that must never be printed: the tracking secret, the SMTP URL with its password.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Secret(String);

parsed_from_string!(Secret, |raw: String| Ok::<_, String>(Secret(raw)));

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The public base URL of tracking links: https, or http for a server on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct BaseUrl(url::Url);

parsed_from_string!(BaseUrl, |raw: String| {
    let url = url::Url::parse(raw.trim())
        .map_err(|e| format!("{raw:?} is not a URL ({e}): write https://mail.yourshop.example"))?;
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => Ok(BaseUrl(url)),
        "http" if local => Ok(BaseUrl(url)),
        "http" => Err(format!(
            "{raw:?} uses plain http: one-click unsubscribe (RFC 8058) needs https; http is allowed only for localhost"
        )),
        other => Err(format!(
            "{raw:?} has scheme {other:?}: tracking links need https"
        )),
    }
});

impl BaseUrl {
    pub fn as_url(&self) -> &url::Url {
        &self.0
    }
}

/// How many messages may be in flight at once (1 to 256).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct Concurrency(pub u16);

impl TryFrom<i64> for Concurrency {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, String> {
        match u16::try_from(n) {
            Ok(n @ 1..=256) => Ok(Concurrency(n)),
            _ => Err(format!("concurrency must be between 1 and 256, not {n}")),
        }
    }
}

impl Default for Concurrency {
    fn default() -> Self {
        Concurrency(8)
    }
}

/// `N/unit`: at most N messages per second, minute, hour or day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

parsed_from_string!(Rate, |raw: String| {
    let bad = || {
        format!(
            "{raw:?} is not a rate: write it as \"20/s\", \"40/min\", \"2000/hour\" or \"5000/day\""
        )
    };
    let (count, unit) = raw.split_once('/').ok_or_else(bad)?;
    let count: u32 = count
        .trim()
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(bad)?;
    let seconds = match unit.trim() {
        "s" | "sec" | "second" => 1,
        "min" | "minute" => 60,
        "h" | "hour" => 3600,
        "d" | "day" => 86_400,
        _ => return Err(bad()),
    };
    Ok(Rate {
        count,
        per: Duration::from_secs(seconds),
    })
});

/// Zero or more rates that must all hold; empty means unlimited. Written as one string or a list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rates(pub Vec<Rate>);

impl<'de> Deserialize<'de> for Rates {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Rates;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a rate such as \"20/s\", or a list of them")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Rates, E> {
                Rate::try_from(text.to_string())
                    .map(|r| Rates(vec![r]))
                    .map_err(E::custom)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Rates, A::Error> {
                let mut rates = Vec::new();
                while let Some(rate) = seq.next_element::<Rate>()? {
                    rates.push(rate);
                }
                Ok(Rates(rates))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// An IANA time zone (`America/Los_Angeles`); UTC by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct TimeZone(pub chrono_tz::Tz);

parsed_from_string!(TimeZone, |raw: String| crate::domain::parse_timezone(&raw)
    .map(TimeZone));

impl Default for TimeZone {
    fn default() -> Self {
        TimeZone(chrono_tz::UTC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_like_provider_limits() {
        let r = Rate::try_from("40/min".to_string()).unwrap();
        assert_eq!((r.count, r.per), (40, Duration::from_secs(60)));
        assert!(Rate::try_from("fast".to_string()).is_err());
        assert!(Rate::try_from("0/s".to_string()).is_err());
    }

    #[test]
    fn urls_never_print_passwords() {
        let url = DatabaseUrl::parse("postgres://app:hunter2@db.example/shop".to_string()).unwrap();
        assert_eq!(url.to_string(), "postgres://app:***@db.example/shop");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(
            format!("{:?}", Secret::new("hunter2".into())),
            "Secret(***)"
        );
    }

    #[test]
    fn plain_http_tracking_only_on_localhost() {
        assert!(BaseUrl::try_from("http://localhost:8080".to_string()).is_ok());
        assert!(BaseUrl::try_from("http://mail.shop.example".to_string()).is_err());
        assert!(BaseUrl::try_from("https://mail.shop.example".to_string()).is_ok());
    }
}
