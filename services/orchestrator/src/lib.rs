//! The orchestrator: turns a question into a routed intent, a multi-step plan and tool calls made on the user's
//! behalf, through model providers with fallback (`switchboard.orchestrator.v1.OrchestratorService`).
//!
//! Today it runs on the mesh with health and reflection, and its contract is routed but answers UNIMPLEMENTED
//! until the orchestrator work lands; callers get a message saying so rather than "unknown service".

use switchboard_mesh::MeshError;
use switchboard_mesh::pending::{Pending, PendingContract};
use switchboard_mesh::pki::MeshCredentials;
use switchboard_mesh::server::ServeOptions;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Fully qualified name of the contract this service serves.
pub const SERVICE_NAME: &str = "switchboard.orchestrator.v1.OrchestratorService";

struct OrchestratorContract;

impl PendingContract for OrchestratorContract {
    const NAME: &'static str = SERVICE_NAME;
    const MISSING: &'static str =
        "Ask, runs and approvals arrive with the orchestrator work (model providers, router, planner, tools)";
}

/// Everything the orchestrator needs to run.
#[derive(Debug)]
pub struct OrchestratorConfig {
    /// This service's mesh certificate.
    pub credentials: MeshCredentials,
    /// Where its calls are counted.
    pub metrics: switchboard_telemetry::Metrics,
}

/// Serves on an already-bound listener until `shutdown` is cancelled.
pub async fn serve_with(
    config: OrchestratorConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), MeshError> {
    let routes = tonic::service::Routes::new(Pending::<OrchestratorContract>::new());
    let options =
        ServeOptions::mesh(config.credentials)?.reporting([SERVICE_NAME]).with_metrics(config.metrics, "orchestrator");
    switchboard_mesh::server::serve(routes, listener, options, shutdown).await
}
