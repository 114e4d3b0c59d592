//! Rate limiting at the public port, on the in-process store and on Redis: the (N+1)th request inside the window
//! is refused in the caller's protocol, concurrent requests never get past N, and when Redis goes away the
//! configured policy holds.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use prost::Message;
use switchboard_gateway::OnStoreError;
use switchboard_proto::auth::v1 as pb;
use switchboard_proto::google::rpc::{RetryInfo, Status as RpcStatus};
use switchboard_test_support::{TestDb, TestOptions, TestPlatform};

use crate::http::{exchange, header};
use crate::suite::{admin, auth, bearer, login, tenant_with_user};

const REDIS: &str = "redis://127.0.0.1:6379";

/// A platform whose tenant `acme` may make `limit` requests per minute.
async fn limited_platform(limit: i32, redis_url: Option<String>) -> (TestPlatform, String) {
    let platform = TestPlatform::start_with(TestDb::Sqlite, TestOptions { redis_url, ..Default::default() }).await;
    tenant_with_user(&platform, "acme", "owner@acme.example").await;
    admin(&platform)
        .update_tenant(pb::UpdateTenantRequest {
            tenant: Some(pb::Tenant {
                name: "tenants/acme".into(),
                rate_limit_per_minute: limit,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["rate_limit_per_minute".into()] }),
        })
        .await
        .unwrap();
    let token = login(&platform, "acme", "owner@acme.example").await.access_token;
    (platform, token)
}

async fn n_plus_one_is_refused_in_each_protocol(redis_url: Option<String>) {
    let (platform, token) = limited_platform(5, redis_url).await;
    let addr = platform.gateway_addr.clone();
    let rest_token = token.clone();
    tokio::task::spawn_blocking(move || {
        let get = || {
            exchange(
                &addr,
                format!("GET /v1/auth/me HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {rest_token}\r\nconnection: close\r\n\r\n").as_bytes(),
            )
        };
        for expected_remaining in (0..5).rev() {
            let (code, headers, _) = get();
            assert_eq!(code, 200);
            assert_eq!(header(&headers, "ratelimit-limit"), Some("5"));
            assert_eq!(header(&headers, "ratelimit-remaining"), Some(expected_remaining.to_string().as_str()));
        }
        let (code, headers, _) = get();
        assert_eq!(code, 429);
        let retry: u64 = header(&headers, "retry-after").unwrap().parse().unwrap();
        assert!((1..=12).contains(&retry), "one request per 12 s comes back: {retry}");
        assert_eq!(header(&headers, "ratelimit-remaining"), Some("0"));
    })
    .await
    .unwrap();

    // gRPC: a real RESOURCE_EXHAUSTED with RetryInfo, not an HTTP 429.
    let err = auth(&platform).who_am_i(bearer(pb::WhoAmIRequest {}, &token)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    assert!(err.message().contains("5 requests per minute for this tenant"), "{}", err.message());
    let details = RpcStatus::decode(err.details()).unwrap();
    let retry = RetryInfo::decode(details.details[0].value.as_slice()).unwrap();
    assert!(retry.retry_delay.unwrap().seconds <= 12);
    platform.stop().await;
}

async fn concurrent_requests_never_exceed_the_limit(redis_url: Option<String>) {
    let (platform, token) = limited_platform(10, redis_url).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let mut client = auth(&platform);
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0;
            for _ in 0..3 {
                match client.who_am_i(bearer(pb::WhoAmIRequest {}, &token)).await {
                    Ok(_) => ok += 1,
                    Err(e) => assert_eq!(e.code(), tonic::Code::ResourceExhausted),
                }
            }
            ok
        }));
    }
    let mut allowed = 0;
    for task in tasks {
        allowed += task.await.unwrap();
    }
    // 60 requests in well under the 6 s it takes to earn one more: exactly the burst of 10.
    assert_eq!(allowed, 10);
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_refuses_the_n_plus_first() {
    n_plus_one_is_refused_in_each_protocol(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_refuses_the_n_plus_first() {
    n_plus_one_is_refused_in_each_protocol(Some(REDIS.into())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_concurrency_never_exceeds_n() {
    concurrent_requests_never_exceed_the_limit(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_concurrency_never_exceeds_n() {
    concurrent_requests_never_exceed_the_limit(Some(REDIS.into())).await;
}

/// A private redis-server on a free port, killed on drop.
struct PrivateRedis(Child, u16);

impl PrivateRedis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        // Owned from here: Drop kills and waits for it on every path, the panic below included.
        let redis = Self(child, port);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return redis;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start");
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// With Redis gone, the rate limiter's policy decides (allow, or 503), and so does the revocation check's: by
/// default a token is accepted, with `--revocation-on-cache-error deny` the request fails closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_redis_goes_away_the_policy_decides() {
    for (policy, revocation, expected) in [
        (OnStoreError::Allow, "allow", tonic::Code::Ok),
        (OnStoreError::Deny, "allow", tonic::Code::Unavailable),
        (OnStoreError::Allow, "deny", tonic::Code::Unavailable),
    ] {
        let redis = PrivateRedis::start();
        let options = TestOptions {
            redis_url: Some(format!("redis://127.0.0.1:{}", redis.1)),
            on_store_error: policy,
            args: vec!["--revocation-on-cache-error".into(), revocation.into()],
            ..Default::default()
        };
        let platform = TestPlatform::start_with(TestDb::Sqlite, options).await;
        tenant_with_user(&platform, "acme", "owner@acme.example").await;
        let token = login(&platform, "acme", "owner@acme.example").await.access_token;
        drop(redis);
        let started = std::time::Instant::now();
        let outcome = auth(&platform).who_am_i(bearer(pb::WhoAmIRequest {}, &token)).await;
        let code = outcome.as_ref().map(|_| tonic::Code::Ok).unwrap_or_else(|e| e.code());
        assert_eq!(code, expected, "{policy:?}, revocation {revocation}: {outcome:?}");
        if revocation == "deny" {
            assert!(outcome.unwrap_err().message().contains("cannot check the session"));
        }
        assert!(started.elapsed() < Duration::from_secs(3), "a dead store costs at most its timeout");
        platform.stop().await;
    }
}
