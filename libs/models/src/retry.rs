//! The chain's retry policy and its one decision: after a failed attempt, wait and ask the same provider again,
//! move to the next provider, move to one with a larger context window, or stop. Backoff is exponential with
//! jitter (openai-python's: `base · 2^n`, capped, times `1 − 0.25·random`); a provider's `retry-after` replaces it
//! when it is no longer than [`RetryPolicy::max_retry_after`], and a longer one sends the call to the next provider
//! instead of holding it.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use crate::error::{ErrorClass, ModelError};

/// How the chain retries one provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt, per provider per call.
    pub max_retries: u32,
    /// The first backoff.
    pub base_delay: Duration,
    /// The largest backoff.
    pub max_delay: Duration,
    /// The longest `retry-after` honoured; a provider asking for more is skipped for this call.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// What the chain does after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Ask the same provider again after this wait.
    Retry(Duration),
    /// This provider is done for this call; its breaker counts a failure.
    NextProvider,
    /// This provider cannot serve for a while (quota, configuration): open its breaker, go to the next.
    TripAndNext,
    /// The prompt is too long for this provider: try only providers with a larger window; not a health failure.
    LargerWindow,
    /// The request itself is wrong: no provider will take it.
    Stop,
}

impl RetryPolicy {
    /// The decision after `error` on attempt `retries + 1` of one provider.
    pub(crate) fn decide(&self, error: &ModelError, retries: u32) -> Decision {
        match error.class() {
            ErrorClass::InvalidRequest => return Decision::Stop,
            ErrorClass::ContextLength => return Decision::LargerWindow,
            ErrorClass::QuotaExhausted | ErrorClass::Configuration => return Decision::TripAndNext,
            ErrorClass::RateLimited
            | ErrorClass::Overloaded
            | ErrorClass::Server
            | ErrorClass::Timeout
            | ErrorClass::Connection
            | ErrorClass::BadOutput
            | ErrorClass::Unavailable => {}
        }
        if !error.is_retryable() || retries >= self.max_retries {
            return Decision::NextProvider;
        }
        match error.retry_after() {
            Some(wait) if wait > self.max_retry_after => Decision::NextProvider,
            Some(wait) => Decision::Retry(wait),
            None => Decision::Retry(self.backoff(retries)),
        }
    }

    /// The wait before retry `retries + 1`.
    pub(crate) fn backoff(&self, retries: u32) -> Duration {
        let exponential = self.base_delay.saturating_mul(2u32.saturating_pow(retries.min(16)));
        exponential.min(self.max_delay).mul_f64(1.0 - 0.25 * random_unit())
    }
}

/// A number in `[0, 1)`, random enough for jitter: std's per-instance hasher keys, no extra dependency.
fn random_unit() -> f64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u8(0);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    fn api(status: u16, retry_after: Option<Duration>, should_retry: Option<bool>) -> ApiError {
        ApiError {
            provider: "p".into(),
            status: Some(status),
            code: None,
            message: "m".into(),
            request_id: None,
            retry_after,
            should_retry,
        }
    }

    #[test]
    fn each_class_gets_its_decision() {
        let policy = RetryPolicy::default();
        let wait = Duration::from_millis(250);
        assert_eq!(policy.decide(&ModelError::RateLimited(api(429, Some(wait), None)), 0), Decision::Retry(wait));
        assert_eq!(policy.decide(&ModelError::RateLimited(api(429, Some(wait), None)), 2), Decision::NextProvider);
        let long = Some(Duration::from_secs(600));
        assert_eq!(policy.decide(&ModelError::RateLimited(api(429, long, None)), 0), Decision::NextProvider);
        assert_eq!(policy.decide(&ModelError::Server(api(500, None, Some(false))), 0), Decision::NextProvider);
        assert_eq!(policy.decide(&ModelError::QuotaExhausted(api(429, None, None)), 0), Decision::TripAndNext);
        assert_eq!(policy.decide(&ModelError::Auth(api(401, None, Some(true))), 0), Decision::TripAndNext);
        assert_eq!(policy.decide(&ModelError::InvalidRequest(api(400, None, Some(true))), 0), Decision::Stop);
        assert_eq!(policy.decide(&ModelError::ContextLengthExceeded(api(400, None, None)), 0), Decision::LargerWindow);
        assert!(matches!(policy.decide(&ModelError::Overloaded(api(529, None, None)), 1), Decision::Retry(_)));
    }

    #[test]
    fn backoff_doubles_with_at_most_a_quarter_of_jitter_and_is_capped() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
            ..RetryPolicy::default()
        };
        for _ in 0..50 {
            let first = policy.backoff(0);
            assert!(first > Duration::from_millis(75) && first <= Duration::from_millis(100), "{first:?}");
            let second = policy.backoff(1);
            assert!(second > Duration::from_millis(150) && second <= Duration::from_millis(200), "{second:?}");
            assert!(policy.backoff(10) <= Duration::from_millis(300));
        }
    }
}
