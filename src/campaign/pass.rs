//! One delivery pass over a run, shared by `rapport send` and the daemon: build the workers' links
//! and the rate limiter (seeded from the ledger, so limits hold across runs and restarts), deliver
//! what is due, then record where the run stands (finished, paused, or still waiting).

use super::deliver::{Delivery, DeliveryOptions, RateHold, Round, deliver_run};
use super::link::Links;
use super::summary::RunSummary;
use crate::clock::Clock;
use crate::config::{CampaignConfig, Config, Rate, Transport};
use crate::message::Composer;
use crate::schedule::Timing;
use crate::send::{Backoff, RateLimiter};
use crate::store::runs::{self, RunStatus};
use crate::store::{Store, deliveries};
use crate::timestamp::Timestamp;
use crate::workspace::Workspace;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What one pass may do.
pub struct Pass<'a> {
    /// Attempt at most this many deliveries.
    pub limit: Option<i64>,
    /// The daemon's turn: after this long, if another run is due, claim nothing more and give back
    /// what is claimed and not yet sent.
    pub round: Option<Round>,
    /// Keep waiting for deliveries that fall due within this long; later ones are left for later.
    pub wait: Duration,
    /// Wait at most this long for the rate limits (the daemon: a round); past it the pass stops,
    /// and says when it can go on ([`Passed::rate_held`]).
    pub wait_for_rate: Duration,
    pub cancel: CancellationToken,
    pub clock: Clock,
    /// Called after each delivery is processed (progress display).
    pub on_progress: &'a (dyn Fn() + Sync),
    /// Count the run's deliveries (and log them) even when the run is soon delivered further (the
    /// pass ended at its `limit`, gave its turn to another run, or stopped for the rate limits).
    /// The count goes over the whole run: the daemon asks for it only now and then.
    pub summarize_rounds: bool,
}

/// How a pass ended.
pub struct Passed {
    /// The run's state now; `None` when the run is soon delivered further and `summarize_rounds`
    /// was off.
    pub summary: Option<RunSummary>,
    /// Why the run was paused, if it was.
    pub stopped: Option<String>,
    /// The pass ended at its `limit`, or at the end of its round for another run, not stopped and
    /// having given nothing back before: the run may have more due now (see
    /// [`crate::campaign::Delivery::used_its_round`]).
    pub used_its_round: bool,
    /// The pass stopped for the rate limits: when they allow the next message.
    pub rate_held: Option<RateHold>,
}

/// Delivers what is due of run `run_id` of `campaign` through `links` (kept for the next pass
/// unless the run was stopped), then marks the run finished when nothing is left (never for a
/// triggered campaign, whose run gains deliveries as events arrive) or paused when the engine
/// stopped it.
pub async fn deliver_pass(
    workspace: &Workspace,
    store: &Store,
    campaign: &CampaignConfig,
    composer: &Composer<'_>,
    run_id: i64,
    pass: &Pass<'_>,
    links: &mut Links,
) -> anyhow::Result<Passed> {
    let config = &workspace.config;
    let options = options(config, campaign, pass);
    // Rate limits are the SMTP provider's; the outbox writes files as fast as the disk allows.
    let limits = match config.delivery.transport.get_ref() {
        Transport::Smtp => config.delivery.rate.0.clone(),
        Transport::Outbox => Vec::new(),
    };
    let limiter = seeded_limiter(store, &limits, pass.clock.now()).await?;
    let workers = links.take(workspace, options.concurrency).await?;
    let name = campaign.name();
    let delivery = Delivery::new(
        store,
        composer,
        name,
        campaign.topic.as_str(),
        run_id,
        options,
        limiter,
        pass.cancel.child_token(),
        pass.on_progress,
    );
    let (stopped, workers) = deliver_run(&delivery, workers).await?;
    links.keep(workers);
    if stopped.is_some() {
        // The relay refused us (authentication, policy): start afresh once the owner fixed it.
        links.close().await;
    }
    let used_its_round = delivery.used_its_round() && stopped.is_none();
    let rate_held = delivery.rate_held();
    // A run the daemon comes back to soon (next round, or when the limits allow) is counted only
    // now and then; unless nothing is left of it (the pass sent its last message as its round
    // ended, or while another worker stopped for the limits): it must be marked finished now, as
    // the daemon does not come back to a run with nothing due.
    let comes_back = !pass.summarize_rounds && (used_its_round || rate_held.is_some()) && {
        let mut tx = store.begin_read().await?;
        let waiting = deliveries::has_waiting(&mut tx, run_id).await?;
        tx.rollback().await?;
        waiting
    };
    let summary = if comes_back {
        None
    } else {
        Some(RunSummary::load(store, name, run_id).await?)
    };
    let status = match (&stopped, &summary) {
        (Some(_), _) => RunStatus::Paused,
        (None, Some(summary)) if summary.is_finished() && !campaign.is_triggered() => {
            RunStatus::Finished
        }
        // A paused run that went well again (the owner fixed the cause) is the daemon's again.
        (None, _) => RunStatus::Sending,
    };
    let mut tx = store.begin().await?;
    runs::set_run_status(&mut tx, run_id, status, pass.clock.now()).await?;
    tx.commit().await?;
    if let Some(summary) = &summary {
        log_summary(summary, status, stopped.is_some());
    }
    Ok(Passed {
        summary,
        stopped,
        used_its_round,
        rate_held,
    })
}

/// The run's line in the log: ended, or waiting (for a later round, retries, quiet hours, or the
/// owner if it is paused).
fn log_summary(summary: &RunSummary, status: RunStatus, paused: bool) {
    let (campaign, run) = (summary.campaign.as_str(), summary.run_id);
    let skipped: i64 = summary.skipped.values().sum();
    let failed: i64 = summary.failed.values().sum();
    if status == RunStatus::Finished {
        tracing::info!(
            campaign,
            run,
            planned = summary.planned,
            sent = summary.sent,
            skipped,
            failed,
            "run ended"
        );
    } else {
        let waiting = summary.pending + summary.retry + summary.in_flight;
        let next_due = summary.next_due.map(|t| t.to_string()).unwrap_or_default();
        tracing::info!(
            campaign,
            run,
            sent = summary.sent,
            skipped,
            failed,
            waiting,
            next_due,
            paused,
            "run waiting"
        );
    }
}

fn options(config: &Config, campaign: &CampaignConfig, pass: &Pass<'_>) -> DeliveryOptions {
    DeliveryOptions {
        concurrency: usize::from(config.delivery.concurrency.0),
        limit: pass.limit,
        round: pass.round.clone(),
        wait_for_retries: pass.wait,
        wait_for_rate: pass.wait_for_rate,
        lease: config.delivery.lease.0,
        backoff: Backoff {
            first: config.delivery.retry_after.0,
            lifetime: config.delivery.retry_lifetime.0,
            ..Backoff::default()
        },
        max_per_week: campaign.weekly_cap(&config.courtesy),
        transactional: campaign.transactional,
        timing: Timing::new(config, campaign.deliver_at),
        clock: pass.clock.clone(),
    }
}

/// The rate limiter, with the send times already in its longest window (from every campaign).
async fn seeded_limiter(
    store: &Store,
    limits: &[Rate],
    now: Timestamp,
) -> anyhow::Result<RateLimiter> {
    let horizon = RateLimiter::horizon(limits);
    let most = limits.iter().map(|r| i64::from(r.count)).max().unwrap_or(0);
    let since = Timestamp::from(now.datetime() - horizon);
    let mut tx = store.begin_read().await?;
    let history = deliveries::sent_since(&mut tx, since, most).await?;
    tx.rollback().await?;
    Ok(RateLimiter::new(
        limits,
        history.iter().map(|t| t.micros() as f64 / 1e6).collect(),
    ))
}
