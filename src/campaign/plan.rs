//! Starting runs. A run and all its deliveries appear in one transaction, or not at all, each
//! delivery already due at its recipient's courteous local time (`deliver_at`, quiet hours).
//!
//! - `rapport send` resumes the campaign's unfinished run or plans one; a finished run is never
//!   repeated by accident: a new blast needs `new_run`.
//! - The daemon plans one run per fire, keyed by the fire's instant, so two daemons (or a restart
//!   mid-fire) cannot plan the same fire twice.
//! - A triggered campaign has one run for its whole life, to which each tick adds the customers
//!   whose triggering event arrived; (run, customer) is unique, so each customer gets it once.

use crate::config::CampaignConfig;
use crate::schedule::Timing;
use crate::segment::{Condition, Library, compile};
use crate::store::due_times::{self, Planned};
use crate::store::runs::{self, Run, RunStatus};
use crate::store::{Dialect, Store, Trigger, Tx, plan_members, plan_triggered};
use crate::timestamp::Timestamp;
use std::path::Path;
use std::time::Duration;

/// How a send began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// A new run with one delivery per segment member.
    Planned { run_id: i64, members: u64 },
    /// The campaign's unfinished run goes on.
    Resumed { run_id: i64 },
    /// The last run finished; nothing is sent without `new_run`.
    AlreadyFinished { run: Run },
}

/// Who the campaign is for at `now`: its segment compiled for `dialect`, or everyone when a
/// triggered campaign has no segment.
pub fn audience(
    segments_dir: &Path,
    campaign: &CampaignConfig,
    dialect: Dialect,
    now: Timestamp,
) -> anyhow::Result<Condition> {
    match campaign.segment_name() {
        Some(name) => {
            let rule = Library::load(segments_dir)?.rule(name)?;
            compile(&rule.expr, dialect, now)
        }
        None => Ok(Condition::everyone()),
    }
}

/// Resumes or plans the run of `campaign` (segments are read from `segments_dir`).
pub async fn start_run(
    store: &Store,
    segments_dir: &Path,
    campaign: &CampaignConfig,
    timing: Timing,
    new_run: bool,
    now: Timestamp,
) -> anyhow::Result<Start> {
    let name = campaign.name();
    if campaign.is_triggered() {
        // Its one run, whatever runs it had before it was given a trigger.
        let run_id = triggered_run(store, campaign, now).await?;
        return Ok(Start::Resumed { run_id });
    }
    if let Some(run) = store.latest_run(name).await? {
        match run.status {
            RunStatus::Finished if !new_run => return Ok(Start::AlreadyFinished { run }),
            RunStatus::Finished => {}
            _ => return Ok(Start::Resumed { run_id: run.id }),
        }
    }
    let condition = audience(segments_dir, campaign, store.dialect(), now)?;
    let mut tx = store.begin().await?;
    let campaign_id = runs::campaign_id(&mut tx, name, now).await?;
    // Another process may have planned a run since we looked: decide again under the campaign's lock.
    runs::lock_campaign(&mut tx, campaign_id).await?;
    if let Some(run_id) = runs::unfinished_run(&mut tx, campaign_id).await? {
        tx.rollback().await?;
        return Ok(Start::Resumed { run_id });
    }
    let Some(run_id) = runs::create_run(&mut tx, campaign_id, now, now).await? else {
        anyhow::bail!(
            "another process started a run of campaign {name:?} at this same instant; try again"
        );
    };
    let members = plan(&mut tx, run_id, &condition, timing, now).await?;
    tx.commit().await?;
    tracing::info!(
        campaign = name,
        run = run_id,
        planned = members,
        "run started"
    );
    Ok(Start::Planned { run_id, members })
}

/// Plans the run of `campaign` for the fire at `fire`; `None` when that fire already has its run
/// (another daemon, or this one before a restart, planned it).
pub async fn plan_fire(
    store: &Store,
    segments_dir: &Path,
    campaign: &CampaignConfig,
    timing: Timing,
    fire: Timestamp,
    now: Timestamp,
) -> anyhow::Result<Option<(i64, u64)>> {
    let name = campaign.name();
    let condition = audience(segments_dir, campaign, store.dialect(), now)?;
    let mut tx = store.begin().await?;
    let campaign_id = runs::campaign_id(&mut tx, name, now).await?;
    let Some(run_id) = runs::create_run(&mut tx, campaign_id, fire, now).await? else {
        tx.rollback().await?;
        return Ok(None);
    };
    let members = plan(&mut tx, run_id, &condition, timing, now).await?;
    tx.commit().await?;
    tracing::info!(campaign = name, run = run_id, fire = %fire.datetime(), planned = members, "run started");
    Ok(Some((run_id, members)))
}

/// Plans `condition`'s members into `run_id`, due now or at their courteous local time, and marks
/// the run as sending.
async fn plan(
    tx: &mut Tx,
    run_id: i64,
    condition: &Condition,
    timing: Timing,
    now: Timestamp,
) -> anyhow::Result<u64> {
    let after_id = due_times::last_id(tx).await?;
    let members = plan_members(tx, run_id, condition, now, now).await?;
    let planned = Planned {
        run_id,
        after_id,
        at: now,
    };
    apply_timing(tx, planned, timing).await?;
    runs::set_run_status(tx, run_id, RunStatus::Sending, now).await?;
    Ok(members)
}

/// Moves the deliveries just planned to their recipients' `deliver_at` and out of their quiet
/// hours: one `UPDATE` per time zone and due time. A due time already past (a triggering event
/// imported late) counts from now, so `deliver_at` still holds.
async fn apply_timing(tx: &mut Tx, planned: Planned, timing: Timing) -> anyhow::Result<()> {
    if timing.deliver_at.is_none() && timing.quiet_hours.is_none() {
        return Ok(());
    }
    for group in due_times::planned_groups(tx, planned).await? {
        let zone = timing.zone(group.0.as_deref());
        if let Some(deferral) = timing.due(zone, group.1.max(planned.at)) {
            due_times::move_group(tx, planned, &group, deferral.until()).await?;
        }
    }
    Ok(())
}

/// A triggered campaign's one run (created on first use): its `scheduled_for` is the epoch, so two
/// daemons starting together still share one run; its `created_at` is when the campaign was first
/// seen, the earliest event time that triggers it.
pub async fn triggered_run(
    store: &Store,
    campaign: &CampaignConfig,
    now: Timestamp,
) -> anyhow::Result<i64> {
    let mut tx = store.begin().await?;
    let run = triggered_run_in(&mut tx, campaign, now).await?;
    tx.commit().await?;
    Ok(run.id)
}

/// [`triggered_run`] inside the caller's transaction.
async fn triggered_run_in(
    tx: &mut Tx,
    campaign: &CampaignConfig,
    now: Timestamp,
) -> anyhow::Result<Run> {
    let campaign_id = runs::campaign_id(tx, campaign.name(), now).await?;
    if let Some(run_id) = runs::create_run(tx, campaign_id, Timestamp::EPOCH, now).await? {
        runs::set_run_status(tx, run_id, RunStatus::Sending, now).await?;
        tracing::info!(
            campaign = campaign.name(),
            run = run_id,
            "triggered campaign started"
        );
    }
    runs::run_for(tx, campaign_id, Timestamp::EPOCH).await
}

/// Adds to the triggered run the customers whose triggering event was recorded at or after
/// `recorded_since` (and occurred after the campaign was first seen), due `delay` after their latest
/// such event: the one that brought them into the segment. Returns how many were added.
pub async fn plan_triggers(
    store: &Store,
    segments_dir: &Path,
    campaign: &CampaignConfig,
    timing: Timing,
    recorded_since: Timestamp,
    now: Timestamp,
) -> anyhow::Result<u64> {
    let Some(kind) = &campaign.trigger else {
        return Ok(0);
    };
    let condition = audience(segments_dir, campaign, store.dialect(), now)?;
    let delay = campaign
        .delay
        .as_ref()
        .map_or(Duration::ZERO, |d| d.get_ref().0);
    let mut tx = store.begin().await?;
    let run = triggered_run_in(&mut tx, campaign, now).await?;
    let run_id = run.id;
    let trigger = Trigger {
        run_id,
        kind: kind.get_ref().as_str(),
        first_seen: run.created_at,
        recorded_since,
        delay,
    };
    let after_id = due_times::last_id(&mut tx).await?;
    let added = plan_triggered(&mut tx, &trigger, &condition, now).await?;
    if added > 0 {
        let planned = Planned {
            run_id,
            after_id,
            at: now,
        };
        apply_timing(&mut tx, planned, timing).await?;
    }
    tx.commit().await?;
    if added > 0 {
        tracing::info!(campaign = campaign.name(), run = run_id, added, "triggered");
    }
    Ok(added)
}
