//! The contracts' access rules on a real mesh listener: per method, which workloads may call, and with which role
//! of the user they act for. A compromised service gets no further than its own methods.

use switchboard_mesh::Identity;
use switchboard_mesh::context::RequestContext;
use switchboard_mesh::server::{Limits, ServeOptions};
use switchboard_proto::audit::v1 as pb;
use switchboard_types::{Role, TenantId};
use tokio_util::sync::CancellationToken;
use tonic::Code;

use crate::{Pki, Recorder, client, recorder_routes, spawn};

fn acting_as(role: Option<Role>) -> RequestContext {
    let context = RequestContext::new_root().with_tenant(TenantId::generate());
    match role {
        Some(role) => context.with_role(role),
        None => context,
    }
}

#[tokio::test]
async fn each_method_admits_its_own_callers_and_roles() {
    let pki = Pki::new();
    let shutdown = CancellationToken::new();
    let recorder = Recorder::default();
    let options = ServeOptions::mesh(pki.creds(Identity::audit())).unwrap();
    let addr = spawn(recorder_routes(recorder.clone()), options, &shutdown).await;
    let as_identity = |identity: Identity| client(&addr, Identity::audit(), &pki.creds(identity));

    // Connectors may append (the handler answers), but may not list or verify any tenant's log.
    let append = as_identity(Identity::connectors())
        .append_events(acting_as(None).request(pb::AppendEventsRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(append.code(), Code::Unimplemented, "reached the handler: {append:?}");
    let list = as_identity(Identity::connectors())
        .list_events(acting_as(Some(Role::Owner)).request(pb::ListEventsRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(list.code(), Code::PermissionDenied, "{list:?}");
    assert!(list.message().contains("connectors"), "{}", list.message());

    // The gateway acts for users: it must say which role, and the role must be enough.
    let mut gateway = as_identity(Identity::gateway());
    let no_role = gateway.list_events(acting_as(None).request(pb::ListEventsRequest::default())).await.unwrap_err();
    assert_eq!(no_role.code(), Code::PermissionDenied);
    gateway.list_events(acting_as(Some(Role::Viewer)).request(pb::ListEventsRequest::default())).await.unwrap();
    let viewer =
        gateway.verify_chain(acting_as(Some(Role::Viewer)).request(pb::VerifyChainRequest {})).await.unwrap_err();
    assert_eq!(viewer.code(), Code::PermissionDenied, "verifying the whole chain needs an admin");
    assert!(viewer.message().contains("admin"), "{}", viewer.message());
    let admin =
        gateway.verify_chain(acting_as(Some(Role::Admin)).request(pb::VerifyChainRequest {})).await.unwrap_err();
    assert_eq!(admin.code(), Code::Unimplemented, "an admin reaches the handler");

    // Operators act for no user and need no role; a malformed role is refused, not ignored.
    let operator = as_identity(Identity::operator())
        .verify_chain(acting_as(None).request(pb::VerifyChainRequest {}))
        .await
        .unwrap_err();
    assert_eq!(operator.code(), Code::Unimplemented);
    let mut forged = acting_as(None).request(pb::ListEventsRequest::default());
    forged.metadata_mut().insert("x-user-role", "root".parse().unwrap());
    assert_eq!(gateway.list_events(forged).await.unwrap_err().code(), Code::InvalidArgument);
    assert_eq!(recorder.seen.lock().unwrap().len(), 1, "only the viewer's ListEvents reached the handler");
    shutdown.cancel();
}

#[tokio::test]
async fn connections_past_the_caps_are_closed_at_once() {
    let pki = Pki::new();
    let shutdown = CancellationToken::new();
    let mut options = crate::allowing(pki.creds(Identity::audit()), [Identity::gateway()]);
    options.limits = Limits { max_connections_per_client: 2, ..Limits::default() };
    let addr = spawn(recorder_routes(Recorder::default()), options, &shutdown).await;
    // Two connections from this address are held open (TLS handshakes not even started)...
    let held: Vec<_> = (0..2).map(|_| std::net::TcpStream::connect(&addr).unwrap()).collect();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // ...so a third is closed by the server before any TLS: the client sees EOF at once.
    let third = std::net::TcpStream::connect(&addr).unwrap();
    third.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1];
    let read = std::io::Read::read(&mut &third, &mut buf);
    assert!(matches!(read, Ok(0)) || read.is_err(), "closed by the server: {read:?}");
    // Once they are gone, a client gets through again.
    drop(held);
    let mut gateway = client(&addr, Identity::audit(), &pki.creds(Identity::gateway()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while gateway.list_events(pb::ListEventsRequest::default()).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "the caps never freed up");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    shutdown.cancel();
}
