//! Running compiled segments: counting members and streaming them, never loading the audience whole.
//!
//! The SQL text comes from [`crate::segment::compile`] and is fixed SQL only; every value in it is a
//! bound parameter pushed here with `QueryBuilder::push_bind`.

use super::{Customer, Store};
use crate::segment::{Bind, Condition, Piece};
use crate::timestamp::Timestamp;
use futures_util::TryStreamExt;
use sqlx::{Database, QueryBuilder};

/// Appends `condition` to `query`, binding each value.
macro_rules! push_condition {
    ($query:expr, $condition:expr) => {
        for piece in &$condition.pieces {
            match piece {
                Piece::Sql(sql) => {
                    $query.push(sql);
                }
                Piece::Bind(Bind::Text(text)) => {
                    $query.push_bind(text.clone());
                }
                Piece::Bind(Bind::Number(number)) => {
                    $query.push_bind(*number);
                }
                Piece::Bind(Bind::Time(at)) => {
                    $query.push_bind(*at);
                }
            }
        }
    };
}

/// Members come in address order, by bytes on both databases, so every listing is reproducible.
const ORDER_BY: [&str; 2] = [
    " ORDER BY c.email_key",
    " ORDER BY c.email_key COLLATE \"C\"",
];

fn builder<'a, DB: Database>(head: &str) -> QueryBuilder<'a, DB> {
    QueryBuilder::new(head)
}

impl Store {
    /// How many customers satisfy `condition` (one query; behaviour tests use `events_customer_kind_time`).
    pub async fn count_segment(&self, condition: &Condition) -> anyhow::Result<i64> {
        let head = "SELECT COUNT(*) FROM customers c WHERE ";
        let count = on_pool!(self, pool => {
            let mut query = builder(head);
            push_condition!(query, condition);
            query.build_query_scalar::<i64>().fetch_one(pool).await
        })?;
        Ok(count)
    }

    /// Calls `each` with members in address order, streaming rows from the database, at most `limit`.
    pub async fn for_each_member(
        &self,
        condition: &Condition,
        limit: Option<i64>,
        mut each: impl FnMut(Customer) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let head = "SELECT c.id, c.email, c.email_key, c.first_name, c.last_name, c.timezone, c.locale, \
                    c.attributes, c.status, c.created_at, c.updated_at FROM customers c WHERE ";
        on_pool!(self, pool => {
            let mut query = builder(head);
            push_condition!(query, condition);
            query.push(ORDER_BY[usize::from(self.dialect() == super::Dialect::Postgres)]);
            if let Some(limit) = limit {
                query.push(" LIMIT ").push_bind(limit);
            }
            let mut rows = query.build_query_as::<Customer>().fetch(pool);
            while let Some(member) = rows.try_next().await? {
                each(member)?;
            }
            anyhow::Ok(())
        })
    }

    /// Whether the customer `id` satisfies `condition`, asked of the database.
    pub async fn segment_contains(&self, condition: &Condition, id: i64) -> anyhow::Result<bool> {
        let head = "SELECT COUNT(*) FROM customers c WHERE c.id = ";
        let count = on_pool!(self, pool => {
            let mut query = builder(head);
            query.push_bind(id).push(" AND ");
            push_condition!(query, condition);
            query.build_query_scalar::<i64>().fetch_one(pool).await
        })?;
        Ok(count > 0)
    }

    /// The newest `recorded_at` among events of `kind` (uses `events_kind_recorded`): how far a
    /// triggered campaign has looked.
    pub async fn newest_recorded(&self, kind: &str) -> anyhow::Result<Option<Timestamp>> {
        let sql = "SELECT MAX(recorded_at) FROM events WHERE kind = $1";
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql).bind(kind).fetch_one(pool).await)?)
    }

    /// Every distinct event kind stored (a full scan: used by `check` only).
    pub async fn event_kinds(&self) -> anyhow::Result<Vec<String>> {
        let sql = "SELECT DISTINCT kind FROM events ORDER BY kind";
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql).fetch_all(pool).await)?)
    }

    /// Every distinct custom attribute name stored (a full scan: used by `check` only).
    pub async fn attribute_names(&self) -> anyhow::Result<Vec<String>> {
        let sql = match self.dialect() {
            super::Dialect::Sqlite => {
                "SELECT DISTINCT j.key FROM customers, json_each(customers.attributes) j ORDER BY 1"
            }
            super::Dialect::Postgres => {
                "SELECT DISTINCT jsonb_object_keys(attributes) FROM customers ORDER BY 1"
            }
        };
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql).fetch_all(pool).await)?)
    }
}

/// Plans a run: one pending delivery per member of `condition`, due at `due_at`, in a single
/// `INSERT … SELECT` inside the caller's transaction. Idempotent on (run, customer): planning again
/// adds only members not planned yet. Returns how many deliveries were added.
pub async fn plan_members(
    tx: &mut super::Tx,
    run_id: i64,
    condition: &Condition,
    due_at: crate::timestamp::Timestamp,
    now: crate::timestamp::Timestamp,
) -> anyhow::Result<u64> {
    let added = on_tx!(tx, conn => {
        let mut query = builder("INSERT INTO deliveries (run_id, customer_id, due_at, updated_at) SELECT ");
        query.push_bind(run_id).push(", c.id, ").push_bind(due_at).push(", ").push_bind(now);
        query.push(" FROM customers c WHERE ");
        push_condition!(query, condition);
        query.push(" ON CONFLICT (run_id, customer_id) DO NOTHING");
        query.build().execute(&mut *conn).await.map(|r| r.rows_affected())
    })?;
    Ok(added)
}

/// What a triggered campaign looks for: events of `kind` that occurred at or after `first_seen` (when
/// the campaign began) and were recorded at or after `recorded_since` (how far it looked before).
#[derive(Debug, Clone, Copy)]
pub struct Trigger<'a> {
    pub run_id: i64,
    pub kind: &'a str,
    pub first_seen: crate::timestamp::Timestamp,
    pub recorded_since: crate::timestamp::Timestamp,
    /// The message is due this long after the customer's latest such event when they are added.
    pub delay: std::time::Duration,
}

/// Adds to the trigger's run a delivery for each customer satisfying `condition` who has an event
/// the trigger looks for, due `delay` after their latest such event (the one that brought them into
/// the segment: with `purchase.count() >= 3`, the third purchase, not the first); customers already
/// in the run are left alone (once per customer per campaign). Returns how many deliveries were added.
///
/// `recorded_since` only narrows the scan (through `events_kind_recorded`): a customer whose events
/// were all recorded earlier was already considered then.
pub async fn plan_triggered(
    tx: &mut super::Tx,
    trigger: &Trigger<'_>,
    condition: &Condition,
    now: crate::timestamp::Timestamp,
) -> anyhow::Result<u64> {
    let delay_micros = i64::try_from(trigger.delay.as_micros()).unwrap_or(i64::MAX);
    let due = match tx {
        super::Tx::Sqlite(..) => "t.event_at + ",
        super::Tx::Postgres(..) => "t.event_at + interval '1 microsecond' * ",
    };
    let kind = trigger.kind.to_string();
    let added = on_tx!(tx, conn => {
        let mut query = builder("INSERT INTO deliveries (run_id, customer_id, due_at, updated_at) SELECT ");
        query.push_bind(trigger.run_id).push(", c.id, ").push(due).push_bind(delay_micros).push(", ").push_bind(now);
        query.push(" FROM customers c JOIN (SELECT customer_id, MAX(occurred_at) AS event_at FROM events WHERE kind = ");
        query.push_bind(kind.clone()).push(" AND occurred_at >= ").push_bind(trigger.first_seen);
        query.push(" AND customer_id IN (SELECT customer_id FROM events WHERE kind = ");
        query.push_bind(kind.clone()).push(" AND recorded_at >= ").push_bind(trigger.recorded_since);
        query.push(") GROUP BY customer_id) t ON t.customer_id = c.id WHERE ");
        push_condition!(query, condition);
        query.push(" ON CONFLICT (run_id, customer_id) DO NOTHING");
        query.build().execute(&mut *conn).await.map(|r| r.rows_affected())
    })?;
    Ok(added)
}
