//! Throttling: storms of 429s are waited out exactly as long as `Retry-After` says, a wait longer than the retry
//! policy allows fails the sync at once instead of sleeping through it, and record kinds contending for one
//! Shopify cost bucket wait their turn instead of failing.

use std::time::{Duration, Instant};

use switchboard_connectors::RetryPolicy;
use switchboard_proto::connectors::v1 as pb;
use switchboard_sandbox::{Fault, Provider, SandboxConfig};
use switchboard_test_support::TestDb;

use crate::support::{
    Caller, Harness, all_records, connect_shopify, connect_stripe, fast_retries, get_connection, sync_to_end,
};

#[tokio::test]
async fn storms_of_429_are_waited_out_as_retry_after_says() {
    let h = Harness::start(TestDb::Sqlite).await;
    let a = Caller::new();
    let stripe = connect_stripe(&h.service, a).await;
    let shop = connect_shopify(&h.service, a).await;
    let second = Some(Duration::from_secs(1));
    h.sandbox.inject(Fault { provider: Provider::Stripe, status: 429, count: 3, retry_after: second });
    h.sandbox.inject(Fault { provider: Provider::Shopify, status: 429, count: 3, retry_after: second });

    let (stripe_sync, shop_sync) =
        tokio::join!(sync_to_end(&h.service, a, &stripe.name, false), sync_to_end(&h.service, a, &shop.name, false));
    assert_eq!(stripe_sync.status, pb::SyncStatus::Succeeded as i32, "{stripe_sync:?}");
    assert_eq!(stripe_sync.records_created, 500 + 200 + 120 + 300 + 40);
    assert_eq!(shop_sync.status, pb::SyncStatus::Succeeded as i32, "{shop_sync:?}");
    assert_eq!(shop_sync.records_created, 300 + 60 + 150);
    assert_eq!(all_records(&h.service, a, "charge", "").await.len(), 500);
    assert_eq!(all_records(&h.service, a, "order", "").await.len(), 300);

    let counts = h.sandbox.counts();
    for provider in [Provider::Stripe, Provider::Shopify] {
        assert_eq!(counts.throttled_for(provider), 3, "{provider}: every injected 429 was served");
        let early = counts.early_retries(provider);
        assert!(early.is_empty(), "{provider}: requests before Retry-After elapsed: {early:?}");
    }
    h.stop().await;
}

#[tokio::test]
async fn a_retry_after_beyond_the_policy_fails_the_sync_at_once() {
    let retry = RetryPolicy { max_wait: Duration::from_secs(1), ..fast_retries() };
    let h = Harness::start_with(TestDb::Sqlite, SandboxConfig::default(), retry).await;
    let a = Caller::new();
    let stripe = connect_stripe(&h.service, a).await;
    h.sandbox.inject(Fault {
        provider: Provider::Stripe,
        status: 429,
        count: 1,
        retry_after: Some(Duration::from_secs(120)),
    });

    let started = Instant::now();
    let sync = sync_to_end(&h.service, a, &stripe.name, false).await;
    assert!(started.elapsed() < Duration::from_secs(20), "did not sleep out the 2 minutes: {:?}", started.elapsed());
    assert_eq!(sync.status, pb::SyncStatus::Failed as i32, "{sync:?}");
    let error = sync.error.unwrap();
    assert_eq!(error.code, tonic::Code::ResourceExhausted as i32, "{error:?}");
    assert!(error.message.contains("rate limited"), "{}", error.message);
    assert_eq!(h.sandbox.counts().throttled_for(Provider::Stripe), 1, "no retry inside the provider's window");
    assert!(h.sandbox.counts().early_retries(Provider::Stripe).is_empty());
    let connection = get_connection(&h.service, a, &stripe.name).await;
    assert_eq!(connection.status, pb::ConnectionStatus::Active as i32, "throttling is no credentials problem");
    h.stop().await;
}

/// Two tenants syncing one shop put six record kinds on its GraphQL cost bucket, drained and refilling a page at a
/// time: calls throttled together come back together, and all but one are throttled again, round after round. Each
/// call waits on (within its time budget) until the refill is its own, and both syncs finish whole.
#[tokio::test]
async fn kinds_sharing_a_drained_shopify_bucket_wait_their_turn() {
    let h = Harness::start(TestDb::Sqlite).await;
    let (a, b) = (Caller::new(), Caller::new());
    let (shop_a, shop_b) = (connect_shopify(&h.service, a).await, connect_shopify(&h.service, b).await);
    // One 100-record page (102 points) every 200 ms, and nothing in the bucket to start with.
    h.sandbox.set_shopify_restore_rate(switchboard_sandbox::DEMO_SHOP, 510.0);
    h.sandbox.drain_shopify_bucket(switchboard_sandbox::DEMO_SHOP);

    let (sync_a, sync_b) =
        tokio::join!(sync_to_end(&h.service, a, &shop_a.name, true), sync_to_end(&h.service, b, &shop_b.name, true));
    for sync in [&sync_a, &sync_b] {
        assert_eq!(sync.status, pb::SyncStatus::Succeeded as i32, "{sync:?}");
        assert_eq!(sync.records_created, 300 + 60 + 150);
    }
    assert_eq!(all_records(&h.service, a, "order", "").await.len(), 300);
    assert_eq!(all_records(&h.service, b, "order", "").await.len(), 300);
    let throttled = h.sandbox.counts().graphql_throttled;
    // Twelve pages through a bucket that holds one at a time: the kinds lost the refill to each other many times.
    assert!(throttled >= 12, "the bucket was contended: {throttled} THROTTLED answers");
    h.stop().await;
}
