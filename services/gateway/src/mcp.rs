//! `/mcp`: the MCP server ([`switchboard_mcp`]) over Streamable HTTP on the public port, and the OAuth 2.0
//! protected-resource metadata (RFC 9728) that tells an MCP client where its tokens come from.
//!
//! The endpoint passes the edge like an RPC: a bearer token (none: 401 with a `WWW-Authenticate` that names the
//! metadata, as the MCP authorization spec asks), a viewer or more, the rate limit, a 1 MiB body. The MCP server then
//! checks `Host` and `Origin` (DNS rebinding): the gateway's public host and listen address, its own origin and the
//! CORS origins. Its tools call the public API in process, through the whole public stack again, so every call is
//! authorized as the RPC it is; those inner calls are not counted against the rate limit a second time.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};

use rmcp::transport::streamable_http_server::StreamableHttpService;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use serde_json::json;
use switchboard_mcp::SwitchboardMcp;
use tower::ServiceExt;

use crate::front::HttpService;

/// The endpoint's path.
pub(crate) const PATH: &str = "/mcp";
/// The metadata at the root, and under the resource's path (RFC 9728 §3.1: where clients look first).
pub(crate) const METADATA_PATHS: [&str; 2] =
    ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"];

/// Marks a request the MCP server makes to the public stack in process: the edge authorizes it like any other, but
/// its rate limit was counted once already, for the `/mcp` request that made it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InProcess;

/// The public stack, once built: the MCP route is part of it, so its channel is given the stack after the fact.
#[derive(Clone, Default)]
pub(crate) struct LateApp(Arc<OnceLock<HttpService>>);

impl LateApp {
    pub(crate) fn set(&self, app: HttpService) {
        // Set once, when the stack is built; a second set would be a bug in `serve_with`, and the first one stands.
        let _ = self.0.set(app);
    }

    /// A gRPC channel into the public stack.
    fn channel(&self) -> switchboard_mcp::Channel {
        let late = self.clone();
        switchboard_mcp::Channel::new(tower::service_fn(move |request: http::Request<tonic::body::Body>| {
            let app = late.0.get().cloned();
            async move {
                let app = app.ok_or_else(|| switchboard_mcp::ChannelError::new("the gateway is still starting"))?;
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(InProcess);
                let response = app.oneshot(request).await.map_err(|never: Infallible| match never {})?;
                Ok::<_, switchboard_mcp::ChannelError>(response.map(tonic::body::Body::new))
            }
        }))
    }
}

/// The MCP endpoint. `public_url` is the gateway's public origin (`SWITCHBOARD_PUBLIC_URL`), `listen` the address
/// the public port is bound to, `cors_origins` the browser origins allowed besides the gateway's own.
pub(crate) fn service(
    late: &LateApp,
    public_url: &str,
    listen: Option<std::net::SocketAddr>,
    cors_origins: &[http::HeaderValue],
) -> StreamableHttpService<SwitchboardMcp, NeverSessionManager> {
    let mut hosts = Vec::new();
    let mut origins = vec![public_url.trim_end_matches('/').to_owned()];
    if let Some(authority) = public_url.parse::<http::Uri>().ok().and_then(|u| u.authority().cloned()) {
        hosts.push(authority.to_string());
    }
    if let Some(addr) = listen {
        hosts.push(addr.to_string());
        // On loopback (development, `make run`), the console's own origin is the listen address.
        if addr.ip().is_loopback() {
            hosts.push(format!("localhost:{}", addr.port()));
            origins.push(format!("http://{addr}"));
            origins.push(format!("http://localhost:{}", addr.port()));
        }
    }
    origins.extend(cors_origins.iter().filter_map(|o| o.to_str().ok()).map(str::to_owned));
    switchboard_mcp::http_service(late.channel(), public_url, hosts, origins)
}

/// The protected-resource metadata of `/mcp`.
pub(crate) fn metadata(public_url: &str) -> serde_json::Value {
    let origin = public_url.trim_end_matches('/');
    json!({
        "resource": format!("{origin}{PATH}"),
        "authorization_servers": [origin],
        "bearer_methods_supported": ["header"],
        "resource_name": "Switchboard",
        "resource_documentation": format!("{origin}/openapi.json"),
    })
}

/// The `WWW-Authenticate` of a 401 from `/mcp`.
pub(crate) fn challenge(public_url: &str) -> Option<http::HeaderValue> {
    let origin = public_url.trim_end_matches('/');
    http::HeaderValue::from_str(&format!("Bearer resource_metadata=\"{origin}{}\"", METADATA_PATHS[1])).ok()
}
