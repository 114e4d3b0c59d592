//! The credential vault: envelope encryption of every secret a connection holds (access and refresh tokens, API
//! keys, PKCE verifiers).
//!
//! Each secret is sealed with AES-256-GCM under a fresh random data key (DEK); the DEK is itself sealed
//! ("wrapped") under a key-encryption key (KEK) named by id. The stored form, [`Sealed`], is the KEK id, the
//! wrapped DEK and the ciphertext; plaintext never reaches the database, a log or an error.
//!
//! Associated data binds both layers to where the secret lives (tenant, connection, field), so a ciphertext copied
//! into another tenant's or connection's row fails to open instead of yielding that tenant's token.
//!
//! KEKs come from a keys file (`SWITCHBOARD_KEK_FILE`; the embedded default generates `<data dir>/kek` with mode
//! 0600): one `<kid> <base64url 32-byte key>` per line, the first wraps, every one unwraps. Rotation
//! ([`KeyRing::rewrap`], `switchboard connectors rotate-kek`) re-wraps the small DEKs under the first key without
//! touching the secrets' ciphertexts; once every row is re-wrapped the old key can leave the file.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use switchboard_types::{ConnectionId, TenantId};

/// Length of a KEK and of a DEK.
const KEY_LEN: usize = 32;
/// Length of the GCM tag appended to every ciphertext.
const TAG_LEN: usize = 16;

/// Why the vault could not seal or open a secret. Deliberately vague about which check failed: a caller (or an
/// attacker) learns only that the ciphertext does not open here.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    /// The keys file or a key in it is unusable; the message names the line.
    #[error("key-encryption keys: {0}")]
    Keys(String),
    /// The secret was wrapped under a KEK this process does not have.
    #[error("the secret is wrapped under key {0:?}, which is not in the keys file")]
    UnknownKey(String),
    /// Tampered, moved to another row, or sealed under another key.
    #[error("the secret does not open: it was altered, moved to another row, or sealed under another key")]
    Unopenable,
    /// The system's random source failed.
    #[error("no randomness available")]
    Random,
}

/// Where a secret lives: part of the associated data of both layers.
#[derive(Debug, Clone, Copy)]
pub struct SecretSlot<'a> {
    /// The tenant owning the connection.
    pub tenant: TenantId,
    /// The connection (or, for an OAuth state's PKCE verifier, the state's own id).
    pub connection: ConnectionId,
    /// Which secret of the row: `credentials`, `pkce_verifier`.
    pub field: &'a str,
}

impl SecretSlot<'_> {
    fn associated_data(&self, layer: &str, kek_id: &str) -> Vec<u8> {
        format!("switchboard-vault-v1|{layer}|{}|{}|{}|{kek_id}", self.tenant, self.connection, self.field).into_bytes()
    }
}

/// A sealed secret as stored: which KEK wrapped its data key, the wrapped data key and the ciphertext (each
/// `nonce || ciphertext || tag`).
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Id of the KEK that wrapped the data key.
    pub kek_id: String,
    /// The data key, sealed under that KEK.
    pub wrapped_key: Vec<u8>,
    /// The secret, sealed under the data key.
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed").field("kek_id", &self.kek_id).finish_non_exhaustive()
    }
}

/// A plaintext secret: redacted in `Debug`, never `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Plaintext(Vec<u8>);

impl Plaintext {
    /// The bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Plaintext(***)")
    }
}

impl Drop for Plaintext {
    fn drop(&mut self) {
        // Best effort: the allocator may have copied it, but the common case leaves no plaintext behind.
        self.0.iter_mut().for_each(|b| *b = 0);
    }
}

/// The key-encryption keys: the first wraps, all unwrap.
#[derive(Clone)]
pub struct KeyRing {
    wrapping: String,
    keys: BTreeMap<String, [u8; KEY_LEN]>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("wrapping", &self.wrapping).field("keys", &self.keys.keys()).finish()
    }
}

impl KeyRing {
    /// Keys from the text of a keys file: `<kid> <base64url key>` per line, `#` comments and blank lines allowed.
    pub fn parse(text: &str) -> Result<Self, VaultError> {
        let mut order = Vec::new();
        let mut keys = BTreeMap::new();
        for (n, line) in text.lines().enumerate().map(|(n, l)| (n + 1, l.trim())) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |what: &str| VaultError::Keys(format!("line {n}: {what}"));
            let (kid, encoded) = line.split_once(char::is_whitespace).ok_or_else(|| bad("expected `<kid> <key>`"))?;
            if kid.is_empty() || !kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return Err(bad("a kid is letters, digits, '-' and '_'"));
            }
            let key = URL_SAFE_NO_PAD.decode(encoded.trim()).map_err(|_| bad("the key is not base64url"))?;
            let key: [u8; KEY_LEN] = key.try_into().map_err(|_| bad("the key is not 32 bytes"))?;
            if keys.insert(kid.to_owned(), key).is_some() {
                return Err(bad(&format!("kid {kid:?} appears twice")));
            }
            order.push(kid.to_owned());
        }
        let wrapping = order.into_iter().next().ok_or_else(|| VaultError::Keys("no key given".into()))?;
        Ok(Self { wrapping, keys })
    }

    /// Keys from `path`, creating the file with one fresh key (mode 0600) when there is none.
    pub fn load_or_create(path: &Path) -> Result<Self, VaultError> {
        let error = |e: std::io::Error| VaultError::Keys(format!("{}: {e}", path.display()));
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let text = Self::generate_line()?;
                write_private(path, &text).map_err(error)?;
                Self::parse(&text)
            }
            Err(e) => Err(error(e)),
        }
    }

    /// A keys-file line with a fresh random key.
    pub fn generate_line() -> Result<String, VaultError> {
        let mut key = [0u8; KEY_LEN];
        SystemRandom::new().fill(&mut key).map_err(|_| VaultError::Random)?;
        let kid = format!("k{}", switchboard_types::now_unix_micros());
        Ok(format!("{kid} {}\n", URL_SAFE_NO_PAD.encode(key)))
    }

    /// The id of the key that wraps new data keys.
    pub fn wrapping_key_id(&self) -> &str {
        &self.wrapping
    }

    /// Seals `plaintext` for `slot` under a fresh data key wrapped by the first KEK.
    pub fn seal(&self, slot: &SecretSlot<'_>, plaintext: &[u8]) -> Result<Sealed, VaultError> {
        let mut dek = [0u8; KEY_LEN];
        SystemRandom::new().fill(&mut dek).map_err(|_| VaultError::Random)?;
        let ciphertext = seal_random_nonce(&dek, &slot.associated_data("secret", ""), plaintext)?;
        let wrapped_key = self.wrap(slot, &dek)?;
        dek.iter_mut().for_each(|b| *b = 0);
        Ok(Sealed { kek_id: self.wrapping.clone(), wrapped_key, ciphertext })
    }

    /// Opens a secret sealed for `slot`.
    pub fn open(&self, slot: &SecretSlot<'_>, sealed: &Sealed) -> Result<Plaintext, VaultError> {
        let dek = self.unwrap(slot, sealed)?;
        let dek: [u8; KEY_LEN] = dek.0.as_slice().try_into().map_err(|_| VaultError::Unopenable)?;
        let plaintext = open(&dek, &slot.associated_data("secret", ""), &sealed.ciphertext)?;
        Ok(Plaintext(plaintext))
    }

    /// The same secret with its data key re-wrapped under the first KEK; the ciphertext is untouched. `None` when
    /// it already is.
    pub fn rewrap(&self, slot: &SecretSlot<'_>, sealed: &Sealed) -> Result<Option<Sealed>, VaultError> {
        if sealed.kek_id == self.wrapping {
            return Ok(None);
        }
        let dek = self.unwrap(slot, sealed)?;
        let dek: [u8; KEY_LEN] = dek.0.as_slice().try_into().map_err(|_| VaultError::Unopenable)?;
        let wrapped_key = self.wrap(slot, &dek)?;
        Ok(Some(Sealed { kek_id: self.wrapping.clone(), wrapped_key, ciphertext: sealed.ciphertext.clone() }))
    }

    fn wrap(&self, slot: &SecretSlot<'_>, dek: &[u8; KEY_LEN]) -> Result<Vec<u8>, VaultError> {
        let kek = self.keys.get(&self.wrapping).ok_or_else(|| VaultError::UnknownKey(self.wrapping.clone()))?;
        seal_random_nonce(kek, &slot.associated_data("key", &self.wrapping), dek)
    }

    fn unwrap(&self, slot: &SecretSlot<'_>, sealed: &Sealed) -> Result<Plaintext, VaultError> {
        let kek = self.keys.get(&sealed.kek_id).ok_or_else(|| VaultError::UnknownKey(sealed.kek_id.clone()))?;
        let dek = open(kek, &slot.associated_data("key", &sealed.kek_id), &sealed.wrapped_key)?;
        if dek.len() != KEY_LEN {
            return Err(VaultError::Unopenable);
        }
        Ok(Plaintext(dek))
    }
}

/// Writes `text` to a new file readable by its owner only, creating its directory (0700) if needed.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        switchboard_mesh::pki::create_private_dir(dir)?;
    }
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())
}

fn aead_key(key: &[u8; KEY_LEN]) -> Result<LessSafeKey, VaultError> {
    Ok(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| VaultError::Unopenable)?))
}

/// `nonce || ciphertext || tag` with a random 96-bit nonce (each data key seals one secret, so nonces never repeat
/// under a key in practice; KEKs wrap many keys, where 2^-32 collision bounds hold far beyond our volumes).
fn seal_random_nonce(key: &[u8; KEY_LEN], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new().fill(&mut nonce).map_err(|_| VaultError::Random)?;
    let sealed = seal_with_nonce(key, nonce, aad, plaintext)?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// AES-256-GCM with a given nonce: `ciphertext || tag`.
fn seal_with_nonce(
    key: &[u8; KEY_LEN],
    nonce: [u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, VaultError> {
    let mut buffer = plaintext.to_vec();
    aead_key(key)?
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buffer)
        .map_err(|_| VaultError::Unopenable)?;
    Ok(buffer)
}

/// Opens `nonce || ciphertext || tag`.
fn open(key: &[u8; KEY_LEN], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(VaultError::Unopenable);
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| VaultError::Unopenable)?;
    let mut buffer = rest.to_vec();
    let plaintext = aead_key(key)?
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buffer)
        .map_err(|_| VaultError::Unopenable)?;
    Ok(plaintext.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_of(lines: &[&str]) -> KeyRing {
        KeyRing::parse(&lines.join("\n")).unwrap()
    }

    fn fresh_line(kid: &str) -> String {
        let line = KeyRing::generate_line().unwrap();
        let (_, key) = line.split_once(' ').unwrap();
        format!("{kid} {}", key.trim())
    }

    fn slot(tenant: TenantId, connection: ConnectionId) -> SecretSlot<'static> {
        SecretSlot { tenant, connection, field: "credentials" }
    }

    /// The known answers of `shared/vectors/aes-gcm.json` (GCM spec test cases 13–15).
    #[test]
    fn aes_256_gcm_known_answers() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/aes-gcm.json");
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{path}: {e} (the shared/ directory sits beside the repository)"));
        let vectors: serde_json::Value = serde_json::from_str(&text).unwrap();
        let cases = vectors["cases"].as_array().unwrap();
        assert!(!cases.is_empty());
        for case in cases {
            let hex_field = |name: &str| hex::decode(case[name].as_str().unwrap()).unwrap();
            let key: [u8; KEY_LEN] = hex_field("key").try_into().unwrap();
            let nonce: [u8; NONCE_LEN] = hex_field("iv").try_into().unwrap();
            let mut expected = hex_field("ciphertext");
            expected.extend(hex_field("tag"));
            let sealed = seal_with_nonce(&key, nonce, b"", &hex_field("plaintext")).unwrap();
            assert_eq!(sealed, expected, "case {}", case["case"]);
            let mut framed = nonce.to_vec();
            framed.extend(&sealed);
            assert_eq!(open(&key, b"", &framed).unwrap(), hex_field("plaintext"), "case {}", case["case"]);
        }
    }

    #[test]
    fn seals_and_opens_with_fresh_nonces() {
        let keys = ring_of(&[&fresh_line("a")]);
        let s = slot(TenantId::generate(), ConnectionId::generate());
        let one = keys.seal(&s, b"sk_live_123").unwrap();
        let two = keys.seal(&s, b"sk_live_123").unwrap();
        assert_ne!(one.ciphertext, two.ciphertext);
        assert!(!one.ciphertext.windows(11).any(|w| w == b"sk_live_123"));
        assert_eq!(keys.open(&s, &one).unwrap().expose(), b"sk_live_123");
        assert_eq!(format!("{:?}", keys.open(&s, &one).unwrap()), "Plaintext(***)");
    }

    #[test]
    fn tampering_moving_or_the_wrong_key_fails() {
        let keys = ring_of(&[&fresh_line("a")]);
        let (tenant, connection) = (TenantId::generate(), ConnectionId::generate());
        let s = slot(tenant, connection);
        let sealed = keys.seal(&s, b"token").unwrap();

        for i in [0, NONCE_LEN, sealed.ciphertext.len() - 1] {
            let mut bad = sealed.clone();
            bad.ciphertext[i] ^= 1;
            assert_eq!(keys.open(&s, &bad), Err(VaultError::Unopenable), "ciphertext byte {i}");
        }
        let mut bad = sealed.clone();
        bad.wrapped_key[20] ^= 1;
        assert_eq!(keys.open(&s, &bad), Err(VaultError::Unopenable));

        assert_eq!(keys.open(&slot(TenantId::generate(), connection), &sealed), Err(VaultError::Unopenable));
        assert_eq!(keys.open(&slot(tenant, ConnectionId::generate()), &sealed), Err(VaultError::Unopenable));
        let other_field = SecretSlot { field: "pkce_verifier", ..s };
        assert_eq!(keys.open(&other_field, &sealed), Err(VaultError::Unopenable));

        // Same kid, different key material: the wrapped key does not open.
        let impostor = ring_of(&[&fresh_line("a")]);
        assert_eq!(impostor.open(&s, &sealed), Err(VaultError::Unopenable));
        let stranger = ring_of(&[&fresh_line("b")]);
        assert_eq!(stranger.open(&s, &sealed), Err(VaultError::UnknownKey("a".into())));
        assert_eq!(keys.open(&s, &Sealed { ciphertext: vec![1, 2], ..sealed }), Err(VaultError::Unopenable));
    }

    #[test]
    fn rotation_rewraps_keys_and_keeps_every_secret_readable() {
        let old = fresh_line("old");
        let new = fresh_line("new");
        let before = ring_of(&[&old]);
        let s = slot(TenantId::generate(), ConnectionId::generate());
        let sealed = before.seal(&s, b"refresh-token").unwrap();

        let during = ring_of(&[&new, &old]);
        assert_eq!(during.open(&s, &sealed).unwrap().expose(), b"refresh-token");
        let rewrapped = during.rewrap(&s, &sealed).unwrap().unwrap();
        assert_eq!(rewrapped.kek_id, "new");
        assert_eq!(rewrapped.ciphertext, sealed.ciphertext, "the secret itself is not re-encrypted");
        assert_eq!(during.rewrap(&s, &rewrapped).unwrap(), None);

        let after = ring_of(&[&new]);
        assert_eq!(after.open(&s, &rewrapped).unwrap().expose(), b"refresh-token");
        assert_eq!(after.open(&s, &sealed), Err(VaultError::UnknownKey("old".into())));
    }

    #[test]
    fn bad_keys_files_name_the_line() {
        assert_eq!(KeyRing::parse("").unwrap_err(), VaultError::Keys("no key given".into()));
        assert!(KeyRing::parse("# c\nonly-a-kid").unwrap_err().to_string().contains("line 2"));
        assert!(KeyRing::parse("a AAAA").unwrap_err().to_string().contains("not 32 bytes"));
        let line = fresh_line("a");
        assert!(KeyRing::parse(&format!("{line}\n{line}")).unwrap_err().to_string().contains("twice"));
        assert!(format!("{:?}", ring_of(&[&line])).contains("\"a\""));
        assert!(!format!("{:?}", ring_of(&[&line])).contains(line.split_once(' ').unwrap().1));
    }

    #[test]
    fn load_or_create_writes_an_owner_only_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/kek");
        let first = KeyRing::load_or_create(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let again = KeyRing::load_or_create(&path).unwrap();
        assert_eq!(first.wrapping_key_id(), again.wrapping_key_id());
    }
}
