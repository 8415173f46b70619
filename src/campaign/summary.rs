//! What the owner reads at the end of a send: planned, sent, skipped and failed by reason, waiting,
//! and why deliveries wait for a retry or failed (their errors, as the ledger has them: a resumed
//! run shows the errors of its earlier sends too).

use crate::store::deliveries;
use crate::store::{Store, Tx};
use crate::template::one_line;
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
    /// Why deliveries wait for a retry, failed or ended uncertain: the most frequent errors first,
    /// at most `ERRORS_SHOWN` (3). What tells a wrong port from a slow server.
    pub errors: Vec<ErrorCount>,
}

/// How many errors a summary names; the deliveries of the others are counted together.
pub const ERRORS_SHOWN: i64 = 3;

/// Errors longer than this are cut: a summary line, not the server's whole reply.
const ERROR_CHARS: usize = 160;

/// Deliveries of one status that last failed with the same error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCount {
    /// `retry`, `failed` or `uncertain`.
    pub status: String,
    /// As the ledger recorded it (an SMTP reply or a network error, never the URL); `None` when
    /// none was recorded.
    pub error: Option<String>,
    pub count: i64,
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
        if s.retry + s.uncertain + s.failed.values().sum::<i64>() > 0 {
            s.errors = deliveries::errors(tx, run_id, ERRORS_SHOWN)
                .await?
                .into_iter()
                .map(|(status, error, count)| ErrorCount {
                    status,
                    error,
                    count,
                })
                .collect();
        }
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

/// `3 to retry: temporary failure: Connection refused (os error 111)`, on one line.
impl fmt::Display for ErrorCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status.as_str() {
            "retry" => "to retry",
            other => other,
        };
        let error = self.error.as_deref().map_or_else(
            || "no error recorded".to_string(),
            |e| short_line(e, ERROR_CHARS),
        );
        write!(f, "{} {status}: {error}", self.count)
    }
}

/// `text` as one line ([`one_line`]: a reply cannot move the terminal's cursor), cut to `max`
/// characters.
fn short_line(text: &str, max: usize) -> String {
    let line = one_line(text);
    match line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
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
        write_errors(f, self)
    }
}

/// `errors     3 to retry: …`, one line per error, then how many deliveries had other errors.
fn write_errors(f: &mut fmt::Formatter<'_>, s: &RunSummary) -> fmt::Result {
    let mut label = "errors";
    for error in &s.errors {
        write!(f, "\n  {label:<11}{error}")?;
        label = "";
    }
    let named: i64 = s.errors.iter().map(|e| e.count).sum();
    let other = s.retry + s.uncertain + s.failed.values().sum::<i64>() - named;
    if !s.errors.is_empty() && other > 0 {
        write!(f, "\n  {label:<11}and {other} more with other errors")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{ErrorCount, RunSummary};

    fn error(status: &str, error: &str, count: i64) -> ErrorCount {
        ErrorCount {
            status: status.to_string(),
            error: Some(error.to_string()),
            count,
        }
    }

    #[test]
    fn names_the_errors_then_counts_the_others() {
        let summary = RunSummary {
            campaign: "news".to_string(),
            planned: 9,
            retry: 7,
            uncertain: 2,
            errors: vec![
                error("retry", "temporary failure: Connection refused", 5),
                error(
                    "uncertain",
                    "outcome unknown:\r\n connection\x1b[2J reset",
                    2,
                ),
            ],
            ..Default::default()
        };

        let text = summary.to_string();

        let lines: Vec<&str> = text.lines().skip(6).collect();
        assert_eq!(
            lines,
            [
                "  errors     5 to retry: temporary failure: Connection refused",
                "             2 uncertain: outcome unknown: connection [2J reset",
                "             and 2 more with other errors",
            ],
            "{text}"
        );
    }

    #[test]
    fn long_errors_are_cut() {
        let long = "x".repeat(500);
        let shown = error("failed", &long, 1).to_string();
        assert_eq!(shown.chars().count(), "1 failed: ".len() + 160 + 1);
        assert!(shown.ends_with('…'));
    }
}
