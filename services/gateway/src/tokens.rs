//! Access tokens: short-lived JWTs signed with Ed25519 (`alg: EdDSA`) under a `kid`.
//!
//! Keys live in `<data dir>/keys/jwt/<kid>.p8` (PKCS#8, mode 0600), generated on first run. The newest key signs;
//! every key in the directory verifies, so a rotated-out key keeps its tokens valid until they expire (drop its
//! file after the access-token lifetime). The public keys are published as a JWKS document.
//!
//! Verification is strict and uniform: anything wrong (algorithm other than EdDSA, `none`, HS256 with the public
//! key as secret, unknown `kid`, bad signature, expired, not yet valid, wrong `iss` or `aud`, missing `sub` or
//! `tenant_id`, a token over 8 KiB) is the same [`TokenError::Invalid`], which becomes a bare 401 /
//! UNAUTHENTICATED: the reason goes to the log, never to the caller.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use switchboard_types::{TenantId, UserId};

/// `iss` of every access token.
pub const ISSUER: &str = "switchboard";
/// `aud` of every access token.
pub const AUDIENCE: &str = "switchboard-api";
/// Tokens longer than this are refused before parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 30;

/// What can go wrong with tokens.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token is not acceptable; the reason is for logs only.
    #[error("invalid access token ({0})")]
    Invalid(&'static str),
    /// The signing keys could not be loaded or created.
    #[error("JWT signing keys in {path}: {message}")]
    Keys {
        /// The key directory.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// Signing failed.
    #[error("cannot sign an access token: {0}")]
    Sign(String),
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The user id.
    pub sub: String,
    /// The tenant id.
    pub tenant_id: String,
    /// The user's role.
    pub role: String,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Not before (Unix seconds).
    pub nbf: u64,
    /// Expires (Unix seconds).
    pub exp: u64,
    /// Unique token id.
    pub jti: String,
    /// The session (refresh-token family) the token belongs to; revoking the session revokes the token.
    #[serde(default)]
    pub sid: String,
}

/// A verified token's subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The tenant.
    pub tenant: TenantId,
    /// The user.
    pub user: UserId,
    /// The role claim.
    pub role: String,
    /// Expiry (Unix seconds).
    pub expires_at: u64,
    /// Issued at (Unix seconds).
    pub issued_at: u64,
    /// The session id (empty for tokens issued outside a session).
    pub session: String,
}

struct VerifyingKey {
    decoding: DecodingKey,
    public: Vec<u8>,
}

/// The signing key and every verifying key.
pub struct TokenKeys {
    active_kid: String,
    active: EncodingKey,
    verifying: HashMap<String, VerifyingKey>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys").field("active_kid", &self.active_kid).finish_non_exhaustive()
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

impl TokenKeys {
    /// Loads every `*.p8` in `dir`, generating a first key when there is none. The newest kid signs.
    pub fn load_or_create(dir: &Path) -> Result<Self, TokenError> {
        let keys_error = |message: String| TokenError::Keys { path: dir.display().to_string(), message };
        std::fs::create_dir_all(dir).map_err(|e| keys_error(e.to_string()))?;
        let mut pkcs8s = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| keys_error(e.to_string()))? {
            let path = entry.map_err(|e| keys_error(e.to_string()))?.path();
            if path.extension().is_some_and(|e| e == "p8") {
                let kid = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
                let bytes = std::fs::read(&path).map_err(|e| keys_error(format!("{}: {e}", path.display())))?;
                pkcs8s.push((kid, bytes));
            }
        }
        if pkcs8s.is_empty() {
            let (kid, pkcs8) = generate()?;
            use std::os::unix::fs::OpenOptionsExt;
            let path = dir.join(format!("{kid}.p8"));
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| keys_error(format!("{}: {e}", path.display())))?;
            file.write_all(&pkcs8).map_err(|e| keys_error(e.to_string()))?;
            pkcs8s.push((kid, pkcs8));
        }
        Self::from_pkcs8s(pkcs8s)
    }

    /// One fresh in-memory key (tests, benchmarks).
    pub fn ephemeral() -> Result<Self, TokenError> {
        Self::from_pkcs8s(vec![generate()?])
    }

    fn from_pkcs8s(mut keys: Vec<(String, Vec<u8>)>) -> Result<Self, TokenError> {
        // Kids start with the creation time, so the greatest is the newest.
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        let mut verifying = HashMap::new();
        for (kid, pkcs8) in &keys {
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
                .map_err(|e| TokenError::Keys { path: kid.clone(), message: format!("not an Ed25519 key: {e}") })?;
            let public = pair.public_key().as_ref().to_vec();
            let x = URL_SAFE_NO_PAD.encode(&public);
            let decoding = DecodingKey::from_ed_components(&x)
                .map_err(|e| TokenError::Keys { path: kid.clone(), message: e.to_string() })?;
            verifying.insert(kid.clone(), VerifyingKey { decoding, public });
        }
        let (active_kid, pkcs8) = keys.pop().ok_or(TokenError::Invalid("no keys"))?;
        Ok(Self { active: EncodingKey::from_ed_der(&pkcs8), active_kid, verifying })
    }

    /// Signs an access token for `tenant`/`user` in session `session`, valid for `ttl_seconds`.
    pub fn issue(
        &self,
        tenant: TenantId,
        user: UserId,
        role: &str,
        session: &str,
        ttl_seconds: u64,
    ) -> Result<String, TokenError> {
        let now = unix_now();
        let claims = AccessClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: user.to_string(),
            tenant_id: tenant.to_string(),
            role: role.into(),
            iat: now,
            nbf: now,
            exp: now + ttl_seconds,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: session.to_owned(),
        };
        self.sign(&claims)
    }

    /// Signs arbitrary claims with the active key (tests use it to forge near-valid tokens).
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.active_kid.clone());
        jsonwebtoken::encode(&header, claims, &self.active).map_err(|e| TokenError::Sign(e.to_string()))
    }

    /// Verifies a token; see the module docs for what is refused.
    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Invalid("token too long"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid("malformed header"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid("algorithm not allowed"));
        }
        let kid = header.kid.ok_or(TokenError::Invalid("no kid"))?;
        let key = self.verifying.get(&kid).ok_or(TokenError::Invalid("unknown kid"))?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            TokenError::Invalid(match e.kind() {
                K::ExpiredSignature => "expired",
                K::ImmatureSignature => "not yet valid",
                K::InvalidIssuer => "wrong issuer",
                K::InvalidAudience => "wrong audience",
                K::InvalidSignature => "bad signature",
                K::MissingRequiredClaim(_) => "missing claim",
                K::Json(_) => "malformed or missing claims",
                _ => "rejected",
            })
        })?;
        let claims = data.claims;
        let tenant = claims.tenant_id.parse().map_err(|_| TokenError::Invalid("tenant_id is not a UUID"))?;
        let user = claims.sub.parse().map_err(|_| TokenError::Invalid("sub is not a UUID"))?;
        Ok(Principal {
            tenant,
            user,
            role: claims.role,
            expires_at: claims.exp,
            issued_at: claims.iat,
            session: claims.sid,
        })
    }

    /// The public keys as a JWKS document (RFC 7517, OKP keys per RFC 8037).
    pub fn jwks(&self) -> serde_json::Value {
        let mut kids: Vec<&String> = self.verifying.keys().collect();
        kids.sort();
        let keys: Vec<serde_json::Value> = kids
            .into_iter()
            .map(|kid| {
                serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "alg": "EdDSA",
                    "use": "sig",
                    "kid": kid,
                    "x": URL_SAFE_NO_PAD.encode(&self.verifying[kid].public),
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// The raw public key of the active kid (tests forge HS256 tokens with it).
    pub fn active_public_key(&self) -> &[u8] {
        &self.verifying[&self.active_kid].public
    }
}

/// A new key: (kid, PKCS#8). The kid is the creation time and a random suffix, so kids sort by age.
fn generate() -> Result<(String, Vec<u8>), TokenError> {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| TokenError::Sign("cannot generate an Ed25519 key".into()))?;
    let kid = format!("k{}-{}", unix_now(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
    Ok((kid, pkcs8.as_ref().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_old_tokens_valid_and_signs_with_the_newest_key() {
        let dir = tempfile::tempdir().unwrap();
        let old = TokenKeys::load_or_create(dir.path()).unwrap();
        let (tenant, user) = (TenantId::generate(), UserId::generate());
        let old_token = old.issue(tenant, user, "owner", "s1", 900).unwrap();

        // Rotate: add a newer key file beside the old one (kids sort by creation time).
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let (kid, pkcs8) = generate().unwrap();
        std::fs::write(dir.path().join(format!("{kid}.p8")), pkcs8).unwrap();
        let rotated = TokenKeys::load_or_create(dir.path()).unwrap();
        assert_eq!(rotated.active_kid, kid, "the newest key signs");
        assert_eq!(rotated.jwks()["keys"].as_array().unwrap().len(), 2, "both keys are published");
        assert_eq!(rotated.verify(&old_token).unwrap().user, user, "tokens of the old key stay valid");
        let new_token = rotated.issue(tenant, user, "owner", "s1", 900).unwrap();
        assert!(old.verify(&new_token).is_err(), "a verifier without the new key refuses it (unknown kid)");

        // Retire the old key once its tokens have expired: its tokens are then refused.
        std::fs::remove_file(dir.path().join(format!("{}.p8", old.active_kid))).unwrap();
        let retired = TokenKeys::load_or_create(dir.path()).unwrap();
        assert!(retired.verify(&old_token).is_err());
        assert!(retired.verify(&new_token).is_ok());
    }
}
