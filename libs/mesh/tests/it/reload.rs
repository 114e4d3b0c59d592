//! Certificate rotation without a restart: when a workload's files change (cert-manager renewing a Secret), the
//! next handshake on either side uses the new certificate and CA bundle; files that would break the workload
//! (another identity, a key that does not match, garbage) are refused and the material in use stays.

use std::path::Path;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use switchboard_mesh::Identity;
use switchboard_mesh::pki::{CertFiles, DevCa, MeshCredentials};
use switchboard_proto::audit::v1 as pb;
use tokio_util::sync::CancellationToken;

use crate::{Pki, Recorder, allowing, client, recorder_routes, spawn};

/// `identity`'s dev files copied into `dir`, where a test may overwrite them as a rotation would.
fn live_files(pki: &Pki, identity: &Identity, dir: &Path) -> CertFiles {
    let dev = pki.ca.ensure_leaf(identity).unwrap();
    let live = CertFiles { ca: dir.join("ca.pem"), cert: dir.join("tls.crt"), key: dir.join("tls.key") };
    std::fs::copy(&dev.ca, &live.ca).unwrap();
    std::fs::copy(&dev.cert, &live.cert).unwrap();
    std::fs::copy(&dev.key, &live.key).unwrap();
    live
}

fn write(files: &CertFiles, (cert, key): &(String, String)) {
    std::fs::write(&files.cert, cert).unwrap();
    std::fs::write(&files.key, key).unwrap();
}

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

/// The leaf certificate the server at `addr` presents to a new connection from `creds`.
async fn presented(addr: &str, creds: &MeshCredentials) -> Result<CertificateDer<'static>, std::io::Error> {
    let config = switchboard_mesh::tls::mesh_client_config(creds, &Identity::audit()).unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls_pki_types::ServerName::try_from("audit").unwrap();
    let tls = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await?;
    Ok(tls.get_ref().1.peer_certificates().unwrap()[0].clone())
}

#[tokio::test]
async fn a_renewed_certificate_is_presented_from_the_next_handshake_without_a_restart() {
    let pki = Pki::new();
    let shutdown = CancellationToken::new();
    let dir = tempfile::tempdir().unwrap();
    let files = live_files(&pki, &Identity::audit(), dir.path());
    let server = MeshCredentials::from_files(Identity::audit(), &files).unwrap();
    tokio::spawn(server.clone().reload_on_change(Duration::from_millis(50), shutdown.clone()));
    let addr = spawn(recorder_routes(Recorder::default()), allowing(server, [Identity::gateway()]), &shutdown).await;
    let gateway = pki.creds(Identity::gateway());
    let mut open = client(&addr, Identity::audit(), &gateway);
    open.list_events(pb::ListEventsRequest::default()).await.unwrap();
    let first = presented(&addr, &gateway).await.unwrap();

    let renewed = pki.ca.issue(&Identity::audit()).unwrap();
    write(&files, &renewed);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while presented(&addr, &gateway).await.unwrap() != der(&renewed.0) {
        assert!(tokio::time::Instant::now() < deadline, "the renewed certificate was never presented");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_ne!(first, der(&renewed.0));
    // A connection opened before the renewal goes on working, and new channels handshake with the new certificate.
    open.list_events(pb::ListEventsRequest::default()).await.unwrap();
    client(&addr, Identity::audit(), &gateway).list_events(pb::ListEventsRequest::default()).await.unwrap();
    shutdown.cancel();
}

#[test]
fn files_that_would_break_the_workload_are_refused_and_the_certificate_in_use_stays() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let files = live_files(&pki, &Identity::audit(), dir.path());
    let creds = MeshCredentials::from_files(Identity::audit(), &files).unwrap();
    let in_use = std::fs::read(&files.cert).unwrap();
    assert!(!creds.reload().unwrap(), "unchanged files are not a reload");

    // Another workload's certificate (a Secret mounted on the wrong Deployment).
    write(&files, &pki.ca.issue(&Identity::connectors()).unwrap());
    let err = creds.reload().unwrap_err().to_string();
    assert!(err.contains("spiffe://switchboard.local/connectors") && err.contains("tls.crt"), "{err}");

    // A certificate with another leaf's key (a rotation caught half-written).
    let (cert, _) = pki.ca.issue(&Identity::audit()).unwrap();
    let (_, other_key) = pki.ca.issue(&Identity::audit()).unwrap();
    write(&files, &(cert, other_key));
    let err = creds.reload().unwrap_err().to_string();
    assert!(err.contains("tls.crt") && err.to_lowercase().contains("key"), "{err}");

    std::fs::write(&files.cert, "not a certificate").unwrap();
    let err = creds.reload().unwrap_err().to_string();
    assert!(err.contains("no CERTIFICATE block"), "{err}");

    // Still the original material: put the original files back and nothing changes.
    std::fs::write(&files.cert, &in_use).unwrap();
    std::fs::copy(pki.ca.files(&Identity::audit()).key, &files.key).unwrap();
    assert!(!creds.reload().unwrap(), "the original certificate stayed in use throughout");
}

#[tokio::test]
async fn a_new_ca_is_trusted_once_its_bundle_is_reloaded() {
    let pki = Pki::new();
    let shutdown = CancellationToken::new();
    let (server_dir, client_dir, new_ca_dir) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server_files = live_files(&pki, &Identity::audit(), server_dir.path());
    let server = MeshCredentials::from_files(Identity::audit(), &server_files).unwrap();
    let addr =
        spawn(recorder_routes(Recorder::default()), allowing(server.clone(), [Identity::gateway()]), &shutdown).await;
    let client_files = live_files(&pki, &Identity::gateway(), client_dir.path());
    let gateway = MeshCredentials::from_files(Identity::gateway(), &client_files).unwrap();
    presented(&addr, &gateway).await.unwrap();

    // The CA rotates: the server trusts old and new and presents a leaf from the new one.
    let new_ca = DevCa::open_or_create(new_ca_dir.path()).unwrap();
    let bundle =
        [std::fs::read(&server_files.ca).unwrap(), std::fs::read(new_ca_dir.path().join("ca.pem")).unwrap()].concat();
    std::fs::write(&server_files.ca, &bundle).unwrap();
    write(&server_files, &new_ca.issue(&Identity::audit()).unwrap());
    assert!(server.reload().unwrap());

    // A client that trusts only the old CA refuses the server, until its bundle names the new CA too.
    assert!(presented(&addr, &gateway).await.is_err(), "the new CA is not trusted yet");
    std::fs::write(&client_files.ca, &bundle).unwrap();
    assert!(gateway.reload().unwrap());
    presented(&addr, &gateway).await.unwrap();
    client(&addr, Identity::audit(), &gateway).list_events(pb::ListEventsRequest::default()).await.unwrap();
    shutdown.cancel();
}
