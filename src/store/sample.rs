//! Customers to test templates against: `rapport check` renders every template for a sample of them.

use super::Store;
use super::customers::Customer;

impl Store {
    /// Up to `limit` customers spread over the table (every k-th by id), so that a sample of a large
    /// shop sees old and new customers alike. Uses the primary key only.
    pub async fn sample_customers(&self, limit: i64) -> anyhow::Result<Vec<Customer>> {
        let total = self.count_customers().await?;
        let step = (total / limit.max(1)).max(1);
        let sql = "SELECT id, email, email_key, first_name, last_name, timezone, locale, attributes, \
                   status, created_at, updated_at FROM customers \
                   WHERE (id % $1) = 0 OR $1 = 1 ORDER BY id LIMIT $2";
        Ok(
            on_pool!(self, pool => sqlx::query_as(sql).bind(step).bind(limit).fetch_all(pool).await)?,
        )
    }
}
