//! `switchboard login` and `switchboard mcp`: the MCP server on stdin and stdout, for an assistant that starts it as
//! a subprocess (Claude Desktop, Claude Code). It reaches the gateway's public gRPC API as a person:
//!
//! - signed in once with `switchboard login`, which keeps the session's refresh token in `login.json` (0600, in a
//!   0700 directory); the server fetches access tokens with it and stores every rotated refresh token back, so the
//!   next session (or another assistant sharing the login) goes on from the newest one instead of replaying a spent
//!   one, which the gateway would take for theft and answer by ending the session;
//! - or with `SWITCHBOARD_TOKEN`, an access token, for as long as it lives.
//!
//! Nothing but protocol messages is written to stdout; errors go to stderr.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard::config::{LoginArgs, McpArgs};
use switchboard_mcp::{Credentials, SwitchboardMcp, TokenStore};
use tower::ServiceExt;

use crate::commands::CliError;

const DEFAULT_GATEWAY: &str = "http://127.0.0.1:8080";

/// The session `switchboard login` keeps.
struct StoredLogin {
    path: PathBuf,
}

impl StoredLogin {
    fn at(config_dir: Option<&Path>) -> Result<Self, CliError> {
        let dir = match config_dir {
            Some(dir) => dir.to_owned(),
            None => match std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
                Some(dir) => PathBuf::from(dir).join("switchboard"),
                None => std::env::var_os("HOME")
                    .map(|home| PathBuf::from(home).join(".config").join("switchboard"))
                    .ok_or_else(|| CliError::Usage("no HOME: set SWITCHBOARD_CONFIG_DIR".into()))?,
            },
        };
        Ok(Self { path: dir.join("login.json") })
    }

    fn read(&self) -> Option<Value> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes `login` whole (a temporary file renamed over the old one), readable by its owner alone.
    fn write(&self, login: &Value) -> Result<(), String> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let dir = self.path.parent().ok_or("the login file has no directory")?;
        switchboard_mesh::pki::create_private_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let temporary = self.path.with_extension(format!("json.{}", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(|e| format!("{}: {e}", temporary.display()))?;
        file.write_all(login.to_string().as_bytes()).map_err(|e| format!("{}: {e}", temporary.display()))?;
        file.sync_all().map_err(|e| format!("{}: {e}", temporary.display()))?;
        std::fs::rename(&temporary, &self.path).map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

impl TokenStore for StoredLogin {
    fn load(&self) -> Option<String> {
        self.read()?.get("refreshToken")?.as_str().map(str::to_owned)
    }

    fn save(&self, refresh_token: &str) -> Result<(), String> {
        let mut login = self.read().unwrap_or_else(|| json!({}));
        login["refreshToken"] = Value::String(refresh_token.to_owned());
        self.write(&login)
    }
}

pub(crate) async fn login(args: LoginArgs) -> Result<ExitCode, CliError> {
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .map_err(|e| CliError::Usage(format!("reading the password from standard input: {e}")))?;
    let password = password.trim_end_matches(['\r', '\n']);
    let url = args.gateway_url.trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| CliError::Usage(format!("building an HTTP client: {e}")))?;
    let answer = http
        .post(format!("{url}/v1/auth:login"))
        .json(&json!({"tenant": args.tenant, "email": args.email, "password": password}))
        .send()
        .await
        .map_err(|e| CliError::Usage(format!("{url}: {e}")))?;
    let status = answer.status();
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    let Some(refresh_token) = body.get("refreshToken").and_then(Value::as_str).filter(|_| status.is_success()) else {
        let message = body.get("message").and_then(Value::as_str).unwrap_or("no refresh token in the answer");
        return Err(CliError::Usage(format!("signing in at {url} failed ({status}): {message}")));
    };
    let stored = StoredLogin::at(args.config_dir.as_deref())?;
    let login = json!({"gatewayUrl": url, "tenant": args.tenant, "email": args.email, "refreshToken": refresh_token});
    stored.write(&login).map_err(CliError::Usage)?;
    eprintln!(
        "signed in to {} as {}; `switchboard mcp` uses this session (kept in {})",
        args.tenant,
        args.email,
        stored.path.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn serve(args: McpArgs) -> Result<ExitCode, CliError> {
    let stored = StoredLogin::at(args.config_dir.as_deref())?;
    let login = stored.read();
    let url = args
        .gateway_url
        .filter(|u| !u.is_empty())
        .or_else(|| login.as_ref()?.get("gatewayUrl")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| DEFAULT_GATEWAY.to_owned());
    let url = url.trim_end_matches('/').to_owned();
    let channel = switchboard_mesh::client::public_channel(&url)?;
    let channel = switchboard_mcp::Channel::new(
        channel.map_response(|r| r.map(tonic::body::Body::new)).map_err(switchboard_mcp::ChannelError::new),
    );
    let credentials = match (args.token.filter(|t| !t.is_empty()), stored.load()) {
        (Some(token), _) => Credentials::Token(token),
        (None, Some(refresh_token)) => {
            Credentials::refreshing(channel.clone(), refresh_token, Some(Arc::new(stored) as Arc<dyn TokenStore>))
        }
        (None, None) => {
            return Err(CliError::Usage(format!(
                "not signed in: run `switchboard login --tenant <slug> --email <email>` (session kept in {}), or set \
                 SWITCHBOARD_TOKEN to an access token",
                stored.path.display()
            )));
        }
    };
    switchboard_mcp::serve_stdio(SwitchboardMcp::new(channel, credentials, &url))
        .await
        .map_err(|e| CliError::Usage(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}
