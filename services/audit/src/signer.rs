//! The checkpoint signing key: Ed25519, generated on first run into the data dir (PKCS#8, mode 0600) or read
//! from a configured file. Its id is the first 16 hex digits of SHA-256 of the public key.

use std::io::Write;
use std::path::Path;

use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

use crate::AuditError;

/// Signs and verifies checkpoints.
pub struct CheckpointSigner {
    key: Ed25519KeyPair,
    key_id: String,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointSigner").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl CheckpointSigner {
    /// Reads the PKCS#8 key at `path`, generating and writing a new one if the file does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, AuditError> {
        let key_error = |what: String| AuditError::SigningKey(format!("{}: {what}", path.display()));
        match std::fs::read(path) {
            Ok(bytes) => {
                switchboard_mesh::pki::warn_if_readable_by_others(path);
                Self::from_pkcs8(&bytes).map_err(|_| key_error("not an Ed25519 PKCS#8 key".into()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                    .map_err(|_| key_error("cannot generate a key".into()))?;
                if let Some(dir) = path.parent() {
                    switchboard_mesh::pki::create_private_dir(dir).map_err(|e| key_error(e.to_string()))?;
                }
                use std::os::unix::fs::OpenOptionsExt;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| key_error(e.to_string()))?;
                file.write_all(pkcs8.as_ref()).map_err(|e| key_error(e.to_string()))?;
                Self::from_pkcs8(pkcs8.as_ref())
            }
            Err(e) => Err(key_error(e.to_string())),
        }
    }

    /// A signer from PKCS#8 bytes.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, AuditError> {
        let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|e| AuditError::SigningKey(format!("invalid Ed25519 PKCS#8 key: {e}")))?;
        let digest = ring::digest::digest(&ring::digest::SHA256, key.public_key().as_ref());
        let key_id = hex::encode(&digest.as_ref()[..8]);
        Ok(Self { key, key_id })
    }

    /// A fresh in-memory key (tests, benchmarks).
    pub fn ephemeral() -> Result<Self, AuditError> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| AuditError::SigningKey("cannot generate a key".into()))?;
        Self::from_pkcs8(pkcs8.as_ref())
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key.sign(message).as_ref().to_vec()
    }

    /// Whether `signature` over `message` verifies with this key.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, self.public_key()).verify(message, signature).is_ok()
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }

    /// The key's id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_created_once_and_signatures_verify() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/checkpoint.p8");
        let a = CheckpointSigner::load_or_create(&path).unwrap();
        let b = CheckpointSigner::load_or_create(&path).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        let sig = a.sign(b"m");
        assert!(b.verify(b"m", &sig));
        assert!(!b.verify(b"n", &sig));
        assert!(!CheckpointSigner::ephemeral().unwrap().verify(b"m", &sig));
    }
}
