//! The shared cache: Redis through a small pool of `fred` clients, every command bounded by a timeout.

use std::time::Duration;

use fred::prelude::{
    ClientLike, Config, ConnectionConfig, Expiration, KeysInterface, PerformanceConfig, Pool, ReconnectPolicy,
    SetOptions,
};

use crate::{Cache, CacheError, CacheFuture};

/// Prepended to every key: the cache's namespace in a shared Redis.
const KEY_PREFIX: &str = "switchboard:cache:";
/// Connections in the pool.
const POOL_SIZE: usize = 4;

/// The cache in Redis (`redis://host:port[/db]`; no TLS, Cluster or Sentinel yet).
#[derive(Clone)]
pub struct RedisCache {
    pool: Pool,
    endpoint: String,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

/// The URL with any password hidden.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

fn ttl_ms(ttl: Option<Duration>) -> Option<Expiration> {
    ttl.map(|t| Expiration::PX(i64::try_from(t.as_millis().max(1)).unwrap_or(i64::MAX)))
}

impl RedisCache {
    /// Connects to `url`; `timeout` bounds the connection and every later command.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, CacheError> {
        let endpoint = redact(url);
        if !url.to_ascii_lowercase().starts_with("redis://") {
            return Err(CacheError::Invalid(format!("unsupported Redis URL {endpoint:?}: use redis://host:port")));
        }
        let config = Config::from_url_centralized(url)
            .map_err(|e| CacheError::Invalid(format!("invalid Redis URL {endpoint:?}: {}", e.details())))?;
        let performance = PerformanceConfig { default_command_timeout: timeout, ..Default::default() };
        let connection =
            ConnectionConfig { connection_timeout: timeout, internal_command_timeout: timeout, ..Default::default() };
        let reconnect = ReconnectPolicy::new_exponential(0, 100, 2_000, 2);
        let pool = Pool::new(config, Some(performance), Some(connection), Some(reconnect), POOL_SIZE)
            .map_err(|e| CacheError::Invalid(format!("Redis client for {endpoint}: {e}")))?;
        match tokio::time::timeout(timeout, pool.init()).await {
            Ok(Ok(_)) => Ok(Self { pool, endpoint }),
            Ok(Err(e)) => Err(CacheError::Unavailable(format!("Redis at {endpoint}: cannot connect: {e}"))),
            Err(_) => Err(CacheError::Unavailable(format!("Redis at {endpoint}: no connection within {timeout:?}"))),
        }
    }

    /// The connection pool, for other Redis users in the process (the rate limiter) to share.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The server, with any password hidden.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn key(key: &str) -> String {
        format!("{KEY_PREFIX}{key}")
    }

    /// Runs `command`, mapping every failure to [`CacheError::Unavailable`]. The pool's `default_command_timeout`
    /// bounds each command (a timer here too would only add cost to every call).
    async fn run<T>(
        &self,
        command: impl std::future::Future<Output = Result<T, fred::error::Error>>,
    ) -> Result<T, CacheError> {
        command.await.map_err(|e| CacheError::Unavailable(format!("Redis at {}: {e}", self.endpoint)))
    }
}

impl Cache for RedisCache {
    fn get<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move { self.run(self.pool.get::<Option<Vec<u8>>, _>(Self::key(key))).await })
    }

    fn set<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Option<Duration>) -> CacheFuture<'a, ()> {
        Box::pin(async move {
            self.run(self.pool.set::<(), _, _>(Self::key(key), value.to_vec(), ttl_ms(ttl), None, false)).await
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> CacheFuture<'a, bool> {
        Box::pin(async move { Ok(self.run(self.pool.del::<i64, _>(Self::key(key))).await? > 0) })
    }

    fn increment<'a>(&'a self, key: &'a str, by: i64, ttl: Option<Duration>) -> CacheFuture<'a, i64> {
        Box::pin(async move {
            let key = Self::key(key);
            // Create-with-TTL first (atomic SET NX PX), then INCRBY: the key that the first increment creates
            // carries the TTL, and concurrent increments never lose one another.
            if let Some(expire) = ttl_ms(ttl) {
                self.run(self.pool.set::<Option<String>, _, _>(&key, 0i64, Some(expire), Some(SetOptions::NX), false))
                    .await?;
            }
            match self.pool.incr_by::<i64, _>(&key, by).await {
                Ok(n) => Ok(n),
                Err(e) if e.details().contains("not an integer") || e.details().contains("overflow") => {
                    Err(CacheError::Invalid(format!("{key}: {}", e.details())))
                }
                Err(e) => Err(CacheError::Unavailable(format!("Redis at {}: {e}", self.endpoint))),
            }
        })
    }

    fn set_if_absent<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Option<Duration>) -> CacheFuture<'a, bool> {
        Box::pin(async move {
            let reply = self
                .run(self.pool.set::<Option<String>, _, _>(
                    Self::key(key),
                    value.to_vec(),
                    ttl_ms(ttl),
                    Some(SetOptions::NX),
                    false,
                ))
                .await?;
            Ok(reply.is_some())
        })
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}
