//! Rate limiting at the edge: GCRA allowances per tenant (the tenant's stored override, else the platform
//! default), per user, and per client address for anonymous calls, kept in a [`RateLimitStore`] (in-process by
//! default, Redis when configured so that replicas share one limit).
//!
//! Refusals are [`EdgeError::RateLimited`], rendered in the caller's protocol by [`crate::respond`]: REST gets 429
//! with `Retry-After` and `RateLimit-*` headers; gRPC and gRPC-Web get a real `grpc-status: 8`
//! (RESOURCE_EXHAUSTED) with `google.rpc.RetryInfo` — never a bare HTTP 429, which gRPC clients read as UNAVAILABLE
//! and retry at once. Anonymous clients are counted per address, IPv6 by /64, in two allowances: provider webhooks
//! ([`WEBHOOK_RPC`]) in their own, generous one, every other anonymous call (sign-in, refresh) in the default one,
//! so a provider's burst never locks sign-ins out of the same address, nor sign-ins the webhooks. When the store
//! fails (Redis down), the configured [`OnStoreError`] policy decides, with a warning in the log.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use switchboard_cache::Cache;
use switchboard_ratelimit::{Decision, Quota, RateLimitStore};
use switchboard_store::{Store, TenantId};

use crate::authn::Caller;
use crate::respond::EdgeError;

/// What to do when the rate-limit store cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnStoreError {
    /// Let the request through (the default: an outage of the limiter must not become an outage of the API).
    #[default]
    Allow,
    /// Refuse with UNAVAILABLE / 503.
    Deny,
}

/// Rate limiting configuration.
#[derive(Clone)]
pub struct RateLimits {
    /// Where allowances are kept.
    pub store: Arc<dyn RateLimitStore>,
    /// Requests per minute per tenant (when it has no override), per user and per anonymous client.
    pub default_per_minute: u32,
    /// Provider webhooks per minute per client address (an allowance of their own, apart from the anonymous one).
    pub webhook_per_minute: u32,
    /// Policy when the store fails.
    pub on_store_error: OnStoreError,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("store", &self.store.name())
            .field("default_per_minute", &self.default_per_minute)
            .field("webhook_per_minute", &self.webhook_per_minute)
            .field("on_store_error", &self.on_store_error)
            .finish()
    }
}

/// The provider webhook RPC: anonymous, counted in its own allowance per client address.
pub(crate) const WEBHOOK_RPC: &str = "/switchboard.connectors.v1.ConnectorService/ReceiveWebhook";
/// The key the edge checks web console files under (not a path anything is served at).
pub(crate) const CONSOLE_FILES: &str = "console files";

/// How long a tenant's override is cached before it is read again.
pub(crate) const OVERRIDE_TTL: Duration = Duration::from_secs(30);

/// The limiter the edge layer consults.
pub(crate) struct Limiter {
    config: RateLimits,
    store: Store,
    /// Caches each tenant's stored limit (in process, or Redis shared by the replicas).
    cache: Arc<dyn Cache>,
    /// Counts refusals by scope.
    metrics: switchboard_telemetry::Metrics,
}

/// The cache key of `tenant`'s stored rate limit: the tenant is in the key, so one tenant's entry can never
/// answer for another.
pub(crate) fn tenant_limit_key(tenant: TenantId) -> String {
    format!("tenant:{tenant}:rate-limit-per-minute")
}

/// The outcome for one request.
pub(crate) enum Verdict {
    /// Go on; the REST response may carry these `RateLimit-*` values.
    Pass(Option<Headers>),
    /// Refused, with the `RateLimit-*` values to send when a limit (not the store) refused.
    Refuse { error: EdgeError, headers: Option<Headers> },
}

/// `RateLimit-*` header values for the tightest allowance that applied.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Headers {
    limit: u32,
    remaining: u32,
    reset: Duration,
}

// Names built once: a `&str` name is parsed and checked again on every insert.
const RATELIMIT_LIMIT: http::HeaderName = http::HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: http::HeaderName = http::HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: http::HeaderName = http::HeaderName::from_static("ratelimit-reset");

impl Headers {
    pub(crate) fn apply(&self, headers: &mut http::HeaderMap) {
        headers.insert(RATELIMIT_LIMIT, self.limit.into());
        headers.insert(RATELIMIT_REMAINING, self.remaining.into());
        headers.insert(RATELIMIT_RESET, ceil_secs(self.reset).into());
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl Limiter {
    pub(crate) fn new(
        config: RateLimits,
        store: Store,
        cache: Arc<dyn Cache>,
        metrics: switchboard_telemetry::Metrics,
    ) -> Self {
        Self { config, store, cache, metrics }
    }

    /// The tenant's requests per minute: its stored override (cached for [`OVERRIDE_TTL`]; the admin service
    /// writes the new value there when it changes the limit), else the platform default.
    async fn tenant_quota(&self, tenant: TenantId) -> u32 {
        let key = tenant_limit_key(tenant);
        let cache_up = match self.cache.get(&key).await {
            Ok(Some(value)) => {
                if let Some(stored) = std::str::from_utf8(&value).ok().and_then(|v| v.parse::<u32>().ok()) {
                    return if stored > 0 { stored } else { self.config.default_per_minute };
                }
                true
            }
            Ok(None) => true,
            Err(e) => {
                tracing::debug!(%tenant, error = %e, "cache unavailable; reading the tenant's limit from the store");
                false
            }
        };
        let stored = match crate::accounts::TenantDirectory::new(&self.store).by_id(tenant).await {
            Ok(Some(t)) => u32::try_from(t.rate_limit_per_minute.max(0)).unwrap_or(u32::MAX),
            Ok(None) => 0,
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "cannot read the tenant's rate limit; using the default");
                return self.config.default_per_minute;
            }
        };
        // If-absent: a value the admin service wrote meanwhile (a newer limit) is not overwritten with this read.
        if cache_up
            && let Err(e) = self.cache.set_if_absent(&key, stored.to_string().as_bytes(), Some(OVERRIDE_TTL)).await
        {
            tracing::debug!(%tenant, error = %e, "cannot cache the tenant's rate limit");
        }
        if stored > 0 { stored } else { self.config.default_per_minute }
    }

    /// Takes one request from every allowance that applies; the first refusal wins.
    pub(crate) async fn check(&self, caller: Option<&Caller>, client: Option<IpAddr>, path: &str) -> Verdict {
        // Probes are free; long-lived Watch streams and anything else are not.
        if path == "/grpc.health.v1.Health/Check" {
            return Verdict::Pass(None);
        }
        let default = self.config.default_per_minute;
        let checks: Vec<(String, u32, &str, &str)> = match caller {
            Some(caller) => vec![
                (format!("tenant:{}", caller.tenant), self.tenant_quota(caller.tenant).await, "this tenant", "tenant"),
                (format!("user:{}", caller.user), default, "this user", "user"),
            ],
            // IPv6 clients by their /64: one host or home network holds a whole /64.
            None => match client.map(switchboard_mesh::net::client_key) {
                // A console page load is a dozen files: counted apart, so it does not use up the client's
                // allowance for signing in.
                Some(ip) if path == CONSOLE_FILES => vec![(
                    format!("console:ip:{ip}"),
                    default.saturating_mul(10),
                    "console files from this client address",
                    "console",
                )],
                Some(ip) if path == WEBHOOK_RPC => vec![(
                    format!("webhook:ip:{ip}"),
                    self.config.webhook_per_minute,
                    "webhooks from this client address",
                    "webhook",
                )],
                Some(ip) => vec![(format!("ip:{ip}"), default, "this client address", "client")],
                None => return Verdict::Pass(None),
            },
        };
        let mut tightest: Option<Headers> = None;
        for (key, per_minute, whose, scope) in checks {
            let Some(quota) = Quota::per_minute(per_minute) else { continue };
            match self.config.store.check(&key, quota).await {
                Ok(Decision::Allowed { remaining, reset_after }) => {
                    if tightest.is_none_or(|t| remaining < t.remaining) {
                        tightest = Some(Headers { limit: per_minute, remaining, reset: reset_after });
                    }
                }
                Ok(Decision::Limited { retry_after, reset_after }) => {
                    let headers = Headers { limit: per_minute, remaining: 0, reset: reset_after };
                    let wait = ceil_secs(retry_after).max(1);
                    let message =
                        format!("rate limit exceeded: {per_minute} requests per minute for {whose}; retry in {wait} s");
                    let error = EdgeError::RateLimited { message, retry_after };
                    self.metrics.rate_limited(scope);
                    return Verdict::Refuse { error, headers: Some(headers) };
                }
                Err(e) => {
                    tracing::warn!(store = self.config.store.name(), error = %e, policy = ?self.config.on_store_error,
                        "rate limit store unavailable");
                    if self.config.on_store_error == OnStoreError::Deny {
                        let error = EdgeError::Busy("rate limiting is unavailable; retry shortly");
                        return Verdict::Refuse { error, headers: None };
                    }
                }
            }
        }
        Verdict::Pass(tightest)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    const LOGIN: &str = "/switchboard.auth.v1.AuthService/Login";

    /// A limiter allowing anonymous clients `default` calls a minute and `webhooks` webhooks.
    async fn limiter(default: u32, webhooks: u32) -> (Limiter, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&switchboard_store::StoreConfig::sqlite_in(dir.path())).await.unwrap();
        let config = RateLimits {
            store: Arc::new(switchboard_ratelimit::MemoryStore::new()),
            default_per_minute: default,
            webhook_per_minute: webhooks,
            on_store_error: OnStoreError::Allow,
        };
        let cache = Arc::new(switchboard_cache::MemoryCache::new());
        (Limiter::new(config, store, cache, switchboard_telemetry::Metrics::new()), dir)
    }

    async fn passes(limiter: &Limiter, client: &str, rpc: &str) -> bool {
        matches!(limiter.check(None, Some(client.parse().unwrap()), rpc).await, Verdict::Pass(_))
    }

    #[tokio::test]
    async fn webhooks_and_sign_ins_from_one_address_count_apart() {
        let (limiter, _dir) = limiter(2, 3).await;
        let provider = "198.51.100.7";
        for _ in 0..3 {
            assert!(passes(&limiter, provider, WEBHOOK_RPC).await);
        }
        assert!(!passes(&limiter, provider, WEBHOOK_RPC).await, "the fourth webhook in the minute");
        assert!(passes(&limiter, provider, LOGIN).await, "a webhook burst does not lock sign-ins out");

        let office = "198.51.100.8";
        for _ in 0..2 {
            assert!(passes(&limiter, office, LOGIN).await);
        }
        assert!(!passes(&limiter, office, LOGIN).await, "the third sign-in in the minute");
        assert!(passes(&limiter, office, WEBHOOK_RPC).await, "spent sign-ins do not stop webhooks");
    }

    #[test]
    fn the_webhook_rpc_is_an_anonymous_contract_method() {
        let access = switchboard_mesh::access::AccessTable::contracts().unwrap();
        assert!(access.is_anonymous(WEBHOOK_RPC), "{WEBHOOK_RPC} moved: update ratelimit::WEBHOOK_RPC");
    }
}
