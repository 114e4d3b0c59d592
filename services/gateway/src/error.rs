//! The gateway's errors, and the one place they become gRPC statuses.

use switchboard_mesh::MeshError;
use switchboard_store::StoreError;

use crate::tokens::TokenError;

/// What can go wrong in the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The request is malformed; the message says how to fix it.
    #[error("{0}")]
    InvalidArgument(String),
    /// Credentials are missing or wrong. Deliberately vague: no hint which part was wrong.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// No such resource.
    #[error("{0}")]
    NotFound(String),
    /// The resource exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// The change would break a rule about the current state (the last owner); the message says what to do.
    #[error("{0}")]
    FailedPrecondition(String),
    /// Too many attempts; retry later.
    #[error("{0}")]
    Throttled(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Token keys or signing failed.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Serving failed.
    #[error(transparent)]
    Mesh(#[from] MeshError),
    /// Anything else internal (a blocking task failed, randomness unavailable).
    #[error("{0}")]
    Internal(String),
}

impl From<GatewayError> for tonic::Status {
    fn from(e: GatewayError) -> Self {
        match e {
            GatewayError::InvalidArgument(m) => tonic::Status::invalid_argument(m),
            GatewayError::Unauthenticated(m) => tonic::Status::unauthenticated(m),
            GatewayError::PermissionDenied(m) => tonic::Status::permission_denied(m),
            GatewayError::NotFound(m) => tonic::Status::not_found(m),
            GatewayError::AlreadyExists(m) => tonic::Status::already_exists(m),
            GatewayError::FailedPrecondition(m) => tonic::Status::failed_precondition(m),
            GatewayError::Throttled(m) => tonic::Status::resource_exhausted(m),
            GatewayError::Store(_) | GatewayError::Token(_) | GatewayError::Mesh(_) | GatewayError::Internal(_) => {
                // Details stay in the log; the caller gets something safe to show.
                tracing::error!(error = %e, "gateway request failed");
                tonic::Status::internal("internal error in the gateway; see its log")
            }
        }
    }
}
