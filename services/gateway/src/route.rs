//! Forwarding public calls to the services behind the gateway, over mTLS, by service name.
//!
//! Which methods are public comes from the contracts: an RPC with a `google.api.http` rule is meant for browsers
//! and API clients; one without (such as `AuditService/AppendEvents`) is internal and is refused here. Requests
//! and responses stream through unbuffered; on the way in, the client's `authorization` header and any internal
//! metadata are replaced by the context the gateway established (tenant and user from the verified token, request
//! id, trace context).

use std::collections::HashSet;
use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use prost_reflect::DescriptorPool;
use switchboard_mesh::context::RequestContext;
use tonic::server::NamedService;
use tonic::transport::Channel;
use tower::ServiceExt;

/// Full paths (`/pkg.Service/Method`) of every RPC that carries a `google.api.http` rule.
pub(crate) fn public_methods(descriptor_set: &[u8]) -> Result<HashSet<String>, String> {
    let pool = DescriptorPool::decode(descriptor_set).map_err(|e| format!("descriptor set: {e}"))?;
    let http = pool
        .get_extension_by_name("google.api.http")
        .ok_or("descriptor set lacks google.api.http (google/api/annotations.proto)")?;
    let mut public = HashSet::new();
    for service in pool.services() {
        for method in service.methods() {
            if method.options().has_extension(&http) {
                public.insert(format!("/{}/{}", service.full_name(), method.name()));
            }
        }
    }
    Ok(public)
}

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
pub(crate) struct Forward<C> {
    channel: Channel,
    public: Arc<HashSet<String>>,
    _contract: PhantomData<fn() -> C>,
}

impl<C> Forward<C> {
    pub(crate) fn new(channel: Channel, public: Arc<HashSet<String>>) -> Self {
        Self { channel, public, _contract: PhantomData }
    }
}

impl<C> Clone for Forward<C> {
    fn clone(&self) -> Self {
        Self::new(self.channel.clone(), self.public.clone())
    }
}

impl<C: BackendContract> NamedService for Forward<C> {
    const NAME: &'static str = C::NAME;
}

type Response = http::Response<tonic::body::Body>;

/// Client headers forwarded to a backend; the gateway adds the context (tenant, user, request id, trace) itself.
const FORWARDED_HEADERS: &[&str] =
    &["content-type", "te", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "user-agent"];

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
        if !self.public.contains(&path) {
            let status =
                tonic::Status::unimplemented(format!("{path} is internal: it is not offered on the public API"));
            return Box::pin(std::future::ready(Ok(status.into_http())));
        }
        let Some(context) = request.extensions().get::<RequestContext>().cloned() else {
            let status = tonic::Status::internal("internal error: request context missing");
            return Box::pin(std::future::ready(Ok(status.into_http())));
        };
        if context.tenant().is_none() {
            // Every public backend RPC acts for a tenant; a request without one did not pass authentication.
            let status = tonic::Status::unauthenticated("a valid access token is required");
            return Box::pin(std::future::ready(Ok(status.into_http())));
        }
        let (mut parts, body) = request.into_parts();
        // Only the headers gRPC itself needs travel on; everything else a client sent stays at the edge.
        let mut kept = http::HeaderMap::new();
        for name in FORWARDED_HEADERS {
            for value in parts.headers.get_all(*name) {
                kept.append(*name, value.clone());
            }
        }
        let mut metadata = tonic::metadata::MetadataMap::from_headers(kept);
        context.inject(&mut metadata);
        parts.headers = metadata.into_headers();
        // Nothing of this connection's state (peer info, our context) travels to the backend's connection.
        parts.extensions = http::Extensions::new();
        let forwarded = http::Request::from_parts(parts, tonic::body::Body::new(body));
        let channel = self.channel.clone();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_table_comes_from_the_http_annotations() {
        let public = public_methods(switchboard_proto::FILE_DESCRIPTOR_SET).unwrap();
        assert!(public.contains("/switchboard.audit.v1.AuditService/ListEvents"));
        assert!(public.contains("/switchboard.auth.v1.AuthService/Login"));
        assert!(!public.contains("/switchboard.audit.v1.AuditService/AppendEvents"), "internal-only RPC");
    }
}
