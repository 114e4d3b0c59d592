//! Certificates for the mesh.
//!
//! In development a private CA and one leaf per workload are generated on first run under `<data dir>/certs`
//! (`ca.pem`, `ca.key`, `<name>.pem`, `<name>.key`; keys are written mode 0600). Each leaf carries the workload's
//! SPIFFE URI, its name as a DNS name (what clients verify the server against), `localhost` and `127.0.0.1`.
//! In production, [`CertFiles`] point at certificates issued elsewhere (cert-manager, Vault) and nothing is
//! generated.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::tls::Material;
use crate::{Identity, MeshError};

/// How long a generated dev CA is valid.
const CA_VALIDITY: time::Duration = time::Duration::days(3650);
/// How long a generated leaf is valid.
const LEAF_VALIDITY: time::Duration = time::Duration::days(397);

/// Where one workload's certificate, key and trusted CA live on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// PEM bundle of the CA certificates to trust for peers.
    pub ca: PathBuf,
    /// PEM certificate chain of this workload (leaf first).
    pub cert: PathBuf,
    /// PEM private key of this workload (PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
}

/// A workload's TLS material: who it is, what it presents and which CA it trusts. Clones share one live
/// generation of the material, which [`MeshCredentials::reload`] replaces when the files change (cert-manager's
/// rotation), so every server and channel built from these credentials uses the new certificate for its next
/// handshake. Connections already open keep the certificate they were made with.
#[derive(Clone)]
pub struct MeshCredentials {
    identity: Identity,
    files: CertFiles,
    current: Arc<RwLock<Generation>>,
}

/// The material in use and the bytes it was parsed from (how a reload tells that the files changed).
struct Generation {
    material: Arc<Material>,
    pem: [Vec<u8>; 3],
}

impl std::fmt::Debug for MeshCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("MeshCredentials").field("identity", &self.identity).finish_non_exhaustive()
    }
}

impl MeshCredentials {
    /// Reads certificate, key and CA from files (warning if the key is readable by others).
    pub fn from_files(identity: Identity, files: &CertFiles) -> Result<Self, MeshError> {
        warn_if_readable_by_others(&files.key);
        let pem = read_pem(files)?;
        let material = Arc::new(parse(files, &pem)?);
        Ok(Self { identity, files: files.clone(), current: Arc::new(RwLock::new(Generation { material, pem })) })
    }

    /// The dev credentials of `identity` under `data_dir`, generating the CA and the leaf if missing. This reads the
    /// CA's private key: it is for tooling that owns the dev CA (`certs init`) and tests. Services load their own
    /// files with [`MeshCredentials::from_files`] (see [`dev_files`]) and never touch the CA key.
    pub fn dev(data_dir: &Path, identity: Identity) -> Result<Self, MeshError> {
        let ca = DevCa::open_or_create(&data_dir.join("certs"))?;
        let files = ca.ensure_leaf(&identity)?;
        Self::from_files(identity, &files)
    }

    /// Whose credentials these are.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Reads the files again. When they changed and hold a usable CA bundle, a chain whose leaf matches the key,
    /// and the same workload identity as the certificate in use, the new material is used from the next handshake
    /// on and this returns `true`; unchanged files return `false`. Anything unusable is an error and leaves the
    /// material in use as it was (a half-written rotation is picked up by the next call).
    pub fn reload(&self) -> Result<bool, MeshError> {
        let pem = read_pem(&self.files)?;
        if self.generation().pem == pem {
            return Ok(false);
        }
        let material = parse(&self.files, &pem)?;
        let identity_of =
            |m: &Material| m.certified.cert.first().and_then(|leaf| crate::server::spiffe_identity(leaf.as_ref()));
        let (before, after) = (identity_of(&self.material()), identity_of(&material));
        if before != after {
            let name = |i: Option<Identity>| i.map_or_else(|| "no workload".to_owned(), |i| i.spiffe_uri());
            return Err(MeshError::BadPem {
                path: self.files.cert.clone(),
                what: format!("names {} where the certificate in use names {}", name(after), name(before)),
            });
        }
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        *current = Generation { material: Arc::new(material), pem };
        Ok(true)
    }

    /// Calls [`MeshCredentials::reload`] every `every` until `shutdown`, logging each reload and each refusal
    /// (a refusal once until it changes, not at every tick).
    pub async fn reload_on_change(self, every: std::time::Duration, shutdown: tokio_util::sync::CancellationToken) {
        let mut last_error = String::new();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            let creds = self.clone();
            match tokio::task::spawn_blocking(move || creds.reload()).await {
                Ok(Ok(true)) => {
                    last_error.clear();
                    tracing::info!(identity = %self.identity.name(), cert = %self.files.cert.display(), "mesh certificate reloaded");
                }
                Ok(Ok(false)) => last_error.clear(),
                Ok(Err(e)) => {
                    let message = e.to_string();
                    if message != last_error {
                        tracing::warn!(identity = %self.identity.name(), error = %message, "mesh certificate not reloaded; the one in use stays");
                        last_error = message;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "mesh certificate reload task failed"),
            }
        }
    }

    /// The material for a handshake starting now.
    pub(crate) fn material(&self) -> Arc<Material> {
        self.generation().material.clone()
    }

    fn generation(&self) -> std::sync::RwLockReadGuard<'_, Generation> {
        self.current.read().unwrap_or_else(|p| p.into_inner())
    }

    #[cfg(test)]
    pub(crate) fn ca(&self) -> Vec<u8> {
        self.generation().pem[0].clone()
    }

    #[cfg(test)]
    pub(crate) fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.material().certified.cert.clone()
    }
}

/// The CA bundle, chain and key files' bytes, in that order.
fn read_pem(files: &CertFiles) -> Result<[Vec<u8>; 3], MeshError> {
    let read = |path: &Path| std::fs::read(path).map_err(|e| MeshError::file("reading", path, e));
    Ok([read(&files.ca)?, read(&files.cert)?, read(&files.key)?])
}

fn parse(files: &CertFiles, [ca, chain, key]: &[Vec<u8>; 3]) -> Result<Material, MeshError> {
    let key = PrivateKeyDer::from_pem_slice(key)
        .map_err(|e| MeshError::BadPem { path: files.key.clone(), what: format!("no usable private key ({e})") })?;
    Material::new(files, certs(&files.ca, ca)?, certs(&files.cert, chain)?, key)
}

fn certs(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, MeshError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| MeshError::BadPem { path: path.to_owned(), what: format!("cannot read certificates ({e})") })?;
    if certs.is_empty() {
        return Err(MeshError::BadPem { path: path.to_owned(), what: "no CERTIFICATE block found".into() });
    }
    Ok(certs)
}

/// A development certificate authority kept in a directory.
pub struct DevCa {
    dir: PathBuf,
    issuer: Arc<Issuer<'static, KeyPair>>,
}

impl std::fmt::Debug for DevCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCa").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl DevCa {
    /// Opens the existing CA in `dir`.
    pub fn open(dir: &Path) -> Result<Self, MeshError> {
        let cert_path = dir.join("ca.pem");
        let key_path = dir.join("ca.key");
        if !(cert_path.exists() && key_path.exists()) {
            return Err(MeshError::BadPem {
                path: cert_path,
                what: "no development CA here: start the platform (`make run`), run `switchboard certs init`, or \
                       pass --tls-ca/--tls-cert/--tls-key"
                    .into(),
            });
        }
        let cert_pem = read_string(&cert_path)?;
        let key = KeyPair::from_pem(&read_string(&key_path)?)?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key)?;
        Ok(Self { dir: dir.to_owned(), issuer: Arc::new(issuer) })
    }

    /// Opens the CA in `dir`, creating a new one (and the directory) when there is none. Safe against other
    /// processes doing the same at once: creation happens under a lock file.
    pub fn open_or_create(dir: &Path) -> Result<Self, MeshError> {
        create_private_dir(dir).map_err(|e| MeshError::file("creating", dir, e))?;
        let _lock = DirLock::acquire(dir)?;
        let cert_path = dir.join("ca.pem");
        let key_path = dir.join("ca.key");
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => return Self::open(dir),
            (false, false) => {}
            _ => {
                return Err(MeshError::BadPem {
                    path: cert_path,
                    what: "ca.pem and ca.key must both exist (or neither, to create a new CA)".into(),
                });
            }
        }
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::OrganizationName, "Switchboard");
        name.push(DnType::CommonName, "Switchboard development CA");
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + CA_VALIDITY;
        let cert = params.self_signed(&key)?;
        write_file(&key_path, key.serialize_pem().as_bytes(), true)?;
        write_file(&cert_path, cert.pem().as_bytes(), false)?;
        Ok(Self { dir: dir.to_owned(), issuer: Arc::new(Issuer::new(params, key)) })
    }

    /// The files of `identity`'s leaf, issuing it first if it does not exist yet.
    pub fn ensure_leaf(&self, identity: &Identity) -> Result<CertFiles, MeshError> {
        let files = self.files(identity);
        let _lock = DirLock::acquire(&self.dir)?;
        if !(files.cert.exists() && files.key.exists()) {
            let (cert, key) = self.issue(identity)?;
            write_file(&files.key, key.as_bytes(), true)?;
            write_file(&files.cert, cert.as_bytes(), false)?;
        }
        Ok(files)
    }

    /// Issues a new leaf for `identity`: (certificate PEM, private key PEM). Nothing is written.
    pub fn issue(&self, identity: &Identity) -> Result<(String, String), MeshError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, identity.name());
        params.subject_alt_names = vec![
            SanType::URI(identity.spiffe_uri().try_into()?),
            SanType::DnsName(identity.name().try_into()?),
            SanType::DnsName("localhost".try_into()?),
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + LEAF_VALIDITY;
        let cert = params.signed_by(&key, &*self.issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// Where `identity`'s files are (or would be) in this CA's directory.
    pub fn files(&self, identity: &Identity) -> CertFiles {
        dev_files(&self.dir, identity)
    }
}

/// Where a development CA in `dir` keeps `identity`'s files (`ca.pem`, `<name>.pem`, `<name>.key`). Reading them
/// needs no access to the CA's key.
pub fn dev_files(dir: &Path, identity: &Identity) -> CertFiles {
    CertFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join(format!("{}.pem", identity.name())),
        key: dir.join(format!("{}.key", identity.name())),
    }
}

/// Creates `dir` (and missing parents) so that only its owner may enter it (0700). An existing directory that
/// others may enter, or a private key file in it that others may read, is reported with a warning naming the fix:
/// every directory holding keys (the data dir, `certs`, `keys`) is created through here.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let meta = std::fs::metadata(dir)?;
    if open_to_others(&meta) {
        let mode = format!("{:o}", mode_bits(&meta));
        tracing::warn!(dir = %dir.display(), mode, "directory holding secrets is open to other users: chmod 700 it");
    }
    Ok(())
}

/// Warns when a private key file can be read by other users than its owner.
pub fn warn_if_readable_by_others(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path)
        && open_to_others(&meta)
    {
        let mode = format!("{:o}", mode_bits(&meta));
        tracing::warn!(file = %path.display(), mode, "private key is readable by other users: chmod 600 it");
    }
}

fn mode_bits(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o777
}

/// Whether users other than the owner can reach the file: any bit for others, or group bits for a group this
/// process is not in. A group of its own is how Kubernetes hands Secrets to a pod (mode 0440 or 0640, group = the
/// pod's `fsGroup`, a supplementary group of the process): no one else is in it.
fn open_to_others(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    let mode = mode_bits(meta);
    mode & 0o007 != 0 || (mode & 0o070 != 0 && !process_groups().contains(&meta.gid()))
}

/// The process's real, effective and supplementary group ids (from `/proc/self/status`; none when unreadable,
/// which keeps the stricter check).
fn process_groups() -> Vec<u32> {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return Vec::new() };
    status
        .lines()
        .filter_map(|line| line.strip_prefix("Gid:").or_else(|| line.strip_prefix("Groups:")))
        .flat_map(|ids| ids.split_whitespace().filter_map(|id| id.parse().ok()))
        .collect()
}

fn read_string(path: &Path) -> Result<String, MeshError> {
    std::fs::read_to_string(path).map_err(|e| MeshError::file("reading", path, e))
}

/// Writes `contents` to a temporary file beside `path`, then renames it into place: readers never see a
/// half-written certificate or key. Secrets are created mode 0600.
fn write_file(path: &Path, contents: &[u8], secret: bool) -> Result<(), MeshError> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true).mode(if secret { 0o600 } else { 0o644 });
    let mut file = options.open(&tmp).map_err(|e| MeshError::file("writing", &tmp, e))?;
    file.write_all(contents).and_then(|()| file.sync_all()).map_err(|e| MeshError::file("writing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| MeshError::file("writing", path, e))
}

/// An exclusive advisory lock on `<dir>/.lock`, held while certificates are created.
struct DirLock(std::fs::File);

impl DirLock {
    fn acquire(dir: &Path) -> Result<Self, MeshError> {
        let path = dir.join(".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| MeshError::file("locking", &path, e))?;
        file.lock().map_err(|e| MeshError::file("locking", &path, e))?;
        Ok(Self(file))
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn secrets_in_a_group_of_the_process_are_not_open_to_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        std::fs::write(&key, "secret").unwrap();
        let open = |mode: u32| {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
            open_to_others(&std::fs::metadata(&key).unwrap())
        };
        // The file's group is the process's own (it created it): group bits share it with no one else.
        assert!(!open(0o600) && !open(0o640) && !open(0o440));
        assert!(open(0o644) && open(0o604), "any bit for others");
    }

    use super::*;

    #[test]
    fn dev_ca_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = MeshCredentials::dev(dir.path(), Identity::audit()).unwrap();
        let ca_pem = std::fs::read(dir.path().join("certs/ca.pem")).unwrap();
        let second = MeshCredentials::dev(dir.path(), Identity::gateway()).unwrap();
        assert_eq!(std::fs::read(dir.path().join("certs/ca.pem")).unwrap(), ca_pem, "CA is not regenerated");
        assert_eq!(first.ca(), second.ca());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("certs/audit.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "private keys are not readable by others");
    }

    #[test]
    fn a_leaf_loads_from_its_files_without_the_ca_key() {
        let dir = tempfile::tempdir().unwrap();
        let ca = DevCa::open_or_create(&dir.path().join("certs")).unwrap();
        ca.ensure_leaf(&Identity::audit()).unwrap();
        // A service's process may lose read access to the CA key; its own files are all it needs.
        std::fs::remove_file(dir.path().join("certs/ca.key")).unwrap();
        let files = dev_files(&dir.path().join("certs"), &Identity::audit());
        let creds = MeshCredentials::from_files(Identity::audit(), &files).unwrap();
        assert_eq!(creds.identity(), &Identity::audit());
    }

    #[test]
    fn concurrent_creators_agree_on_one_ca() {
        let dir = tempfile::tempdir().unwrap();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let path = dir.path().to_owned();
                std::thread::spawn(move || MeshCredentials::dev(&path, Identity::audit()).unwrap())
            })
            .collect();
        let creds: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(creds.windows(2).all(|w| w[0].ca() == w[1].ca() && w[0].chain() == w[1].chain()));
    }

    #[test]
    fn missing_files_name_the_path() {
        let files = CertFiles { ca: "/nonexistent/ca.pem".into(), cert: "/nonexistent/a.pem".into(), key: "/x".into() };
        let err = MeshCredentials::from_files(Identity::audit(), &files).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
