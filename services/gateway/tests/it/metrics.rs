//! Prometheus metrics on their own listener: what the edge and the services answered, by RPC and protocol,
//! rate-limit refusals, open connections, and the outbox and consumer backlogs.

use std::time::Duration;

use switchboard_proto::auth::v1 as pb;
use switchboard_test_support::{TestDb, TestOptions, TestPlatform, assert_eventually};

use crate::http::{dechunk, exchange, header};
use crate::suite::{auth, bearer, login, tenant_with_user};

fn scrape(addr: &str) -> String {
    let (code, headers, body) = exchange(addr, b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    assert_eq!(code, 200);
    assert!(header(&headers, "content-type").unwrap().starts_with("text/plain"));
    let body = if header(&headers, "transfer-encoding") == Some("chunked") { dechunk(&body) } else { body };
    String::from_utf8(body).unwrap()
}

/// The value of the first sample whose line starts with `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(series)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_refusals_connections_and_backlogs() {
    let options = TestOptions { rate_limit_per_minute: 1_000_000, ..Default::default() };
    let platform = TestPlatform::start_with(TestDb::Sqlite, options).await;
    tenant_with_user(&platform, "acme", "owner@acme.example").await;
    let token = login(&platform, "acme", "owner@acme.example").await.access_token;
    auth(&platform).who_am_i(bearer(pb::WhoAmIRequest {}, &token)).await.unwrap();
    let addr = platform.gateway_addr.clone();
    let rest_token = token.clone();
    tokio::task::spawn_blocking(move || {
        let request = format!(
            "GET /v1/audit/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {rest_token}\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(exchange(&addr, request.as_bytes()).0, 200);
        assert_eq!(exchange(&addr, b"GET /v1/nowhere HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").0, 404);
    })
    .await
    .unwrap();

    // Never on the public port.
    let addr = platform.gateway_addr.clone();
    let public = tokio::task::spawn_blocking(move || {
        exchange(&addr, b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").0
    });
    assert_eq!(public.await.unwrap(), 404);

    let metrics_addr = platform.metrics_addr.clone();
    let text = tokio::task::spawn_blocking(move || scrape(&metrics_addr)).await.unwrap();
    let series = [
        // The edge, by protocol: the gRPC WhoAmI and the REST audit list, then the audit service behind it.
        r#"switchboard_rpc_requests_total{service="gateway",rpc="/switchboard.auth.v1.AuthService/WhoAmI",protocol="grpc",status="0"}"#,
        r#"switchboard_rpc_requests_total{service="gateway",rpc="/switchboard.audit.v1.AuditService/ListEvents",protocol="rest",status="200"}"#,
        r#"switchboard_rpc_requests_total{service="gateway",rpc="-",protocol="rest",status="404"}"#,
        r#"switchboard_rpc_requests_total{service="audit",rpc="/switchboard.audit.v1.AuditService/ListEvents",protocol="grpc",status="0"}"#,
        r#"switchboard_rpc_duration_seconds_count{service="audit",rpc="/switchboard.audit.v1.AuditService/ListEvents",protocol="grpc"}"#,
    ];
    for s in series {
        assert!(sample(&text, s).is_some_and(|v| v >= 1.0), "{s} in\n{text}");
    }
    assert!(text.contains(r#"switchboard_open_connections{listener="gateway-public"}"#), "{text}");
    assert!(text.contains(r#"switchboard_open_connections{listener="audit"}"#), "{text}");
    // The backlog gauges are sampled every few seconds.
    let metrics_addr = platform.metrics_addr.clone();
    assert_eventually!(
        {
            let addr = metrics_addr.clone();
            let text = tokio::task::spawn_blocking(move || scrape(&addr)).await.unwrap();
            text.contains("switchboard_outbox_backlog ")
                && text.contains(r#"switchboard_consumer_lag{topic="audit.events",group="audit"}"#)
        },
        Duration::from_secs(15)
    );
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_refusals_are_counted_by_scope() {
    let options = TestOptions { rate_limit_per_minute: 3, ..Default::default() };
    let platform = TestPlatform::start_with(TestDb::Sqlite, options).await;
    let addr = platform.gateway_addr.clone();
    let metrics_addr = platform.metrics_addr.clone();
    tokio::task::spawn_blocking(move || {
        let codes: Vec<u16> = (0..5)
            .map(|_| exchange(&addr, b"GET /.well-known/jwks.json HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").0)
            .collect();
        assert_eq!(codes, [200, 200, 200, 429, 429]);
        let text = scrape(&metrics_addr);
        // Anonymous calls are limited per client address: 3 allowed, 2 refused.
        assert_eq!(sample(&text, r#"switchboard_rate_limited_total{scope="client"}"#), Some(2.0), "{text}");
    })
    .await
    .unwrap();
    platform.stop().await;
}
