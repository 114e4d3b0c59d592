//! The gateway's public gRPC API as one caller: typed clients over a [`Channel`] that carry the caller's bearer token
//! (and the MCP request's id, so the gateway's logs tie the calls to it).

use std::str::FromStr;

use http::HeaderValue;
use switchboard_proto::auth::v1 as auth;
use switchboard_proto::connectors::v1 as connectors;
use switchboard_proto::orchestrator::v1 as orchestrator;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;

use crate::McpError;

/// How the server reaches the gateway: any HTTP/2 service speaking gRPC. `switchboard mcp` gives a network channel
/// to the gateway's public URL; the gateway gives its own public stack, in process (so each call still passes the
/// edge's checks).
pub type Channel =
    tower::util::BoxCloneSyncService<http::Request<tonic::body::Body>, http::Response<tonic::body::Body>, ChannelError>;

/// A transport failure of the [`Channel`]. A concrete type, not `tower::BoxError` itself: the futures that call
/// through the channel must be provably `Send`, and the compiler cannot prove that through tonic's
/// `Into<BoxError>` bound when the error already is a `BoxError`.
#[derive(Debug)]
pub struct ChannelError(pub tower::BoxError);

impl std::fmt::Display for ChannelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ChannelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.0.as_ref())
    }
}

impl ChannelError {
    /// Wraps any transport error.
    pub fn new(error: impl Into<tower::BoxError>) -> Self {
        Self(error.into())
    }
}

type Authorized = tonic::service::interceptor::InterceptedService<Channel, Caller>;

/// Puts the caller's token and request id on every call.
#[derive(Clone)]
pub(crate) struct Caller {
    authorization: MetadataValue<tonic::metadata::Ascii>,
    request_id: Option<AsciiMetadataValue>,
}

impl Interceptor for Caller {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.authorization.clone());
        if let Some(id) = &self.request_id {
            request.metadata_mut().insert("x-request-id", id.clone());
        }
        Ok(request)
    }
}

/// The API as one caller.
#[derive(Clone)]
pub(crate) struct Api {
    caller: Caller,
    channel: Channel,
}

impl Api {
    /// `authorization` is the whole header value, `Bearer …`.
    pub(crate) fn new(channel: Channel, authorization: &str, request_id: Option<&str>) -> Result<Self, McpError> {
        // Checked as a header value first: a token with bytes a header cannot carry is refused here, not mangled.
        HeaderValue::from_str(authorization).map_err(|_| McpError::NoToken)?;
        let authorization = MetadataValue::from_str(authorization).map_err(|_| McpError::NoToken)?;
        let request_id = request_id.and_then(|id| AsciiMetadataValue::from_str(id).ok());
        Ok(Self { caller: Caller { authorization, request_id }, channel })
    }

    fn authorized(&self) -> Authorized {
        tonic::service::interceptor::InterceptedService::new(self.channel.clone(), self.caller.clone())
    }

    pub(crate) fn auth(&self) -> auth::auth_service_client::AuthServiceClient<Authorized> {
        auth::auth_service_client::AuthServiceClient::new(self.authorized())
    }

    pub(crate) fn connectors(&self) -> connectors::connector_service_client::ConnectorServiceClient<Authorized> {
        connectors::connector_service_client::ConnectorServiceClient::new(self.authorized())
    }

    pub(crate) fn orchestrator(
        &self,
    ) -> orchestrator::orchestrator_service_client::OrchestratorServiceClient<Authorized> {
        orchestrator::orchestrator_service_client::OrchestratorServiceClient::new(self.authorized())
    }
}

/// Where a refresh token lives between sessions (`switchboard login`'s file). Read before each refresh, so that a
/// rotation by another process (two assistants sharing one login) is picked up rather than replayed, which the
/// gateway would take for theft and answer by ending the session; written after, so that the next session starts
/// from the newest token.
pub trait TokenStore: Send + Sync {
    /// The stored refresh token, if any.
    fn load(&self) -> Option<String>;
    /// Stores the rotated refresh token.
    fn save(&self, refresh_token: &str) -> Result<(), String>;
}

/// Access tokens from a refresh token, renewed a minute before they expire. The gateway rotates refresh tokens: each
/// refresh answers a new one, kept here and in the [`TokenStore`] (the one used is then spent).
pub struct RefreshingToken {
    channel: Channel,
    store: Option<std::sync::Arc<dyn TokenStore>>,
    state: tokio::sync::Mutex<RefreshState>,
}

struct RefreshState {
    refresh_token: String,
    access: Option<(String, tokio::time::Instant)>,
}

impl RefreshingToken {
    pub(crate) fn new(channel: Channel, refresh_token: String, store: Option<std::sync::Arc<dyn TokenStore>>) -> Self {
        Self { channel, store, state: tokio::sync::Mutex::new(RefreshState { refresh_token, access: None }) }
    }

    /// A current access token.
    pub(crate) async fn access_token(&self) -> Result<String, McpError> {
        let mut state = self.state.lock().await;
        let now = tokio::time::Instant::now();
        if let Some((token, renew_at)) = &state.access
            && now < *renew_at
        {
            return Ok(token.clone());
        }
        if let Some(stored) = self.store.as_ref().and_then(|s| s.load()) {
            state.refresh_token = stored;
        }
        let request = auth::RefreshRequest { refresh_token: state.refresh_token.clone() };
        let answer = auth::auth_service_client::AuthServiceClient::new(self.channel.clone())
            .refresh(request)
            .await
            .map_err(|status| match status.code() {
                tonic::Code::Unauthenticated => McpError::SessionEnded(status.message().to_owned()),
                _ => McpError::Rpc(status),
            })?
            .into_inner();
        if let Some(store) = &self.store {
            store.save(&answer.refresh_token).map_err(McpError::Transport)?;
        }
        let lifetime = std::time::Duration::from_secs(u64::try_from(answer.expires_in).unwrap_or(0));
        let renew_at = now + lifetime.saturating_sub(std::time::Duration::from_secs(60));
        state.refresh_token = answer.refresh_token;
        state.access = Some((answer.access_token.clone(), renew_at));
        Ok(answer.access_token)
    }
}
