//! Refresh tokens: opaque, single-use, rotated on every refresh, stored only as SHA-256 of their secret.
//!
//! Wire form: `sbr1.` + base64url(tenant id (16 bytes) || token id (16 bytes) || secret (32 bytes)). The ids
//! say where to look; only the secret proves possession, and it is compared in constant time against the stored
//! hash. Tokens from one login form a family: presenting a token that was already spent (someone replayed a
//! stolen copy, or the legitimate client after the thief) revokes the whole family.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;
use switchboard_types::TenantId;
use uuid::Uuid;

const PREFIX: &str = "sbr1.";
const RAW_LEN: usize = 16 + 16 + 32;

/// A refresh token as issued to a client. Its `Debug` never shows the secret.
pub struct IssuedRefreshToken {
    /// The token's id (row key).
    pub id: Uuid,
    /// What the client gets.
    pub wire: String,
    /// SHA-256 of the secret: what is stored.
    pub secret_hash: Vec<u8>,
}

impl std::fmt::Debug for IssuedRefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedRefreshToken").field("id", &self.id).finish_non_exhaustive()
    }
}

/// A parsed token presented by a client.
pub struct PresentedRefreshToken {
    /// The tenant it claims.
    pub tenant: TenantId,
    /// Its id.
    pub id: Uuid,
    secret: [u8; 32],
}

impl std::fmt::Debug for PresentedRefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedRefreshToken")
            .field("tenant", &self.tenant)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().to_vec()
}

/// A new token for `tenant`.
pub fn issue(tenant: TenantId) -> Result<IssuedRefreshToken, String> {
    let id = Uuid::now_v7();
    let mut secret = [0u8; 32];
    SystemRandom::new().fill(&mut secret).map_err(|_| "no randomness available".to_owned())?;
    let mut raw = Vec::with_capacity(RAW_LEN);
    raw.extend_from_slice(tenant.as_uuid().as_bytes());
    raw.extend_from_slice(id.as_bytes());
    raw.extend_from_slice(&secret);
    Ok(IssuedRefreshToken {
        id,
        wire: format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(raw)),
        secret_hash: sha256(&secret),
    })
}

/// Parses a presented token; `None` for anything malformed.
pub fn parse(wire: &str) -> Option<PresentedRefreshToken> {
    let body = wire.strip_prefix(PREFIX)?;
    if body.len() > 128 {
        return None;
    }
    let raw = URL_SAFE_NO_PAD.decode(body).ok()?;
    if raw.len() != RAW_LEN {
        return None;
    }
    let tenant = TenantId::from_uuid(Uuid::from_slice(&raw[..16]).ok()?);
    let id = Uuid::from_slice(&raw[16..32]).ok()?;
    let mut secret = [0u8; 32];
    secret.copy_from_slice(&raw[32..]);
    Some(PresentedRefreshToken { tenant, id, secret })
}

impl PresentedRefreshToken {
    /// Whether this token's secret matches a stored hash, in constant time.
    pub fn matches(&self, stored_hash: &[u8]) -> bool {
        sha256(&self.secret).ct_eq(stored_hash).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_parse_and_match_only_their_hash() {
        let tenant = TenantId::generate();
        let issued = issue(tenant).unwrap();
        let presented = parse(&issued.wire).unwrap();
        assert_eq!((presented.tenant, presented.id), (tenant, issued.id));
        assert!(presented.matches(&issued.secret_hash));
        assert!(!presented.matches(&issue(tenant).unwrap().secret_hash));
        assert!(!format!("{issued:?}").contains(&issued.wire[5..20]), "Debug hides the secret");
    }

    #[test]
    fn malformed_tokens_are_none() {
        for bad in ["", "sbr1.", "sbr2.AAAA", "sbr1.!!!!", &format!("sbr1.{}", "A".repeat(200))] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
