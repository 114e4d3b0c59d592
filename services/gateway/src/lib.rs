//! The gateway: Switchboard's only public listener. It will serve gRPC, gRPC-Web and REST/JSON on one port, verify
//! JWTs, rate-limit, and forward each call over mTLS with the tenant context set from the token.
//!
//! Today it listens (plaintext on loopback by default, TLS when a certificate is configured) with health and
//! reflection, strips internal metadata from clients, and routes the contracts it owns (`AuthService`,
//! `TenantAdminService`), which answer UNIMPLEMENTED until the edge work lands.

use std::sync::Arc;

use switchboard_mesh::MeshError;
use switchboard_mesh::inbound::CallerPolicy;
use switchboard_mesh::pending::{Pending, PendingContract};
use switchboard_mesh::server::{Limits, ServeOptions, Transport};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Fully qualified name of the auth contract.
pub const AUTH_SERVICE: &str = "switchboard.auth.v1.AuthService";
/// Fully qualified name of the tenant administration contract.
pub const TENANT_ADMIN_SERVICE: &str = "switchboard.auth.v1.TenantAdminService";

struct AuthContract;

impl PendingContract for AuthContract {
    const NAME: &'static str = AUTH_SERVICE;
    const MISSING: &'static str = "login, refresh, logout and whoami arrive with the edge work (JWT auth)";
}

struct TenantAdminContract;

impl PendingContract for TenantAdminContract {
    const NAME: &'static str = TENANT_ADMIN_SERVICE;
    const MISSING: &'static str = "tenant and user administration arrives with the edge work";
}

/// Everything the gateway needs to run.
#[derive(Debug, Default)]
pub struct GatewayConfig {
    /// TLS for the public listener (as behind an ingress); plaintext when `None`.
    pub public_tls: Option<Arc<rustls::ServerConfig>>,
}

/// Serves the public listener until `shutdown` is cancelled.
pub async fn serve_with(
    config: GatewayConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), MeshError> {
    let routes =
        tonic::service::Routes::new(Pending::<AuthContract>::new()).add_service(Pending::<TenantAdminContract>::new());
    let options = ServeOptions {
        transport: config.public_tls.map_or(Transport::Plaintext, Transport::Tls),
        policy: CallerPolicy::Public,
        services: vec![AUTH_SERVICE, TENANT_ADMIN_SERVICE],
        limits: Limits::default(),
    };
    switchboard_mesh::server::serve(routes, listener, options, shutdown).await
}
