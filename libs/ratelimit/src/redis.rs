//! The shared store: GCRA in one Lua script on Redis, through a small pool of `fred` clients.

use std::time::Duration;

use fred::prelude::{ClientLike, LuaInterface, Pool};

use crate::{CheckFuture, Decision, Quota, RateLimitError, RateLimitStore};

/// The GCRA script; see the file for its arguments and reply.
const SCRIPT: &str = include_str!("gcra.lua");

/// Prepended to every caller key, so rate limit state has a namespace of its own.
const KEY_PREFIX: &str = "switchboard:ratelimit:";

/// Rate limit state in Redis, shared by every gateway replica that uses the same server.
///
/// Each check is one `EVALSHA` of a Lua script that reads the key's TAT, decides with Redis's own clock (`TIME`),
/// and writes the new TAT with a `PX` expiry at the moment the bucket is full again, so idle keys cost no memory.
/// Keys are stored as `switchboard:ratelimit:<key>`. If Redis has lost the script (restart, `SCRIPT FLUSH`,
/// failover), the store loads it again and retries once.
///
/// Every command, including that retry, is bounded by the timeout given to [`RedisStore::connect`]; past it,
/// or when Redis is unreachable, [`RateLimitStore::check`] returns [`RateLimitError::Unavailable`]. The pool
/// reconnects in the background (exponential backoff up to 2 s, forever), so checks succeed again once Redis is
/// back. Failing open or closed meanwhile is the caller's policy.
///
/// A single server (or a proxy in front of one), `redis://` or `rediss://` (TLS); no Cluster or Sentinel.
/// Credentials in the URL are used for `AUTH` and never appear in errors or `Debug`.
#[derive(Clone)]
pub struct RedisStore {
    pool: Pool,
    /// The SHA-1 of `SCRIPT`, as returned by `SCRIPT LOAD`.
    script_sha: String,
    timeout: Duration,
    /// The URL with its credentials hidden, for errors and `Debug`.
    endpoint: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("endpoint", &self.endpoint).field("timeout", &self.timeout).finish()
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://[user:password@]host[:port][/db]`) and loads the script.
    ///
    /// `timeout` bounds this connection attempt and, later, every check. Fails with [`RateLimitError::Config`] for
    /// a malformed or unsupported URL and with [`RateLimitError::Unavailable`] if Redis cannot be reached in time.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, RateLimitError> {
        let settings = switchboard_cache::RedisSettings::new(url, timeout);
        let (pool, endpoint) = switchboard_cache::redis::connect_pool(&settings).await.map_err(|e| match e {
            switchboard_cache::CacheError::Invalid(m) => RateLimitError::Config(m),
            switchboard_cache::CacheError::Unavailable(m) => RateLimitError::Unavailable(m),
        })?;
        match Self::from_pool(pool.clone(), endpoint, timeout).await {
            Ok(store) => Ok(store),
            Err(e) => {
                quit(&pool, timeout).await;
                Err(e)
            }
        }
    }

    /// A store on an already connected pool (the platform shares the cache's pool: one set of connections to
    /// Redis per process). Loads the script; `timeout` bounds that and every check. `endpoint` names the server in
    /// errors and must hold no password.
    pub async fn from_pool(pool: Pool, endpoint: String, timeout: Duration) -> Result<Self, RateLimitError> {
        let unavailable = |what: String| RateLimitError::Unavailable(format!("Redis at {endpoint}: {what}"));
        let script_sha = match tokio::time::timeout(timeout, pool.script_load::<String, _>(SCRIPT)).await {
            Ok(Ok(sha)) => sha,
            Ok(Err(e)) => return Err(unavailable(format!("SCRIPT LOAD failed: {e}"))),
            Err(_) => return Err(unavailable(format!("SCRIPT LOAD got no answer within {timeout:?}"))),
        };
        Ok(Self { pool, script_sha, timeout, endpoint })
    }

    /// Closes the connections (bounded by the timeout). Checks made afterwards fail with
    /// [`RateLimitError::Unavailable`].
    pub async fn close(&self) {
        quit(&self.pool, self.timeout).await;
    }

    /// Runs the script by hash; if Redis no longer has it, loads it and runs it again.
    async fn eval(&self, key: &str, args: Vec<i64>) -> Result<(i64, i64, i64, i64), fred::error::Error> {
        match self.pool.evalsha(self.script_sha.clone(), key, args.clone()).await {
            Err(e) if e.details().starts_with("NOSCRIPT") => {
                let _: String = self.pool.script_load(SCRIPT).await?;
                self.pool.evalsha(self.script_sha.clone(), key, args).await
            }
            reply => reply,
        }
    }
}

impl RateLimitStore for RedisStore {
    fn check<'a>(&'a self, key: &'a str, quota: Quota) -> CheckFuture<'a> {
        Box::pin(async move {
            let interval = quota.emission_interval()?;
            // Whole microseconds, at least 1: quotas above 60 million per minute are capped there.
            let interval_us = i64::try_from(interval.as_micros()).unwrap_or(i64::MAX).max(1);
            let args = vec![interval_us, i64::from(quota.per_minute)];
            let key = format!("{KEY_PREFIX}{key}");

            let reply = match tokio::time::timeout(self.timeout, self.eval(&key, args)).await {
                Ok(Ok(reply)) => reply,
                Ok(Err(e)) => {
                    return Err(RateLimitError::Unavailable(format!("Redis at {}: {e}", self.endpoint)));
                }
                Err(_) => {
                    return Err(RateLimitError::Unavailable(format!(
                        "Redis at {} did not answer within {:?}",
                        self.endpoint, self.timeout
                    )));
                }
            };
            decode(reply)
        })
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}

/// Sends `QUIT` on every connection, giving up after `timeout`: closing is best effort.
async fn quit(pool: &Pool, timeout: Duration) {
    let _ = tokio::time::timeout(timeout, pool.quit()).await;
}

/// Turns the script's `{allowed, remaining, retry_after_us, reset_after_us}` into a [`Decision`].
fn decode(
    (allowed, remaining, retry_after_us, reset_after_us): (i64, i64, i64, i64),
) -> Result<Decision, RateLimitError> {
    let micros = |us: i64| Duration::from_micros(u64::try_from(us).unwrap_or(0));
    match allowed {
        1 => Ok(Decision::Allowed {
            remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
            reset_after: micros(reset_after_us),
        }),
        0 => Ok(Decision::Limited { retry_after: micros(retry_after_us), reset_after: micros(reset_after_us) }),
        other => Err(RateLimitError::Unavailable(format!("unexpected reply from the rate limit script: {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_decode() {
        assert_eq!(
            decode((1, 4, 0, 12_000_000)).ok(),
            Some(Decision::Allowed { remaining: 4, reset_after: Duration::from_secs(12) })
        );
        assert_eq!(
            decode((0, 0, 1_500, 60_000_000)).ok(),
            Some(Decision::Limited { retry_after: Duration::from_micros(1_500), reset_after: Duration::from_secs(60) })
        );
        assert!(matches!(decode((7, 0, 0, 0)), Err(RateLimitError::Unavailable(_))));
    }

    #[tokio::test]
    async fn unsupported_urls_are_config_errors() {
        for url in ["redis-cluster://h:7000", "http://h", "not a url"] {
            let result = RedisStore::connect(url, Duration::from_millis(100)).await;
            assert!(matches!(result, Err(RateLimitError::Config(_))), "{url}: {result:?}");
        }
    }
}
