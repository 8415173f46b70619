//! The lookups and writes of the tracking server: who a delivery was for, which campaign and run it
//! belonged to, and a customer's topic opt-outs. Every write the server makes (an event, and for an
//! unsubscribe the suppression with it) goes through one transaction the caller commits.

use super::{Store, Tx};

/// What the tracking server needs to know about one delivery.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TrackedDelivery {
    pub delivery_id: i64,
    pub run_id: i64,
    pub customer_id: i64,
    pub email: String,
    pub email_key: String,
    pub first_name: Option<String>,
    /// The campaign's name (its topic comes from `rapport.toml`).
    pub campaign: String,
}

impl Store {
    /// The delivery `delivery_id` with its customer and campaign, if it exists.
    pub async fn tracked_delivery(
        &self,
        delivery_id: i64,
    ) -> anyhow::Result<Option<TrackedDelivery>> {
        let sql = "SELECT d.id AS delivery_id, d.run_id, d.customer_id, c.email, c.email_key, c.first_name, \
                   k.name AS campaign FROM deliveries d JOIN customers c ON c.id = d.customer_id \
                   JOIN runs r ON r.id = d.run_id JOIN campaigns k ON k.id = r.campaign_id WHERE d.id = $1";
        Ok(
            on_pool!(self, pool => sqlx::query_as(sql).bind(delivery_id).fetch_optional(pool).await)?,
        )
    }

    /// The topics `email_key` is suppressed for (`*` for everything), sorted.
    pub async fn suppressed_topics(&self, email_key: &str) -> anyhow::Result<Vec<String>> {
        let sql = "SELECT topic FROM suppressions WHERE email_key = $1 ORDER BY topic";
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql).bind(email_key).fetch_all(pool).await)?)
    }
}

/// Suppresses `email_key` for `topic` as an unsubscribe unless it already is; returns whether this
/// call added it. Two requests racing for the same address both run the insert, and the unique key
/// lets exactly one of them add the row (on PostgreSQL the second waits for the first to commit).
pub async fn add_unsubscribe(
    tx: &mut Tx,
    email_key: &str,
    topic: &str,
    detail: &str,
    now: crate::timestamp::Timestamp,
) -> anyhow::Result<bool> {
    let sql = "INSERT INTO suppressions (email_key, topic, reason, detail, created_at) \
               VALUES ($1, $2, 'unsubscribe', $3, $4) ON CONFLICT (email_key, topic) DO NOTHING";
    let added = on_tx!(tx, conn => {
        sqlx::query(sql).bind(email_key).bind(topic).bind(detail).bind(now).execute(&mut *conn).await.map(|r| r.rows_affected())
    })?;
    Ok(added == 1)
}

/// Lifts the suppression of `email_key` for `topic` if an unsubscribe made it (a bounce or a
/// complaint stays); returns whether this call lifted it.
pub async fn remove_unsubscribe(tx: &mut Tx, email_key: &str, topic: &str) -> anyhow::Result<bool> {
    let sql =
        "DELETE FROM suppressions WHERE email_key = $1 AND topic = $2 AND reason = 'unsubscribe'";
    let removed = on_tx!(tx, conn => {
        sqlx::query(sql).bind(email_key).bind(topic).execute(&mut *conn).await.map(|r| r.rows_affected())
    })?;
    Ok(removed > 0)
}

/// Records an unsubscribe the owner received another way (a reply, a mailto `List-Unsubscribe`, a
/// phone call): `email_key` is suppressed for `topic` (`*` for everything) as an unsubscribe, which
/// the customer can lift from the preferences page, with an `email.unsubscribed` event (`via`
/// `manual`, no delivery) for segments. Returns false, and writes nothing, if it already was.
pub async fn unsubscribe_by_hand(
    tx: &mut Tx,
    customer_id: i64,
    email_key: &str,
    topic: &str,
    now: crate::timestamp::Timestamp,
) -> anyhow::Result<bool> {
    if !add_unsubscribe(
        tx,
        email_key,
        topic,
        "manual: rapport customer --unsubscribe",
        now,
    )
    .await?
    {
        return Ok(false);
    }
    let mut properties = serde_json::Map::new();
    properties.insert("topic".into(), topic.into());
    properties.insert("via".into(), "manual".into());
    let fingerprint = super::events::fingerprint_of(&format!(
        "manual\0email.unsubscribed\0{topic}\0{}",
        now.micros()
    ));
    let event = super::NewEvent {
        customer_id,
        kind: "email.unsubscribed".to_string(),
        occurred_at: now,
        amount: None,
        properties,
        source_id: None,
        fingerprint,
    };
    super::events::insert_events(tx, &[event], now).await?;
    Ok(true)
}
