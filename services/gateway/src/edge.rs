//! The layer every public request passes, whatever its protocol (gRPC, gRPC-Web, REST):
//!
//! 1. find which RPC it calls (the gRPC path, or the REST route's RPC) and whether that needs a token;
//! 2. verify the bearer token (refusing an `x-tenant-id` that names another tenant), then strip every internal
//!    header a client may have sent and attach the [`RequestContext`] (tenant and user from the token, the
//!    client's well-formed `x-request-id` or a new one, its `traceparent` continued or a new trace);
//! 3. take the request from the rate limits that apply ([`crate::ratelimit`]);
//! 4. refuse in the caller's protocol: a gRPC status for gRPC and gRPC-Web, JSON `google.rpc.Status` for REST;
//! 5. return `x-request-id` on every response and write one access-log line (never a token or a body).

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use futures::future::BoxFuture;
use switchboard_mesh::context::{INTERNAL_KEYS, RequestContext};
use tracing::Instrument;

use switchboard_mesh::inbound::ConnectionInfo;

use crate::authn::JwtAuthenticator;
use crate::ratelimit::{Limiter, Verdict};

/// Which wire protocol a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// gRPC over HTTP/2 (gRPC-Web arrives here already translated by tonic-web).
    Grpc,
    /// REST/JSON.
    Rest,
}

impl Protocol {
    pub(crate) fn of(headers: &http::HeaderMap) -> Self {
        let grpc = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/grpc"));
        if grpc { Self::Grpc } else { Self::Rest }
    }
}

/// Maps a REST request to the RPC it calls (the transcoder's route table).
pub(crate) trait ResolveRoute: Send + Sync + 'static {
    /// The full gRPC path (`/pkg.Service/Method`) of the RPC `method path` is bound to, if any.
    fn rpc_for(&self, method: &http::Method, path: &str) -> Option<String>;
}

/// See the module docs.
#[derive(Clone)]
pub(crate) struct EdgeLayer {
    pub(crate) authenticator: Arc<JwtAuthenticator>,
    pub(crate) routes: Arc<dyn ResolveRoute>,
    pub(crate) limiter: Arc<Limiter>,
    pub(crate) revocations: crate::revocation::Revocations,
    pub(crate) trusted_proxies: Arc<Vec<crate::client_ip::Cidr>>,
}

impl<S> tower_layer::Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Edge { inner, layer: self.clone() }
    }
}

/// The service built by [`EdgeLayer`].
#[derive(Clone)]
pub(crate) struct Edge<S> {
    inner: S,
    layer: EdgeLayer,
}

type Response = http::Response<Body>;

/// Whether `path` has the shape of a gRPC method path (`/package.Service/Method`): the router sends such paths to
/// the gRPC services whatever the content type, so they are authenticated as RPCs whatever the content type.
pub(crate) fn is_grpc_path(path: &str) -> bool {
    let mut segments = path.strip_prefix('/').unwrap_or("").split('/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some(service), Some(method), None) => service.contains('.') && !service.starts_with('.') && !method.is_empty(),
        _ => false,
    }
}

/// Paths served to anyone over plain HTTP: the JWKS and the API description.
fn is_public_document(path: &str) -> bool {
    matches!(path, "/.well-known/jwks.json" | "/openapi.json")
}

fn refuse(protocol: Protocol, status: &tonic::Status) -> Response {
    match protocol {
        Protocol::Grpc => status.clone().into_http(),
        Protocol::Rest => crate::status::rest_response(status),
    }
}

impl<S, B> tower_service::Service<http::Request<B>> for Edge<S>
where
    S: tower_service::Service<http::Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let started = Instant::now();
        let protocol = Protocol::of(request.headers());
        let path = request.uri().path().to_owned();
        let method = request.method().clone();
        let grpc_path = is_grpc_path(&path) && !is_public_document(&path);
        if grpc_path && protocol == Protocol::Rest {
            // A gRPC path with another content type: never route it around authentication.
            let context = RequestContext::from_untrusted_headers(request.headers());
            let status = tonic::Status::invalid_argument(format!("{path} is a gRPC method: send application/grpc"));
            let mut response = with_request_id(refuse(Protocol::Rest, &status), &context);
            *response.status_mut() = http::StatusCode::UNSUPPORTED_MEDIA_TYPE;
            access_log(&context, &method, &path, None, &response, started);
            return Box::pin(std::future::ready(Ok(response)));
        }
        let rpc = match protocol {
            Protocol::Grpc => Some(path.clone()),
            Protocol::Rest => self.layer.routes.rpc_for(&method, &path),
        };

        let auth = match &rpc {
            Some(rpc) => self.layer.authenticator.authenticate(rpc, request.headers()),
            // Unknown routes fall through to a 404; public documents need no token.
            None => Ok(None),
        };
        for key in INTERNAL_KEYS {
            request.headers_mut().remove(key);
        }
        let mut context = RequestContext::from_untrusted_headers(request.headers());
        let caller = match auth {
            Ok(caller) => caller,
            Err(status) => {
                let response = with_request_id(refuse(protocol, &status), &context);
                access_log(&context, &method, &path, rpc.as_deref(), &response, started);
                return Box::pin(std::future::ready(Ok(response)));
            }
        };
        if let Some(caller) = &caller {
            context = context.clone().with_tenant(caller.tenant).with_user(caller.user);
        }
        if rpc.is_none() && protocol == Protocol::Rest && !is_public_document(&path) {
            tracing::debug!(%path, "no route");
        }
        request.extensions_mut().insert(context.clone());
        if let Some(caller) = &caller {
            request.extensions_mut().insert(caller.clone());
        }
        let client = request
            .extensions()
            .get::<ConnectionInfo>()
            .and_then(|c| c.remote_addr)
            .map(|a| crate::client_ip::client_ip(a.ip(), request.headers(), &self.layer.trusted_proxies));
        let limiter = self.layer.limiter.clone();
        let revocations = self.layer.revocations.clone();
        let span = tracing::info_span!(
            "request",
            request_id = %context.request_id(),
            trace_id = %context.trace().trace_id_hex(),
            tenant = context.tenant().map(|t| t.to_string()).unwrap_or_default(),
        );
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(
            async move {
                if let Some(caller) = &caller
                    && revocations.is_revoked(caller).await
                {
                    // The same answer as any other refused token.
                    let status = tonic::Status::unauthenticated("a valid access token is required");
                    let response = with_request_id(refuse(protocol, &status), &context);
                    access_log(&context, &method, &path, rpc.as_deref(), &response, started);
                    return Ok(response);
                }
                let limited_path = rpc.as_deref().unwrap_or(&path);
                let allowance = match limiter.check(protocol, caller.as_ref(), client, limited_path).await {
                    Verdict::Pass(allowance) => allowance,
                    Verdict::Refuse(response) => {
                        let response = with_request_id(response, &context);
                        access_log(&context, &method, &path, rpc.as_deref(), &response, started);
                        return Ok(response);
                    }
                };
                let mut response = with_request_id(inner.call(request).await?, &context);
                if let (Protocol::Rest, Some(allowance)) = (protocol, allowance) {
                    allowance.apply(response.headers_mut());
                }
                access_log(&context, &method, &path, rpc.as_deref(), &response, started);
                Ok(response)
            }
            .instrument(span),
        )
    }
}

fn with_request_id(mut response: Response, context: &RequestContext) -> Response {
    if let Ok(value) = http::HeaderValue::from_str(context.request_id().as_str()) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// One line per request: who, what, outcome, how long. Never a token, password or body.
fn access_log(
    context: &RequestContext,
    method: &http::Method,
    path: &str,
    rpc: Option<&str>,
    response: &Response,
    started: Instant,
) {
    let grpc_status = response.headers().get("grpc-status").and_then(|v| v.to_str().ok()).unwrap_or("");
    tracing::info!(
        target: "access",
        request_id = %context.request_id(),
        tenant = context.tenant().map(|t| t.to_string()).unwrap_or_default(),
        method = %method,
        path,
        rpc = rpc.unwrap_or(""),
        status = response.status().as_u16(),
        grpc_status,
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
}
