//! REST/JSON on the public port. A request is matched against the route table built from the contracts'
//! `google.api.http` rules, transcoded to the RPC's request message, and sent in-process through the same gRPC
//! routes a gRPC client reaches — so authentication context, forwarding to the backend over mTLS and error
//! handling are exactly the gRPC path's. The reply is rendered as proto3 JSON, or as a `google.rpc.Status` JSON
//! error with the canonical HTTP status.
//!
//! A route whose body binds to a `google.api.HttpBody` (the provider webhooks, `POST /v1/webhooks/{provider}`)
//! takes the body as raw bytes, never parsed, and may take the request's headers too
//! ([`switchboard_transcode::http_body`]): those the client sent, less credentials, hop-by-hop headers and the
//! internal metadata the edge stripped already.
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
use switchboard_mesh::server::MAX_MESSAGE_BYTES;
use tower::ServiceExt;

use crate::authn::Caller;
use crate::edge::{Protocol, ResolvedRoute};
use crate::grpc_frame::{self, Decoder};
use crate::respond::{EdgeError, respond};

/// REST requests transcoded at once. Decoding JSON into a message costs a multiple of the body's size, so the
/// number in flight is bounded; the rest wait briefly, then get 503. Bodies are read (by the edge) before a slot is
/// taken, so a slow sender never holds one.
const CONCURRENT_TRANSCODES: usize = 64;
/// How long a REST request waits for a transcoding slot.
const TRANSCODE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
/// A unary REST call gets this long end to end (a REST client has no grpc-timeout to send).
const UNARY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// Serves REST requests by calling `grpc` (the gateway's gRPC routes) in-process.
#[derive(Clone)]
pub(crate) struct RestHandler {
    pub(crate) grpc: axum::Router,
}

fn json_response(status: http::StatusCode, body: Vec<u8>) -> http::Response<Body> {
    let mut response = http::Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

/// A gRPC status in `headers` (trailers-only responses, or the trailers themselves), if not OK.
fn failure_in(headers: &http::HeaderMap) -> Option<tonic::Status> {
    tonic::Status::from_header_map(headers).filter(|s| s.code() != tonic::Code::Ok)
}

fn refuse(error: EdgeError) -> http::Response<Body> {
    respond(Protocol::Rest, &error)
}

impl RestHandler {
    pub(crate) async fn handle(self, request: http::Request<Body>) -> http::Response<Body> {
        let (parts, body) = request.into_parts();
        let Some(ResolvedRoute { route, bindings }) = parts.extensions.get::<ResolvedRoute>().cloned() else {
            // The edge resolves every REST request it lets through; anything else has no route.
            if Protocol::of(&parts.headers) == Protocol::Grpc {
                return respond(Protocol::Grpc, &EdgeError::NotPublic { path: parts.uri.path().to_owned() });
            }
            return refuse(EdgeError::NoRoute { method: parts.method, path: parts.uri.path().to_owned() });
        };
        if route.method.is_client_streaming() {
            return refuse(EdgeError::Status(tonic::Status::unimplemented(format!(
                "{} takes a client stream, which REST cannot express: use gRPC or gRPC-Web",
                route.rpc_path
            ))));
        }
        let sse = parts
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/event-stream"));
        // The edge has read the body whole already (within the route's limit); this only takes it.
        let body = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return refuse(EdgeError::BadRequest("the request body broke off".into())),
        };
        static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CONCURRENT_TRANSCODES);
        let message = {
            let Ok(Ok(_slot)) = tokio::time::timeout(TRANSCODE_WAIT, SLOTS.acquire()).await else {
                return refuse(EdgeError::Busy("the gateway is busy: retry shortly"));
            };
            match switchboard_transcode::request(&route, &bindings, parts.uri.query(), &parts.headers, &body) {
                Ok(message) => message,
                Err(e) => return refuse(EdgeError::BadRequest(e.to_string())),
            }
        };

        let mut call = http::Request::new(Body::from(grpc_frame::encode(&message)));
        *call.method_mut() = http::Method::POST;
        *call.uri_mut() = match route.rpc_path.parse() {
            Ok(uri) => uri,
            Err(_) => return refuse(EdgeError::Internal("bad route")),
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
        let response = if is_streaming {
            let Ok(response) = self.grpc.oneshot(call).await;
            response
        } else {
            match tokio::time::timeout_at(deadline, self.grpc.oneshot(call)).await {
                Ok(Ok(response)) => response,
                Err(_) => return refuse(EdgeError::Timeout),
            }
        };
        let (head, body) = response.into_parts();
        if let Some(status) = failure_in(&head.headers) {
            return refuse(EdgeError::Status(status));
        }
        if is_streaming {
            return stream_response(route, body, sse);
        }
        let limit = MAX_MESSAGE_BYTES + grpc_frame::HEADER_BYTES;
        let collected =
            match tokio::time::timeout_at(deadline, http_body_util::Limited::new(body, limit).collect()).await {
                Err(_) => return refuse(EdgeError::Timeout),
                Ok(Ok(collected)) => collected,
                Ok(Err(e)) => {
                    tracing::warn!(rpc = %route.rpc_path, error = %e, "backend response failed or was too large");
                    return refuse(EdgeError::Status(tonic::Status::unavailable("the call failed; retry shortly")));
                }
            };
        if let Some(status) = collected.trailers().and_then(failure_in) {
            return refuse(EdgeError::Status(status));
        }
        let mut decoder = Decoder::new(MAX_MESSAGE_BYTES);
        decoder.push(&collected.to_bytes());
        let message = match decoder.next() {
            Ok(Some(message)) => message,
            Ok(None) => return refuse(EdgeError::Internal("the service returned no message")),
            Err(e) => {
                tracing::error!(rpc = %route.rpc_path, error = %e, "malformed response");
                return refuse(EdgeError::Internal("the service returned a malformed message"));
            }
        };
        match switchboard_transcode::json::response_bytes(&route, &message) {
            Ok(json) => json_response(http::StatusCode::OK, json),
            Err(e) => {
                tracing::error!(rpc = %route.rpc_path, error = %e, "cannot render a response");
                refuse(EdgeError::Internal("internal error rendering the response"))
            }
        }
    }
}

/// Where a streamed REST response stands.
struct StreamState {
    route: Arc<switchboard_transcode::Route>,
    body: Body,
    decoder: Decoder,
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

fn render_error(sse: bool, error: &EdgeError) -> bytes::Bytes {
    render(sse, "error", &crate::respond::status_json(error))
}

/// Translates a gRPC response stream into NDJSON or SSE, one message at a time.
fn stream_response(route: Arc<switchboard_transcode::Route>, body: Body, sse: bool) -> http::Response<Body> {
    let state = StreamState { route, body, decoder: Decoder::new(MAX_MESSAGE_BYTES), sse, done: false };
    let stream = futures::stream::unfold(state, |mut st| async move {
        loop {
            if st.done {
                return None;
            }
            match st.decoder.next() {
                Err(e) => {
                    st.done = true;
                    tracing::error!(rpc = %st.route.rpc_path, error = %e, "malformed stream");
                    let error = EdgeError::Internal("the service sent a compressed or oversized message");
                    return Some((Ok(render_error(st.sse, &error)), st));
                }
                Ok(Some(message)) => {
                    let chunk = match switchboard_transcode::json::response(&st.route, &message) {
                        Ok(json) => render(st.sse, "result", &json),
                        Err(e) => {
                            tracing::error!(rpc = %st.route.rpc_path, error = %e, "cannot render a streamed message");
                            st.done = true;
                            render_error(st.sse, &EdgeError::Internal("internal error rendering the stream"))
                        }
                    };
                    return Some((Ok::<_, std::convert::Infallible>(chunk), st));
                }
                Ok(None) => {}
            }
            match st.body.frame().await {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => st.decoder.push(&data),
                    Err(frame) => {
                        st.done = true;
                        if let Some(status) = frame.trailers_ref().and_then(failure_in) {
                            return Some((Ok(render_error(st.sse, &EdgeError::Status(status))), st));
                        }
                    }
                },
                Some(Err(e)) => {
                    st.done = true;
                    tracing::warn!(rpc = %st.route.rpc_path, error = %e, "stream broke");
                    let error = EdgeError::Status(tonic::Status::unavailable("the stream broke; retry"));
                    return Some((Ok(render_error(st.sse, &error)), st));
                }
                None if st.decoder.has_partial() => {
                    st.done = true;
                    let error =
                        EdgeError::Status(tonic::Status::unavailable("the stream ended inside a message; retry"));
                    return Some((Ok(render_error(st.sse, &error)), st));
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
    use switchboard_transcode::{BodyRule, Route, RouteTable};

    /// The handler with a REST route to `grpc.health.v1.Health/Watch` on `grpc` (the one server-streaming RPC
    /// every server has), resolving each request's route as the edge would.
    struct Handler {
        rest: RestHandler,
        table: RouteTable,
    }

    impl Handler {
        async fn handle(&self, mut request: http::Request<Body>) -> http::Response<Body> {
            if let Some((route, bindings)) = self.table.resolve(request.method(), request.uri().path()) {
                request.extensions_mut().insert(ResolvedRoute { route, bindings });
            }
            self.rest.clone().handle(request).await
        }
    }

    fn handler_for(grpc: axum::Router) -> Handler {
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
            response_json: None,
        };
        Handler { rest: RestHandler { grpc }, table: RouteTable::with_routes(pool, vec![route]) }
    }

    async fn handler() -> (Handler, tonic_health::server::HealthReporter) {
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
            let response = rest.handle(request).await;
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
            let response = rest.handle(request).await;
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
