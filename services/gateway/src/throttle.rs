//! Login throttling: after [`MAX_FAILURES`] failed logins for one tenant and email within [`WINDOW`], further
//! attempts are refused until the window passes, whatever the password. Keys are stored as SHA-256 digests (fixed
//! size whatever the input).
//!
//! Each replica counts in memory, bounded by [`MAX_KEYS`]: stale entries go first, then entries that are not locked
//! out; a locked-out key is never evicted, so flooding the map cannot lift someone's lockout (past the bound, new
//! keys are simply not tracked until room frees up). With a shared cache (Redis), failures are also counted there
//! (`login:failures:<digest>`, expiring with the window) and a lockout is recorded there
//! (`login:lockout:<digest>` = when it ends), so attempts spread over replicas are counted together. If the shared
//! cache fails, the replica's own count still applies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_cache::Cache;

/// Failed attempts allowed per window.
pub(crate) const MAX_FAILURES: u32 = 5;
/// The window.
pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Most keys tracked.
const MAX_KEYS: usize = 100_000;

#[derive(Default)]
pub(crate) struct LoginThrottle {
    failures: Mutex<HashMap<[u8; 32], (u32, Instant)>>,
    /// The cache the replicas share, if there is one.
    shared: Option<Arc<dyn Cache>>,
}

impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginThrottle").field("shared", &self.shared.as_ref().map(|c| c.name())).finish()
    }
}

fn shared_keys(digest: &[u8; 32]) -> (String, String) {
    let hex = hex::encode(digest);
    (format!("login:failures:{hex}"), format!("login:lockout:{hex}"))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn digest(key: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, key.as_bytes()).as_ref());
    out
}

impl LoginThrottle {
    /// A throttle that also counts in `shared` (the cache every replica uses).
    pub(crate) fn shared(shared: Arc<dyn Cache>) -> Self {
        Self { shared: Some(shared), ..Self::default() }
    }

    /// Seconds to wait, if `key` is locked out now (by this replica's count or the shared one).
    pub(crate) async fn retry_after(&self, key: &str) -> Option<u64> {
        let digest = digest(key);
        if let Some(wait) = self.local_retry_after(&digest) {
            return Some(wait);
        }
        let shared = self.shared.as_ref()?;
        let (_, lockout) = shared_keys(&digest);
        match shared.get(&lockout).await {
            Ok(Some(until)) => {
                let until = std::str::from_utf8(&until).ok()?.parse::<u64>().ok()?;
                let now = unix_now();
                (until > now).then(|| until - now)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "shared login throttle unavailable; this replica's count applies");
                None
            }
        }
    }

    fn local_retry_after(&self, digest: &[u8; 32]) -> Option<u64> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let (count, since) = failures.get(digest)?;
        let elapsed = since.elapsed();
        (*count >= MAX_FAILURES && elapsed < WINDOW).then(|| (WINDOW - elapsed).as_secs().max(1))
    }

    /// Counts a failure for `key`.
    pub(crate) async fn fail(&self, key: &str) {
        let digest = digest(key);
        self.local_fail(digest);
        let Some(shared) = &self.shared else { return };
        let (failures, lockout) = shared_keys(&digest);
        match shared.increment(&failures, 1, Some(WINDOW)).await {
            Ok(count) if count >= i64::from(MAX_FAILURES) => {
                let until = (unix_now() + WINDOW.as_secs()).to_string();
                if let Err(e) = shared.set(&lockout, until.as_bytes(), Some(WINDOW)).await {
                    tracing::warn!(error = %e, "cannot record a login lockout in the shared cache");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot count a failed login in the shared cache"),
        }
    }

    fn local_fail(&self, key: [u8; 32]) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= MAX_KEYS && !failures.contains_key(&key) {
            failures.retain(|_, (_, since)| since.elapsed() < WINDOW);
            if failures.len() >= MAX_KEYS {
                failures.retain(|_, (count, _)| *count >= MAX_FAILURES);
            }
            if failures.len() >= MAX_KEYS {
                return;
            }
        }
        let entry = failures.entry(key).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    /// Forgets `key`'s failures after a successful login.
    pub(crate) async fn succeed(&self, key: &str) {
        let digest = digest(key);
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(&digest);
        if let Some(shared) = &self.shared {
            let (failures, _) = shared_keys(&digest);
            if let Err(e) = shared.delete(&failures).await {
                tracing::warn!(error = %e, "cannot reset failed logins in the shared cache");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[tokio::test]
    async fn locks_out_after_the_limit_and_success_resets() {
        let throttle = LoginThrottle::default();
        for _ in 0..MAX_FAILURES - 1 {
            throttle.fail("acme/a@b.c").await;
        }
        assert!(throttle.retry_after("acme/a@b.c").await.is_none());
        throttle.fail("acme/a@b.c").await;
        assert!(throttle.retry_after("acme/a@b.c").await.is_some());
        assert!(throttle.retry_after("acme/other@b.c").await.is_none(), "per key");
        throttle.succeed("acme/a@b.c").await;
        assert!(throttle.retry_after("acme/a@b.c").await.is_none());
    }

    /// Two replicas sharing a cache count one email's failures together: three on one and two on the other lock it
    /// out on both. Run with an in-process cache shared by both, and with Redis (127.0.0.1:6379).
    #[tokio::test]
    async fn replicas_sharing_a_cache_count_together() {
        let redis = switchboard_cache::RedisCache::connect("redis://127.0.0.1:6379", Duration::from_secs(1))
            .await
            .expect("Redis at 127.0.0.1:6379 (make test starts it)");
        let caches: [Arc<dyn Cache>; 2] = [Arc::new(switchboard_cache::MemoryCache::new()), Arc::new(redis)];
        for cache in caches {
            let (a, b) = (LoginThrottle::shared(cache.clone()), LoginThrottle::shared(cache.clone()));
            let key = format!("acme/{}@b.c", uuid::Uuid::new_v4().simple());
            for _ in 0..3 {
                a.fail(&key).await;
            }
            b.fail(&key).await;
            assert!(a.retry_after(&key).await.is_none() && b.retry_after(&key).await.is_none(), "{}", cache.name());
            b.fail(&key).await;
            let wait = a.retry_after(&key).await.expect("locked out on the replica that saw 3 of the 5");
            assert!(wait > WINDOW.as_secs() - 5 && wait <= WINDOW.as_secs(), "{wait}");
            assert!(b.retry_after(&key).await.is_some());
            let fresh = LoginThrottle::shared(cache.clone());
            assert!(fresh.retry_after(&key).await.is_some(), "a replica that saw none is locked out too");
        }
    }
}
