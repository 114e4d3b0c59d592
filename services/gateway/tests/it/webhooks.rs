//! The public webhook route, `POST /v1/webhooks/{provider}`, through a real gateway in front of a fake connectors
//! service (on the mesh, over mTLS, recording what reaches it): anonymous over REST and gRPC, the body byte for
//! byte and the request headers in the message, the route's 1 MiB cap, the backend's verdict rendered, and the
//! webhook allowance apart from the sign-in one.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http_body_util::BodyExt;
use prost::Message;
use serde_json::{Value, json};
use switchboard_gateway::{
    Backends, GatewayConfig, Listeners, OnCacheError, OnStoreError, PublicLimits, RateLimits, TokenKeys, TokenLifetimes,
};
use switchboard_mesh::Identity;
use switchboard_mesh::pki::MeshCredentials;
use switchboard_mesh::server::ServeOptions;
use switchboard_proto::connectors::v1 as pb;
use switchboard_proto::connectors::v1::connector_service_client::ConnectorServiceClient;
use switchboard_proto::google::api::HttpBody;
use switchboard_test_support::TestDb;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::http::{dechunk, exchange, header};

const RECEIVE_WEBHOOK: &str = "/switchboard.connectors.v1.ConnectorService/ReceiveWebhook";
/// The route's cap, from its access rule.
const MAX_WEBHOOK_BYTES: usize = 1024 * 1024;

/// What reached the fake connectors service: the request message, and the metadata it came with.
#[derive(Clone, Debug)]
struct Received {
    request: pb::ReceiveWebhookRequest,
    metadata: http::HeaderMap,
}

/// A connectors service that records every ReceiveWebhook and answers as a real one would: provider `unsigned`
/// is a bad signature (UNAUTHENTICATED), any other is stored as `webhookEvents/<n>`.
#[derive(Clone, Default)]
struct FakeConnectors {
    received: Arc<Mutex<Vec<Received>>>,
}

impl tonic::server::NamedService for FakeConnectors {
    const NAME: &'static str = "switchboard.connectors.v1.ConnectorService";
}

fn grpc_frame(message: &[u8]) -> bytes::Bytes {
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(message);
    frame.into()
}

impl tower_service::Service<http::Request<tonic::body::Body>> for FakeConnectors {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let received = self.received.clone();
        Box::pin(async move {
            if request.uri().path() != RECEIVE_WEBHOOK {
                return Ok(tonic::Status::unimplemented("not faked").into_http());
            }
            let (parts, body) = request.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            let request = pb::ReceiveWebhookRequest::decode(&body[5..]).unwrap();
            let provider = request.provider.clone();
            let count = {
                let mut received = received.lock().unwrap();
                received.push(Received { request, metadata: parts.headers });
                received.len()
            };
            if provider == "unsigned" {
                return Ok(tonic::Status::unauthenticated("the stripe-signature does not verify").into_http());
            }
            let reply =
                pb::ReceiveWebhookResponse { webhook_event: format!("webhookEvents/{count}"), duplicate: false };
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
            let frames = futures::stream::iter([
                Ok::<_, Infallible>(http_body::Frame::data(grpc_frame(&reply.encode_to_vec()))),
                Ok(http_body::Frame::trailers(trailers)),
            ]);
            let mut response = http::Response::new(tonic::body::Body::new(http_body_util::StreamBody::new(frames)));
            response.headers_mut().insert("content-type", http::HeaderValue::from_static("application/grpc"));
            Ok(response)
        })
    }
}

/// A gateway whose connectors backend is a [`FakeConnectors`]; everything else as in production.
struct Edge {
    addr: String,
    received: Arc<Mutex<Vec<Received>>>,
    shutdown: CancellationToken,
    _data_dir: tempfile::TempDir,
}

impl Drop for Edge {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Edge {
    /// Anonymous clients get `default_per_minute` calls a minute (sign-ins) and `webhook_per_minute` webhooks;
    /// loopback is a trusted proxy, so tests play several clients with `x-forwarded-for`.
    async fn start(default_per_minute: u32, webhook_per_minute: u32) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let store = switchboard_test_support::test_store(TestDb::Sqlite, data_dir.path()).await.store;
        let shutdown = CancellationToken::new();

        let fake = FakeConnectors::default();
        let received = fake.received.clone();
        let backend = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let backend_addr = backend.local_addr().unwrap().to_string();
        let options =
            ServeOptions::mesh(MeshCredentials::dev(data_dir.path(), Identity::connectors()).unwrap()).unwrap();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            switchboard_mesh::server::serve(tonic::service::Routes::new(fake), backend, options, stop).await.unwrap();
        });

        let public = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = public.local_addr().unwrap().to_string();
        let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = GatewayConfig {
            public_tls: None,
            store,
            keys: TokenKeys::load_or_create(&data_dir.path().join("keys/jwt"), None).unwrap(),
            credentials: MeshCredentials::dev(data_dir.path(), Identity::gateway()).unwrap(),
            // Nothing listens for the other backends: these tests never reach them.
            backends: Backends {
                audit: "127.0.0.1:9".into(),
                connectors: backend_addr,
                orchestrator: "127.0.0.1:9".into(),
            },
            lifetimes: TokenLifetimes::default(),
            cors_origins: Vec::new(),
            rate_limits: RateLimits {
                store: Arc::new(switchboard_ratelimit::MemoryStore::new()),
                default_per_minute,
                webhook_per_minute,
                on_store_error: OnStoreError::Allow,
            },
            cache: Arc::new(switchboard_cache::MemoryCache::new()),
            trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
            public_limits: PublicLimits::default(),
            revocation_on_cache_error: OnCacheError::Allow,
            metrics: switchboard_telemetry::Metrics::new(),
            console_dir: None,
            public_url: format!("http://{addr}"),
        };
        let stop = shutdown.clone();
        tokio::spawn(async move {
            switchboard_gateway::serve_with(config, Listeners { public, admin }, stop).await.unwrap();
        });
        Self { addr, received, shutdown, _data_dir: data_dir }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// A REST request on the wire: (status, JSON body or Null).
fn post(addr: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
    let mut head = format!("POST {path} HTTP/1.1\r\nhost: gateway.example\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()));
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    let (code, response_headers, raw) = exchange(addr, &request);
    let raw = if header(&response_headers, "transfer-encoding") == Some("chunked") { dechunk(&raw) } else { raw };
    (code, serde_json::from_slice(&raw).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_webhooks_reach_the_backend_with_the_exact_bytes_and_headers() {
    let edge = Edge::start(1_000, 1_000).await;
    let addr = edge.addr.clone();
    // JSON with odd whitespace and escapes, then bytes that are not UTF-8 at all: neither may change on the way.
    let bodies: [&'static [u8]; 2] =
        [b" {\"id\" : \"evt_1\",\n\t\"amount\":1.50e0 , \"note\":\"caf\\u00e9\"}\r\n", b"\xff\xfe\x00raw\x80"];
    tokio::task::spawn_blocking(move || {
        for body in bodies {
            let headers = [
                ("content-type", "application/json; charset=utf-8"),
                (
                    "stripe-signature",
                    "t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd",
                ),
                ("x-custom", "one"),
                ("X-Custom", "two"),
                ("cookie", "session=not-for-the-backend"),
                ("x-tenant-id", "0190f8a8-0000-7000-8000-000000000001"),
            ];
            let (code, reply) = post(&addr, "/v1/webhooks/stripe", &headers, body);
            assert_eq!(code, 200, "no token needed: {reply}");
            assert_eq!(reply["duplicate"], false);
            assert!(reply["webhookEvent"].as_str().unwrap().starts_with("webhookEvents/"), "{reply}");
        }
        // A token, if sent (even one that would not verify), is neither required nor checked nor passed on.
        let (code, _) = post(&addr, "/v1/webhooks/stripe", &[("authorization", "Bearer not-a-token")], b"{}");
        assert_eq!(code, 200);
    })
    .await
    .unwrap();

    let received = edge.received();
    assert_eq!(received.len(), 3);
    for (seen, body) in received.iter().zip(bodies) {
        let http_body = seen.request.body.as_ref().unwrap();
        assert_eq!(http_body.data, body, "byte for byte");
        assert_eq!(http_body.content_type, "application/json; charset=utf-8");
        assert_eq!(seen.request.provider, "stripe");
        let expected: HashMap<String, String> = [
            ("host", "gateway.example"),
            ("content-type", "application/json; charset=utf-8"),
            ("content-length", &body.len().to_string()),
            ("stripe-signature", "t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"),
            ("x-custom", "one, two"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(seen.request.headers, expected, "no cookie, no hop-by-hop header, no internal metadata");
        assert!(seen.metadata.get("x-tenant-id").is_none(), "a webhook acts for no tenant until it is verified");
    }
    assert!(!received[2].request.headers.contains_key("authorization"));
    assert_eq!(received[2].request.body.as_ref().unwrap().content_type, "", "none sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_webhooks_over_grpc_with_or_without_a_token() {
    let edge = Edge::start(1_000, 1_000).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", edge.addr)).unwrap().connect_lazy();
    let mut client = ConnectorServiceClient::new(channel);
    let message = pb::ReceiveWebhookRequest {
        provider: "shopify".into(),
        body: Some(HttpBody { content_type: "application/json".into(), data: b"{ }".to_vec(), extensions: vec![] }),
        headers: [("x-shopify-hmac-sha256".to_owned(), "c2ln".to_owned())].into(),
    };
    let reply = client.receive_webhook(message.clone()).await.unwrap().into_inner();
    assert_eq!(reply.webhook_event, "webhookEvents/1");
    let mut with_token = tonic::Request::new(message.clone());
    with_token.metadata_mut().insert("authorization", "Bearer not-a-token".parse().unwrap());
    client.receive_webhook(with_token).await.unwrap();
    let received = edge.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].request, message, "a gRPC caller's message goes through as sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_the_backend_refuses_is_a_401_status() {
    let edge = Edge::start(1_000, 1_000).await;
    let addr = edge.addr.clone();
    let (code, status) =
        tokio::task::spawn_blocking(move || post(&addr, "/v1/webhooks/unsigned", &[], b"{}")).await.unwrap();
    assert_eq!(code, 401);
    assert_eq!(status["code"], 16);
    assert_eq!(status["message"], "the stripe-signature does not verify");
    assert_eq!(edge.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_one_mebibyte_is_refused_with_413() {
    let edge = Edge::start(1_000, 1_000).await;
    let addr = edge.addr.clone();
    tokio::task::spawn_blocking(move || {
        let (code, _) = post(&addr, "/v1/webhooks/stripe", &[], &vec![b'a'; MAX_WEBHOOK_BYTES]);
        assert_eq!(code, 200, "1 MiB is allowed");
        // Refused on its declared length, before a byte of it is read (so only the start is sent).
        let mut request = format!(
            "POST /v1/webhooks/stripe HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            MAX_WEBHOOK_BYTES + 1
        )
        .into_bytes();
        request.extend(std::iter::repeat_n(b'a', 1024));
        let (code, _, body) = exchange(&addr, &request);
        assert_eq!(code, 413, "{}", String::from_utf8_lossy(&body));
        // Without a declared length: cut off as it grows past the cap.
        let mut request =
            b"POST /v1/webhooks/stripe HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
                .to_vec();
        let chunk = 64 * 1024;
        for size in std::iter::repeat_n(chunk, MAX_WEBHOOK_BYTES / chunk).chain([1]) {
            request.extend_from_slice(format!("{size:x}\r\n").as_bytes());
            request.extend(std::iter::repeat_n(b'a', size));
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
        let (code, _, _) = exchange(&addr, &request);
        assert_eq!(code, 413);
    })
    .await
    .unwrap();
    assert_eq!(edge.received().len(), 1, "only the allowed body reached the backend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_and_sign_ins_have_separate_allowances() {
    let edge = Edge::start(3, 5).await;
    let addr = edge.addr.clone();
    tokio::task::spawn_blocking(move || {
        let webhook = |client: &str| post(&addr, "/v1/webhooks/stripe", &[("x-forwarded-for", client)], b"{}");
        let login = |client: &str| {
            let body = json!({"tenant": "acme", "email": "a@acme.example", "password": "wrong"}).to_string();
            let headers = [("x-forwarded-for", client), ("content-type", "application/json")];
            post(&addr, "/v1/auth:login", &headers, body.as_bytes())
        };

        // A provider's burst spends its webhook allowance, not the sign-ins of its address.
        let provider = "198.51.100.1";
        for _ in 0..5 {
            assert_eq!(webhook(provider).0, 200);
        }
        let (code, status) = webhook(provider);
        assert_eq!(code, 429);
        assert!(status["message"].as_str().unwrap().contains("5 requests per minute for webhooks"), "{status}");
        assert_ne!(login(provider).0, 429, "sign-ins from the same address still go through");

        // Sign-ins spent from an address leave its webhooks alone.
        let office = "198.51.100.2";
        for _ in 0..3 {
            assert_ne!(login(office).0, 429);
        }
        let (code, status) = login(office);
        assert_eq!(code, 429);
        assert!(status["message"].as_str().unwrap().contains("for this client address"), "{status}");
        assert_eq!(webhook(office).0, 200, "webhooks from the same address still go through");
    })
    .await
    .unwrap();
}
