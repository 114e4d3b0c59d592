//! The in-process store: one TAT per key in a mutex-guarded map, on the monotonic clock.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::{CheckFuture, Decision, Quota, RateLimitError, RateLimitStore};

/// How many keys a [`MemoryStore`] tracks by default.
const DEFAULT_MAX_KEYS: usize = 100_000;

/// Rate limit state in this process: exact, but each gateway replica counts on its own.
///
/// Memory is bounded: at most `max_keys` keys are tracked. A key whose TAT has passed has a full allowance, which
/// is exactly what an unknown key has, so when a new key finds the map full the store first drops those. If every
/// tracked key is still mid-window, it then evicts the tenth of them (at least one) with the oldest TAT: the
/// buckets nearest to full, so an evicted key gains at most a little allowance, and drained (limited) keys,
/// whose TAT lies furthest ahead, are the last to go.
#[derive(Debug)]
pub struct MemoryStore {
    /// Time zero for the TATs below, so they fit in a `u64` of nanoseconds.
    epoch: Instant,
    max_keys: usize,
    /// Key -> theoretical arrival time, in nanoseconds since `epoch`.
    tats: Mutex<HashMap<String, u64>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A store tracking up to 100 000 keys.
    pub fn new() -> Self {
        Self::with_max_keys(DEFAULT_MAX_KEYS)
    }

    /// A store tracking up to `max_keys` keys (at least 1).
    pub fn with_max_keys(max_keys: usize) -> Self {
        Self { epoch: Instant::now(), max_keys: max_keys.max(1), tats: Mutex::new(HashMap::new()) }
    }

    /// How many keys are tracked right now (for metrics).
    pub fn tracked_keys(&self) -> usize {
        self.lock().len()
    }

    /// [`RateLimitStore::check`] at a given instant: the clock is a parameter so tests can move time.
    pub(crate) fn check_at(&self, key: &str, quota: Quota, now: Instant) -> Result<Decision, RateLimitError> {
        let interval = nanos(quota.emission_interval()?);
        // N intervals: how far ahead of now the TAT may be after an allowed request (60 s, minus rounding).
        let capacity = interval * u64::from(quota.per_minute);
        let now = nanos(now.saturating_duration_since(self.epoch));

        let mut tats = self.lock();
        let tat = tats.get(key).map_or(now, |&tat| tat.max(now));
        let new_tat = tat + interval;
        let allow_at = new_tat.saturating_sub(capacity);
        if now < allow_at {
            return Ok(Decision::Limited {
                retry_after: Duration::from_nanos(allow_at - now),
                reset_after: Duration::from_nanos(tat - now),
            });
        }
        match tats.get_mut(key) {
            Some(slot) => *slot = new_tat,
            None => {
                self.make_room(&mut tats, now);
                tats.insert(key.to_owned(), new_tat);
            }
        }
        drop(tats);

        let reset_after = new_tat - now; // <= capacity, since now >= allow_at
        let remaining = (capacity - reset_after) / interval;
        Ok(Decision::Allowed {
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset_after: Duration::from_nanos(reset_after),
        })
    }

    /// Makes room for one more key when the map is full: drops expired buckets, then the oldest live ones.
    fn make_room(&self, tats: &mut HashMap<String, u64>, now: u64) {
        if tats.len() < self.max_keys {
            return;
        }
        tats.retain(|_, tat| *tat > now);
        if tats.len() < self.max_keys {
            return;
        }
        // Evict a tenth at once, so a map full of live keys pays this O(n) pass once per max_keys / 10 new keys.
        let evict = (self.max_keys / 10).max(1);
        let mut oldest: Vec<u64> = tats.values().copied().collect();
        // `evict - 1 < oldest.len()`: the map holds at least max_keys >= evict entries.
        let (_, &mut threshold, _) = oldest.select_nth_unstable(evict - 1);
        tats.retain(|_, tat| *tat > threshold);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        // The map holds plain integers and no code panics while holding the lock, so a poisoned map is still sound.
        self.tats.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RateLimitStore for MemoryStore {
    fn check<'a>(&'a self, key: &'a str, quota: Quota) -> CheckFuture<'a> {
        Box::pin(std::future::ready(self.check_at(key, quota, Instant::now())))
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn quota(n: u32) -> Quota {
        Quota { per_minute: n }
    }

    fn remaining(d: Decision) -> u32 {
        match d {
            Decision::Allowed { remaining, .. } => remaining,
            Decision::Limited { .. } => panic!("expected Allowed, got {d:?}"),
        }
    }

    fn retry_after(d: Decision) -> Duration {
        match d {
            Decision::Limited { retry_after, .. } => retry_after,
            Decision::Allowed { .. } => panic!("expected Limited, got {d:?}"),
        }
    }

    #[test]
    fn burst_then_one_per_interval() {
        let store = MemoryStore::new();
        let t0 = Instant::now();
        let check = |at: Duration| store.check_at("k", quota(60), t0 + at).unwrap();

        for expected in (0..60).rev() {
            assert_eq!(remaining(check(Duration::ZERO)), expected);
        }
        assert_eq!(check(Duration::ZERO), Decision::Limited { retry_after: SEC, reset_after: Duration::from_secs(60) });
        // Drained: exactly one request per second from now on, never two.
        for s in 1..=300 {
            let at = SEC * s;
            assert_eq!(remaining(check(at)), 0, "at {s} s");
            assert_eq!(retry_after(check(at)), SEC, "at {s} s");
            assert_eq!(retry_after(check(at + SEC / 2)), SEC / 2, "at {s}.5 s");
        }
    }

    #[test]
    fn idle_time_refills_the_allowance() {
        let store = MemoryStore::new();
        let t0 = Instant::now();
        for _ in 0..60 {
            store.check_at("k", quota(60), t0).unwrap();
        }
        // After 30 s idle, 30 requests are available: this one and 29 more.
        let at = t0 + 30 * SEC;
        assert_eq!(remaining(store.check_at("k", quota(60), at).unwrap()), 29);
        for _ in 0..29 {
            assert!(store.check_at("k", quota(60), at).unwrap().is_allowed());
        }
        assert!(!store.check_at("k", quota(60), at).unwrap().is_allowed());
        // A full minute idle restores the whole burst.
        assert_eq!(remaining(store.check_at("k", quota(60), at + 60 * SEC).unwrap()), 59);
    }

    #[test]
    fn reset_after_counts_down_to_a_full_bucket() {
        let store = MemoryStore::new();
        let t0 = Instant::now();
        let d = store.check_at("k", quota(5), t0).unwrap();
        assert_eq!(d, Decision::Allowed { remaining: 4, reset_after: Duration::from_secs(12) });
        // Two spent, 2 s of the 12 s interval earned back: 3 whole requests left.
        let d = store.check_at("k", quota(5), t0 + 2 * SEC).unwrap();
        assert_eq!(d, Decision::Allowed { remaining: 3, reset_after: Duration::from_secs(22) });
    }

    #[test]
    fn zero_quota_is_a_config_error() {
        let store = MemoryStore::new();
        assert!(matches!(store.check_at("k", quota(0), Instant::now()), Err(RateLimitError::Config(_))));
        assert_eq!(store.tracked_keys(), 0);
    }

    #[test]
    fn pruning_drops_expired_buckets_first() {
        let store = MemoryStore::with_max_keys(10);
        let t0 = Instant::now();
        // Five drained keys (1/min: busy for a minute) and five that refill within 60 ms.
        for i in 0..5 {
            store.check_at(&format!("slow{i}"), quota(1), t0).unwrap();
            store.check_at(&format!("fast{i}"), quota(1000), t0).unwrap();
        }
        assert_eq!(store.tracked_keys(), 10);
        store.check_at("new", quota(1), t0 + SEC).unwrap();
        assert_eq!(store.tracked_keys(), 6, "the five expired keys went, the live ones stayed");
        for i in 0..5 {
            assert!(!store.check_at(&format!("slow{i}"), quota(1), t0 + SEC).unwrap().is_allowed());
        }
    }

    #[test]
    fn pruning_evicts_the_oldest_live_bucket_when_full() {
        let store = MemoryStore::with_max_keys(10);
        let t0 = Instant::now();
        for i in 0..10 {
            store.check_at(&format!("k{i}"), quota(1), t0 + SEC * i).unwrap();
        }
        store.check_at("new", quota(1), t0 + 10 * SEC).unwrap();
        assert_eq!(store.tracked_keys(), 10);
        // k0 had the oldest TAT and was forgotten (a fresh bucket); k1 is still limited. (Check k1 first: a refusal
        // stores nothing, while re-admitting k0 needs room and would evict the next oldest, k1.)
        assert!(!store.check_at("k1", quota(1), t0 + 10 * SEC).unwrap().is_allowed());
        assert!(store.check_at("k0", quota(1), t0 + 10 * SEC).unwrap().is_allowed());
    }

    #[test]
    fn memory_stays_bounded_under_many_keys() {
        let store = MemoryStore::with_max_keys(100);
        let t0 = Instant::now();
        for i in 0..10_000u32 {
            store.check_at(&format!("user:{i}"), quota(10), t0 + Duration::from_millis(u64::from(i))).unwrap();
            assert!(store.tracked_keys() <= 100);
        }
    }
}
