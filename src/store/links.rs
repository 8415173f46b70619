//! The tracked links of each message, by position, written before the message is sent so that a
//! click can always be redirected, and only to a link the message itself contained.

use super::{Store, Tx};

/// Stores the links of `delivery_id` (a resend carries the same links: nothing changes then).
pub async fn record_links(tx: &mut Tx, delivery_id: i64, links: &[String]) -> anyhow::Result<()> {
    record_links_of_many(tx, &[(delivery_id, links)]).await
}

/// Rows per multi-row insert (3 parameters each).
const INSERT_CHUNK: usize = 1000;

/// Stores the links of several messages, `(delivery_id, links)`, in one statement per thousand links.
pub async fn record_links_of_many(
    tx: &mut Tx,
    messages: &[(i64, &[String])],
) -> anyhow::Result<()> {
    let rows: Vec<(i64, i32, &str)> = messages
        .iter()
        .flat_map(|(delivery_id, links)| {
            links
                .iter()
                .enumerate()
                .map(move |(position, url)| (*delivery_id, position as i32, url.as_str()))
        })
        .collect();
    for chunk in rows.chunks(INSERT_CHUNK) {
        on_tx!(tx, conn => {
            let mut q = sqlx::QueryBuilder::new("INSERT INTO message_links (delivery_id, position, url) ");
            q.push_values(chunk, |mut b, (delivery_id, position, url)| {
                b.push_bind(*delivery_id).push_bind(*position).push_bind(*url);
            });
            q.push(" ON CONFLICT DO NOTHING");
            q.build().execute(&mut *conn).await.map(|_| ())
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
