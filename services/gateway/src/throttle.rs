//! Login throttling: at most [`MAX_FAILURES`] password checks for one tenant and email within [`WINDOW`] that did
//! not end in a successful login; further attempts are refused until the window passes, whatever the password.
//! Keys are stored as SHA-256 digests (fixed size whatever the input).
//!
//! Every attempt is counted *before* its password is checked ([`LoginThrottle::begin`]), atomically, and a success
//! clears the count ([`LoginThrottle::succeed`]): thirty guesses sent at once get at most five checks, never thirty
//! that all passed a check made before any failure was counted.
//!
//! Each replica counts in memory, bounded by [`MAX_KEYS`]: stale entries go first, then entries that are not locked
//! out; a locked-out key is never evicted, so flooding the map cannot lift someone's lockout (past the bound, new
//! keys are simply not tracked until room frees up). With a shared cache (Redis), attempts are also counted there
//! (`login:failures:<digest>`, an atomic increment expiring with the window) and a lockout is recorded there
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

    /// Counts an attempt for `key` before its password is checked. `Err(seconds)` when the key is locked out: the
    /// password must not be checked at all.
    pub(crate) async fn begin(&self, key: &str) -> Result<(), u64> {
        let digest = digest(key);
        if let Some(wait) = self.local_retry_after(&digest) {
            return Err(wait);
        }
        let local = self.local_count(digest);
        let shared_count = match &self.shared {
            None => None,
            Some(shared) => {
                let (failures, lockout) = shared_keys(&digest);
                if let Some(wait) = shared_lockout(shared.as_ref(), &lockout).await {
                    return Err(wait);
                }
                match shared.increment(&failures, 1, Some(WINDOW)).await {
                    Ok(count) => {
                        if count == i64::from(MAX_FAILURES) {
                            // The last attempt allowed: whatever its outcome, record when the lockout would end.
                            let until = (unix_now() + WINDOW.as_secs()).to_string();
                            if let Err(e) = shared.set(&lockout, until.as_bytes(), Some(WINDOW)).await {
                                tracing::warn!(error = %e, "cannot record a login lockout in the shared cache");
                            }
                        }
                        Some(count)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot count a login attempt in the shared cache");
                        None
                    }
                }
            }
        };
        let count = shared_count.map_or(i64::from(local), |shared| shared.max(i64::from(local)));
        if count > i64::from(MAX_FAILURES) {
            Err(self.local_retry_after(&digest).unwrap_or(WINDOW.as_secs()))
        } else {
            Ok(())
        }
    }

    fn local_retry_after(&self, digest: &[u8; 32]) -> Option<u64> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let (count, since) = failures.get(digest)?;
        let elapsed = since.elapsed();
        (*count > MAX_FAILURES && elapsed < WINDOW).then(|| (WINDOW - elapsed).as_secs().max(1))
    }

    /// Adds one attempt to `key`'s count in this replica; returns the new count.
    fn local_count(&self, key: [u8; 32]) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= MAX_KEYS && !failures.contains_key(&key) {
            failures.retain(|_, (_, since)| since.elapsed() < WINDOW);
            if failures.len() >= MAX_KEYS {
                failures.retain(|_, (count, _)| *count >= MAX_FAILURES);
            }
            if failures.len() >= MAX_KEYS {
                return 0;
            }
        }
        let entry = failures.entry(key).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 = entry.0.saturating_add(1);
        entry.0
    }

    /// Forgets `key`'s attempts after a successful login.
    pub(crate) async fn succeed(&self, key: &str) {
        let digest = digest(key);
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(&digest);
        if let Some(shared) = &self.shared {
            let (failures, lockout) = shared_keys(&digest);
            for key in [failures, lockout] {
                if let Err(e) = shared.delete(&key).await {
                    tracing::warn!(error = %e, "cannot reset login attempts in the shared cache");
                }
            }
        }
    }
}

/// Seconds left of a lockout recorded in the shared cache.
async fn shared_lockout(shared: &dyn Cache, lockout: &str) -> Option<u64> {
    match shared.get(lockout).await {
        Ok(Some(until)) => {
            let until = std::str::from_utf8(&until).ok()?.parse::<u64>().ok()?;
            let now = unix_now();
            // The lockout is recorded when the last allowed attempt begins; it binds once that count is spent.
            (until > now).then(|| until - now)
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "shared login throttle unavailable; this replica's count applies");
            None
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_sixth_attempt_is_refused_and_success_resets() {
        let throttle = LoginThrottle::default();
        for _ in 0..MAX_FAILURES {
            assert!(throttle.begin("acme/a@b.c").await.is_ok());
        }
        let wait = throttle.begin("acme/a@b.c").await.unwrap_err();
        assert!(wait > WINDOW.as_secs() - 5 && wait <= WINDOW.as_secs(), "{wait}");
        assert!(throttle.begin("acme/other@b.c").await.is_ok(), "per key");
        throttle.succeed("acme/a@b.c").await;
        assert!(throttle.begin("acme/a@b.c").await.is_ok());
    }

    /// Two replicas sharing a cache count one email's attempts together: three on one and two on the other use up
    /// the five, and the next is refused on both. Run with an in-process cache shared by both, and with Redis.
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
                assert!(a.begin(&key).await.is_ok());
            }
            for _ in 0..2 {
                assert!(b.begin(&key).await.is_ok(), "{}", cache.name());
            }
            let wait = a.begin(&key).await.expect_err("the sixth attempt is refused on the replica that saw 3");
            assert!(wait > WINDOW.as_secs() - 5 && wait <= WINDOW.as_secs(), "{wait}");
            assert!(b.begin(&key).await.is_err());
            let fresh = LoginThrottle::shared(cache.clone());
            assert!(fresh.begin(&key).await.is_err(), "a replica that saw none refuses it too");
        }
    }
}
