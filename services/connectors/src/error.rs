//! The connectors service's errors, and the one place they become gRPC statuses.

use std::time::Duration;

use switchboard_mesh::MeshError;
use switchboard_mesh::context::ContextError;
use switchboard_store::StoreError;

use crate::vault::VaultError;

/// What a provider call can end in, besides success.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused the request (4xx): bad input, a state that does not allow it. Its message is kept.
    #[error("{provider} refused: {message}")]
    Rejected {
        /// Provider id.
        provider: &'static str,
        /// The provider's own message.
        message: String,
    },
    /// The credentials were refused (401/403, `invalid_grant`): the connection needs re-authorization.
    #[error("{provider} refused the connection's credentials: {message}")]
    Unauthorized {
        /// Provider id.
        provider: &'static str,
        /// The provider's own message.
        message: String,
    },
    /// The provider's rate limit; retry after the delay.
    #[error("rate limited by the provider (retry after {retry_after:?}): {message}")]
    RateLimited {
        /// How long the provider asked to wait.
        retry_after: Duration,
        /// The provider's message.
        message: String,
    },
    /// The provider could not be reached or kept failing.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider answered something we cannot read.
    #[error("unexpected answer from the provider: {0}")]
    Invalid(String),
}

/// What can go wrong in the connectors service.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The request is malformed; the message says how to fix it.
    #[error("{0}")]
    InvalidArgument(String),
    /// No such resource (in this tenant).
    #[error("{0}")]
    NotFound(String),
    /// The request is valid but the resource's state does not allow it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// A webhook whose signature does not verify.
    #[error("{0}")]
    Unauthenticated(String),
    /// A provider call failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The request context is missing or malformed.
    #[error(transparent)]
    Context(#[from] ContextError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A secret could not be sealed or opened.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// A bug or a broken invariant; details in the log.
    #[error("{0}")]
    Internal(String),
    /// Serving failed.
    #[error(transparent)]
    Mesh(#[from] MeshError),
}

impl From<switchboard_events::EventsError> for ConnectorError {
    fn from(e: switchboard_events::EventsError) -> Self {
        Self::Internal(format!("outbox: {e}"))
    }
}

impl From<sea_orm::DbErr> for ConnectorError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Store(e.into())
    }
}

impl From<ConnectorError> for tonic::Status {
    fn from(e: ConnectorError) -> Self {
        use tonic::Status;
        match e {
            ConnectorError::InvalidArgument(m) => Status::invalid_argument(m),
            ConnectorError::NotFound(m) => Status::not_found(m),
            ConnectorError::FailedPrecondition(m) => Status::failed_precondition(m),
            ConnectorError::PermissionDenied(m) => Status::permission_denied(m),
            ConnectorError::Unauthenticated(m) => Status::unauthenticated(m),
            ConnectorError::Context(c) => c.into(),
            ConnectorError::Provider(p) => match p {
                ProviderError::Rejected { .. } | ProviderError::Unauthorized { .. } => {
                    Status::failed_precondition(p.to_string())
                }
                ProviderError::RateLimited { .. } => Status::resource_exhausted(p.to_string()),
                ProviderError::Unavailable(_) | ProviderError::Invalid(_) => Status::unavailable(p.to_string()),
            },
            ConnectorError::Store(StoreError::Conflict(_)) => {
                Status::aborted("a concurrent change got there first; retry")
            }
            ConnectorError::Store(_)
            | ConnectorError::Vault(_)
            | ConnectorError::Internal(_)
            | ConnectorError::Mesh(_) => {
                // Details stay in the log; the caller gets something safe to show.
                tracing::error!(error = %e, "connectors request failed");
                Status::internal("internal error in the connectors service; see its log")
            }
        }
    }
}
