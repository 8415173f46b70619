//! Running the daemon: the planner and the courier side by side, the tracking server beside them,
//! and a shutdown that stops scheduling, lets in-flight messages finish (within a bound), gives
//! unsent claims back and stops the server.

use super::courier::Courier;
use super::planner::{Planner, TRIGGER_EVERY};
use crate::clock::Clock;
use crate::message::Composer;
use crate::store::Store;
use crate::template::Library;
use crate::timestamp::Timestamp;
use crate::workspace::Workspace;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long in-flight work may take to finish after a stop is asked for.
pub const SHUTDOWN_BOUND: Duration = Duration::from_secs(30);
/// A loop never sleeps longer than this, so a changed clock or a missed notification heals itself.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// After an error (the database away, the disk full), a loop waits this long before trying again:
/// a daemon outlives such outages instead of exiting.
const ERROR_PAUSE: Duration = Duration::from_secs(10);

/// Every configured campaign's composer, built at start and again at each reload (SIGHUP, see
/// `cli::daemon`): the templates are read then.
pub struct CampaignComposers<'a> {
    pub composers: HashMap<String, Composer<'a>>,
}

impl<'a> CampaignComposers<'a> {
    /// Builds a composer per campaign; an error names the campaign whose template or DKIM key is wrong.
    pub fn new(workspace: &'a Workspace, library: &'a Library) -> anyhow::Result<Self> {
        let names = library.message_names();
        let mut composers = HashMap::new();
        for campaign in &workspace.config.campaigns {
            let template = campaign.template.get_ref().as_str();
            if !names.iter().any(|n| n == template) {
                anyhow::bail!(
                    "campaign {:?}: template {template:?} cannot be used (it needs templates/{template}.subject and \
                     templates/{template}.html, both compiling)\n  = hint: run `rapport check` for every problem",
                    campaign.name()
                );
            }
            let composer = Composer::new(&workspace.config, campaign, library)
                .with_dkim(&workspace.config, &workspace.dir)?;
            composers.insert(campaign.name().to_string(), composer);
        }
        Ok(CampaignComposers { composers })
    }
}

/// Runs the planner and the courier until `cancel` fires; then waits up to `SHUTDOWN_BOUND` for
/// the messages in flight.
pub async fn run_daemon(
    workspace: &Workspace,
    store: &Store,
    campaigns: &CampaignComposers<'_>,
    clock: Clock,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let planned = Notify::new();
    let mut planner =
        Planner::for_workspace(workspace, store, clock.clone()).stopped_by(cancel.clone());
    let mut courier = Courier::new(workspace, store, &campaigns.composers, clock.clone());
    // A restart (or a reload) is how an owner says "fixed": paused runs go on (and pause again if
    // not). Should the database be away for the moment, they wait for the next start or reload.
    match resume_paused(store).await {
        Ok(0) => {}
        Ok(resumed) => tracing::info!(runs = resumed, "paused runs resumed"),
        Err(error) => tracing::error!("paused runs could not be resumed: {error:#}"),
    }
    tracing::info!(
        campaigns = workspace.config.campaigns.len(),
        timezone = %workspace.config.workspace_timezone(),
        "daemon started"
    );
    let later = |by: Duration| Timestamp::from(clock.now().datetime() + by);
    let planning = async {
        while !cancel.is_cancelled() {
            let next = match planner.run_once().await {
                Ok(step) => {
                    if !step.fired.is_empty() || step.triggered > 0 {
                        planned.notify_one();
                    }
                    step.next.unwrap_or_else(|| later(TRIGGER_EVERY))
                }
                Err(error) => {
                    tracing::error!("planning failed: {error:#}; trying again shortly");
                    later(ERROR_PAUSE)
                }
            };
            sleep_until(&clock, next, &cancel, None).await;
        }
        anyhow::Ok(())
    };
    let delivering = async {
        while !cancel.is_cancelled() {
            let mut more_now = false;
            let mut next = match courier.run_once(&cancel).await {
                Ok(step) => {
                    more_now = step.more_now;
                    for (run, why) in &step.paused {
                        tracing::error!(
                            run,
                            "run paused: {why}; fix the cause, then `rapport send` resumes it"
                        );
                    }
                    step.next.unwrap_or_else(|| later(MAX_SLEEP))
                }
                Err(error) => {
                    tracing::error!("delivery failed: {error:#}; trying again shortly");
                    later(ERROR_PAUSE)
                }
            };
            // A run that stays due (of a campaign removed from rapport.toml) must not spin the loop;
            // after a run gave its turn to another, the next step comes at once (unless the rate
            // limits hold them all: `next` is then when they allow the next message).
            if !more_now {
                next = next.max(later(Duration::from_millis(200)));
            }
            sleep_until(&clock, next, &cancel, Some(&planned)).await;
        }
        courier.close().await;
        anyhow::Ok(())
    };
    let work = async { tokio::try_join!(planning, delivering).map(|_| ()) };
    tokio::pin!(work);
    tokio::select! {
        result = &mut work => return result,
        _ = cancel.cancelled() => {}
    }
    tracing::info!("stopping: no new fires; messages in flight finish");
    match tokio::time::timeout(SHUTDOWN_BOUND, work).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(
                "messages still in flight after {}s: stopping anyway; their leases bring them back",
                SHUTDOWN_BOUND.as_secs()
            );
            Ok(())
        }
    }
}

async fn resume_paused(store: &Store) -> anyhow::Result<u64> {
    let mut tx = store.begin().await?;
    let resumed = crate::store::runs::resume_paused(&mut tx).await?;
    tx.commit().await?;
    Ok(resumed)
}

/// Sleeps until the clock shows `at` (at most [`MAX_SLEEP`]), or until cancelled or notified.
async fn sleep_until(
    clock: &Clock,
    at: Timestamp,
    cancel: &CancellationToken,
    wake: Option<&Notify>,
) {
    let wait = (at.datetime() - clock.now().datetime())
        .to_std()
        .unwrap_or_default()
        .min(MAX_SLEEP);
    let notified = async {
        match wake {
            Some(notify) => notify.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        _ = cancel.cancelled() => {}
        _ = notified => {}
    }
}
