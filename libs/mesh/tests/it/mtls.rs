//! Handshake and allowlist: a foreign CA or a missing client certificate never reaches a handler; a valid peer
//! not on the allowlist gets PERMISSION_DENIED; health stays open to any mesh peer.

use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use switchboard_mesh::Identity;
use switchboard_mesh::pki::{CertFiles, MeshCredentials};
use switchboard_proto::audit::v1 as pb;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::{Pki, Recorder, allowing, client, recorder_routes, spawn};

/// An "audit" server that allows only the gateway.
async fn audit_allowing_gateway(pki: &Pki, shutdown: &CancellationToken) -> (String, Recorder) {
    let recorder = Recorder::default();
    let options = allowing(pki.creds(Identity::audit()), [Identity::gateway()]);
    let addr = spawn(recorder_routes(recorder.clone()), options, shutdown).await;
    (addr, recorder)
}

/// The server refused the TLS handshake: with TLS 1.3 the client learns it from the server's fatal alert.
fn assert_refused_at_handshake(status: &tonic::Status, alert: &str) {
    let detail = format!("{status:?}");
    assert!(
        detail.contains("received fatal alert") && detail.contains(alert),
        "expected the server to abort the handshake with {alert}, got {detail}"
    );
}

#[tokio::test]
async fn the_allowed_peer_reaches_the_handler() {
    let pki = Pki::new();
    let shutdown = CancellationToken::new();
    let (addr, recorder) = audit_allowing_gateway(&pki, &shutdown).await;
    let mut gateway = client(&addr, Identity::audit(), &pki.creds(Identity::gateway()));
    gateway.list_events(pb::ListEventsRequest::default()).await.unwrap();
    assert_eq!(recorder.seen.lock().unwrap().len(), 1);
    shutdown.cancel();
}

#[tokio::test]
async fn a_peer_not_on_the_allowlist_is_permission_denied_but_may_probe_health() {
    let pki = Pki::new();
    let shutdown = CancellationToken::new();
    let (addr, recorder) = audit_allowing_gateway(&pki, &shutdown).await;
    let connectors = pki.creds(Identity::connectors());
    let err =
        client(&addr, Identity::audit(), &connectors).list_events(pb::ListEventsRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(err.message().contains("connectors"), "{}", err.message());
    assert!(recorder.seen.lock().unwrap().is_empty(), "the handler never ran");

    let channel = switchboard_mesh::client::channel(&addr, &Identity::audit(), &connectors).unwrap();
    let health = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await.unwrap();
    assert_eq!(health.into_inner().status, 1, "SERVING");
    shutdown.cancel();
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_at_the_handshake() {
    let pki = Pki::new();
    let shutdown = CancellationToken::new();
    let (addr, recorder) = audit_allowing_gateway(&pki, &shutdown).await;

    // Same name ("gateway"), issued by a stranger's CA; the client still trusts our CA for the server.
    let stranger = Pki::new();
    let foreign = stranger.ca.ensure_leaf(&Identity::gateway()).unwrap();
    let ours = pki.ca.files(&Identity::gateway());
    let creds = MeshCredentials::from_files(
        Identity::gateway(),
        &CertFiles { ca: ours.ca, cert: foreign.cert, key: foreign.key },
    )
    .unwrap();
    let err = client(&addr, Identity::audit(), &creds).list_events(pb::ListEventsRequest::default()).await.unwrap_err();
    // Every dev CA has the same subject name, so webpki finds ours as the issuer and the signature fails.
    assert_refused_at_handshake(&err, "DecryptError");
    assert!(recorder.seen.lock().unwrap().is_empty());
    shutdown.cancel();
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused() {
    let pki = Pki::new();
    let shutdown = CancellationToken::new();
    let (addr, recorder) = audit_allowing_gateway(&pki, &shutdown).await;

    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(pki.ca.files(&Identity::gateway()).ca).unwrap();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&ca) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let channel = switchboard_mesh::client::channel_with_config(&addr, &Identity::audit(), Arc::new(config)).unwrap();
    let err = switchboard_proto::audit::v1::audit_service_client::AuditServiceClient::new(channel)
        .list_events(pb::ListEventsRequest::default())
        .await
        .unwrap_err();
    assert_refused_at_handshake(&err, "CertificateRequired");
    assert!(recorder.seen.lock().unwrap().is_empty());
    shutdown.cancel();
}

#[tokio::test]
async fn a_server_with_the_wrong_identity_is_refused_by_the_client() {
    let pki = Pki::new();
    let shutdown = CancellationToken::new();
    // The server presents the "connectors" certificate; the client dials expecting "audit".
    let options = allowing(pki.creds(Identity::connectors()), [Identity::gateway()]);
    let addr = spawn(recorder_routes(Recorder::default()), options, &shutdown).await;
    let err = client(&addr, Identity::audit(), &pki.creds(Identity::gateway()))
        .list_events(pb::ListEventsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "the client refuses to connect: {err:?}");
    assert!(format!("{err:?}").contains("NotValidForName"), "{err:?}");
    shutdown.cancel();
}

#[tokio::test]
async fn a_server_whose_dns_name_matches_but_spiffe_identity_does_not_is_refused() {
    let pki = Pki::new();
    let shutdown = CancellationToken::new();
    // A certificate from the right CA with DNS name "audit" but SPIFFE identity "impostor".
    let params = {
        let mut p = rcgen::CertificateParams::new(vec!["audit".to_string()]).unwrap();
        p.subject_alt_names.push(rcgen::SanType::URI("spiffe://switchboard.local/impostor".try_into().unwrap()));
        p
    };
    let ca_dir = pki.dir.path().join("certs");
    let ca_key = rcgen::KeyPair::from_pem(&std::fs::read_to_string(ca_dir.join("ca.key")).unwrap()).unwrap();
    let issuer =
        rcgen::Issuer::from_ca_cert_pem(&std::fs::read_to_string(ca_dir.join("ca.pem")).unwrap(), ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    std::fs::write(ca_dir.join("impostor.pem"), cert.pem()).unwrap();
    std::fs::write(ca_dir.join("impostor.key"), key.serialize_pem()).unwrap();
    let creds = MeshCredentials::from_files(
        Identity::new("impostor").unwrap(),
        &CertFiles { ca: ca_dir.join("ca.pem"), cert: ca_dir.join("impostor.pem"), key: ca_dir.join("impostor.key") },
    )
    .unwrap();
    let addr = spawn(recorder_routes(Recorder::default()), allowing(creds, [Identity::gateway()]), &shutdown).await;
    let err = client(&addr, Identity::audit(), &pki.creds(Identity::gateway()))
        .list_events(pb::ListEventsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(format!("{err:?}").contains("ApplicationVerificationFailure"), "{err:?}");
    shutdown.cancel();
}

#[test]
fn dev_leaf_carries_the_spiffe_identity() {
    let pki = Pki::new();
    let files = pki.ca.ensure_leaf(&Identity::orchestrator()).unwrap();
    let pem = std::fs::read(files.cert).unwrap();
    let der = rustls_pki_types::CertificateDer::pem_slice_iter(&pem).next().unwrap().unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
    let san = cert.subject_alternative_name().unwrap().unwrap();
    let uris: Vec<String> = san
        .value
        .general_names
        .iter()
        .filter_map(|n| match n {
            x509_parser::extensions::GeneralName::URI(u) => Some(u.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(uris, vec!["spiffe://switchboard.local/orchestrator".to_string()]);
}
