//! `switchboard mcp`: the MCP server on stdin and stdout, for an assistant that starts it as a subprocess (Claude
//! Desktop, Claude Code). It reaches the gateway's public gRPC API at `SWITCHBOARD_URL` as the person whose token it
//! holds: `SWITCHBOARD_TOKEN` (an access token, for as long as it lives) or `SWITCHBOARD_REFRESH_TOKEN` (refreshed
//! before each access token expires). Nothing but protocol messages is written to stdout; errors go to stderr.

use std::process::ExitCode;

use switchboard::config::McpArgs;
use switchboard_mcp::{Credentials, SwitchboardMcp};
use tower::ServiceExt;

use crate::commands::CliError;

pub(crate) async fn serve(args: McpArgs) -> Result<ExitCode, CliError> {
    let url = args.gateway_url.trim_end_matches('/').to_owned();
    let channel = switchboard_mesh::client::public_channel(&url)?;
    let channel = switchboard_mcp::Channel::new(
        channel.map_response(|r| r.map(tonic::body::Body::new)).map_err(switchboard_mcp::ChannelError::new),
    );
    let credentials = match (args.token.filter(|t| !t.is_empty()), args.refresh_token.filter(|t| !t.is_empty())) {
        (_, Some(refresh)) => Credentials::refreshing(channel.clone(), refresh),
        (Some(token), None) => Credentials::Token(token),
        (None, None) => {
            return Err(CliError::Usage(
                "set SWITCHBOARD_TOKEN (an access token) or SWITCHBOARD_REFRESH_TOKEN (a refresh token) from the \
                 gateway's login"
                    .into(),
            ));
        }
    };
    switchboard_mcp::serve_stdio(SwitchboardMcp::new(channel, credentials, &url))
        .await
        .map_err(|e| CliError::Usage(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}
