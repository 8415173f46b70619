//! Delivering a run: `concurrency` workers, each with its own [`Link`], claim due deliveries in small
//! batches, check each at send time, compose, wait for the rate limits, send, and record the outcome.
//!
//! Invariants: a delivery is leased (claimed) before its message leaves and marked right after, so a
//! crash loses nothing and duplicates at most the messages in flight: a worker's message is delivered
//! (its final "." written) only once the worker's previous attempt is committed, so at most one per
//! worker is ever sent but unrecorded. Its envelope (MAIL, RCPT, DATA), which delivers nothing, goes
//! out while that commit is under way. Cancellation is checked between messages, and once more before
//! a message is delivered; claimed but unsent deliveries are given back.
//!
//! The database work is batched: claims grow to [`MOST_CLAIMED`] deliveries, checked together, and the
//! ledger writer commits the attempts of all workers together
//! ([`crate::store::sent::record_sent`]).

use super::checks::{send_time_check, send_time_checks};
use super::link::Link;
use super::outcome::{self, Attempt, Recorded, RunContext};
use crate::clock::Clock;
use crate::config::Rate;
use crate::message::{ComposeError, Composer, DeliveryRef};
use crate::schedule::Timing;
use crate::send::{Backoff, RateLimiter};
use crate::store::deliveries::{self, Claimed, Mark, Stripe};
use crate::store::runs;
use crate::store::{Customer, Store, Summary};
use crate::timestamp::Timestamp;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Deliveries a worker claims at first; each later claim doubles, up to [`MOST_CLAIMED`]. Small first
/// claims share a small run among all workers; larger ones make fewer claims and batch checks.
const FIRST_CLAIM: i64 = 8;
const MOST_CLAIMED: i64 = 64;
/// A claim is sent only if its lease still has this long to run (a message takes seconds at most,
/// unless the server is very slow: then the lease must be longer, see `[delivery] lease`).
const LEASE_MARGIN: chrono::Duration = chrono::Duration::seconds(1);
/// Batch checks older than this are made again for the one message about to be sent.
const RECHECK_AFTER: Duration = Duration::from_secs(1);

/// The send-time checks of a claimed batch, and when they were made.
struct Checked {
    skips: HashMap<i64, crate::campaign::Skip>,
    at: std::time::Instant,
}

/// How long the ledger writer waits for every worker's attempt before it commits those it has: a
/// commit per group rather than per attempt is most of what a message costs the database.
const GATHER_FOR: Duration = Duration::from_millis(1);

/// Policy rejections (5.7.x) in one send after which the run pauses: the sender's setup is wrong.
const POLICY_PAUSE_AFTER: u64 = 10;

/// How to deliver.
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    pub concurrency: usize,
    /// Attempt at most this many deliveries in this call.
    pub limit: Option<i64>,
    /// The daemon's turn: after a round, if another run has deliveries due, claim nothing more and
    /// give back what is claimed and not yet sent (if none has, go on for another round).
    pub round: Option<Round>,
    /// Keep waiting for retries due within this long; later ones are left for the next send.
    pub wait_for_retries: Duration,
    /// Wait at most this long for the rate limits to allow a message; past it, the pass stops.
    pub wait_for_rate: Duration,
    /// How long a claim holds before another sender may take the delivery back.
    pub lease: Duration,
    pub backoff: Backoff,
    pub max_per_week: Option<u32>,
    /// The campaign's `transactional`: its `email.sent` events say so, and the weekly cap skips them.
    pub transactional: bool,
    /// Quiet hours (and the default time zone) checked at the moment of sending.
    pub timing: Timing,
    pub clock: Clock,
}

/// How long the daemon delivers one run before it gives way to another that has deliveries due,
/// and which runs count: those of the campaigns it can deliver (a run of a campaign removed from
/// rapport.toml stays due, and must not cut every other run short).
#[derive(Debug, Clone)]
pub struct Round {
    pub every: Duration,
    pub campaigns: Vec<String>,
}

/// One run being delivered, shared by its workers.
pub struct Delivery<'a> {
    pub store: &'a Store,
    pub composer: &'a Composer<'a>,
    pub campaign: &'a str,
    pub topic: &'a str,
    pub run_id: i64,
    pub options: DeliveryOptions,
    pub cancel: CancellationToken,
    /// Called after each delivery is processed (progress display).
    pub on_progress: &'a (dyn Fn() + Sync),
    limiter: Mutex<RateLimiter>,
    /// The rate limits (none for the outbox): claims stay within what they leave for every sender.
    limits: Vec<Rate>,
    budget: AtomicI64,
    /// Claims given back unsent before the round ended (see [`give_back`]).
    given_back: AtomicU64,
    policy_rejections: AtomicU64,
    /// Workers asleep for the rate limits or a retry: the ledger does not wait for their attempts
    /// to share its commit, as it waits (briefly) for those of the workers that are busy.
    asleep: AtomicUsize,
    /// Set once the rate limits would make the send wait longer than it is willing to.
    rate_held: Mutex<Option<RateHold>>,
    /// When the round ends ([`DeliveryOptions::round`]), unless no other run is due by then.
    round_ends: Mutex<Option<tokio::time::Instant>>,
    /// The round ended with another run due: the workers stop.
    turn_over: AtomicBool,
    stopped: Mutex<Option<String>>,
}

impl<'a> Delivery<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: &'a Store,
        composer: &'a Composer<'a>,
        campaign: &'a str,
        topic: &'a str,
        run_id: i64,
        options: DeliveryOptions,
        limiter: RateLimiter,
        cancel: CancellationToken,
        on_progress: &'a (dyn Fn() + Sync),
    ) -> Self {
        let budget = AtomicI64::new(options.limit.unwrap_or(i64::MAX));
        let round_ends =
            (options.round.as_ref()).map(|round| tokio::time::Instant::now() + round.every);
        Delivery {
            store,
            composer,
            campaign,
            topic,
            run_id,
            options,
            cancel,
            on_progress,
            limits: limiter.limits().to_vec(),
            limiter: Mutex::new(limiter),
            budget,
            round_ends: Mutex::new(round_ends),
            turn_over: AtomicBool::new(false),
            given_back: AtomicU64::new(0),
            policy_rejections: AtomicU64::new(0),
            asleep: AtomicUsize::new(0),
            rate_held: Mutex::new(None),
            stopped: Mutex::new(None),
        }
    }
}

impl Delivery<'_> {
    /// After [`deliver_run`]: whether the workers used all that `limit` allowed, or stopped at the
    /// end of their round for another run, and gave none of it back unsent before, so more of the
    /// run may be due already. (Claims given back, because their lease ran short or the send
    /// stopped, mean the run was not making progress.)
    pub fn used_its_round(&self) -> bool {
        let spent = self.options.limit.is_some() && self.budget.load(Ordering::SeqCst) <= 0;
        (spent || self.round_over()) && self.given_back.load(Ordering::SeqCst) == 0
    }

    /// Whether the round ended with another run due: the workers claim nothing more and give back
    /// what they hold.
    fn round_over(&self) -> bool {
        self.turn_over.load(Ordering::SeqCst)
    }

    /// After [`deliver_run`]: why the pass stopped for the rate limits, if it did.
    pub fn rate_held(&self) -> Option<RateHold> {
        *self.rate_held.lock().expect("not poisoned")
    }
}

/// Why a pass stopped for the rate limits: they would make it wait longer than it is willing to
/// (`rapport send`'s `--wait-retries`, the daemon's round).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateHold {
    /// The limits allow the next message at this time.
    Until(Timestamp),
    /// Messages claimed and not yet sent take the limits up: by another rapport sending now, or by
    /// one that stopped (their leases bring them back).
    Claimed,
}

impl std::fmt::Display for RateHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RateHold::Until(next) => write!(
                f,
                "the sending rate limit is reached: the next message may go at {next}"
            ),
            RateHold::Claimed => f.write_str(
                "the sending rate limit is taken up by messages claimed and not yet sent (by another \
                 rapport sending now, or one that stopped): try again later",
            ),
        }
    }
}

/// Runs the workers, one per link, until nothing is due (within `wait_for_retries`), the budget or
/// the round is spent, or the delivery is cancelled. Returns why it stopped early, if it did (a
/// relay that refuses us, policy rejections piling up), and the links, for the next pass: each is
/// between two messages. After an error the links are closed.
pub async fn deliver_run(
    delivery: &Delivery<'_>,
    links: Vec<Link>,
) -> anyhow::Result<(Option<String>, Vec<Link>)> {
    let (ledger, attempts) = mpsc::channel(links.len().max(1));
    let workers: Vec<_> = links
        .into_iter()
        .enumerate()
        .map(|(index, link)| worker(delivery, index, link, ledger.clone()))
        .collect();
    drop(ledger);
    let (recorded, worked) = tokio::join!(
        record_attempts(delivery, attempts),
        futures_util::future::join_all(workers)
    );
    let (results, links): (Vec<_>, Vec<Link>) = worked.into_iter().unzip();
    if let Some(failed) = results.into_iter().find_map(Result::err).or(recorded.err()) {
        super::link::close_all(links).await;
        return Err(failed);
    }
    let stopped = delivery.stopped.lock().expect("not poisoned").clone();
    Ok((stopped, links))
}

/// An attempt on its way to the ledger, and where to say that its commit has begun, and what was
/// recorded.
struct ToRecord {
    attempt: Attempt,
    taken: oneshot::Sender<()>,
    recorded: oneshot::Sender<Recorded>,
}

/// The ledger writer: records the attempts of all workers, committing together those that arrive
/// together (group commit). Each worker waits for its attempt to be committed before it delivers
/// its next message, so at most one message per worker is ever sent but unrecorded, while the
/// commits, each an fsync, are shared.
async fn record_attempts(
    d: &Delivery<'_>,
    mut attempts: mpsc::Receiver<ToRecord>,
) -> anyhow::Result<()> {
    let run = RunContext {
        campaign: d.campaign,
        run_id: d.run_id,
        backoff: d.options.backoff,
        transactional: d.options.transactional,
    };
    while let Some(first) = attempts.recv().await {
        let mut batch = vec![first];
        // Each worker has at most one attempt here: wait briefly for the others' to share the
        // commit (not for those asleep).
        let deadline = tokio::time::Instant::now() + GATHER_FOR;
        while batch.len() + d.asleep.load(Ordering::SeqCst) < attempts.sender_strong_count() {
            match tokio::time::timeout_at(deadline, attempts.recv()).await {
                Ok(Some(more)) => batch.push(more),
                _ => break,
            }
        }
        let (batch, replies): (Vec<Attempt>, Vec<_>) = batch
            .into_iter()
            .map(|to| {
                let _ = to.taken.send(());
                (to.attempt, to.recorded)
            })
            .unzip();
        let recorded = outcome::record_all(d.store, &run, batch).await?;
        for (recorded, reply) in recorded.into_iter().zip(replies) {
            let _ = reply.send(recorded);
        }
    }
    Ok(())
}

/// One worker, until its run is done; hands its link back.
async fn worker(
    d: &Delivery<'_>,
    index: usize,
    mut link: Link,
    ledger: mpsc::Sender<ToRecord>,
) -> (anyhow::Result<()>, Link) {
    let mut lane = Lane {
        index,
        link: &mut link,
        ledger: &ledger,
        previous: None,
    };
    let mut result = work(d, &mut lane).await;
    if let Some(pending) = lane.previous.take() {
        if result.is_ok() {
            result = settle(d, pending).await;
        }
    }
    if result.is_err() {
        // Stop the other workers too: the run is in an unknown state; leases bring its claims back.
        d.cancel.cancel();
    }
    (result, link)
}

/// A worker's way out: its link, the ledger, and its last attempt still on its way there.
struct Lane<'l> {
    /// Which of the workers this is (0 to `concurrency - 1`).
    index: usize,
    link: &'l mut Link,
    ledger: &'l mpsc::Sender<ToRecord>,
    previous: Option<Pending>,
}

async fn work(d: &Delivery<'_>, lane: &mut Lane<'_>) -> anyhow::Result<()> {
    let mut batch_size = FIRST_CLAIM;
    // How long this worker has waited in a row for the rate limits to leave room for a claim.
    let mut waited_for_capacity = Duration::ZERO;
    while !d.cancel.is_cancelled() && !turn_is_over(d).await {
        let wanted = reserve(&d.budget, batch_size);
        if wanted == 0 {
            break;
        }
        let now = d.options.clock.now();
        let (claims, held_back) = claim_within_rate(d, lane.index, now, wanted).await?;
        d.budget
            .fetch_add(wanted - claims.len() as i64, Ordering::SeqCst);
        if claims.is_empty() {
            // What is due next depends on how the last attempt went.
            if let Some(pending) = lane.previous.take() {
                settle(d, pending).await?;
            }
            let go_on = match held_back {
                Some(wait) if due_now(d, now).await? => {
                    wait_for_capacity(d, wait, &mut waited_for_capacity).await
                }
                _ => wait_for_next_due(d, now).await?,
            };
            if !go_on {
                break;
            }
            continue;
        }
        waited_for_capacity = Duration::ZERO;
        let ids: Vec<i64> = claims.iter().map(|c| c.customer_id).collect();
        let customers: HashMap<i64, Customer> = d
            .store
            .customers_by_ids(&ids)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let summaries = d.store.summaries(&ids).await?;
        // Send-time checks for the whole batch at once; a message that then waits (for the rate
        // limits) longer than RECHECK_AFTER is checked again on its own just before it is sent.
        let batch: Vec<&Customer> = claims
            .iter()
            .filter_map(|c| customers.get(&c.customer_id))
            .collect();
        let mut tx = d.store.begin_read().await?;
        let skips = send_time_checks(
            &mut tx,
            &batch,
            d.topic,
            d.options.max_per_week,
            d.options.clock.now(),
        )
        .await?;
        tx.rollback().await?;
        let checked = Checked {
            skips,
            at: std::time::Instant::now(),
        };
        for (i, claim) in claims.iter().enumerate() {
            if d.cancel.is_cancelled() || turn_is_over(d).await {
                give_back(d, &claims[i..]).await?;
                break;
            }
            let summary = summaries
                .get(&claim.customer_id)
                .cloned()
                .unwrap_or_default();
            process(
                d,
                lane,
                claim,
                customers.get(&claim.customer_id),
                &summary,
                &checked,
            )
            .await?;
            (d.on_progress)();
        }
        batch_size = (batch_size * 2).min(MOST_CLAIMED);
    }
    Ok(())
}

/// Whether this worker should stop for the end of the round: its time is up and another run has
/// deliveries due (checked once per round, by the first worker to find the time up; the round goes
/// on while no other run waits, so a run alone is not cut into pieces for nothing). The check is
/// only for fairness: should the database not answer it, the run goes on.
async fn turn_is_over(d: &Delivery<'_>) -> bool {
    if d.round_over() {
        return true;
    }
    let (Some(round), now) = (&d.options.round, tokio::time::Instant::now()) else {
        return false;
    };
    {
        let mut ends = d.round_ends.lock().expect("not poisoned");
        match *ends {
            Some(at) if now >= at => *ends = Some(now + round.every),
            _ => return false,
        }
    }
    let due = async {
        let mut tx = d.store.begin_read().await?;
        let due = runs::runs_with_due(&mut tx, d.options.clock.now()).await?;
        tx.rollback().await?;
        anyhow::Ok(due)
    };
    let others_due = match due.await {
        Ok(due) => due
            .iter()
            .any(|(run, name)| *run != d.run_id && round.campaigns.contains(name)),
        Err(error) => {
            tracing::warn!(
                run = d.run_id,
                "cannot tell whether other runs wait: {error:#}"
            );
            false
        }
    };
    if others_due {
        d.turn_over.store(true, Ordering::SeqCst);
    }
    others_due
}

/// Claims up to `wanted` due deliveries, no more than the rate limits leave for every sender of the
/// database (see [`deliveries::rate_capacity`]). When the limits leave none, claims nothing and
/// returns how long until they may leave one (`None` inside: soon, ask again). Without limits (the
/// fast case) the claim is a transaction of its own, on SQLite through the store's own connection,
/// and takes from the worker's [`Stripe`] first.
async fn claim_within_rate(
    d: &Delivery<'_>,
    worker: usize,
    now: Timestamp,
    wanted: i64,
) -> anyhow::Result<(Vec<Claimed>, Option<Option<Duration>>)> {
    if d.limits.is_empty() {
        let stripe = Stripe {
            index: worker as i64,
            of: d.options.concurrency.max(1) as i64,
        };
        let claims = deliveries::claim(
            d.store,
            d.run_id,
            now,
            d.options.lease,
            wanted,
            Some(stripe),
        )
        .await?;
        return Ok((claims, None));
    }
    // The capacity count and the claim in one write transaction: two senders never both take the
    // last of a limit.
    let mut tx = d.store.begin().await?;
    let capacity = deliveries::rate_capacity(&mut tx, &d.limits, d.options.lease, now).await?;
    if capacity.free == 0 {
        tx.rollback().await?;
        return Ok((Vec::new(), Some(capacity.wait)));
    }
    let allowed = wanted.min(capacity.free).min(short_window_share(d));
    let claims = deliveries::claim_due(&mut tx, d.run_id, now, d.options.lease, allowed).await?;
    tx.commit().await?;
    Ok((claims, None))
}

/// A worker's share of the tightest limit of under a minute ("20/s"): a claim counts against the
/// window until its messages are sent, one at a time, so a worker that claimed more than its share
/// would hold back the others for longer than the window.
fn short_window_share(d: &Delivery<'_>) -> i64 {
    let workers = d.options.concurrency.max(1) as i64;
    d.limits
        .iter()
        .filter(|limit| limit.per < Duration::from_secs(60))
        .map(|limit| (i64::from(limit.count) / workers).max(1))
        .min()
        .unwrap_or(i64::MAX)
}

/// Whether a delivery of the run is due now (the limits are then what holds it back). Read after
/// the claim's transaction, so as not to hold the write lock for it.
async fn due_now(d: &Delivery<'_>, now: Timestamp) -> anyhow::Result<bool> {
    let mut tx = d.store.begin_read().await?;
    let due = deliveries::next_due(&mut tx, d.run_id).await?;
    tx.rollback().await?;
    Ok(due.is_some_and(|due| due <= now))
}

/// Sleeps while the rate limits leave nothing: `wait` if known, a second when only claims not yet
/// sent hold the capacity. False when the worker should stop, once the wait (in a row, `waited` so
/// far) would pass what the send is willing to wait. Only this worker stops: the others may hold
/// claims that the limits already allowed, which are sent before they stop in turn.
async fn wait_for_capacity(
    d: &Delivery<'_>,
    wait: Option<Duration>,
    waited: &mut Duration,
) -> bool {
    let step = wait
        .unwrap_or(Duration::from_secs(1))
        .max(Duration::from_millis(50));
    if *waited + step > d.options.wait_for_rate {
        report_rate_limit(d, wait);
        return false;
    }
    *waited += step;
    tokio::select! {
        _ = sleep(d, step) => true,
        _ = d.cancel.cancelled() => false,
    }
}

/// Takes up to `wanted` from the budget; returns how many were taken.
fn reserve(budget: &AtomicI64, wanted: i64) -> i64 {
    let mut current = budget.load(Ordering::SeqCst);
    loop {
        let take = current.min(wanted).max(0);
        match budget.compare_exchange(current, current - take, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return take,
            Err(actual) => current = actual,
        }
    }
}

/// Sleeps until the next delivery is due if that is soon enough; false when the worker should stop.
async fn wait_for_next_due(d: &Delivery<'_>, now: Timestamp) -> anyhow::Result<bool> {
    if d.options.wait_for_retries.is_zero() {
        // The claim just found nothing due: nothing to wait for (and no need to read the run).
        return Ok(false);
    }
    let mut tx = d.store.begin_read().await?;
    let next = deliveries::next_due(&mut tx, d.run_id).await?;
    tx.rollback().await?;
    let Some(next) = next else { return Ok(false) };
    let wait = (next.datetime() - now.datetime())
        .to_std()
        .unwrap_or_default();
    if wait > d.options.wait_for_retries {
        return Ok(false);
    }
    tokio::select! {
        _ = sleep(d, wait.max(Duration::from_millis(50))) => Ok(true),
        _ = d.cancel.cancelled() => Ok(false),
    }
}

/// Gives claims back unsent, for a later pass; those given back at the end of a round were only
/// waiting for their turn, the others count against [`Delivery::used_its_round`].
async fn give_back(d: &Delivery<'_>, claims: &[Claimed]) -> anyhow::Result<()> {
    if !d.round_over() {
        d.given_back
            .fetch_add(claims.len() as u64, Ordering::SeqCst);
    }
    let mut tx = d.store.begin().await?;
    for claim in claims {
        deliveries::release(&mut tx, claim, d.options.clock.now()).await?;
    }
    tx.commit().await
}

async fn process(
    d: &Delivery<'_>,
    lane: &mut Lane<'_>,
    claim: &Claimed,
    customer: Option<&Customer>,
    summary: &Summary,
    checked: &Checked,
) -> anyhow::Result<()> {
    let Some(customer) = customer else {
        return mark_now(
            d,
            claim,
            Mark::Skipped {
                reason: "customer_deleted",
            },
        )
        .await;
    };
    // Wait for the rate limits first, so that the checks below are as fresh as the send itself.
    if !rate_allows(d).await {
        return give_back(d, std::slice::from_ref(claim)).await;
    }
    // A claim that waited past its lease may already be another sender's: never send it twice.
    let now = d.options.clock.now();
    if now.datetime() + LEASE_MARGIN >= claim.lease_until.datetime() {
        return give_back(d, std::slice::from_ref(claim)).await;
    }
    let skip = if checked.at.elapsed() <= RECHECK_AFTER {
        checked.skips.get(&customer.id).cloned()
    } else {
        // The checks only read: a deferred transaction takes no write lock (SQLite has one writer).
        let mut tx = d.store.begin_read().await?;
        let skip = send_time_check(&mut tx, customer, d.topic, d.options.max_per_week, now).await?;
        tx.rollback().await?;
        skip
    };
    if let Some(skip) = skip {
        return mark_now(
            d,
            claim,
            Mark::Skipped {
                reason: skip.reason(),
            },
        )
        .await;
    }
    // Quiet hours hold at the moment of sending too: a retry or a resumed run may fall into them.
    let timing = &d.options.timing;
    if let Some(until) = timing.quiet_until(timing.zone(customer.timezone.as_deref()), now) {
        return mark_now(d, claim, Mark::Deferred { until }).await;
    }
    let delivery = DeliveryRef {
        delivery_id: claim.id,
        run_id: d.run_id,
    };
    let composed = match d.composer.compose(customer, summary, delivery, now) {
        Ok(composed) => composed,
        Err(e) => {
            let reason = if matches!(e, ComposeError::Address(_)) {
                "invalid_address"
            } else {
                "render_error"
            };
            return mark_now(
                d,
                claim,
                Mark::Failed {
                    reason,
                    error: &e.to_string(),
                },
            )
            .await;
        }
    };
    let envelope = composed.message.envelope().clone();
    let bytes = d.composer.wire_bytes(composed.message).await;
    take_rate_slot(d).await;
    // The previous message's outcome is committed while this one's envelope goes out, and before
    // this one is delivered; if that fails, or the send was stopped meanwhile, it is not delivered.
    let mut settled = Ok(());
    let mut held_back = false;
    let before_delivery = async {
        if let Some(previous) = lane.previous.take() {
            settled = settle(d, previous).await;
        }
        held_back = settled.is_err() || d.cancel.is_cancelled();
        !held_back
    };
    let result = lane
        .link
        .send(claim.id, &envelope, bytes, before_delivery)
        .await;
    if let Some(previous) = lane.previous.take() {
        // The send failed before it came to delivering.
        settled = settle(d, previous).await;
    }
    settled?;
    if held_back {
        return give_back(d, std::slice::from_ref(claim)).await;
    }
    let attempt = Attempt {
        claim: claim.clone(),
        customer_id: customer.id,
        email_key: customer.email_key.clone(),
        links: composed.links,
        result,
        at: d.options.clock.now(),
    };
    let (reply, recorded) = oneshot::channel();
    let (taken, commit_begun) = oneshot::channel();
    lane.ledger
        .send(ToRecord {
            attempt,
            taken,
            recorded: reply,
        })
        .await
        .map_err(|_| ledger_stopped())?;
    lane.previous = Some(Pending {
        delivery_id: claim.id,
        recorded,
    });
    // Compose the next message only once the ledger is committing this one. The workers share this
    // thread: one that composed first would hold back the others' hand-overs, and with them the
    // commit that every worker waits for. Composing during the commit costs the cycle nothing.
    let _ = commit_begun.await;
    Ok(())
}

/// Sleeps for `wait`, counted among [`Delivery::asleep`] meanwhile.
async fn sleep(d: &Delivery<'_>, wait: Duration) {
    struct Asleep<'c>(&'c AtomicUsize);
    impl Drop for Asleep<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    d.asleep.fetch_add(1, Ordering::SeqCst);
    let _asleep = Asleep(&d.asleep);
    tokio::time::sleep(wait).await;
}

fn ledger_stopped() -> anyhow::Error {
    anyhow::anyhow!("the ledger writer stopped")
}

/// A worker's last attempt on its way to the ledger. The worker's next message is delivered only
/// once it is committed, so at most one message per worker is ever sent but unrecorded.
struct Pending {
    delivery_id: i64,
    recorded: oneshot::Receiver<Recorded>,
}

/// Waits until `pending` is committed, and acts on what was recorded.
async fn settle(d: &Delivery<'_>, pending: Pending) -> anyhow::Result<()> {
    let delivery = pending.delivery_id;
    match pending.recorded.await.map_err(|_| ledger_stopped())? {
        Recorded::Setup(detail) => stop(d, detail),
        Recorded::Policy => {
            let refusals = d.policy_rejections.fetch_add(1, Ordering::SeqCst) + 1;
            tracing::warn!(
                delivery,
                "a message was refused by the receiving server's policy"
            );
            if refusals >= POLICY_PAUSE_AFTER {
                stop(
                    d,
                    format!(
                        "{POLICY_PAUSE_AFTER} messages were refused by the receiving servers' policy (5.7.x: SPF, DKIM, \
                         DMARC or a blocklist): check the sender's DNS setup before sending more"
                    ),
                );
            }
        }
        Recorded::LeaseLost => {
            tracing::warn!(
                delivery,
                "the lease ran out while sending; another sender had taken the delivery"
            )
        }
        _ => {}
    }
    Ok(())
}

async fn mark_now(d: &Delivery<'_>, claim: &Claimed, mark: Mark<'_>) -> anyhow::Result<()> {
    let mut tx = d.store.begin().await?;
    deliveries::mark(&mut tx, claim, mark, d.options.clock.now()).await?;
    tx.commit().await
}

/// Waits until every rate limit allows one more message; false if the send was cancelled meanwhile,
/// or if the wait is longer than the send is willing to wait (`wait_for_rate`): then every worker
/// stops, and the deliveries left wait for a later send, which counts the same windows.
async fn rate_allows(d: &Delivery<'_>) -> bool {
    loop {
        let wait = d.limiter.lock().expect("not poisoned").wait(seconds_now(d));
        if wait.is_zero() {
            return true;
        }
        if wait > d.options.wait_for_rate {
            report_rate_limit(d, Some(wait));
            d.cancel.cancel();
            return false;
        }
        tokio::select! {
            _ = sleep(d, wait) => {}
            _ = d.cancel.cancelled() => return false,
        }
    }
}

/// Remembers, once per pass, that the limits would make it wait longer than it is willing to: `wait`
/// when known, or (`None`) for as long as messages claimed and not yet sent take them up, by another
/// sender or by one that stopped. The deliveries left wait for a later pass, which counts the same
/// windows; the caller says when ([`Delivery::rate_held`]).
fn report_rate_limit(d: &Delivery<'_>, wait: Option<Duration>) {
    let mut held = d.rate_held.lock().expect("not poisoned");
    // A known time says more than "claimed elsewhere", whose wait is only a guess.
    if matches!(*held, None | Some(RateHold::Claimed)) {
        *held = Some(match wait {
            Some(wait) => RateHold::Until(Timestamp::from(d.options.clock.now().datetime() + wait)),
            None => RateHold::Claimed,
        });
    }
}

/// Counts one message against the rate limits, waiting (briefly: [`rate_allows`] came first) if
/// another worker took the last slot meanwhile.
async fn take_rate_slot(d: &Delivery<'_>) {
    loop {
        let wait = {
            let mut limiter = d.limiter.lock().expect("not poisoned");
            let now = seconds_now(d);
            let wait = limiter.wait(now);
            if wait.is_zero() {
                limiter.record(now);
            }
            wait
        };
        if wait.is_zero() {
            return;
        }
        sleep(d, wait).await;
    }
}

fn seconds_now(d: &Delivery<'_>) -> f64 {
    d.options.clock.now().micros() as f64 / 1e6
}

/// Stops every worker after its current message, remembering why.
fn stop(d: &Delivery<'_>, why: String) {
    tracing::error!(campaign = d.campaign, run = d.run_id, "{why}");
    d.stopped.lock().expect("not poisoned").get_or_insert(why);
    d.cancel.cancel();
}
