//! Behaviour summaries: what templates know about a customer's past, for a batch of customers in one
//! query per 500 customers (never one query per customer or per field).
//!
//! A purchase is an event of kind `purchase`; a visit is a `visit` or a `purchase`; the favourite
//! category is the `category` property most often seen on purchases (ties go to the most recent).
//! The query reads `events` through the `events_customer_kind_time` index prefix.

use super::{Dialect, Store};
use crate::timestamp::Timestamp;
use serde_json::{Map, Value};
use sqlx::types::Json;
use std::collections::HashMap;

/// How many recent purchases a summary carries.
pub const RECENT_PURCHASES: i64 = 5;
/// Customers per query: one bound parameter each.
const BATCH: usize = 500;

/// One customer's behaviour; a customer without events has the default (zero) summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub purchases: i64,
    pub total_spent: f64,
    pub favourite_category: Option<String>,
    pub last_visit_at: Option<Timestamp>,
    pub last_email_opened_at: Option<Timestamp>,
    /// Newest first, at most [`RECENT_PURCHASES`].
    pub recent_purchases: Vec<Purchase>,
}

/// One purchase event.
#[derive(Debug, Clone, PartialEq)]
pub struct Purchase {
    pub occurred_at: Timestamp,
    pub amount: Option<f64>,
    pub properties: Map<String, Value>,
}

impl Summary {
    /// The newest purchase, if any.
    pub fn last_purchase(&self) -> Option<&Purchase> {
        self.recent_purchases.first()
    }
}

type Row = (
    i64,
    i64,
    Option<f64>,
    Option<Timestamp>,
    Option<Timestamp>,
    Option<String>,
    Option<Timestamp>,
    Option<f64>,
    Option<Json<Map<String, Value>>>,
);

impl Store {
    /// The summaries of `customer_ids`; customers without events are absent from the map.
    pub async fn summaries(&self, customer_ids: &[i64]) -> anyhow::Result<HashMap<i64, Summary>> {
        let mut out = HashMap::with_capacity(customer_ids.len());
        for chunk in customer_ids.chunks(BATCH) {
            let sql = summary_sql(self.dialect(), chunk.len());
            let rows: Vec<Row> = on_pool!(self, pool => {
                let mut query = sqlx::query_as(&sql);
                for id in chunk {
                    query = query.bind(*id);
                }
                query.fetch_all(pool).await
            })?;
            for row in rows {
                add_row(&mut out, row);
            }
        }
        Ok(out)
    }
}

fn add_row(out: &mut HashMap<i64, Summary>, row: Row) {
    let (id, purchases, total, last_visit, last_opened, category, at, amount, properties) = row;
    let summary = out.entry(id).or_insert_with(|| Summary {
        purchases,
        total_spent: total.unwrap_or(0.0),
        favourite_category: category,
        last_visit_at: last_visit,
        last_email_opened_at: last_opened,
        recent_purchases: Vec::new(),
    });
    if let Some(occurred_at) = at {
        summary.recent_purchases.push(Purchase {
            occurred_at,
            amount,
            properties: properties.map(|p| p.0).unwrap_or_default(),
        });
    }
}

/// One statement: aggregates per customer, the favourite category (a subquery per customer on the
/// `events_customer_kind_time` index, rather than a join SQLite would run as a scan per row), and
/// the recent purchases joined on (one row per recent purchase, or one for a customer without any).
fn summary_sql(dialect: Dialect, n: usize) -> String {
    let category = match dialect {
        Dialect::Sqlite => "CAST(json_extract(properties, '$.category') AS TEXT)",
        Dialect::Postgres => "(properties ->> 'category')",
    };
    let placeholders = super::dispatch::placeholders(1, n);
    format!(
        "WITH ev AS ( \
           SELECT id, customer_id, kind, occurred_at, amount, properties \
           FROM events WHERE customer_id IN ({placeholders}) \
             AND kind IN ('purchase', 'visit', 'email.opened') \
         ), agg AS ( \
           SELECT customer_id, \
             COUNT(CASE WHEN kind = 'purchase' THEN 1 END) AS purchases, \
             SUM(CASE WHEN kind = 'purchase' THEN amount END) AS total_spent, \
             MAX(CASE WHEN kind IN ('visit', 'purchase') THEN occurred_at END) AS last_visit_at, \
             MAX(CASE WHEN kind = 'email.opened' THEN occurred_at END) AS last_opened_at, \
             (SELECT {category} FROM events f \
                WHERE f.customer_id = ev.customer_id AND f.kind = 'purchase' \
                  AND {category} IS NOT NULL AND {category} <> '' \
                GROUP BY 1 ORDER BY COUNT(*) DESC, MAX(f.occurred_at) DESC, 1 LIMIT 1) AS category \
           FROM ev GROUP BY customer_id \
         ), recent AS ( \
           SELECT customer_id, occurred_at, amount, properties, ROW_NUMBER() OVER ( \
             PARTITION BY customer_id ORDER BY occurred_at DESC, id DESC) AS rn \
           FROM ev WHERE kind = 'purchase' \
         ) \
         SELECT agg.customer_id, agg.purchases, agg.total_spent, agg.last_visit_at, agg.last_opened_at, \
           agg.category, recent.occurred_at, recent.amount, recent.properties \
         FROM agg \
         LEFT JOIN recent ON recent.customer_id = agg.customer_id AND recent.rn <= {RECENT_PURCHASES} \
         ORDER BY agg.customer_id, recent.rn"
    )
}
