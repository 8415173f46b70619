//! The tracked links of each message, by position, written before the message is sent so that a
//! click can always be redirected, and only to a link the message itself contained.

use super::{Store, Tx};

/// Stores the links of `delivery_id` (a resend carries the same links: nothing changes then).
pub async fn record_links(tx: &mut Tx, delivery_id: i64, links: &[String]) -> anyhow::Result<()> {
    for (position, url) in links.iter().enumerate() {
        let sql = "INSERT INTO message_links (delivery_id, position, url) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
        on_tx!(tx, conn => {
            sqlx::query(sql).bind(delivery_id).bind(position as i32).bind(url).execute(&mut *conn).await.map(|_| ())
        })?;
    }
    Ok(())
}

impl Store {
    /// The URL at `position` in the message of `delivery_id`, if that message had one there.
    pub async fn message_link(
        &self,
        delivery_id: i64,
        position: i32,
    ) -> anyhow::Result<Option<String>> {
        let sql = "SELECT url FROM message_links WHERE delivery_id = $1 AND position = $2";
        Ok(
            on_pool!(self, pool => sqlx::query_scalar(sql).bind(delivery_id).bind(position).fetch_optional(pool).await)?,
        )
    }
}
