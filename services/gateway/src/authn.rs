//! Who a public caller is: the bearer token in `authorization`, verified by [`TokenKeys`]. The edge runs it for
//! every method whose access rule is not anonymous, before any handler.
//!
//! A token's signature is checked once: what it proved is kept in [`VerifiedTokens`] under the token's SHA-256
//! until the token expires, so a client's following calls skip the Ed25519 verification (a tenth of an
//! authenticated read's CPU). Only what a token *says* is cached; whether its session was revoked is asked on every
//! request (`crate::revocation`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use switchboard_types::{Role, TenantId, UserId};

use crate::respond::EdgeError;
use crate::tokens::{Principal, TokenKeys};

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
    pub(crate) verified: VerifiedTokens,
}

/// Tokens whose signature and claims were verified, by SHA-256 of the token text, each until it expires.
///
/// Bounded: when full, expired entries are dropped, and if none had expired the whole map is (every token still
/// verifies from scratch; the cache only saves work). The map never holds a token itself.
pub(crate) struct VerifiedTokens {
    entries: Mutex<HashMap<[u8; 32], Principal>>,
    capacity: usize,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self::with_capacity(16 * 1024)
    }
}

impl VerifiedTokens {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self { entries: Mutex::new(HashMap::new()), capacity }
    }

    fn key(token: &str) -> [u8; 32] {
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        key
    }

    /// What `token` proved when it was verified, if that is known and it has not expired since.
    fn get(&self, key: &[u8; 32], now: u64) -> Option<Principal> {
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.get(key).filter(|p| crate::tokens::still_valid(p, now)).cloned()
    }

    fn insert(&self, key: [u8; 32], principal: &Principal, now: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= self.capacity {
            entries.retain(|_, p| crate::tokens::still_valid(p, now));
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, principal.clone());
    }

    /// The verified principal of `token`: from the cache, else from `keys` (and then cached).
    pub(crate) fn verify(&self, keys: &TokenKeys, token: &str) -> Result<Principal, crate::tokens::TokenError> {
        let key = Self::key(token);
        let now = crate::tokens::unix_now();
        if let Some(principal) = self.get(&key, now) {
            return Ok(principal);
        }
        let principal = keys.verify(token)?;
        self.insert(key, &principal, now);
        Ok(principal)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }
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
        let principal = self.verified.verify(&self.keys, token.trim()).map_err(|e| {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    fn keys() -> (tempfile::TempDir, TokenKeys) {
        let dir = tempfile::tempdir().unwrap();
        let keys = TokenKeys::load_or_create(&dir.path().join("jwt"), None).unwrap();
        (dir, keys)
    }

    #[test]
    fn a_verified_token_is_remembered_until_it_expires_and_a_bad_one_never() {
        let (_dir, keys) = keys();
        let cache = VerifiedTokens::default();
        let (tenant, user) = (TenantId::generate(), UserId::generate());
        let token = keys.issue(tenant, user, Role::Member, "s1", 900).unwrap();
        let first = cache.verify(&keys, &token).unwrap();
        assert_eq!((first.tenant, first.user, first.role), (tenant, user, Role::Member));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.verify(&keys, &token).unwrap(), first, "the second call is answered from the cache");

        // One flipped signature character: refused, and nothing is cached for it.
        let mut forged = token.clone().into_bytes();
        let last = forged.len() - 2;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert!(cache.verify(&keys, &forged).is_err());
        assert!(cache.verify(&keys, &forged).is_err(), "still refused the second time");
        assert_eq!(cache.len(), 1);

        // An entry past its token's expiry (plus leeway) is never used.
        let now = crate::tokens::unix_now();
        let mut expired = first.clone();
        expired.expires_at = now - 3600;
        let key = VerifiedTokens::key("expired-token");
        cache.insert(key, &expired, now);
        assert!(cache.get(&key, now).is_none());
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let (_dir, keys) = keys();
        let cache = VerifiedTokens::with_capacity(8);
        for i in 0..20 {
            let token =
                keys.issue(TenantId::generate(), UserId::generate(), Role::Viewer, &format!("s{i}"), 900).unwrap();
            cache.verify(&keys, &token).unwrap();
            assert!(cache.len() <= 8);
        }
    }
}
