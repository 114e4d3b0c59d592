//! Request context across hops: set at the first hop, it arrives at the second with the same tenant, request id
//! and trace id; the public edge strips what clients may not set.

use switchboard_mesh::Identity;
use switchboard_mesh::context::{RequestContext, TENANT_ID, TraceParent};
use switchboard_mesh::inbound::CallerPolicy;
use switchboard_mesh::server::{Limits, ServeOptions, Transport};
use switchboard_proto::audit::v1 as pb;
use switchboard_types::{RequestId, TenantId, UserId};
use tokio_util::sync::CancellationToken;

use crate::{Pki, Recorder, allowing, client, recorder_routes, spawn};

#[tokio::test]
async fn tenant_request_and_trace_ids_reach_the_second_hop() {
    switchboard_telemetry::init_for_tests();
    let pki = Pki::new();
    let shutdown = CancellationToken::new();

    // Hop 2: "audit", called by "orchestrator".
    let second = Recorder::default();
    let second_addr = spawn(
        recorder_routes(second.clone()),
        allowing(pki.creds(Identity::audit()), [Identity::orchestrator()]),
        &shutdown,
    )
    .await;
    // Hop 1: "orchestrator", called by "gateway", forwarding to hop 2 with its own certificate.
    let to_second =
        switchboard_mesh::client::channel(&second_addr, &Identity::audit(), &pki.creds(Identity::orchestrator()))
            .unwrap();
    let first = Recorder { next_hop: Some(to_second), ..Default::default() };
    let first_addr = spawn(
        recorder_routes(first.clone()),
        allowing(pki.creds(Identity::orchestrator()), [Identity::gateway()]),
        &shutdown,
    )
    .await;

    let tenant = TenantId::generate();
    let user = UserId::generate();
    let trace = TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
    let sent = RequestContext::new_root()
        .with_tenant(tenant)
        .with_user(user)
        .with_request_id(RequestId::parse("req-42").unwrap())
        .with_trace(trace);
    let mut gateway = client(&first_addr, Identity::orchestrator(), &pki.creds(Identity::gateway()));
    gateway.list_events(sent.request(pb::ListEventsRequest::default())).await.unwrap();

    let at_first = first.seen.lock().unwrap()[0].clone();
    let at_second = second.seen.lock().unwrap()[0].clone();
    for (hop, seen) in [("first", &at_first), ("second", &at_second)] {
        assert_eq!(seen.tenant(), Some(tenant), "{hop} hop tenant");
        assert_eq!(seen.user(), Some(user), "{hop} hop user");
        assert_eq!(seen.request_id().as_str(), "req-42", "{hop} hop request id");
        assert_eq!(seen.trace().trace_id_hex().as_str(), "0af7651916cd43dd8448eb211c80319c", "{hop} hop trace id");
    }
    assert_ne!(
        at_second.trace().parent_id(),
        trace.parent_id(),
        "the second hop's parent is the first hop's span, not the client's"
    );
    shutdown.cancel();
}

#[tokio::test]
async fn missing_or_malformed_correlation_headers_are_replaced_not_fatal() {
    let pki = Pki::new();
    let shutdown = CancellationToken::new();
    let recorder = Recorder::default();
    let addr = spawn(
        recorder_routes(recorder.clone()),
        allowing(pki.creds(Identity::audit()), [Identity::gateway()]),
        &shutdown,
    )
    .await;
    let mut request = tonic::Request::new(pb::ListEventsRequest::default());
    request.metadata_mut().insert("x-request-id", "has spaces and ;".parse().unwrap());
    request.metadata_mut().insert("traceparent", "garbage".parse().unwrap());
    client(&addr, Identity::audit(), &pki.creds(Identity::gateway())).list_events(request).await.unwrap();
    let seen = recorder.seen.lock().unwrap()[0].clone();
    assert_ne!(seen.request_id().as_str(), "has spaces and ;");
    assert_eq!(seen.trace().trace_id_hex().as_str().len(), 32);
    assert_eq!(seen.tenant(), None);

    let mut bad_tenant = tonic::Request::new(pb::ListEventsRequest::default());
    bad_tenant.metadata_mut().insert(TENANT_ID, "acme".parse().unwrap());
    let err =
        client(&addr, Identity::audit(), &pki.creds(Identity::gateway())).list_events(bad_tenant).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "a malformed tenant id is refused, not ignored");
    shutdown.cancel();
}

#[tokio::test]
async fn the_public_listener_strips_internal_metadata_from_clients() {
    let shutdown = CancellationToken::new();
    let recorder = Recorder::default();
    let options = ServeOptions {
        transport: Transport::Plaintext,
        policy: CallerPolicy::Public,
        services: vec![],
        limits: Limits::default(),
        metrics: None,
    };
    let addr = spawn(recorder_routes(recorder.clone()), options, &shutdown).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap().connect_lazy();
    let forged = RequestContext::new_root().with_tenant(TenantId::generate()).with_user(UserId::generate());
    switchboard_proto::audit::v1::audit_service_client::AuditServiceClient::new(channel)
        .list_events(forged.request(pb::ListEventsRequest::default()))
        .await
        .unwrap();
    let seen = recorder.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.tenant(), None, "a client cannot choose its tenant by header");
    assert_eq!(seen.user(), None);
    let raw = recorder.metadata.lock().unwrap()[0].clone();
    assert!(raw.get(TENANT_ID).is_none(), "x-tenant-id never reaches a handler behind the public listener");
    assert!(raw.get("x-user-id").is_none(), "nor does x-user-id");
    assert_eq!(seen.request_id(), forged.request_id(), "a well-formed request id is kept");
    shutdown.cancel();
}
