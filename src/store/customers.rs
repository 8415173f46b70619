//! Customer queries. A customer is identified by `email_key`, the lower-cased address.

use super::{Store, Tx};
use crate::timestamp::Timestamp;
use serde_json::{Map, Value};
use sqlx::types::Json;

/// A stored customer.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Customer {
    pub id: i64,
    pub email: String,
    pub email_key: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub timezone: Option<String>,
    pub locale: Option<String>,
    pub attributes: Json<Map<String, Value>>,
    pub status: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What an import or the engine writes about a customer.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerFields {
    pub email: String,
    pub email_key: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub timezone: Option<String>,
    pub locale: Option<String>,
    pub attributes: Map<String, Value>,
    pub created_at: Timestamp,
}

impl From<Customer> for CustomerFields {
    fn from(c: Customer) -> Self {
        CustomerFields {
            email: c.email,
            email_key: c.email_key,
            first_name: c.first_name,
            last_name: c.last_name,
            timezone: c.timezone,
            locale: c.locale,
            attributes: c.attributes.0,
            created_at: c.created_at,
        }
    }
}

impl Customer {
    /// "Alice Martin", "Alice", or the address when no name is known.
    pub fn display_name(&self) -> String {
        let name = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if name.is_empty() {
            self.email.clone()
        } else {
            name
        }
    }
}

const COLUMNS: &str = "id, email, email_key, first_name, last_name, timezone, locale, attributes, status, created_at, updated_at";

/// Rows per multi-row statement: 9 parameters each stays far below both databases' limits.
pub(crate) const UPSERT_CHUNK: usize = 500;

impl Store {
    /// The customer with this identity key (a lower-cased address), if stored.
    pub async fn customer_by_key(&self, email_key: &str) -> anyhow::Result<Option<Customer>> {
        let sql = format!("SELECT {COLUMNS} FROM customers WHERE email_key = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(email_key).fetch_optional(pool).await)?)
    }

    pub async fn count_customers(&self) -> anyhow::Result<i64> {
        let sql = "SELECT COUNT(*) FROM customers";
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql).fetch_one(pool).await)?)
    }

    /// Email keys of customers whose keys are close to `email_key`'s domain or name, for suggestions.
    pub async fn customer_keys_like(
        &self,
        pattern: &str,
        limit: i64,
    ) -> anyhow::Result<Vec<String>> {
        let sql =
            "SELECT email_key FROM customers WHERE email_key LIKE $1 ORDER BY email_key LIMIT $2";
        Ok(
            on_pool!(self, pool => sqlx::query_scalar(sql).bind(pattern).bind(limit).fetch_all(pool).await)?,
        )
    }
}

/// The stored customers among `keys` (uses the unique index on `email_key`).
pub(crate) async fn customers_by_keys(tx: &mut Tx, keys: &[&str]) -> anyhow::Result<Vec<Customer>> {
    let mut found = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(UPSERT_CHUNK) {
        let placeholders = (1..=chunk.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("SELECT {COLUMNS} FROM customers WHERE email_key IN ({placeholders})");
        let rows: Vec<Customer> = on_tx!(tx, conn => {
            let mut query = sqlx::query_as(&sql);
            for key in chunk {
                query = query.bind(*key);
            }
            query.fetch_all(&mut *conn).await
        })?;
        found.extend(rows);
    }
    Ok(found)
}

/// Inserts new customers and overwrites the given fields of existing ones (matched on `email_key`).
/// Keys must be distinct within one call. `updated_at` becomes `now`.
pub(crate) async fn upsert_customers(
    tx: &mut Tx,
    rows: &[CustomerFields],
    now: Timestamp,
) -> anyhow::Result<()> {
    for chunk in rows.chunks(UPSERT_CHUNK) {
        on_tx!(tx, conn => {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO customers (email, email_key, first_name, last_name, timezone, locale, attributes, \
                 created_at, updated_at) ",
            );
            q.push_values(chunk, |mut b, c| {
                b.push_bind(&c.email)
                    .push_bind(&c.email_key)
                    .push_bind(&c.first_name)
                    .push_bind(&c.last_name)
                    .push_bind(&c.timezone)
                    .push_bind(&c.locale)
                    .push_bind(Json(&c.attributes))
                    .push_bind(c.created_at)
                    .push_bind(now);
            });
            q.push(
                " ON CONFLICT (email_key) DO UPDATE SET first_name = excluded.first_name, \
                 last_name = excluded.last_name, timezone = excluded.timezone, locale = excluded.locale, \
                 attributes = excluded.attributes, created_at = excluded.created_at, updated_at = excluded.updated_at",
            );
            q.build().execute(&mut *conn).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// Ids of the stored customers among `keys`, as `(email_key, id)`.
pub(crate) async fn customer_ids_by_keys(
    tx: &mut Tx,
    keys: &[&str],
) -> anyhow::Result<Vec<(String, i64)>> {
    let mut found = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(UPSERT_CHUNK) {
        let placeholders = (1..=chunk.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql =
            format!("SELECT email_key, id FROM customers WHERE email_key IN ({placeholders})");
        let rows: Vec<(String, i64)> = on_tx!(tx, conn => {
            let mut query = sqlx::query_as(&sql);
            for key in chunk {
                query = query.bind(*key);
            }
            query.fetch_all(&mut *conn).await
        })?;
        found.extend(rows);
    }
    Ok(found)
}
