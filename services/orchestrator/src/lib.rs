//! The orchestrator: turns a question into a routed intent, a plan of tool calls made on the asker's behalf, and an
//! answer with citations (`switchboard.orchestrator.v1.OrchestratorService`).
//!
//! How it is laid out:
//! - `planner`: the [`Planner`] trait, the intent [`router`] (embedding similarity over example utterances), the
//!   [`OfflinePlanner`], the default with no model configured, and the [`ModelPlanner`], which plans through tool
//!   calling and streams its answers over the model providers' chain (`switchboard-models`).
//! - `plan`: plans as small DAGs, their check against the tool catalog, and references between steps.
//! - `tools`: the built-in read tools over synced records and the connectors' actions, through [`ConnectorsApi`]
//!   ([`MeshConnectors`] over the mesh).
//! - `runner`: the run engine (planning, steps in parallel, approvals, idempotent writes, resumption after a
//!   restart, cancellation); `live`: the run event log as a stream, re-attachable without gaps.
//! - `knowledge`: the knowledge base (documents chunked, embedded and indexed per tenant in a vector store; the
//!   `knowledge.search` tool retrieves from it); `documents`: its RPCs.
//! - [`settings`]: per-tenant assistant settings and token usage; `assistant_settings`: their RPCs; `usage`: the
//!   chain's usage sink into the usage table and the monthly budget check. [`storage`]: the tables this service owns.
//! - `service`: the gRPC methods.
//!
//! The router embeds with any [`Embedder`] (the local all-MiniLM-L6-v2 model, which the binary loads, or the hashed
//! fallback); `eval/intents.jsonl` is its labelled set, `examples/eval.rs` (`make eval`) measures it. With a model
//! provider configured, questions below the router's threshold are put to the model ([`router::Fallback`]).

mod assistant_settings;
mod convert;
mod documents;
mod error;
mod knowledge;
mod live;
mod plan;
mod planner;
mod runner;
mod service;
pub mod settings;
pub mod storage;
mod tools;
mod usage;

use std::sync::Arc;
use std::time::Duration;

use switchboard_mesh::pki::MeshCredentials;
use switchboard_mesh::server::{MAX_MESSAGE_BYTES, ServeOptions};
use switchboard_proto::orchestrator::v1::orchestrator_service_server::OrchestratorServiceServer;
use switchboard_store::Store;
pub use switchboard_vectors::Embedder;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use crate::error::{OrchestratorError, ToolError};
pub use crate::plan::{PlanDraft, PlannedStep, UsableConnection};
pub use crate::planner::router::{self, Calibration, Fallback, Intent, Routed, Router, RouterError};
pub use crate::planner::{
    AnswerDeltas, AnswerRequest, Answered, Exchange, ModelPlanner, OfflinePlanner, PlanRequest, Planned, Planner,
    PlannerError, PlannerFuture, StepResult, Usage,
};
pub use crate::planner::{evaluation, example_cache};
pub use crate::runner::{Clock, RunOptions};
pub use crate::service::OrchestratorService;
pub use crate::tools::{ApiFuture, ConnectorsApi, MeshConnectors, ToolSpec};

/// Fully qualified name of the contract this service serves.
pub const SERVICE_NAME: &str = "switchboard.orchestrator.v1.OrchestratorService";

/// Everything the orchestrator needs to run.
pub struct OrchestratorConfig {
    /// This service's mesh certificate (also presented to the connectors service).
    pub credentials: MeshCredentials,
    /// Where its calls are counted.
    pub metrics: switchboard_telemetry::Metrics,
    /// Its tables. Events (audit records, `orchestrator.runs`) go through this store's outbox, which the platform's
    /// relay publishes to the bus.
    pub store: Store,
    /// The connectors service's mesh address (`host:port`).
    pub connectors_addr: String,
    /// Longest a connectors call, and so a step, may take.
    pub step_timeout: Duration,
    /// Turns text into vectors for the intent router and the knowledge base: the local sentence-embedding model, or
    /// its hashed fallback (`switchboard_embedding::embedder_or_fallback`).
    pub embedder: Arc<dyn switchboard_vectors::Embedder>,
    /// Where the knowledge base's vectors live: the embedded index in the data dir, or Qdrant (`QDRANT_URL`).
    pub vectors: Arc<dyn switchboard_vectors::VectorStore>,
    /// The model providers, in chain order (`switchboard_models::providers_from_env`); empty for the offline
    /// planner.
    pub models: Vec<switchboard_models::ProviderConfig>,
}

impl std::fmt::Debug for OrchestratorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrchestratorConfig")
            .field("credentials", &self.credentials)
            .field("connectors_addr", &self.connectors_addr)
            .field("step_timeout", &self.step_timeout)
            .field("embedder", &self.embedder.model())
            .field("vectors", &self.vectors.name())
            .field("models", &self.models)
            .finish_non_exhaustive()
    }
}

/// Serves on an already-bound listener until `shutdown` is cancelled. Unfinished runs from before are resumed
/// first; run drivers stop with the server (their runs resume on the next start).
pub async fn serve_with(
    config: OrchestratorConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), OrchestratorError> {
    let work = shutdown.child_token();
    let connectors = MeshConnectors::new(&config.connectors_addr, &config.credentials, config.step_timeout)?;
    let options = RunOptions { step_timeout: config.step_timeout, clock: Clock::System, ..RunOptions::default() };
    // Embedding the router's examples is seconds of CPU work with the model: built on the blocking pool while the
    // service starts serving; questions wait for it.
    let embedder = config.embedder.clone();
    let router = planner::router::Routing::building(move || planner::router::shared_router(embedder));
    let planner =
        OrchestratorService::planner(&config.store, config.models, switchboard_models::ChainPolicy::default())?;
    let service = OrchestratorService::with_routing(
        config.store.clone(),
        Arc::new(connectors),
        planner,
        router,
        options,
        work.clone(),
    )
    .with_knowledge(config.vectors, config.embedder)?;
    let resumed = service.resume().await?;
    if resumed > 0 {
        tracing::info!(runs = resumed, "resumed unfinished runs");
    }
    let server = OrchestratorServiceServer::new(service.clone())
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let options =
        ServeOptions::mesh(config.credentials)?.reporting([SERVICE_NAME]).with_metrics(config.metrics, "orchestrator");
    let served =
        switchboard_mesh::server::serve(tonic::service::Routes::new(server), listener, options, shutdown).await;
    work.cancel();
    service.wait_for_runs().await;
    served?;
    Ok(())
}
