//! Who a public caller is: the bearer token in `authorization`, verified by [`TokenKeys`]. The edge runs it for
//! every method whose access rule is not anonymous, before any handler.

use std::sync::Arc;

use switchboard_types::{Role, TenantId, UserId};

use crate::respond::EdgeError;
use crate::tokens::TokenKeys;

/// An authenticated end user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Caller {
    /// The tenant the user belongs to.
    pub(crate) tenant: TenantId,
    /// The user.
    pub(crate) user: UserId,
    /// The user's role when the token was issued (a role change revokes older tokens).
    pub(crate) role: Role,
    /// When the access token expires (Unix seconds).
    pub(crate) expires_at: u64,
    /// When it was issued (Unix seconds).
    pub(crate) issued_at: u64,
    /// Its session (refresh-token family).
    pub(crate) session: String,
}

/// The same words for every refused token: no hint which part was wrong.
pub(crate) const INVALID_TOKEN: &str = "a valid access token is required";

/// The JWT authenticator.
pub(crate) struct JwtAuthenticator {
    pub(crate) keys: Arc<TokenKeys>,
}

impl JwtAuthenticator {
    /// The caller named by the bearer token in `headers`. Runs before internal metadata is stripped, so it can
    /// refuse a request whose `x-tenant-id` names another tenant than its token.
    pub(crate) fn authenticate(&self, rpc: &str, headers: &http::HeaderMap) -> Result<Caller, EdgeError> {
        let Some(value) = headers.get(http::header::AUTHORIZATION) else {
            return Err(EdgeError::Unauthenticated("missing access token: send authorization: Bearer <token>"));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .ok_or(EdgeError::Unauthenticated(INVALID_TOKEN))?;
        let principal = self.keys.verify(token.trim()).map_err(|e| {
            // The reason is for operators; the caller learns only that the token was refused.
            tracing::info!(reason = %e, rpc, "access token refused");
            EdgeError::Unauthenticated(INVALID_TOKEN)
        })?;
        // Every x-tenant-id value must name the token's tenant (compared as parsed ids, not text).
        let foreign = headers
            .get_all("x-tenant-id")
            .iter()
            .any(|v| v.to_str().ok().and_then(|s| s.trim().parse::<TenantId>().ok()) != Some(principal.tenant));
        if foreign {
            return Err(EdgeError::Forbidden("x-tenant-id names another tenant than the access token".into()));
        }
        Ok(Caller {
            tenant: principal.tenant,
            user: principal.user,
            role: principal.role,
            expires_at: principal.expires_at,
            issued_at: principal.issued_at,
            session: principal.session,
        })
    }
}
