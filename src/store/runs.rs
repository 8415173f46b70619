//! Campaigns and runs. A run is one firing of a campaign; `(campaign, scheduled_for)` is unique, so two
//! daemons (or a restart mid-fire) can never create the same run twice.

use super::{Store, Tx};
use crate::timestamp::Timestamp;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Deliveries are being written from the segment.
    Planning,
    Sending,
    /// Stopped by the engine (authentication failure, policy rejections piling up) or the owner.
    Paused,
    Finished,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Planning => "planning",
            RunStatus::Sending => "sending",
            RunStatus::Paused => "paused",
            RunStatus::Finished => "finished",
        }
    }

    fn parse(s: &str) -> anyhow::Result<Self> {
        Ok(match s {
            "planning" => RunStatus::Planning,
            "sending" => RunStatus::Sending,
            "paused" => RunStatus::Paused,
            "finished" => RunStatus::Finished,
            other => anyhow::bail!("unknown run status {other:?} in the database"),
        })
    }
}

/// A stored run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub id: i64,
    pub campaign_id: i64,
    pub scheduled_for: Timestamp,
    pub status: RunStatus,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: i64,
    campaign_id: i64,
    scheduled_for: Timestamp,
    status: String,
    created_at: Timestamp,
    finished_at: Option<Timestamp>,
}

impl TryFrom<RunRow> for Run {
    type Error = anyhow::Error;
    fn try_from(r: RunRow) -> anyhow::Result<Run> {
        Ok(Run {
            id: r.id,
            campaign_id: r.campaign_id,
            scheduled_for: r.scheduled_for,
            status: RunStatus::parse(&r.status)?,
            created_at: r.created_at,
            finished_at: r.finished_at,
        })
    }
}

const RUN_COLUMNS: &str = "id, campaign_id, scheduled_for, status, created_at, finished_at";

/// The id of the campaign named `name`, created on first use.
pub async fn campaign_id(tx: &mut Tx, name: &str, now: Timestamp) -> anyhow::Result<i64> {
    on_tx!(tx, conn => {
        sqlx::query("INSERT INTO campaigns (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        Ok(sqlx::query_scalar("SELECT id FROM campaigns WHERE name = $1").bind(name).fetch_one(&mut *conn).await?)
    })
}

/// Creates the run of `campaign_id` for `scheduled_for`; `None` when that run already exists.
pub async fn create_run(
    tx: &mut Tx,
    campaign_id: i64,
    scheduled_for: Timestamp,
    now: Timestamp,
) -> anyhow::Result<Option<i64>> {
    let sql = "INSERT INTO runs (campaign_id, scheduled_for, status, created_at) VALUES ($1, $2, 'planning', $3) \
               ON CONFLICT (campaign_id, scheduled_for) DO NOTHING RETURNING id";
    Ok(on_tx!(tx, conn => {
        sqlx::query_scalar(sql).bind(campaign_id).bind(scheduled_for).bind(now).fetch_optional(&mut *conn).await
    })?)
}

/// Moves a run to `status` (stamping `finished_at` when it finishes).
pub async fn set_run_status(
    tx: &mut Tx,
    run_id: i64,
    status: RunStatus,
    now: Timestamp,
) -> anyhow::Result<()> {
    let finished = (status == RunStatus::Finished).then_some(now);
    let sql = "UPDATE runs SET status = $1, finished_at = $2 WHERE id = $3";
    on_tx!(tx, conn => {
        sqlx::query(sql).bind(status.as_str()).bind(finished).bind(run_id).execute(&mut *conn).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// One delivery as listed for the owner: who, where it stands, and when it is (or was) due.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Listed {
    pub email: String,
    pub status: String,
    pub reason: Option<String>,
    pub due_at: Timestamp,
    /// When the relay had its whole message: set for a sent delivery and for an uncertain one (whose
    /// reply never came), so read `status` to tell them apart.
    pub sent_at: Option<Timestamp>,
}

impl Store {
    /// Every run of a campaign, oldest fire first.
    pub async fn runs_of(&self, campaign_name: &str) -> anyhow::Result<Vec<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE campaign_id = (SELECT id FROM campaigns WHERE name = $1) \
             ORDER BY scheduled_for, id"
        );
        let rows: Vec<RunRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).bind(campaign_name).fetch_all(pool).await)?;
        rows.into_iter().map(Run::try_from).collect()
    }

    /// The deliveries of a run, by address.
    pub async fn run_deliveries(&self, run_id: i64) -> anyhow::Result<Vec<Listed>> {
        let sql = "SELECT c.email, d.status, d.reason, d.due_at, d.sent_at FROM deliveries d \
                   JOIN customers c ON c.id = d.customer_id WHERE d.run_id = $1 ORDER BY c.email_key";
        Ok(on_pool!(self, pool => sqlx::query_as(sql).bind(run_id).fetch_all(pool).await)?)
    }

    /// A customer's emails not sent yet (planned, waiting for a retry, or in flight), soonest first:
    /// `(campaign, run, status, due)`. Uses `deliveries_customer`.
    pub async fn waiting_for_customer(
        &self,
        customer_id: i64,
    ) -> anyhow::Result<Vec<(String, i64, String, Timestamp)>> {
        let sql = "SELECT c.name, d.run_id, d.status, d.due_at FROM deliveries d JOIN runs r ON r.id = d.run_id \
                   JOIN campaigns c ON c.id = r.campaign_id \
                   WHERE d.customer_id = $1 AND d.status IN ('pending', 'retry', 'sending') ORDER BY d.due_at, d.id";
        Ok(on_pool!(self, pool => sqlx::query_as(sql).bind(customer_id).fetch_all(pool).await)?)
    }

    /// The delivery of `customer_id` in run `run_id`, if it has one.
    pub async fn delivery_for(
        &self,
        run_id: i64,
        customer_id: i64,
    ) -> anyhow::Result<Option<Listed>> {
        let sql = "SELECT c.email, d.status, d.reason, d.due_at, d.sent_at FROM deliveries d \
                   JOIN customers c ON c.id = d.customer_id WHERE d.run_id = $1 AND d.customer_id = $2";
        Ok(
            on_pool!(self, pool => sqlx::query_as(sql).bind(run_id).bind(customer_id).fetch_optional(pool).await)?,
        )
    }

    /// The run of the campaign named `campaign_name` for `scheduled_for`, if it exists.
    pub async fn run_scheduled_for(
        &self,
        campaign_name: &str,
        scheduled_for: Timestamp,
    ) -> anyhow::Result<Option<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE campaign_id = (SELECT id FROM campaigns WHERE name = $1) \
             AND scheduled_for = $2"
        );
        let row: Option<RunRow> = on_pool!(self, pool => sqlx::query_as(&sql).bind(campaign_name).bind(scheduled_for).fetch_optional(pool).await)?;
        row.map(Run::try_from).transpose()
    }

    /// The most recent run of a campaign, finished or not.
    pub async fn latest_run(&self, campaign_name: &str) -> anyhow::Result<Option<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE campaign_id = (SELECT id FROM campaigns WHERE name = $1) \
             ORDER BY scheduled_for DESC, id DESC LIMIT 1"
        );
        let row: Option<RunRow> = on_pool!(self, pool => sqlx::query_as(&sql).bind(campaign_name).fetch_optional(pool).await)?;
        row.map(Run::try_from).transpose()
    }
}

/// The run of `campaign_id` for `scheduled_for`.
pub async fn run_for(
    tx: &mut Tx,
    campaign_id: i64,
    scheduled_for: Timestamp,
) -> anyhow::Result<Run> {
    let sql =
        format!("SELECT {RUN_COLUMNS} FROM runs WHERE campaign_id = $1 AND scheduled_for = $2");
    let row: RunRow = on_tx!(tx, conn => sqlx::query_as(&sql).bind(campaign_id).bind(scheduled_for).fetch_one(&mut *conn).await)?;
    Run::try_from(row)
}

/// Where a scheduled campaign's fires start counting: its latest run's scheduled time, or when the
/// campaign was first recorded if that is later (or it has no run).
pub async fn schedule_cursor(tx: &mut Tx, campaign_name: &str) -> anyhow::Result<Timestamp> {
    let sql = "SELECT c.created_at, MAX(r.scheduled_for) FROM campaigns c LEFT JOIN runs r ON r.campaign_id = c.id \
               WHERE c.name = $1 GROUP BY c.created_at";
    let (created, latest): (Timestamp, Option<Timestamp>) = on_tx!(tx, conn => {
        sqlx::query_as(sql).bind(campaign_name).fetch_one(&mut *conn).await
    })?;
    Ok(latest.map_or(created, |latest| latest.max(created)))
}

/// The scheduled time of the campaign's latest run, if it has one.
pub async fn last_run_scheduled(
    tx: &mut Tx,
    campaign_name: &str,
) -> anyhow::Result<Option<Timestamp>> {
    let sql = "SELECT MAX(r.scheduled_for) FROM runs r JOIN campaigns c ON c.id = r.campaign_id WHERE c.name = $1";
    Ok(on_tx!(tx, conn => sqlx::query_scalar(sql).bind(campaign_name).fetch_one(&mut *conn).await)?)
}

/// Unfinished, unpaused runs with a delivery due by `now` (or whose lease expired): what the daemon
/// delivers next, as `(run id, campaign name)`. Uses `deliveries_due`.
pub async fn runs_with_due(tx: &mut Tx, now: Timestamp) -> anyhow::Result<Vec<(i64, String)>> {
    let sql = "SELECT r.id, c.name FROM runs r JOIN campaigns c ON c.id = r.campaign_id WHERE r.status = 'sending' \
               AND r.id IN (SELECT run_id FROM deliveries WHERE (status IN ('pending', 'retry') AND due_at <= $1) \
                   OR (status = 'sending' AND lease_until <= $1)) ORDER BY r.id";
    Ok(on_tx!(tx, conn => sqlx::query_as(sql).bind(now).fetch_all(&mut *conn).await)?)
}

/// When the next delivery of any sending run falls due (or a lease expires), if any.
pub async fn next_due_anywhere(tx: &mut Tx) -> anyhow::Result<Option<Timestamp>> {
    let sql = "SELECT MIN(CASE WHEN d.status = 'sending' THEN d.lease_until ELSE d.due_at END) FROM deliveries d \
               JOIN runs r ON r.id = d.run_id WHERE r.status = 'sending' AND d.status IN ('pending', 'retry', 'sending')";
    Ok(on_tx!(tx, conn => sqlx::query_scalar(sql).fetch_one(&mut *conn).await)?)
}

/// Hands every paused run back to the daemon (it starts again after the owner fixed the cause);
/// returns how many there were.
pub async fn resume_paused(tx: &mut Tx) -> anyhow::Result<u64> {
    let sql = "UPDATE runs SET status = 'sending' WHERE status = 'paused'";
    Ok(on_tx!(tx, conn => sqlx::query(sql).execute(&mut *conn).await.map(|r| r.rows_affected()))?)
}

/// Locks the campaign's row until the transaction ends (PostgreSQL `FOR UPDATE`; SQLite's write
/// transaction already excludes other writers), so that two processes cannot both plan a run.
pub async fn lock_campaign(tx: &mut Tx, campaign_id: i64) -> anyhow::Result<()> {
    if let Tx::Postgres(..) = tx {
        let sql = "SELECT id FROM campaigns WHERE id = $1 FOR UPDATE";
        on_tx!(tx, conn => sqlx::query_scalar::<_, i64>(sql).bind(campaign_id).fetch_one(&mut *conn).await)?;
    }
    Ok(())
}

/// The campaign's most recent run that has not finished, if any.
pub async fn unfinished_run(tx: &mut Tx, campaign_id: i64) -> anyhow::Result<Option<i64>> {
    let sql = "SELECT id FROM runs WHERE campaign_id = $1 AND status <> 'finished' ORDER BY id DESC LIMIT 1";
    Ok(
        on_tx!(tx, conn => sqlx::query_scalar(sql).bind(campaign_id).fetch_optional(&mut *conn).await)?,
    )
}
