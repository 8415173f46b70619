//! Sending rate limits (`rate = ["40/min", "2000/hour", "5000/day"]`), all of which must hold at once.
//!
//! Each limit is a sliding window over the send times of the messages actually sent. The limiter is
//! seeded from the delivery ledger when sending starts, so the windows hold across runs and restarts:
//! a campaign restarted ten minutes after sending 40 messages under "40/min" waits, and under
//! "5000/day" the day's earlier runs count.

use crate::config::Rate;
use std::collections::VecDeque;
use std::time::Duration;

/// Send times within the longest window, and the limits over them.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    limits: Vec<Rate>,
    /// Send times in seconds since the Unix epoch (as stored in the ledger), oldest first; never more
    /// than the largest limit's count.
    sent: VecDeque<f64>,
}

impl RateLimiter {
    /// A limiter for `limits`, with `history` the times of messages already sent (any order).
    pub fn new(limits: &[Rate], mut history: Vec<f64>) -> Self {
        history.sort_by(f64::total_cmp);
        let keep = limits.iter().map(|r| r.count as usize).max().unwrap_or(0);
        let skip = history.len().saturating_sub(keep);
        RateLimiter {
            limits: limits.to_vec(),
            sent: history.into_iter().skip(skip).collect(),
        }
    }

    /// The limits this limiter holds.
    pub fn limits(&self) -> &[Rate] {
        &self.limits
    }

    /// How long to wait from `now` before the next message may be sent (zero when it may go now).
    pub fn wait(&self, now: f64) -> Duration {
        let mut wait: f64 = 0.0;
        for limit in &self.limits {
            let count = limit.count as usize;
            let window = limit.per.as_secs_f64();
            if self.sent.len() >= count {
                // The count-th most recent send must leave the window before another may go.
                let oldest_that_counts = self.sent[self.sent.len() - count];
                wait = wait.max(oldest_that_counts + window - now);
            }
        }
        Duration::from_secs_f64(wait.max(0.0))
    }

    /// Records a message sent at `now`.
    pub fn record(&mut self, now: f64) {
        self.sent.push_back(now);
        let keep = self
            .limits
            .iter()
            .map(|r| r.count as usize)
            .max()
            .unwrap_or(0);
        while self.sent.len() > keep {
            self.sent.pop_front();
        }
    }

    /// The longest window: how far back the history must reach to seed the limiter.
    pub fn horizon(limits: &[Rate]) -> Duration {
        limits.iter().map(|r| r.per).max().unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(count: u32, secs: u64) -> Rate {
        Rate {
            count,
            per: Duration::from_secs(secs),
        }
    }

    #[test]
    fn every_limit_holds_at_once() {
        let mut limiter = RateLimiter::new(&[rate(2, 1), rate(3, 60)], vec![]);
        let mut sent_at = Vec::new();
        let mut now = 0.0;
        while sent_at.len() < 5 {
            let wait = limiter.wait(now).as_secs_f64();
            now += wait;
            limiter.record(now);
            sent_at.push(now);
        }
        assert_eq!(sent_at, [0.0, 0.0, 1.0, 60.0, 60.0]);
    }

    #[test]
    fn history_from_earlier_runs_counts() {
        let limiter = RateLimiter::new(
            &[rate(40, 60)],
            (0..40).map(|i| 100.0 + f64::from(i) / 10.0).collect(),
        );
        assert_eq!(limiter.wait(110.0), Duration::from_secs(50));
        assert_eq!(limiter.wait(200.0), Duration::ZERO);
        assert_eq!(
            RateLimiter::new(&[], vec![1.0]).wait(0.0),
            Duration::ZERO,
            "no limits, no waiting"
        );
    }
}
