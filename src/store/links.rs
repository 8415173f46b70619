//! The tracked links of each message, by position, written with the message's outcome, so that a
//! click can always be redirected, and only to a link the message itself contained.

use super::{Store, Tx};

/// Stores the links of `delivery_id` (a resend carries the same links: nothing changes then). The
/// ledger writer stores the links of sent messages with their outcome ([`super::sent`]); this is
/// for the other attempts recorded one by one.
pub async fn record_links(tx: &mut Tx, delivery_id: i64, links: &[String]) -> anyhow::Result<()> {
    let positions: Vec<(usize, &String)> = links.iter().enumerate().collect();
    for chunk in positions.chunks(LINKS_PER_INSERT) {
        on_tx!(tx, conn => {
            let mut q = sqlx::QueryBuilder::new("INSERT INTO message_links (delivery_id, position, url) ");
            q.push_values(chunk, |mut b, (position, url)| {
                b.push_bind(delivery_id).push_bind(*position as i32).push_bind(url.as_str());
            });
            q.push(" ON CONFLICT DO NOTHING");
            q.build().execute(&mut *conn).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// Links per INSERT statement (at most 4 bound values each): a message may have thousands of links,
/// and SQLite takes at most 32,766 values in one statement.
pub(super) const LINKS_PER_INSERT: usize = 1000;

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
