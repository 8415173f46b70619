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

impl CustomerFields {
    /// A customer known only by their address.
    pub fn bare(email: &crate::domain::EmailAddress, created_at: Timestamp) -> Self {
        CustomerFields {
            email: email.as_str().to_string(),
            email_key: email.key().to_string(),
            first_name: None,
            last_name: None,
            timezone: None,
            locale: None,
            attributes: Map::new(),
            created_at,
        }
    }
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

/// Rows (or keys) per statement: 9 parameters a row stays far below both databases' limits.
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

    /// The stored customers with these ids (in no particular order).
    pub async fn customers_by_ids(&self, ids: &[i64]) -> anyhow::Result<Vec<Customer>> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(UPSERT_CHUNK) {
            let placeholders = super::dispatch::placeholders(1, chunk.len());
            let sql = format!("SELECT {COLUMNS} FROM customers WHERE id IN ({placeholders})");
            let rows: Vec<Customer> = on_pool!(self, pool => {
                let mut query = sqlx::query_as(&sql);
                for id in chunk {
                    query = query.bind(*id);
                }
                query.fetch_all(pool).await
            })?;
            found.extend(rows);
        }
        Ok(found)
    }

    /// The stored address nearest to `key` (a likely misspelling of it), for "did you mean".
    pub async fn nearest_customer_key(&self, key: &str) -> anyhow::Result<Option<String>> {
        let prefix: String = key.chars().take(2).collect();
        let sql = "SELECT email_key FROM customers WHERE substr(email_key, 1, $1) = $2 ORDER BY id LIMIT 500";
        let length = prefix.chars().count() as i32;
        let candidates: Vec<String> = on_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(length).bind(&prefix).fetch_all(pool).await
        })?;
        Ok(
            crate::diagnostic::did_you_mean(key, candidates.iter().map(String::as_str))
                .map(str::to_string),
        )
    }
}

/// `SELECT {columns} FROM customers WHERE email_key IN (…)` for every key, a chunk at a time. With
/// `lock`, the rows stay locked until the caller's transaction ends (PostgreSQL `FOR UPDATE`; SQLite's
/// write transaction already excludes other writers), so a read-merge-write cannot lose an update.
async fn select_by_keys<T>(
    tx: &mut Tx,
    columns: &str,
    keys: &[&str],
    lock: bool,
) -> anyhow::Result<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    T: Send + Unpin,
{
    let lock = match tx {
        Tx::Postgres(_) if lock => " FOR UPDATE",
        _ => "",
    };
    let mut found = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(UPSERT_CHUNK) {
        let placeholders = super::dispatch::placeholders(1, chunk.len());
        let sql =
            format!("SELECT {columns} FROM customers WHERE email_key IN ({placeholders}){lock}");
        let rows: Vec<T> = on_tx!(tx, conn => {
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

/// The stored customers among `keys`, locked for the rest of the transaction.
pub(crate) async fn customers_by_keys(tx: &mut Tx, keys: &[&str]) -> anyhow::Result<Vec<Customer>> {
    select_by_keys(tx, COLUMNS, keys, true).await
}

/// Writes customers (matched on `email_key`): new ones are inserted; for existing ones, given names,
/// time zone and locale replace the stored ones, attributes are merged key by key, and `created_at`
/// is replaced. Keys must be distinct within one call. `updated_at` becomes `now`.
pub(crate) async fn upsert_customers(
    tx: &mut Tx,
    rows: &[CustomerFields],
    now: Timestamp,
) -> anyhow::Result<()> {
    let merged_attributes = match tx {
        Tx::Sqlite(..) => "json_patch(customers.attributes, excluded.attributes)",
        Tx::Postgres(_) => "customers.attributes || excluded.attributes",
    };
    let on_conflict = format!(
        " ON CONFLICT (email_key) DO UPDATE SET first_name = COALESCE(excluded.first_name, customers.first_name), \
         last_name = COALESCE(excluded.last_name, customers.last_name), \
         timezone = COALESCE(excluded.timezone, customers.timezone), \
         locale = COALESCE(excluded.locale, customers.locale), attributes = {merged_attributes}, \
         created_at = excluded.created_at, updated_at = excluded.updated_at"
    );
    insert_customers(tx, rows, now, &on_conflict).await
}

/// Inserts customers that are not stored yet and leaves stored ones exactly as they are.
pub(crate) async fn insert_missing_customers(
    tx: &mut Tx,
    rows: &[CustomerFields],
    now: Timestamp,
) -> anyhow::Result<()> {
    insert_customers(tx, rows, now, " ON CONFLICT (email_key) DO NOTHING").await
}

async fn insert_customers(
    tx: &mut Tx,
    rows: &[CustomerFields],
    now: Timestamp,
    on_conflict: &str,
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
            q.push(on_conflict);
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
    select_by_keys(tx, "email_key, id", keys, false).await
}
