//! What the owner reads at the end of a send: planned, sent, skipped and failed by reason, waiting.

use crate::store::deliveries;
use crate::store::{Store, Tx};
use crate::timestamp::Timestamp;
use std::collections::BTreeMap;
use std::fmt;

/// The state of one run's deliveries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub campaign: String,
    pub run_id: i64,
    pub planned: i64,
    pub sent: i64,
    pub skipped: BTreeMap<String, i64>,
    pub failed: BTreeMap<String, i64>,
    /// Not attempted yet (or given back at shutdown).
    pub pending: i64,
    /// Waiting for a retry, and when the next one is due.
    pub retry: i64,
    pub next_due: Option<Timestamp>,
    /// Leased by a sender that has not reported back (still sending, or crashed).
    pub in_flight: i64,
    pub uncertain: i64,
}

impl RunSummary {
    pub async fn load(store: &Store, campaign: &str, run_id: i64) -> anyhow::Result<RunSummary> {
        let mut tx = store.begin().await?;
        let summary = Self::read(&mut tx, campaign, run_id).await;
        tx.rollback().await?;
        summary
    }

    async fn read(tx: &mut Tx, campaign: &str, run_id: i64) -> anyhow::Result<RunSummary> {
        let mut s = RunSummary {
            campaign: campaign.to_string(),
            run_id,
            ..Default::default()
        };
        for (status, reason, n) in deliveries::counts(tx, run_id).await? {
            s.planned += n;
            let reason = reason.unwrap_or_else(|| "unknown".to_string());
            match status.as_str() {
                "sent" => s.sent += n,
                "skipped" => *s.skipped.entry(reason).or_default() += n,
                "failed" => *s.failed.entry(reason).or_default() += n,
                "pending" => s.pending += n,
                "retry" => s.retry += n,
                "sending" => s.in_flight += n,
                _ => s.uncertain += n,
            }
        }
        s.next_due = deliveries::next_due(tx, run_id).await?;
        Ok(s)
    }

    /// True when nothing is left to attempt.
    pub fn is_finished(&self) -> bool {
        self.pending + self.retry + self.in_flight == 0
    }
}

fn by_reason(counts: &BTreeMap<String, i64>) -> String {
    if counts.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect();
    format!("  ({})", parts.join(", "))
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = |m: &BTreeMap<String, i64>| m.values().sum::<i64>();
        writeln!(
            f,
            "campaign {} (run {}): {} planned",
            self.campaign, self.run_id, self.planned
        )?;
        writeln!(f, "  sent       {:>7}", self.sent)?;
        writeln!(
            f,
            "  skipped    {:>7}{}",
            total(&self.skipped),
            by_reason(&self.skipped)
        )?;
        write!(
            f,
            "  failed     {:>7}{}",
            total(&self.failed),
            by_reason(&self.failed)
        )?;
        if self.uncertain > 0 {
            write!(
                f,
                "\n  uncertain  {:>7}  (the server may have accepted them; not resent)",
                self.uncertain
            )?;
        }
        let waiting = self.pending + self.retry + self.in_flight;
        if waiting > 0 {
            let when = self
                .next_due
                .map(|t| format!("; the next is due at {t}"))
                .unwrap_or_default();
            write!(
                f,
                "\n  waiting    {waiting:>7}  ({} not yet sent, {} to retry, {} in flight{when}): the daemon sends them when due, or run `rapport send {}` again then",
                self.pending, self.retry, self.in_flight, self.campaign
            )?;
        }
        Ok(())
    }
}
