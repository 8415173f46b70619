//! The engine's clock. Everything that decides *when* (fires, due times, quiet hours, leases) asks a
//! [`Clock`] instead of the system, so tests control time without sleeping, and an owner can rehearse
//! a schedule by starting the daemon at a chosen instant (`RAPPORT_CLOCK`).

use crate::timestamp::Timestamp;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Starts the clock at this instant instead of now (time then runs at its normal speed): for
/// rehearsing schedules and for end-to-end tests. Never set it in production.
pub const CLOCK_ENV: &str = "RAPPORT_CLOCK";

/// Where the time comes from; cheap to clone, and clones share a manual clock's time.
#[derive(Debug, Clone)]
pub struct Clock(Source);

#[derive(Debug, Clone)]
enum Source {
    System,
    /// The system time shifted by this many microseconds.
    Offset(i64),
    /// Set by hand (tests): stands still until moved.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock(Source::System)
    }

    /// The system clock, or one started at `RAPPORT_CLOCK` when it is set.
    pub fn from_env() -> anyhow::Result<Self> {
        match std::env::var(CLOCK_ENV) {
            Ok(text) if !text.trim().is_empty() => {
                let start = Timestamp::parse_flexible(&text)
                    .map_err(|e| anyhow::anyhow!("{CLOCK_ENV}: {e}"))?;
                tracing::warn!(start = %start, "the clock starts at {CLOCK_ENV}, not now");
                Ok(Clock(Source::Offset(
                    start.micros() - Timestamp::now().micros(),
                )))
            }
            _ => Ok(Clock::system()),
        }
    }

    /// A clock that shows `start` until it is moved with [`Clock::set`] or [`Clock::advance`].
    pub fn manual(start: Timestamp) -> Self {
        Clock(Source::Manual(Arc::new(AtomicI64::new(start.micros()))))
    }

    pub fn now(&self) -> Timestamp {
        let micros = match &self.0 {
            Source::System => return Timestamp::now(),
            Source::Offset(offset) => Timestamp::now().micros() + offset,
            Source::Manual(at) => at.load(Ordering::SeqCst),
        };
        Timestamp::from_micros(micros).expect("the clock shows a representable instant")
    }

    /// Moves a manual clock to `at`.
    ///
    /// # Panics
    /// On a clock that is not manual: only tests move time.
    pub fn set(&self, at: Timestamp) {
        match &self.0 {
            Source::Manual(now) => now.store(at.micros(), Ordering::SeqCst),
            _ => panic!("only a manual clock can be set"),
        }
    }

    /// Moves a manual clock forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        self.set(Timestamp::from(self.now().datetime() + by));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let start = Timestamp::parse_flexible("2026-12-01T09:00:00Z").unwrap();
        let clock = Clock::manual(start);
        let shared = clock.clone();
        assert_eq!(clock.now(), start);
        shared.advance(std::time::Duration::from_secs(90));
        assert_eq!(clock.now().micros() - start.micros(), 90_000_000);
    }
}
