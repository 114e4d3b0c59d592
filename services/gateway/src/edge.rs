//! The layer every public request passes, whatever its protocol (gRPC, gRPC-Web, REST), in this order:
//!
//! 1. find what it calls, once: the gRPC path, or the REST route (handed on to the REST handler as a
//!    [`ResolvedRoute`]); and that RPC's access rule from the contracts. RPCs the public port does not offer are
//!    refused here, whoever asks.
//! 2. who calls: no one for anonymous RPCs (a token sent anyway is not checked, and never travels on), else the
//!    bearer token's user (refusing an `x-tenant-id` that names another tenant), whose role must include the RPC's
//!    `min_role`. Then every internal header a client may have sent is stripped and the [`RequestContext`]
//!    attached (tenant, user and role from the token, the client's well-formed `x-request-id` or a new one, its
//!    `traceparent` continued or a new trace).
//! 3. revoked sessions, then the rate limits that apply ([`crate::ratelimit`]);
//! 4. the request body: read whole, within the RPC's size limit and [`crate::body`]'s time and memory rules, for
//!    REST and for gRPC calls with one request message (whose frame is checked against the limit); a
//!    client-streaming gRPC body streams on, each frame checked as it passes ([`crate::grpc_frame`]);
//! 5. the call; an anonymous caller's stream ends after [`EdgeLayer::anonymous_stream_lifetime`];
//! 6. every refusal in the caller's protocol ([`crate::respond`]), `x-request-id` on every response, and one
//!    access-log line per request (never a token or a body).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use futures::future::BoxFuture;
use switchboard_mesh::access::AccessTable;
use switchboard_mesh::context::{INTERNAL_HEADERS, REQUEST_ID_HEADER, RequestContext};
use switchboard_mesh::inbound::ConnectionInfo;
use switchboard_transcode::{Route, RouteTable};
use switchboard_types::Role;
use tracing::Instrument;

use crate::authn::{Caller, INVALID_TOKEN, JwtAuthenticator};
use crate::body::Budget;
use crate::ratelimit::{Limiter, Verdict};
use crate::respond::{EdgeError, respond};
use crate::revocation::Standing;

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

/// Marks a request that arrived as gRPC-Web (before tonic-web translated it), for the metrics.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GrpcWeb;

/// The REST route a request matched, found once by the edge and used by the REST handler.
#[derive(Clone, Debug)]
pub(crate) struct ResolvedRoute {
    pub(crate) route: Arc<Route>,
    pub(crate) bindings: switchboard_transcode::routes::Bindings,
}

/// See the module docs.
#[derive(Clone)]
pub(crate) struct EdgeLayer {
    pub(crate) authenticator: Arc<JwtAuthenticator>,
    /// The REST routes of the RPCs the public port offers.
    pub(crate) routes: Arc<RouteTable>,
    pub(crate) access: Arc<AccessTable>,
    pub(crate) limiter: Arc<Limiter>,
    pub(crate) revocations: crate::revocation::Revocations,
    pub(crate) trusted_proxies: Arc<Vec<crate::client_ip::Cidr>>,
    pub(crate) budget: Budget,
    /// How long a stream answered to a caller without a token (a health Watch) may stay open.
    pub(crate) anonymous_stream_lifetime: Duration,
    pub(crate) metrics: switchboard_telemetry::Metrics,
    /// Whether the web console's files are served (see `crate::console`): its paths are then public documents.
    pub(crate) console: bool,
    /// The `WWW-Authenticate` of a 401 from `/mcp`, naming its protected-resource metadata.
    pub(crate) mcp_challenge: Option<http::HeaderValue>,
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

/// Paths served to anyone over plain HTTP: the JWKS, the API description and the MCP endpoint's resource metadata.
fn is_public_document(path: &str) -> bool {
    matches!(path, "/.well-known/jwks.json" | "/openapi.json") || crate::mcp::METADATA_PATHS.contains(&path)
}

/// What the public port demands of a call to one RPC.
#[derive(Debug, Clone, Copy)]
struct Rule {
    /// No token needed.
    anonymous: bool,
    /// The least role, when a token is needed.
    min_role: Role,
    /// Largest request message or body.
    max_request_bytes: usize,
    /// The client sends exactly one message (so the edge reads it whole first).
    single_message: bool,
}

/// Health probes: anonymous, tiny.
const HEALTH: Rule = Rule { anonymous: true, min_role: Role::Viewer, max_request_bytes: 1024, single_message: true };
/// The MCP endpoint: any signed-in user (each tool's own RPC checks more); one JSON-RPC message per POST.
const MCP: Rule = Rule {
    anonymous: false,
    min_role: Role::Viewer,
    max_request_bytes: switchboard_mcp::MAX_REQUEST_BYTES,
    single_message: true,
};
/// Reflection (grpcurl): any signed-in user; a bidirectional stream of small requests.
const REFLECTION: Rule =
    Rule { anonymous: false, min_role: Role::Viewer, max_request_bytes: 16 * 1024, single_message: false };

impl EdgeLayer {
    /// The rule for the RPC at `path`, or why the public port does not offer it.
    fn rule(&self, path: &str) -> Result<Rule, EdgeError> {
        if path.starts_with("/grpc.health.v1.Health/") {
            return Ok(HEALTH);
        }
        if path == crate::mcp::PATH {
            return Ok(MCP);
        }
        if path.starts_with("/grpc.reflection.v1.ServerReflection/")
            || path.starts_with("/grpc.reflection.v1alpha.ServerReflection/")
        {
            return Ok(REFLECTION);
        }
        match self.access.get(path).filter(|a| a.is_public()) {
            Some(access) => Ok(Rule {
                anonymous: access.anonymous,
                min_role: access.min_role.unwrap_or(Role::Viewer),
                max_request_bytes: access.max_request_bytes,
                single_message: !access.client_streaming,
            }),
            None => Err(EdgeError::NotPublic { path: path.to_owned() }),
        }
    }
}

/// Everything decided before the request's async work starts.
struct Admitted {
    context: RequestContext,
    caller: Option<Caller>,
    rpc: String,
    rule: Rule,
}

impl<S> Edge<S> {
    /// Steps 1 and 2 of the module docs, for a request that names an RPC.
    fn admit(&self, protocol: Protocol, request: &mut http::Request<Body>) -> Result<Admitted, EdgeError> {
        let path = request.uri().path();
        let rpc = match protocol {
            _ if path == crate::mcp::PATH => path.to_owned(),
            Protocol::Grpc => path.to_owned(),
            Protocol::Rest => {
                let method = request.method().clone();
                let Some((route, bindings)) = self.layer.routes.resolve(&method, path) else {
                    return Err(EdgeError::NoRoute { method, path: path.to_owned() });
                };
                let rpc = route.rpc_path.clone();
                request.extensions_mut().insert(ResolvedRoute { route, bindings });
                rpc
            }
        };
        let rule = self.layer.rule(&rpc)?;
        let caller = if rule.anonymous {
            None
        } else {
            let caller = self.layer.authenticator.authenticate(&rpc, request.headers())?;
            if !caller.role.includes(rule.min_role) {
                return Err(EdgeError::Forbidden(format!(
                    "{rpc} needs the {} role or more; you are {} {}",
                    rule.min_role,
                    if caller.role == Role::Admin || caller.role == Role::Owner { "an" } else { "a" },
                    caller.role
                )));
            }
            Some(caller)
        };
        Ok(Admitted { context: RequestContext::from_untrusted_headers(request.headers()), caller, rpc, rule })
    }
}

fn declared_len(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

impl<S> tower_service::Service<http::Request<Body>> for Edge<S>
where
    S: tower_service::Service<http::Request<Body>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let started = Instant::now();
        let protocol = Protocol::of(request.headers());
        let label = match (protocol, request.extensions().get::<GrpcWeb>()) {
            (Protocol::Rest, _) => "rest",
            (Protocol::Grpc, Some(_)) => "grpc-web",
            (Protocol::Grpc, None) => "grpc",
        };
        let metrics = self.layer.metrics.clone();
        let challenge = self.layer.mcp_challenge.clone().filter(|_| request.uri().path() == crate::mcp::PATH);
        let refuse = |request: &http::Request<Body>, error: EdgeError| {
            let context = RequestContext::from_untrusted_headers(request.headers());
            let response = with_request_id(with_challenge(respond(protocol, &error), challenge.as_ref()), &context);
            access_log(&context, request.method(), request.uri().path(), None, &response, started);
            record(&metrics, None, label, &response, started);
            Box::pin(std::future::ready(Ok(response))) as Self::Future
        };
        let console = self.layer.console && crate::console::is_console_request(request.method(), request.uri().path());
        let document = console || is_public_document(request.uri().path());
        if is_grpc_path(request.uri().path()) && !document && protocol == Protocol::Rest {
            // A gRPC path with another content type: never route it around authentication.
            let error = EdgeError::NotGrpc { path: request.uri().path().to_owned() };
            return refuse(&request, error);
        }
        let admitted = if document { None } else { Some(self.admit(protocol, &mut request)) };
        for name in INTERNAL_HEADERS {
            request.headers_mut().remove(name);
        }
        let (mut context, caller, rpc, rule) = match admitted {
            None => (RequestContext::from_untrusted_headers(request.headers()), None, None, None),
            Some(Err(error)) => return refuse(&request, error),
            Some(Ok(Admitted { context, caller, rpc, rule })) => (context, caller, Some(rpc), Some(rule)),
        };
        if let Some(caller) = &caller {
            context = context.with_tenant(caller.tenant).with_user(caller.user).with_role(caller.role);
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
        let layer = self.layer.clone();
        let span = tracing::info_span!(
            "request",
            otel.name = rpc.as_deref().unwrap_or("document"),
            service.name = "switchboard-gateway",
            request_id = %context.request_id(),
            trace_id = %context.trace().trace_id_hex(),
            tenant = context.tenant().map(|t| t.to_string()).unwrap_or_default(),
        );
        switchboard_mesh::context::continue_trace(&span, &context);
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (method, path) = (request.method().clone(), request.uri().path().to_owned());
        Box::pin(
            async move {
                let finish = |response: Response| {
                    let response = with_request_id(response, &context);
                    access_log(&context, &method, &path, rpc.as_deref(), &response, started);
                    record(&layer.metrics, rpc.as_deref(), label, &response, started);
                    response
                };
                let refused = |error: EdgeError| finish(with_challenge(respond(protocol, &error), challenge.as_ref()));
                if let Some(caller) = &caller {
                    match layer.revocations.standing(caller).await {
                        Standing::Valid => {}
                        // The same answer as any other refused token.
                        Standing::Revoked => return Ok(refused(EdgeError::Unauthenticated(INVALID_TOKEN))),
                        Standing::Unknown => {
                            return Ok(refused(EdgeError::Busy("cannot check the session now: retry shortly")));
                        }
                    }
                }
                let limited_path = match (&rpc, console) {
                    (Some(rpc), _) => rpc.as_str(),
                    (None, true) => crate::ratelimit::CONSOLE_FILES,
                    (None, false) => &path,
                };
                // The MCP server's own calls were counted once, as the `/mcp` request that made them.
                let in_process = request.extensions().get::<crate::mcp::InProcess>().is_some();
                let verdict = if in_process {
                    Verdict::Pass(None)
                } else {
                    layer.limiter.check(caller.as_ref(), client, limited_path).await
                };
                let allowance = match verdict {
                    Verdict::Pass(allowance) => allowance,
                    Verdict::Refuse { error, headers } => {
                        let mut response = respond(protocol, &error);
                        if let Some(headers) = headers {
                            headers.apply(response.headers_mut());
                        }
                        return Ok(finish(response));
                    }
                };

                // The body, before any scarcer resource is taken for this request.
                let mut held = None;
                let mut violation = None;
                if let Some(rule) = rule {
                    let (parts, body) = request.into_parts();
                    let body = if protocol == Protocol::Rest || rule.single_message {
                        let framing = if protocol == Protocol::Grpc { crate::grpc_frame::HEADER_BYTES } else { 0 };
                        let limit = rule.max_request_bytes + framing;
                        let copies = if protocol == Protocol::Rest {
                            crate::body::Copies::TRANSCODED
                        } else {
                            crate::body::Copies::FORWARDED
                        };
                        let read =
                            match crate::body::read(body, declared_len(&parts.headers), limit, &layer.budget, copies)
                                .await
                            {
                                Ok(read) => read,
                                Err(EdgeError::BodyTooLarge { .. }) if protocol == Protocol::Grpc => {
                                    return Ok(refused(EdgeError::MessageTooLarge { limit: rule.max_request_bytes }));
                                }
                                Err(error) => return Ok(refused(error)),
                            };
                        if protocol == Protocol::Grpc {
                            match crate::grpc_frame::check_all(&read.bytes, rule.max_request_bytes) {
                                Ok(()) => {}
                                Err(crate::grpc_frame::FrameError::TooLarge { limit, .. }) => {
                                    return Ok(refused(EdgeError::MessageTooLarge { limit }));
                                }
                                Err(e) => return Ok(refused(EdgeError::BadRequest(e.to_string()))),
                            }
                        }
                        let body = Body::from(read.bytes.clone());
                        held = Some(read);
                        body
                    } else {
                        let (limited, seen) = crate::grpc_frame::LimitedFrames::new(body, rule.max_request_bytes);
                        violation = Some(seen);
                        Body::new(limited)
                    };
                    request = http::Request::from_parts(parts, body);
                }

                let response = inner.call(request).await?;
                drop(held);
                if let Some(crate::grpc_frame::FrameError::TooLarge { limit, .. }) =
                    violation.as_ref().and_then(|v| v.get())
                {
                    return Ok(refused(EdgeError::MessageTooLarge { limit: *limit }));
                }
                let mut response = if caller.is_none() && rule.is_some() && protocol == Protocol::Grpc {
                    response.map(|body| Body::new(Lifetime::new(body, layer.anonymous_stream_lifetime)))
                } else {
                    response
                };
                if let (Protocol::Rest, Some(allowance)) = (protocol, allowance) {
                    allowance.apply(response.headers_mut());
                }
                Ok(finish(response))
            }
            .instrument(span),
        )
    }
}

/// A response stream that ends, with DEADLINE_EXCEEDED in its trailers, once `lifetime` has passed: anonymous
/// callers cannot hold a stream (and with it a connection, which counts as busy) forever.
struct Lifetime {
    body: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    lifetime: Duration,
    ended: bool,
}

impl Lifetime {
    fn new(body: Body, lifetime: Duration) -> Self {
        Self { body, deadline: Box::pin(tokio::time::sleep(lifetime)), lifetime, ended: false }
    }
}

impl http_body::Body for Lifetime {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.ended = true;
            let status = EdgeError::StreamExpired { seconds: self.lifetime.as_secs() }.to_status();
            let mut trailers = http::HeaderMap::new();
            if status.add_header(&mut trailers).is_ok() {
                return Poll::Ready(Some(Ok(http_body::Frame::trailers(trailers))));
            }
            return Poll::Ready(None);
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.body.is_end_stream()
    }
}

/// Counts and times a request by RPC (`-` for public documents and requests that named none) and protocol; the
/// status is the gRPC code for gRPC callers, the HTTP status for REST.
fn record(
    metrics: &switchboard_telemetry::Metrics,
    rpc: Option<&str>,
    protocol: &str,
    response: &Response,
    started: Instant,
) {
    let status = match protocol {
        "rest" => response.status().as_u16().to_string(),
        _ => response.headers().get("grpc-status").and_then(|v| v.to_str().ok()).unwrap_or("0").to_owned(),
    };
    metrics.record_rpc("gateway", rpc.unwrap_or("-"), protocol, &status, started.elapsed());
}

fn with_request_id(mut response: Response, context: &RequestContext) -> Response {
    if let Ok(value) = http::HeaderValue::from_str(context.request_id().as_str()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
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
        target: switchboard_telemetry::ACCESS_TARGET,
        request_id = %context.request_id(),
        trace_id = %context.trace().trace_id_hex(),
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

/// A 401 from `/mcp` names the protected-resource metadata, so that an MCP client can find where to sign in.
fn with_challenge(mut response: Response, challenge: Option<&http::HeaderValue>) -> Response {
    if let Some(challenge) = challenge
        && response.status() == http::StatusCode::UNAUTHORIZED
    {
        response.headers_mut().insert(http::header::WWW_AUTHENTICATE, challenge.clone());
    }
    response
}
