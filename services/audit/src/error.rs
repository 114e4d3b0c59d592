//! The audit service's errors, and the one place they become gRPC statuses.

use switchboard_mesh::MeshError;
use switchboard_mesh::context::ContextError;
use switchboard_store::StoreError;

/// What can go wrong in the audit service.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The request is malformed; the message says how to fix it.
    #[error("{0}")]
    InvalidArgument(String),
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// The request context is missing or malformed.
    #[error(transparent)]
    Context(#[from] ContextError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Concurrent appenders kept conflicting.
    #[error("the tenant's log is busy; retry")]
    Contended,
    /// The checkpoint key is unusable.
    #[error("checkpoint signing key: {0}")]
    SigningKey(String),
    /// Serving failed.
    #[error(transparent)]
    Mesh(#[from] MeshError),
}

impl From<AuditError> for tonic::Status {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::InvalidArgument(m) => tonic::Status::invalid_argument(m),
            AuditError::PermissionDenied(m) => tonic::Status::permission_denied(m),
            AuditError::Context(c) => c.into(),
            AuditError::Contended => tonic::Status::aborted(e.to_string()),
            AuditError::Store(_) | AuditError::SigningKey(_) | AuditError::Mesh(_) => {
                // Details stay in the log; the caller gets something safe to show.
                tracing::error!(error = %e, "audit request failed");
                tonic::Status::internal("internal error in the audit service; see its log")
            }
        }
    }
}
