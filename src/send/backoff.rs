//! When to try a transient failure again: exponential backoff with jitter, as Postfix does it (start at
//! 5 minutes, double, cap at about 67 minutes), and never past the delivery's lifetime.

use rand::Rng;
use std::time::Duration;

/// Retry policy of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    /// Attempts in all, including the first.
    pub max_attempts: u32,
    /// No attempt starts later than this after the first one.
    pub lifetime: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_secs(300),
            max: Duration::from_secs(4000),
            max_attempts: 60,
            lifetime: Duration::from_secs(2 * 24 * 3600),
        }
    }
}

impl Backoff {
    /// The wait after attempt number `attempts` (1 for the first) failed, with ±20 % jitter so that
    /// messages deferred together do not all come back in the same second; `None` when the delivery
    /// has used its attempts or its lifetime (`age` is the time since its first attempt).
    pub fn next_delay(&self, attempts: u32, age: Duration, rng: &mut impl Rng) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let doublings = attempts.saturating_sub(1).min(20);
        let base = self.first.saturating_mul(1 << doublings).min(self.max);
        let delay = base.mul_f64(rng.random_range(0.8..1.2));
        (age + delay <= self.lifetime).then_some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn doubles_from_five_minutes_up_to_the_cap_with_jitter() {
        let policy = Backoff::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut secs = |n| {
            policy
                .next_delay(n, Duration::ZERO, &mut rng)
                .unwrap()
                .as_secs_f64()
        };
        let (first, second, late) = (secs(1), secs(2), secs(8));
        assert!((240.0..=360.0).contains(&first), "{first}");
        assert!((480.0..=720.0).contains(&second), "{second}");
        assert!((3200.0..=4800.0).contains(&late), "{late}");
    }

    #[test]
    fn gives_up_after_the_attempts_or_the_lifetime() {
        let policy = Backoff {
            max_attempts: 3,
            ..Backoff::default()
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        assert!(policy.next_delay(2, Duration::ZERO, &mut rng).is_some());
        assert_eq!(policy.next_delay(3, Duration::ZERO, &mut rng), None);
        assert_eq!(policy.next_delay(1, policy.lifetime, &mut rng), None);
    }
}
