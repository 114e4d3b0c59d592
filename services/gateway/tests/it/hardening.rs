//! The public port against a hostile client: slow bodies, oversized messages, too many connections, anonymous
//! streams that never end, and reflection that would describe the internals.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::StreamBody;
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use switchboard_proto::auth::v1 as pb;
use switchboard_test_support::{TestDb, TestOptions, TestPlatform};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use crate::suite::{auth, bearer, login, tenant_with_user};

type SlowBody = StreamBody<ReceiverStream<Result<Frame<Bytes>, Infallible>>>;

/// 70 anonymous logins trickling their bodies a byte a second on one HTTP/2 connection (more than the 64
/// transcoding slots) do not stop genuine REST calls, which answer within 2 s; each slow body is cut off with 408
/// once its grace has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_hold_no_slot() {
    let platform = TestPlatform::start(TestDb::Sqlite).await;
    tenant_with_user(&platform, "acme", "owner@acme.example").await;
    let token = login(&platform, "acme", "owner@acme.example").await.access_token;

    let stream = tokio::net::TcpStream::connect(&platform.gateway_addr).await.unwrap();
    let (sender, connection) =
        hyper::client::conn::http2::handshake::<_, _, SlowBody>(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut slow = Vec::new();
    let mut tricklers = Vec::new();
    for _ in 0..70 {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let request = http::Request::post(format!("http://{}/v1/auth:login", platform.gateway_addr))
            .header("content-type", "application/json")
            .body(StreamBody::new(ReceiverStream::new(rx)))
            .unwrap();
        let mut sender = sender.clone();
        slow.push(tokio::spawn(async move {
            let response = sender.send_request(request).await.unwrap();
            response.status()
        }));
        tricklers.push(tokio::spawn(async move {
            for byte in b"{\"tenant\":\"acme\",\"email\":\"a@b.c\",\"password\":\"slowly\"}".iter().cycle() {
                if tx.send(Ok(Frame::data(Bytes::copy_from_slice(&[*byte])))).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let addr = platform.gateway_addr.clone();
    tokio::task::spawn_blocking(move || {
        for _ in 0..5 {
            let started = Instant::now();
            let (code, _, _) = crate::http::exchange(
                &addr,
                format!(
                    "GET /v1/auth/me HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n"
                )
                .as_bytes(),
            );
            assert_eq!(code, 200, "a genuine call is served while slow bodies arrive");
            assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        }
    })
    .await
    .unwrap();

    let started = Instant::now();
    for call in slow {
        let status = tokio::time::timeout(Duration::from_secs(20), call).await.expect("cut off in time").unwrap();
        assert_eq!(status, http::StatusCode::REQUEST_TIMEOUT);
    }
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    for trickler in tricklers {
        trickler.abort();
    }
    platform.stop().await;
}

/// A gRPC message over its method's limit gets RESOURCE_EXHAUSTED, the gRPC spec's code for it, before any handler
/// work; the limit is the method's own (a login takes 8 KiB), not the platform's 4 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_grpc_messages_are_resource_exhausted() {
    let platform = TestPlatform::start(TestDb::Sqlite).await;
    let big = pb::LoginRequest { tenant: "acme".into(), email: "a@b.c".into(), password: "p".repeat(9000) };
    let err = auth(&platform).login(big).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("8192"), "{}", err.message());
    let fine = pb::LoginRequest { tenant: "acme".into(), email: "a@b.c".into(), password: "p".repeat(100) };
    assert_eq!(auth(&platform).login(fine).await.unwrap_err().code(), Code::Unauthenticated);
    platform.stop().await;
}

/// A client gets a bounded number of connections (the next is closed before any HTTP), and a stream it opens
/// without a token ends after the anonymous-stream lifetime instead of keeping its connection busy forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_and_anonymous_streams_are_bounded() {
    let args = ["--max-connections-per-client", "3", "--anonymous-stream-lifetime", "1"];
    let options = TestOptions { args: args.iter().map(|s| (*s).to_owned()).collect(), ..Default::default() };
    let platform = TestPlatform::start_with(TestDb::Sqlite, options).await;
    let addr = platform.gateway_addr.clone();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let held: Vec<_> = (0..3).map(|_| std::net::TcpStream::connect(&addr).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(300));
        let mut fourth = std::net::TcpStream::connect(&addr).unwrap();
        fourth.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = fourth.write_all(b"GET /.well-known/jwks.json HTTP/1.1\r\nhost: x\r\n\r\n");
        let mut buf = [0u8; 64];
        let read = fourth.read(&mut buf);
        assert!(matches!(read, Ok(0)) || read.is_err(), "the fourth connection is closed unanswered: {read:?}");
        drop(held);
        // The server notices the closes on its own time; once it has, the client is served again.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut probe = std::net::TcpStream::connect(&addr).unwrap();
            probe.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = probe.write_all(b"GET /.well-known/jwks.json HTTP/1.1\r\nhost: x\r\n\r\n");
            if matches!(probe.read(&mut buf), Ok(n) if n > 0) {
                break;
            }
            assert!(Instant::now() < deadline, "closed connections are no longer counted against the client");
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();

    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let started = Instant::now();
    let mut watch = HealthClient::new(platform.public_channel())
        .watch(HealthCheckRequest { service: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(watch.message().await.unwrap().unwrap().status, 1, "SERVING");
    let end = tokio::time::timeout(Duration::from_secs(10), watch.message()).await.expect("the stream ends");
    let status = end.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
    platform.stop().await;
}

/// Reflection on the public port (v1 and v1alpha, as grpcurl uses it) needs a token and lists exactly the services
/// the port serves: no AppendEvents, no CreateTenant, no event payloads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_needs_a_token_and_shows_only_the_public_api() {
    use tonic_reflection::pb::v1;
    use tonic_reflection::pb::v1alpha;
    let platform = TestPlatform::start(TestDb::Sqlite).await;
    tenant_with_user(&platform, "acme", "owner@acme.example").await;
    let token = login(&platform, "acme", "owner@acme.example").await.access_token;

    let list = v1::ServerReflectionRequest {
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(String::new())),
        ..Default::default()
    };
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(platform.public_channel());
    let anonymous = client.server_reflection_info(tokio_stream::iter(vec![list.clone()])).await;
    let refused = match anonymous {
        Err(status) => status,
        Ok(response) => response.into_inner().message().await.unwrap_err(),
    };
    assert_eq!(refused.code(), Code::Unauthenticated);

    let mut responses =
        client.server_reflection_info(bearer(tokio_stream::iter(vec![list]), &token)).await.unwrap().into_inner();
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(services)) =
        responses.message().await.unwrap().unwrap().message_response
    else {
        panic!("a list of services")
    };
    let names: Vec<String> = services.service.into_iter().map(|s| s.name).collect();
    for public in [
        "switchboard.auth.v1.AuthService",
        "switchboard.auth.v1.TenantAdminService",
        "switchboard.audit.v1.AuditService",
        "grpc.health.v1.Health",
    ] {
        assert!(names.iter().any(|n| n == public), "{public} in {names:?}");
    }
    assert!(!names.iter().any(|n| n.starts_with("switchboard.events")), "{names:?}");

    // The internal method is not described; v1alpha answers the same way.
    let symbol = |name: &str| v1alpha::ServerReflectionRequest {
        message_request: Some(v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(name.into())),
        ..Default::default()
    };
    let mut alpha = v1alpha::server_reflection_client::ServerReflectionClient::new(platform.public_channel());
    let mut responses = alpha
        .server_reflection_info(bearer(
            tokio_stream::iter(vec![
                symbol("switchboard.audit.v1.AuditService.ListEvents"),
                symbol("switchboard.audit.v1.AuditService.AppendEvents"),
            ]),
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    let first = responses.message().await.unwrap().unwrap().message_response;
    assert!(
        matches!(first, Some(v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(_))),
        "{first:?}"
    );
    // tonic-reflection ends the stream with NOT_FOUND for an unknown symbol.
    let second = responses.message().await.unwrap_err();
    assert_eq!(second.code(), Code::NotFound, "AppendEvents is not described: {second:?}");
    platform.stop().await;
}
