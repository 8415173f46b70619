//! The courier: delivers every unfinished run's due deliveries through the same
//! engine as `rapport send` (leases, send-time checks, retries, rate limits counted from the ledger),
//! taking runs in turn, a round of a few seconds each, through SMTP connections kept from round to
//! round while there is more to send.
//! Paused runs wait for the owner (`rapport send CAMPAIGN` resumes them) or a restart.

use crate::campaign::{Links, Pass, RateHold, Round, deliver_pass};
use crate::clock::Clock;
use crate::message::Composer;
use crate::store::Store;
use crate::store::runs;
use crate::timestamp::Timestamp;
use crate::workspace::Workspace;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long one run is delivered per step before the courier turns to the next run: a newsletter
/// to everyone must not hold back a thank-you for the length of its send, even when the rate limits
/// make that send last for hours. At full speed a round is some ten thousand messages.
const ROUND: Duration = Duration::from_secs(2);

/// When messages claimed by another sender take up the rate limits, how soon to look again.
const CLAIMED_RECHECK: Duration = Duration::from_secs(1);

/// The workers' connections are kept for a step due within this long, and closed before a longer
/// wait: servers drop idle connections, and a message sent on a dropped one fails for a retry.
const KEEP_IDLE: Duration = Duration::from_secs(10);

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
    /// When the next delivery of any run falls due and the rate limits allow it.
    pub next: Option<Timestamp>,
    /// A run gave its turn to another at the end of its round: it may have more to deliver now.
    pub more_now: bool,
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
    /// The workers' connections, kept between back-to-back rounds.
    links: Links,
    /// Each run's turn, which gives way only to runs this courier can deliver.
    round: Round,
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
            links: Links::default(),
            round: Round {
                every: ROUND,
                campaigns: composers.keys().cloned().collect(),
            },
        }
    }

    /// Closes the connections kept between rounds.
    pub async fn close(&mut self) {
        self.links.close().await;
    }

    /// Delivers what is due now in every sending run, transactional campaigns first (a receipt
    /// takes the rate limits' room before a newsletter does), then oldest run first; stops early
    /// when `cancel` fires.
    pub async fn run_once(&mut self, cancel: &CancellationToken) -> anyhow::Result<Delivered> {
        let mut delivered = Delivered::default();
        let mut rate_allows: Option<Timestamp> = None;
        let mut tx = self.store.begin_read().await?;
        let mut due = runs::runs_with_due(&mut tx, self.clock.now()).await?;
        tx.rollback().await?;
        let config = &self.workspace.config;
        due.sort_by_key(|(_, name)| {
            !config
                .campaigns
                .iter()
                .any(|c| c.name() == name && c.transactional)
        });
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
            let progress = PassProgress::new(&name, run_id);
            let pass = Pass {
                limit: None,
                round: Some(self.round.clone()),
                wait: Duration::ZERO,
                // The limits are the relay's and hold for every run alike: a longer wait ends the
                // step, which then sleeps until they allow the next message.
                wait_for_rate: ROUND,
                cancel: cancel.clone(),
                clock: self.clock.clone(),
                on_progress: &|| progress.tick(),
                // A count of a run of 250,000 takes tens of milliseconds; its rounds log their
                // progress every SUMMARY_EVERY.
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
                &mut self.links,
            )
            .await?;
            if passed.summary.is_some() {
                self.summarized.insert(run_id, std::time::Instant::now());
            }
            delivered.runs.push(run_id);
            delivered.more_now |= passed.used_its_round;
            if let Some(why) = passed.stopped {
                delivered.paused.push((run_id, why));
            }
            let held = match passed.rate_held {
                Some(RateHold::Until(at)) => at,
                Some(RateHold::Claimed) => {
                    Timestamp::from(self.clock.now().datetime() + CLAIMED_RECHECK)
                }
                None => continue,
            };
            // The limits are the relay's, the same for every run: the earliest is when any may go.
            rate_allows = Some(rate_allows.map_or(held, |earliest| earliest.min(held)));
        }
        let mut tx = self.store.begin_read().await?;
        delivered.next = runs::next_due_anywhere(&mut tx).await?;
        tx.rollback().await?;
        if let Some(allows) = rate_allows {
            delivered.next = delivered.next.map(|next| next.max(allows));
        }
        let soon = Timestamp::from(self.clock.now().datetime() + KEEP_IDLE);
        if !delivered.more_now && delivered.next.is_none_or(|next| next > soon) {
            self.links.close().await;
        }
        Ok(delivered)
    }
}

/// A line in the log every [`SUMMARY_EVERY`] while one pass goes on (a run alone is not cut into
/// rounds, and may be sent for hours under the rate limits): how many messages it has handled.
/// Counted in memory, not in the database.
struct PassProgress<'a> {
    campaign: &'a str,
    run: i64,
    handled: std::sync::atomic::AtomicU64,
    logged: std::sync::Mutex<std::time::Instant>,
}

impl<'a> PassProgress<'a> {
    fn new(campaign: &'a str, run: i64) -> Self {
        PassProgress {
            campaign,
            run,
            handled: Default::default(),
            logged: std::sync::Mutex::new(std::time::Instant::now()),
        }
    }

    /// One more delivery handled (sent, skipped, failed or deferred).
    fn tick(&self) {
        use std::sync::atomic::Ordering;
        let handled = self.handled.fetch_add(1, Ordering::Relaxed) + 1;
        let mut logged = self.logged.lock().expect("not poisoned");
        if logged.elapsed() >= SUMMARY_EVERY {
            *logged = std::time::Instant::now();
            let (campaign, run) = (self.campaign, self.run);
            tracing::info!(campaign, run, handled, "run sending");
        }
    }
}
