//! The gateway: Switchboard's only public listener.
//!
//! - [`tokens`]: access tokens (EdDSA JWTs with a `kid`, JWKS), [`passwords`] (Argon2id), [`refresh`] (opaque,
//!   single-use, rotated refresh tokens with reuse detection), `throttle` (failed-login lockout).
//! - `authn`: the bearer-token check every public call passes unless its access rule says anonymous (login,
//!   refresh, logout, probes, provider webhooks), which also refuses an `x-tenant-id` naming another tenant than the
//!   token.
//! - `auth_service`: `AuthService` (login, refresh, logout, whoami), served on the public port.
//! - `admin_service`: `TenantAdminService`, served to operators on the admin listener (mTLS).
//! - `route`: every other public RPC is forwarded over mTLS to its service, with the tenant context set from
//!   the token.
//!
//! - `front` + `edge`: the public port itself: HTTP/1.1 and HTTP/2, gRPC, gRPC-Web and REST on one listener,
//!   with its limits, CORS, request ids and access log. What each RPC demands (token, role, request size) is its
//!   access rule in the contracts (`switchboard_mesh::access`); `body` reads request bodies within those limits;
//!   `respond` is the one place any refusal becomes a gRPC status or an HTTP response; `grpc_frame` is gRPC's
//!   message framing; `reflection` describes exactly what the port serves.
//!
//! - `rest`: REST/JSON, transcoded from the contracts' `google.api.http` rules (`switchboard-transcode`) and
//!   called in-process through the gRPC routes. Provider webhooks (`POST /v1/webhooks/{provider}`) are one such
//!   route: anonymous, capped at 1 MiB by their access rule, their body passed on as raw bytes with the request
//!   headers, for the connectors service to verify the signature.
//!
//! - `/openapi.json`: the OpenAPI 3.1 document of the REST routes (checked in as `services/gateway/openapi.json`).
//! - `mcp`: `/mcp`, the MCP server for assistants (Streamable HTTP), and its protected-resource metadata.
//!
//! - `ratelimit`: GCRA limits per tenant, user and anonymous client (webhooks in an allowance of their own),
//!   in-process or in Redis.
//! - `revocation`: logout, refresh-token reuse and disabling a user end access tokens at once (via the cache).

mod accounts;
mod admin_service;
mod audit_sink;
mod auth_service;
mod authn;
mod body;
pub mod client_ip;
pub mod console;
mod convert;
mod edge;
mod error;
mod front;
mod grpc_frame;
mod mcp;
pub mod passwords;
mod ratelimit;
mod reflection;
pub mod refresh;
mod respond;
mod rest;
mod revocation;
mod route;
mod throttle;
pub mod tokens;

use std::sync::Arc;

use std::time::Duration;

use switchboard_mesh::Identity;
use switchboard_mesh::access::AccessTable;
use switchboard_mesh::pki::MeshCredentials;
use switchboard_mesh::server::{Limits, MAX_MESSAGE_BYTES, ServeOptions, Transport};
use switchboard_proto::auth::v1::auth_service_server::AuthServiceServer;
use switchboard_proto::auth::v1::tenant_admin_service_server::TenantAdminServiceServer;
use switchboard_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use crate::accounts::migrate;
pub use crate::auth_service::TokenLifetimes;
pub use crate::client_ip::Cidr;
pub use crate::error::GatewayError;
pub use crate::ratelimit::{OnStoreError, RateLimits};
pub use crate::revocation::OnCacheError;
use crate::route::{AuditContract, ConnectorsContract, Forward, OrchestratorContract};
pub use crate::tokens::TokenKeys;

/// Fully qualified name of the auth contract.
pub const AUTH_SERVICE: &str = "switchboard.auth.v1.AuthService";
/// Fully qualified name of the tenant administration contract.
pub const TENANT_ADMIN_SERVICE: &str = "switchboard.auth.v1.TenantAdminService";

fn admin_server(admin: admin_service::AdminGrpc) -> TenantAdminServiceServer<admin_service::AdminGrpc> {
    TenantAdminServiceServer::new(admin)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// The REST routes of the RPCs the public port offers.
fn public_rest_routes(access: &AccessTable) -> Result<switchboard_transcode::RouteTable, GatewayError> {
    let mut table = switchboard_transcode::RouteTable::from_descriptor_set(switchboard_proto::FILE_DESCRIPTOR_SET)
        .map_err(|e| GatewayError::Internal(format!("REST routes: {e}")))?;
    table.retain(|route| access.is_public(&route.rpc_path));
    Ok(table)
}

/// The OpenAPI 3.1 document of the public REST API, exactly as `/openapi.json` serves it.
pub fn openapi_document() -> Result<serde_json::Value, GatewayError> {
    let access = AccessTable::contracts()?;
    let table = public_rest_routes(access)?;
    Ok(switchboard_transcode::openapi::document(&table, &|rpc| access.is_anonymous(rpc)))
}

/// Where the services behind the gateway are.
#[derive(Debug, Clone)]
pub struct Backends {
    /// The audit service (`host:port`).
    pub audit: String,
    /// The connectors service.
    pub connectors: String,
    /// The orchestrator.
    pub orchestrator: String,
}

/// Everything the gateway needs to run.
pub struct GatewayConfig {
    /// TLS for the public listener (as behind an ingress); plaintext when `None`.
    pub public_tls: Option<Arc<rustls::ServerConfig>>,
    /// Tenants, users, refresh tokens.
    pub store: Store,
    /// Access-token keys.
    pub keys: TokenKeys,
    /// The gateway's mesh certificate (admin listener, and calls to backends).
    pub credentials: MeshCredentials,
    /// Where the backends are.
    pub backends: Backends,
    /// Token lifetimes.
    pub lifetimes: TokenLifetimes,
    /// Browser origins allowed by CORS (e.g. `https://app.example.com`); none by default.
    pub cors_origins: Vec<http::HeaderValue>,
    /// Rate limiting.
    pub rate_limits: RateLimits,
    /// Where revoked sessions are recorded (in process, or Redis shared by replicas).
    pub cache: Arc<dyn switchboard_cache::Cache>,
    /// Proxies (ingress, load balancers) whose `X-Forwarded-For` is believed for per-client limits; none by default.
    pub trusted_proxies: Vec<client_ip::Cidr>,
    /// The public port's connection and stream limits.
    pub public_limits: PublicLimits,
    /// Whether a token is accepted when the cache cannot say if it was revoked.
    pub revocation_on_cache_error: OnCacheError,
    /// Where requests, refusals and connections are counted.
    pub metrics: switchboard_telemetry::Metrics,
    /// The web console's built files (`web/dist`), served at `/`; no console when `None`.
    pub console_dir: Option<std::path::PathBuf>,
    /// The gateway's public origin as clients reach it (`SWITCHBOARD_PUBLIC_URL`): the MCP endpoint's resource name,
    /// the `Host` and `Origin` it accepts besides the listen address, and the console links its tools give.
    pub public_url: String,
}

/// What the public port allows each client, beyond what every RPC's access rule says.
#[derive(Debug, Clone)]
pub struct PublicLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most connections open at once from one client (IPv4 address or IPv6 /64; trusted proxies are exempt).
    pub max_connections_per_client: usize,
    /// How long a stream answered to a caller without a token (a health Watch) may last.
    pub anonymous_stream_lifetime: Duration,
}

impl Default for PublicLimits {
    fn default() -> Self {
        let mesh = Limits::default();
        Self {
            max_connections: mesh.max_connections,
            max_connections_per_client: mesh.max_connections_per_client,
            anonymous_stream_lifetime: Duration::from_secs(300),
        }
    }
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("public_tls", &self.public_tls.is_some())
            .field("backends", &self.backends)
            .field("lifetimes", &self.lifetimes)
            .field("cors_origins", &self.cors_origins)
            .field("rate_limits", &self.rate_limits)
            .field("cache", &self.cache.name())
            .field("trusted_proxies", &self.trusted_proxies)
            .field("public_limits", &self.public_limits)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

/// The gateway's two sockets.
#[derive(Debug)]
pub struct Listeners {
    /// The public port.
    pub public: TcpListener,
    /// The operators' admin port (mTLS).
    pub admin: TcpListener,
}

/// Serves the public and admin listeners until `shutdown` is cancelled.
pub async fn serve_with(
    config: GatewayConfig,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> Result<(), GatewayError> {
    let keys = Arc::new(config.keys);
    let access = Arc::new(AccessTable::contracts()?.clone());
    // Revocation records outlive every token they could refuse: one access lifetime plus the verifier's leeway.
    let revocations = revocation::Revocations {
        cache: config.cache.clone(),
        ttl: config.lifetimes.access + std::time::Duration::from_secs(60),
        on_cache_error: config.revocation_on_cache_error,
    };
    // One tenant administration for both listeners: operators on the admin port, owners and admins on the public one.
    let admin = admin_service::AdminGrpc(Arc::new(admin_service::AdminService {
        store: config.store.clone(),
        revocations: revocations.clone(),
        cache: config.cache.clone(),
        audit: audit_sink::AuditSink::default(),
    }));
    let creds = &config.credentials;
    let backend = |addr: &str, service: Identity| {
        route::Backend::new(route::CONNECTIONS_PER_BACKEND, || switchboard_mesh::client::channel(addr, &service, creds))
    };
    let auth = auth_service::AuthService {
        store: config.store.clone(),
        keys: keys.clone(),
        audit: audit_sink::AuditSink::default(),
        lifetimes: config.lifetimes,
        // An in-process cache is this replica's own: the throttle's memory does that job already.
        throttle: if config.cache.name() == "memory" {
            throttle::LoginThrottle::default()
        } else {
            throttle::LoginThrottle::shared(config.cache.clone())
        },
        revocations: revocations.clone(),
    };
    let public_routes = tonic::service::Routes::new(
        AuthServiceServer::new(auth_service::AuthGrpc(Arc::new(auth)))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES),
    )
    .add_service(Forward::<AuditContract>::new(backend(&config.backends.audit, Identity::audit())?, access.clone()))
    .add_service(Forward::<ConnectorsContract>::new(
        backend(&config.backends.connectors, Identity::connectors())?,
        access.clone(),
    ))
    .add_service(Forward::<OrchestratorContract>::new(
        backend(&config.backends.orchestrator, Identity::orchestrator())?,
        access.clone(),
    ))
    .add_service(admin_server(admin.clone()));
    let (public_routes, health) = switchboard_mesh::server::with_health(public_routes, &[AUTH_SERVICE]).await;
    let described = reflection::public_descriptor_set(switchboard_proto::FILE_DESCRIPTOR_SET, &access)
        .map_err(GatewayError::Internal)?;
    let public_routes = switchboard_mesh::server::with_reflection(public_routes, &described)
        .map_err(|e| GatewayError::Internal(format!("reflection: {e}")))?;
    let drained = shutdown.clone();
    tokio::spawn(async move {
        drained.cancelled().await;
        health.set_service_status("", tonic_health::ServingStatus::NotServing).await;
        health.set_service_status(AUTH_SERVICE, tonic_health::ServingStatus::NotServing).await;
    });
    let jwks = keys.jwks();
    let table = Arc::new(public_rest_routes(&access)?);
    let openapi = switchboard_transcode::openapi::document(&table, &|rpc| access.is_anonymous(rpc));
    let grpc = public_routes.into_axum_router();
    let rest = rest::RestHandler { grpc: grpc.clone() };
    let console = match &config.console_dir {
        Some(dir) => Some(console::Console::open(dir).map_err(GatewayError::Internal)?),
        None => None,
    };
    if let Some(dir) = &config.console_dir {
        tracing::info!(dir = %dir.display(), "serving the web console at /");
    }
    let serves_console = console.is_some();
    // The public documents never change while the gateway runs: serialized once, each answer a reference count.
    let document = |value: &serde_json::Value| -> Result<bytes::Bytes, GatewayError> {
        serde_json::to_vec(value).map(bytes::Bytes::from).map_err(|e| GatewayError::Internal(format!("document: {e}")))
    };
    let (openapi, jwks) = (document(&openapi)?, document(&jwks)?);
    let serve_document = |body: bytes::Bytes| {
        axum::routing::get(move || {
            let body = body.clone();
            async move {
                let headers = [
                    (http::header::CONTENT_TYPE, "application/json"),
                    (http::header::CACHE_CONTROL, "public, max-age=300"),
                ];
                (headers, body)
            }
        })
    };
    let public_url = config.public_url.trim_end_matches('/').to_owned();
    let late_app = mcp::LateApp::default();
    let mcp_service = mcp::service(&late_app, &public_url, listeners.public.local_addr().ok(), &config.cors_origins);
    let resource_metadata = document(&mcp::metadata(&public_url))?;
    let router = grpc
        .route("/openapi.json", serve_document(openapi))
        .route("/.well-known/jwks.json", serve_document(jwks))
        .route(mcp::METADATA_PATHS[0], serve_document(resource_metadata.clone()))
        .route(mcp::METADATA_PATHS[1], serve_document(resource_metadata))
        .route(mcp::PATH, axum::routing::any_service(mcp_service))
        .fallback(move |request: http::Request<axum::body::Body>| {
            let (console, rest) = (console.clone(), rest.clone());
            async move {
                match console {
                    Some(console) if console::is_console_request(request.method(), request.uri().path()) => {
                        console.serve(request).await
                    }
                    _ => rest.handle(request).await,
                }
            }
        });
    let edge = edge::EdgeLayer {
        authenticator: Arc::new(authn::JwtAuthenticator { keys, verified: authn::VerifiedTokens::default() }),
        routes: table,
        access: access.clone(),
        limiter: Arc::new(ratelimit::Limiter::new(
            config.rate_limits.clone(),
            config.store.clone(),
            config.cache.clone(),
            config.metrics.clone(),
        )),
        revocations: revocations.clone(),
        trusted_proxies: Arc::new(config.trusted_proxies.clone()),
        budget: body::Budget::default(),
        anonymous_stream_lifetime: config.public_limits.anonymous_stream_lifetime,
        metrics: config.metrics.clone(),
        console: serves_console,
        mcp_challenge: mcp::challenge(&public_url),
    };
    let app = front::app(router, edge, &config.cors_origins);
    late_app.set(app.clone());
    let transport = config.public_tls.map_or(Transport::Plaintext, Transport::Tls);
    let public_limits = Limits {
        max_connections: config.public_limits.max_connections,
        max_connections_per_client: config.public_limits.max_connections_per_client,
        unlimited_clients: config.trusted_proxies.clone(),
        ..Limits::default()
    };

    let admin_routes = tonic::service::Routes::new(admin_server(admin));
    let admin_options = ServeOptions::mesh(config.credentials.clone())?
        .reporting([TENANT_ADMIN_SERVICE])
        .with_metrics(config.metrics.clone(), "gateway-admin");

    let admin = async {
        switchboard_mesh::server::serve(admin_routes, listeners.admin, admin_options, shutdown.clone())
            .await
            .map_err(GatewayError::from)
    };
    let connections = config.metrics.connections("gateway-public");
    tokio::try_join!(
        front::serve(app, listeners.public, transport, public_limits, connections, shutdown.clone()),
        admin
    )?;
    Ok(())
}
