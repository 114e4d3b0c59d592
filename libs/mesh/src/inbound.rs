//! The inbound layer in front of every service: decides whether the caller may call this method at all, and turns
//! inbound metadata into the [`RequestContext`] handlers read (see [`RequestContext::of`]).
//!
//! On an internal (mTLS) listener the caller is the identity in its client certificate. Health checks and
//! reflection are open to any peer with a certificate from the mesh CA. Every other method follows its access rule
//! from the contracts ([`crate::access`]): the peer must be one of the method's `mesh_callers`, and when the method
//! has a `min_role`, a call acting for a user must carry that role or a greater one in `x-user-role` (operators,
//! who act for no user, are not asked for one). Anything else is PERMISSION_DENIED before a handler runs. On the
//! public listener there is no peer identity: internal metadata (`x-tenant-id`, `x-user-id`, `x-user-role`) from
//! clients is stripped before anything reads it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument;

use crate::Identity;
use crate::access::AccessTable;
use crate::context::{INTERNAL_HEADERS, RequestContext};
use switchboard_telemetry::Metrics;

/// What the accept loop learned about a connection; tonic puts it in every request's extensions.
#[derive(Clone, Debug)]
pub struct ConnectionInfo {
    /// The TCP peer.
    pub remote_addr: Option<SocketAddr>,
    /// The verified mesh identity (URI SAN of the client certificate), on internal listeners.
    pub peer: Option<Identity>,
}

/// Who may call a listener.
#[derive(Clone, Debug)]
pub enum CallerPolicy {
    /// Internal listener: mesh peers, each method as its access rule says.
    Mesh(Arc<AccessTable>),
    /// A public listener: anyone; internal metadata is stripped. (The gateway's HTTP front authenticates callers
    /// itself, per protocol.)
    Public,
}

/// Why a mesh peer may not call `path`, if it may not.
fn refusal(table: &AccessTable, peer: &Identity, path: &str, context: &RequestContext) -> Option<String> {
    let Some(access) = table.get(path) else {
        return Some(format!("{path} has no access rule: no workload may call it"));
    };
    if !access.mesh_callers.contains(peer) {
        return Some(format!("{peer} may not call {path}: not among its allowed callers"));
    }
    match access.min_role {
        Some(required) if *peer != Identity::operator() => match context.role() {
            Some(role) if role.includes(required) => None,
            Some(role) => Some(format!("{path} needs the {required} role or more; the user is a {role}")),
            None => Some(format!("{path} acts for a user and needs x-user-role ({required} or more)")),
        },
        _ => None,
    }
}

/// Methods any authenticated mesh peer may call: probes and tooling, never data.
fn is_open_to_any_peer(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/")
        || path.starts_with("/grpc.reflection.v1.ServerReflection/")
        || path.starts_with("/grpc.reflection.v1alpha.ServerReflection/")
}

/// The layer; see the module docs.
#[derive(Clone, Debug)]
pub struct InboundLayer {
    policy: CallerPolicy,
    /// Where every call is counted and timed, and under which listener name.
    metrics: Option<(Metrics, &'static str)>,
    /// The service's name in traces (`switchboard-<identity>`).
    service: Arc<str>,
}

impl InboundLayer {
    /// A layer enforcing `policy`.
    pub fn new(policy: CallerPolicy) -> Self {
        Self { policy, metrics: None, service: Arc::from("switchboard") }
    }

    /// Names the serving workload in every call's span (`service.name = switchboard-<identity>`), so that its spans
    /// are exported as its own even when several services share a process.
    pub fn serving_as(mut self, identity: &Identity) -> Self {
        self.service = Arc::from(format!("switchboard-{}", identity.name()));
        self
    }

    /// Counts and times every call in `metrics` as `service`'s.
    pub fn with_metrics(mut self, metrics: Metrics, service: &'static str) -> Self {
        self.metrics = Some((metrics, service));
        self
    }
}

impl<S> Layer<S> for InboundLayer {
    type Service = Inbound<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Inbound { inner, policy: self.policy.clone(), metrics: self.metrics.clone(), service: self.service.clone() }
    }
}

/// The service built by [`InboundLayer`].
#[derive(Clone, Debug)]
pub struct Inbound<S> {
    inner: S,
    policy: CallerPolicy,
    metrics: Option<(Metrics, &'static str)>,
    service: Arc<str>,
}

/// The RPC label of `path`: the path itself for methods the contracts (or health and reflection) define, so that
/// what a caller sends cannot create label values without bound.
fn rpc_label<'a>(policy: &CallerPolicy, path: &'a str) -> &'a str {
    let known = match policy {
        CallerPolicy::Mesh(table) => table.get(path).is_some(),
        CallerPolicy::Public => false,
    };
    if known || is_open_to_any_peer(path) { path } else { "unknown" }
}

/// Records a call answered with `response` (its trailers-only `grpc-status`, or OK: a stream's final status is in
/// its trailers, which are not waited for).
fn record(metrics: &Option<(Metrics, &'static str)>, rpc: &str, response: &Response, started: std::time::Instant) {
    if let Some((metrics, service)) = metrics {
        let status = response.headers().get("grpc-status").and_then(|v| v.to_str().ok()).unwrap_or("0");
        metrics.record_rpc(service, rpc, "grpc", status, started.elapsed());
    }
}

type Response = http::Response<tonic::body::Body>;

impl<S, B> Service<http::Request<B>> for Inbound<S>
where
    S: Service<http::Request<B>, Response = Response> + Clone + Send + 'static,
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
        let started = std::time::Instant::now();
        let path = request.uri().path().to_owned();
        let connection = request.extensions().get::<ConnectionInfo>().cloned();
        let peer = connection.as_ref().and_then(|c| c.peer.clone());
        let rpc = rpc_label(&self.policy, &path).to_owned();
        let metrics = self.metrics.clone();
        let deny = |status: tonic::Status| -> Self::Future {
            let response = status.into_http();
            record(&metrics, &rpc, &response, started);
            Box::pin(std::future::ready(Ok(response)))
        };

        let context = match &self.policy {
            CallerPolicy::Mesh(table) => {
                let Some(peer) = &peer else {
                    // Cannot happen behind the mTLS acceptor; refuse rather than trust a misconfiguration.
                    return deny(tonic::Status::unauthenticated("a mesh client certificate is required"));
                };
                let context = match RequestContext::from_trusted_headers(request.headers()) {
                    Ok(context) => context,
                    Err(e) => return deny(e.into()),
                };
                if !is_open_to_any_peer(&path)
                    && let Some(reason) = refusal(table, peer, &path, &context)
                {
                    tracing::warn!(%peer, rpc = %path, %reason, "call refused by the method's access rule");
                    return deny(tonic::Status::permission_denied(reason));
                }
                context
            }
            CallerPolicy::Public => {
                for name in INTERNAL_HEADERS {
                    request.headers_mut().remove(name);
                }
                RequestContext::from_untrusted_headers(request.headers())
            }
        };

        let span = tracing::info_span!(
            "rpc",
            otel.name = %path,
            service.name = %self.service,
            rpc = %path,
            peer = peer.as_ref().map(|p| p.name()).unwrap_or("public"),
            request_id = %context.request_id(),
            trace_id = %context.trace().trace_id_hex(),
            tenant = context.tenant().map(|t| t.to_string()).unwrap_or_default(),
        );
        crate::context::continue_trace(&span, &context);
        request.extensions_mut().insert(context);

        // The clone is ready-checked by the caller's poll_ready on `self.inner`: take that one, leave the clone.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let metrics = self.metrics.clone();
        let call = inner.call(request).instrument(span);
        Box::pin(async move {
            let result = call.await;
            if let Ok(response) = &result {
                record(&metrics, &rpc, response, started);
            }
            result
        })
    }
}
