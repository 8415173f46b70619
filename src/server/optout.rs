//! Opting out and back in, as the unsubscribe and preferences pages and RFC 8058 one-click do it:
//! the suppression and its `email.unsubscribed` (or `email.resubscribed`) event are written in the
//! caller's transaction, so both land or neither does. Repeating an opt-out writes nothing more, and
//! an undo lifts only suppressions that an unsubscribe made: never a hard bounce or a complaint.

use crate::store::Tx;
use crate::store::events::{EngineEvent, record_engine_event};
use crate::store::tracking::{TrackedDelivery, add_unsubscribe, remove_unsubscribe};
use crate::timestamp::Timestamp;
use serde_json::{Map, Value};

/// How an opt-out arrived, stored with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// RFC 8058 `List-Unsubscribe=One-Click`, posted by the mailbox provider.
    OneClick,
    /// A button on the unsubscribe page.
    Page,
    /// The preferences page.
    Preferences,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::OneClick => "one_click",
            Via::Page => "page",
            Via::Preferences => "preferences",
        }
    }
}

/// Suppresses the delivery's address for `topic` (or `*`); false when it already was.
pub async fn unsubscribe(
    tx: &mut Tx,
    delivery: &TrackedDelivery,
    topic: &str,
    via: Via,
    now: Timestamp,
) -> anyhow::Result<bool> {
    let detail = format!("{} (campaign {})", via.as_str(), delivery.campaign);
    if !add_unsubscribe(tx, &delivery.email_key, topic, &detail, now).await? {
        return Ok(false);
    }
    event(tx, delivery, "email.unsubscribed", topic, via, now).await?;
    Ok(true)
}

/// Lifts an unsubscribe of the delivery's address from `topic`; false when there was none to lift
/// (no suppression, or one for another reason, which only the owner may lift).
pub async fn resubscribe(
    tx: &mut Tx,
    delivery: &TrackedDelivery,
    topic: &str,
    via: Via,
    now: Timestamp,
) -> anyhow::Result<bool> {
    if !remove_unsubscribe(tx, &delivery.email_key, topic).await? {
        return Ok(false);
    }
    event(tx, delivery, "email.resubscribed", topic, via, now).await?;
    Ok(true)
}

async fn event(
    tx: &mut Tx,
    delivery: &TrackedDelivery,
    kind: &str,
    topic: &str,
    via: Via,
    now: Timestamp,
) -> anyhow::Result<()> {
    let mut properties = Map::new();
    properties.insert("campaign".into(), Value::from(delivery.campaign.as_str()));
    properties.insert("run".into(), Value::from(delivery.run_id));
    properties.insert("topic".into(), Value::from(topic));
    properties.insert("via".into(), Value::from(via.as_str()));
    let event = EngineEvent {
        customer_id: delivery.customer_id,
        kind,
        delivery_id: delivery.delivery_id,
        occurred_at: now,
        properties,
        once_per_delivery: false,
    };
    record_engine_event(tx, &event, now).await?;
    Ok(())
}
