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

/// The reason an existing suppression of `email_key` for `topic` was recorded, if there is one.
pub async fn suppression_reason(
    tx: &mut Tx,
    email_key: &str,
    topic: &str,
) -> anyhow::Result<Option<String>> {
    let sql = "SELECT reason FROM suppressions WHERE email_key = $1 AND topic = $2";
    Ok(
        on_tx!(tx, conn => sqlx::query_scalar(sql).bind(email_key).bind(topic).fetch_optional(&mut *conn).await)?,
    )
}
