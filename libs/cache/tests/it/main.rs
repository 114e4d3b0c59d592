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

async fn memory(case: impl AsyncFnOnce(Arc<dyn Cache>)) {
    case(Arc::new(MemoryCache::new())).await;
}

async fn redis(case: impl AsyncFnOnce(Arc<dyn Cache>)) {
    let cache = RedisCache::connect("redis://127.0.0.1:6379", Duration::from_secs(2)).await;
    case(Arc::new(cache.expect("Redis at 127.0.0.1:6379 (make test starts it)"))).await;
}

switchboard_test_support::conformance! {
    cases: [get_set_delete, values_expire, increments_are_atomic_and_start_their_ttl, set_if_absent_deduplicates],
    backends: { memory => memory, redis => redis },
}

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

/// A Redis server of this test's own that speaks only TLS (its certificate from a CA made here) and requires a
/// password, as managed Redis services do. Killed on drop.
struct TlsRedis {
    child: std::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl TlsRedis {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.subject_alt_names.push(rcgen::SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        let cert = params.signed_by(&key, &issuer).unwrap();
        let path = |name: &str| dir.path().join(name).display().to_string();
        std::fs::write(path("ca.pem"), ca.pem()).unwrap();
        std::fs::write(path("redis.pem"), cert.pem()).unwrap();
        std::fs::write(path("redis.key"), key.serialize_pem()).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--tls-cert-file", &path("redis.pem"), "--tls-key-file", &path("redis.key")])
            .args(["--tls-ca-cert-file", &path("ca.pem"), "--tls-auth-clients", "no"])
            .args(["--requirepass", "s3cret", "--save", "", "--appendonly", "no", "--dir", &path("")])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (make test installs it)");
        // Owned from here: Drop kills and waits for it on every path, the panic below included.
        let server = Self { child, port, dir };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not listen on {port}");
    }

    fn settings(&self, password: &str) -> switchboard_cache::RedisSettings {
        switchboard_cache::RedisSettings {
            url: format!("rediss://:{password}@127.0.0.1:{}", self.port),
            timeout: Duration::from_secs(2),
            tls_ca_file: Some(self.dir.path().join("ca.pem")),
        }
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `rediss://` with a password: the whole suite passes over TLS (verified against the given CA); a wrong password,
/// a client that does not trust the server's CA, and plaintext to the TLS port are clear errors that never show the
/// password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_password_passes_the_suite() {
    let server = TlsRedis::start();
    let cache: Arc<dyn Cache> = Arc::new(RedisCache::connect_with(&server.settings("s3cret")).await.unwrap());
    get_set_delete(cache.clone()).await;
    values_expire(cache.clone()).await;
    increments_are_atomic_and_start_their_ttl(cache.clone()).await;
    set_if_absent_deduplicates(cache).await;

    let wrong = RedisCache::connect_with(&server.settings("guess")).await.unwrap_err();
    assert!(matches!(wrong, CacheError::Unavailable(_)) && !wrong.to_string().contains("guess"), "{wrong}");
    let mut untrusted = server.settings("s3cret");
    untrusted.tls_ca_file = None; // the system's roots do not know this CA
    assert!(RedisCache::connect_with(&untrusted).await.is_err());
    let plain = format!("redis://:s3cret@127.0.0.1:{}", server.port);
    assert!(RedisCache::connect(&plain, Duration::from_millis(500)).await.is_err(), "plaintext to the TLS port");
}
