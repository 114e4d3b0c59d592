//! `switchboard.auth.v1.TenantAdminService`: tenants and their users. One implementation, served twice: to
//! operators on the gateway's admin listener (mTLS, operator certificate; what `switchboard tenant` and
//! `switchboard user` talk to), and to each tenant's owners and admins on the public port, scoped to their own
//! tenant. Who asks decides what they may do:
//!
//! | | operator | owner | admin |
//! |---|---|---|---|
//! | create and list tenants | yes | no (not offered on the public port) | no |
//! | read and rename a tenant | any | their own | their own |
//! | change a tenant's rate limit | yes | no | no |
//! | create users, change roles, disable, enable | any tenant, any role | own tenant, any role | own tenant; never an owner, never granting owner |
//!
//! Every change is written to the tenant's audit log through the outbox, in the same transaction as the change
//! (`tenant.create`, `tenant.update`, `user.create`, `user.update`, `user.disable`, `user.enable`). The last active
//! owner of a tenant can be neither demoted nor disabled (FAILED_PRECONDITION); the check runs under a per-tenant
//! lock so that two owners cannot demote each other at once. A role change or a disable ends the user's access
//! tokens at once.

use std::sync::Arc;

use switchboard_mesh::Identity;
use switchboard_mesh::context::RequestContext;
use switchboard_mesh::inbound::ConnectionInfo;
use switchboard_proto::audit::v1::Outcome;
use switchboard_proto::auth::v1 as pb;
use switchboard_store::{Store, StoreError, TenantId, TenantScope};
use switchboard_types::now_unix_micros as now_us;
use switchboard_types::{Role, UserId};
use tonic::{Request, Response, Status};

use crate::accounts::{AccountsScope, NewUser, Tenant, TenantDirectory, User};
use crate::audit_sink::AuditSink;
use crate::auth_service::normalize_email;
use crate::authn::Caller;
use crate::{GatewayError, convert, passwords};

const DEFAULT_PAGE: i32 = 50;
const MAX_PAGE: i32 = 1000;

pub(crate) struct AdminService {
    pub(crate) store: Store,
    pub(crate) revocations: crate::revocation::Revocations,
    /// Holds cached tenant settings, dropped here when they change.
    pub(crate) cache: Arc<dyn switchboard_cache::Cache>,
    pub(crate) audit: AuditSink,
}

/// Who is asking.
#[derive(Debug, Clone)]
enum Principal {
    /// A platform operator, on the admin listener.
    Operator,
    /// A tenant's user, on the public port (the edge has checked their token and that they are an admin or owner).
    User(Caller),
}

impl Principal {
    fn of<T>(request: &Request<T>) -> Result<Self, GatewayError> {
        if let Some(caller) = request.extensions().get::<Caller>() {
            return Ok(Self::User(caller.clone()));
        }
        let peer = request.extensions().get::<ConnectionInfo>().and_then(|c| c.peer.clone());
        match peer {
            Some(peer) if peer == Identity::operator() => Ok(Self::Operator),
            _ => Err(GatewayError::Unauthenticated("a valid access token is required")),
        }
    }

    /// How the audit log names them.
    fn actor(&self) -> String {
        match self {
            Self::Operator => "operator".into(),
            Self::User(caller) => format!("user:{}", caller.user),
        }
    }

    fn operator_only(&self, what: &str) -> Result<(), GatewayError> {
        match self {
            Self::Operator => Ok(()),
            Self::User(_) => Err(GatewayError::PermissionDenied(format!("only platform operators may {what}"))),
        }
    }

    /// A user may only act on their own tenant.
    fn may_act_on(&self, tenant: &Tenant) -> Result<(), GatewayError> {
        match self {
            Self::User(caller) if caller.tenant != tenant.id => {
                Err(GatewayError::PermissionDenied("you may only manage your own tenant".into()))
            }
            _ => Ok(()),
        }
    }

    /// Whether they may give `role` to someone: only owners (and operators) make owners.
    fn may_grant(&self, role: Role) -> Result<(), GatewayError> {
        match self {
            Self::User(caller) if role == Role::Owner && caller.role != Role::Owner => {
                Err(GatewayError::PermissionDenied("only an owner may grant the owner role".into()))
            }
            _ => Ok(()),
        }
    }

    /// Whether they may change `target` at all: only owners (and operators) manage owners.
    fn may_manage(&self, target: &User) -> Result<(), GatewayError> {
        match self {
            Self::User(caller) if target.role == Role::Owner && caller.role != Role::Owner => {
                Err(GatewayError::PermissionDenied("only an owner may change another owner".into()))
            }
            _ => Ok(()),
        }
    }
}

fn invalid(message: impl Into<String>) -> GatewayError {
    GatewayError::InvalidArgument(message.into())
}

fn page_size(requested: i32) -> Result<u64, GatewayError> {
    match requested {
        0 => Ok(DEFAULT_PAGE as u64),
        n if (1..=MAX_PAGE).contains(&n) => Ok(n as u64),
        n => Err(invalid(format!("page_size must be between 1 and {MAX_PAGE}, got {n}"))),
    }
}

/// Slugs: 2 to 63 of `[a-z0-9-]`, not starting or ending with `-`.
fn check_slug(slug: &str) -> Result<(), GatewayError> {
    let ok = (2..=63).contains(&slug.len())
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok { Ok(()) } else { Err(invalid(format!("slug {slug:?} must be 2-63 characters of a-z, 0-9 and '-'"))) }
}

fn check_display_name(name: &str) -> Result<(), GatewayError> {
    if name.len() > 200 || name.chars().any(char::is_control) {
        return Err(invalid("display_name must be at most 200 bytes with no control characters"));
    }
    Ok(())
}

fn check_email(email: &str) -> Result<(), GatewayError> {
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.chars().any(|c| c.is_control() || c.is_whitespace());
    if ok { Ok(()) } else { Err(invalid(format!("{email:?} is not an email address"))) }
}

fn role_of(number: i32) -> Result<Role, GatewayError> {
    convert::role_from_pb(number)
        .ok_or_else(|| invalid("role must be one of ROLE_OWNER, ROLE_ADMIN, ROLE_MEMBER, ROLE_VIEWER"))
}

fn conflict(what: String) -> impl FnOnce(GatewayError) -> GatewayError {
    move |e| match e {
        GatewayError::Store(StoreError::Conflict(_)) => GatewayError::AlreadyExists(what),
        other => other,
    }
}

impl AdminService {
    /// A tenant by id or slug, if the principal may act on it. A user naming any tenant but their own is refused
    /// the same way whether it exists or not: no one learns which other slugs are taken.
    async fn find_tenant(&self, principal: &Principal, key: &str) -> Result<Tenant, GatewayError> {
        match (TenantDirectory::new(&self.store).by_key(key).await?, principal) {
            (Some(tenant), _) => principal.may_act_on(&tenant).map(|()| tenant),
            (None, Principal::User(_)) => {
                Err(GatewayError::PermissionDenied("you may only manage your own tenant".into()))
            }
            (None, Principal::Operator) => Err(GatewayError::NotFound(format!("no tenant {key:?}"))),
        }
    }

    /// `tenants/{tenant}/users/{user}`: the tenant (if the principal may act on it) and the user.
    async fn find_user(&self, principal: &Principal, name: &str) -> Result<(Tenant, User), GatewayError> {
        let (tenant_key, user_id) =
            convert::user_of(name).ok_or_else(|| invalid("name must be tenants/{tenant}/users/{user}"))?;
        let tenant = self.find_tenant(principal, tenant_key).await?;
        let not_found = || GatewayError::NotFound(format!("no user {name}"));
        let user_id: UserId = user_id.parse().map_err(|_| not_found())?;
        let scope = self.store.tenant(tenant.id).await?;
        let user = scope.users().by_id(user_id).await?.ok_or_else(not_found)?;
        Ok((tenant, user))
    }

    async fn record(
        &self,
        scope: &TenantScope,
        context: &RequestContext,
        principal: &Principal,
        action: &str,
        resource: String,
        details: &[(&str, String)],
    ) -> Result<(), GatewayError> {
        self.audit.record_on(scope, context, principal.actor(), action, resource, Outcome::Success, details).await
    }

    async fn create_tenant(
        &self,
        principal: &Principal,
        context: &RequestContext,
        request: pb::CreateTenantRequest,
    ) -> Result<pb::CreateTenantResponse, GatewayError> {
        principal.operator_only("create tenants")?;
        let tenant = request.tenant.ok_or_else(|| invalid("tenant is required"))?;
        let slug = tenant.slug.trim().to_lowercase();
        check_slug(&slug)?;
        let display_name = if tenant.display_name.trim().is_empty() { slug.clone() } else { tenant.display_name };
        check_display_name(&display_name)?;
        if tenant.rate_limit_per_minute < 0 {
            return Err(invalid("rate_limit_per_minute must be 0 (platform default) or more"));
        }
        let id = TenantId::generate();
        let scope = self.store.tenant(id).await?;
        scope
            .tenant_settings()
            .create(&slug, &display_name, tenant.rate_limit_per_minute, now_us())
            .await
            .map_err(GatewayError::from)
            .map_err(conflict(format!("a tenant with slug {slug:?} exists already")))?;
        let details = [("slug", slug.clone()), ("display_name", display_name.clone())];
        self.record(&scope, context, principal, "tenant.create", format!("tenants/{id}"), &details).await?;
        let created = scope.tenant_settings().get().await?.ok_or(GatewayError::Internal("tenant vanished".into()))?;
        scope.commit().await?;
        Ok(pb::CreateTenantResponse { tenant: Some(convert::tenant(&created)) })
    }

    async fn list_tenants(
        &self,
        principal: &Principal,
        request: pb::ListTenantsRequest,
    ) -> Result<pb::ListTenantsResponse, GatewayError> {
        principal.operator_only("list tenants")?;
        let limit = page_size(request.page_size)?;
        let after = (!request.page_token.is_empty()).then_some(request.page_token.as_str());
        if let Some(after) = after {
            check_slug(after).map_err(|_| invalid("page_token is malformed: pass next_page_token unchanged"))?;
        }
        let mut rows = TenantDirectory::new(&self.store).list(after, limit + 1).await?;
        let next_page_token = if rows.len() as u64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|t| t.slug.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(pb::ListTenantsResponse { tenants: rows.iter().map(convert::tenant).collect(), next_page_token })
    }

    async fn update_tenant(
        &self,
        principal: &Principal,
        context: &RequestContext,
        request: pb::UpdateTenantRequest,
    ) -> Result<pb::UpdateTenantResponse, GatewayError> {
        let patch = request.tenant.ok_or_else(|| invalid("tenant is required"))?;
        let key = convert::tenant_of(&patch.name).ok_or_else(|| invalid("tenant.name must be tenants/{tenant}"))?;
        let current = self.find_tenant(principal, key).await?;
        let mask = request.update_mask.map(|m| m.paths).unwrap_or_default();
        if mask.is_empty() {
            return Err(invalid("update_mask is required: display_name, rate_limit_per_minute"));
        }
        let (mut display_name, mut limit) = (current.display_name.clone(), current.rate_limit_per_minute);
        for path in &mask {
            match path.as_str() {
                "display_name" => {
                    check_display_name(&patch.display_name)?;
                    display_name = patch.display_name.clone();
                }
                "rate_limit_per_minute" => {
                    principal.operator_only("change a tenant's rate limit")?;
                    if patch.rate_limit_per_minute < 0 {
                        return Err(invalid("rate_limit_per_minute must be 0 or more"));
                    }
                    limit = patch.rate_limit_per_minute;
                }
                other => return Err(invalid(format!("update_mask path {other:?} cannot be updated"))),
            }
        }
        let scope = self.store.tenant(current.id).await?;
        scope.tenant_settings().update(&display_name, limit).await?;
        let details = [("display_name", display_name.clone()), ("rate_limit_per_minute", limit.to_string())];
        self.record(&scope, context, principal, "tenant.update", format!("tenants/{}", current.id), &details).await?;
        let updated = scope.tenant_settings().get().await?.ok_or(GatewayError::Internal("tenant vanished".into()))?;
        scope.commit().await?;
        // Written, not deleted: a request that read the old limit can then not put it back. With Redis every replica
        // uses the new limit from its next request; in process, this replica does, others within the cache TTL.
        let key = crate::ratelimit::tenant_limit_key(current.id);
        let value = limit.max(0).to_string();
        if let Err(e) = self.cache.set(&key, value.as_bytes(), Some(crate::ratelimit::OVERRIDE_TTL)).await {
            tracing::warn!(tenant = %current.id, error = %e, "cannot update the cached rate limit; it applies when it expires");
        }
        Ok(pb::UpdateTenantResponse { tenant: Some(convert::tenant(&updated)) })
    }

    async fn create_user(
        &self,
        principal: &Principal,
        context: &RequestContext,
        request: pb::CreateUserRequest,
    ) -> Result<pb::CreateUserResponse, GatewayError> {
        let key = convert::tenant_of(&request.parent).ok_or_else(|| invalid("parent must be tenants/{tenant}"))?;
        let tenant = self.find_tenant(principal, key).await?;
        let email = normalize_email(&request.email);
        check_email(&email)?;
        check_display_name(&request.display_name)?;
        if let Some(weak) = passwords::weakness(&request.password) {
            return Err(invalid(weak));
        }
        let role = role_of(request.role)?;
        principal.may_grant(role)?;
        let password = request.password;
        let password_hash = tokio::task::spawn_blocking(move || passwords::hash(&password))
            .await
            .map_err(|e| GatewayError::Internal(e.to_string()))?
            .map_err(GatewayError::Internal)?;
        let id = UserId::generate();
        let scope = self.store.tenant(tenant.id).await?;
        let new = NewUser {
            id,
            email: &email,
            display_name: &request.display_name,
            password_hash: &password_hash,
            role,
            created_at_us: now_us(),
        };
        scope
            .users()
            .create(new)
            .await
            .map_err(GatewayError::from)
            .map_err(conflict(format!("{email} is already a user of {}", tenant.slug)))?;
        let resource = format!("tenants/{}/users/{id}", tenant.id);
        self.record(&scope, context, principal, "user.create", resource, &[("role", role.to_string())]).await?;
        let created = scope.users().by_id(id).await?.ok_or(GatewayError::Internal("user vanished".into()))?;
        scope.commit().await?;
        Ok(pb::CreateUserResponse { user: Some(convert::user(&created)) })
    }

    async fn list_users(
        &self,
        principal: &Principal,
        request: pb::ListUsersRequest,
    ) -> Result<pb::ListUsersResponse, GatewayError> {
        let key = convert::tenant_of(&request.parent).ok_or_else(|| invalid("parent must be tenants/{tenant}"))?;
        let tenant = self.find_tenant(principal, key).await?;
        let limit = page_size(request.page_size)?;
        let after = (!request.page_token.is_empty()).then_some(request.page_token.as_str());
        let scope = self.store.tenant(tenant.id).await?;
        let mut rows = scope.users().list(after, limit + 1).await?;
        let next_page_token = if rows.len() as u64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|u| u.email.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(pb::ListUsersResponse { users: rows.iter().map(convert::user).collect(), next_page_token })
    }

    /// Refuses a change that would leave the tenant without an active owner. Takes the tenant's owners lock for
    /// the rest of the transaction, so the count cannot change under the caller.
    async fn keep_an_owner(&self, scope: &TenantScope, target: &User) -> Result<(), GatewayError> {
        if target.role != Role::Owner || target.disabled {
            return Ok(());
        }
        scope.lock("owners").await?;
        if scope.users().active_owners().await? <= 1 {
            return Err(GatewayError::FailedPrecondition(
                "this is the tenant's last active owner: make another user an owner first".into(),
            ));
        }
        Ok(())
    }

    async fn update_user(
        &self,
        principal: &Principal,
        context: &RequestContext,
        request: pb::UpdateUserRequest,
    ) -> Result<pb::UpdateUserResponse, GatewayError> {
        let patch = request.user.ok_or_else(|| invalid("user is required"))?;
        let (tenant, current) = self.find_user(principal, &patch.name).await?;
        principal.may_manage(&current)?;
        let mask = request.update_mask.map(|m| m.paths).unwrap_or_default();
        if mask.is_empty() {
            return Err(invalid("update_mask is required: display_name, role"));
        }
        let (mut display_name, mut role) = (current.display_name.clone(), current.role);
        for path in &mask {
            match path.as_str() {
                "display_name" => {
                    check_display_name(&patch.display_name)?;
                    display_name = patch.display_name.clone();
                }
                "role" => {
                    role = role_of(patch.role)?;
                    principal.may_grant(role)?;
                }
                other => return Err(invalid(format!("update_mask path {other:?} cannot be updated"))),
            }
        }
        let scope = self.store.tenant(tenant.id).await?;
        if role != current.role {
            self.keep_an_owner(&scope, &current).await?;
        }
        scope.users().update(current.id, &display_name, role).await?;
        let resource = format!("tenants/{}/users/{}", tenant.id, current.id);
        let details = [("role_before", current.role.to_string()), ("role", role.to_string())];
        self.record(&scope, context, principal, "user.update", resource, &details).await?;
        let updated = scope.users().by_id(current.id).await?.ok_or(GatewayError::Internal("user vanished".into()))?;
        scope.commit().await?;
        if role != current.role {
            // Tokens carry the role: the old ones end now, the next refresh carries the new role.
            self.revocations.revoke_user(tenant.id, current.id).await;
        }
        Ok(pb::UpdateUserResponse { user: Some(convert::user(&updated)) })
    }

    async fn set_disabled(
        &self,
        principal: &Principal,
        context: &RequestContext,
        name: &str,
        disabled: bool,
    ) -> Result<pb::User, GatewayError> {
        let (tenant, user) = self.find_user(principal, name).await?;
        principal.may_manage(&user)?;
        let scope = self.store.tenant(tenant.id).await?;
        if disabled {
            self.keep_an_owner(&scope, &user).await?;
        }
        scope.users().set_disabled(user.id, disabled).await?;
        let resource = format!("tenants/{}/users/{}", tenant.id, user.id);
        let action = if disabled {
            // A disabled user's sessions end now, not when their refresh tokens expire.
            let revoked = scope.refresh_tokens().revoke_user(user.id, now_us()).await?;
            self.record(
                &scope,
                context,
                principal,
                "user.disable",
                resource,
                &[("revoked_tokens", revoked.to_string())],
            )
            .await?;
            true
        } else {
            self.record(&scope, context, principal, "user.enable", resource, &[]).await?;
            false
        };
        let changed = scope.users().by_id(user.id).await?.ok_or(GatewayError::Internal("user vanished".into()))?;
        scope.commit().await?;
        if action {
            // ...and so do the access tokens already issued.
            self.revocations.revoke_user(tenant.id, user.id).await;
        }
        Ok(convert::user(&changed))
    }
}

/// The gRPC face of [`AdminService`].
#[derive(Clone)]
pub(crate) struct AdminGrpc(pub(crate) Arc<AdminService>);

type Rpc<T> = Result<Response<T>, Status>;

/// Who asks and in which request context.
fn asker<T>(request: &Request<T>) -> Result<(Principal, RequestContext), Status> {
    Ok((Principal::of(request)?, RequestContext::of(request)?.clone()))
}

#[tonic::async_trait]
impl pb::tenant_admin_service_server::TenantAdminService for AdminGrpc {
    async fn create_tenant(&self, request: Request<pb::CreateTenantRequest>) -> Rpc<pb::CreateTenantResponse> {
        let (principal, context) = asker(&request)?;
        Ok(Response::new(self.0.create_tenant(&principal, &context, request.into_inner()).await?))
    }

    async fn get_tenant(&self, request: Request<pb::GetTenantRequest>) -> Rpc<pb::GetTenantResponse> {
        let (principal, _) = asker(&request)?;
        let name = request.into_inner().name;
        let key = convert::tenant_of(&name).ok_or_else(|| invalid("name must be tenants/{tenant}"))?;
        let tenant = self.0.find_tenant(&principal, key).await?;
        Ok(Response::new(pb::GetTenantResponse { tenant: Some(convert::tenant(&tenant)) }))
    }

    async fn list_tenants(&self, request: Request<pb::ListTenantsRequest>) -> Rpc<pb::ListTenantsResponse> {
        let (principal, _) = asker(&request)?;
        Ok(Response::new(self.0.list_tenants(&principal, request.into_inner()).await?))
    }

    async fn update_tenant(&self, request: Request<pb::UpdateTenantRequest>) -> Rpc<pb::UpdateTenantResponse> {
        let (principal, context) = asker(&request)?;
        Ok(Response::new(self.0.update_tenant(&principal, &context, request.into_inner()).await?))
    }

    async fn create_user(&self, request: Request<pb::CreateUserRequest>) -> Rpc<pb::CreateUserResponse> {
        let (principal, context) = asker(&request)?;
        Ok(Response::new(self.0.create_user(&principal, &context, request.into_inner()).await?))
    }

    async fn get_user(&self, request: Request<pb::GetUserRequest>) -> Rpc<pb::GetUserResponse> {
        let (principal, _) = asker(&request)?;
        let (_, user) = self.0.find_user(&principal, &request.into_inner().name).await?;
        Ok(Response::new(pb::GetUserResponse { user: Some(convert::user(&user)) }))
    }

    async fn list_users(&self, request: Request<pb::ListUsersRequest>) -> Rpc<pb::ListUsersResponse> {
        let (principal, _) = asker(&request)?;
        Ok(Response::new(self.0.list_users(&principal, request.into_inner()).await?))
    }

    async fn update_user(&self, request: Request<pb::UpdateUserRequest>) -> Rpc<pb::UpdateUserResponse> {
        let (principal, context) = asker(&request)?;
        Ok(Response::new(self.0.update_user(&principal, &context, request.into_inner()).await?))
    }

    async fn disable_user(&self, request: Request<pb::DisableUserRequest>) -> Rpc<pb::DisableUserResponse> {
        let (principal, context) = asker(&request)?;
        let name = request.into_inner().name;
        let user = self.0.set_disabled(&principal, &context, &name, true).await?;
        Ok(Response::new(pb::DisableUserResponse { user: Some(user) }))
    }

    async fn enable_user(&self, request: Request<pb::EnableUserRequest>) -> Rpc<pb::EnableUserResponse> {
        let (principal, context) = asker(&request)?;
        let name = request.into_inner().name;
        let user = self.0.set_disabled(&principal, &context, &name, false).await?;
        Ok(Response::new(pb::EnableUserResponse { user: Some(user) }))
    }
}
