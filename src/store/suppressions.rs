//! Suppressions: addresses that must not be mailed, for every topic (`*`: hard bounce, complaint,
//! global unsubscribe) or for one topic. Keyed by the lower-cased address, so they outlive customer
//! rows and re-imports. Checked at send time, not only when a run is planned.

use super::Tx;
use crate::timestamp::Timestamp;

/// The topic of an address-level suppression.
pub const ALL_TOPICS: &str = "*";

/// Why an address is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    HardBounce,
    Complaint,
    Unsubscribe,
    Manual,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::HardBounce => "hard_bounce",
            Reason::Complaint => "complaint",
            Reason::Unsubscribe => "unsubscribe",
            Reason::Manual => "manual",
        }
    }
}

/// Suppresses `email_key` for `topic` (or [`ALL_TOPICS`]); the first reason recorded is kept.
pub async fn suppress(
    tx: &mut Tx,
    email_key: &str,
    topic: &str,
    reason: Reason,
    detail: Option<&str>,
    now: Timestamp,
) -> anyhow::Result<()> {
    let sql = "INSERT INTO suppressions (email_key, topic, reason, detail, created_at) VALUES ($1, $2, $3, $4, $5) \
               ON CONFLICT (email_key, topic) DO NOTHING";
    on_tx!(tx, conn => {
        sqlx::query(sql).bind(email_key).bind(topic).bind(reason.as_str()).bind(detail).bind(now).execute(&mut *conn).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Suppresses `email_key` for `topic` (or [`ALL_TOPICS`]) as an imported event says: an unsubscribe,
/// a bounce or a complaint that another tool recorded at `at`, which is also when the suppression is
/// dated. Not when customer `customer_id` opted back in to that topic after `at` (an
/// `email.resubscribed` event): their later wish stands. True when a suppression was added; false
/// when one was already there (the first reason is kept) or the opt-in came later.
pub async fn suppress_imported(
    tx: &mut Tx,
    customer_id: i64,
    email_key: &str,
    topic: &str,
    reason: Reason,
    detail: &str,
    at: Timestamp,
) -> anyhow::Result<bool> {
    // An opt-in without a topic is an opt-in to everything, as an opt-out without one is. `->>`
    // reads a property as text on both databases.
    let sql = "INSERT INTO suppressions (email_key, topic, reason, detail, created_at) \
               SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM events WHERE customer_id = $6 \
                 AND kind = 'email.resubscribed' AND occurred_at > $5 \
                 AND COALESCE(NULLIF(properties ->> 'topic', ''), '*') = $2) \
               ON CONFLICT (email_key, topic) DO NOTHING";
    let added = on_tx!(tx, conn => {
        sqlx::query(sql).bind(email_key).bind(topic).bind(reason.as_str()).bind(detail).bind(at)
            .bind(customer_id).execute(&mut *conn).await.map(|r| r.rows_affected())
    })?;
    Ok(added > 0)
}

/// Lifts the unsubscribe of `email_key` from `topic` that was made before `at`, as an imported
/// `email.resubscribed` event says: the customer opted back in then. Only an unsubscribe: never a
/// hard bounce or a complaint. True when one was lifted.
pub async fn lift_imported(
    tx: &mut Tx,
    email_key: &str,
    topic: &str,
    at: Timestamp,
) -> anyhow::Result<bool> {
    let sql = "DELETE FROM suppressions WHERE email_key = $1 AND topic = $2 AND reason = $3 \
               AND created_at < $4";
    let lifted = on_tx!(tx, conn => {
        sqlx::query(sql).bind(email_key).bind(topic).bind(Reason::Unsubscribe.as_str()).bind(at)
            .execute(&mut *conn).await.map(|r| r.rows_affected())
    })?;
    Ok(lifted > 0)
}

/// How many suppressions are stored.
pub async fn count(tx: &mut Tx) -> anyhow::Result<i64> {
    let sql = "SELECT COUNT(*) FROM suppressions";
    Ok(on_tx!(tx, conn => sqlx::query_scalar(sql).fetch_one(&mut *conn).await)?)
}

/// Every suppression of `email_key`: `(topic, reason, since)`, the address-level one first, then by
/// topic. For the customer's page.
pub async fn suppressions_of(
    tx: &mut Tx,
    email_key: &str,
) -> anyhow::Result<Vec<(String, String, Timestamp)>> {
    let sql = "SELECT topic, reason, created_at FROM suppressions WHERE email_key = $1 \
               ORDER BY CASE WHEN topic = '*' THEN 0 ELSE 1 END, topic";
    Ok(on_tx!(tx, conn => sqlx::query_as(sql).bind(email_key).fetch_all(&mut *conn).await)?)
}

/// Lifts the suppression of `email_key` for `topic` (an "undo" on the unsubscribe page).
pub async fn unsuppress(tx: &mut Tx, email_key: &str, topic: &str) -> anyhow::Result<bool> {
    let sql = "DELETE FROM suppressions WHERE email_key = $1 AND topic = $2";
    let n = on_tx!(tx, conn => sqlx::query(sql).bind(email_key).bind(topic).execute(&mut *conn).await.map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Why `email_key` must not get mail about `topic`, if it must not: the address-level reason first.
pub async fn suppression_for(
    tx: &mut Tx,
    email_key: &str,
    topic: &str,
) -> anyhow::Result<Option<(String, String)>> {
    let sql = "SELECT topic, reason FROM suppressions WHERE email_key = $1 AND topic IN ('*', $2) \
               ORDER BY CASE WHEN topic = '*' THEN 0 ELSE 1 END LIMIT 1";
    Ok(
        on_tx!(tx, conn => sqlx::query_as(sql).bind(email_key).bind(topic).fetch_optional(&mut *conn).await)?,
    )
}

/// For each of `email_keys` suppressed for `topic` (or for every topic): the key and the scope that
/// applies, the address-level one first. One query for a batch of recipients.
pub async fn suppressions_for_keys(
    tx: &mut Tx,
    email_keys: &[&str],
    topic: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    if email_keys.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders = super::dispatch::placeholders(2, email_keys.len());
    let sql = format!(
        "SELECT email_key, topic FROM suppressions WHERE topic IN ('*', $1) AND email_key IN ({placeholders}) \
         ORDER BY email_key, CASE WHEN topic = '*' THEN 0 ELSE 1 END"
    );
    Ok(on_tx!(tx, conn => {
        let mut query = sqlx::query_as(&sql).bind(topic);
        for key in email_keys {
            query = query.bind(*key);
        }
        query.fetch_all(&mut *conn).await
    })?)
}
