//! What can go wrong serving a tool, and how each failure reaches the assistant: a call that cannot be made at all
//! (unknown tool, no token) is a JSON-RPC error; a tool that ran and failed (bad arguments, the platform refused) is
//! a tool result with `isError` set and a message the model can act on, as the MCP specification asks.

use rmcp::ErrorData;
use rmcp::model::{CallToolResult, ContentBlock};

/// Why a tool call or the session failed.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// No usable bearer token came with the request.
    #[error(
        "no access token: set SWITCHBOARD_TOKEN to a token from the gateway's login, or send Authorization: Bearer"
    )]
    NoToken,
    /// The stored login's session is over (expired, logged out or revoked).
    #[error("the session has ended ({0}): sign in again with `switchboard login`")]
    SessionEnded(String),
    /// The tool is not in this caller's list.
    #[error("unknown tool {0:?}: list the tools again (actions depend on the tenant's connections and your role)")]
    UnknownTool(String),
    /// The arguments do not fit the tool's input schema.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The platform refused or failed the call.
    #[error("{}: {}", code_name(.0.code()), .0.message())]
    Rpc(#[from] tonic::Status),
    /// The stdio or HTTP transport failed.
    #[error("transport: {0}")]
    Transport(String),
}

fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

impl From<McpError> for ErrorData {
    fn from(error: McpError) -> Self {
        let message = error.to_string();
        match error {
            McpError::UnknownTool(_) | McpError::InvalidArguments(_) => ErrorData::invalid_params(message, None),
            McpError::NoToken | McpError::SessionEnded(_) => ErrorData::invalid_request(message, None),
            McpError::Rpc(_) | McpError::Transport(_) => ErrorData::internal_error(message, None),
        }
    }
}

/// A tool's outcome as the assistant sees it: an unknown tool stays a protocol error, every other failure is a
/// result with `isError` and the reason.
pub(crate) fn tool_result(result: Result<CallToolResult, McpError>) -> Result<CallToolResult, ErrorData> {
    match result {
        Ok(result) => Ok(result),
        Err(error @ McpError::UnknownTool(_)) => Err(error.into()),
        Err(error) => Ok(CallToolResult::error(vec![ContentBlock::text(error.to_string())])),
    }
}
