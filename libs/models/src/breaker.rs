//! The circuit breaker of one provider in the chain. Closed, it lets every call through and counts consecutive
//! failed calls; at the threshold (or at once, for quota and configuration errors) it opens and the chain skips
//! the provider for the cooldown; then one call at a time probes it (half-open): success closes it, failure opens
//! it for another cooldown.

use std::time::Duration;

use tokio::time::Instant;

/// When a provider cools down and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive failed calls (each after its retries) that open the breaker.
    pub failure_threshold: u32,
    /// How long an open breaker skips the provider before a probe.
    pub cooldown: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self { failure_threshold: 3, cooldown: Duration::from_secs(30) }
    }
}

/// A provider's state as the chain sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through; `failures` consecutive calls have failed.
    Closed {
        /// Consecutive failed calls so far.
        failures: u32,
    },
    /// Skipped until `until`.
    Open {
        /// When a probe may go through.
        until: Instant,
    },
    /// The cooldown is over: one probe at a time decides.
    HalfOpen {
        /// Whether a probe is in flight now.
        probing: bool,
    },
}

/// One provider's breaker.
#[derive(Debug)]
pub(crate) struct Breaker {
    state: BreakerState,
}

impl Default for Breaker {
    fn default() -> Self {
        Self { state: BreakerState::Closed { failures: 0 } }
    }
}

impl Breaker {
    pub(crate) fn state(&self) -> BreakerState {
        self.state
    }

    /// Whether a call may go to the provider now; a call let through half-open is the probe.
    pub(crate) fn try_acquire(&mut self, now: Instant) -> bool {
        match self.state {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { until } if now >= until => {
                self.state = BreakerState::HalfOpen { probing: true };
                true
            }
            BreakerState::Open { .. } => false,
            BreakerState::HalfOpen { probing: false } => {
                self.state = BreakerState::HalfOpen { probing: true };
                true
            }
            BreakerState::HalfOpen { probing: true } => false,
        }
    }

    /// The call succeeded.
    pub(crate) fn success(&mut self) {
        self.state = BreakerState::Closed { failures: 0 };
    }

    /// The call failed (after its retries).
    pub(crate) fn failure(&mut self, now: Instant, policy: &BreakerPolicy) {
        self.state = match self.state {
            BreakerState::Closed { failures } if failures + 1 < policy.failure_threshold => {
                BreakerState::Closed { failures: failures + 1 }
            }
            _ => BreakerState::Open { until: now + policy.cooldown },
        };
    }

    /// The provider will not serve for a while whatever the count says (quota, a rejected key).
    pub(crate) fn trip(&mut self, now: Instant, cooldown: Duration) {
        self.state = BreakerState::Open { until: now + cooldown };
    }

    /// The call ended without telling anything about the provider's health (the request was wrong, or the
    /// caller stopped reading): a probe slot is given back.
    pub(crate) fn release(&mut self) {
        if let BreakerState::HalfOpen { probing: true } = self.state {
            self.state = BreakerState::HalfOpen { probing: false };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_at_the_threshold_then_one_probe_decides() {
        let policy = BreakerPolicy { failure_threshold: 2, cooldown: Duration::from_secs(10) };
        let start = Instant::now();
        let mut breaker = Breaker::default();
        breaker.failure(start, &policy);
        assert!(breaker.try_acquire(start));
        breaker.failure(start, &policy);
        assert!(!breaker.try_acquire(start + Duration::from_secs(9)));
        let later = start + Duration::from_secs(10);
        assert!(breaker.try_acquire(later), "the probe");
        assert!(!breaker.try_acquire(later), "one probe at a time");
        breaker.failure(later, &policy);
        assert!(!breaker.try_acquire(later + Duration::from_secs(5)), "a failed probe opens it again");
        let again = later + Duration::from_secs(10);
        assert!(breaker.try_acquire(again));
        breaker.success();
        assert_eq!(breaker.state(), BreakerState::Closed { failures: 0 });
    }
}
