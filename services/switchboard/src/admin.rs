//! `switchboard tenant ...` and `switchboard user ...`: operator commands against the gateway's admin listener.

use std::io::BufRead;
use std::process::ExitCode;
use std::time::Duration;

use switchboard_mesh::Identity;
use switchboard_proto::auth::v1 as pb;
use switchboard_proto::auth::v1::tenant_admin_service_client::TenantAdminServiceClient;
use tonic::transport::Channel;

use crate::commands::{CliError, operator_credentials};
use switchboard::config::{Client, TenantCommand, UserCommand};

pub(crate) fn client(client: &Client) -> Result<TenantAdminServiceClient<Channel>, CliError> {
    let operator = operator_credentials(&client.mesh)?;
    let channel = switchboard_mesh::client::channel(&client.mesh.gateway_admin_addr, &Identity::gateway(), &operator)?;
    Ok(TenantAdminServiceClient::new(channel))
}

pub(crate) fn rpc_error(status: tonic::Status) -> CliError {
    CliError::Rpc { service: "gateway", code: status.code(), message: status.message().to_owned() }
}

pub(crate) fn timed<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(Duration::from_secs(30));
    request
}

pub(crate) async fn tenant(command: TenantCommand) -> Result<ExitCode, CliError> {
    match command {
        TenantCommand::Create { slug, display_name, client: c } => {
            let tenant = pb::Tenant { slug, display_name: display_name.unwrap_or_default(), ..Default::default() };
            let created = client(&c)?
                .create_tenant(timed(pb::CreateTenantRequest { tenant: Some(tenant) }))
                .await
                .map_err(rpc_error)?
                .into_inner()
                .tenant
                .unwrap_or_default();
            println!("{}", created.id);
        }
        TenantCommand::List { client: c } => {
            let mut admin = client(&c)?;
            let mut page_token = String::new();
            loop {
                let page = admin
                    .list_tenants(timed(pb::ListTenantsRequest { page_size: 200, page_token, ..Default::default() }))
                    .await
                    .map_err(rpc_error)?
                    .into_inner();
                for t in &page.tenants {
                    println!("{}  {:<24} {}", t.id, t.slug, t.display_name);
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn user(command: UserCommand) -> Result<ExitCode, CliError> {
    match command {
        UserCommand::Create { tenant, email, role, display_name, client: c } => {
            let role = match role.to_ascii_lowercase().as_str() {
                "owner" => pb::Role::Owner,
                "admin" => pb::Role::Admin,
                "member" => pb::Role::Member,
                "viewer" => pb::Role::Viewer,
                other => return Err(CliError::Usage(format!("--role {other:?}: use owner, admin, member or viewer"))),
            };
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .map_err(|e| CliError::Usage(format!("reading the password from standard input: {e}")))?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            if password.is_empty() {
                return Err(CliError::Usage("give the password on standard input (first line)".into()));
            }
            let created = client(&c)?
                .create_user(timed(pb::CreateUserRequest {
                    parent: format!("tenants/{tenant}"),
                    email,
                    password,
                    role: role as i32,
                    display_name,
                }))
                .await
                .map_err(rpc_error)?
                .into_inner()
                .user
                .unwrap_or_default();
            println!("{}", created.id);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A `--tenant` value, slug or id, as the tenant's id: an id is taken as it is, a slug is looked up on the gateway's
/// admin listener (which answers NOT_FOUND, named, for an unknown one).
pub(crate) async fn resolve_tenant(tenant: &str, c: &Client) -> Result<switchboard_store::TenantId, CliError> {
    let tenant = tenant.trim();
    if let Ok(id) = tenant.parse() {
        return Ok(id);
    }
    if tenant.is_empty() || tenant.contains('/') {
        return Err(CliError::Usage(format!("--tenant {tenant:?}: give the tenant's slug or id")));
    }
    let found = client(c)?
        .get_tenant(timed(pb::GetTenantRequest { name: format!("tenants/{tenant}") }))
        .await
        .map_err(rpc_error)?
        .into_inner()
        .tenant
        .unwrap_or_default();
    found.id.parse().map_err(|_| CliError::Usage(format!("the gateway answered a malformed id for {tenant:?}")))
}
