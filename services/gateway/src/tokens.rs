//! Access tokens: short-lived JWTs (RFC 9068 `typ: at+jwt`) signed with Ed25519 (`alg: EdDSA`) under a `kid`.
//!
//! Keys live in `<data dir>/keys/jwt/<kid>.p8` (PKCS#8, mode 0600, in a 0700 directory), generated on first run.
//! Every key in the directory verifies; the one that signs is chosen explicitly: the kid named by
//! `SWITCHBOARD_JWT_ACTIVE_KID`, else the kid written in the directory's `active` file (written with the first
//! key). To rotate: add a key file (its public key is published at once), then, once every replica has it, name it
//! active; drop the old file after the access-token lifetime. The public keys are published as a JWKS document.
//!
//! Verification is strict and uniform: anything wrong (a `typ` other than `at+jwt`, algorithm other than EdDSA,
//! `none`, HS256 with the public key as secret, unknown `kid`, bad signature, expired, not yet valid, wrong `iss` or
//! `aud`, missing `sub` or `tenant_id`, an unknown role, a token over 8 KiB) is the same [`TokenError::Invalid`],
//! which becomes a bare 401 / UNAUTHENTICATED: the reason goes to the log, never to the caller.

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
use switchboard_types::{Role, TenantId, UserId};

/// `iss` of every access token.
pub const ISSUER: &str = "switchboard";
/// `aud` of every access token.
pub const AUDIENCE: &str = "switchboard-api";
/// Tokens longer than this are refused before parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 30;
/// The JOSE `typ` of access tokens (RFC 9068), so that no other JWT signed with the same key passes as one.
pub const TOKEN_TYPE: &str = "at+jwt";
/// The file in the keys directory naming the signing key.
const ACTIVE_FILE: &str = "active";

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
    pub role: Role,
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

/// Whether a token verified earlier (`principal`) is still within its lifetime at `now`, by the same rule as
/// [`TokenKeys::verify`]: accepted until `exp` plus the leeway.
pub(crate) fn still_valid(principal: &Principal, now: u64) -> bool {
    now <= principal.expires_at.saturating_add(LEEWAY_SECONDS)
}

impl TokenKeys {
    /// Loads every `*.p8` in `dir`, generating a first key (and naming it active) when there is none. The signing
    /// key is `active_kid` when given, else the one the `active` file names.
    pub fn load_or_create(dir: &Path, active_kid: Option<&str>) -> Result<Self, TokenError> {
        let keys_error = |message: String| TokenError::Keys { path: dir.display().to_string(), message };
        switchboard_mesh::pki::create_private_dir(dir).map_err(|e| keys_error(e.to_string()))?;
        let mut pkcs8s = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| keys_error(e.to_string()))? {
            let path = entry.map_err(|e| keys_error(e.to_string()))?.path();
            if path.extension().is_some_and(|e| e == "p8") {
                switchboard_mesh::pki::warn_if_readable_by_others(&path);
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
            write_active(dir, &kid).map_err(|e| keys_error(e.to_string()))?;
            pkcs8s.push((kid, pkcs8));
        }
        let named = match active_kid.map(str::trim).filter(|k| !k.is_empty()) {
            Some(kid) => kid.to_owned(),
            None => match std::fs::read_to_string(dir.join(ACTIVE_FILE)) {
                Ok(kid) => kid.trim().to_owned(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && pkcs8s.len() == 1 => pkcs8s[0].0.clone(),
                Err(_) => {
                    return Err(keys_error(format!(
                        "{} keys and none chosen to sign: write the signing kid to {} or set \
                         SWITCHBOARD_JWT_ACTIVE_KID",
                        pkcs8s.len(),
                        dir.join(ACTIVE_FILE).display()
                    )));
                }
            },
        };
        Self::from_pkcs8s(pkcs8s, &named)
    }

    /// One fresh in-memory key (tests, benchmarks).
    pub fn ephemeral() -> Result<Self, TokenError> {
        let (kid, pkcs8) = generate()?;
        Self::from_pkcs8s(vec![(kid.clone(), pkcs8)], &kid)
    }

    fn from_pkcs8s(keys: Vec<(String, Vec<u8>)>, active_kid: &str) -> Result<Self, TokenError> {
        let mut verifying = HashMap::new();
        let mut active = None;
        for (kid, pkcs8) in &keys {
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
                .map_err(|e| TokenError::Keys { path: kid.clone(), message: format!("not an Ed25519 key: {e}") })?;
            let public = pair.public_key().as_ref().to_vec();
            let x = URL_SAFE_NO_PAD.encode(&public);
            let decoding = DecodingKey::from_ed_components(&x)
                .map_err(|e| TokenError::Keys { path: kid.clone(), message: e.to_string() })?;
            verifying.insert(kid.clone(), VerifyingKey { decoding, public });
            if kid == active_kid {
                active = Some(EncodingKey::from_ed_der(pkcs8));
            }
        }
        let active = active.ok_or_else(|| TokenError::Keys {
            path: active_kid.to_owned(),
            message: "the key chosen to sign is not among the keys".into(),
        })?;
        Ok(Self { active, active_kid: active_kid.to_owned(), verifying })
    }

    /// Signs an access token for `tenant`/`user` in session `session`, valid for `ttl_seconds`.
    pub fn issue(
        &self,
        tenant: TenantId,
        user: UserId,
        role: Role,
        session: &str,
        ttl_seconds: u64,
    ) -> Result<String, TokenError> {
        let now = unix_now();
        let claims = AccessClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: user.to_string(),
            tenant_id: tenant.to_string(),
            role: role.as_str().into(),
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
        header.typ = Some(TOKEN_TYPE.into());
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
        // RFC 9068: "at+jwt", also written with its "application/" prefix; compared case-insensitively.
        let typ = header.typ.as_deref().map(|t| t.trim_start_matches("application/").to_ascii_lowercase());
        if typ.as_deref() != Some(TOKEN_TYPE) {
            return Err(TokenError::Invalid("not an access token (typ)"));
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
        let role = claims.role.parse().map_err(|_| TokenError::Invalid("unknown role"))?;
        Ok(Principal { tenant, user, role, expires_at: claims.exp, issued_at: claims.iat, session: claims.sid })
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

/// Names `kid` the signing key (atomically: readers never see a half-written file).
fn write_active(dir: &Path, kid: &str) -> std::io::Result<()> {
    let tmp = dir.join(format!("{ACTIVE_FILE}.tmp{}", std::process::id()));
    std::fs::write(&tmp, format!("{kid}\n"))?;
    std::fs::rename(tmp, dir.join(ACTIVE_FILE))
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
    fn rotation_keeps_old_tokens_valid_and_signs_with_the_chosen_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys_dir = dir.path().join("jwt");
        let old = TokenKeys::load_or_create(&keys_dir, None).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&keys_dir).unwrap().permissions().mode() & 0o777, 0o700);
        let (tenant, user) = (TenantId::generate(), UserId::generate());
        let old_token = old.issue(tenant, user, Role::Owner, "s1", 900).unwrap();

        // Add a key: it verifies (and is published) at once, but signs only once it is chosen.
        let (kid, pkcs8) = generate().unwrap();
        std::fs::write(keys_dir.join(format!("{kid}.p8")), pkcs8).unwrap();
        let added = TokenKeys::load_or_create(&keys_dir, None).unwrap();
        assert_eq!(added.active_kid, old.active_kid, "a new key file alone does not take over signing");
        assert_eq!(added.jwks()["keys"].as_array().unwrap().len(), 2, "both keys are published");
        let rotated = TokenKeys::load_or_create(&keys_dir, Some(&kid)).unwrap();
        assert_eq!(rotated.active_kid, kid, "the chosen key signs");
        assert_eq!(rotated.verify(&old_token).unwrap().user, user, "tokens of the old key stay valid");
        let new_token = rotated.issue(tenant, user, Role::Owner, "s1", 900).unwrap();
        assert!(old.verify(&new_token).is_err(), "a verifier without the new key refuses it (unknown kid)");

        // Without the active file, two keys are ambiguous: refused with what to do.
        std::fs::remove_file(keys_dir.join(ACTIVE_FILE)).unwrap();
        let err = TokenKeys::load_or_create(&keys_dir, None).err().unwrap();
        assert!(err.to_string().contains("SWITCHBOARD_JWT_ACTIVE_KID"), "{err}");
        assert!(TokenKeys::load_or_create(&keys_dir, Some("k-missing")).is_err());

        // Retire the old key once its tokens have expired: its tokens are then refused.
        std::fs::remove_file(keys_dir.join(format!("{}.p8", old.active_kid))).unwrap();
        let retired = TokenKeys::load_or_create(&keys_dir, None).unwrap();
        assert!(retired.verify(&old_token).is_err());
        assert!(retired.verify(&new_token).is_ok());
    }

    #[test]
    fn only_access_tokens_pass() {
        let keys = TokenKeys::ephemeral().unwrap();
        let token = keys.issue(TenantId::generate(), UserId::generate(), Role::Viewer, "s", 60).unwrap();
        assert_eq!(keys.verify(&token).unwrap().role, Role::Viewer);
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        // The same claims signed with the same key as a plain JWT are refused.
        let payload = token.split('.').nth(1).unwrap();
        let claims: AccessClaims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        let mut plain = Header::new(Algorithm::EdDSA);
        plain.kid = Some(keys.active_kid.clone());
        let jwt = jsonwebtoken::encode(&plain, &claims, &keys.active).unwrap();
        assert!(matches!(keys.verify(&jwt), Err(TokenError::Invalid(_))));
        let mut other_role = claims.clone();
        other_role.role = "root".into();
        assert!(keys.verify(&keys.sign(&other_role).unwrap()).is_err(), "an unknown role is refused");
    }
}
