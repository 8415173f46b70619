//! Recording sent messages, the hot path of the ledger writer: for each message, its delivery marked
//! `sent` (only while the attempt's lease is still held), its tracked links, and its `email.sent`
//! event, committed together.
//!
//! On SQLite the transaction runs on a blocking thread, through rusqlite, on the store's own
//! connection (see `Store::write_own`): one hand-over between threads each way per commit, and
//! each statement prepared once. PostgreSQL runs three statements in a transaction, each for the
//! whole group; the links and the event are written only for deliveries that the first statement
//! marked, which the later two find by the send time it wrote.

use super::db::Db;
use super::deliveries::Claimed;
use super::events::{EngineEvent, engine_fingerprint};
use super::links::LINKS_PER_INSERT;
use super::{Store, Tx};
use crate::timestamp::Timestamp;
use anyhow::Context as _;
use sqlx::types::Json;

/// One message that left, with what must be recorded of it.
pub struct SentMessage<'a> {
    pub claim: &'a Claimed,
    /// When it was sent: the delivery's `sent_at`, and the event's time.
    pub at: Timestamp,
    pub links: &'a [String],
    /// Its `email.sent` event.
    pub event: EngineEvent<'a>,
}

/// Messages per transaction: a group commit holds one message per worker, so this only bounds the
/// number of bound values of one statement in a very wide send.
const CHUNK: usize = 100;

/// Marks the deliveries of `messages` sent, `(id, lease held, sent at)` as VALUES.
macro_rules! push_mark_sent {
    ($q:expr, $messages:expr) => {{
        // `v.column1…` name the columns of a VALUES list on both databases.
        $q.push(
            "UPDATE deliveries SET status = 'sent', reason = NULL, last_error = NULL, sent_at = v.column3, \
             lease_until = NULL, updated_at = v.column3 FROM (",
        );
        $q.push_values($messages, |mut b, m| {
            b.push_bind(m.claim.id).push_bind(m.claim.lease_until).push_bind(m.at);
        });
        $q.push(
            ") AS v WHERE deliveries.id = v.column1 AND deliveries.status = 'sending' \
             AND deliveries.lease_until = v.column2 RETURNING deliveries.id",
        );
    }};
}

/// Stores the links, `(delivery, position, url, sent at)`, of the deliveries marked sent.
macro_rules! push_links {
    ($q:expr, $links:expr) => {{
        $q.push("INSERT INTO message_links (delivery_id, position, url) SELECT v.column1, v.column2, v.column3 FROM (");
        $q.push_values($links, |mut b, (delivery_id, position, url, at)| {
            b.push_bind(*delivery_id).push_bind(*position).push_bind(*url).push_bind(*at);
        });
        $q.push(
            ") AS v WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = v.column1 AND d.status = 'sent' \
             AND d.sent_at = v.column4) ON CONFLICT DO NOTHING",
        );
    }};
}

/// Records the `email.sent` events of the deliveries marked sent.
macro_rules! push_events {
    ($q:expr, $messages:expr, $now:expr) => {{
        $q.push(
            "INSERT INTO events (customer_id, kind, occurred_at, properties, fingerprint, delivery_id, recorded_at) \
             SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7 FROM (",
        );
        $q.push_values($messages, |mut b, m| {
            bind_engine_event!(b, &m.event, $now).push_bind(m.at);
        });
        $q.push(
            ") AS v WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = v.column6 AND d.status = 'sent' \
             AND d.sent_at = v.column8) ON CONFLICT DO NOTHING",
        );
    }};
}

/// Records `messages` as sent, committing before it returns; returns the ids of the deliveries whose
/// lease was still held (the others had been taken over by another sender, whose outcome stands).
/// On SQLite it writes through the store's own connection (`Store::write_own`): one hand-over to a
/// blocking thread and back per commit, while the workers wait for this commit before they deliver
/// their next message.
pub async fn record_sent(
    store: &Store,
    messages: &[SentMessage<'_>],
    now: Timestamp,
) -> anyhow::Result<Vec<i64>> {
    let mut held = Vec::with_capacity(messages.len());
    for chunk in messages.chunks(CHUNK) {
        let ids = match &store.db {
            Db::Sqlite(_) => {
                let rows: Vec<SentRow> = chunk.iter().map(SentRow::of).collect();
                store
                    .write_own(move |tx| record_rows(tx, &rows, now.micros()))
                    .await
                    .context("cannot record the messages sent")?
            }
            Db::Postgres(_) => {
                let mut tx = store.begin().await?;
                let ids = record_statements(&mut tx, chunk, now).await?;
                tx.commit().await?;
                ids
            }
        };
        held.extend(ids);
    }
    Ok(held)
}

/// What the recording thread writes of one message, owned.
struct SentRow {
    id: i64,
    lease_until: i64,
    at: i64,
    links: Vec<String>,
    customer_id: i64,
    kind: String,
    occurred_at: i64,
    properties: String,
    fingerprint: i64,
    delivery_id: i64,
}

impl SentRow {
    fn of(m: &SentMessage<'_>) -> SentRow {
        SentRow {
            id: m.claim.id,
            lease_until: m.claim.lease_until.micros(),
            at: m.at.micros(),
            links: m.links.to_vec(),
            customer_id: m.event.customer_id,
            kind: m.event.kind.to_string(),
            occurred_at: m.event.occurred_at.micros(),
            properties: serde_json::Value::Object(m.event.properties.clone()).to_string(),
            fingerprint: engine_fingerprint(&m.event),
            delivery_id: m.event.delivery_id,
        }
    }
}

/// SQLite: marks each delivery sent while its lease is held, then stores its links and its event,
/// in the caller's transaction.
fn record_rows(
    tx: &rusqlite::Transaction<'_>,
    rows: &[SentRow],
    now: i64,
) -> rusqlite::Result<Vec<i64>> {
    let mut held = Vec::with_capacity(rows.len());
    {
        let mut mark = tx.prepare_cached(
            "UPDATE deliveries SET status = 'sent', reason = NULL, last_error = NULL, sent_at = ?3, \
             lease_until = NULL, updated_at = ?3 WHERE id = ?1 AND status = 'sending' AND lease_until = ?2",
        )?;
        let mut link = tx.prepare_cached(
            "INSERT INTO message_links (delivery_id, position, url) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        )?;
        let mut event = tx.prepare_cached(
            "INSERT INTO events (customer_id, kind, occurred_at, properties, fingerprint, delivery_id, recorded_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
        )?;
        for row in rows {
            if mark.execute(rusqlite::params![row.id, row.lease_until, row.at])? == 0 {
                continue;
            }
            for (position, url) in row.links.iter().enumerate() {
                link.execute(rusqlite::params![row.id, position as i64, url])?;
            }
            event.execute(rusqlite::params![
                row.customer_id,
                row.kind,
                row.occurred_at,
                row.properties,
                row.fingerprint,
                row.delivery_id,
                now
            ])?;
            held.push(row.id);
        }
    }
    Ok(held)
}

/// `(delivery, position, url, sent at)` for every link of `messages`.
fn links_of<'m>(messages: &'m [SentMessage<'_>]) -> Vec<(i64, i32, &'m str, Timestamp)> {
    messages
        .iter()
        .flat_map(|m| {
            m.links
                .iter()
                .enumerate()
                .map(move |(position, url)| (m.claim.id, position as i32, url.as_str(), m.at))
        })
        .collect()
}

/// PostgreSQL: the three statements in the caller's transaction.
async fn record_statements(
    tx: &mut Tx,
    messages: &[SentMessage<'_>],
    now: Timestamp,
) -> anyhow::Result<Vec<i64>> {
    let links = links_of(messages);
    let held = on_tx!(tx, conn => {
        let mut q = sqlx::QueryBuilder::new("");
        push_mark_sent!(q, messages);
        let held: Vec<i64> = q.build_query_scalar().fetch_all(&mut *conn).await?;
        for links in links.chunks(LINKS_PER_INSERT) {
            let mut q = sqlx::QueryBuilder::new("");
            push_links!(q, links);
            q.build().execute(&mut *conn).await?;
        }
        let mut q = sqlx::QueryBuilder::new("");
        push_events!(q, messages, now);
        q.build().execute(&mut *conn).await?;
        Ok::<_, sqlx::Error>(held)
    })?;
    Ok(held)
}
