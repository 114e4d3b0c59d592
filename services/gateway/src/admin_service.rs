//! `switchboard.auth.v1.TenantAdminService`: tenants and their users. Served to operators on the gateway's admin
//! listener (mTLS, operator certificate only), which is what `switchboard tenant create` and
//! `switchboard user create` talk to.

use std::sync::Arc;

use switchboard_proto::auth::v1 as pb;
use switchboard_store::identity::{TenantRecord, UserRecord};
use switchboard_store::{Store, StoreError, TenantId};
use switchboard_types::UserId;
use switchboard_types::now_unix_micros as now_us;
use tonic::{Request, Response, Status};

use crate::auth_service::normalize_email;
use crate::{GatewayError, convert, passwords};

const DEFAULT_PAGE: i32 = 50;
const MAX_PAGE: i32 = 1000;

pub(crate) struct AdminService {
    pub(crate) store: Store,
    pub(crate) revocations: crate::revocation::Revocations,
    /// Holds cached tenant settings, dropped here when they change.
    pub(crate) cache: std::sync::Arc<dyn switchboard_cache::Cache>,
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

fn stored_tenant_id(record: &TenantRecord) -> Result<TenantId, GatewayError> {
    record.id.parse().map_err(|_| GatewayError::Internal(format!("stored tenant id {:?}", record.id)))
}

fn conflict(what: String) -> impl FnOnce(GatewayError) -> GatewayError {
    move |e| match e {
        GatewayError::Store(StoreError::Conflict(_)) => GatewayError::AlreadyExists(what),
        other => other,
    }
}

impl AdminService {
    /// A tenant by id or slug.
    async fn find_tenant(&self, key: &str) -> Result<TenantRecord, GatewayError> {
        let found = match key.parse::<TenantId>() {
            Ok(id) => self.store.tenants().by_id(id).await?,
            Err(_) => self.store.tenants().by_slug(key).await?,
        };
        found.ok_or_else(|| GatewayError::NotFound(format!("no tenant {key:?}")))
    }

    async fn create_tenant(&self, request: pb::CreateTenantRequest) -> Result<pb::CreateTenantResponse, GatewayError> {
        let tenant = request.tenant.ok_or_else(|| invalid("tenant is required"))?;
        let slug = tenant.slug.trim().to_lowercase();
        check_slug(&slug)?;
        let display_name = if tenant.display_name.trim().is_empty() { slug.clone() } else { tenant.display_name };
        check_display_name(&display_name)?;
        if tenant.rate_limit_per_minute < 0 {
            return Err(invalid("rate_limit_per_minute must be 0 (platform default) or more"));
        }
        let record = TenantRecord {
            id: TenantId::generate().to_string(),
            slug: slug.clone(),
            display_name,
            rate_limit_per_minute: tenant.rate_limit_per_minute,
            created_at_us: now_us(),
        };
        self.store
            .tenants()
            .create(record.clone())
            .await
            .map_err(GatewayError::from)
            .map_err(conflict(format!("a tenant with slug {slug:?} exists already")))?;
        Ok(pb::CreateTenantResponse { tenant: Some(convert::tenant(&record)) })
    }

    async fn get_tenant(&self, request: pb::GetTenantRequest) -> Result<pb::GetTenantResponse, GatewayError> {
        let key = convert::tenant_of(&request.name).ok_or_else(|| invalid("name must be tenants/{tenant}"))?;
        Ok(pb::GetTenantResponse { tenant: Some(convert::tenant(&self.find_tenant(key).await?)) })
    }

    async fn list_tenants(&self, request: pb::ListTenantsRequest) -> Result<pb::ListTenantsResponse, GatewayError> {
        let limit = page_size(request.page_size)?;
        let after = (!request.page_token.is_empty()).then_some(request.page_token.as_str());
        if let Some(after) = after {
            check_slug(after).map_err(|_| invalid("page_token is malformed: pass next_page_token unchanged"))?;
        }
        let mut rows = self.store.tenants().list(after, limit + 1).await?;
        let next_page_token = if rows.len() as u64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|t| t.slug.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(pb::ListTenantsResponse { tenants: rows.iter().map(convert::tenant).collect(), next_page_token })
    }

    async fn update_tenant(&self, request: pb::UpdateTenantRequest) -> Result<pb::UpdateTenantResponse, GatewayError> {
        let patch = request.tenant.ok_or_else(|| invalid("tenant is required"))?;
        let key = convert::tenant_of(&patch.name).ok_or_else(|| invalid("tenant.name must be tenants/{tenant}"))?;
        let current = self.find_tenant(key).await?;
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
                "rate_limit_per_minute" if patch.rate_limit_per_minute >= 0 => limit = patch.rate_limit_per_minute,
                "rate_limit_per_minute" => return Err(invalid("rate_limit_per_minute must be 0 or more")),
                other => return Err(invalid(format!("update_mask path {other:?} cannot be updated"))),
            }
        }
        let id = stored_tenant_id(&current)?;
        self.store.tenants().update(id, &display_name, limit).await?;
        // Written, not deleted: a request that read the old limit can then not put it back. With Redis every replica
        // uses the new limit from its next request; in process, this replica does, others within the cache TTL.
        let key = crate::ratelimit::tenant_limit_key(id);
        let value = limit.max(0).to_string();
        if let Err(e) = self.cache.set(&key, value.as_bytes(), Some(crate::ratelimit::OVERRIDE_TTL)).await {
            tracing::warn!(tenant = %id, error = %e, "cannot update the cached rate limit; it applies when it expires");
        }
        let updated = self.find_tenant(&current.id).await?;
        Ok(pb::UpdateTenantResponse { tenant: Some(convert::tenant(&updated)) })
    }

    async fn create_user(&self, request: pb::CreateUserRequest) -> Result<pb::CreateUserResponse, GatewayError> {
        let key = convert::tenant_of(&request.parent).ok_or_else(|| invalid("parent must be tenants/{tenant}"))?;
        let tenant = self.find_tenant(key).await?;
        let email = normalize_email(&request.email);
        check_email(&email)?;
        check_display_name(&request.display_name)?;
        if let Some(weak) = passwords::weakness(&request.password) {
            return Err(invalid(weak));
        }
        let role = pb::Role::try_from(request.role)
            .ok()
            .and_then(convert::role_to_str)
            .ok_or_else(|| invalid("role must be one of ROLE_OWNER, ROLE_ADMIN, ROLE_MEMBER, ROLE_VIEWER"))?;
        let password = request.password;
        let password_hash = tokio::task::spawn_blocking(move || passwords::hash(&password))
            .await
            .map_err(|e| GatewayError::Internal(e.to_string()))?
            .map_err(GatewayError::Internal)?;
        let record = UserRecord {
            tenant_id: tenant.id.clone(),
            id: UserId::generate().to_string(),
            email: email.clone(),
            display_name: request.display_name,
            password_hash,
            role: role.to_owned(),
            disabled: false,
            created_at_us: now_us(),
        };
        let scope = self.store.tenant(stored_tenant_id(&tenant)?).await?;
        scope
            .users()
            .create(record.clone())
            .await
            .map_err(GatewayError::from)
            .map_err(conflict(format!("{email} is already a user of {}", tenant.slug)))?;
        scope.commit().await?;
        Ok(pb::CreateUserResponse { user: Some(convert::user(&record)) })
    }

    async fn find_user(&self, name: &str) -> Result<(TenantRecord, UserRecord), GatewayError> {
        let (tenant_key, user_id) =
            convert::user_of(name).ok_or_else(|| invalid("name must be tenants/{tenant}/users/{user}"))?;
        let tenant = self.find_tenant(tenant_key).await?;
        let scope = self.store.tenant(stored_tenant_id(&tenant)?).await?;
        let user =
            scope.users().by_id(user_id).await?.ok_or_else(|| GatewayError::NotFound(format!("no user {name}")))?;
        Ok((tenant, user))
    }

    async fn set_disabled(&self, name: &str, disabled: bool) -> Result<pb::User, GatewayError> {
        let (tenant, user) = self.find_user(name).await?;
        let scope = self.store.tenant(stored_tenant_id(&tenant)?).await?;
        scope.users().set_disabled(&user.id, disabled).await?;
        if disabled {
            // A disabled user's sessions end now, not when their refresh tokens expire.
            scope.refresh_tokens().revoke_user(&user.id, now_us()).await?;
        }
        scope.commit().await?;
        if disabled {
            // ...and so do the access tokens already issued.
            if let (Ok(tenant_id), Ok(user_id)) = (tenant.id.parse(), user.id.parse()) {
                self.revocations.revoke_user(tenant_id, user_id).await;
            }
        }
        Ok(convert::user(&self.find_user(name).await?.1))
    }
}

/// The gRPC face of [`AdminService`].
#[derive(Clone)]
pub(crate) struct AdminGrpc(pub(crate) Arc<AdminService>);

type Rpc<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl pb::tenant_admin_service_server::TenantAdminService for AdminGrpc {
    async fn create_tenant(&self, request: Request<pb::CreateTenantRequest>) -> Rpc<pb::CreateTenantResponse> {
        Ok(Response::new(self.0.create_tenant(request.into_inner()).await?))
    }

    async fn get_tenant(&self, request: Request<pb::GetTenantRequest>) -> Rpc<pb::GetTenantResponse> {
        Ok(Response::new(self.0.get_tenant(request.into_inner()).await?))
    }

    async fn list_tenants(&self, request: Request<pb::ListTenantsRequest>) -> Rpc<pb::ListTenantsResponse> {
        Ok(Response::new(self.0.list_tenants(request.into_inner()).await?))
    }

    async fn update_tenant(&self, request: Request<pb::UpdateTenantRequest>) -> Rpc<pb::UpdateTenantResponse> {
        Ok(Response::new(self.0.update_tenant(request.into_inner()).await?))
    }

    async fn create_user(&self, request: Request<pb::CreateUserRequest>) -> Rpc<pb::CreateUserResponse> {
        Ok(Response::new(self.0.create_user(request.into_inner()).await?))
    }

    async fn get_user(&self, request: Request<pb::GetUserRequest>) -> Rpc<pb::GetUserResponse> {
        let (_, user) = self.0.find_user(&request.into_inner().name).await?;
        Ok(Response::new(pb::GetUserResponse { user: Some(convert::user(&user)) }))
    }

    async fn list_users(&self, request: Request<pb::ListUsersRequest>) -> Rpc<pb::ListUsersResponse> {
        let request = request.into_inner();
        let key = convert::tenant_of(&request.parent)
            .ok_or_else(|| GatewayError::InvalidArgument("parent must be tenants/{tenant}".into()))?;
        let tenant = self.0.find_tenant(key).await?;
        let limit = page_size(request.page_size)?;
        let after = (!request.page_token.is_empty()).then_some(request.page_token.as_str());
        let scope = self.0.store.tenant(stored_tenant_id(&tenant)?).await.map_err(GatewayError::from)?;
        let mut rows = scope.users().list(after, limit + 1).await.map_err(GatewayError::from)?;
        let next_page_token = if rows.len() as u64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|u| u.email.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListUsersResponse { users: rows.iter().map(convert::user).collect(), next_page_token }))
    }

    async fn update_user(&self, request: Request<pb::UpdateUserRequest>) -> Rpc<pb::UpdateUserResponse> {
        let request = request.into_inner();
        let patch = request.user.ok_or_else(|| GatewayError::InvalidArgument("user is required".into()))?;
        let (tenant, current) = self.0.find_user(&patch.name).await?;
        let mask = request.update_mask.map(|m| m.paths).unwrap_or_default();
        if mask.is_empty() {
            return Err(GatewayError::InvalidArgument("update_mask is required: display_name, role".into()).into());
        }
        let (mut display_name, mut role) = (current.display_name.clone(), current.role.clone());
        for path in &mask {
            match path.as_str() {
                "display_name" => {
                    check_display_name(&patch.display_name)?;
                    display_name = patch.display_name.clone();
                }
                "role" => {
                    role = pb::Role::try_from(patch.role)
                        .ok()
                        .and_then(convert::role_to_str)
                        .ok_or_else(|| GatewayError::InvalidArgument("role must be a known role".into()))?
                        .to_owned();
                }
                other => {
                    return Err(
                        GatewayError::InvalidArgument(format!("update_mask path {other:?} cannot be updated")).into()
                    );
                }
            }
        }
        let scope = self.0.store.tenant(stored_tenant_id(&tenant)?).await.map_err(GatewayError::from)?;
        scope.users().update(&current.id, &display_name, &role).await.map_err(GatewayError::from)?;
        scope.commit().await.map_err(GatewayError::from)?;
        let (_, user) = self.0.find_user(&patch.name).await?;
        Ok(Response::new(pb::UpdateUserResponse { user: Some(convert::user(&user)) }))
    }

    async fn disable_user(&self, request: Request<pb::DisableUserRequest>) -> Rpc<pb::DisableUserResponse> {
        let user = self.0.set_disabled(&request.into_inner().name, true).await?;
        Ok(Response::new(pb::DisableUserResponse { user: Some(user) }))
    }

    async fn enable_user(&self, request: Request<pb::EnableUserRequest>) -> Rpc<pb::EnableUserResponse> {
        let user = self.0.set_disabled(&request.into_inner().name, false).await?;
        Ok(Response::new(pb::EnableUserResponse { user: Some(user) }))
    }
}
