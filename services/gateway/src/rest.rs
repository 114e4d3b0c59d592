//! REST/JSON on the public port. A request is matched against the route table built from the contracts'
//! `google.api.http` rules, transcoded to the RPC's request message, and sent in-process through the same gRPC
//! routes a gRPC client reaches — so authentication context, forwarding to the backend over mTLS and error
//! handling are exactly the gRPC path's. The reply is rendered as proto3 JSON, or as a `google.rpc.Status` JSON
//! error with the canonical HTTP status.
//!
//! Server-streaming RPCs answer with newline-delimited JSON (`{"result": …}` per message, then `{"error": …}` if
//! the stream fails) or, with `Accept: text/event-stream`, Server-Sent Events (`data:` per message, an `error`
//! event on failure). Each message is translated and sent as its frame arrives; nothing waits for the stream to end.
//! Client streaming has no REST form and answers 501.

use std::sync::Arc;

use axum::body::Body;
use http_body_util::BodyExt;
use switchboard_mesh::context::RequestContext;
use switchboard_mesh::inbound::ConnectionInfo;
use switchboard_transcode::RouteTable;
use tower::ServiceExt;

use crate::authn::Caller;
use crate::edge::ResolveRoute;
use crate::front::MAX_BODY_BYTES;
use crate::status::rest_response;

/// REST requests transcoded at once. Parsing JSON into a document tree costs many times the body's size, so the
/// number in flight is bounded; the rest wait briefly, then get 503.
const CONCURRENT_TRANSCODES: usize = 64;
/// How long a REST request waits for a transcoding slot.
const TRANSCODE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
/// A unary REST call gets this long end to end (a REST client has no grpc-timeout to send).
const UNARY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// The route table as the edge layer sees it.
pub(crate) struct RestRoutes(pub(crate) Arc<RouteTable>);

impl ResolveRoute for RestRoutes {
    fn rpc_for(&self, method: &http::Method, path: &str) -> Option<String> {
        self.0.resolve(method, path).map(|(route, _)| route.rpc_path.clone())
    }
}

/// Serves REST requests by calling `grpc` (the gateway's gRPC routes) in-process.
#[derive(Clone)]
pub(crate) struct RestHandler {
    pub(crate) table: Arc<RouteTable>,
    pub(crate) grpc: axum::Router,
}

fn json_response(status: http::StatusCode, body: &serde_json::Value) -> http::Response<Body> {
    let mut response = http::Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

/// A gRPC status in `headers` (trailers-only responses, or the trailers themselves).
fn status_in(headers: &http::HeaderMap) -> Option<tonic::Status> {
    tonic::Status::from_header_map(headers)
}

impl RestHandler {
    pub(crate) async fn handle(self, request: http::Request<Body>) -> http::Response<Body> {
        let (parts, body) = request.into_parts();
        let Some((route, bindings)) = self.table.resolve(&parts.method, parts.uri.path()) else {
            if crate::edge::Protocol::of(&parts.headers) == crate::edge::Protocol::Grpc {
                return tonic::Status::unimplemented(format!("no service at {}", parts.uri.path())).into_http();
            }
            return rest_response(&tonic::Status::not_found(format!(
                "no route for {} {}: see /openapi.json for the API",
                parts.method,
                parts.uri.path()
            )));
        };
        if route.method.is_client_streaming() {
            return rest_response(&tonic::Status::unimplemented(format!(
                "{} takes a client stream, which REST cannot express: use gRPC or gRPC-Web",
                route.rpc_path
            )));
        }
        let sse = parts
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/event-stream"));
        static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CONCURRENT_TRANSCODES);
        let Ok(Ok(_slot)) = tokio::time::timeout(TRANSCODE_WAIT, SLOTS.acquire()).await else {
            return rest_response(&tonic::Status::unavailable("the gateway is busy: retry shortly"));
        };
        let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Ok(bytes) => bytes,
            Err(_) => {
                let mut response = rest_response(&tonic::Status::invalid_argument(format!(
                    "the body is larger than {MAX_BODY_BYTES} bytes"
                )));
                *response.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
                return response;
            }
        };
        let message = match switchboard_transcode::json::request(&route, &bindings, parts.uri.query(), &body) {
            Ok(message) => message,
            Err(e) => return rest_response(&tonic::Status::invalid_argument(e.to_string())),
        };

        let mut frame = Vec::with_capacity(message.len() + 5);
        frame.push(0);
        frame.extend_from_slice(&u32::try_from(message.len()).unwrap_or(u32::MAX).to_be_bytes());
        frame.extend_from_slice(&message);
        let mut call = http::Request::new(Body::from(frame));
        *call.method_mut() = http::Method::POST;
        *call.uri_mut() = match route.rpc_path.parse() {
            Ok(uri) => uri,
            Err(_) => return rest_response(&tonic::Status::internal("bad route")),
        };
        let headers = call.headers_mut();
        headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/grpc"));
        headers.insert(http::header::TE, http::HeaderValue::from_static("trailers"));
        // What the edge established about this caller travels with the call, as it would for a gRPC client.
        if let Some(context) = parts.extensions.get::<RequestContext>() {
            call.extensions_mut().insert(context.clone());
        }
        if let Some(caller) = parts.extensions.get::<Caller>() {
            call.extensions_mut().insert(caller.clone());
        }
        if let Some(connection) = parts.extensions.get::<ConnectionInfo>() {
            call.extensions_mut().insert(connection.clone());
        }

        let is_streaming = route.method.is_server_streaming();
        let deadline = tokio::time::Instant::now() + UNARY_DEADLINE;
        let too_long = || rest_response(&tonic::Status::deadline_exceeded("the call took too long"));
        let response = if is_streaming {
            let Ok(response) = self.grpc.oneshot(call).await;
            response
        } else {
            match tokio::time::timeout_at(deadline, self.grpc.oneshot(call)).await {
                Ok(Ok(response)) => response,
                Err(_) => return too_long(),
            }
        };
        let (head, body) = response.into_parts();
        if let Some(status) = status_in(&head.headers).filter(|s| s.code() != tonic::Code::Ok) {
            return rest_response(&status);
        }
        if route.method.is_server_streaming() {
            return stream_response(route, body, sse);
        }
        let limit = switchboard_mesh::server::MAX_MESSAGE_BYTES + 5;
        let collected =
            match tokio::time::timeout_at(deadline, http_body_util::Limited::new(body, limit).collect()).await {
                Err(_) => return too_long(),
                Ok(Ok(collected)) => collected,
                Ok(Err(e)) => {
                    tracing::warn!(rpc = %route.rpc_path, error = %e, "backend response failed or was too large");
                    return rest_response(&tonic::Status::unavailable("the call failed; retry shortly"));
                }
            };
        if let Some(status) = collected.trailers().and_then(status_in).filter(|s| s.code() != tonic::Code::Ok) {
            return rest_response(&status);
        }
        let bytes = collected.to_bytes();
        if bytes.len() < 5 || bytes[0] != 0 {
            return rest_response(&tonic::Status::internal("the service returned no message"));
        }
        let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
        let Some(message) = bytes.get(5..5usize.saturating_add(len)) else {
            return rest_response(&tonic::Status::internal("the service returned a truncated message"));
        };
        match switchboard_transcode::json::response(&route, message) {
            Ok(json) => json_response(http::StatusCode::OK, &json),
            Err(e) => {
                tracing::error!(rpc = %route.rpc_path, error = %e, "cannot render a response");
                rest_response(&tonic::Status::internal("internal error rendering the response"))
            }
        }
    }
}

/// Where a streamed REST response stands.
struct StreamState {
    route: Arc<switchboard_transcode::Route>,
    body: Body,
    buffer: bytes::BytesMut,
    sse: bool,
    done: bool,
}

fn render(sse: bool, key: &str, value: &serde_json::Value) -> bytes::Bytes {
    let line = serde_json::json!({ key: value }).to_string();
    bytes::Bytes::from(match (sse, key) {
        (true, "error") => format!("event: error\ndata: {line}\n\n"),
        (true, _) => format!("data: {line}\n\n"),
        (false, _) => format!("{line}\n"),
    })
}

fn render_status(sse: bool, status: &tonic::Status) -> bytes::Bytes {
    render(sse, "error", &serde_json::json!({"code": status.code() as i32, "message": status.message(), "details": []}))
}

/// Translates a gRPC response stream into NDJSON or SSE, one message at a time.
fn stream_response(route: Arc<switchboard_transcode::Route>, body: Body, sse: bool) -> http::Response<Body> {
    let state = StreamState { route, body, buffer: bytes::BytesMut::new(), sse, done: false };
    let stream = futures::stream::unfold(state, |mut st| async move {
        loop {
            if st.done {
                return None;
            }
            if st.buffer.len() >= 5 {
                let len = u32::from_be_bytes([st.buffer[1], st.buffer[2], st.buffer[3], st.buffer[4]]) as usize;
                if st.buffer[0] != 0 || len > switchboard_mesh::server::MAX_MESSAGE_BYTES {
                    st.done = true;
                    let status = tonic::Status::internal("the service sent a compressed or oversized message");
                    return Some((Ok(render_status(st.sse, &status)), st));
                }
                if st.buffer.len() >= 5 + len {
                    let frame = st.buffer.split_to(5 + len);
                    let chunk = match switchboard_transcode::json::response(&st.route, &frame[5..]) {
                        Ok(json) => render(st.sse, "result", &json),
                        Err(e) => {
                            tracing::error!(rpc = %st.route.rpc_path, error = %e, "cannot render a streamed message");
                            st.done = true;
                            render_status(st.sse, &tonic::Status::internal("internal error rendering the stream"))
                        }
                    };
                    return Some((Ok::<_, std::convert::Infallible>(chunk), st));
                }
            }
            match st.body.frame().await {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => st.buffer.extend_from_slice(&data),
                    Err(frame) => {
                        st.done = true;
                        let failed = frame.trailers_ref().and_then(status_in).filter(|s| s.code() != tonic::Code::Ok);
                        if let Some(status) = failed {
                            return Some((Ok(render_status(st.sse, &status)), st));
                        }
                    }
                },
                Some(Err(e)) => {
                    st.done = true;
                    tracing::warn!(rpc = %st.route.rpc_path, error = %e, "stream broke");
                    let status = tonic::Status::unavailable("the stream broke; retry");
                    return Some((Ok(render_status(st.sse, &status)), st));
                }
                None => return None,
            }
        }
    });
    let mut response = http::Response::new(Body::from_stream(stream));
    let content_type = if sse { "text/event-stream" } else { "application/x-ndjson" };
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    response.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_transcode::{BodyRule, Route};

    /// A REST route to `grpc.health.v1.Health/Watch` on `grpc`: the one server-streaming RPC every server has.
    fn handler_for(grpc: axum::Router) -> RestHandler {
        let pool = prost_reflect::DescriptorPool::decode(tonic_health::pb::FILE_DESCRIPTOR_SET).unwrap();
        let method =
            pool.get_service_by_name("grpc.health.v1.Health").unwrap().methods().find(|m| m.name() == "Watch").unwrap();
        let route = Route {
            http_method: http::Method::GET,
            template: "/v1/health:watch".parse().unwrap(),
            body: BodyRule::None,
            response_body: None,
            method,
            rpc_path: "/grpc.health.v1.Health/Watch".into(),
        };
        RestHandler { table: Arc::new(RouteTable::with_routes(pool, vec![route])), grpc }
    }

    async fn handler() -> (RestHandler, tonic_health::server::HealthReporter) {
        let (reporter, service) = tonic_health::server::health_reporter();
        (handler_for(tonic::service::Routes::new(service).into_axum_router()), reporter)
    }

    /// A Watch that sends one update and then fails.
    struct Failing;

    #[tonic::async_trait]
    impl tonic_health::pb::health_server::Health for Failing {
        async fn check(
            &self,
            _: tonic::Request<tonic_health::pb::HealthCheckRequest>,
        ) -> Result<tonic::Response<tonic_health::pb::HealthCheckResponse>, tonic::Status> {
            Err(tonic::Status::unimplemented("test double"))
        }

        type WatchStream =
            futures::stream::Iter<std::vec::IntoIter<Result<tonic_health::pb::HealthCheckResponse, tonic::Status>>>;

        async fn watch(
            &self,
            _: tonic::Request<tonic_health::pb::HealthCheckRequest>,
        ) -> Result<tonic::Response<Self::WatchStream>, tonic::Status> {
            let items = vec![
                Ok(tonic_health::pb::HealthCheckResponse { status: 1 }),
                Err(tonic::Status::data_loss("the watched thing went away")),
            ];
            Ok(tonic::Response::new(futures::stream::iter(items)))
        }
    }

    async fn next_chunk(body: &mut Body) -> String {
        let frame =
            tokio::time::timeout(std::time::Duration::from_secs(5), body.frame()).await.unwrap().unwrap().unwrap();
        String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn server_streams_as_ndjson_by_default_and_sse_on_request() {
        let (rest, health) = handler().await;
        for (accept, content_type) in
            [("application/json", "application/x-ndjson"), ("text/event-stream", "text/event-stream")]
        {
            let request =
                http::Request::get("/v1/health:watch?service=").header("accept", accept).body(Body::empty()).unwrap();
            let response = rest.clone().handle(request).await;
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["content-type"], content_type);
            let mut body = response.into_body();
            let first = next_chunk(&mut body).await;
            // Each update arrives as it happens, not when the stream ends (Watch never ends by itself).
            health.set_service_status("", tonic_health::ServingStatus::NotServing).await;
            let second = next_chunk(&mut body).await;
            health.set_service_status("", tonic_health::ServingStatus::Serving).await;
            if content_type == "text/event-stream" {
                assert_eq!(first, "data: {\"result\":{\"status\":\"SERVING\"}}\n\n");
                assert_eq!(second, "data: {\"result\":{\"status\":\"NOT_SERVING\"}}\n\n");
            } else {
                assert_eq!(first, "{\"result\":{\"status\":\"SERVING\"}}\n");
                assert_eq!(second, "{\"result\":{\"status\":\"NOT_SERVING\"}}\n");
            }
        }
    }

    #[tokio::test]
    async fn a_failing_stream_ends_with_an_error_line_or_event() {
        let grpc =
            tonic::service::Routes::new(tonic_health::pb::health_server::HealthServer::new(Failing)).into_axum_router();
        let rest = handler_for(grpc);
        for (accept, expected) in [
            (
                "*/*",
                "{\"result\":{\"status\":\"SERVING\"}}\n{\"error\":{\"code\":15,\"details\":[],\"message\":\"the watched thing went away\"}}\n",
            ),
            (
                "text/event-stream",
                "data: {\"result\":{\"status\":\"SERVING\"}}\n\nevent: error\ndata: {\"error\":{\"code\":15,\"details\":[],\"message\":\"the watched thing went away\"}}\n\n",
            ),
        ] {
            let request = http::Request::get("/v1/health:watch").header("accept", accept).body(Body::empty()).unwrap();
            let response = rest.clone().handle(request).await;
            assert_eq!(response.status(), 200, "the stream had started");
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(String::from_utf8_lossy(&body), expected);
        }
    }

    #[tokio::test]
    async fn a_bad_streaming_request_is_a_rest_error() {
        let (rest, _health) = handler().await;
        let request = http::Request::get("/v1/health:watch?nope=1").body(Body::empty()).unwrap();
        let response = rest.handle(request).await;
        assert_eq!(response.status(), 400, "unknown query parameter");
    }
}
