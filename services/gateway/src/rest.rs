//! REST/JSON on the public port. A request is matched against the route table built from the contracts'
//! `google.api.http` rules, transcoded to the RPC's request message, and sent in-process through the same gRPC
//! routes a gRPC client reaches — so authentication context, forwarding to the backend over mTLS and error
//! handling are exactly the gRPC path's. The reply is rendered as proto3 JSON, or as a `google.rpc.Status` JSON
//! error with the canonical HTTP status.
//!
//! Not built yet: server-streaming RPCs over REST (NDJSON / Server-Sent Events) answer 501.

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
        if route.method.is_server_streaming() || route.method.is_client_streaming() {
            return rest_response(&tonic::Status::unimplemented(format!(
                "{} streams; over REST that is not available yet: use gRPC or gRPC-Web",
                route.rpc_path
            )));
        }
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

        let Ok(response) = self.grpc.oneshot(call).await;
        let (head, body) = response.into_parts();
        if let Some(status) = status_in(&head.headers).filter(|s| s.code() != tonic::Code::Ok) {
            return rest_response(&status);
        }
        let collected = match body.collect().await {
            Ok(collected) => collected,
            Err(e) => return rest_response(&tonic::Status::unavailable(format!("the call failed: {e}"))),
        };
        if let Some(status) = collected.trailers().and_then(status_in).filter(|s| s.code() != tonic::Code::Ok) {
            return rest_response(&status);
        }
        let bytes = collected.to_bytes();
        if bytes.len() < 5 || bytes[0] != 0 {
            return rest_response(&tonic::Status::internal("the service returned no message"));
        }
        let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
        let Some(message) = bytes.get(5..5 + len) else {
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
