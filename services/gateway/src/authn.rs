//! Who a public caller is: the bearer token in `authorization`, verified by [`TokenKeys`]. Runs in the mesh's
//! public inbound layer, before any handler, for every method except the few that must work without a token.

use std::sync::Arc;

use switchboard_types::{TenantId, UserId};

use crate::tokens::TokenKeys;

/// An authenticated end user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Caller {
    /// The tenant the user belongs to.
    pub(crate) tenant: TenantId,
    /// The user.
    pub(crate) user: UserId,
    /// The user's role.
    pub(crate) role: String,
    /// When the access token expires (Unix seconds).
    pub(crate) expires_at: u64,
    /// When it was issued (Unix seconds).
    pub(crate) issued_at: u64,
    /// Its session (refresh-token family).
    pub(crate) session: String,
}

/// Methods callable without an access token: getting one, giving one back, and probes.
pub(crate) fn is_anonymous(path: &str) -> bool {
    matches!(
        path,
        "/switchboard.auth.v1.AuthService/Login"
            | "/switchboard.auth.v1.AuthService/Refresh"
            | "/switchboard.auth.v1.AuthService/Logout"
    ) || path.starts_with("/grpc.health.v1.Health/")
        || path.starts_with("/grpc.reflection.v1.ServerReflection/")
        || path.starts_with("/grpc.reflection.v1alpha.ServerReflection/")
}

/// The JWT authenticator.
pub(crate) struct JwtAuthenticator {
    pub(crate) keys: Arc<TokenKeys>,
}

impl JwtAuthenticator {
    /// `Ok(None)`: the method may be called anonymously; `Ok(Some(_))`: authenticated; `Err`: refuse. Runs before
    /// internal metadata is stripped, so it can refuse a request that names another tenant than its token.
    pub(crate) fn authenticate(&self, path: &str, headers: &http::HeaderMap) -> Result<Option<Caller>, tonic::Status> {
        if is_anonymous(path) {
            return Ok(None);
        }
        let unauthenticated = || tonic::Status::unauthenticated("a valid access token is required");
        let Some(value) = headers.get(http::header::AUTHORIZATION) else {
            return Err(tonic::Status::unauthenticated("missing access token: send authorization: Bearer <token>"));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .ok_or_else(unauthenticated)?;
        let principal = self.keys.verify(token.trim()).map_err(|e| {
            // The reason is for operators; the caller learns only that the token was refused.
            tracing::info!(reason = %e, rpc = path, "access token refused");
            unauthenticated()
        })?;
        // Every x-tenant-id value must name the token's tenant (compared as parsed ids, not text).
        let foreign = headers
            .get_all("x-tenant-id")
            .iter()
            .any(|v| v.to_str().ok().and_then(|s| s.trim().parse::<TenantId>().ok()) != Some(principal.tenant));
        if foreign {
            return Err(tonic::Status::permission_denied("x-tenant-id names another tenant than the access token"));
        }
        Ok(Some(Caller {
            tenant: principal.tenant,
            user: principal.user,
            role: principal.role,
            expires_at: principal.expires_at,
            issued_at: principal.issued_at,
            session: principal.session,
        }))
    }
}
