//! Recording sent messages, the hot path of the ledger writer: for each message, its delivery marked
//! `sent` (only while the attempt's lease is still held), its tracked links, and its `email.sent`
//! event, committed together.
//!
//! On SQLite the whole transaction goes to the connection as one script, `BEGIN IMMEDIATE; …;
//! COMMIT`: every statement is a trip to the connection's own thread and back, and on a busy
//! two-core machine each trip costs about as much as the statement itself, while the workers wait
//! for this commit before they deliver their next message. PostgreSQL runs the same three
//! statements one by one in a transaction (its prepared statements hold one command each). The
//! links and the event are written only for deliveries that the first statement marked, which the
//! later two find by the send time it wrote.

use super::db::Db;
use super::deliveries::Claimed;
use super::events::{EngineEvent, engine_fingerprint};
use super::links::LINKS_PER_INSERT;
use super::{Store, Tx};
use crate::timestamp::Timestamp;
use sqlx::pool::PoolConnection;
use sqlx::types::Json;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};

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

/// Records sent messages, committing each group before it returns. On SQLite it keeps one
/// connection of the pool for itself: SQLite empties a connection's page cache whenever another
/// connection has written, so the connection that makes all of the ledger's writes finds the pages
/// it needs still cached.
pub struct SentRecorder<'s> {
    store: &'s Store,
    own: Option<PoolConnection<Sqlite>>,
    /// Set while a script runs on `own`. Should the caller drop a recording midway (a shutdown that
    /// ran out of time), the script may have stopped between its BEGIN and its COMMIT: the
    /// connection is then closed, which rolls that transaction back, rather than returned to the
    /// pool with it open.
    in_script: bool,
}

impl Drop for SentRecorder<'_> {
    fn drop(&mut self) {
        self.discard_if_interrupted();
    }
}

impl<'s> SentRecorder<'s> {
    pub fn new(store: &'s Store) -> SentRecorder<'s> {
        SentRecorder {
            store,
            own: None,
            in_script: false,
        }
    }

    fn discard_if_interrupted(&mut self) {
        if std::mem::take(&mut self.in_script) {
            if let Some(mut conn) = self.own.take() {
                conn.close_on_drop();
            }
        }
    }

    /// Records `messages` as sent; returns the ids of the deliveries whose lease was still held (the
    /// others had been taken over by another sender, whose outcome stands).
    pub async fn record(
        &mut self,
        messages: &[SentMessage<'_>],
        now: Timestamp,
    ) -> anyhow::Result<Vec<i64>> {
        let store = self.store;
        let mut held = Vec::with_capacity(messages.len());
        for chunk in messages.chunks(CHUNK) {
            let ids = match &store.db {
                Db::Sqlite(pool) => self.record_on_own(pool, chunk, now).await?,
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

    /// SQLite: the script on the recorder's own connection, in this process's writer turn.
    async fn record_on_own(
        &mut self,
        pool: &SqlitePool,
        messages: &[SentMessage<'_>],
        now: Timestamp,
    ) -> anyhow::Result<Vec<i64>> {
        self.discard_if_interrupted();
        let _turn = self.store.writer.clone().lock_owned().await;
        if self.own.is_none() {
            self.own = Some(pool.acquire().await?);
        }
        let conn = self.own.as_mut().expect("acquired above");
        self.in_script = true;
        let result = record_by_script(conn, messages, now).await;
        self.in_script = false;
        // Whether a failed script left its transaction open is unknown: roll back, and give up this
        // connection if even that fails.
        if result.is_err() && sqlx::query("ROLLBACK").execute(&mut **conn).await.is_err() {
            if let Some(mut conn) = self.own.take() {
                conn.close_on_drop();
            }
        }
        Ok(result?)
    }
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

/// SQLite: the transaction as one script, on `conn`, in this process's writer turn.
async fn record_by_script(
    conn: &mut SqliteConnection,
    messages: &[SentMessage<'_>],
    now: Timestamp,
) -> Result<Vec<i64>, sqlx::Error> {
    let links = links_of(messages);
    let mut q = sqlx::QueryBuilder::new("BEGIN IMMEDIATE;\n");
    push_mark_sent!(q, messages);
    for links in links.chunks(LINKS_PER_INSERT) {
        q.push(";\n");
        push_links!(q, links);
    }
    q.push(";\n");
    push_events!(q, messages, now);
    q.push(";\nCOMMIT");
    // The rows of the script are the UPDATE's: the other statements return none.
    q.build_query_scalar().fetch_all(conn).await
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
