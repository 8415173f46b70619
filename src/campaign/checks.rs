//! The checks made at the moment of sending, not only when the run was planned: an unsubscribe or a
//! bounce that arrives mid-campaign stops every later message to that address.

use crate::domain::EmailAddress;
use crate::store::{Customer, Tx, events, suppressions};
use crate::timestamp::Timestamp;
use std::collections::HashMap;
use std::time::Duration;

/// Why a delivery is skipped; `reason()` is what the ledger and the summary say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Hard bounce, complaint or unsubscribe from everything.
    Suppressed,
    /// Unsubscribed from this campaign's topic.
    OptedOut,
    /// Already got `max_per_week` marketing emails in the last 7 days.
    WeeklyCap,
    InvalidAddress,
}

impl Skip {
    pub fn reason(&self) -> &'static str {
        match self {
            Skip::Suppressed => "suppressed",
            Skip::OptedOut => "opted_out",
            Skip::WeeklyCap => "weekly_cap",
            Skip::InvalidAddress => "invalid_address",
        }
    }
}

const WEEK: Duration = Duration::from_secs(7 * 86_400);

/// Whether `customer` must not get this campaign's message now.
pub async fn send_time_check(
    tx: &mut Tx,
    customer: &Customer,
    topic: &str,
    max_per_week: Option<u32>,
    now: Timestamp,
) -> anyhow::Result<Option<Skip>> {
    if EmailAddress::parse(&customer.email).is_err() {
        return Ok(Some(Skip::InvalidAddress));
    }
    if let Some((scope, _reason)) =
        suppressions::suppression_for(tx, &customer.email_key, topic).await?
    {
        return Ok(Some(if scope == suppressions::ALL_TOPICS {
            Skip::Suppressed
        } else {
            Skip::OptedOut
        }));
    }
    if let Some(cap) = max_per_week {
        let since = Timestamp::from(now.datetime() - WEEK);
        if events::emails_sent_since(tx, customer.id, since).await? >= i64::from(cap) {
            return Ok(Some(Skip::WeeklyCap));
        }
    }
    Ok(None)
}

/// The same checks for a batch of customers in two queries: who must not get this campaign's message
/// now, by customer id.
pub async fn send_time_checks(
    tx: &mut Tx,
    customers: &[&Customer],
    topic: &str,
    max_per_week: Option<u32>,
    now: Timestamp,
) -> anyhow::Result<HashMap<i64, Skip>> {
    let mut skips = HashMap::new();
    let by_key: HashMap<&str, i64> = customers
        .iter()
        .map(|c| (c.email_key.as_str(), c.id))
        .collect();
    let keys: Vec<&str> = by_key.keys().copied().collect();
    for (key, scope) in suppressions::suppressions_for_keys(tx, &keys, topic).await? {
        let skip = if scope == suppressions::ALL_TOPICS {
            Skip::Suppressed
        } else {
            Skip::OptedOut
        };
        if let Some(id) = by_key.get(key.as_str()) {
            skips.entry(*id).or_insert(skip);
        }
    }
    if let Some(cap) = max_per_week {
        let since = Timestamp::from(now.datetime() - WEEK);
        let ids: Vec<i64> = customers.iter().map(|c| c.id).collect();
        for (id, sent) in events::emails_sent_since_many(tx, &ids, since).await? {
            if sent >= i64::from(cap) {
                skips.entry(id).or_insert(Skip::WeeklyCap);
            }
        }
    }
    for customer in customers
        .iter()
        .filter(|c| EmailAddress::parse(&c.email).is_err())
    {
        skips.insert(customer.id, Skip::InvalidAddress);
    }
    Ok(skips)
}
