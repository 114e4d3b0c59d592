//! The rate limiter's error type.

/// What can go wrong in a rate limit store.
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// The backend (Redis) could not be reached or did not answer within the timeout. The request was neither
    /// allowed nor refused: the caller's policy decides (fail open or closed).
    #[error("rate limit store unavailable: {0}")]
    Unavailable(String),
    /// The configuration is unusable: a malformed or unsupported URL, or a zero quota.
    #[error("rate limit configuration: {0}")]
    Config(String),
}
