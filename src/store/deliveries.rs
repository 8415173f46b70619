//! The delivery ledger: one row per (run, customer), the unit of work of sending.
//!
//! Life of a delivery: `pending` (planned) → `sending` (leased by one worker until `lease_until`) →
//! `sent` | `retry` (due again at `due_at`) | `failed` | `skipped` (with the reason) | `uncertain` (the
//! connection broke after the whole message was sent: it may have arrived). Sent and uncertain
//! deliveries, and only they, have a `sent_at`, the time the relay had the whole message: an
//! uncertain message most likely arrived, so the rate limits count it by its `sent_at` as they count
//! a sent one, and a lost reply never lets rapport send more than the limits allow. A delivery is
//! leased *before* its message is sent and marked *after*; if the process dies in between, the lease
//! expires and another claim takes it back, so no message is lost and duplicates are bounded by the
//! messages in flight at the crash.

use super::db::Dialect;
use super::{Store, Tx};
use crate::timestamp::Timestamp;
use anyhow::Context as _;
use std::time::Duration;

/// A delivery a worker has leased and must now send, then mark.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    pub customer_id: i64,
    /// Attempts including this one.
    pub attempts: i32,
    /// When the first attempt started: retries stop once the campaign's lifetime has passed since.
    pub first_attempt_at: Timestamp,
    /// The lease this claim holds; marking requires it, so a worker whose lease expired and was taken
    /// over cannot overwrite the new holder's outcome.
    pub lease_until: Timestamp,
}

/// Rows per multi-row insert while planning (4 parameters each).
const PLAN_CHUNK: usize = 1000;

/// Adds deliveries of `run_id` for `customer_ids`, due at `due_at`; customers already planned in this
/// run are left alone. Returns how many were added.
pub async fn plan(
    tx: &mut Tx,
    run_id: i64,
    customer_ids: &[i64],
    due_at: Timestamp,
    now: Timestamp,
) -> anyhow::Result<u64> {
    let mut added = 0;
    for chunk in customer_ids.chunks(PLAN_CHUNK) {
        added += on_tx!(tx, conn => {
            let mut q = sqlx::QueryBuilder::new("INSERT INTO deliveries (run_id, customer_id, due_at, updated_at) ");
            q.push_values(chunk, |mut b, id| {
                b.push_bind(run_id).push_bind(*id).push_bind(due_at).push_bind(now);
            });
            q.push(" ON CONFLICT (run_id, customer_id) DO NOTHING");
            q.build().execute(&mut *conn).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(added)
}

/// How an attempt ended, as written to the ledger.
#[derive(Debug, Clone, PartialEq)]
pub enum Mark<'a> {
    Sent,
    /// Try again at the given time.
    Retry {
        at: Timestamp,
        error: &'a str,
    },
    Failed {
        reason: &'a str,
        error: &'a str,
    },
    Skipped {
        reason: &'a str,
    },
    /// The connection broke after the final "."; the message may have been delivered. Its time of
    /// attempt is its `sent_at`, so that the rate limits count it.
    Uncertain {
        error: &'a str,
    },
    /// Not sent now for courtesy (quiet hours): pending again until `until`, this attempt not counted.
    Deferred {
        until: Timestamp,
    },
}

/// Records the outcome of a claimed delivery. Returns false when the claim no longer holds (its lease
/// expired and another claim took the delivery over), in which case nothing changes.
pub async fn mark(
    tx: &mut Tx,
    claim: &Claimed,
    outcome: Mark<'_>,
    now: Timestamp,
) -> anyhow::Result<bool> {
    if let Mark::Deferred { until } = outcome {
        return defer(tx, claim, until, now).await;
    }
    let (status, due_at, reason, error, sent_at) = match outcome {
        Mark::Sent => ("sent", None, None, None, Some(now)),
        Mark::Retry { at, error } => ("retry", Some(at), None, Some(error), None),
        Mark::Failed { reason, error } => ("failed", None, Some(reason), Some(error), None),
        Mark::Skipped { reason } => ("skipped", None, Some(reason), None, None),
        Mark::Uncertain { error } => ("uncertain", None, None, Some(error), Some(now)),
        Mark::Deferred { .. } => unreachable!("handled above"),
    };
    let sql = "UPDATE deliveries SET status = $1, due_at = COALESCE($2, due_at), reason = $3, last_error = $4, \
               sent_at = $5, lease_until = NULL, updated_at = $6 WHERE id = $7 AND status = 'sending' AND lease_until = $8";
    let changed = on_tx!(tx, conn => {
        sqlx::query(sql)
            .bind(status)
            .bind(due_at)
            .bind(reason)
            .bind(error)
            .bind(sent_at)
            .bind(now)
            .bind(claim.id)
            .bind(claim.lease_until)
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(changed == 1)
}

/// Gives a claimed delivery back, due again at `until` (courtesy rules), this attempt not counted.
async fn defer(
    tx: &mut Tx,
    claim: &Claimed,
    until: Timestamp,
    now: Timestamp,
) -> anyhow::Result<bool> {
    let sql = "UPDATE deliveries SET status = 'pending', due_at = $1, lease_until = NULL, attempts = attempts - 1, \
               first_attempt_at = CASE WHEN attempts = 1 THEN NULL ELSE first_attempt_at END, updated_at = $2 \
               WHERE id = $3 AND status = 'sending' AND lease_until = $4";
    let n = on_tx!(tx, conn => {
        sqlx::query(sql).bind(until).bind(now).bind(claim.id).bind(claim.lease_until).execute(&mut *conn).await.map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// Whether the run has a delivery still to attempt (pending, retry, or leased): it stops at the
/// first, which in a run being sent comes soon.
pub async fn has_waiting(tx: &mut Tx, run_id: i64) -> anyhow::Result<bool> {
    let sql = "SELECT EXISTS (SELECT 1 FROM deliveries WHERE run_id = $1 AND status IN ('pending', 'retry', 'sending'))";
    Ok(on_tx!(tx, conn => sqlx::query_scalar(sql).bind(run_id).fetch_one(&mut *conn).await)?)
}

/// Deliveries of a run by status and reason: `(status, reason, count)`, in that order, for
/// summaries; statuses without deliveries are left out.
///
/// One statement (one snapshot, also on PostgreSQL) but not one `GROUP BY status, reason`: grouping
/// sorts every row of the run (a transient 16 MB at 100,000 deliveries, at the end of each run),
/// while counting the statuses needs no sort, and only the skipped and failed deliveries, usually
/// few, are grouped by reason.
pub async fn counts(
    tx: &mut Tx,
    run_id: i64,
) -> anyhow::Result<Vec<(String, Option<String>, i64)>> {
    // With `failed` and `skipped`, grouped below, every status the table's CHECK allows.
    const WITHOUT_REASON: [&str; 5] = ["pending", "sending", "sent", "retry", "uncertain"];
    let totals: Vec<String> = WITHOUT_REASON
        .iter()
        .map(|status| format!("COUNT(*) FILTER (WHERE status = '{status}') AS {status}"))
        .collect();
    let rows: Vec<String> = WITHOUT_REASON
        .iter()
        .map(|status| format!("SELECT '{status}', CAST(NULL AS TEXT), {status} FROM totals"))
        .collect();
    let sql = format!(
        "WITH totals AS MATERIALIZED (SELECT {} FROM deliveries WHERE run_id = $1), \
         reasons AS (SELECT status, reason, COUNT(*) AS n FROM deliveries WHERE run_id = $1 \
         AND status IN ('failed', 'skipped') GROUP BY status, reason) \
         {} UNION ALL SELECT status, reason, n FROM reasons",
        totals.join(", "),
        rows.join(" UNION ALL ")
    );
    let mut counts: Vec<(String, Option<String>, i64)> =
        on_tx!(tx, conn => sqlx::query_as(&sql).bind(run_id).fetch_all(&mut *conn).await)?;
    counts.retain(|(_, _, n)| *n > 0);
    counts.sort();
    Ok(counts)
}

/// Why deliveries of a run wait for a retry, failed or ended uncertain: `(status, last_error,
/// count)`, the most frequent first, at most `limit`, for summaries.
///
/// Only those deliveries are grouped: usually few, and when a whole run waits for a retry (the
/// relay is down), they share a handful of errors.
pub async fn errors(
    tx: &mut Tx,
    run_id: i64,
    limit: i64,
) -> anyhow::Result<Vec<(String, Option<String>, i64)>> {
    let sql = "SELECT status, last_error, COUNT(*) AS n FROM deliveries \
               WHERE run_id = $1 AND status IN ('retry', 'failed', 'uncertain') \
               GROUP BY status, last_error ORDER BY n DESC, status, last_error LIMIT $2";
    Ok(
        on_tx!(tx, conn => sqlx::query_as(sql).bind(run_id).bind(limit).fetch_all(&mut *conn).await)?,
    )
}

/// Gives a claimed delivery back unsent (graceful shutdown): pending again, this attempt not counted.
pub async fn release(tx: &mut Tx, claim: &Claimed, now: Timestamp) -> anyhow::Result<bool> {
    let sql = "UPDATE deliveries SET status = 'pending', lease_until = NULL, attempts = attempts - 1, \
               first_attempt_at = CASE WHEN attempts = 1 THEN NULL ELSE first_attempt_at END, updated_at = $1 \
               WHERE id = $2 AND status = 'sending' AND lease_until = $3";
    let n = on_tx!(tx, conn => {
        sqlx::query(sql).bind(now).bind(claim.id).bind(claim.lease_until).execute(&mut *conn).await.map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// When the next delivery of the run still to be attempted is due (pending, retry, or leased), if any.
pub async fn next_due(tx: &mut Tx, run_id: i64) -> anyhow::Result<Option<Timestamp>> {
    let sql = "SELECT MIN(CASE WHEN status = 'sending' THEN lease_until ELSE due_at END) FROM deliveries \
               WHERE run_id = $1 AND status IN ('pending', 'retry', 'sending')";
    Ok(on_tx!(tx, conn => sqlx::query_scalar(sql).bind(run_id).fetch_one(&mut *conn).await)?)
}

/// `deliveries` as the messages sent since a time are read: through the partial index
/// `deliveries_sent_at (sent_at) WHERE sent_at IS NOT NULL`, which `sent_at > $1` implies (SQLite
/// refuses an `INDEXED BY` whose index the `WHERE` does not imply). SQLite's planner, without
/// statistics, prefers the `status` of `deliveries_due` and then reads every message ever sent;
/// `INDEXED BY` tells it.
///
/// The messages are those with a `sent_at`, sent or uncertain (see the module's invariant), and the
/// queries test nothing else: the index alone answers them then. A test of `status IN ('sent',
/// 'uncertain')` makes SQLite read every message's row as well: with 30,000 messages in a window,
/// 3 ms a count instead of 0.6 ms (2 ms with `status` in the index), before each claim.
fn sent_deliveries(tx: &Tx) -> &'static str {
    match tx {
        Tx::Sqlite(..) => "deliveries INDEXED BY deliveries_sent_at",
        Tx::Postgres(_) => "deliveries",
    }
}

/// Send times since `since`, newest first, at most `limit`: the history that seeds the rate limits,
/// uncertain messages included (the relay had them whole: they most likely arrived, and count
/// against its limits).
pub async fn sent_since(
    tx: &mut Tx,
    since: Timestamp,
    limit: i64,
) -> anyhow::Result<Vec<Timestamp>> {
    let sql = format!(
        "SELECT sent_at FROM {} WHERE sent_at > $1 ORDER BY sent_at DESC LIMIT $2",
        sent_deliveries(tx)
    );
    Ok(
        on_tx!(tx, conn => sqlx::query_scalar(&sql).bind(since).bind(limit).fetch_all(&mut *conn).await)?,
    )
}

/// What the rate limits leave at a moment, across every sender that shares the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateCapacity {
    /// How many more messages may be claimed now (0 or more).
    pub free: i64,
    /// When `free` is 0: how long until one more may go, as far as the messages already sent tell;
    /// `None` when only claims not yet sent hold the capacity (ask again shortly).
    pub wait: Option<Duration>,
}

/// Any number, the same for every rapport process: the PostgreSQL advisory lock that makes the
/// capacity check and the claim that follows it one step for all senders ("rapp" in ASCII).
const RATE_LOCK: i64 = 0x7261_7070;

/// How many more messages `limits` allow at `now`, counted from the ledger rather than from one
/// process's memory, so that a `rapport send` beside the daemon, or several daemons on PostgreSQL,
/// share the limits. For each limit: its count, less the messages sent within its window (uncertain
/// ones too: they most likely arrived), less those claimed within it and not yet sent (they may go
/// any moment). A claim older than the window no longer counts, so the claims of a sender that
/// crashed hold a short window back only briefly.
/// Call it first in the transaction that then claims at most `free`: on SQLite the write
/// transaction, and on PostgreSQL an advisory lock, keep two senders from both taking the same
/// capacity.
pub async fn rate_capacity(
    tx: &mut Tx,
    limits: &[crate::config::Rate],
    lease: Duration,
    now: Timestamp,
) -> anyhow::Result<RateCapacity> {
    if let Tx::Postgres(conn) = tx {
        // Each statement must see what the sender before us committed while we waited for the
        // lock, whatever the server's default isolation.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            .execute(&mut **conn)
            .await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(RATE_LOCK)
            .execute(&mut **conn)
            .await?;
    }
    let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
    // One statement, so one snapshot: on PostgreSQL a message recorded between two statements
    // would be counted in neither.
    let counts = format!(
        "SELECT (SELECT COUNT(*) FROM {} WHERE sent_at > $1), \
         (SELECT COUNT(*) FROM deliveries WHERE status = 'sending' AND lease_until > $2)",
        sent_deliveries(tx)
    );
    let mut free = i64::MAX;
    // When nothing is free: the longest wait the sends tell, unless claims hold a limit.
    let mut longest = Duration::ZERO;
    let mut held_by_claims = false;
    for limit in limits {
        let per = chrono::Duration::from_std(limit.per).unwrap_or(chrono::Duration::MAX);
        let since = now
            .datetime()
            .checked_sub_signed(per)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        // Claimed after `since` (its lease runs out after `since + lease`) and still held.
        let held_after = since
            .checked_add_signed(lease)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
            .max(now.datetime());
        let (since, held_after) = (Timestamp::from(since), Timestamp::from(held_after));
        let (sent, claimed): (i64, i64) = on_tx!(tx, conn => sqlx::query_as(&counts)
            .bind(since).bind(held_after).fetch_one(&mut *conn).await)?;
        let left = i64::from(limit.count) - sent - claimed;
        free = free.min(left.max(0));
        if left > 0 {
            continue;
        }
        // The sends that must leave the window before one more may go; claims first.
        let leaving = 1 - left;
        if leaving > sent {
            held_by_claims = true;
            continue;
        }
        let oldest = format!(
            "SELECT sent_at FROM {} WHERE sent_at > $1 \
             ORDER BY sent_at LIMIT 1 OFFSET $2",
            sent_deliveries(tx)
        );
        let oldest: Timestamp = on_tx!(tx, conn => sqlx::query_scalar(&oldest)
            .bind(since).bind(leaving - 1).fetch_one(&mut *conn).await)?;
        let wait = (oldest.datetime() + per - now.datetime())
            .to_std()
            .unwrap_or_default();
        longest = longest.max(wait);
    }
    let wait = (free == 0 && !held_by_claims).then_some(longest);
    Ok(RateCapacity { free, wait })
}

/// Whether `claim` still holds its delivery (its lease was not taken over).
pub async fn still_held(tx: &mut Tx, claim: &Claimed) -> anyhow::Result<bool> {
    let sql =
        "SELECT COUNT(*) FROM deliveries WHERE id = $1 AND status = 'sending' AND lease_until = $2";
    let n: i64 = on_tx!(tx, conn => sqlx::query_scalar(sql).bind(claim.id).bind(claim.lease_until).fetch_one(&mut *conn).await)?;
    Ok(n == 1)
}

/// Leases up to `limit` deliveries of `run_id` that are due (pending or retry with `due_at <= now`) or
/// whose lease has expired, until `now + lease`. On PostgreSQL, rows another daemon is claiming at the
/// same moment are skipped (`FOR UPDATE SKIP LOCKED`); on SQLite the write transaction serialises claims.
///
/// Found through the `deliveries_due (status, due_at)` index: the first `limit` due deliveries of
/// each claimable status in index order, then the first `limit` of those. (One `WHERE` with an `OR`
/// of the statuses defeats the index and makes sending a run quadratic in its size on SQLite.)
pub async fn claim_due(
    tx: &mut Tx,
    run_id: i64,
    now: Timestamp,
    lease: Duration,
    limit: i64,
) -> anyhow::Result<Vec<Claimed>> {
    claim_in(tx, run_id, now, lease, limit, None).await
}

/// [`claim_due`], of the pending deliveries of one [`Stripe`] if given.
async fn claim_in(
    tx: &mut Tx,
    run_id: i64,
    now: Timestamp,
    lease: Duration,
    limit: i64,
    stripe: Option<Stripe>,
) -> anyhow::Result<Vec<Claimed>> {
    let lease_until = Timestamp::from(now.datetime() + lease);
    let sql = claim_sql(matches!(tx, Tx::Postgres(_)), stripe);
    let mut claimed: Vec<Claimed> = on_tx!(tx, conn => {
        sqlx::query_as(&sql).bind(lease_until).bind(now).bind(run_id).bind(limit).fetch_all(&mut *conn).await
    })?;
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
}

/// Every `of`-th pending delivery, from the `index`-th: what one of `of` workers claims first.
///
/// A planned run's deliveries have consecutive ids, so workers that each claim their own stripe
/// send, at any moment, messages of neighbouring rows, and the commit that records one message of
/// each writes about 13 pages of the tables and indexes instead of 17, where four claims of 64
/// consecutive rows would have them 64 rows apart (bench/README.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stripe {
    pub index: i64,
    pub of: i64,
}

/// [`claim_due`] in a transaction of its own, from the pending deliveries of `stripe` first (with
/// the retries and expired leases of every stripe), and from any once the stripe has none: on
/// SQLite on the store's own connection (see `Store::write_own`), which returns the claimed rows
/// in one hand-over instead of one each.
pub async fn claim(
    store: &Store,
    run_id: i64,
    now: Timestamp,
    lease: Duration,
    limit: i64,
    stripe: Option<Stripe>,
) -> anyhow::Result<Vec<Claimed>> {
    if store.dialect() == Dialect::Postgres {
        let mut tx = store.begin().await?;
        let mut claimed = claim_in(&mut tx, run_id, now, lease, limit, stripe).await?;
        if claimed.is_empty() && stripe.is_some() {
            claimed = claim_in(&mut tx, run_id, now, lease, limit, None).await?;
        }
        tx.commit().await?;
        return Ok(claimed);
    }
    let lease_until = Timestamp::from(now.datetime() + lease).micros();
    let now = now.micros();
    let mut claimed = store
        .write_own(move |tx| {
            let claimed = claim_rows(tx, stripe, lease_until, now, run_id, limit)?;
            if claimed.is_empty() && stripe.is_some() {
                return claim_rows(tx, None, lease_until, now, run_id, limit);
            }
            Ok(claimed)
        })
        .await
        .context("cannot claim deliveries")?;
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
}

/// SQLite: the statement of [`claim_due`] on a rusqlite transaction (times in microseconds).
fn claim_rows(
    tx: &rusqlite::Transaction<'_>,
    stripe: Option<Stripe>,
    lease_until: i64,
    now: i64,
    run_id: i64,
    limit: i64,
) -> rusqlite::Result<Vec<Claimed>> {
    let mut claim = tx.prepare_cached(&claim_sql(false, stripe))?;
    // By name: SQLite numbers `$N` in the order they first appear, sqlx by N.
    let parameters =
        rusqlite::named_params! {"$1": lease_until, "$2": now, "$3": run_id, "$4": limit};
    let rows = claim.query_map(parameters, |row| {
        Ok(Claimed {
            id: row.get(0)?,
            customer_id: row.get(1)?,
            attempts: row.get(2)?,
            first_attempt_at: timestamp(row, 3)?,
            lease_until: timestamp(row, 4)?,
        })
    })?;
    rows.collect()
}

/// The statement of [`claim_due`]: `$1` the new lease, `$2` now, `$3` the run, `$4` the limit.
fn claim_sql(postgres: bool, stripe: Option<Stripe>) -> String {
    let in_stripe = |status: &str| match stripe {
        Some(Stripe { index, of }) if status == "pending" => format!(" AND id % {of} = {index}"),
        _ => String::new(),
    };
    let lock = if postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let first = |status: &str, due: &str| {
        format!(
            "SELECT id, due_at FROM (SELECT id, due_at FROM deliveries WHERE status = '{status}' AND {due} <= $2 \
             AND run_id = $3{} ORDER BY due_at, id LIMIT $4{lock}) AS {status}",
            in_stripe(status)
        )
    };
    format!(
        "UPDATE deliveries SET status = 'sending', lease_until = $1, attempts = attempts + 1, updated_at = $2, \
         first_attempt_at = COALESCE(first_attempt_at, $2) \
         WHERE id IN (SELECT id FROM ({} UNION ALL {} UNION ALL {}) AS due ORDER BY due_at, id LIMIT $4) \
         RETURNING id, customer_id, attempts, first_attempt_at, lease_until",
        first("pending", "due_at"),
        first("retry", "due_at"),
        first("sending", "lease_until"),
    )
}

/// A timestamp column (microseconds since the epoch on SQLite) read through rusqlite.
fn timestamp(row: &rusqlite::Row<'_>, column: usize) -> rusqlite::Result<Timestamp> {
    let micros: i64 = row.get(column)?;
    Timestamp::from_micros(micros).ok_or(rusqlite::Error::IntegralValueOutOfRange(column, micros))
}
