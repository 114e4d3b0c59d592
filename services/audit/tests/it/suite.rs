//! The cases, each generic over the database.

use prost_types::{Struct, Timestamp, Value, value::Kind};
use sea_orm::ConnectionTrait;
use switchboard_audit::chain;
use switchboard_mesh::Identity;
use switchboard_mesh::context::{RequestContext, TraceParent};
use switchboard_proto::audit::v1 as pb;
use switchboard_proto::audit::v1::audit_service_client::AuditServiceClient;
use switchboard_store::TenantId;
use switchboard_test_support::{TestDb, TestPlatform};
use switchboard_types::{RequestId, Role};
use tonic::Code;
use tonic::transport::Channel;

fn event(action: &str) -> pb::NewEvent {
    pb::NewEvent {
        actor: "user:0190f6a4-7c1e-7d2a-9a1b-3c4d5e6f7a8b".into(),
        action: action.into(),
        resource: "connections/42".into(),
        outcome: pb::Outcome::Success as i32,
        details: Some(Struct {
            fields: [("amount".to_string(), Value { kind: Some(Kind::NumberValue(12.5)) })].into(),
        }),
        ..Default::default()
    }
}

async fn append(client: &mut AuditServiceClient<Channel>, ctx: &RequestContext, events: Vec<pb::NewEvent>) {
    client.append_events(ctx.request(pb::AppendEventsRequest { events })).await.expect("append");
}

async fn append_n(client: &mut AuditServiceClient<Channel>, ctx: &RequestContext, n: usize) {
    let events = (0..n).map(|i| event(&format!("action.{i}"))).collect();
    append(client, ctx, events).await;
}

async fn verify(client: &mut AuditServiceClient<Channel>, ctx: &RequestContext) -> pb::VerifyChainResponse {
    client.verify_chain(ctx.request(pb::VerifyChainRequest {})).await.expect("verify").into_inner()
}

async fn list(
    client: &mut AuditServiceClient<Channel>,
    ctx: &RequestContext,
    r: pb::ListEventsRequest,
) -> pb::ListEventsResponse {
    client.list_events(ctx.request(r)).await.expect("list").into_inner()
}

/// A tenant, and the context of calls the gateway makes for one of its admins (who may list and verify).
fn tenant_ctx() -> (TenantId, RequestContext) {
    let tenant = TenantId::generate();
    (tenant, RequestContext::new_root().with_tenant(tenant).with_role(Role::Admin))
}

/// Runs SQL on the raw connection, as an attacker with database access would.
async fn tamper(platform: &TestPlatform, sql: &str) {
    let affected = platform.store.raw_connection().execute_unprepared(sql).await.expect("tamper");
    assert!(affected.rows_affected() > 0, "tampering changed nothing: {sql}");
}

pub async fn append_list_verify_and_checkpoint(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    let mut gateway = platform.audit_as(Identity::gateway());
    let (tenant, ctx) = tenant_ctx();
    let ctx = ctx
        .with_request_id(RequestId::parse("req-append-1").unwrap())
        .with_trace(TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap());

    let appended = gateway
        .append_events(
            ctx.request(pb::AppendEventsRequest { events: vec![event("auth.login"), event("refund.issue")] }),
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!(appended.events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(appended.events[0].prev_hash, vec![0; 32]);
    assert_eq!(appended.events[1].prev_hash, appended.events[0].hash);
    append(&mut gateway, &ctx, vec![event("connection.create")]).await;

    let page = list(&mut gateway, &ctx, pb::ListEventsRequest::default()).await;
    assert_eq!(page.events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 2, 1], "newest first");
    let first = &page.events[2];
    assert_eq!(first.tenant_id, tenant.to_string());
    assert_eq!(first.action, "auth.login");
    assert_eq!(first.request_id, "req-append-1", "request id from the caller's context is recorded");
    assert_eq!(first.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736", "trace id from the caller's context is recorded");
    assert_eq!(first.details.as_ref().unwrap().fields["amount"].kind, Some(Kind::NumberValue(12.5)));
    assert!(page.next_page_token.is_empty());

    let report = verify(&mut gateway, &ctx).await;
    assert!(report.valid, "{report:?}");
    assert_eq!((report.checked_events, report.head_seq, report.first_invalid_seq), (3, 3, 0));
    assert_eq!(report.head_hash, page.events[0].hash);

    let checkpoint = gateway
        .get_checkpoint(ctx.request(pb::GetCheckpointRequest {}))
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap();
    assert_eq!((checkpoint.seq, &checkpoint.head_hash), (3, &page.events[0].hash));
    let message = chain::checkpoint_message(&tenant.to_string(), checkpoint.seq, &checkpoint.head_hash);
    let key = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &checkpoint.public_key);
    key.verify(&message, &checkpoint.signature).expect("checkpoint signature verifies with the published key");
    platform.stop().await;
}

pub async fn editing_a_field_is_named_by_seq(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    let mut gateway = platform.audit_as(Identity::gateway());
    let (tenant, ctx) = tenant_ctx();
    append_n(&mut gateway, &ctx, 10).await;
    tamper(
        &platform,
        &format!("UPDATE audit_events SET actor = 'someone-else' WHERE tenant_id = '{tenant}' AND seq = 4"),
    )
    .await;
    let report = verify(&mut gateway, &ctx).await;
    assert!(!report.valid);
    assert_eq!(report.first_invalid_seq, 4, "{report:?}");
    assert!(report.reason.contains("changed"), "{}", report.reason);
    assert_eq!(report.checked_events, 3);
    platform.stop().await;
}

pub async fn deleting_a_middle_row_is_named_by_seq(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    let mut gateway = platform.audit_as(Identity::gateway());
    let (tenant, ctx) = tenant_ctx();
    append_n(&mut gateway, &ctx, 10).await;
    tamper(&platform, &format!("DELETE FROM audit_events WHERE tenant_id = '{tenant}' AND seq = 5")).await;
    let report = verify(&mut gateway, &ctx).await;
    assert!(!report.valid);
    assert_eq!(report.first_invalid_seq, 5, "{report:?}");
    assert!(report.reason.contains("missing"), "{}", report.reason);
    platform.stop().await;
}

pub async fn deleting_the_newest_rows_falls_short_of_the_checkpoint(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    let mut gateway = platform.audit_as(Identity::gateway());
    let (tenant, ctx) = tenant_ctx();
    append_n(&mut gateway, &ctx, 10).await;
    tamper(&platform, &format!("DELETE FROM audit_events WHERE tenant_id = '{tenant}' AND seq >= 8")).await;
    let report = verify(&mut gateway, &ctx).await;
    assert!(!report.valid);
    assert_eq!(report.first_invalid_seq, 8, "{report:?}");
    assert!(report.reason.contains("checkpoint"), "{}", report.reason);
    assert_eq!(report.checkpoint.as_ref().map(|c| c.seq), Some(10));
    platform.stop().await;
}

pub async fn deleting_the_checkpoint_is_detected(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    let mut gateway = platform.audit_as(Identity::gateway());
    let (tenant, ctx) = tenant_ctx();
    append_n(&mut gateway, &ctx, 3).await;
    tamper(&platform, &format!("DELETE FROM audit_checkpoints WHERE tenant_id = '{tenant}'")).await;
    let report = verify(&mut gateway, &ctx).await;
    assert!(!report.valid, "{report:?}");
    assert!(report.reason.contains("no signed checkpoint"), "{}", report.reason);
    platform.stop().await;
}

pub async fn tenants_cannot_see_each_other(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    let mut gateway = platform.audit_as(Identity::gateway());
    let (tenant_a, a) = tenant_ctx();
    let (tenant_b, b) = tenant_ctx();
    append_n(&mut gateway, &a, 5).await;
    append_n(&mut gateway, &b, 2).await;

    let seen_by_b = list(&mut gateway, &b, pb::ListEventsRequest { page_size: 1000, ..Default::default() }).await;
    assert_eq!(seen_by_b.events.len(), 2);
    assert!(seen_by_b.events.iter().all(|e| e.tenant_id == tenant_b.to_string()));
    let b_report = verify(&mut gateway, &b).await;
    assert!(b_report.valid);
    assert_eq!(b_report.checked_events, 2);

    // The second wall: a query with no tenant filter inside B's scope.
    let scope = platform.store.tenant(tenant_b).await.unwrap();
    let unfiltered = scope.unfiltered_row_count("audit_events").await.unwrap();
    if db == TestDb::Postgres {
        assert_eq!(unfiltered, 2, "row-level security hides tenant {tenant_a}'s rows even without a filter");
    } else {
        assert_eq!(unfiltered, 7, "SQLite has no RLS: isolation rests on the repository filter");
    }
    drop(scope);
    platform.stop().await;
}

pub async fn concurrent_appends_make_one_unbroken_chain(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    let (_, ctx) = tenant_ctx();
    let (_, other) = tenant_ctx();
    let mut tasks = Vec::new();
    for task in 0..16 {
        let mut client = platform.audit_as(Identity::gateway());
        let ctx = if task % 4 == 3 { other.clone() } else { ctx.clone() };
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let batch = if i % 3 == 0 { 3 } else { 1 };
                append_n(&mut client, &ctx, batch).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut client = platform.audit_as(Identity::gateway());
    // 12 tasks for `ctx` and 4 for `other`, each 4 batches of 3 and 6 single events = 18 events.
    for (context, expected) in [(&ctx, 12 * 18), (&other, 4 * 18)] {
        let report = verify(&mut client, context).await;
        assert!(report.valid, "{report:?}");
        assert_eq!(report.checked_events, expected);
        assert_eq!(report.head_seq, expected);
    }
    platform.stop().await;
}

pub async fn pagination_and_filters(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    let mut gateway = platform.audit_as(Identity::gateway());
    let (_, ctx) = tenant_ctx();
    let mut events: Vec<pb::NewEvent> =
        (0..25).map(|i| event(if i % 5 == 0 { "auth.login" } else { "record.read" })).collect();
    for (i, e) in events.iter_mut().enumerate() {
        e.occur_time = Some(Timestamp { seconds: 1_800_000_000 + i as i64, nanos: 0 });
    }
    append(&mut gateway, &ctx, events).await;

    let mut seqs = Vec::new();
    let mut token = String::new();
    loop {
        let page = list(
            &mut gateway,
            &ctx,
            pb::ListEventsRequest {
                page_size: 10,
                page_token: token.clone(),
                order_ascending: true,
                ..Default::default()
            },
        )
        .await;
        assert!(page.events.len() <= 10);
        seqs.extend(page.events.iter().map(|e| e.seq));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seqs, (1..=25).collect::<Vec<_>>(), "pages cover every entry once, in order");

    let logins =
        list(&mut gateway, &ctx, pb::ListEventsRequest { action: "auth.login".into(), ..Default::default() }).await;
    assert_eq!(logins.events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![21, 16, 11, 6, 1]);

    let window = list(
        &mut gateway,
        &ctx,
        pb::ListEventsRequest {
            start_time: Some(Timestamp { seconds: 1_800_000_010, nanos: 0 }),
            end_time: Some(Timestamp { seconds: 1_800_000_013, nanos: 0 }),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(window.events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![13, 12, 11]);

    let err = gateway
        .list_events(ctx.request(pb::ListEventsRequest { page_size: 5000, ..Default::default() }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("page_size"), "{}", err.message());
    platform.stop().await;
}

pub async fn malformed_page_token_is_invalid_argument(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    let mut gateway = platform.audit_as(Identity::gateway());
    let (_, ctx) = tenant_ctx();
    append_n(&mut gateway, &ctx, 3).await;
    for token in ["not-a-token", "djE6MTox", "%%%"] {
        let err = gateway
            .list_events(ctx.request(pb::ListEventsRequest { page_token: token.into(), ..Default::default() }))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{token}");
        assert!(err.message().contains("page_token"), "{}", err.message());
    }
    // A real token replayed with other filters is refused too.
    let page = list(&mut gateway, &ctx, pb::ListEventsRequest { page_size: 1, ..Default::default() }).await;
    let err = gateway
        .list_events(ctx.request(pb::ListEventsRequest {
            page_size: 1,
            page_token: page.next_page_token,
            action: "other".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    platform.stop().await;
}

pub async fn missing_tenant_is_unauthenticated(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    let mut gateway = platform.audit_as(Identity::gateway());
    let no_tenant = RequestContext::new_root().with_role(Role::Admin);
    let err = gateway.list_events(no_tenant.request(pb::ListEventsRequest::default())).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = gateway
        .append_events(no_tenant.request(pb::AppendEventsRequest { events: vec![event("a")] }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = gateway.verify_chain(no_tenant.request(pb::VerifyChainRequest {})).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    platform.stop().await;
}

pub async fn appends_are_idempotent_by_event_id(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    let mut connectors = platform.audit_as(Identity::connectors());
    let (_, ctx) = tenant_ctx();
    let id = "0190f6a4-7c1e-7d2a-9a1b-3c4d5e6f7a8b".to_string();
    let e = pb::NewEvent { event_id: id.clone(), ..event("webhook.received") };
    let first = connectors
        .append_events(ctx.request(pb::AppendEventsRequest { events: vec![e.clone(), e.clone()] }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.events.len(), 1, "a duplicate inside one batch is one event");
    let again = connectors
        .append_events(ctx.request(pb::AppendEventsRequest { events: vec![e, event("other")] }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.events[0].seq, 1, "redelivery returns the stored entry");
    assert_eq!(again.events[0].hash, first.events[0].hash);
    assert_eq!(again.events[1].seq, 2);
    // Connectors may append to a tenant's log but not read or verify it (per-method rights on the mesh).
    let refused = connectors.verify_chain(ctx.request(pb::VerifyChainRequest {})).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let report = verify(&mut platform.audit_as(Identity::gateway()), &ctx).await;
    assert!(report.valid);
    assert_eq!(report.checked_events, 2);
    platform.stop().await;
}

pub async fn only_platform_services_may_append(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    let (_, ctx) = tenant_ctx();
    let mut operator = platform.audit_as(Identity::operator());
    let err =
        operator.append_events(ctx.request(pb::AppendEventsRequest { events: vec![event("a")] })).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let mut orchestrator = platform.audit_as(Identity::orchestrator());
    append_n(&mut orchestrator, &ctx, 1).await;
    assert!(verify(&mut operator, &ctx).await.valid, "operators may verify");
    platform.stop().await;
}

pub async fn bad_events_are_rejected_with_the_field_named(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    let mut gateway = platform.audit_as(Identity::gateway());
    let (_, ctx) = tenant_ctx();
    let cases: Vec<(Vec<pb::NewEvent>, &str)> = vec![
        (vec![], "1 to 1000"),
        (vec![pb::NewEvent { action: String::new(), ..event("x") }], "events[0].action is required"),
        (vec![event("ok"), pb::NewEvent { event_id: "nope".into(), ..event("x") }], "events[1].event_id"),
        (vec![pb::NewEvent { outcome: 99, ..event("x") }], "outcome"),
        (vec![pb::NewEvent { actor: "a".repeat(600), ..event("x") }], "events[0].actor is longer"),
        (vec![pb::NewEvent { occur_time: Some(Timestamp { seconds: 0, nanos: -5 }), ..event("x") }], "occur_time"),
        ((0..1001).map(|_| event("x")).collect(), "1 to 1000"),
    ];
    for (events, expected) in cases {
        let err = gateway.append_events(ctx.request(pb::AppendEventsRequest { events })).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains(expected), "{:?} should mention {expected:?}", err.message());
    }
    let page = list(&mut gateway, &ctx, pb::ListEventsRequest::default()).await;
    assert!(page.events.is_empty(), "rejected batches write nothing");

    // Control characters: PostgreSQL would refuse a NUL with an internal error; both backends refuse it up front.
    for (event, field) in [
        (pb::NewEvent { actor: "a\0b".into(), ..event("x") }, "events[0].actor"),
        (pb::NewEvent { resource: "line\nbreak".into(), ..event("x") }, "events[0].resource"),
    ] {
        let err =
            gateway.append_events(ctx.request(pb::AppendEventsRequest { events: vec![event] })).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains(field) && err.message().contains("control character"), "{}", err.message());
    }
    let err = gateway
        .list_events(ctx.request(pb::ListEventsRequest { action: "a\0".into(), ..Default::default() }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // A batch too large to echo back in one response is refused before anything is written.
    let big = Struct {
        fields: [("blob".to_string(), Value { kind: Some(Kind::StringValue("x".repeat(15 * 1024))) })].into(),
    };
    let events = (0..200).map(|_| pb::NewEvent { details: Some(big.clone()), ..event("x") }).collect();
    let err = gateway.append_events(ctx.request(pb::AppendEventsRequest { events })).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("split them"), "{}", err.message());
    platform.stop().await;
}

pub async fn a_row_inserted_below_seq_1_is_caught(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    let mut gateway = platform.audit_as(Identity::gateway());
    let (tenant, ctx) = tenant_ctx();
    append_n(&mut gateway, &ctx, 3).await;
    // The schema refuses seq < 1 outright...
    let refused = platform
        .store
        .raw_connection()
        .execute_unprepared(&format!(
            "INSERT INTO audit_events SELECT tenant_id, 0, 'forged', occurred_at_us, actor, action, resource, outcome, \
             details, request_id, trace_id, prev_hash, hash FROM audit_events WHERE tenant_id = '{tenant}' AND seq = 1"
        ))
        .await;
    assert!(refused.is_err(), "CHECK (seq >= 1) holds");
    // ...and verification reads from the lowest seq, so a forged row at the head of the chain is named too.
    tamper(&platform, &format!("UPDATE audit_events SET seq = seq + 10 WHERE tenant_id = '{tenant}'")).await;
    let report = verify(&mut gateway, &ctx).await;
    assert!(!report.valid);
    assert_eq!(report.first_invalid_seq, 1, "{report:?}");
    platform.stop().await;
}

pub async fn get_checkpoint_needs_a_tenant_and_is_empty_for_a_new_one(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    let mut operator = platform.audit_as(Identity::operator());
    let err =
        operator.get_checkpoint(RequestContext::new_root().request(pb::GetCheckpointRequest {})).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let (_, ctx) = tenant_ctx();
    let none = operator.get_checkpoint(ctx.request(pb::GetCheckpointRequest {})).await.unwrap().into_inner();
    assert!(none.checkpoint.is_none());
    platform.stop().await;
}

/// Two audit service instances (as two replicas would be) appending to the same tenant through one database:
/// the in-process lock cannot help across them, so this holds only if the store serializes chain appends.
pub async fn two_replicas_appending_to_one_tenant_never_fork(db: TestDb) {
    let mut platform = TestPlatform::start(db).await;
    let replica = platform.start_second_audit().await;
    let (_, ctx) = tenant_ctx();
    let mut tasks = Vec::new();
    for task in 0..8 {
        let mut client = if task % 2 == 0 { platform.audit_as(Identity::gateway()) } else { replica.clone() };
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..15 {
                append_n(&mut client, &ctx, 2).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let report = verify(&mut platform.audit_as(Identity::gateway()), &ctx).await;
    assert!(report.valid, "{report:?}");
    assert_eq!(report.checked_events, 8 * 15 * 2);
    platform.stop().await;
}
