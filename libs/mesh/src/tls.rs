//! rustls configurations. Internal hops are TLS 1.3 with client certificates required on both sides; the
//! public edge is server-authenticated TLS only. All on the ring provider: one TLS stack in the whole tree.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::pki::MeshCredentials;
use crate::{Identity, MeshError};

const ALPN_H2: &[u8] = b"h2";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(creds: &MeshCredentials) -> Result<Arc<RootCertStore>, MeshError> {
    let mut roots = RootCertStore::empty();
    for ca in creds.ca() {
        roots.add(ca.clone()).map_err(|e| MeshError::Tls(format!("CA certificate rejected: {e}")))?;
    }
    Ok(Arc::new(roots))
}

fn tls_error(e: rustls::Error) -> MeshError {
    MeshError::Tls(e.to_string())
}

/// Server side of an internal hop: presents `creds`, requires a client certificate chaining to the mesh CA.
pub fn mesh_server_config(creds: &MeshCredentials) -> Result<Arc<ServerConfig>, MeshError> {
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(creds)?, provider())
        .build()
        .map_err(|e| MeshError::Tls(format!("client verifier: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(creds.chain(), creds.key())
        .map_err(tls_error)?;
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
}

/// Client side of an internal hop to `server`: presents `creds`, trusts only the mesh CA, and accepts the
/// server only if its certificate also names it as `spiffe://switchboard.local/<server>` (so a certificate with
/// a matching DNS name but another identity, possible with a shared CA, is refused).
pub fn mesh_client_config(creds: &MeshCredentials, server: &Identity) -> Result<Arc<ClientConfig>, MeshError> {
    let webpki = WebPkiServerVerifier::builder_with_provider(roots(creds)?, provider())
        .build()
        .map_err(|e| MeshError::Tls(format!("server verifier: {e}")))?;
    let verifier = Arc::new(SpiffeServerVerifier { webpki, expected: server.clone() });
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .dangerous() // only to install a verifier that is stricter than webpki's, never looser
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(creds.chain(), creds.key())
        .map_err(tls_error)?;
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
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

/// webpki's chain and name checks, plus the SPIFFE identity check.
#[derive(Debug)]
struct SpiffeServerVerifier {
    webpki: Arc<WebPkiServerVerifier>,
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
        let verified = self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
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
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
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
