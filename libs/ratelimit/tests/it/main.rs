//! One conformance suite for every [`RateLimitStore`], run against the in-process store and against Redis at
//! `redis://127.0.0.1:6379` (which every dev machine and CI runs: the Redis tests fail, never skip, without it).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_ratelimit::{Decision, Quota, RateLimitStore};

/// A key no other test (or earlier run) uses.
fn unique_key(name: &str) -> String {
    format!("test:{}:{name}", uuid::Uuid::new_v4())
}

fn quota(n: u32) -> Quota {
    Quota::per_minute(n).unwrap()
}

/// The cases every store must pass.
mod conformance {
    use super::*;

    /// N = 5: five allowed counting down, the sixth refused with a wait of at most one interval (12 s).
    pub async fn burst_then_limited(store: Arc<dyn RateLimitStore>) {
        let key = unique_key("burst");
        for expected in [4, 3, 2, 1, 0] {
            match store.check(&key, quota(5)).await.unwrap() {
                Decision::Allowed { remaining, reset_after } => {
                    assert_eq!(remaining, expected);
                    assert!(reset_after <= Duration::from_secs(60), "{reset_after:?}");
                }
                limited => panic!("expected Allowed with {expected} remaining, got {limited:?}"),
            }
        }
        match store.check(&key, quota(5)).await.unwrap() {
            Decision::Limited { retry_after, reset_after } => {
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(12), "{retry_after:?}");
                assert!(reset_after <= Duration::from_secs(60), "{reset_after:?}");
            }
            allowed => panic!("the sixth request must be limited, got {allowed:?}"),
        }
    }

    /// Draining one key leaves another untouched.
    pub async fn keys_are_independent(store: Arc<dyn RateLimitStore>) {
        let (a, b) = (unique_key("a"), unique_key("b"));
        for _ in 0..5 {
            assert!(store.check(&a, quota(5)).await.unwrap().is_allowed());
        }
        assert!(!store.check(&a, quota(5)).await.unwrap().is_allowed());
        assert!(matches!(store.check(&b, quota(5)).await.unwrap(), Decision::Allowed { remaining: 4, .. }));
        assert!(!store.check(&a, quota(5)).await.unwrap().is_allowed());
    }

    /// 50 tasks x 4 checks on one key with N = 100: exactly 100 allowed, never more.
    pub async fn concurrent_checks_never_overspend(store: Arc<dyn RateLimitStore>) {
        let key = Arc::new(unique_key("concurrent"));
        let started = Instant::now();
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let (store, key) = (Arc::clone(&store), Arc::clone(&key));
                tokio::spawn(async move {
                    let mut allowed = 0u32;
                    for _ in 0..4 {
                        if store.check(&key, quota(100)).await.unwrap().is_allowed() {
                            allowed += 1;
                        }
                    }
                    allowed
                })
            })
            .collect();
        let mut allowed = 0;
        for task in tasks {
            allowed += task.await.unwrap();
        }
        // One request is earned back every 600 ms, so a run slower than that may legitimately see one more per
        // 600 ms elapsed; on any sane machine the run takes a few milliseconds and this is exactly 100.
        let earned_back = u32::try_from(started.elapsed().as_millis() / 600).unwrap();
        assert!((100..=100 + earned_back).contains(&allowed), "{allowed} allowed in {:?}", started.elapsed());
    }

    /// N = 60 (one per second): once limited, a request is allowed again about a second later.
    pub async fn recovers_after_one_interval(store: Arc<dyn RateLimitStore>) {
        let key = unique_key("recovery");
        let mut allowed = 0;
        while store.check(&key, quota(60)).await.unwrap().is_allowed() {
            allowed += 1;
            assert!(allowed <= 61, "the burst never ended");
        }
        assert!((60..=61).contains(&allowed), "{allowed}");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(store.check(&key, quota(60)).await.unwrap().is_allowed());
    }
}

async fn memory(case: impl AsyncFnOnce(Arc<dyn RateLimitStore>)) {
    case(Arc::new(switchboard_ratelimit::MemoryStore::new())).await;
}

async fn redis(case: impl AsyncFnOnce(Arc<dyn RateLimitStore>)) {
    case(redis_store::store().await).await;
}

switchboard_test_support::conformance! {
    module: conformance,
    cases: [burst_then_limited, keys_are_independent, concurrent_checks_never_overspend, recovers_after_one_interval],
    backends: { memory => memory, redis => redis },
}

#[test]
fn the_memory_store_is_named() {
    assert_eq!(switchboard_ratelimit::MemoryStore::new().name(), "memory");
}

/// Redis only: connection errors and shared state between replicas.
mod redis_store {
    use switchboard_ratelimit::{RateLimitError, RedisStore};

    use super::*;

    const URL: &str = "redis://127.0.0.1:6379";

    pub(crate) async fn store() -> Arc<dyn RateLimitStore> {
        let store = RedisStore::connect(URL, Duration::from_secs(2)).await;
        Arc::new(store.unwrap_or_else(|e| panic!("Redis must be running at {URL} for these tests: {e}")))
    }

    #[tokio::test]
    async fn name() {
        assert_eq!(store().await.name(), "redis");
    }

    /// Nothing listens on port 1: connecting fails fast with `Unavailable`, without panicking.
    #[tokio::test]
    async fn unreachable_redis_is_unavailable_quickly() {
        let started = Instant::now();
        let result = RedisStore::connect("redis://127.0.0.1:1", Duration::from_millis(300)).await;
        assert!(matches!(result, Err(RateLimitError::Unavailable(_))), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    }

    /// Errors and `Debug` never show the password from the URL.
    #[tokio::test]
    async fn credentials_stay_out_of_errors() {
        let result = RedisStore::connect("redis://user:hunter2@127.0.0.1:1", Duration::from_millis(300)).await;
        let message = result.unwrap_err().to_string();
        assert!(!message.contains("hunter2"), "{message}");
    }

    /// Replicas share one allowance: two stores (two connection pools) on one key spend from the same bucket.
    #[tokio::test]
    async fn stores_share_state_through_redis() {
        let (first, second) = (store().await, store().await);
        let key = unique_key("shared");
        for _ in 0..3 {
            assert!(first.check(&key, quota(5)).await.unwrap().is_allowed());
        }
        assert!(matches!(second.check(&key, quota(5)).await.unwrap(), Decision::Allowed { remaining: 1, .. }));
        assert!(first.check(&key, quota(5)).await.unwrap().is_allowed());
        assert!(!second.check(&key, quota(5)).await.unwrap().is_allowed());
    }
}
