//! Revoked sessions and users, so that logout, refresh-token reuse and disabling a user end access tokens at
//! once instead of when they expire. Entries live in the cache (in process, or Redis shared by every replica) for
//! one access-token lifetime, after which every token they could refuse has expired anyway.
//!
//! - `revoked:session:<sid>`: every token of that session (logout, reuse of its refresh token).
//! - `revoked:user:<tenant>:<user>` = Unix seconds: every token of that user issued up to then (disable).

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

    /// Whether the caller's token has been revoked. A cache that cannot answer counts as "not revoked" (the
    /// token's own short lifetime still bounds it), with an error in the log.
    pub(crate) async fn is_revoked(&self, caller: &Caller) -> bool {
        if !caller.session.is_empty() {
            match self.cache.get(&session_key(&caller.session)).await {
                Ok(Some(_)) => return true,
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "cannot check session revocation"),
            }
        }
        match self.cache.get(&user_key(caller.tenant, caller.user)).await {
            Ok(Some(since)) => std::str::from_utf8(&since)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|since| caller.issued_at <= since),
            Ok(None) => false,
            Err(e) => {
                tracing::error!(error = %e, "cannot check user revocation");
                false
            }
        }
    }
}
