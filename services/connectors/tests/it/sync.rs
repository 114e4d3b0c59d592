//! Sync: exact counts from the sandbox, tenant walls, and a sync stopped halfway resumed without duplicates.

use switchboard_proto::connectors::v1 as pb;
use switchboard_proto::connectors::v1::connector_service_server::ConnectorService as _;
use switchboard_test_support::TestDb;

use crate::support::{Caller, Harness, all_records, connect_shopify, connect_stripe, sync_to_end, wait_for_sync};

/// The sandbox's demo data at scale 1.
const STRIPE: [(&str, usize); 5] =
    [("charge", 500), ("customer", 200), ("invoice", 120), ("payment_intent", 300), ("refund", 40)];
const SHOPIFY: [(&str, usize); 3] = [("order", 300), ("product", 60), ("customer", 150)];

async fn full_sync_copies_every_record_once(db: TestDb) {
    let h = Harness::start(db).await;
    let (a, b) = (Caller::new(), Caller::new());
    let stripe = connect_stripe(&h.service, a).await;
    assert_eq!(stripe.account, switchboard_sandbox::DEMO_STRIPE_ACCOUNT);
    let sync = sync_to_end(&h.service, a, &stripe.name, false).await;
    assert_eq!(sync.status, pb::SyncStatus::Succeeded as i32, "{sync:?}");
    assert!(sync.full, "a connection's first sync is full");
    let total: usize = STRIPE.iter().map(|(_, n)| n).sum();
    assert_eq!(sync.records_created as usize, total);
    for (kind, expected) in STRIPE {
        let records = all_records(&h.service, a, kind, "").await;
        assert_eq!(records.len(), expected, "{kind}");
        let ids: std::collections::BTreeSet<_> = records.iter().map(|r| r.id.clone()).collect();
        assert_eq!(ids.len(), expected, "{kind}: no duplicates");
    }
    // Another tenant sees none of it.
    assert!(all_records(&h.service, b, "charge", "").await.is_empty());
    let err =
        h.service.get_connection(b.request(pb::GetConnectionRequest { name: stripe.name.clone() })).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);

    // Filters run over the synced fields.
    let succeeded = all_records(&h.service, a, "charge", "status = \"succeeded\"").await;
    assert!(!succeeded.is_empty() && succeeded.len() < 500);
    let bad = h
        .service
        .query_records(a.request(pb::QueryRecordsRequest {
            kind: "charge".into(),
            filter: "amount >".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(bad.message().contains("position"), "{}", bad.message());

    // A second sync is incremental and changes nothing.
    let again = sync_to_end(&h.service, a, &stripe.name, false).await;
    assert_eq!(again.status, pb::SyncStatus::Succeeded as i32, "{again:?}");
    assert!(!again.full);
    assert_eq!(again.records_created, 0);

    let shop = connect_shopify(&h.service, a).await;
    let sync = sync_to_end(&h.service, a, &shop.name, false).await;
    assert_eq!(sync.status, pb::SyncStatus::Succeeded as i32, "{sync:?}");
    let total: usize = SHOPIFY.iter().map(|(_, n)| n).sum();
    assert_eq!(sync.records_created as usize, total);
    let orders = all_records(&h.service, a, "order", "").await;
    assert_eq!(orders.len(), 300);
    h.stop().await;
}

#[tokio::test]
async fn full_sync_copies_every_record_once_on_sqlite() {
    full_sync_copies_every_record_once(TestDb::Sqlite).await;
}

#[tokio::test]
async fn full_sync_copies_every_record_once_on_postgres() {
    full_sync_copies_every_record_once(TestDb::Postgres).await;
}

#[tokio::test]
async fn a_sync_stopped_halfway_resumes_without_duplicates() {
    let h = Harness::start(TestDb::Sqlite).await;
    let a = Caller::new();
    let stripe = connect_stripe(&h.service, a).await;
    let stop_first = tokio_util::sync::CancellationToken::new();
    let first = h.replica(stop_first.clone());
    let started = first
        .start_sync(a.request(pb::StartSyncRequest { parent: stripe.name.clone(), record_kinds: vec![], full: true }))
        .await
        .unwrap()
        .into_inner()
        .sync
        .unwrap();
    // Stop the process once a page is in, long before the 12 pages are.
    loop {
        let sync =
            first.get_sync(a.request(pb::GetSyncRequest { name: started.name.clone() })).await.unwrap().into_inner();
        if sync.sync.unwrap().records_fetched > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    stop_first.cancel();
    first.wait_for_syncs().await;
    let stopped = wait_for_sync(&h.service, a, &started.name).await;
    assert_eq!(stopped.status, pb::SyncStatus::Cancelled as i32, "{stopped:?}");
    let total: i64 = STRIPE.iter().map(|(_, n)| *n as i64).sum();
    assert!(stopped.records_fetched < total, "stopped halfway: {stopped:?}");

    let resumed = sync_to_end(&h.service, a, &stripe.name, true).await;
    assert_eq!(resumed.status, pb::SyncStatus::Succeeded as i32, "{resumed:?}");
    assert_eq!(stopped.records_created + resumed.records_created, total, "every record created exactly once");
    assert!(resumed.records_fetched < total, "the second sync resumed instead of starting over: {resumed:?}");
    for (kind, expected) in STRIPE {
        assert_eq!(all_records(&h.service, a, kind, "").await.len(), expected, "{kind}");
    }
    h.stop().await;
}

#[tokio::test]
async fn a_refused_key_stores_nothing() {
    let h = Harness::start(TestDb::Sqlite).await;
    let a = Caller::new();
    let request = pb::CreateConnectionRequest {
        connection: Some(pb::Connection { provider: "stripe".into(), ..Default::default() }),
        credentials: Some(pb::Credentials { secret: "sk_test_wrong".into() }),
    };
    let err = h.service.create_connection(a.request(request)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");
    assert!(!err.message().contains("sk_test_wrong"), "the key never appears in an error: {}", err.message());
    let list = h.service.list_connections(a.request(pb::ListConnectionsRequest::default())).await.unwrap().into_inner();
    assert!(list.connections.is_empty());
    h.stop().await;
}

#[tokio::test]
async fn replicas_starting_a_sync_at_once_share_one() {
    let h = Harness::start(TestDb::Sqlite).await;
    let a = Caller::new();
    let stripe = connect_stripe(&h.service, a).await;
    let other = h.replica(tokio_util::sync::CancellationToken::new());
    let start = |service: &switchboard_connectors::ConnectorService| {
        let request = a.request(pb::StartSyncRequest { parent: stripe.name.clone(), record_kinds: vec![], full: true });
        let service = service.clone();
        async move { service.start_sync(request).await.unwrap().into_inner().sync.unwrap() }
    };
    let first = start(&h.service).await;
    let second = start(&other).await;
    assert_eq!(first.name, second.name, "another replica's live sync is shared, not cancelled");
    let done = wait_for_sync(&h.service, a, &first.name).await;
    assert_eq!(done.status, pb::SyncStatus::Succeeded as i32, "{done:?}");
    h.stop().await;
}
