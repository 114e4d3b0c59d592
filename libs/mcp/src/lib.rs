//! Switchboard as an MCP server (Model Context Protocol 2025-11-25; the older revisions rmcp knows are negotiated),
//! so that Claude and other assistants can use a tenant's platform:
//! - every action of the tenant's catalog (`ListActions`) as a tool, the action's JSON Schema as its input, annotated
//!   `readOnlyHint` / `destructiveHint`;
//! - `list_connections` and `query_records`: the synced data;
//! - `ask`: the orchestrator's answer to a question, with its citations;
//! - `approve_step` and `reject_step`, listed only for the roles that may approve (members and up).
//!
//! The server is a client of the gateway's public API as the signed-in person, never of the services behind it:
//! every call passes the edge (token, role, tenant, rate limit) like the console's. Writes never go around the
//! approval gate: a write action becomes a one-step orchestrator run (`AskRequest.action`), which waits for a
//! person's approval like a planned write, and the tool says so, with a link to the run in the console.
//!
//! Two transports: stdio ([`serve_stdio`], behind `switchboard mcp`), with one person's credentials for the whole
//! session (an access token, or a refresh token that renews them and is kept in a [`TokenStore`]), and
//! Streamable HTTP ([`http_service`], `/mcp` on the gateway), stateless (any replica answers any request), with each
//! request's own bearer token.

mod api;
mod error;
mod tools;

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult, PaginatedRequestParams, ProtocolVersion,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};

pub use api::{Channel, ChannelError, RefreshingToken, TokenStore};
pub use error::McpError;

/// Largest JSON-RPC message accepted over HTTP (tool inputs are small; the catalog's largest is far below this).
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// The protocol revisions offered, newest last: the 2025-11-25 and the older ones clients still speak.
const PROTOCOL_VERSIONS: &[ProtocolVersion] = &[
    ProtocolVersion::V_2024_11_05,
    ProtocolVersion::V_2025_03_26,
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
];

/// Where the token of a call comes from.
#[derive(Clone)]
pub enum Credentials {
    /// One access token for the session (stdio: `SWITCHBOARD_TOKEN`), until it expires.
    Token(String),
    /// A refresh token (stdio: the login `switchboard login` stored): access tokens are fetched and renewed with it.
    Refreshing(Arc<RefreshingToken>),
    /// The `Authorization` header of each HTTP request (the gateway has checked it before the request got here).
    FromRequest,
}

impl Credentials {
    /// Credentials that sign in with `refresh_token` through `channel` and renew themselves, keeping each rotated
    /// refresh token in `store`.
    pub fn refreshing(channel: Channel, refresh_token: String, store: Option<Arc<dyn TokenStore>>) -> Self {
        Self::Refreshing(Arc::new(RefreshingToken::new(channel, refresh_token, store)))
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.write_str(match self {
            Credentials::Token(_) => "Credentials::Token(..)",
            Credentials::Refreshing(_) => "Credentials::Refreshing(..)",
            Credentials::FromRequest => "Credentials::FromRequest",
        })
    }
}

/// The MCP server: one per stdio session, one per HTTP request (they are cheap: a channel handle and two strings).
#[derive(Clone)]
pub struct SwitchboardMcp {
    channel: Channel,
    credentials: Credentials,
    /// The web console's address, for links to runs waiting for approval.
    console_url: Arc<str>,
}

impl std::fmt::Debug for SwitchboardMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwitchboardMcp")
            .field("credentials", &self.credentials)
            .field("console_url", &self.console_url)
            .finish_non_exhaustive()
    }
}

impl SwitchboardMcp {
    /// A server calling the gateway through `channel`; `console_url` is the gateway's public address.
    pub fn new(channel: Channel, credentials: Credentials, console_url: &str) -> Self {
        Self { channel, credentials, console_url: console_url.trim_end_matches('/').into() }
    }

    /// The gateway's API as the caller of this request.
    async fn api(&self, context: &RequestContext<RoleServer>) -> Result<api::Api, McpError> {
        let (token, request_id) = match &self.credentials {
            Credentials::Token(token) => (format!("Bearer {token}"), None),
            Credentials::Refreshing(source) => (format!("Bearer {}", source.access_token().await?), None),
            Credentials::FromRequest => {
                let parts = context.extensions.get::<http::request::Parts>().ok_or(McpError::NoToken)?;
                let token = parts
                    .headers
                    .get(http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or(McpError::NoToken)?
                    .to_owned();
                let request_id = parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
                (token, request_id)
            }
        };
        api::Api::new(self.channel.clone(), &token, request_id.as_deref())
    }
}

impl ServerHandler for SwitchboardMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_protocol_version(ProtocolVersion::V_2025_11_25)
            .with_server_info(Implementation::new("switchboard", env!("CARGO_PKG_VERSION")).with_title("Switchboard"))
            .with_instructions(
                "Switchboard connects a small business's Shopify, Stripe, QuickBooks and HubSpot accounts. Use \
                 `ask` for questions in plain words, `query_records` for the synced records, and the action tools \
                 to change something at a provider. Actions that change data wait for a person's approval: the \
                 tool answers with the run and a link to approve it in the Switchboard console.",
            )
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(PROTOCOL_VERSIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let api = self.api(&context).await?;
        Ok(ListToolsResult::with_all_items(tools::list(&api).await?))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let api = self.api(&context).await?;
        let arguments = request.arguments.unwrap_or_default();
        let result = tools::call(&api, &request.name, arguments, &self.console_url).await;
        Ok(error::tool_result(result)?.into())
    }
}

/// Serves one MCP session over this process's stdin and stdout until the client closes it.
pub async fn serve_stdio(server: SwitchboardMcp) -> Result<(), McpError> {
    let running = server.serve(rmcp::transport::stdio()).await.map_err(|e| McpError::Transport(e.to_string()))?;
    running.waiting().await.map_err(|e| McpError::Transport(e.to_string()))?;
    Ok(())
}

/// The Streamable HTTP endpoint, stateless: every POST is answered on its own (as JSON when nothing streams), so any
/// gateway replica can answer any request. `allowed_hosts` and `allowed_origins` are the DNS-rebinding checks: the
/// gateway's own public host and origin, and the origins it allows by CORS.
pub fn http_service(
    channel: Channel,
    console_url: &str,
    allowed_hosts: Vec<String>,
    allowed_origins: Vec<String>,
) -> StreamableHttpService<SwitchboardMcp, NeverSessionManager> {
    let server = SwitchboardMcp::new(channel, Credentials::FromRequest, console_url);
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_allowed_hosts(allowed_hosts)
        .with_allowed_origins(allowed_origins)
        .with_max_request_body_bytes(MAX_REQUEST_BYTES);
    StreamableHttpService::new(move || Ok(server.clone()), Arc::new(NeverSessionManager::default()), config)
}
