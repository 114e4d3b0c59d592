//! Forwarding public calls to the services behind the gateway, over mTLS, by service name.
//!
//! Which methods are public, and who may call them, is the edge's decision (from the contracts' access rules);
//! by the time a call gets here it is allowed. Requests and responses stream through unbuffered; on the way in,
//! the client's `authorization` header and any internal metadata are replaced by the context the gateway
//! established (tenant, user and role from the verified token, request id, trace context), which the service's
//! own inbound layer checks again against the same rules.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use switchboard_mesh::access::AccessTable;
use switchboard_mesh::context::RequestContext;
use tonic::server::NamedService;
use tonic::transport::Channel;
use tower::ServiceExt;

use crate::respond::EdgeError;

/// A service behind the gateway.
pub(crate) trait BackendContract: Send + Sync + 'static {
    /// Its fully qualified name.
    const NAME: &'static str;
}

pub(crate) struct AuditContract;
impl BackendContract for AuditContract {
    const NAME: &'static str = "switchboard.audit.v1.AuditService";
}

pub(crate) struct ConnectorsContract;
impl BackendContract for ConnectorsContract {
    const NAME: &'static str = "switchboard.connectors.v1.ConnectorService";
}

pub(crate) struct OrchestratorContract;
impl BackendContract for OrchestratorContract {
    const NAME: &'static str = "switchboard.orchestrator.v1.OrchestratorService";
}

/// Forwards calls to one backend contract.
/// Connections to one backend, each call taking the next in turn. A tonic channel is one HTTP/2 connection driven
/// by one task; with every public call of the replica funnelled through it, that task and the connection's stream
/// lock bound throughput, so the hop spreads calls over a few.
#[derive(Clone)]
pub(crate) struct Backend {
    channels: Arc<[Channel]>,
    next: Arc<std::sync::atomic::AtomicUsize>,
}

/// HTTP/2 connections from the gateway to each backend.
pub(crate) const CONNECTIONS_PER_BACKEND: usize = 4;

impl Backend {
    /// `connections` lazily connecting channels, from `connect`.
    pub(crate) fn new<E>(connections: usize, connect: impl Fn() -> Result<Channel, E>) -> Result<Self, E> {
        let channels = (0..connections.max(1)).map(|_| connect()).collect::<Result<Vec<_>, E>>()?;
        Ok(Self { channels: channels.into(), next: Arc::default() })
    }

    fn pick(&self) -> Channel {
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.channels.len();
        self.channels[i].clone()
    }
}

pub(crate) struct Forward<C> {
    backend: Backend,
    access: Arc<AccessTable>,
    _contract: PhantomData<fn() -> C>,
}

impl<C> Forward<C> {
    pub(crate) fn new(backend: Backend, access: Arc<AccessTable>) -> Self {
        Self { backend, access, _contract: PhantomData }
    }
}

impl<C> Clone for Forward<C> {
    fn clone(&self) -> Self {
        Self::new(self.backend.clone(), self.access.clone())
    }
}

impl<C: BackendContract> NamedService for Forward<C> {
    const NAME: &'static str = C::NAME;
}

type Response = http::Response<tonic::body::Body>;

/// Client headers forwarded to a backend; the gateway adds the context (tenant, user, request id, trace) itself.
const FORWARDED_HEADERS: [http::HeaderName; 6] = [
    http::header::CONTENT_TYPE,
    http::header::TE,
    http::HeaderName::from_static("grpc-timeout"),
    http::HeaderName::from_static("grpc-encoding"),
    http::HeaderName::from_static("grpc-accept-encoding"),
    http::header::USER_AGENT,
];

impl<C, B> tower_service::Service<http::Request<B>> for Forward<C>
where
    C: BackendContract,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let refuse =
            |error: EdgeError| -> Self::Future { Box::pin(std::future::ready(Ok(error.to_status().into_http()))) };
        let Some(context) = request.extensions().get::<RequestContext>().cloned() else {
            return refuse(EdgeError::Internal("internal error: request context missing"));
        };
        if context.tenant().is_none() && !self.access.is_anonymous(&path) {
            // Every other backend RPC acts for a tenant; a request without one did not pass authentication.
            return refuse(EdgeError::Unauthenticated(crate::authn::INVALID_TOKEN));
        }
        let (mut parts, body) = request.into_parts();
        // Only the headers gRPC itself needs travel on; everything else a client sent stays at the edge.
        let mut kept = http::HeaderMap::with_capacity(FORWARDED_HEADERS.len() + 5);
        for name in FORWARDED_HEADERS {
            for value in parts.headers.get_all(&name) {
                kept.append(name.clone(), value.clone());
            }
        }
        context.inject_headers(&mut kept);
        parts.headers = kept;
        // Nothing of this connection's state (peer info, our context) travels to the backend's connection.
        parts.extensions = http::Extensions::new();
        let forwarded = http::Request::from_parts(parts, tonic::body::Body::new(body));
        let channel = self.backend.pick();
        Box::pin(async move {
            match channel.oneshot(forwarded).await {
                Ok(response) => Ok(response),
                Err(e) => {
                    tracing::warn!(rpc = %path, error = %e, "backend unreachable");
                    Ok(tonic::Status::unavailable(format!("{} is unavailable; retry shortly", C::NAME)).into_http())
                }
            }
        })
    }
}
