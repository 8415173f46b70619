//! Starting a run: resume the campaign's unfinished run, or plan a new one from its segment in one
//! transaction (the run and all its deliveries appear together, or not at all). A finished run is
//! never repeated by accident: a new blast needs `new_run`.

use crate::config::CampaignConfig;
use crate::segment::{Condition, Library, compile};
use crate::store::runs::{self, Run, RunStatus};
use crate::store::{Dialect, Store, plan_members};
use crate::timestamp::Timestamp;
use std::path::Path;

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
    new_run: bool,
    now: Timestamp,
) -> anyhow::Result<Start> {
    let name = campaign.name.get_ref().as_str();
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
    let members = plan_members(&mut tx, run_id, &condition, now, now).await?;
    runs::set_run_status(&mut tx, run_id, RunStatus::Sending, now).await?;
    tx.commit().await?;
    tracing::info!(campaign = name, run = run_id, members, "planned a run");
    Ok(Start::Planned { run_id, members })
}
