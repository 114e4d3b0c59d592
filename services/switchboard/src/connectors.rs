//! `switchboard connectors ...` and `switchboard demo`: operator commands for provider connections.
//!
//! `sync` and `list` call the connectors service over the mesh with the operator certificate, for the tenant given;
//! `rotate-kek` works on the database and the keys file directly (with the platform stopped); `demo` seeds the
//! tenant `make run` shows, connected to the sandbox's demo accounts.

use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use switchboard::config::{Client, ConnectorsCommand, DemoArgs, PlatformConfig};
use switchboard_mesh::Identity;
use switchboard_mesh::context::RequestContext;
use switchboard_proto::auth::v1 as auth;
use switchboard_proto::connectors::v1 as pb;
use switchboard_proto::connectors::v1::connector_service_client::ConnectorServiceClient;
use switchboard_store::TenantId;
use tonic::transport::Channel;

use crate::admin::{resolve_tenant, rpc_error};
use crate::commands::{CliError, operator_credentials};

fn connectors(client: &Client) -> Result<ConnectorServiceClient<Channel>, CliError> {
    let operator = operator_credentials(&client.mesh)?;
    let channel = switchboard_mesh::client::channel(&client.mesh.connectors_addr, &Identity::connectors(), &operator)?;
    Ok(ConnectorServiceClient::new(channel))
}

fn for_tenant<T>(tenant: TenantId, message: T) -> tonic::Request<T> {
    let mut request = RequestContext::new_root().with_tenant(tenant).request(message);
    request.set_timeout(Duration::from_secs(60));
    request
}

fn connectors_error(status: tonic::Status) -> CliError {
    CliError::Rpc { service: "connectors", code: status.code(), message: status.message().to_owned() }
}

pub(crate) async fn run(command: ConnectorsCommand) -> Result<ExitCode, CliError> {
    match command {
        ConnectorsCommand::Sync { tenant, connection, full, client } => sync(&tenant, &connection, full, &client).await,
        ConnectorsCommand::List { tenant, client } => list(&tenant, &client).await,
        ConnectorsCommand::RotateKek { retire, platform } => rotate_kek(retire, platform).await,
    }
}

async fn list(tenant: &str, client: &Client) -> Result<ExitCode, CliError> {
    let tenant = resolve_tenant(tenant, client).await?;
    let mut service = connectors(client)?;
    let mut page_token = String::new();
    loop {
        let page = service
            .list_connections(for_tenant(
                tenant,
                pb::ListConnectionsRequest { page_size: 200, page_token, ..Default::default() },
            ))
            .await
            .map_err(connectors_error)?
            .into_inner();
        for c in &page.connections {
            let status = pb::ConnectionStatus::try_from(c.status).map(|s| s.as_str_name()).unwrap_or("?");
            println!(
                "{}  {:<10} {:<28} {}",
                c.name,
                c.provider,
                c.account,
                status.trim_start_matches("CONNECTION_STATUS_")
            );
        }
        if page.next_page_token.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
        page_token = page.next_page_token;
    }
}

/// Starts a sync and follows it. The bar's length is what the connection's last successful sync fetched (providers
/// do not say how many records there are), so the ETA is an estimate; without a previous sync it is a spinner.
async fn sync(tenant: &str, connection: &str, full: bool, client: &Client) -> Result<ExitCode, CliError> {
    let tenant = resolve_tenant(tenant, client).await?;
    let parent = if connection.starts_with("connections/") {
        connection.to_owned()
    } else {
        format!("connections/{connection}")
    };
    let mut service = connectors(client)?;
    let previous = service
        .list_syncs(for_tenant(
            tenant,
            pb::ListSyncsRequest {
                parent: parent.clone(),
                page_size: 1,
                status: pb::SyncStatus::Succeeded as i32,
                ..Default::default()
            },
        ))
        .await
        .map_err(connectors_error)?
        .into_inner()
        .syncs
        .into_iter()
        .next()
        .filter(|s| s.records_fetched > 0 && (full || !s.full));
    let started = service
        .start_sync(for_tenant(tenant, pb::StartSyncRequest { parent, record_kinds: vec![], full }))
        .await
        .map_err(connectors_error)?
        .into_inner()
        .sync
        .ok_or_else(|| CliError::Usage("the connectors service answered no sync".into()))?;
    let bar = match &previous {
        Some(p) => ProgressBar::new(p.records_fetched as u64).with_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/~{len} records, ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {pos} records ({per_sec}) {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.enable_steady_tick(Duration::from_millis(120));
    let sync = loop {
        let sync = service
            .get_sync(for_tenant(tenant, pb::GetSyncRequest { name: started.name.clone() }))
            .await
            .map_err(connectors_error)?
            .into_inner()
            .sync
            .ok_or_else(|| CliError::Usage("the connectors service answered no sync".into()))?;
        let fetched = sync.records_fetched.max(0) as u64;
        if bar.length().is_some_and(|len| fetched > len) {
            bar.set_length(fetched);
        }
        bar.set_position(fetched);
        bar.set_message(format!("{} created, {} updated", sync.records_created, sync.records_updated));
        if ![pb::SyncStatus::Pending as i32, pb::SyncStatus::Running as i32].contains(&sync.status) {
            break sync;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    bar.finish_and_clear();
    let status = pb::SyncStatus::try_from(sync.status).map(|s| s.as_str_name()).unwrap_or("?");
    println!(
        "{}: {} — {} fetched, {} created, {} updated{}",
        sync.name,
        status.trim_start_matches("SYNC_STATUS_"),
        sync.records_fetched,
        sync.records_created,
        sync.records_updated,
        sync.error.as_ref().map(|e| format!(" ({})", e.message)).unwrap_or_default()
    );
    Ok(if sync.status == pb::SyncStatus::Succeeded as i32 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn rotate_kek(retire: bool, config: PlatformConfig) -> Result<ExitCode, CliError> {
    let path = config.connectors.kek_file.clone().unwrap_or_else(|| config.mesh.data_dir.join("keys").join("kek"));
    let old = std::fs::read_to_string(&path)
        .map_err(|e| CliError::Usage(format!("{}: {e} (nothing to rotate)", path.display())))?;
    let fresh = switchboard_connectors::KeyRing::generate_line().map_err(|e| CliError::Usage(e.to_string()))?;
    let rotated = format!("{fresh}{old}");
    let keys = switchboard_connectors::KeyRing::parse(&rotated).map_err(|e| CliError::Usage(e.to_string()))?;
    let platform = switchboard::Platform::new(config);
    let store = platform.store().await?;
    // The new key goes into the file first, so a failure half way leaves every secret openable (old keys stay).
    replace_file(&path, &rotated)?;
    let count = switchboard_connectors::rotate_kek(&store, &keys)
        .await
        .map_err(|e| CliError::Usage(format!("re-wrapping: {e}; the keys file keeps every key, run again")))?;
    if retire {
        replace_file(&path, &fresh)?;
    }
    println!(
        "re-wrapped {count} credentials under key {}{}",
        keys.wrapping_key_id(),
        if retire { "; older keys removed from the file" } else { "" }
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes `text` to `path` through a temporary file and a rename (mode 0600), so the file is never half written.
fn replace_file(path: &std::path::Path, text: &str) -> Result<(), CliError> {
    let error = |e: std::io::Error| CliError::Usage(format!("{}: {e}", path.display()));
    let temporary = path.with_extension("new");
    let _ = std::fs::remove_file(&temporary);
    switchboard_connectors::vault::write_private(&temporary, text).map_err(error)?;
    std::fs::rename(&temporary, path).map_err(error)
}

/// Seeds the demo tenant; safe to run again (what exists is kept).
pub(crate) async fn demo(args: DemoArgs) -> Result<ExitCode, CliError> {
    let mut admin = crate::admin::client(&args.client)?;
    let tenant = match resolve_tenant(&args.tenant, &args.client).await {
        Ok(id) => id,
        Err(CliError::Rpc { code: tonic::Code::NotFound, .. }) => {
            let tenant =
                auth::Tenant { slug: args.tenant.clone(), display_name: "Demo shop".into(), ..Default::default() };
            let created = admin
                .create_tenant(crate::admin::timed(auth::CreateTenantRequest { tenant: Some(tenant) }))
                .await
                .map_err(rpc_error)?
                .into_inner()
                .tenant
                .unwrap_or_default();
            created.id.parse().map_err(|_| CliError::Usage("the gateway answered a malformed tenant id".into()))?
        }
        Err(e) => return Err(e),
    };
    let user = admin
        .create_user(crate::admin::timed(auth::CreateUserRequest {
            parent: format!("tenants/{tenant}"),
            email: args.email.clone(),
            password: args.password.clone(),
            role: auth::Role::Owner as i32,
            display_name: "Demo owner".into(),
        }))
        .await;
    match user {
        Ok(_) => {}
        Err(status) if status.code() == tonic::Code::AlreadyExists => {}
        Err(status) => return Err(rpc_error(status)),
    }
    let mut service = connectors(&args.client)?;
    let existing = service
        .list_connections(for_tenant(tenant, pb::ListConnectionsRequest::default()))
        .await
        .map_err(connectors_error)?
        .into_inner()
        .connections;
    let wanted =
        [("stripe", "", args.stripe_key.as_str()), ("shopify", args.shop.as_str(), args.shopify_token.as_str())];
    let mut connections = Vec::new();
    for (provider, account, secret) in wanted {
        let connection = match existing.iter().find(|c| c.provider == provider) {
            Some(c) => c.clone(),
            None => service
                .create_connection(for_tenant(
                    tenant,
                    pb::CreateConnectionRequest {
                        connection: Some(pb::Connection {
                            provider: provider.into(),
                            account: account.into(),
                            ..Default::default()
                        }),
                        credentials: Some(pb::Credentials { secret: secret.into() }),
                    },
                ))
                .await
                .map_err(connectors_error)?
                .into_inner()
                .connection
                .unwrap_or_default(),
        };
        connections.push((connection.provider, connection.name, connection.account));
    }
    // QuickBooks and HubSpot take no static keys: connect them as the owner would in the console, through OAuth.
    let oauth_wanted: Vec<&str> = args
        .oauth
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty() && !existing.iter().any(|c| c.provider == *p))
        .collect();
    if !oauth_wanted.is_empty() {
        let owner = OwnerSession::sign_in(&args).await?;
        for provider in oauth_wanted {
            let (name, account) = owner.connect_with_oauth(provider).await?;
            connections.push((provider.to_owned(), name, account));
        }
    }
    for existing in existing.iter().filter(|c| c.provider != "stripe" && c.provider != "shopify") {
        connections.push((existing.provider.clone(), existing.name.clone(), existing.account.clone()));
    }
    for (provider, name, account) in connections {
        service
            .start_sync(for_tenant(
                tenant,
                pb::StartSyncRequest { parent: name.clone(), record_kinds: vec![], full: false },
            ))
            .await
            .map_err(connectors_error)?;
        println!("{provider:<10} {name}  {account}  (syncing)");
    }
    println!("demo tenant {:?} ({tenant}); sign in as {} / {}", args.tenant, args.email, args.password);
    Ok(ExitCode::SUCCESS)
}

/// The demo owner signed in through the gateway's REST API, as the web console is.
struct OwnerSession {
    http: reqwest::Client,
    gateway: String,
    access_token: String,
}

impl OwnerSession {
    async fn sign_in(args: &DemoArgs) -> Result<Self, CliError> {
        // Redirects are followed by hand: the provider's answer to an authorization is a redirect to read, not follow.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| CliError::Usage(format!("building an HTTP client: {e}")))?;
        let gateway = args.gateway_url.trim_end_matches('/').to_owned();
        let login = serde_json::json!({"tenant": args.tenant, "email": args.email, "password": args.password});
        let body = post_json(&http, &format!("{gateway}/v1/auth:login"), None, &login).await?;
        let access_token = body
            .get("accessToken")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| CliError::Usage("the gateway's login answer has no accessToken".into()))?
            .to_owned();
        Ok(Self { http, gateway, access_token })
    }

    /// StartOAuth, the provider's authorization (the sandbox approves at once and redirects back with a code), then
    /// CompleteOAuth with every parameter of that redirect. Returns the connection's name and account.
    async fn connect_with_oauth(&self, provider: &str) -> Result<(String, String), CliError> {
        let redirect_uri = format!("{}/oauth/callback", self.gateway);
        let started = post_json(
            &self.http,
            &format!("{}/v1/connections:startOAuth", self.gateway),
            Some(&self.access_token),
            &serde_json::json!({"provider": provider, "redirectUri": redirect_uri, "displayName": "Demo"}),
        )
        .await?;
        let authorization_url = started
            .get("authorizationUrl")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| CliError::Usage(format!("StartOAuth for {provider} answered no authorizationUrl")))?;
        let answer = self
            .http
            .get(authorization_url)
            .send()
            .await
            .map_err(|e| CliError::Usage(format!("{provider}'s authorization page: {e}")))?;
        let location =
            answer.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).ok_or_else(|| {
                CliError::Usage(format!(
                    "{provider}'s authorization page answered {} without a redirect (is the sandbox running?)",
                    answer.status()
                ))
            })?;
        let location = url::Url::parse(location)
            .map_err(|e| CliError::Usage(format!("{provider} redirected to a malformed URL: {e}")))?;
        let mut params: std::collections::BTreeMap<String, String> = location.query_pairs().into_owned().collect();
        let (Some(state), Some(code)) = (params.remove("state"), params.remove("code")) else {
            let error = params.get("error").cloned().unwrap_or_else(|| "no code in the redirect".into());
            return Err(CliError::Usage(format!("{provider} refused the authorization: {error}")));
        };
        let completed = post_json(
            &self.http,
            &format!("{}/v1/connections:completeOAuth", self.gateway),
            Some(&self.access_token),
            &serde_json::json!({"state": state, "code": code, "params": params}),
        )
        .await?;
        let text = |name: &str| completed.pointer(name).and_then(serde_json::Value::as_str).unwrap_or_default();
        Ok((text("/connection/name").to_owned(), text("/connection/account").to_owned()))
    }
}

/// POSTs `body` as JSON to the gateway; a non-2xx answer becomes an error with the gateway's message.
async fn post_json(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    body: &serde_json::Value,
) -> Result<serde_json::Value, CliError> {
    let mut request = http.post(url).json(body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let answer = request.send().await.map_err(|e| CliError::Usage(format!("POST {url}: {e}")))?;
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.unwrap_or(serde_json::Value::Null);
    if !status.is_success() {
        let message = body.get("message").and_then(serde_json::Value::as_str).unwrap_or_default();
        return Err(CliError::Usage(format!("POST {url} answered {status}: {message}")));
    }
    Ok(body)
}
