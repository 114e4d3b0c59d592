//! The audit service: the tamper-evident, append-only record of everything done on the platform.
//!
//! Each tenant has its own hash chain ([`chain`] defines the bytes that are hashed), appended to under a
//! per-tenant lock so the chain never forks while different tenants proceed in parallel. After every append the
//! new head is signed with Ed25519 ([`signer`]) and stored as the tenant's checkpoint, so `VerifyChain` catches
//! an edited entry, an entry deleted from the middle and a truncated tail alike.
//!
//! The service owns its tables ([`storage`]: entities, migrations and the repository, on `switchboard-store`'s
//! tenant scope) and is reached only over the mesh; the tenant always comes from the request context, never from a
//! request field.

pub mod chain;
mod consumer;
mod convert;
mod error;
mod page_token;
mod service;
pub mod signer;
pub mod storage;

use std::sync::Arc;

use switchboard_events::EventBus;
use switchboard_mesh::pki::MeshCredentials;
use switchboard_mesh::server::{MAX_MESSAGE_BYTES, ServeOptions};
use switchboard_proto::audit::v1::audit_service_server::{AuditServiceServer, SERVICE_NAME};
use switchboard_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use crate::consumer::{AUDIT_CONSUMER_GROUP, consume_audit_events};
pub use crate::error::AuditError;
pub use crate::service::{AuditService, Origin};
pub use crate::signer::CheckpointSigner;

/// Everything the audit service needs to run.
pub struct AuditConfig {
    /// Where the log lives.
    pub store: Store,
    /// Signs checkpoints.
    pub signer: CheckpointSigner,
    /// This service's mesh certificate.
    pub credentials: MeshCredentials,
    /// The bus to consume `audit.events` from; direct AppendEvents calls only when `None`.
    pub bus: Option<Arc<dyn EventBus>>,
    /// Where its calls are counted.
    pub metrics: switchboard_telemetry::Metrics,
}

impl std::fmt::Debug for AuditConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditConfig").field("bus", &self.bus.as_ref().map(|b| b.name())).finish_non_exhaustive()
    }
}

/// Serves the audit service on an already-bound listener until `shutdown` is cancelled.
pub async fn serve_with(
    config: AuditConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), AuditError> {
    let service = AuditService::new(config.store, config.signer);
    let consumer_stop = shutdown.child_token();
    let consumer =
        config.bus.map(|bus| tokio::spawn(consume_audit_events(service.clone(), bus, consumer_stop.clone())));
    let server = AuditServiceServer::new(service)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let options =
        ServeOptions::mesh(config.credentials)?.reporting([SERVICE_NAME]).with_metrics(config.metrics, "audit");
    let served =
        switchboard_mesh::server::serve(tonic::service::Routes::new(server), listener, options, shutdown).await;
    if let Some(consumer) = consumer {
        // Stop the consumer with the server, and wait so no append is cut short.
        consumer_stop.cancel();
        let _ = consumer.await;
    }
    served?;
    Ok(())
}
