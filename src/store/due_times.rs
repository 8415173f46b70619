//! Moving freshly planned deliveries to each recipient's courteous local time. Planning writes every
//! delivery of a run due at one instant in one `INSERT … SELECT`; the time zones then split them into
//! a few groups (one per zone and planned instant), each moved with one `UPDATE`, so a run of 100,000
//! customers in twenty zones costs twenty statements, not 100,000.

use super::Tx;
use crate::timestamp::Timestamp;

/// Deliveries of `run_id` planned at `planned_at` (still pending), grouped by the customer's time
/// zone (as stored: `None` when they have none) and due time.
pub async fn planned_groups(
    tx: &mut Tx,
    run_id: i64,
    planned_at: Timestamp,
) -> anyhow::Result<Vec<(Option<String>, Timestamp)>> {
    let sql = "SELECT c.timezone, d.due_at FROM deliveries d JOIN customers c ON c.id = d.customer_id \
               WHERE d.run_id = $1 AND d.status = 'pending' AND d.updated_at = $2 \
               GROUP BY c.timezone, d.due_at";
    Ok(on_tx!(tx, conn => {
        sqlx::query_as(sql).bind(run_id).bind(planned_at).fetch_all(&mut *conn).await
    })?)
}

/// Moves one group of [`planned_groups`] to `due_at`. Returns how many deliveries moved.
pub async fn move_group(
    tx: &mut Tx,
    run_id: i64,
    planned_at: Timestamp,
    group: &(Option<String>, Timestamp),
    due_at: Timestamp,
) -> anyhow::Result<u64> {
    let sql = "UPDATE deliveries SET due_at = $1 WHERE run_id = $2 AND status = 'pending' AND updated_at = $3 \
               AND due_at = $4 AND customer_id IN (SELECT id FROM customers WHERE timezone IS NOT DISTINCT FROM $5)";
    let (zone, planned_due) = group;
    Ok(on_tx!(tx, conn => {
        sqlx::query(sql)
            .bind(due_at)
            .bind(run_id)
            .bind(planned_at)
            .bind(*planned_due)
            .bind(zone.as_deref())
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected())
    })?)
}
