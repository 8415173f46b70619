//! The send decision `rapport preview` ends with: what would happen to this customer's message if
//! the campaign were sent now (as of the engine's clock): sent at once, deferred until a local and
//! UTC time, or skipped and why. It asks the same checks the engine makes, in a read-only store.

use super::checks::{Skip, send_time_check};
use super::plan::audience;
use crate::config::CampaignConfig;
use crate::schedule::{Deferral, Timing};
use crate::store::{Customer, Store};
use crate::timestamp::Timestamp;
use crate::workspace::Workspace;
use std::fmt;

/// What would happen to one customer's message now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    SentAtOnce,
    Deferred {
        deferral: Deferral,
        zone: chrono_tz::Tz,
    },
    /// Skipped, with the reason in the owner's words.
    Skipped(String),
    /// A triggered campaign: what would set it off.
    Triggered(String),
}

/// Decides for `customer` as the engine would at `now`.
pub async fn decide(
    workspace: &Workspace,
    store: &Store,
    campaign: &CampaignConfig,
    customer: &Customer,
    now: Timestamp,
) -> anyhow::Result<Decision> {
    let condition = audience(&workspace.segments_dir(), campaign, store.dialect(), now)?;
    if !store.segment_contains(&condition, customer.id).await? {
        let segment = campaign.segment_name().unwrap_or_default();
        return Ok(Decision::Skipped(format!(
            "not in the segment {segment} (`rapport segment explain {segment} {}` says why)",
            customer.email
        )));
    }
    let config = &workspace.config;
    let mut tx = store.begin_read().await?;
    let skip = send_time_check(
        &mut tx,
        customer,
        campaign.topic.as_str(),
        campaign.weekly_cap(&config.courtesy),
        now,
    )
    .await?;
    tx.rollback().await?;
    if let Some(skip) = skip {
        let why = match skip {
            Skip::Suppressed => {
                "suppressed: a hard bounce, a complaint, or unsubscribed from everything"
                    .to_string()
            }
            Skip::OptedOut => format!("opted out of the topic {:?}", campaign.topic.as_str()),
            Skip::WeeklyCap => format!(
                "weekly cap: already {} marketing emails in the last 7 days",
                config.courtesy.max_per_week.unwrap_or_default()
            ),
            Skip::InvalidAddress => "the address is not valid".to_string(),
        };
        return Ok(Decision::Skipped(why));
    }
    if let Some(kind) = &campaign.trigger {
        return triggered(store, campaign, customer, kind.get_ref().as_str()).await;
    }
    let timing = Timing::new(config, campaign.deliver_at);
    let zone = timing.zone(customer.timezone.as_deref());
    Ok(match timing.due(zone, now) {
        Some(deferral) => Decision::Deferred { deferral, zone },
        None => Decision::SentAtOnce,
    })
}

/// A triggered campaign's decision: already written to (when), or waiting for the event.
async fn triggered(
    store: &Store,
    campaign: &CampaignConfig,
    customer: &Customer,
    kind: &str,
) -> anyhow::Result<Decision> {
    if let Some(run) = store
        .run_scheduled_for(campaign.name(), Timestamp::EPOCH)
        .await?
        && let Some(delivery) = store.delivery_for(run.id, customer.id).await?
    {
        let when = delivery.sent_at.unwrap_or(delivery.due_at);
        return Ok(Decision::Skipped(format!(
            "already {} for this customer ({}, {when}): a triggered campaign writes once",
            match delivery.status.as_str() {
                "sent" => "sent",
                "pending" | "retry" | "sending" => "planned",
                // Failed, skipped or uncertain (which has a `sent_at` too, its time of attempt):
                // its one message was tried.
                _ => "tried",
            },
            delivery.status
        )));
    }
    let delay = match &campaign.delay {
        Some(delay) => delay.get_ref().to_string(),
        None => "right".to_string(),
    };
    // With a segment, the event must find them in it: a first-purchase thank-you never follows a
    // one-time buyer's next purchase, which makes them a two-time buyer.
    Ok(Decision::Triggered(match &campaign.segment {
        Some(segment) => format!(
            "sent once, {delay} after a `{kind}` event that finds them in the segment {:?}",
            segment.get_ref().as_str()
        ),
        None => format!("sent once, {delay} after their next `{kind}` event"),
    }))
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::SentAtOnce => write!(f, "send decision now: sent at once"),
            Decision::Deferred { deferral, zone } => {
                let until = deferral.until();
                let local = until.datetime().with_timezone(zone);
                write!(
                    f,
                    "send decision now: deferred until {} {zone} ({until}): {}",
                    local.format("%Y-%m-%d %H:%M"),
                    deferral.reason()
                )
            }
            Decision::Skipped(why) => write!(f, "send decision now: skipped: {why}"),
            Decision::Triggered(when) => write!(f, "send decision now: {when}"),
        }
    }
}
