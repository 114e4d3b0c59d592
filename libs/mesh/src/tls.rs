//! rustls configurations. Internal hops are TLS 1.3 with client certificates required on both sides; the
//! public edge is server-authenticated TLS only. All on the ring provider: one TLS stack in the whole tree.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, ServerConfig, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::pki::{CertFiles, MeshCredentials};
use crate::{Identity, MeshError};

const ALPN_H2: &[u8] = b"h2";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(e: rustls::Error) -> MeshError {
    MeshError::Tls(e.to_string())
}

/// One generation of a workload's TLS material, parsed and checked, with the verifiers built from its CA bundle.
/// The handshakes of the configurations below read the current generation, so a reload
/// ([`MeshCredentials::reload`]) reaches every new connection, inbound and outbound, without a restart.
pub(crate) struct Material {
    pub(crate) certified: Arc<CertifiedKey>,
    client_verifier: Arc<dyn ClientCertVerifier>,
    server_verifier: Arc<WebPkiServerVerifier>,
}

impl Material {
    /// Checks that the CA certificates are usable roots and that the key belongs to the chain's leaf; errors
    /// name the file of `files` at fault.
    pub(crate) fn new(
        files: &CertFiles,
        ca: Vec<CertificateDer<'static>>,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, MeshError> {
        let bad = |path: &std::path::Path, what: String| MeshError::BadPem { path: path.to_owned(), what };
        let mut roots = RootCertStore::empty();
        for cert in &ca {
            roots.add(cert.clone()).map_err(|e| bad(&files.ca, format!("CA certificate rejected: {e}")))?;
        }
        let roots = Arc::new(roots);
        let client_verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
            .build()
            .map_err(|e| MeshError::Tls(format!("client verifier: {e}")))?;
        let server_verifier = WebPkiServerVerifier::builder_with_provider(roots, provider())
            .build()
            .map_err(|e| MeshError::Tls(format!("server verifier: {e}")))?;
        let certified = CertifiedKey::from_der(chain, key, &provider())
            .map_err(|e| bad(&files.cert, format!("unusable with the key in {} ({e})", files.key.display())))?;
        Ok(Self { certified: Arc::new(certified), client_verifier, server_verifier })
    }
}

/// Server side of an internal hop: presents `creds`, requires a client certificate chaining to the mesh CA.
pub fn mesh_server_config(creds: &MeshCredentials) -> Result<Arc<ServerConfig>, MeshError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .with_client_cert_verifier(Arc::new(CurrentClientVerifier(creds.clone())))
        .with_cert_resolver(Arc::new(CurrentCertificate(creds.clone())));
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
}

/// Client side of an internal hop to `server`: presents `creds`, trusts only the mesh CA, and accepts the
/// server only if its certificate also names it as `spiffe://switchboard.local/<server>` (so a certificate with
/// a matching DNS name but another identity, possible with a shared CA, is refused).
pub fn mesh_client_config(creds: &MeshCredentials, server: &Identity) -> Result<Arc<ClientConfig>, MeshError> {
    let verifier = Arc::new(SpiffeServerVerifier { creds: creds.clone(), expected: server.clone() });
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .dangerous() // only to install a verifier that is stricter than webpki's, never looser
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(Arc::new(CurrentCertificate(creds.clone())));
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
}

/// The certificate a workload presents, as both server and client: the current generation's.
#[derive(Debug)]
struct CurrentCertificate(MeshCredentials);

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.material().certified.clone())
    }
}

impl ResolvesClientCert for CurrentCertificate {
    fn resolve(&self, _root_hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.material().certified.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// webpki's client-certificate checks against the current generation's CA bundle.
#[derive(Debug)]
struct CurrentClientVerifier(MeshCredentials);

impl ClientCertVerifier for CurrentClientVerifier {
    fn client_auth_mandatory(&self) -> bool {
        true
    }

    /// No CA names are sent: they are optional, and every mesh client presents its one certificate anyway.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.0.material().client_verifier.verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.material().client_verifier.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.material().client_verifier.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.material().client_verifier.supported_verify_schemes()
    }
}

/// TLS for a client of a public HTTPS endpoint (the gateway as `switchboard mcp` reaches it): the server verified
/// against the Mozilla root set (webpki-roots, so no system CA bundle is needed), HTTP/2.
pub fn public_client_config() -> Result<Arc<ClientConfig>, MeshError> {
    let roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
}

/// webpki's chain and name checks against the current generation's CA bundle, plus the SPIFFE identity check.
#[derive(Debug)]
struct SpiffeServerVerifier {
    creds: MeshCredentials,
    expected: Identity,
}

impl ServerCertVerifier for SpiffeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.creds.material().server_verifier.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        match crate::server::spiffe_identity(end_entity.as_ref()) {
            Some(identity) if identity == self.expected => Ok(verified),
            _ => Err(rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.creds.material().server_verifier.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.creds.material().server_verifier.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.creds.material().server_verifier.supported_verify_schemes()
    }
}

/// The public edge's TLS (when a certificate is configured, as behind an ingress): no client certificates,
/// TLS 1.2 and 1.3, ALPN for HTTP/2 and HTTP/1.1 (gRPC-Web and REST clients speak either).
pub fn public_server_config(cert: &std::path::Path, key: &std::path::Path) -> Result<Arc<ServerConfig>, MeshError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| MeshError::BadPem { path: cert.to_owned(), what: format!("cannot read certificates ({e})") })?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| MeshError::BadPem { path: key.to_owned(), what: format!("no usable private key ({e})") })?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(tls_error)?;
    config.alpn_protocols = vec![ALPN_H2.to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
