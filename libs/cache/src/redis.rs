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

/// The cache in Redis: `redis://` or `rediss://` (TLS), with `[user:]password@` for `AUTH`, one server or a proxy
/// in front of one (no Cluster or Sentinel yet).
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

/// How to reach Redis.
#[derive(Clone)]
pub struct RedisSettings {
    /// `redis[s]://[[user:]password@]host[:port][/db]`.
    pub url: String,
    /// Bounds the connection and every later command.
    pub timeout: Duration,
    /// PEM bundle of the CAs that sign the server's certificate (`rediss://`); the system's roots when unset.
    pub tls_ca_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &redact(&self.url))
            .field("timeout", &self.timeout)
            .field("tls_ca_file", &self.tls_ca_file)
            .finish()
    }
}

impl RedisSettings {
    /// `url` with `timeout`, TLS verified against the system's roots.
    pub fn new(url: impl Into<String>, timeout: Duration) -> Self {
        Self { url: url.into(), timeout, tls_ca_file: None }
    }
}

/// A client for a `rediss://` server whose certificate chains to one of the CAs in `ca_file`: rustls on ring, the
/// workspace's one TLS stack.
fn tls_with_ca(ca_file: &std::path::Path, endpoint: &str) -> Result<fred::prelude::TlsConnector, CacheError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let invalid =
        |what: String| CacheError::Invalid(format!("Redis TLS CA {} for {endpoint}: {what}", ca_file.display()));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).map_err(|e| invalid(e.to_string()))? {
        roots.add(cert.map_err(|e| invalid(e.to_string()))?).map_err(|e| invalid(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(invalid("no CERTIFICATE block found".into()));
    }
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(config.into())
}

/// A connected pool of Redis clients, and the server's name with its password hidden. The rate limiter builds its
/// store on this too, so there is one way to connect to Redis.
pub async fn connect_pool(settings: &RedisSettings) -> Result<(Pool, String), CacheError> {
    let (url, timeout) = (settings.url.as_str(), settings.timeout);
    let endpoint = redact(url);
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase()).unwrap_or_default();
    if scheme != "redis" && scheme != "rediss" {
        return Err(CacheError::Invalid(format!(
            "unsupported Redis URL {endpoint:?}: use redis://[:password@]host:port, or rediss:// for TLS"
        )));
    }
    let mut config = Config::from_url_centralized(url)
        .map_err(|e| CacheError::Invalid(format!("invalid Redis URL {endpoint:?}: {}", e.details())))?;
    if let Some(ca_file) = &settings.tls_ca_file {
        if scheme != "rediss" {
            return Err(CacheError::Invalid(format!("a Redis TLS CA is set but {endpoint:?} is not rediss://")));
        }
        config.tls = Some(tls_with_ca(ca_file, &endpoint)?.into());
    }
    let performance = PerformanceConfig { default_command_timeout: timeout, ..Default::default() };
    let connection =
        ConnectionConfig { connection_timeout: timeout, internal_command_timeout: timeout, ..Default::default() };
    // Retry forever after a lost connection, 100 ms doubling to 2 s. (The first connection does not retry:
    // `Config::fail_fast` is true by default, so `init` reports the failure.)
    let reconnect = ReconnectPolicy::new_exponential(0, 100, 2_000, 2);
    let pool = Pool::new(config, Some(performance), Some(connection), Some(reconnect), POOL_SIZE)
        .map_err(|e| CacheError::Invalid(format!("Redis client for {endpoint}: {e}")))?;
    match tokio::time::timeout(timeout, pool.init()).await {
        // The connection task runs in the background until the pool quits; nothing needs its handle.
        Ok(Ok(_connection_task)) => Ok((pool, endpoint)),
        Ok(Err(e)) => Err(CacheError::Unavailable(format!("Redis at {endpoint}: cannot connect: {e}"))),
        Err(_) => Err(CacheError::Unavailable(format!("Redis at {endpoint}: no connection within {timeout:?}"))),
    }
}

impl RedisCache {
    /// Connects to `url`; `timeout` bounds the connection and every later command.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, CacheError> {
        Self::connect_with(&RedisSettings::new(url, timeout)).await
    }

    /// Connects as `settings` say.
    pub async fn connect_with(settings: &RedisSettings) -> Result<Self, CacheError> {
        let (pool, endpoint) = connect_pool(settings).await?;
        Ok(Self { pool, endpoint })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact("redis://:secret@h:6379/0"), "redis://***@h:6379/0");
        assert_eq!(redact("rediss://user:secret@h"), "rediss://***@h");
        assert_eq!(redact("redis://h:6379"), "redis://h:6379");
    }
}
