//! Moving freshly planned deliveries to each recipient's courteous local time. Planning writes every
//! delivery of a run due at one instant in one `INSERT … SELECT`; the time zones then split them into
//! a few groups (one per zone and planned instant), each moved with one `UPDATE`, so a run of 100,000
//! customers in twenty zones costs twenty statements, not 100,000.
//!
//! "Freshly planned" is exact: deliveries of the run with an id above the largest one before the
//! insert ([`last_id`]) and stamped with the planning instant, so no delivery is ever moved twice.

use super::Tx;
use crate::timestamp::Timestamp;

/// The largest delivery id so far (0 when there is none): deliveries planned next have larger ones.
pub async fn last_id(tx: &mut Tx) -> anyhow::Result<i64> {
    let sql = "SELECT COALESCE(MAX(id), 0) FROM deliveries";
    Ok(on_tx!(tx, conn => sqlx::query_scalar(sql).fetch_one(&mut *conn).await)?)
}

/// Which deliveries were just planned: those of `run_id` with an id above `after_id`, stamped `at`.
#[derive(Debug, Clone, Copy)]
pub struct Planned {
    pub run_id: i64,
    pub after_id: i64,
    pub at: Timestamp,
}

/// Deliveries just planned (still pending), grouped by the customer's time
/// zone (as stored: `None` when they have none) and due time.
pub async fn planned_groups(
    tx: &mut Tx,
    planned: Planned,
) -> anyhow::Result<Vec<(Option<String>, Timestamp)>> {
    let sql = "SELECT c.timezone, d.due_at FROM deliveries d JOIN customers c ON c.id = d.customer_id \
               WHERE d.run_id = $1 AND d.id > $2 AND d.status = 'pending' AND d.updated_at = $3 \
               GROUP BY c.timezone, d.due_at";
    Ok(on_tx!(tx, conn => {
        sqlx::query_as(sql).bind(planned.run_id).bind(planned.after_id).bind(planned.at).fetch_all(&mut *conn).await
    })?)
}

/// Moves one group of [`planned_groups`] to `due_at`. Returns how many deliveries moved.
pub async fn move_group(
    tx: &mut Tx,
    planned: Planned,
    group: &(Option<String>, Timestamp),
    due_at: Timestamp,
) -> anyhow::Result<u64> {
    let sql = "UPDATE deliveries SET due_at = $1 WHERE run_id = $2 AND id > $3 AND status = 'pending' AND updated_at = $4 \
               AND due_at = $5 AND customer_id IN (SELECT id FROM customers WHERE timezone IS NOT DISTINCT FROM $6)";
    let (zone, planned_due) = group;
    Ok(on_tx!(tx, conn => {
        sqlx::query(sql)
            .bind(due_at)
            .bind(planned.run_id)
            .bind(planned.after_id)
            .bind(planned.at)
            .bind(*planned_due)
            .bind(zone.as_deref())
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected())
    })?)
}
