//! Login throttling: after [`MAX_FAILURES`] failed logins for one tenant and email within [`WINDOW`], further
//! attempts are refused until the window passes, whatever the password. Keys are stored as SHA-256 digests (fixed
//! size whatever the input). Memory is bounded by [`MAX_KEYS`]: stale entries go first, then entries that are not
//! locked out; a locked-out key is never evicted, so flooding the map cannot lift someone's lockout (past the
//! bound, new keys are simply not tracked until room frees up). Per replica.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed attempts allowed per window.
pub(crate) const MAX_FAILURES: u32 = 5;
/// The window.
pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Most keys tracked.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Default)]
pub(crate) struct LoginThrottle {
    failures: Mutex<HashMap<[u8; 32], (u32, Instant)>>,
}

fn digest(key: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, key.as_bytes()).as_ref());
    out
}

impl LoginThrottle {
    /// Seconds to wait, if `key` is locked out now.
    pub(crate) fn retry_after(&self, key: &str) -> Option<u64> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let (count, since) = failures.get(&digest(key))?;
        let elapsed = since.elapsed();
        (*count >= MAX_FAILURES && elapsed < WINDOW).then(|| (WINDOW - elapsed).as_secs().max(1))
    }

    /// Counts a failure for `key`.
    pub(crate) fn fail(&self, key: &str) {
        let key = digest(key);
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

    /// Forgets `key` after a successful login.
    pub(crate) fn succeed(&self, key: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(&digest(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_out_after_the_limit_and_success_resets() {
        let throttle = LoginThrottle::default();
        for _ in 0..MAX_FAILURES - 1 {
            throttle.fail("acme/a@b.c");
        }
        assert!(throttle.retry_after("acme/a@b.c").is_none());
        throttle.fail("acme/a@b.c");
        assert!(throttle.retry_after("acme/a@b.c").is_some());
        assert!(throttle.retry_after("acme/other@b.c").is_none(), "per key");
        throttle.succeed("acme/a@b.c");
        assert!(throttle.retry_after("acme/a@b.c").is_none());
    }
}
