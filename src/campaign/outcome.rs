//! Writing what became of attempts: the ledger row, the engine's own event, the message's links, and
//! for a hard bounce the suppression. [`record_all`] writes and commits a group of attempts (the
//! ledger writer's group commit), the sent ones together ([`crate::store::sent`]).
//!
//! An uncertain attempt (no reply after the final ".") most likely arrived, and rapport must never
//! over-mail: it gets an `email.sent` event too, with `"uncertain": true`, which the weekly cap and
//! segments count as they count a sent one.

use crate::send::{Backoff, Failure};
use crate::store::deliveries::{self, Claimed, Mark};
use crate::store::events::{self, EngineEvent};
use crate::store::sent::{SentMessage, record_sent};
use crate::store::suppressions::{self, ALL_TOPICS, Reason};
use crate::store::{Store, Tx};
use crate::timestamp::Timestamp;
use serde_json::{Map, Value, json};

/// What was recorded.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    Sent,
    Retry,
    Failed,
    Uncertain,
    /// The relay cannot be used as configured: the delivery was given back and the run must pause.
    Setup(String),
    /// The policy of the receiving side refused us (5.7.x): counted to pause the run if they pile up.
    Policy,
    /// The claim's lease had run out and another sender took the delivery: nothing was recorded.
    LeaseLost,
}

/// About the run, for events and retries.
pub struct RunContext<'a> {
    pub campaign: &'a str,
    pub run_id: i64,
    pub backoff: Backoff,
    /// The run's emails are transactional: their events say so, and the weekly cap does not count them.
    pub transactional: bool,
}

/// One attempt to record: what was sent to whom, and how it went.
pub struct Attempt {
    pub claim: Claimed,
    pub customer_id: i64,
    pub email_key: String,
    /// The message's tracked links.
    pub links: Vec<String>,
    pub result: Result<(), Failure>,
    pub at: Timestamp,
}

/// Records `attempts` and commits them, returning what was recorded for each, in order. The sent
/// ones, nearly all of them, are recorded together in one transaction ([`record_sent`]); the others,
/// if any, one by one through [`record_in`], in a transaction of their own.
pub async fn record_all(
    store: &Store,
    run: &RunContext<'_>,
    attempts: Vec<Attempt>,
) -> anyhow::Result<Vec<Recorded>> {
    let (sent, others): (Vec<_>, Vec<_>) = attempts
        .into_iter()
        .enumerate()
        .partition(|(_, a)| a.result.is_ok());
    let mut recorded = vec![Recorded::LeaseLost; sent.len() + others.len()];
    let properties = run_properties(run);
    let messages: Vec<SentMessage> = sent
        .iter()
        .map(|(_, a)| SentMessage {
            claim: &a.claim,
            at: a.at,
            links: &a.links,
            event: EngineEvent {
                customer_id: a.customer_id,
                kind: "email.sent",
                delivery_id: a.claim.id,
                occurred_at: a.at,
                properties: properties.clone(),
                once_per_delivery: true,
            },
        })
        .collect();
    let now = sent.first().map_or(Timestamp::EPOCH, |(_, a)| a.at);
    let held: std::collections::HashSet<i64> = record_sent(store, &messages, now)
        .await?
        .into_iter()
        .collect();
    let sent: Vec<&(usize, Attempt)> = sent
        .iter()
        .filter(|(_, a)| held.contains(&a.claim.id))
        .collect();
    for (i, _) in &sent {
        recorded[*i] = Recorded::Sent;
    }
    if !others.is_empty() {
        let mut tx = store.begin().await?;
        for (i, attempt) in others {
            recorded[i] = record_in(&mut tx, run, attempt).await?;
        }
        tx.commit().await?;
    }
    Ok(recorded)
}

/// `{"campaign": …, "run": …}`: the properties of the engine's events about a run.
fn run_properties(run: &RunContext<'_>) -> Map<String, Value> {
    let Value::Object(mut map) = json!({ "campaign": run.campaign, "run": run.run_id }) else {
        unreachable!()
    };
    if run.transactional {
        map.insert("transactional".to_string(), Value::Bool(true));
    }
    map
}

/// Records `attempt` inside the caller's transaction, with the message's tracked links.
///
/// The links are written in the same transaction as the outcome, right after the send, rather than in
/// a transaction of their own before it: one commit per message instead of two. Should the process die
/// between sending and recording, the delivery's lease expires and it is sent again with the same
/// tokens, and its links are recorded then, so clicks on either copy resolve.
pub async fn record_in(
    tx: &mut Tx,
    run: &RunContext<'_>,
    attempt: Attempt,
) -> anyhow::Result<Recorded> {
    let Attempt {
        claim,
        customer_id,
        email_key,
        links,
        result,
        at: now,
    } = attempt;
    let claim = &claim;
    if !deliveries::still_held(tx, claim).await? {
        return Ok(Recorded::LeaseLost);
    }
    crate::store::links::record_links(tx, claim.id, &links).await?;
    let event = |kind| EngineEvent {
        customer_id,
        kind,
        delivery_id: claim.id,
        occurred_at: now,
        properties: run_properties(run),
        once_per_delivery: true,
    };
    let recorded = match result {
        Ok(()) => {
            deliveries::mark(tx, claim, Mark::Sent, now).await?;
            events::record_engine_event(tx, &event("email.sent"), now).await?;
            Recorded::Sent
        }
        Err(failure @ Failure::Transient { .. }) => {
            let age = (now.datetime() - claim.first_attempt_at.datetime())
                .to_std()
                .unwrap_or_default();
            let error = failure.to_string();
            let delay = run
                .backoff
                .next_delay(claim.attempts as u32, age, &mut rand::rng());
            match delay {
                Some(delay) => {
                    let at = Timestamp::from(now.datetime() + delay);
                    deliveries::mark(tx, claim, Mark::Retry { at, error: &error }, now).await?;
                    Recorded::Retry
                }
                None => {
                    deliveries::mark(
                        tx,
                        claim,
                        Mark::Failed {
                            reason: "gave_up",
                            error: &error,
                        },
                        now,
                    )
                    .await?;
                    Recorded::Failed
                }
            }
        }
        Err(failure @ Failure::Bounce { .. }) => {
            let error = failure.to_string();
            deliveries::mark(
                tx,
                claim,
                Mark::Failed {
                    reason: "hard_bounce",
                    error: &error,
                },
                now,
            )
            .await?;
            suppressions::suppress(
                tx,
                &email_key,
                ALL_TOPICS,
                Reason::HardBounce,
                Some(&error),
                now,
            )
            .await?;
            events::record_engine_event(tx, &event("email.bounced"), now).await?;
            Recorded::Failed
        }
        Err(failure @ Failure::Policy { .. }) => {
            let error = failure.to_string();
            deliveries::mark(
                tx,
                claim,
                Mark::Failed {
                    reason: "policy",
                    error: &error,
                },
                now,
            )
            .await?;
            Recorded::Policy
        }
        Err(failure @ Failure::Rejected { .. }) => {
            let error = failure.to_string();
            deliveries::mark(
                tx,
                claim,
                Mark::Failed {
                    reason: "rejected",
                    error: &error,
                },
                now,
            )
            .await?;
            Recorded::Failed
        }
        Err(failure @ Failure::Uncertain { .. }) => {
            deliveries::mark(
                tx,
                claim,
                Mark::Uncertain {
                    error: &failure.to_string(),
                },
                now,
            )
            .await?;
            // The whole message reached the server, so it most likely arrived: the weekly cap and
            // segments count it as sent. Its identity is a sent one's (once per delivery), so no
            // record of this delivery can add a second.
            let mut sent = event("email.sent");
            sent.properties
                .insert("uncertain".to_string(), Value::Bool(true));
            events::record_engine_event(tx, &sent, now).await?;
            Recorded::Uncertain
        }
        Err(failure @ Failure::Setup { .. }) => {
            deliveries::release(tx, claim, now).await?;
            Recorded::Setup(failure.to_string())
        }
    };
    Ok(recorded)
}
