//! The planner: fires campaigns on their schedule or `at` time (one run per fire, however many
//! daemons share the database), and adds triggered campaigns' deliveries as events arrive.
//!
//! Where it stands is kept in the database, not in memory: a scheduled campaign's cursor starts at
//! its latest run (or when the campaign was first recorded, by a daemon or a `send`), so after
//! downtime only the latest
//! missed fire runs, within `[daemon] grace`; a triggered campaign rescans events recorded since a
//! little before it last looked, so no event is missed across restarts and none counts twice.

use crate::campaign::{plan_fire, plan_triggers};
use crate::clock::Clock;
use crate::config::{CampaignConfig, Config};
use crate::schedule::{Timing, When, catch_up, next_fire};
use crate::store::Store;
use crate::store::runs;
use crate::timestamp::Timestamp;
use crate::workspace::Workspace;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Triggered campaigns are evaluated this often (one indexed query each).
pub const TRIGGER_EVERY: Duration = Duration::from_secs(10);
/// Events recorded up to this long before the newest one seen at the last look are looked at again:
/// an import that took its `recorded_at` earlier may have committed after the look.
const RESCAN: Duration = Duration::from_secs(600);
/// A campaign whose planning failed is tried again this soon.
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// What one step of the planner did, and when it wants to run again.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Planned {
    /// Runs created by fires: `(campaign, run id)`.
    pub fired: Vec<(String, i64)>,
    /// Deliveries added to triggered campaigns.
    pub triggered: u64,
    /// The next fire of any campaign, or the next trigger evaluation, whichever is first.
    pub next: Option<Timestamp>,
}

pub struct Planner<'a> {
    config: &'a Config,
    store: &'a Store,
    segments_dir: PathBuf,
    clock: Clock,
    /// Per scheduled campaign: fires up to this instant have been dealt with.
    cursors: HashMap<String, Timestamp>,
    /// Set when the daemon stops: no fire is planned after it.
    cancel: CancellationToken,
    /// Per triggered campaign: the newest `recorded_at` of its event kind at the last look (the
    /// events' own stamps, not the clock, so a clock set for a rehearsal cannot skip any).
    looked: HashMap<String, Option<Timestamp>>,
}

impl<'a> Planner<'a> {
    pub fn new(config: &'a Config, store: &'a Store, segments_dir: PathBuf, clock: Clock) -> Self {
        Planner {
            config,
            store,
            segments_dir,
            clock,
            cursors: HashMap::new(),
            cancel: CancellationToken::new(),
            looked: HashMap::new(),
        }
    }

    /// Stops planning fires as soon as `cancel` fires (between campaigns).
    pub fn stopped_by(mut self, cancel: CancellationToken) -> Self {
        self.cancel = cancel;
        self
    }

    /// The planner of `workspace`'s campaigns.
    pub fn for_workspace(workspace: &'a Workspace, store: &'a Store, clock: Clock) -> Self {
        Planner::new(&workspace.config, store, workspace.segments_dir(), clock)
    }

    /// Fires what is due and evaluates the triggers, as of the clock's now. A campaign that fails
    /// (a segment file broken since the start, the database briefly away) is logged and tried again
    /// at the next step; the others go on.
    pub async fn run_once(&mut self) -> anyhow::Result<Planned> {
        let cancel = self.cancel.clone();
        let now = self.clock.now();
        let tz = self.config.workspace_timezone();
        let mut planned = Planned::default();
        let mut wake = Vec::new();
        for campaign in &self.config.campaigns {
            if cancel.is_cancelled() {
                break;
            }
            let Some(when) = When::of(campaign) else {
                continue;
            };
            match self.fire_due(campaign, when, now).await {
                Ok(Some(run_id)) => planned.fired.push((campaign.name().to_string(), run_id)),
                Ok(None) => {}
                Err(error) => {
                    tracing::error!(
                        campaign = campaign.name(),
                        "cannot plan the fire: {error:#}; trying again shortly"
                    );
                    wake.push(Timestamp::from(now.datetime() + RETRY_AFTER));
                }
            }
            wake.extend(next_fire(when, tz, now));
        }
        for campaign in self.config.campaigns.iter().filter(|c| c.is_triggered()) {
            match self.evaluate_trigger(campaign, now).await {
                Ok(added) => planned.triggered += added,
                Err(error) => tracing::error!(
                    campaign = campaign.name(),
                    "cannot look for triggering events: {error:#}; trying again shortly"
                ),
            }
            wake.push(Timestamp::from(now.datetime() + TRIGGER_EVERY));
        }
        planned.next = wake.into_iter().min();
        Ok(planned)
    }

    /// Plans the latest due fire of a scheduled campaign, if any; logs the missed ones. The cursor
    /// moves only once this succeeded, so a failed fire is tried again (within the grace).
    async fn fire_due(
        &mut self,
        campaign: &CampaignConfig,
        when: When<'_>,
        now: Timestamp,
    ) -> anyhow::Result<Option<i64>> {
        let name = campaign.name();
        let after = match self.cursors.get(name) {
            Some(cursor) => *cursor,
            None => self.first_cursor(campaign, when, now).await?,
        };
        let tz = self.config.workspace_timezone();
        let catchup = catch_up(when, tz, after, now, self.config.daemon.grace.0);
        let mut run = None;
        if let Some(fire) = catchup.run {
            let timing = Timing::new(self.config, campaign.deliver_at);
            run = plan_fire(self.store, &self.segments_dir, campaign, timing, fire, now).await?;
            if run.is_none() {
                tracing::info!(campaign = name, fire = %fire.datetime(), "this fire already has its run");
            }
        }
        for missed in &catchup.missed {
            tracing::warn!(
                campaign = name,
                fire = %missed.datetime(),
                "a fire was missed while no daemon ran; it is skipped (only the latest fire within [daemon] grace runs)"
            );
        }
        self.cursors.insert(name.to_string(), now);
        Ok(run.map(|(run_id, _)| run_id))
    }

    /// Where a campaign's fires start counting. A schedule counts from its latest run, or from when
    /// the campaign was first recorded (a new schedule does not fire for times before it existed).
    /// A one-shot time counts from its latest run only: added to a running shop a little late, it
    /// still goes if it is within the grace, since its time was the owner's plain intent.
    async fn first_cursor(
        &self,
        campaign: &CampaignConfig,
        when: When<'_>,
        now: Timestamp,
    ) -> anyhow::Result<Timestamp> {
        let mut tx = self.store.begin().await?;
        runs::campaign_id(&mut tx, campaign.name(), now).await?;
        let cursor = match when {
            When::Cron(_) => runs::schedule_cursor(&mut tx, campaign.name()).await?,
            When::Once(_) => runs::last_run_scheduled(&mut tx, campaign.name())
                .await?
                .unwrap_or(Timestamp::EPOCH),
        };
        tx.commit().await?;
        Ok(cursor)
    }

    async fn evaluate_trigger(
        &mut self,
        campaign: &CampaignConfig,
        now: Timestamp,
    ) -> anyhow::Result<u64> {
        let name = campaign.name().to_string();
        let Some(kind) = &campaign.trigger else {
            return Ok(0);
        };
        let newest = self.store.newest_recorded(kind.get_ref().as_str()).await?;
        // The first look after a start scans every event since the campaign began.
        let recorded_since = match self.looked.get(&name) {
            Some(Some(last)) => Timestamp::from(last.datetime() - RESCAN),
            Some(None) | None => Timestamp::EPOCH,
        };
        let timing = Timing::new(self.config, campaign.deliver_at);
        let added = plan_triggers(
            self.store,
            &self.segments_dir,
            campaign,
            timing,
            recorded_since,
            now,
        )
        .await?;
        self.looked.insert(name, newest);
        Ok(added)
    }
}
