//! The public port: one listener speaking HTTP/1.1 and HTTP/2 (plaintext on loopback by default, TLS when a
//! certificate is configured), serving gRPC, gRPC-Web and REST/JSON side by side.
//!
//! Limits hold without tuning: connections are capped in all and per client (an IPv4 address or an IPv6 /64;
//! trusted proxies exempt) and refused before any TLS work; bodies over 4 MiB get 413 and header blocks over 60 KiB
//! or 100 fields get 431, both before authentication (each RPC's own, smaller body limit and the body's time rule
//! are [`crate::edge`]'s); a connection has 10 s to send its first request (whatever the stage: protocol
//! detection, TLS already done, HTTP/2 preface) and an HTTP/1 client 10 s for each request's headers; HTTP/2 caps
//! concurrent streams, pending and locally-errored resets (rapid-reset floods) and header lists; idle HTTP/2 peers
//! are pinged; a connection with no request in flight for the idle timeout (2 min) is closed gracefully (GOAWAY on
//! HTTP/2). Shutdown stops accepting, closes every connection gracefully, lets in-flight requests finish within the
//! drain deadline, then returns.
//!
//! Request path, outermost first: CORS → gRPC-Web translation (for `application/grpc-web*` only; tonic-web
//! would answer 400 to a REST call over HTTP/1.1) → body limit → [`crate::edge`] → the router (gRPC services,
//! public documents, REST routes).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use futures::StreamExt;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use switchboard_mesh::server::{Limits, Transport};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_layer::Layer;

use crate::GatewayError;
use crate::edge::{EdgeLayer, Protocol};
use crate::respond::{EdgeError, respond};

/// Largest request body accepted on the public port.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Largest header block (HTTP/1 read buffer and HTTP/2 header list).
pub const MAX_HEADER_BYTES: usize = 60 * 1024;
/// Most header fields in an HTTP/1 request.
pub const MAX_HEADERS: usize = 100;
/// A client must finish sending its request headers within this.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) type HttpService = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, Infallible>;

/// What one connection is doing: requests in flight, and since when nothing has been.
#[derive(Clone)]
struct Activity(Arc<ActivityState>);

struct ActivityState {
    opened: std::time::Instant,
    in_flight: AtomicUsize,
    seen_request: AtomicBool,
    /// Milliseconds after `opened` when the last request ended.
    last_end_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self(Arc::new(ActivityState {
            opened: std::time::Instant::now(),
            in_flight: AtomicUsize::new(0),
            seen_request: AtomicBool::new(false),
            last_end_ms: AtomicU64::new(0),
        }))
    }

    fn begin(&self) -> InFlight {
        self.0.seen_request.store(true, Ordering::Relaxed);
        self.0.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    fn seen_request(&self) -> bool {
        self.0.seen_request.load(Ordering::Relaxed)
    }

    fn in_flight(&self) -> usize {
        self.0.in_flight.load(Ordering::Acquire)
    }

    fn age(&self) -> Duration {
        self.0.opened.elapsed()
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.0.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// How long no request has been in flight (zero while one is).
    fn idle_for(&self) -> Duration {
        if self.in_flight() > 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(self.now_ms().saturating_sub(self.0.last_end_ms.load(Ordering::Acquire)))
    }
}

/// One request in flight; ends when dropped (with its response body).
struct InFlight(Activity);

impl Drop for InFlight {
    fn drop(&mut self) {
        let state = &self.0.0;
        state.last_end_ms.store(self.0.now_ms(), Ordering::Release);
        state.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted as in flight until it is finished or dropped.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// CORS for browsers on the allowed origins: preflight answered, gRPC-Web's status headers exposed.
fn cors(origins: &[http::HeaderValue]) -> CorsLayer {
    use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName};
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().cloned()))
        .allow_methods([
            http::Method::GET,
            http::Method::POST,
            http::Method::PUT,
            http::Method::PATCH,
            http::Method::DELETE,
        ])
        .allow_headers([
            AUTHORIZATION,
            CONTENT_TYPE,
            HeaderName::from_static("x-grpc-web"),
            HeaderName::from_static("x-user-agent"),
            HeaderName::from_static("grpc-timeout"),
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("traceparent"),
            HeaderName::from_static("connect-protocol-version"),
        ])
        .expose_headers([
            HeaderName::from_static("grpc-status"),
            HeaderName::from_static("grpc-message"),
            HeaderName::from_static("grpc-status-details-bin"),
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("retry-after"),
        ])
        .max_age(Duration::from_secs(600))
}

fn is_grpc_web(request: &http::Request<Body>) -> bool {
    request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc-web"))
}

fn is_grpc_web_json(request: &http::Request<Body>) -> bool {
    request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc-web+json"))
}

/// The whole HTTP pipeline around `router`.
pub(crate) fn app(router: axum::Router, edge: EdgeLayer, cors_origins: &[http::HeaderValue]) -> HttpService {
    let edged =
        ServiceExt::<http::Request<Body>>::map_request(edge.layer(router), |r: http::Request<_>| r.map(Body::new));
    // The backstop for every path: a gRPC message at its 4 MiB limit plus its frame header, no more.
    let limited = RequestBodyLimitLayer::new(MAX_BODY_BYTES + crate::grpc_frame::HEADER_BYTES).layer(edged);
    let inner = ServiceExt::<http::Request<Body>>::map_response(
        limited,
        |r: http::Response<tower_http::limit::ResponseBody<Body>>| r.map(Body::new),
    );
    let plain = BoxCloneSyncService::new(inner.clone());
    let translated =
        ServiceExt::<http::Request<Body>>::map_request(inner, |r: http::Request<tonic::body::Body>| r.map(Body::new));
    let web = ServiceExt::<http::Request<Body>>::map_response(
        tonic_web::GrpcWebLayer::new().layer(translated),
        |r: http::Response<tonic::body::Body>| r.map(Body::new),
    );
    let web = BoxCloneSyncService::new(web);
    let split = tower::service_fn(move |mut request: http::Request<Body>| {
        let service = if is_grpc_web_json(&request) {
            // tonic-web speaks protobuf gRPC-Web only.
            BoxCloneSyncService::new(tower::service_fn(|_| {
                std::future::ready(Ok(respond(Protocol::Grpc, &EdgeError::GrpcWebJson)))
            }))
        } else if is_grpc_web(&request) {
            request.extensions_mut().insert(crate::edge::GrpcWeb);
            web.clone()
        } else {
            plain.clone()
        };
        service.oneshot(request)
    });
    BoxCloneSyncService::new(cors(cors_origins).layer(split))
}

/// Serves `app` on `listener` until `shutdown`, then drains.
pub(crate) async fn serve(
    app: HttpService,
    listener: TcpListener,
    transport: Transport,
    limits: Limits,
    connections: prometheus_client::metrics::gauge::Gauge,
    shutdown: CancellationToken,
) -> Result<(), GatewayError> {
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let mut incoming =
        switchboard_mesh::server::incoming(listener, &transport, &limits, Some(connections), shutdown.clone())?;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_headers(MAX_HEADERS)
        .max_buf_size(MAX_HEADER_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_pending_accept_reset_streams(limits.max_pending_accept_reset_streams)
        .max_local_error_reset_streams(Some(1024))
        .max_header_list_size(u32::try_from(MAX_HEADER_BYTES).unwrap_or(u32::MAX))
        .keep_alive_interval(limits.keepalive_interval)
        .keep_alive_timeout(limits.keepalive_timeout);
    let connections = tokio_util::task::TaskTracker::new();
    tracing::info!(%addr, transport = ?transport, "public port listening (gRPC, gRPC-Web, REST)");
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => break,
            next = incoming.next() => match next {
                Some(Ok(stream)) => stream,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "connection failed before serving");
                    continue;
                }
                None => break,
            },
        };
        let info = stream.info().clone();
        let app = app.clone();
        let activity = Activity::new();
        let tracked = activity.clone();
        let service = hyper::service::service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
            // Held until the response body is done (or dropped): a long stream is activity, not idleness.
            let in_flight = tracked.begin();
            request.extensions_mut().insert(info.clone());
            // HTTP/2 caps the header block in bytes; the field count is capped here (HTTP/1 caps it in hyper).
            let too_many = request.headers().len() > MAX_HEADERS;
            let protocol = Protocol::of(request.headers());
            let app = app.clone();
            async move {
                if too_many {
                    return Ok(respond(protocol, &EdgeError::TooManyHeaders { limit: MAX_HEADERS }));
                }
                let response = app.oneshot(request.map(Body::new)).await?;
                Ok::<_, Infallible>(response.map(|body| Body::new(Tracked { body, _in_flight: in_flight })))
            }
        });
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let shutdown = shutdown.clone();
        let idle_timeout = limits.idle_timeout;
        // The timer is re-armed at least this often, so a request arriving or ending is noticed in time.
        let tick = (idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
        connections.spawn(async move {
            tokio::pin!(connection);
            let mut closing = false;
            let outcome = loop {
                // Before the first request, the header deadline applies (hyper's protocol detection and the HTTP/2
                // preface have no timer of their own); after it, the idle timeout.
                let wait = if activity.seen_request() {
                    idle_timeout.saturating_sub(activity.idle_for())
                } else {
                    HEADER_READ_TIMEOUT.saturating_sub(activity.age())
                };
                tokio::select! {
                    outcome = connection.as_mut() => break outcome,
                    () = shutdown.cancelled(), if !closing => {
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    () = tokio::time::sleep(wait.clamp(Duration::from_millis(50), tick)), if !closing => {
                        if !activity.seen_request() {
                            if activity.age() >= HEADER_READ_TIMEOUT {
                                tracing::debug!("no request within the header deadline; closing");
                                return;
                            }
                        } else if activity.in_flight() == 0 && activity.idle_for() >= idle_timeout {
                            tracing::debug!(?idle_timeout, "idle connection; closing");
                            connection.as_mut().graceful_shutdown();
                            closing = true;
                        }
                    }
                }
            };
            if let Err(e) = outcome {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    connections.close();
    tokio::select! {
        () = connections.wait() => {}
        () = tokio::time::sleep(limits.drain_deadline) => {
            tracing::warn!(%addr, "requests still open after the drain deadline; stopping anyway");
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    /// A request slower than the idle timeout is not cut; once nothing is in flight for the idle timeout, the
    /// server closes the connection (HTTP/2 GOAWAY, and the client's connection ends cleanly).
    #[tokio::test]
    async fn idle_connections_are_closed_busy_ones_are_not() {
        let app: HttpService = BoxCloneSyncService::new(tower::service_fn(|request: http::Request<Body>| async move {
            if request.uri().path() == "/slow" {
                tokio::time::sleep(Duration::from_millis(800)).await;
            }
            Ok::<_, Infallible>(http::Response::new(Body::from("ok")))
        }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = Limits { idle_timeout: Duration::from_millis(300), ..Limits::default() };
        let shutdown = CancellationToken::new();
        let gauge = prometheus_client::metrics::gauge::Gauge::default();
        let server = tokio::spawn(serve(app, listener, Transport::Plaintext, limits, gauge, shutdown.clone()));

        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut send, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
        let connection = tokio::spawn(connection);
        let request = || http::Request::get("http://gateway/slow").body(http_body_util::Empty::<bytes::Bytes>::new());
        let response = send.send_request(request().unwrap()).await.unwrap();
        assert_eq!(response.status(), http::StatusCode::OK);
        assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "ok");
        let idle_since = std::time::Instant::now();

        tokio::time::timeout(Duration::from_secs(5), connection)
            .await
            .expect("the idle connection is closed")
            .unwrap()
            .unwrap();
        assert!(idle_since.elapsed() >= Duration::from_millis(250), "closed only after the idle timeout");
        assert!(send.send_request(request().unwrap()).await.is_err(), "the connection is gone");

        shutdown.cancel();
        server.await.unwrap().unwrap();
    }
}
