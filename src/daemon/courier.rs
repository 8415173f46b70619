//! The courier: delivers every unfinished run's due deliveries through the same
//! engine as `rapport send` (leases, send-time checks, retries, rate limits counted from the ledger),
//! taking runs in turn, a round of deliveries each.
//! Paused runs wait for the owner (`rapport send CAMPAIGN` resumes them) or a restart.

use crate::campaign::{Pass, deliver_pass};
use crate::clock::Clock;
use crate::message::Composer;
use crate::store::Store;
use crate::store::runs;
use crate::timestamp::Timestamp;
use crate::workspace::Workspace;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Deliveries one run gets per step before the courier turns to the next run: a newsletter to
/// everyone must not hold back a thank-you for the length of its send.
const ROUND: i64 = 2000;

/// How often a run delivered in many rounds is counted and logged ("run waiting") while its rounds
/// follow one another; a round after which the run waits is always logged.
const SUMMARY_EVERY: Duration = Duration::from_secs(10);

/// What one step of the courier did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Runs delivered in this step.
    pub runs: Vec<i64>,
    /// Runs that the engine paused (authentication failure, policy rejections).
    pub paused: Vec<(i64, String)>,
    /// When the next delivery of any run falls due.
    pub next: Option<Timestamp>,
    /// A run used up its round: it may have more to deliver now.
    pub more_now: bool,
    /// A run's delivery failed (the database or the disk): the courier should wait before retrying.
    pub failed: bool,
}

pub struct Courier<'a> {
    workspace: &'a Workspace,
    store: &'a Store,
    /// One composer per configured campaign, by name.
    composers: &'a HashMap<String, Composer<'a>>,
    clock: Clock,
    /// Runs of campaigns no longer in rapport.toml (said once).
    unknown: HashSet<i64>,
    /// When each run was last counted and logged.
    summarized: HashMap<i64, std::time::Instant>,
}

impl<'a> Courier<'a> {
    pub fn new(
        workspace: &'a Workspace,
        store: &'a Store,
        composers: &'a HashMap<String, Composer<'a>>,
        clock: Clock,
    ) -> Self {
        Courier {
            workspace,
            store,
            composers,
            clock,
            unknown: HashSet::new(),
            summarized: HashMap::new(),
        }
    }

    /// Delivers what is due now in every sending run; stops early when `cancel` fires.
    pub async fn run_once(&mut self, cancel: &CancellationToken) -> anyhow::Result<Delivered> {
        let mut delivered = Delivered::default();
        let mut tx = self.store.begin_read().await?;
        let due = runs::runs_with_due(&mut tx, self.clock.now()).await?;
        tx.rollback().await?;
        for (run_id, name) in due {
            if cancel.is_cancelled() {
                break;
            }
            let campaign = self
                .workspace
                .config
                .campaigns
                .iter()
                .find(|c| c.name() == name);
            let (Some(campaign), Some(composer)) = (campaign, self.composers.get(&name)) else {
                if self.unknown.insert(run_id) {
                    tracing::warn!(
                        campaign = %name,
                        run = run_id,
                        "run left unsent: rapport.toml no longer has this campaign"
                    );
                }
                continue;
            };
            let pass = Pass {
                limit: Some(ROUND),
                wait: Duration::ZERO,
                // The limits are the relay's and hold for every run alike: waiting is all there is to do.
                wait_for_rate: Duration::from_secs(7 * 86_400),
                cancel: cancel.clone(),
                clock: self.clock.clone(),
                on_progress: &|| {},
                // A count of a run of 250,000 takes tens of milliseconds; its rounds, a third of a
                // second each at full speed, log their progress every SUMMARY_EVERY.
                summarize_rounds: self
                    .summarized
                    .get(&run_id)
                    .is_none_or(|at| at.elapsed() >= SUMMARY_EVERY),
            };
            let passed = deliver_pass(
                self.workspace,
                self.store,
                campaign,
                composer,
                run_id,
                &pass,
            )
            .await?;
            if passed.summary.is_some() {
                self.summarized.insert(run_id, std::time::Instant::now());
            }
            delivered.runs.push(run_id);
            delivered.more_now |= passed.limit_reached;
            if let Some(why) = passed.stopped {
                delivered.paused.push((run_id, why));
            }
        }
        let mut tx = self.store.begin_read().await?;
        delivered.next = runs::next_due_anywhere(&mut tx).await?;
        tx.rollback().await?;
        Ok(delivered)
    }
}
