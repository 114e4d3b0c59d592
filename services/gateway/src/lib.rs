//! The gateway: Switchboard's only public listener.
//!
//! - [`tokens`]: access tokens (EdDSA JWTs with a `kid`, JWKS), [`passwords`] (Argon2id), [`refresh`] (opaque,
//!   single-use, rotated refresh tokens with reuse detection), `throttle` (failed-login lockout).
//! - `authn`: the bearer-token check every public call passes (except login, refresh, logout and probes),
//!   which also refuses an `x-tenant-id` naming another tenant than the token.
//! - `auth_service`: `AuthService` (login, refresh, logout, whoami), served on the public port.
//! - `admin_service`: `TenantAdminService`, served to operators on the admin listener (mTLS).
//! - `route`: every other public RPC is forwarded over mTLS to its service, with the tenant context set from
//!   the token; RPCs without a `google.api.http` rule are internal and refused.
//!
//! - `front` + `edge`: the public port itself: HTTP/1.1 and HTTP/2, gRPC, gRPC-Web and REST on one listener,
//!   with its limits, CORS, per-protocol errors, request ids and access log; `status` maps gRPC codes to HTTP.
//!
//! - `rest`: REST/JSON, transcoded from the contracts' `google.api.http` rules (`switchboard-transcode`) and
//!   called in-process through the gRPC routes.
//!
//! - `/openapi.json`: the OpenAPI 3.1 document of the REST routes (checked in as `services/gateway/openapi.json`).
//!
//! - `ratelimit`: GCRA limits per tenant, user and anonymous client, in-process or in Redis.
//! - `revocation`: logout, refresh-token reuse and disabling a user end access tokens at once (via the cache).

mod admin_service;
mod audit_sink;
mod auth_service;
mod authn;
pub mod client_ip;
mod convert;
mod edge;
mod error;
mod front;
pub mod passwords;
mod ratelimit;
pub mod refresh;
mod rest;
mod revocation;
mod route;
mod status;
mod throttle;
pub mod tokens;

use std::sync::Arc;

use switchboard_mesh::Identity;
use switchboard_mesh::pending::{Pending, PendingContract};
use switchboard_mesh::pki::MeshCredentials;
use switchboard_mesh::server::{Limits, MAX_MESSAGE_BYTES, ServeOptions, Transport};
use switchboard_proto::auth::v1::auth_service_server::AuthServiceServer;
use switchboard_proto::auth::v1::tenant_admin_service_server::TenantAdminServiceServer;
use switchboard_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use crate::auth_service::TokenLifetimes;
pub use crate::error::GatewayError;
pub use crate::ratelimit::{OnStoreError, RateLimits};
use crate::route::{AuditContract, ConnectorsContract, Forward, OrchestratorContract};
pub use crate::tokens::TokenKeys;

/// Fully qualified name of the auth contract.
pub const AUTH_SERVICE: &str = "switchboard.auth.v1.AuthService";
/// Fully qualified name of the tenant administration contract.
pub const TENANT_ADMIN_SERVICE: &str = "switchboard.auth.v1.TenantAdminService";

struct PublicTenantAdmin;

impl PendingContract for PublicTenantAdmin {
    const NAME: &'static str = TENANT_ADMIN_SERVICE;
    const MISSING: &'static str = "tenant administration is served to operators on the gateway's admin listener \
        (switchboard tenant/user commands); self-service for tenant owners on the public port is not built yet";
}

/// The OpenAPI 3.1 document of the public REST API, exactly as `/openapi.json` serves it.
pub fn openapi_document() -> Result<serde_json::Value, GatewayError> {
    let table = switchboard_transcode::RouteTable::from_descriptor_set(switchboard_proto::FILE_DESCRIPTOR_SET)
        .map_err(|e| GatewayError::Internal(format!("REST routes: {e}")))?;
    Ok(switchboard_transcode::openapi::document(&table, &authn::is_anonymous))
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
    let creds = &config.credentials;
    let channel = |addr: &str, service: Identity| switchboard_mesh::client::channel(addr, &service, creds);
    let public = Arc::new(
        route::public_methods(switchboard_proto::FILE_DESCRIPTOR_SET)
            .map_err(|e| GatewayError::Internal(format!("route table: {e}")))?,
    );
    let audit_channel = channel(&config.backends.audit, Identity::audit())?;

    // Revocation records outlive every token they could refuse: one access lifetime plus the verifier's leeway.
    let revocations = revocation::Revocations {
        cache: config.cache.clone(),
        ttl: config.lifetimes.access + std::time::Duration::from_secs(60),
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
    .add_service(Forward::<AuditContract>::new(audit_channel, public.clone()))
    .add_service(Forward::<ConnectorsContract>::new(
        channel(&config.backends.connectors, Identity::connectors())?,
        public.clone(),
    ))
    .add_service(Forward::<OrchestratorContract>::new(
        channel(&config.backends.orchestrator, Identity::orchestrator())?,
        public,
    ))
    .add_service(Pending::<PublicTenantAdmin>::new());
    let (public_routes, health) = switchboard_mesh::server::with_health_and_reflection(public_routes, &[AUTH_SERVICE])
        .await
        .map_err(|e| GatewayError::Internal(format!("health and reflection: {e}")))?;
    let drained = shutdown.clone();
    tokio::spawn(async move {
        drained.cancelled().await;
        health.set_service_status("", tonic_health::ServingStatus::NotServing).await;
        health.set_service_status(AUTH_SERVICE, tonic_health::ServingStatus::NotServing).await;
    });
    let jwks = keys.jwks();
    let table = Arc::new(
        switchboard_transcode::RouteTable::from_descriptor_set(switchboard_proto::FILE_DESCRIPTOR_SET)
            .map_err(|e| GatewayError::Internal(format!("REST routes: {e}")))?,
    );
    let openapi = switchboard_transcode::openapi::document(&table, &authn::is_anonymous);
    let grpc = public_routes.into_axum_router();
    let rest = rest::RestHandler { table: table.clone(), grpc: grpc.clone() };
    let router = grpc
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let openapi = openapi.clone();
                async move { ([(http::header::CACHE_CONTROL, "public, max-age=300")], axum::Json(openapi)) }
            }),
        )
        .route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move { ([(http::header::CACHE_CONTROL, "public, max-age=300")], axum::Json(jwks)) }
            }),
        )
        .fallback(move |request: http::Request<axum::body::Body>| rest.clone().handle(request));
    let edge = edge::EdgeLayer {
        authenticator: Arc::new(authn::JwtAuthenticator { keys }),
        routes: Arc::new(rest::RestRoutes(table)),
        limiter: Arc::new(ratelimit::Limiter::new(
            config.rate_limits.clone(),
            config.store.clone(),
            config.cache.clone(),
        )),
        revocations: revocations.clone(),
        trusted_proxies: Arc::new(config.trusted_proxies.clone()),
    };
    let app = front::app(router, edge, &config.cors_origins);
    let transport = config.public_tls.map_or(Transport::Plaintext, Transport::Tls);

    let admin = admin_service::AdminService { store: config.store, revocations, cache: config.cache };
    let admin_routes =
        tonic::service::Routes::new(TenantAdminServiceServer::new(admin_service::AdminGrpc(Arc::new(admin))));
    let admin_options =
        ServeOptions::mesh(config.credentials.clone(), [Identity::operator()]).reporting([TENANT_ADMIN_SERVICE]);

    let admin = async {
        switchboard_mesh::server::serve(admin_routes, listeners.admin, admin_options, shutdown.clone())
            .await
            .map_err(GatewayError::from)
    };
    tokio::try_join!(front::serve(app, listeners.public, transport, Limits::default(), shutdown.clone()), admin)?;
    Ok(())
}
