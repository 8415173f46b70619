//! The per-recipient context: everything a template may read about one customer, built from a stored
//! [`Customer`] and their behaviour [`Summary`] (fetched for a whole batch in one query).
//!
//! Optional values that are unknown (no first name, no purchase yet) are *absent*, never empty
//! strings or nulls: `default(value=…)` and `is defined` then work, and a template that prints one
//! without a fallback fails `rapport check` instead of sending a blank. Instants are RFC 3339 strings
//! in UTC, except `now`, which carries the customer's own offset. docs/templates.md lists every field.

use crate::store::{Customer, Purchase, Summary};
use crate::timestamp::Timestamp;
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::Value as Json;
use tera::{Context, Map, Value};

/// The locale of customers who have none.
pub const DEFAULT_LOCALE: &str = "en";

/// What is the same for every recipient of one campaign.
#[derive(Debug, Clone)]
pub struct Shared {
    sender: Value,
    currency: Value,
    campaign: Value,
    default_zone: Tz,
}

/// The links that carry the recipient's signed tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Links {
    pub unsubscribe_url: String,
    pub preferences_url: String,
}

/// The sender as templates see it.
#[derive(Debug, Clone)]
pub struct Sender<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub postal_address: &'a str,
    /// `[sender] currency`, the default of the `money` filter.
    pub currency: &'a str,
}

impl Shared {
    pub fn new(sender: &Sender, campaign: &str, topic: &str, default_zone: Tz) -> Shared {
        let mut s = Map::new();
        s.insert("name".into(), sender.name.into());
        s.insert("email".into(), sender.email.into());
        s.insert("postal_address".into(), sender.postal_address.into());
        s.insert("currency".into(), sender.currency.into());
        let mut c = Map::new();
        c.insert("name".into(), campaign.into());
        c.insert("topic".into(), topic.into());
        Shared {
            currency: sender.currency.into(),
            sender: Value::from(s),
            campaign: Value::from(c),
            default_zone,
        }
    }

    /// The context for one recipient at `now`.
    pub fn context(
        &self,
        customer: &Customer,
        summary: &Summary,
        links: &Links,
        now: Timestamp,
    ) -> Context {
        let zone = customer
            .timezone
            .as_deref()
            .and_then(|z| z.parse::<Tz>().ok())
            .unwrap_or(self.default_zone);
        let locale = customer
            .locale
            .as_deref()
            .filter(|l| !l.trim().is_empty())
            .unwrap_or(DEFAULT_LOCALE);
        let mut ctx = Context::new();
        ctx.insert_value("customer", customer_value(customer, zone, locale));
        ctx.insert_value("summary", summary_value(summary, now));
        ctx.insert_value("campaign", self.campaign.clone());
        ctx.insert_value("sender", self.sender.clone());
        let mut l = Map::with_capacity(2);
        l.insert(
            "unsubscribe_url".into(),
            links.unsubscribe_url.as_str().into(),
        );
        l.insert(
            "preferences_url".into(),
            links.preferences_url.as_str().into(),
        );
        ctx.insert_value("links", Value::from(l));
        let local_now = now.datetime().with_timezone(&zone);
        ctx.insert_value(
            "now",
            local_now.to_rfc3339_opts(SecondsFormat::Secs, true).into(),
        );
        ctx.insert_value("zone", zone.name().into());
        ctx.insert_value("locale", locale.into());
        ctx.insert_value("currency", self.currency.clone());
        ctx
    }
}

/// A customer with every optional field empty: what `check` renders to find missing fallbacks.
pub fn synthetic_customer() -> Customer {
    Customer {
        id: 0,
        email: "someone@example.com".into(),
        email_key: "someone@example.com".into(),
        first_name: None,
        last_name: None,
        timezone: None,
        locale: None,
        attributes: sqlx::types::Json(serde_json::Map::new()),
        status: "active".into(),
        created_at: Timestamp::EPOCH,
        updated_at: Timestamp::EPOCH,
    }
}

fn customer_value(c: &Customer, zone: Tz, locale: &str) -> Value {
    let mut m = Map::with_capacity(10);
    m.insert("email".into(), c.email.as_str().into());
    let first = present(&c.first_name);
    let last = present(&c.last_name);
    if let Some(first) = first {
        m.insert("first_name".into(), first.into());
    }
    if let Some(last) = last {
        m.insert("last_name".into(), last.into());
    }
    if first.is_some() || last.is_some() {
        let full = [first, last]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        m.insert("full_name".into(), full.into());
    }
    m.insert("timezone".into(), zone.name().into());
    m.insert("locale".into(), locale.into());
    m.insert(
        "customer_since".into(),
        rfc3339(c.created_at.datetime()).into(),
    );
    let attributes: Map = c
        .attributes
        .0
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone().into(), json_value(v)))
        .collect();
    m.insert("attributes".into(), Value::from(attributes));
    Value::from(m)
}

fn summary_value(s: &Summary, now: Timestamp) -> Value {
    let mut m = Map::with_capacity(10);
    m.insert("purchases".into(), s.purchases.into());
    m.insert("total_spent".into(), s.total_spent.into());
    if let Some(last) = s.last_purchase() {
        m.insert(
            "last_purchase_at".into(),
            rfc3339(last.occurred_at.datetime()).into(),
        );
        if let Some(amount) = last.amount {
            m.insert("last_purchase_amount".into(), amount.into());
        }
    }
    if let Some(category) = &s.favourite_category {
        m.insert("favourite_category".into(), category.as_str().into());
    }
    if let Some(visit) = s.last_visit_at {
        m.insert("last_visit_at".into(), rfc3339(visit.datetime()).into());
        let days = (now.datetime() - visit.datetime()).num_days().max(0);
        m.insert("days_since_last_visit".into(), days.into());
    }
    if let Some(opened) = s.last_email_opened_at {
        m.insert(
            "last_email_opened_at".into(),
            rfc3339(opened.datetime()).into(),
        );
    }
    let recent: Vec<Value> = s.recent_purchases.iter().map(purchase_value).collect();
    m.insert("recent_purchases".into(), Value::from(recent));
    Value::from(m)
}

/// A purchase: its properties (`category`, `item`, … as imported), plus `at` and `amount`.
fn purchase_value(p: &Purchase) -> Value {
    let mut m: Map = p
        .properties
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone().into(), json_value(v)))
        .collect();
    m.insert("at".into(), rfc3339(p.occurred_at.datetime()).into());
    if let Some(amount) = p.amount {
        m.insert("amount".into(), amount.into());
    }
    Value::from(m)
}

fn present(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn rfc3339(t: DateTime<Utc>) -> String {
    super::instant::format_utc(t)
}

/// A JSON value as a Tera value, without a serde round trip.
fn json_value(v: &Json) -> Value {
    match v {
        Json::Null => Value::none(),
        Json::Bool(b) => (*b).into(),
        Json::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().unwrap_or(0.0).into(),
        },
        Json::String(s) => s.as_str().into(),
        Json::Array(items) => Value::from(items.iter().map(json_value).collect::<Vec<_>>()),
        Json::Object(map) => Value::from(
            map.iter()
                .map(|(k, v)| (k.clone().into(), json_value(v)))
                .collect::<Map>(),
        ),
    }
}
