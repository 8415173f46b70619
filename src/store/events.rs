//! Event queries: behaviour (purchases, visits, …) and the engine's own `email.*` events.

use super::{Store, Tx};
use crate::timestamp::Timestamp;
use serde_json::{Map, Value};
use sqlx::types::Json;

/// An event to store. `fingerprint` makes re-imports idempotent: it hashes the source id when there is
/// one, else the kind, time, amount and properties; (customer, kind, time, fingerprint) is unique.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub customer_id: i64,
    pub kind: String,
    pub occurred_at: Timestamp,
    pub amount: Option<f64>,
    pub properties: Map<String, Value>,
    pub source_id: Option<String>,
    pub fingerprint: i64,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Event {
    pub id: i64,
    pub kind: String,
    pub occurred_at: Timestamp,
    pub amount: Option<f64>,
    pub properties: Json<Map<String, Value>>,
    pub source_id: Option<String>,
}

/// Rows per multi-row insert (8 parameters each).
const INSERT_CHUNK: usize = 1000;

impl Store {
    /// A customer's events, newest first (uses `events_customer_kind_time` through the customer prefix).
    pub async fn events_of_customer(
        &self,
        customer_id: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<Event>> {
        let sql = "SELECT id, kind, occurred_at, amount, properties, source_id FROM events \
                   WHERE customer_id = $1 ORDER BY occurred_at DESC, id DESC LIMIT $2";
        Ok(
            on_pool!(self, pool => sqlx::query_as(sql).bind(customer_id).bind(limit).fetch_all(pool).await)?,
        )
    }

    pub async fn count_events_of_customer(&self, customer_id: i64) -> anyhow::Result<i64> {
        let sql = "SELECT COUNT(*) FROM events WHERE customer_id = $1";
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql).bind(customer_id).fetch_one(pool).await)?)
    }

    pub async fn count_events(&self) -> anyhow::Result<i64> {
        let sql = "SELECT COUNT(*) FROM events";
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql).fetch_one(pool).await)?)
    }
}

/// Inserts events, skipping any already stored (same customer and fingerprint, or same source id).
/// Returns how many were new.
pub(crate) async fn insert_events(
    tx: &mut Tx,
    rows: &[NewEvent],
    now: Timestamp,
) -> anyhow::Result<u64> {
    let mut inserted = 0;
    for chunk in rows.chunks(INSERT_CHUNK) {
        let result = on_tx!(tx, conn => {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO events (customer_id, kind, occurred_at, amount, properties, source_id, fingerprint, \
                 recorded_at) ",
            );
            q.push_values(chunk, |mut b, e| {
                b.push_bind(e.customer_id)
                    .push_bind(&e.kind)
                    .push_bind(e.occurred_at)
                    .push_bind(e.amount)
                    .push_bind(Json(&e.properties))
                    .push_bind(&e.source_id)
                    .push_bind(e.fingerprint)
                    .push_bind(now);
            });
            q.push(" ON CONFLICT DO NOTHING");
            q.build().execute(&mut *conn).await.map(|r| r.rows_affected())
        })?;
        inserted += result;
    }
    Ok(inserted)
}

/// What the engine records about its own mail: `email.sent`, `email.bounced`, `email.opened`, …
#[derive(Debug, Clone, PartialEq)]
pub struct EngineEvent<'a> {
    pub customer_id: i64,
    pub kind: &'a str,
    pub delivery_id: i64,
    pub occurred_at: Timestamp,
    /// `{"campaign": …, "run": …}`; `"transactional": true` from a transactional campaign;
    /// `"uncertain": true` on the `email.sent` of a message whose reply was lost; for clicks, the link.
    pub properties: Map<String, Value>,
    /// Recorded at most once per delivery (sent, bounced), rather than once per occurrence (opens).
    pub once_per_delivery: bool,
}

/// Binds the columns `customer_id, kind, occurred_at, properties, fingerprint, delivery_id,
/// recorded_at` of an engine event, in that order (also for [`super::sent`]).
macro_rules! bind_engine_event {
    ($b:expr, $event:expr, $now:expr) => {
        $b.push_bind($event.customer_id)
            .push_bind($event.kind)
            .push_bind($event.occurred_at)
            .push_bind(Json(&$event.properties))
            .push_bind(engine_fingerprint($event))
            .push_bind($event.delivery_id)
            .push_bind($now)
    };
}

/// Records an event of the engine's own; returns whether it was new.
pub async fn record_engine_event(
    tx: &mut Tx,
    event: &EngineEvent<'_>,
    now: Timestamp,
) -> anyhow::Result<bool> {
    Ok(record_engine_events(tx, std::slice::from_ref(event), now).await? == 1)
}

/// Records events of the engine's own in one statement per thousand; returns how many were new.
pub async fn record_engine_events(
    tx: &mut Tx,
    events: &[EngineEvent<'_>],
    now: Timestamp,
) -> anyhow::Result<u64> {
    let mut inserted = 0;
    for chunk in events.chunks(INSERT_CHUNK) {
        inserted += on_tx!(tx, conn => {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO events (customer_id, kind, occurred_at, properties, fingerprint, delivery_id, recorded_at) ",
            );
            q.push_values(chunk, |mut b, event| {
                bind_engine_event!(b, event, now);
            });
            q.push(" ON CONFLICT DO NOTHING");
            q.build().execute(&mut *conn).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(inserted)
}

/// Kinds whose `topic` property is part of their identity: one save on the preferences page opts out
/// of (or back into) several topics of one delivery at the same instant, and each is an event.
const PER_TOPIC_KINDS: [&str; 2] = ["email.unsubscribed", "email.resubscribed"];

/// Identifies an engine event: its kind and delivery, its time unless it happens once per delivery,
/// and the topic of an opt-out. Other kinds keep the identity they always had, so re-recording one
/// still finds the fingerprint stored before.
pub(super) fn engine_fingerprint(event: &EngineEvent<'_>) -> i64 {
    let mut identity = format!("engine\0{}\0{}", event.kind, event.delivery_id);
    if !event.once_per_delivery {
        identity.push_str(&format!("\0{}", event.occurred_at.micros()));
    }
    if PER_TOPIC_KINDS.contains(&event.kind) {
        let topic = event.properties.get("topic").and_then(Value::as_str);
        identity.push_str(&format!("\0topic\0{}", topic.unwrap_or_default()));
    }
    fingerprint_of(&identity)
}

/// An event's `fingerprint` column: the first 8 bytes of the SHA-256 of what identifies it.
pub(crate) fn fingerprint_of(identity: &str) -> i64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(identity.as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// Marketing emails: `email.sent` events not marked `transactional` (the key is absent on them),
/// uncertain ones included (`"uncertain": true`: the relay had the whole message, so it most likely
/// arrived, and counting it is what keeps the weekly cap from being passed).
const MARKETING: &str = "kind = 'email.sent' AND properties->>'transactional' IS NULL";

/// How many marketing emails the customer was sent since `since` (the weekly cap counts these).
pub async fn emails_sent_since(
    tx: &mut Tx,
    customer_id: i64,
    since: Timestamp,
) -> anyhow::Result<i64> {
    let sql = format!(
        "SELECT COUNT(*) FROM events WHERE customer_id = $1 AND {MARKETING} AND occurred_at > $2"
    );
    Ok(
        on_tx!(tx, conn => sqlx::query_scalar(&sql).bind(customer_id).bind(since).fetch_one(&mut *conn).await)?,
    )
}

/// For each of `customer_ids` with any: how many marketing emails they were sent since `since`.
pub async fn emails_sent_since_many(
    tx: &mut Tx,
    customer_ids: &[i64],
    since: Timestamp,
) -> anyhow::Result<Vec<(i64, i64)>> {
    if customer_ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders = super::dispatch::placeholders(2, customer_ids.len());
    let sql = format!(
        "SELECT customer_id, COUNT(*) FROM events WHERE {MARKETING} AND occurred_at > $1 \
         AND customer_id IN ({placeholders}) GROUP BY customer_id"
    );
    Ok(on_tx!(tx, conn => {
        let mut query = sqlx::query_as(&sql).bind(since);
        for id in customer_ids {
            query = query.bind(*id);
        }
        query.fetch_all(&mut *conn).await
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<'a>(kind: &'a str, topic: Option<&str>, once_per_delivery: bool) -> EngineEvent<'a> {
        let mut properties = Map::new();
        if let Some(topic) = topic {
            properties.insert("topic".into(), topic.into());
        }
        EngineEvent {
            customer_id: 1,
            kind,
            delivery_id: 42,
            occurred_at: Timestamp::from_micros(1_700_000_000_000_000).unwrap(),
            properties,
            once_per_delivery,
        }
    }

    #[test]
    fn other_kinds_keep_the_identity_stored_events_have() {
        let sent = event("email.sent", None, true);
        let opened = event("email.opened", None, false);

        assert_eq!(
            engine_fingerprint(&sent),
            fingerprint_of(&["engine", "email.sent", "42"].join("\0"))
        );
        assert_eq!(
            engine_fingerprint(&opened),
            fingerprint_of(&["engine", "email.opened", "42", "1700000000000000"].join("\0"))
        );
    }

    #[test]
    fn opt_outs_of_two_topics_at_once_are_two_events() {
        for kind in PER_TOPIC_KINDS {
            let news = event(kind, Some("news"), false);
            let offers = event(kind, Some("offers"), false);

            assert_ne!(engine_fingerprint(&news), engine_fingerprint(&offers));
            let again = event(kind, Some("news"), false);
            assert_eq!(engine_fingerprint(&news), engine_fingerprint(&again));
        }
    }
}
