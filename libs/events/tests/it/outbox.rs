//! The outbox and its relay, on the embedded bus over both databases.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use switchboard_events::outbox::{self, OutboxRelay, RelayOptions, Round};
use switchboard_events::{BusFuture, EmbeddedBus, EventBus, EventsError, Outgoing, Subscription};
use switchboard_store::TenantId;
use switchboard_test_support::{TestDb, on_both_databases, test_store};

use crate::support::{envelope, receive_exactly};

/// A bus whose first `failures` publishes fail, as a broker that is down would.
struct FlakyBus {
    inner: Arc<dyn EventBus>,
    failures: AtomicUsize,
}

impl EventBus for FlakyBus {
    fn ensure_topics<'a>(&'a self, topics: &'a [&'a str]) -> BusFuture<'a, ()> {
        self.inner.ensure_topics(topics)
    }
    fn publish<'a>(&'a self, topic: &'a str, messages: &'a [Outgoing]) -> BusFuture<'a, ()> {
        if self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Box::pin(async { Err(EventsError::Unavailable("broker down (test)".into())) });
        }
        self.inner.publish(topic, messages)
    }
    fn subscribe<'a>(&'a self, topic: &'a str, group: &'a str) -> BusFuture<'a, Box<dyn Subscription>> {
        self.inner.subscribe(topic, group)
    }
    fn name(&self) -> &'static str {
        "flaky"
    }
}

/// Rows of committed transactions are published in write order; rows of rolled-back ones never are.
pub async fn publishes_committed_rows_in_order(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let test = test_store(db, dir.path()).await;
    let store = test.store.clone();
    let tenant = TenantId::generate();
    let bus: Arc<dyn EventBus> = Arc::new(EmbeddedBus::new(store.clone()));

    let kept: Vec<_> = (0..5).map(|n| envelope(&tenant.to_string(), "k", n)).collect();
    let scope = store.tenant(tenant).await.unwrap();
    outbox::enqueue(&scope, "orders", &kept).await.unwrap();
    scope.commit().await.unwrap();
    let dropped: Vec<_> = (5..8).map(|n| envelope(&tenant.to_string(), "k", n)).collect();
    let scope = store.tenant(tenant).await.unwrap();
    outbox::enqueue(&scope, "orders", &dropped).await.unwrap();
    drop(scope); // rolled back

    let relay = OutboxRelay::new(store.clone(), bus.clone(), RelayOptions::default());
    assert_eq!(relay.run_once().await.unwrap(), Round::Published(5));
    assert_eq!(relay.run_once().await.unwrap(), Round::Published(0), "sent rows are not sent again");
    assert_eq!(store.outbox_relay().pending_count().await.unwrap(), 0);

    let mut subscription = bus.subscribe("orders", "g").await.unwrap();
    let got = receive_exactly(&mut subscription, 5, Duration::from_secs(10), Duration::from_millis(300)).await;
    let ids: Vec<String> = got.iter().map(|d| d.envelope().unwrap().event_id).collect();
    assert_eq!(ids, kept.iter().map(|e| e.event_id.clone()).collect::<Vec<_>>());
    test.cleanup().await;
}

/// While the bus fails, rows stay pending and the relay retries them with backoff; none is lost.
pub async fn retries_while_the_bus_is_down(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let test = test_store(db, dir.path()).await;
    let store = test.store.clone();
    let tenant = TenantId::generate();
    let inner: Arc<dyn EventBus> = Arc::new(EmbeddedBus::new(store.clone()));
    let flaky = Arc::new(FlakyBus { inner: inner.clone(), failures: AtomicUsize::new(3) });

    let scope = store.tenant(tenant).await.unwrap();
    let envelopes: Vec<_> = (0..20).map(|n| envelope(&tenant.to_string(), "k", n)).collect();
    outbox::enqueue(&scope, "orders", &envelopes).await.unwrap();
    scope.commit().await.unwrap();

    let options =
        RelayOptions { backoff: (Duration::from_millis(10), Duration::from_millis(50)), ..Default::default() };
    let relay = OutboxRelay::new(store.clone(), flaky.clone(), options);
    assert!(matches!(relay.run_once().await, Err(EventsError::Unavailable(_))));
    assert_eq!(store.outbox_relay().pending_count().await.unwrap(), 20, "a failed publish keeps every row");

    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(relay.run(shutdown.clone()));
    let mut subscription = inner.subscribe("orders", "g").await.unwrap();
    let got = receive_exactly(&mut subscription, 20, Duration::from_secs(10), Duration::from_millis(300)).await;
    assert_eq!(flaky.failures.load(Ordering::SeqCst), 0, "the failures happened");
    let ids: Vec<String> = got.iter().map(|d| d.envelope().unwrap().event_id).collect();
    assert_eq!(ids, envelopes.iter().map(|e| e.event_id.clone()).collect::<Vec<_>>());
    shutdown.cancel();
    task.await.unwrap();
    test.cleanup().await;
}

/// Two relays on one database take turns: only the lease holder publishes, so one key's order holds.
pub async fn one_relay_at_a_time(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let test = test_store(db, dir.path()).await;
    let store = test.store.clone();
    let bus: Arc<dyn EventBus> = Arc::new(EmbeddedBus::new(store.clone()));
    let lease = RelayOptions { lease: Duration::from_millis(300), ..Default::default() };
    let first = OutboxRelay::new(store.clone(), bus.clone(), lease.clone());
    let second = OutboxRelay::new(store.clone(), bus.clone(), lease);
    assert_eq!(first.run_once().await.unwrap(), Round::Published(0));
    assert_eq!(second.run_once().await.unwrap(), Round::NotLeader);
    assert_eq!(first.run_once().await.unwrap(), Round::Published(0), "the holder renews");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(second.run_once().await.unwrap(), Round::Published(0), "an expired lease is taken over");
    assert_eq!(first.run_once().await.unwrap(), Round::NotLeader);
    test.cleanup().await;
}

/// An envelope of another tenant cannot be written in this tenant's transaction.
pub async fn refuses_another_tenants_envelope(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let test = test_store(db, dir.path()).await;
    let scope = test.store.tenant(TenantId::generate()).await.unwrap();
    let foreign = envelope(&TenantId::generate().to_string(), "k", 0);
    assert!(matches!(outbox::enqueue(&scope, "orders", &[foreign]).await, Err(EventsError::Invalid(_))));
    drop(scope);
    test.cleanup().await;
}

/// A row whose envelope names another tenant than the row (so row-level security checked the wrong tenant) is
/// never published; the rows around it are.
pub async fn never_publishes_an_envelope_of_another_tenant(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let test = test_store(db, dir.path()).await;
    let store = test.store.clone();
    let (tenant, victim) = (TenantId::generate(), TenantId::generate());
    let bus: Arc<dyn EventBus> = Arc::new(EmbeddedBus::new(store.clone()));
    let before = envelope(&tenant.to_string(), "k", 0);
    let forged = envelope(&victim.to_string(), "k", 1);
    let after = envelope(&tenant.to_string(), "k", 2);
    let scope = store.tenant(tenant).await.unwrap();
    outbox::enqueue(&scope, "orders", std::slice::from_ref(&before)).await.unwrap();
    // Past the helper's check, straight into the table, as a buggy or hostile writer could.
    let row = switchboard_store::events::NewOutboxEvent {
        event_id: forged.event_id.clone(),
        topic: "orders".into(),
        key: "k".into(),
        envelope: prost::Message::encode_to_vec(&forged),
        created_at_us: 0,
    };
    scope.outbox().enqueue(vec![row]).await.unwrap();
    outbox::enqueue(&scope, "orders", std::slice::from_ref(&after)).await.unwrap();
    scope.commit().await.unwrap();

    let relay = OutboxRelay::new(store.clone(), bus.clone(), RelayOptions::default());
    relay.run_once().await.unwrap();
    assert_eq!(store.outbox_relay().pending_count().await.unwrap(), 0);
    let mut subscription = bus.subscribe("orders", "g").await.unwrap();
    let got = receive_exactly(&mut subscription, 2, Duration::from_secs(10), Duration::from_millis(300)).await;
    let ids: Vec<String> = got.iter().map(|d| d.envelope().unwrap().event_id).collect();
    assert_eq!(ids, vec![before.event_id, after.event_id]);
    test.cleanup().await;
}

/// A commit that wrote outbox rows wakes the relay of its process at once: with an hour between polls, the second
/// event is still published within seconds.
pub async fn a_commit_wakes_the_relay(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let test = test_store(db, dir.path()).await;
    let store = test.store.clone();
    let tenant = TenantId::generate();
    let bus: Arc<dyn EventBus> = Arc::new(EmbeddedBus::new(store.clone()));
    let mut subscription = bus.subscribe("orders", "g").await.unwrap();
    let (first, second) = (envelope(&tenant.to_string(), "k", 0), envelope(&tenant.to_string(), "k", 1));

    let scope = store.tenant(tenant).await.unwrap();
    outbox::enqueue(&scope, "orders", std::slice::from_ref(&first)).await.unwrap();
    scope.commit().await.unwrap();
    let options = RelayOptions { poll_interval: Duration::from_secs(3600), ..Default::default() };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(OutboxRelay::new(store.clone(), bus.clone(), options).run(shutdown.clone()));
    let got = receive_exactly(&mut subscription, 1, Duration::from_secs(10), Duration::from_millis(100)).await;
    assert_eq!(got[0].envelope().unwrap().event_id, first.event_id, "the first round publishes what is pending");

    // The relay now waits for its next poll, an hour away, unless the commit wakes it.
    let scope = store.tenant(tenant).await.unwrap();
    outbox::enqueue(&scope, "orders", std::slice::from_ref(&second)).await.unwrap();
    scope.commit().await.unwrap();
    let got = receive_exactly(&mut subscription, 1, Duration::from_secs(10), Duration::from_millis(100)).await;
    assert_eq!(got[0].envelope().unwrap().event_id, second.event_id);
    shutdown.cancel();
    task.await.unwrap();
    test.cleanup().await;
}

on_both_databases!(
    a_commit_wakes_the_relay,
    never_publishes_an_envelope_of_another_tenant,
    publishes_committed_rows_in_order,
    retries_while_the_bus_is_down,
    one_relay_at_a_time,
    refuses_another_tenants_envelope
);
