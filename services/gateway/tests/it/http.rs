//! The public port over plain HTTP/1.1, bytes on the wire: limits before auth, CORS, public documents, REST
//! errors as `google.rpc.Status`, request ids, and gRPC-Web framing.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine;
use prost::Message;
use switchboard_proto::auth::v1 as pb;
use switchboard_test_support::{TestDb, TestPlatform};

use crate::suite::{login, tenant_with_user};

/// Sends raw bytes, reads until the server closes; returns (status line code, headers lowercased, body).
pub fn exchange(addr: &str, request: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    exchange_within(addr, request, Duration::from_secs(10))
}

/// [`exchange`], waiting up to `patience` for each read.
pub fn exchange_within(addr: &str, request: &[u8], patience: Duration) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(patience)).unwrap();
    // A server may answer (413, 431) before reading all we send; a failed write is then expected.
    let _ = stream.write_all(request);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let code = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (code, headers, raw[split + 4..].to_vec())
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Removes HTTP/1.1 chunked framing.
pub fn dechunk(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
        rest = &rest[line_end + 2 + size + 2..];
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_errors_limits_and_cors() {
    let platform = TestPlatform::start(TestDb::Sqlite).await;
    let addr = platform.gateway_addr.clone();
    tokio::task::spawn_blocking(move || {
        // JWKS: anonymous, JSON, with the request id echoed.
        let (code, headers, body) = exchange(
            &addr,
            b"GET /.well-known/jwks.json HTTP/1.1\r\nhost: x\r\nx-request-id: req-jwks-1\r\nconnection: close\r\n\r\n",
        );
        assert_eq!(code, 200);
        assert_eq!(header(&headers, "x-request-id"), Some("req-jwks-1"));
        let body = if header(&headers, "transfer-encoding") == Some("chunked") { dechunk(&body) } else { body };
        let jwks: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(jwks["keys"][0]["alg"], "EdDSA");

        // Unknown REST route: JSON google.rpc.Status, NOT_FOUND, and a generated request id.
        let (code, headers, body) =
            exchange(&addr, b"GET /v1/nothing-here HTTP/1.1\r\nhost: x\r\nx-request-id: bad id\r\nconnection: close\r\n\r\n");
        assert_eq!(code, 404);
        assert_eq!(header(&headers, "content-type"), Some("application/json"));
        assert_ne!(header(&headers, "x-request-id"), Some("bad id"), "a malformed request id is replaced");
        let body = if header(&headers, "transfer-encoding") == Some("chunked") { dechunk(&body) } else { body };
        let status: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status["code"], 5);

        // A body over 4 MiB is refused with 413 before anything else (no token was sent).
        let big = 4 * 1024 * 1024 + 1;
        let mut request =
            format!("POST /v1/auth:login HTTP/1.1\r\nhost: x\r\ncontent-length: {big}\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n")
                .into_bytes();
        request.extend(std::iter::repeat_n(b'a', 1024));
        let (code, _, _) = exchange(&addr, &request);
        assert_eq!(code, 413);

        // More than 100 header fields: 431.
        let mut many = String::from("GET /.well-known/jwks.json HTTP/1.1\r\nhost: x\r\n");
        for i in 0..120 {
            many.push_str(&format!("x-h{i}: v\r\n"));
        }
        many.push_str("connection: close\r\n\r\n");
        let (code, _, _) = exchange(&addr, many.as_bytes());
        assert_eq!(code, 431);

        // A header block over 60 KiB: 431.
        let huge = format!("GET / HTTP/1.1\r\nhost: x\r\nx-big: {}\r\nconnection: close\r\n\r\n", "a".repeat(70 * 1024));
        let (code, _, _) = exchange(&addr, huge.as_bytes());
        assert_eq!(code, 431);

        // CORS preflight: the allowed origin gets the grant; another origin does not.
        let preflight = |origin: &str| {
            exchange(
                &addr,
                format!(
                    "OPTIONS /switchboard.auth.v1.AuthService/WhoAmI HTTP/1.1\r\nhost: x\r\norigin: {origin}\r\n\
                     access-control-request-method: POST\r\naccess-control-request-headers: content-type,x-grpc-web,authorization\r\n\
                     connection: close\r\n\r\n"
                )
                .as_bytes(),
            )
        };
        let (code, headers, _) = preflight("http://app.example");
        assert!(code == 200 || code == 204, "{code}");
        assert_eq!(header(&headers, "access-control-allow-origin"), Some("http://app.example"));
        let (_, headers, _) = preflight("http://evil.example");
        assert_eq!(header(&headers, "access-control-allow-origin"), None);
    })
    .await
    .unwrap();
    platform.stop().await;
}

/// One gRPC-Web data frame.
fn grpc_web_frame(message: &[u8]) -> Vec<u8> {
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(message);
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_unary_over_http_1_1() {
    let platform = TestPlatform::start(TestDb::Sqlite).await;
    tenant_with_user(&platform, "acme", "owner@acme.example").await;
    let session = login(&platform, "acme", "owner@acme.example").await;
    let addr = platform.gateway_addr.clone();
    tokio::task::spawn_blocking(move || {
        let call = |token: Option<&str>| {
            let frame = grpc_web_frame(&pb::WhoAmIRequest {}.encode_to_vec());
            let auth = token.map(|t| format!("authorization: Bearer {t}\r\n")).unwrap_or_default();
            let mut request = format!(
                "POST /switchboard.auth.v1.AuthService/WhoAmI HTTP/1.1\r\nhost: x\r\norigin: http://app.example\r\n\
                 content-type: application/grpc-web+proto\r\nx-grpc-web: 1\r\n{auth}content-length: {}\r\nconnection: close\r\n\r\n",
                frame.len()
            )
            .into_bytes();
            request.extend_from_slice(&frame);
            exchange(&addr, &request)
        };

        let (code, headers, body) = call(Some(&session.access_token));
        assert_eq!(code, 200);
        assert!(header(&headers, "content-type").unwrap().starts_with("application/grpc-web"));
        assert_eq!(header(&headers, "access-control-allow-origin"), Some("http://app.example"));
        let expose = header(&headers, "access-control-expose-headers").unwrap_or_default().to_ascii_lowercase();
        assert!(expose.contains("grpc-status") && expose.contains("grpc-message"), "{expose}");
        let body = if header(&headers, "transfer-encoding") == Some("chunked") { dechunk(&body) } else { body };
        // A data frame with the response, then a trailer frame (flag 0x80) with grpc-status: 0.
        assert_eq!(body[0], 0);
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        let me = pb::WhoAmIResponse::decode(&body[5..5 + len]).unwrap();
        assert_eq!(me.user.unwrap().email, "owner@acme.example");
        let trailer = &body[5 + len..];
        assert_eq!(trailer[0], 0x80);
        assert!(String::from_utf8_lossy(&trailer[5..]).contains("grpc-status:0"));

        // The same call in grpc-web-text (base64) mode, as the official grpc-web client sends it.
        let frame = grpc_web_frame(&pb::WhoAmIRequest {}.encode_to_vec());
        let text = base64::engine::general_purpose::STANDARD.encode(&frame);
        let mut request = format!(
            "POST /switchboard.auth.v1.AuthService/WhoAmI HTTP/1.1\r\nhost: x\r\ncontent-type: application/grpc-web-text\r\n\
             accept: application/grpc-web-text\r\nauthorization: Bearer {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            session.access_token,
            text.len()
        )
        .into_bytes();
        request.extend_from_slice(text.as_bytes());
        let (code, headers, body) = exchange(&addr, &request);
        assert_eq!(code, 200);
        let body = if header(&headers, "transfer-encoding") == Some("chunked") { dechunk(&body) } else { body };
        // The text response is base64 chunks (data frame, then trailer frame), each padded on its own: decode it
        // one 4-character quantum at a time, which is exact whatever the chunk boundaries.
        let mut decoded = Vec::new();
        for quantum in body.chunks(4) {
            decoded.extend(base64::engine::general_purpose::STANDARD.decode(quantum).unwrap());
        }
        assert_eq!(decoded[0], 0, "a data frame first");
        let len = u32::from_be_bytes([decoded[1], decoded[2], decoded[3], decoded[4]]) as usize;
        assert_eq!(pb::WhoAmIResponse::decode(&decoded[5..5 + len]).unwrap().user.unwrap().email, "owner@acme.example");
        assert!(String::from_utf8_lossy(&decoded[5 + len..]).contains("grpc-status:0"));

        // Without a token: a real gRPC status in the headers (trailers-only), never a bare HTTP 401.
        let (code, headers, body) = call(None);
        assert_eq!(code, 200);
        assert_eq!(header(&headers, "grpc-status"), Some("16"));
        let body = if header(&headers, "transfer-encoding") == Some("chunked") { dechunk(&body) } else { body };
        assert!(body.is_empty(), "a status in the headers is not followed by a trailer frame");
    })
    .await
    .unwrap();
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_openapi_document_is_the_checked_in_one() {
    let platform = TestPlatform::start(TestDb::Sqlite).await;
    let addr = platform.gateway_addr.clone();
    let served = tokio::task::spawn_blocking(move || {
        let (code, headers, body) =
            exchange(&addr, b"GET /openapi.json HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        assert_eq!(code, 200);
        let body = if header(&headers, "transfer-encoding") == Some("chunked") { dechunk(&body) } else { body };
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()
    })
    .await
    .unwrap();
    let checked_in: serde_json::Value =
        serde_json::from_str(include_str!("../../openapi.json")).expect("services/gateway/openapi.json is JSON");
    assert!(
        served == checked_in,
        "services/gateway/openapi.json is stale: regenerate it with `make openapi` and commit it"
    );
    assert_eq!(served, switchboard_gateway::openapi_document().unwrap());
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_callers_see_only_their_own_tenant() {
    use switchboard_proto::audit::v1 as audit;
    let platform = TestPlatform::start(TestDb::Sqlite).await;
    let acme = tenant_with_user(&platform, "acme", "owner@acme.example").await;
    let globex = tenant_with_user(&platform, "globex", "owner@globex.example").await;
    let a = login(&platform, "acme", "owner@acme.example").await;
    login(&platform, "globex", "owner@globex.example").await;
    let addr = platform.gateway_addr.clone();
    tokio::task::spawn_blocking(move || {
        let list = |extra: &str| {
            let frame = grpc_web_frame(&audit::ListEventsRequest { page_size: 100, ..Default::default() }.encode_to_vec());
            let mut request = format!(
                "POST /switchboard.audit.v1.AuditService/ListEvents HTTP/1.1\r\nhost: x\r\ncontent-type: application/grpc-web+proto\r\n\
                 authorization: Bearer {}\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n",
                a.access_token,
                frame.len()
            )
            .into_bytes();
            request.extend_from_slice(&frame);
            let (code, headers, body) = exchange(&addr, &request);
            let body = if header(&headers, "transfer-encoding") == Some("chunked") { dechunk(&body) } else { body };
            (code, headers, body)
        };
        let (code, _, body) = list("");
        assert_eq!(code, 200);
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        let events = audit::ListEventsResponse::decode(&body[5..5 + len]).unwrap().events;
        assert!(!events.is_empty());
        assert!(events.iter().all(|e| e.tenant_id == acme), "only acme's events");
        // Naming globex, whatever the header spelling a client tries, is refused.
        for spelling in ["x-tenant-id", "X-Tenant-Id"] {
            let (code, headers, _) = list(&format!("{spelling}: {globex}\r\n"));
            assert_eq!(code, 200, "gRPC-Web errors are gRPC statuses");
            assert_eq!(header(&headers, "grpc-status"), Some("7"), "{spelling}");
        }
        // x-user-id from a client is dropped, never believed.
        let (_, _, body) = list(&format!("x-user-id: {}\r\n", uuid_like()));
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        let events = audit::ListEventsResponse::decode(&body[5..5 + len]).unwrap().events;
        assert!(events.iter().all(|e| e.tenant_id == acme));
    })
    .await
    .unwrap();
    platform.stop().await;
}

fn uuid_like() -> &'static str {
    "0190f6a4-7c1e-7d2a-9a1b-3c4d5e6f7a8b"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_paths_cannot_be_reached_around_authentication() {
    use switchboard_proto::audit::v1 as audit;
    let platform = TestPlatform::start(TestDb::Sqlite).await;
    let acme = tenant_with_user(&platform, "acme", "owner@acme.example").await;
    let globex = tenant_with_user(&platform, "globex", "owner@globex.example").await;
    let a = login(&platform, "acme", "owner@acme.example").await;
    let addr = platform.gateway_addr.clone();
    tokio::task::spawn_blocking(move || {
        // A gRPC method path with a non-gRPC content type: refused before routing, with no token needed to see it.
        for content_type in ["application/octet-stream", "Application/grpc", "text/plain"] {
            let frame = grpc_web_frame(&audit::ListEventsRequest::default().encode_to_vec());
            let mut request = format!(
                "POST /switchboard.audit.v1.AuditService/ListEvents HTTP/1.1\r\nhost: x\r\ncontent-type: {content_type}\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n",
                frame.len()
            )
            .into_bytes();
            request.extend_from_slice(&frame);
            let (code, _, _) = exchange(&addr, &request);
            assert_eq!(code, 415, "{content_type}");
        }
        // Oversized login fields are refused before any work.
        let body = serde_json::json!({"tenant": "a".repeat(5000), "email": "x@y.z", "password": "p"}).to_string();
        let request = format!(
            "POST /v1/auth:login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let (code, _, _) = exchange(&addr, request.as_bytes());
        assert_eq!(code, 401);
        // x-tenant-id twice: the token's tenant first does not hide another one after it.
        let request = format!(
            "GET /v1/audit/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\nx-tenant-id: {acme}\r\nx-tenant-id: {globex}\r\nconnection: close\r\n\r\n",
            a.access_token
        );
        let (code, _, _) = exchange(&addr, request.as_bytes());
        assert_eq!(code, 403);
        // The token's own tenant, spelled in upper case, is the same tenant.
        let request = format!(
            "GET /v1/audit/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\nx-tenant-id: {}\r\nconnection: close\r\n\r\n",
            a.access_token,
            acme.to_uppercase()
        );
        let (code, _, _) = exchange(&addr, request.as_bytes());
        assert_eq!(code, 200);
    })
    .await
    .unwrap();
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_requests_with_too_many_headers_are_refused() {
    let platform = TestPlatform::start(TestDb::Sqlite).await;
    let mut request = tonic::Request::new(pb::WhoAmIRequest {});
    for i in 0..120 {
        request.metadata_mut().insert(
            format!("x-h{i}").as_str().parse::<tonic::metadata::MetadataKey<_>>().unwrap(),
            "v".parse().unwrap(),
        );
    }
    let err = crate::suite::auth(&platform).who_am_i(request).await.unwrap_err();
    // A gRPC status a gRPC client can read, not an HTTP 431 it would take for UNKNOWN.
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("header fields"), "{err:?}");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_sends_nothing_is_closed() {
    let platform = TestPlatform::start(TestDb::Sqlite).await;
    let addr = platform.gateway_addr.clone();
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let started = std::time::Instant::now();
        let mut buf = [0u8; 16];
        // Silent: no bytes at all, so hyper never even learns the protocol. The edge closes it anyway.
        let read = stream.read(&mut buf).unwrap_or(0);
        assert_eq!(read, 0, "closed without a response");
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(9) && waited < Duration::from_secs(14), "{waited:?}");
    })
    .await
    .unwrap();
    platform.stop().await;
}
