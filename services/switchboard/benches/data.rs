//! The data-layer benchmark:
//!
//! - Redis cache get/set, 64 concurrent tasks for 3 s each way: through the `Cache` trait (`RedisCache`) and as
//!   raw `fred` calls on an identically configured pool; the ratio is the trait's overhead.
//! - Embedded vector search (exact, cosine, 384 dimensions, one tenant), p50/p99 over 200 queries at 10k and
//!   100k vectors.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fred::prelude::{ClientLike, Config, ConnectionConfig, KeysInterface, PerformanceConfig, Pool, ReconnectPolicy};
use switchboard_cache::{Cache, RedisCache};
use switchboard_vectors::{Distance, EmbeddedIndex, Filter, Point, TenantId, VectorStore};

const TASKS: usize = 64;
const RUN: Duration = Duration::from_secs(3);
const REDIS: &str = "redis://127.0.0.1:6379";

async fn drive<F, Fut>(op: F) -> f64
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let done = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + RUN;
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (op, done) = (op.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while Instant::now() < end {
                op(t, i).await;
                i += 1;
            }
            done.fetch_add(i, Ordering::Relaxed);
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    done.load(Ordering::Relaxed) as f64 / RUN.as_secs_f64()
}

fn vectors(n: usize, dim: usize, mut seed: u64) -> Vec<Vec<f32>> {
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        ((seed >> 11) as f64 / (1u64 << 53) as f64) as f32 * 2.0 - 1.0
    };
    (0..n).map(|_| (0..dim).map(|_| next()).collect()).collect()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let prefix = format!("bench:{}", uuid::Uuid::new_v4().simple());
    let cache = Arc::new(RedisCache::connect(REDIS, Duration::from_secs(1)).await.expect("redis"));
    let trait_rps = {
        let (cache, prefix) = (cache.clone(), prefix.clone());
        drive(move |t, i| {
            let (cache, key) = (cache.clone(), format!("{prefix}:t:{t}:{}", i % 100));
            async move {
                if i % 2 == 0 {
                    cache.set(&key, b"value-0123456789", Some(Duration::from_secs(60))).await.expect("set");
                } else {
                    let _ = cache.get(&key).await.expect("get");
                }
            }
        })
        .await
    };
    // The same settings RedisCache uses: per-command timeout, connection timeouts, reconnect policy, 4 clients.
    let timeout = Duration::from_secs(1);
    let pool = Pool::new(
        Config::from_url_centralized(REDIS).expect("url"),
        Some(PerformanceConfig { default_command_timeout: timeout, ..Default::default() }),
        Some(ConnectionConfig { connection_timeout: timeout, internal_command_timeout: timeout, ..Default::default() }),
        Some(ReconnectPolicy::new_exponential(0, 100, 2_000, 2)),
        4,
    )
    .expect("pool");
    pool.init().await.expect("connect");
    let raw_rps = {
        let (pool, prefix) = (pool.clone(), prefix.clone());
        drive(move |t, i| {
            let (pool, key) = (pool.clone(), format!("switchboard:cache:{prefix}:r:{t}:{}", i % 100));
            async move {
                if i % 2 == 0 {
                    pool.set::<(), _, _>(
                        &key,
                        b"value-0123456789".to_vec(),
                        Some(fred::types::Expiration::PX(60_000)),
                        None,
                        false,
                    )
                    .await
                    .expect("set");
                } else {
                    let _: Option<Vec<u8>> = pool.get(&key).await.expect("get");
                }
            }
        })
        .await
    };

    let mut vector_rows = Vec::new();
    for n in [10_000usize, 100_000] {
        let index = EmbeddedIndex::in_memory();
        index.ensure_collection("bench", 384, Distance::Cosine).await.expect("collection");
        let tenant = TenantId::generate();
        for (chunk_no, chunk) in vectors(n, 384, 42).chunks(5_000).enumerate() {
            let points = chunk
                .iter()
                .enumerate()
                .map(|(i, v)| Point {
                    id: format!("{chunk_no}-{i}"),
                    tenant,
                    vector: v.clone(),
                    payload: Default::default(),
                })
                .collect();
            index.upsert("bench", points).await.expect("upsert");
        }
        let mut latencies = Vec::new();
        for q in vectors(200, 384, 7) {
            let t0 = Instant::now();
            let hits = index.search("bench", tenant, &q, 10, &Filter::default()).await.expect("search");
            latencies.push(t0.elapsed());
            assert_eq!(hits.len(), 10);
        }
        latencies.sort();
        vector_rows.push((n, latencies[latencies.len() / 2], latencies[latencies.len() * 99 / 100]));
    }

    println!();
    println!("Switchboard data-layer benchmark (2 cores; Redis at 127.0.0.1:6379)");
    println!();
    println!("| Redis cache, {TASKS} tasks, 50% set / 50% get | ops/s |");
    println!("|---|---:|");
    println!("| through the Cache trait (RedisCache) | {trait_rps:.0} |");
    println!("| raw fred calls, same pool settings | {raw_rps:.0} |");
    println!("| ratio (target >= 0.9) | {:.2} |", trait_rps / raw_rps);
    println!();
    println!("| embedded vector search, 384-d cosine, k=10 | p50 ms | p99 ms |");
    println!("|---|---:|---:|");
    for (n, p50, p99) in vector_rows {
        println!("| {n} vectors | {:.2} | {:.2} |", p50.as_secs_f64() * 1000.0, p99.as_secs_f64() * 1000.0);
    }
}
