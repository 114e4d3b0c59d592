//! One conformance suite for every [`Cache`]: the in-process store and Redis (127.0.0.1:6379, which every machine
//! here runs; these tests fail, not skip, without it).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::sync::Arc;
use std::time::Duration;

use switchboard_cache::{Cache, CacheError, MemoryCache, RedisCache};

fn key(name: &str) -> String {
    format!("test:{}:{name}", uuid::Uuid::new_v4().simple())
}

async fn get_set_delete(cache: Arc<dyn Cache>) {
    let k = key("a");
    assert_eq!(cache.get(&k).await.unwrap(), None);
    cache.set(&k, b"one", None).await.unwrap();
    assert_eq!(cache.get(&k).await.unwrap().as_deref(), Some(&b"one"[..]));
    cache.set(&k, b"two", None).await.unwrap();
    assert_eq!(cache.get(&k).await.unwrap().as_deref(), Some(&b"two"[..]), "set overwrites");
    assert!(cache.delete(&k).await.unwrap());
    assert!(!cache.delete(&k).await.unwrap(), "deleting twice finds nothing");
    assert_eq!(cache.get(&k).await.unwrap(), None);
}

async fn values_expire(cache: Arc<dyn Cache>) {
    let k = key("ttl");
    cache.set(&k, b"soon gone", Some(Duration::from_millis(150))).await.unwrap();
    assert!(cache.get(&k).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cache.get(&k).await.unwrap(), None);
}

async fn increments_are_atomic_and_start_their_ttl(cache: Arc<dyn Cache>) {
    let k = key("counter");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let cache = cache.clone();
        let k = k.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                cache.increment(&k, 1, Some(Duration::from_millis(400))).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(cache.increment(&k, 0, None).await.unwrap(), 200, "no increment lost");
    assert_eq!(cache.increment(&k, -50, None).await.unwrap(), 150);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(cache.increment(&k, 1, None).await.unwrap(), 1, "the counter expired with its TTL");

    let text = key("text");
    cache.set(&text, b"not a number", None).await.unwrap();
    assert!(matches!(cache.increment(&text, 1, None).await, Err(CacheError::Invalid(_))));
}

async fn set_if_absent_deduplicates(cache: Arc<dyn Cache>) {
    let k = key("webhook-event");
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let cache = cache.clone();
        let k = k.clone();
        tasks.push(tokio::spawn(async move {
            cache.set_if_absent(&k, b"seen", Some(Duration::from_secs(60))).await.unwrap()
        }));
    }
    let mut stored = 0;
    for t in tasks {
        stored += usize::from(t.await.unwrap());
    }
    assert_eq!(stored, 1, "exactly one caller wins");
    let expiring = key("short");
    assert!(cache.set_if_absent(&expiring, b"x", Some(Duration::from_millis(100))).await.unwrap());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(cache.set_if_absent(&expiring, b"y", None).await.unwrap(), "absent again once expired");
}

macro_rules! conformance {
    ($store:ident, $make:expr) => {
        mod $store {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn get_set_delete() {
                super::get_set_delete($make).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn values_expire() {
                super::values_expire($make).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn increments_are_atomic_and_start_their_ttl() {
                super::increments_are_atomic_and_start_their_ttl($make).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn set_if_absent_deduplicates() {
                super::set_if_absent_deduplicates($make).await;
            }
        }
    };
}

conformance!(memory, Arc::new(MemoryCache::new()));
conformance!(redis, Arc::new(RedisCache::connect("redis://127.0.0.1:6379", Duration::from_secs(2)).await.unwrap()));

#[tokio::test]
async fn the_memory_cache_stays_bounded() {
    let cache = MemoryCache::with_max_entries(100);
    for i in 0..1000 {
        cache.set(&format!("k{i}"), b"v", None).await.unwrap();
    }
    assert!(cache.len() <= 100, "{}", cache.len());
    assert!(cache.get("k999").await.unwrap().is_some(), "the newest entry is kept");
}

#[tokio::test]
async fn unreachable_redis_is_a_clear_error() {
    let started = std::time::Instant::now();
    let err = RedisCache::connect("redis://127.0.0.1:1", Duration::from_millis(300)).await.unwrap_err();
    assert!(matches!(err, CacheError::Unavailable(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    let err = RedisCache::connect("rediss://u:secret@h:1", Duration::from_millis(300)).await.unwrap_err();
    assert!(!err.to_string().contains("secret"), "credentials stay out of errors: {err}");
}
