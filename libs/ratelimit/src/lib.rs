//! The gateway's rate limiter: per-key GCRA (generic cell rate algorithm) with a quota of N requests per minute
//! and a burst of N.
//!
//! GCRA keeps one number per key, the *theoretical arrival time* (TAT): the moment the key's allowance is full
//! again if nothing more arrives. Each allowed request pushes the TAT forward by the emission interval (60 s / N),
//! and a request is refused when it would push the TAT more than N intervals (60 s) past now. So an idle key may
//! spend N requests at once and then earns one back every 60/N seconds: N per minute on average, never more than
//! N back to back (a full burst followed by the steady trickle can fit 2N - 1 requests into one 60 s window).
//!
//! Two stores implement [`RateLimitStore`]:
//! - [`MemoryStore`], the default: in-process, exact, bounded memory; each gateway replica counts on its own.
//! - [`RedisStore`]: one Lua script per check, run atomically on Redis with Redis's clock, so every replica
//!   shares one allowance per key.
//!
//! This crate owns the algorithm and the state. It does not build keys (`tenant:<uuid>`, `user:<uuid>`: the
//! caller's), pick quotas, or decide what happens when Redis is down: [`RateLimitStore::check`] then returns
//! [`RateLimitError::Unavailable`] within the configured timeout, and failing open or closed is the caller's
//! policy.

mod error;
mod memory;
mod redis;

use std::pin::Pin;
use std::time::Duration;

pub use crate::error::RateLimitError;
pub use crate::memory::MemoryStore;
pub use crate::redis::RedisStore;

/// How many requests a key may make: `per_minute` on average, and as many back to back from idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests per minute, which is also the burst. Must not be 0 (use [`Quota::per_minute`]; a store refuses a
    /// zero quota with [`RateLimitError::Config`]).
    pub per_minute: u32,
}

impl Quota {
    /// `n` requests per minute with a burst of `n`; `None` for 0.
    pub fn per_minute(n: u32) -> Option<Self> {
        (n > 0).then_some(Self { per_minute: n })
    }

    /// The emission interval, 60 s / N: how often a drained key earns one request back.
    pub(crate) fn emission_interval(self) -> Result<Duration, RateLimitError> {
        if self.per_minute == 0 {
            return Err(RateLimitError::Config("a quota of 0 requests per minute is invalid".into()));
        }
        Ok(Duration::from_secs(60) / self.per_minute)
    }
}

/// The outcome of one [`RateLimitStore::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The request was counted and may proceed.
    Allowed {
        /// Requests the key may still make right now (0 after the last of a burst).
        remaining: u32,
        /// Time until the key's allowance is full again if no more requests arrive.
        reset_after: Duration,
    },
    /// The request was refused and not counted.
    Limited {
        /// Time until one request will be allowed again (always > 0).
        retry_after: Duration,
        /// Time until the key's allowance is full again if no more requests arrive.
        reset_after: Duration,
    },
}

impl Decision {
    /// Whether the request may proceed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }
}

/// The future returned by [`RateLimitStore::check`].
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<Decision, RateLimitError>> + Send + 'a>>;

/// Where rate limit state lives. Object safe: the gateway holds an `Arc<dyn RateLimitStore>`.
pub trait RateLimitStore: Send + Sync + 'static {
    /// Takes one request from `key`'s allowance under `quota`, or refuses it without counting it.
    ///
    /// A key should always be checked with the same quota; after a quota change the key converges to the new one
    /// within a minute. Errors are [`RateLimitError::Config`] for a zero quota and [`RateLimitError::Unavailable`]
    /// when the backend cannot answer in time; what to do then (fail open or closed) is the caller's decision.
    fn check<'a>(&'a self, key: &'a str, quota: Quota) -> CheckFuture<'a>;

    /// A short name for logs and metrics: `"memory"` or `"redis"`.
    fn name(&self) -> &'static str;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_quota_is_invalid() {
        assert_eq!(Quota::per_minute(0), None);
        assert_eq!(Quota::per_minute(5), Some(Quota { per_minute: 5 }));
        assert!(matches!(Quota { per_minute: 0 }.emission_interval(), Err(RateLimitError::Config(_))));
        assert_eq!(Quota { per_minute: 5 }.emission_interval().ok(), Some(Duration::from_secs(12)));
    }
}
