//! `switchboard.auth.v1.AuthService`: login, refresh with rotation and reuse detection, logout, whoami.
//!
//! Every failed login costs the same whether the tenant, the user or only the password was wrong: the same lookups
//! run (an unknown tenant is looked up in a scope of its own, finding no one), the same decoy password check, and
//! the audit record of a failure is written after the answer, off the response path. The answer itself never says
//! which part was wrong.

use std::sync::Arc;
use std::time::Duration;

use switchboard_mesh::context::RequestContext;
use switchboard_proto::audit::v1::Outcome;
use switchboard_proto::auth::v1 as pb;
use switchboard_store::{Store, TenantId};
use switchboard_types::UserId;
use switchboard_types::now_unix_micros as now_us;
use tonic::{Request, Response, Status};

use crate::accounts::{AccountsScope, RefreshToken, TenantDirectory, User};
use crate::audit_sink::AuditSink;
use crate::authn::Caller;
use crate::throttle::LoginThrottle;
use crate::tokens::TokenKeys;
use crate::{GatewayError, convert, passwords, refresh};

/// Token and session lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct TokenLifetimes {
    /// Access tokens (JWT).
    pub access: Duration,
    /// Refresh tokens: a session unused this long ends.
    pub refresh: Duration,
    /// Sessions, counted from the login: however often it is refreshed, a session ends after this.
    pub session: Duration,
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        Self {
            access: Duration::from_secs(15 * 60),
            refresh: Duration::from_secs(30 * 24 * 3600),
            session: Duration::from_secs(90 * 24 * 3600),
        }
    }
}

/// The same words for every credential failure: no hint which part was wrong.
const BAD_LOGIN: &str = "invalid tenant, email or password";
const BAD_REFRESH: &str = "invalid or expired refresh token: log in again";

pub(crate) struct AuthService {
    pub(crate) store: Store,
    pub(crate) keys: Arc<TokenKeys>,
    pub(crate) audit: AuditSink,
    pub(crate) lifetimes: TokenLifetimes,
    pub(crate) throttle: LoginThrottle,
    pub(crate) revocations: crate::revocation::Revocations,
}

fn duration_us(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Emails are compared trimmed and lowercased.
pub(crate) fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Password checks running at once. Each Argon2id check takes 19 MiB and a core for tens of milliseconds; an
/// unbounded number would let anonymous logins exhaust memory and CPU.
const CONCURRENT_PASSWORD_CHECKS: usize = 4;
/// How long a login waits for a password-check slot before being told to retry.
const PASSWORD_CHECK_WAIT: Duration = Duration::from_secs(2);

/// Runs argon2 off the async runtime, at most [`CONCURRENT_PASSWORD_CHECKS`] at a time.
pub(crate) async fn verify_password(password: String, hash: String) -> Result<bool, GatewayError> {
    static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CONCURRENT_PASSWORD_CHECKS);
    let _slot = match tokio::time::timeout(PASSWORD_CHECK_WAIT, SLOTS.acquire()).await {
        Ok(Ok(slot)) => slot,
        _ => return Err(GatewayError::Throttled("too many logins in progress: retry in a few seconds".into())),
    };
    tokio::task::spawn_blocking(move || passwords::verify(&password, &hash))
        .await
        .map_err(|e| GatewayError::Internal(format!("password check failed: {e}")))
}

impl AuthService {
    fn context<T>(request: &Request<T>) -> Result<RequestContext, Status> {
        Ok(RequestContext::of(request)?.clone())
    }

    fn access_token(&self, user: &User, session: &str) -> Result<(String, i32), GatewayError> {
        let ttl = self.lifetimes.access.as_secs();
        let token = self.keys.issue(user.tenant, user.id, user.role, session, ttl)?;
        Ok((token, i32::try_from(ttl).unwrap_or(i32::MAX)))
    }

    /// A new refresh token row in `family` (a session begun at `session_started_us`), returning the wire form. It
    /// expires after the refresh lifetime, and never after the session's end.
    async fn new_refresh_token(
        &self,
        scope: &switchboard_store::TenantScope,
        user: UserId,
        family: &str,
        session_started_us: i64,
    ) -> Result<String, GatewayError> {
        let issued = refresh::issue(scope.tenant()).map_err(GatewayError::Internal)?;
        let now = now_us();
        let session_end = session_started_us.saturating_add(duration_us(self.lifetimes.session));
        scope
            .refresh_tokens()
            .insert(RefreshToken {
                id: issued.id.to_string(),
                family: family.to_owned(),
                user,
                secret_hash: issued.secret_hash.clone(),
                created_at_us: now,
                expires_at_us: now.saturating_add(duration_us(self.lifetimes.refresh)).min(session_end),
                used_at_us: None,
                revoked_at_us: None,
                session_started_at_us: session_started_us,
            })
            .await?;
        Ok(issued.wire)
    }

    async fn login(
        &self,
        context: &RequestContext,
        request: pb::LoginRequest,
    ) -> Result<pb::LoginResponse, GatewayError> {
        let slug = request.tenant.trim().to_lowercase();
        let email = normalize_email(&request.email);
        if slug.is_empty() || email.is_empty() || request.password.is_empty() {
            return Err(GatewayError::InvalidArgument("tenant, email and password are required".into()));
        }
        // Bounds before any work: no slug, email or password this long can exist.
        if slug.len() > 63 || email.len() > 254 || request.password.len() > passwords::MAX_PASSWORD_BYTES {
            return Err(GatewayError::Unauthenticated(BAD_LOGIN));
        }
        // Counted before the password is checked: parallel guesses cannot all slip in before a failure is counted.
        let throttle_key = format!("{slug}/{email}");
        if let Err(wait) = self.throttle.begin(&throttle_key).await {
            return Err(GatewayError::Throttled(format!("too many failed logins: retry in {wait} s")));
        }

        // The same lookups whatever exists: an unknown tenant is searched in a scope of its own, finding no one.
        let tenant = TenantDirectory::new(&self.store).by_slug(&slug).await?;
        let scope = self.store.tenant(tenant.as_ref().map_or_else(TenantId::generate, |t| t.id)).await?;
        let user = scope.users().by_email(&email).await?.filter(|_| tenant.is_some());
        let hash = user.as_ref().map_or_else(|| passwords::decoy_hash().to_owned(), |u| u.password_hash.clone());
        let password_ok = verify_password(request.password, hash).await?;
        let user = match user {
            Some(user) if password_ok && !user.disabled => user,
            failed => {
                drop(scope);
                if let Some(user) = failed {
                    // After the answer, so that this write does not tell which failures had an account behind them.
                    let reason = if user.disabled { "user disabled" } else { "wrong password" };
                    self.record_later(user.tenant, context.clone(), format!("user:{}", user.id), reason);
                }
                return Err(GatewayError::Unauthenticated(BAD_LOGIN));
            }
        };
        self.throttle.succeed(&throttle_key).await;

        let family = uuid::Uuid::now_v7().to_string();
        let refresh_token = self.new_refresh_token(&scope, user.id, &family, now_us()).await?;
        self.audit
            .record(
                &scope,
                context,
                format!("user:{}", user.id),
                "auth.login",
                Outcome::Success,
                &[("family", family.clone())],
            )
            .await?;
        scope.commit().await?;
        let (access_token, expires_in) = self.access_token(&user, &family)?;
        Ok(pb::LoginResponse { access_token, refresh_token, expires_in, token_type: "Bearer".into() })
    }

    /// Writes the audit record of a failed login in the background.
    fn record_later(&self, tenant: TenantId, context: RequestContext, actor: String, reason: &'static str) {
        let (store, audit) = (self.store.clone(), self.audit.clone());
        tokio::spawn(async move {
            let recorded = async {
                let scope = store.tenant(tenant).await?;
                audit
                    .record(&scope, &context, actor, "auth.login", Outcome::Failure, &[("reason", reason.into())])
                    .await?;
                scope.commit().await?;
                Ok::<_, GatewayError>(())
            };
            if let Err(e) = recorded.await {
                tracing::error!(%tenant, error = %e, "cannot record a failed login in the audit log");
            }
        });
    }

    async fn refresh(
        &self,
        context: &RequestContext,
        request: pb::RefreshRequest,
    ) -> Result<pb::RefreshResponse, GatewayError> {
        let presented =
            refresh::parse(request.refresh_token.trim()).ok_or(GatewayError::Unauthenticated(BAD_REFRESH))?;
        let scope = self.store.tenant(presented.tenant).await?;
        let Some(stored) = scope.refresh_tokens().get(&presented.id.to_string()).await? else {
            return Err(GatewayError::Unauthenticated(BAD_REFRESH));
        };
        if !presented.matches(&stored.secret_hash) {
            return Err(GatewayError::Unauthenticated(BAD_REFRESH));
        }
        let now = now_us();
        let actor = format!("user:{}", stored.user);
        if stored.revoked_at_us.is_some() {
            return Err(GatewayError::Unauthenticated(BAD_REFRESH));
        }
        // Spent already, or spent by a concurrent request just now: either way a copy is in someone else's hands.
        if stored.used_at_us.is_some() || !scope.refresh_tokens().spend(&stored.id, now).await? {
            let revoked = scope.refresh_tokens().revoke_family(&stored.family, now).await?;
            self.audit
                .record(
                    &scope,
                    context,
                    actor,
                    "auth.refresh_token_reuse",
                    Outcome::Denied,
                    &[("family", stored.family.clone()), ("revoked_tokens", revoked.to_string())],
                )
                .await?;
            scope.commit().await?;
            self.revocations.revoke_session(&stored.family).await;
            tracing::warn!(tenant = %presented.tenant, family = %stored.family, revoked, "refresh token reuse");
            return Err(GatewayError::Unauthenticated(BAD_REFRESH));
        }
        let session_end = stored.session_started_at_us.saturating_add(duration_us(self.lifetimes.session));
        if stored.expires_at_us <= now || session_end <= now {
            return Err(GatewayError::Unauthenticated(BAD_REFRESH));
        }
        let user = scope.users().by_id(stored.user).await?;
        let Some(user) = user.filter(|u| !u.disabled) else {
            return Err(GatewayError::Unauthenticated(BAD_REFRESH));
        };
        let refresh_token =
            self.new_refresh_token(&scope, user.id, &stored.family, stored.session_started_at_us).await?;
        scope.commit().await?;
        let (access_token, expires_in) = self.access_token(&user, &stored.family)?;
        Ok(pb::RefreshResponse { access_token, refresh_token, expires_in, token_type: "Bearer".into() })
    }

    async fn logout(
        &self,
        context: &RequestContext,
        request: pb::LogoutRequest,
    ) -> Result<pb::LogoutResponse, GatewayError> {
        let presented = refresh::parse(request.refresh_token.trim())
            .ok_or_else(|| GatewayError::InvalidArgument("refresh_token is not a Switchboard refresh token".into()))?;
        let scope = self.store.tenant(presented.tenant).await?;
        let Some(stored) = scope.refresh_tokens().get(&presented.id.to_string()).await? else {
            return Err(GatewayError::Unauthenticated(BAD_REFRESH));
        };
        if !presented.matches(&stored.secret_hash) {
            return Err(GatewayError::Unauthenticated(BAD_REFRESH));
        }
        let revoked = scope.refresh_tokens().revoke_family(&stored.family, now_us()).await?;
        self.audit
            .record(
                &scope,
                context,
                format!("user:{}", stored.user),
                "auth.logout",
                Outcome::Success,
                &[("family", stored.family.clone()), ("revoked_tokens", revoked.to_string())],
            )
            .await?;
        scope.commit().await?;
        self.revocations.revoke_session(&stored.family).await;
        Ok(pb::LogoutResponse {})
    }

    async fn who_am_i(&self, caller: &Caller) -> Result<pb::WhoAmIResponse, GatewayError> {
        let tenant = TenantDirectory::new(&self.store)
            .by_id(caller.tenant)
            .await?
            .ok_or(GatewayError::Unauthenticated("the token's tenant no longer exists"))?;
        let scope = self.store.tenant_read(caller.tenant).await?;
        let user = scope
            .users()
            .by_id(caller.user)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(GatewayError::Unauthenticated("the token's user no longer exists or is disabled"))?;
        Ok(pb::WhoAmIResponse {
            user: Some(convert::user(&user)),
            tenant: Some(convert::tenant(&tenant)),
            roles: vec![convert::role_to_pb(user.role) as i32],
            platform_operator: false,
            expire_time: Some(prost_types::Timestamp {
                seconds: i64::try_from(caller.expires_at).unwrap_or(i64::MAX),
                nanos: 0,
            }),
        })
    }
}

/// The gRPC face of [`AuthService`].
#[derive(Clone)]
pub(crate) struct AuthGrpc(pub(crate) Arc<AuthService>);

#[tonic::async_trait]
impl pb::auth_service_server::AuthService for AuthGrpc {
    async fn login(&self, request: Request<pb::LoginRequest>) -> Result<Response<pb::LoginResponse>, Status> {
        let context = AuthService::context(&request)?;
        Ok(Response::new(self.0.login(&context, request.into_inner()).await?))
    }

    async fn refresh(&self, request: Request<pb::RefreshRequest>) -> Result<Response<pb::RefreshResponse>, Status> {
        let context = AuthService::context(&request)?;
        Ok(Response::new(self.0.refresh(&context, request.into_inner()).await?))
    }

    async fn logout(&self, request: Request<pb::LogoutRequest>) -> Result<Response<pb::LogoutResponse>, Status> {
        let context = AuthService::context(&request)?;
        Ok(Response::new(self.0.logout(&context, request.into_inner()).await?))
    }

    async fn who_am_i(&self, request: Request<pb::WhoAmIRequest>) -> Result<Response<pb::WhoAmIResponse>, Status> {
        let caller = request
            .extensions()
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| Status::unauthenticated("a valid access token is required"))?;
        Ok(Response::new(self.0.who_am_i(&caller).await?))
    }
}
