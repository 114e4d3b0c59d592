//! The cache and counters the platform needs, behind one trait ([`Cache`]): get and set with a time to live,
//! delete, atomic increment (counters whose TTL starts with their first increment), and set-if-absent (webhook
//! and request deduplication).
//!
//! Two stores pass the same conformance suite: [`MemoryCache`], in process (the embedded default: bounded, expiry
//! checked on read and swept when full), and [`RedisCache`], through a pooled, reconnecting `fred` client with a
//! timeout on every command. Keys are the caller's: tenant-scoped data must carry the tenant in its key. A store
//! that cannot answer returns [`CacheError::Unavailable`]; what to do then is the caller's policy.
//!
//! Used by the gateway for revoked sessions and users, and for each tenant's stored rate limit (a cached query
//! result keyed by tenant). With Redis, `switchboard-ratelimit` runs on the same pool ([`RedisCache::pool`]).

mod memory;
pub mod redis;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use crate::memory::MemoryCache;
pub use crate::redis::{RedisCache, RedisSettings};

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The store did not answer in time or is unreachable.
    #[error("cache unavailable: {0}")]
    Unavailable(String),
    /// A value or configuration is unusable (e.g. an increment on a non-integer value).
    #[error("cache: {0}")]
    Invalid(String),
}

/// A boxed future of a cache result (keeps [`Cache`] object-safe).
pub type CacheFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, CacheError>> + Send + 'a>>;

/// A key-value cache with expiry and atomic counters.
pub trait Cache: Send + Sync + 'static {
    /// The value at `key`, if present and not expired.
    fn get<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Option<Vec<u8>>>;
    /// Stores `value` at `key`, expiring after `ttl` (never when `None`).
    fn set<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Option<Duration>) -> CacheFuture<'a, ()>;
    /// Removes `key`; true if it was there.
    fn delete<'a>(&'a self, key: &'a str) -> CacheFuture<'a, bool>;
    /// Adds `by` to the integer at `key` (0 when absent) and returns the new value; a key created by this call
    /// expires after `ttl`.
    fn increment<'a>(&'a self, key: &'a str, by: i64, ttl: Option<Duration>) -> CacheFuture<'a, i64>;
    /// Stores `value` only if `key` is absent; true if this call stored it.
    fn set_if_absent<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Option<Duration>) -> CacheFuture<'a, bool>;
    /// `memory` or `redis`, for logs.
    fn name(&self) -> &'static str;
}
