//! The orchestrator's errors, and the one place they become gRPC statuses.

use switchboard_mesh::MeshError;
use switchboard_mesh::context::ContextError;
use switchboard_store::StoreError;

/// What can go wrong in the orchestrator.
#[derive(Debug, thiserror::Error)]
pub enum OrchestratorError {
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
    /// The tenant's token budget or rate limit is spent.
    #[error("{0}")]
    ResourceExhausted(String),
    /// A tool call failed: the connectors service answered with this status (its message is kept).
    #[error("{0}")]
    Tool(#[from] ToolError),
    /// The request context is missing or malformed.
    #[error(transparent)]
    Context(#[from] ContextError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A backend (the vector store) did not answer; retry later.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or a broken invariant; details in the log.
    #[error("{0}")]
    Internal(String),
    /// Serving failed.
    #[error(transparent)]
    Mesh(#[from] MeshError),
    /// The model providers' configuration is wrong (found at start). Boxed: it is large and rare.
    #[error(transparent)]
    Models(Box<switchboard_models::ModelError>),
}

/// Why a tool call did not produce an output: a gRPC code (as `google.rpc.Code`) and a message for the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ToolError {
    /// `google.rpc.Code` of the failure.
    pub code: i32,
    /// What went wrong, safe to show.
    pub message: String,
}

impl ToolError {
    /// INVALID_ARGUMENT: the tool's input is wrong.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self { code: tonic::Code::InvalidArgument as i32, message: message.into() }
    }

    /// DEADLINE_EXCEEDED: the step ran out of time.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self { code: tonic::Code::DeadlineExceeded as i32, message: message.into() }
    }

    /// The `google.rpc.Status` recorded on the step.
    pub fn to_status(&self) -> switchboard_proto::google::rpc::Status {
        switchboard_proto::google::rpc::Status { code: self.code, message: self.message.clone(), details: vec![] }
    }
}

impl From<tonic::Status> for ToolError {
    fn from(status: tonic::Status) -> Self {
        Self { code: status.code() as i32, message: status.message().to_owned() }
    }
}

impl From<switchboard_events::EventsError> for OrchestratorError {
    fn from(e: switchboard_events::EventsError) -> Self {
        Self::Internal(format!("outbox: {e}"))
    }
}

impl From<switchboard_vectors::VectorError> for OrchestratorError {
    fn from(e: switchboard_vectors::VectorError) -> Self {
        match e {
            switchboard_vectors::VectorError::Unavailable(m) => {
                Self::Unavailable(format!("the knowledge base's vector store is unavailable ({m}); retry later"))
            }
            other => Self::Internal(format!("knowledge base: {other}")),
        }
    }
}

impl From<switchboard_models::ModelError> for OrchestratorError {
    fn from(e: switchboard_models::ModelError) -> Self {
        Self::Models(Box::new(e))
    }
}

impl From<crate::planner::router::RouterError> for OrchestratorError {
    fn from(e: crate::planner::router::RouterError) -> Self {
        Self::Internal(format!("intent router: {e}"))
    }
}

impl From<sea_orm::DbErr> for OrchestratorError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Store(e.into())
    }
}

impl From<OrchestratorError> for tonic::Status {
    fn from(e: OrchestratorError) -> Self {
        use tonic::Status;
        match e {
            OrchestratorError::InvalidArgument(m) => Status::invalid_argument(m),
            OrchestratorError::NotFound(m) => Status::not_found(m),
            OrchestratorError::FailedPrecondition(m) => Status::failed_precondition(m),
            OrchestratorError::PermissionDenied(m) => Status::permission_denied(m),
            OrchestratorError::ResourceExhausted(m) => Status::resource_exhausted(m),
            OrchestratorError::Unavailable(m) => Status::unavailable(m),
            OrchestratorError::Tool(t) => Status::new(tonic::Code::from_i32(t.code), t.message),
            OrchestratorError::Context(c) => c.into(),
            OrchestratorError::Models(m) => (*m).into(),
            OrchestratorError::Store(StoreError::Conflict(_)) => {
                Status::aborted("a concurrent change got there first; retry")
            }
            OrchestratorError::Store(_) | OrchestratorError::Internal(_) | OrchestratorError::Mesh(_) => {
                // Details stay in the log; the caller gets something safe to show.
                tracing::error!(error = %e, "orchestrator request failed");
                Status::internal("internal error in the orchestrator; see its log")
            }
        }
    }
}
