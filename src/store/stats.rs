//! Campaign statistics: per run, how many messages were sent, failed, skipped, ended uncertain and
//! still wait, which together are every planned delivery, and how many of the sent ones were opened,
//! clicked and led to an unsubscribe (counted once per delivery).

use super::Store;
use crate::timestamp::Timestamp;

/// The figures of one run.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RunStats {
    pub campaign: String,
    pub run_id: i64,
    pub started: Timestamp,
    pub status: String,
    pub sent: i64,
    pub failed: i64,
    pub skipped: i64,
    /// The connection broke after the whole message was sent: it may have arrived.
    pub uncertain: i64,
    /// Not attempted yet, waiting for a retry, or being sent.
    pub waiting: i64,
    pub opened: i64,
    pub clicked: i64,
    pub unsubscribed: i64,
}

impl Store {
    /// Every run's figures, oldest first, of one campaign or of all.
    pub async fn run_stats(&self, campaign: Option<&str>) -> anyhow::Result<Vec<RunStats>> {
        let engaged = |kind: &str| {
            format!(
                "CAST(SUM(CASE WHEN EXISTS (SELECT 1 FROM events e WHERE e.delivery_id = d.id AND e.kind = '{kind}') \
                 THEN 1 ELSE 0 END) AS BIGINT)"
            )
        };
        let count = |statuses: &str| {
            format!("CAST(SUM(CASE WHEN d.status IN ({statuses}) THEN 1 ELSE 0 END) AS BIGINT)")
        };
        let sql = format!(
            "SELECT c.name AS campaign, r.id AS run_id, r.created_at AS started, r.status, {} AS sent, {} AS failed, \
             {} AS skipped, {} AS uncertain, {} AS waiting, {} AS opened, {} AS clicked, {} AS unsubscribed \
             FROM runs r JOIN campaigns c ON c.id = r.campaign_id JOIN deliveries d ON d.run_id = r.id \
             WHERE ($1 IS NULL OR c.name = $1) \
             GROUP BY c.name, r.id, r.created_at, r.status ORDER BY c.name, r.created_at, r.id",
            count("'sent'"),
            count("'failed'"),
            count("'skipped'"),
            count("'uncertain'"),
            count("'pending', 'retry', 'sending'"),
            engaged("email.opened"),
            engaged("email.clicked"),
            engaged("email.unsubscribed"),
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(campaign).fetch_all(pool).await)?)
    }
}
