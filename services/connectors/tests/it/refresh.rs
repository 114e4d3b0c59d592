//! Token refresh: ahead of expiry, once for two replicas racing on one rotating refresh token, and a refused refresh
//! turning the connection to NEEDS_REAUTH. The sandbox issues one-minute tokens, well inside the service's
//! five-minute refresh margin, so every OAuth connection starts out needing a refresh.

use std::time::Duration;

use prost_types::{Struct, Value, value::Kind};
use switchboard_proto::connectors::v1 as pb;
use switchboard_proto::connectors::v1::connector_service_server::ConnectorService as _;
use switchboard_sandbox::{Provider, SandboxConfig};
use switchboard_test_support::TestDb;

use crate::support::{Caller, Harness, connect_shopify_oauth, fast_retries, get_connection, sync_to_end};

/// Records of the demo shop, all kinds.
const SHOPIFY_RECORDS: i64 = 300 + 60 + 150;

/// A harness whose sandbox issues access tokens that expire in a minute.
async fn short_lived_tokens(db: TestDb) -> Harness {
    let sandbox = SandboxConfig { token_lifetime: Some(Duration::from_secs(60)), ..SandboxConfig::default() };
    Harness::start_with(db, sandbox, fast_retries()).await
}

#[tokio::test]
async fn a_token_inside_the_margin_is_refreshed_before_a_sync() {
    let h = short_lived_tokens(TestDb::Sqlite).await;
    let a = Caller::new();
    let shop = connect_shopify_oauth(&h.service, a).await;
    assert_eq!(h.sandbox.counts().refreshes_for(Provider::Shopify), 0);
    // Refreshed tokens last the provider's hour, far outside the margin.
    h.sandbox.set_token_lifetime(None);

    let sync = sync_to_end(&h.service, a, &shop.name, false).await;
    assert_eq!(sync.status, pb::SyncStatus::Succeeded as i32, "{sync:?}");
    assert_eq!(sync.records_created, SHOPIFY_RECORDS);
    assert_eq!(h.sandbox.counts().refreshes_for(Provider::Shopify), 1, "refreshed once, before the first page");
    let connection = get_connection(&h.service, a, &shop.name).await;
    assert_eq!(connection.status, pb::ConnectionStatus::Active as i32, "{connection:?}");
    assert!(connection.error.is_none(), "{connection:?}");

    // The new token was persisted: another process (nothing in memory, its own cache) syncs without refreshing.
    let stop = tokio_util::sync::CancellationToken::new();
    let other = h.replica(stop.clone());
    let again = sync_to_end(&other, a, &shop.name, false).await;
    assert_eq!(again.status, pb::SyncStatus::Succeeded as i32, "{again:?}");
    assert_eq!(h.sandbox.counts().refreshes_for(Provider::Shopify), 1, "the refreshed token is still good");
    stop.cancel();
    other.wait_for_syncs().await;
    h.stop().await;
}

fn discount(connection: &str, n: usize) -> pb::InvokeActionRequest {
    let text = |s: String| Value { kind: Some(Kind::StringValue(s)) };
    let fields = [
        ("title".to_owned(), text(format!("Race {n}"))),
        ("code".to_owned(), text(format!("RACE{n}"))),
        ("percentage".to_owned(), Value { kind: Some(Kind::NumberValue(10.0)) }),
    ];
    pb::InvokeActionRequest {
        connection: connection.into(),
        action: "shopify.discount_code.create".into(),
        input: Some(Struct { fields: fields.into_iter().collect() }),
        idempotency_key: format!("race-{n}"),
        ..Default::default()
    }
}

/// Shopify rotates the refresh token on every refresh: two replicas refreshing it at once would both get new
/// tokens and one of them would lose the compare-and-set. The lock in the shared cache lets one refresh.
async fn two_replicas_refresh_a_rotating_token_once(db: TestDb) {
    let h = short_lived_tokens(db).await;
    let a = Caller::new();
    let shop = connect_shopify_oauth(&h.service, a).await;
    h.sandbox.set_token_lifetime(None);
    let stop = tokio_util::sync::CancellationToken::new();
    let other = h.replica_with_cache(h.cache.clone(), stop.clone());

    // Four calls on each replica, all needing the token at the same moment.
    let calls = (0..8).map(|n| {
        let service = if n % 2 == 0 { h.service.clone() } else { other.clone() };
        let request = a.request(discount(&shop.name, n));
        async move { service.invoke_action(request).await }
    });
    for (n, outcome) in futures::future::join_all(calls).await.into_iter().enumerate() {
        let response = outcome.unwrap_or_else(|e| panic!("call {n}: {e:?}")).into_inner();
        assert!(!response.replayed);
    }
    assert_eq!(h.sandbox.counts().refreshes_for(Provider::Shopify), 1, "exactly one refresh for both replicas");
    let connection = get_connection(&other, a, &shop.name).await;
    assert_eq!(connection.status, pb::ConnectionStatus::Active as i32, "{connection:?}");

    // Both go on with the one refreshed token.
    let sync = sync_to_end(&other, a, &shop.name, false).await;
    assert_eq!(sync.status, pb::SyncStatus::Succeeded as i32, "{sync:?}");
    assert_eq!(h.sandbox.counts().refreshes_for(Provider::Shopify), 1);
    stop.cancel();
    other.wait_for_syncs().await;
    h.stop().await;
}

#[tokio::test]
async fn two_replicas_refresh_a_rotating_token_once_on_sqlite() {
    two_replicas_refresh_a_rotating_token_once(TestDb::Sqlite).await;
}

#[tokio::test]
async fn two_replicas_refresh_a_rotating_token_once_on_postgres() {
    two_replicas_refresh_a_rotating_token_once(TestDb::Postgres).await;
}

#[tokio::test]
async fn a_refused_refresh_marks_the_connection_needs_reauth() {
    let h = short_lived_tokens(TestDb::Sqlite).await;
    let a = Caller::new();
    let shop = connect_shopify_oauth(&h.service, a).await;
    // The merchant uninstalled the app: the stored refresh token is dead.
    h.sandbox.revoke_refresh_tokens(Provider::Shopify);

    let sync = sync_to_end(&h.service, a, &shop.name, false).await;
    assert_eq!(sync.status, pb::SyncStatus::Failed as i32, "{sync:?}");
    let error = sync.error.unwrap();
    assert_eq!(error.code, tonic::Code::FailedPrecondition as i32, "{error:?}");
    assert_eq!(sync.records_fetched, 0, "nothing fetched with a token about to expire");
    assert_eq!(h.sandbox.counts().refreshes_for(Provider::Shopify), 0);

    let connection = get_connection(&h.service, a, &shop.name).await;
    assert_eq!(connection.status, pb::ConnectionStatus::NeedsReauth as i32, "{connection:?}");
    let status = connection.error.unwrap();
    assert_eq!(status.code, tonic::Code::FailedPrecondition as i32);
    assert!(status.message.contains("refresh token"), "{}", status.message);
    assert!(!status.message.contains("shprt_"), "no token in the message: {}", status.message);
    let listed = h.service.list_connections(a.request(pb::ListConnectionsRequest::default())).await.unwrap();
    let listed = listed.into_inner().connections;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, pb::ConnectionStatus::NeedsReauth as i32);

    let refused = h
        .service
        .start_sync(a.request(pb::StartSyncRequest { parent: shop.name.clone(), record_kinds: vec![], full: false }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains("refused"), "says why: {}", refused.message());
    h.stop().await;
}
