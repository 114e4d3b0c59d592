//! Revoked sessions and users, so that logout, refresh-token reuse, disabling a user and changing their role end
//! access tokens at once instead of when they expire. Entries live in the cache (in process, or Redis shared by
//! every replica) for one access-token lifetime, after which every token they could refuse has expired anyway.
//! When the cache cannot answer, [`OnCacheError`] decides: accept the token (default) or fail closed.
//!
//! - `revoked:session:<sid>`: every token of that session (logout, reuse of its refresh token).
//! - `revoked:user:<tenant>:<user>` = Unix seconds: every token of that user issued up to then (disable, role
//!   change).

use std::sync::Arc;
use std::time::Duration;

use switchboard_cache::Cache;
use switchboard_types::{TenantId, UserId};

use crate::authn::Caller;

/// Revocation records in the cache.
#[derive(Clone)]
pub(crate) struct Revocations {
    pub(crate) cache: Arc<dyn Cache>,
    /// How long a record must live: the access-token lifetime (plus clock leeway).
    pub(crate) ttl: Duration,
    /// What a token is when the cache cannot say whether it was revoked.
    pub(crate) on_cache_error: OnCacheError,
}

/// What to do with a token when the cache cannot answer whether it was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnCacheError {
    /// Accept it (the default): its own short lifetime still bounds it, and a cache outage is not an API outage.
    #[default]
    Allow,
    /// Refuse the request with UNAVAILABLE / 503 until the cache answers again (fail closed).
    Deny,
}

/// Whether a token may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    /// Not revoked (or unknown, under [`OnCacheError::Allow`]).
    Valid,
    /// Revoked.
    Revoked,
    /// Unknown, under [`OnCacheError::Deny`].
    Unknown,
}

fn session_key(session: &str) -> String {
    format!("revoked:session:{session}")
}

fn user_key(tenant: TenantId, user: UserId) -> String {
    format!("revoked:user:{tenant}:{user}")
}

impl Revocations {
    /// Ends every access token of `session`.
    pub(crate) async fn revoke_session(&self, session: &str) {
        if let Err(e) = self.cache.set(&session_key(session), b"1", Some(self.ttl)).await {
            tracing::error!(error = %e, "cannot record a session revocation; its access tokens live until they expire");
        }
    }

    /// Ends every access token of the user issued up to now.
    pub(crate) async fn revoke_user(&self, tenant: TenantId, user: UserId) {
        let now = crate::tokens::unix_now().to_string();
        if let Err(e) = self.cache.set(&user_key(tenant, user), now.as_bytes(), Some(self.ttl)).await {
            tracing::error!(error = %e, "cannot record a user revocation; their access tokens live until they expire");
        }
    }

    /// Whether the caller's token may be used. When the cache cannot answer, the policy decides, with an error in
    /// the log either way.
    pub(crate) async fn standing(&self, caller: &Caller) -> Standing {
        match self.is_revoked(caller).await {
            Ok(true) => Standing::Revoked,
            Ok(false) => Standing::Valid,
            Err(()) if self.on_cache_error == OnCacheError::Deny => Standing::Unknown,
            Err(()) => Standing::Valid,
        }
    }

    async fn is_revoked(&self, caller: &Caller) -> Result<bool, ()> {
        if !caller.session.is_empty() {
            match self.cache.get(&session_key(&caller.session)).await {
                Ok(Some(_)) => return Ok(true),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, policy = ?self.on_cache_error, "cannot check session revocation");
                    return Err(());
                }
            }
        }
        match self.cache.get(&user_key(caller.tenant, caller.user)).await {
            Ok(Some(since)) => Ok(std::str::from_utf8(&since)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|since| caller.issued_at <= since)),
            Ok(None) => Ok(false),
            Err(e) => {
                tracing::error!(error = %e, policy = ?self.on_cache_error, "cannot check user revocation");
                Err(())
            }
        }
    }
}
