//! The connectors service: Shopify, Stripe, QuickBooks and HubSpot behind one contract
//! (`switchboard.connectors.v1.ConnectorService`): OAuth flows, encrypted credentials, data sync, signed
//! webhooks and actions.
//!
//! Today it runs on the mesh with health and reflection, and its contract is routed but answers UNIMPLEMENTED
//! until the connectors work lands; callers get a message saying so rather than "unknown service".

use switchboard_mesh::MeshError;
use switchboard_mesh::pending::{Pending, PendingContract};
use switchboard_mesh::pki::MeshCredentials;
use switchboard_mesh::server::ServeOptions;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Fully qualified name of the contract this service serves.
pub const SERVICE_NAME: &str = "switchboard.connectors.v1.ConnectorService";

struct ConnectorContract;

impl PendingContract for ConnectorContract {
    const NAME: &'static str = SERVICE_NAME;
    const MISSING: &'static str =
        "provider connections, OAuth, sync, webhooks and actions arrive with the connectors work";
}

/// Everything the connectors service needs to run.
#[derive(Debug)]
pub struct ConnectorsConfig {
    /// This service's mesh certificate.
    pub credentials: MeshCredentials,
    /// Where its calls are counted.
    pub metrics: switchboard_telemetry::Metrics,
}

/// Serves on an already-bound listener until `shutdown` is cancelled.
pub async fn serve_with(
    config: ConnectorsConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), MeshError> {
    let routes = tonic::service::Routes::new(Pending::<ConnectorContract>::new());
    let options =
        ServeOptions::mesh(config.credentials)?.reporting([SERVICE_NAME]).with_metrics(config.metrics, "connectors");
    switchboard_mesh::server::serve(routes, listener, options, shutdown).await
}
