//! One suite for every [`EventBus`]: the embedded log (SQLite and PostgreSQL) and Kafka. Kafka needs the broker
//! `make test` starts; these tests fail, not skip, without it.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use switchboard_events::{EmbeddedBus, EventBus, EventsError, Outgoing, headers};
use switchboard_store::Store;
use switchboard_test_support::{TestDb, TestStore, test_store};

use crate::support::{BusFactory, envelope, kafka_bus, receive_exactly, unique_topic};

const TENANT: &str = "0190f6a4-7c1e-7d2a-9a1b-3c4d5e6f7a8b";

/// How long to wait for messages, and how long to watch for unexpected extra ones.
fn timings(bus: &dyn EventBus) -> (Duration, Duration) {
    match bus.name() {
        // Joining a consumer group takes a rebalance on a broker.
        "kafka" => (Duration::from_secs(60), Duration::from_secs(3)),
        _ => (Duration::from_secs(10), Duration::from_millis(500)),
    }
}

/// Messages with one key arrive in publish order, with their envelope and routing headers intact.
async fn keeps_key_order_and_headers(factory: BusFactory) {
    let bus = factory().await;
    let topic = unique_topic("order");
    let keys = ["alpha", "beta", "gamma"];
    let envelopes: Vec<_> = (0..60).map(|n| envelope(TENANT, keys[n % 3], n)).collect();
    for half in envelopes.chunks(30) {
        let messages: Vec<Outgoing> = half.iter().map(Outgoing::from_envelope).collect();
        bus.publish(&topic, &messages).await.unwrap();
    }
    let mut subscription = bus.subscribe(&topic, "g1").await.unwrap();
    let (within, settle) = timings(bus.as_ref());
    let got = receive_exactly(&mut subscription, 60, within, settle).await;

    let mut per_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for delivery in &got {
        let decoded = delivery.envelope().unwrap();
        assert_eq!(delivery.key, decoded.key);
        assert_eq!(delivery.headers.get(headers::EVENT_ID), Some(&decoded.event_id));
        assert_eq!(delivery.headers.get(headers::TENANT_ID).map(String::as_str), Some(TENANT));
        assert_eq!(delivery.headers.get(headers::REQUEST_ID), Some(&decoded.request_id));
        assert_eq!(delivery.headers.get(headers::TRACEPARENT), Some(&decoded.traceparent));
        assert_eq!(delivery.headers.get(headers::EVENT_TYPE).map(String::as_str), Some("test.event.v1"));
        per_key.entry(decoded.key.clone()).or_default().push(decoded.event_id);
    }
    for key in keys {
        let sent: Vec<String> = envelopes.iter().filter(|e| e.key == key).map(|e| e.event_id.clone()).collect();
        assert_eq!(per_key.get(key), Some(&sent), "order of key {key}");
    }
}

/// At least once: what a consumer did not commit goes to the group's next consumer; what it committed does not,
/// even on a new bus instance (a restart).
async fn redelivers_only_what_was_not_committed(factory: BusFactory) {
    let topic = unique_topic("commit");
    let ids: Vec<String> = {
        let bus = factory().await;
        let envelopes: Vec<_> = (0..10).map(|n| envelope(TENANT, &format!("k{}", n % 4), n)).collect();
        let messages: Vec<Outgoing> = envelopes.iter().map(Outgoing::from_envelope).collect();
        bus.publish(&topic, &messages).await.unwrap();
        let (within, settle) = timings(bus.as_ref());
        let mut first = bus.subscribe(&topic, "g").await.unwrap();
        let got = receive_exactly(&mut first, 10, within, settle).await;
        first.commit(&got[..4]).await.unwrap();
        drop(first);
        got.iter().map(|d| d.envelope().unwrap().event_id).collect()
    };

    // A restarted consumer gets the six it did not commit, not the four it did.
    let bus = factory().await;
    let (within, settle) = timings(bus.as_ref());
    let mut second = bus.subscribe(&topic, "g").await.unwrap();
    let again = receive_exactly(&mut second, 6, within, settle).await;
    let again_ids: HashSet<String> = again.iter().map(|d| d.envelope().unwrap().event_id).collect();
    assert_eq!(again_ids, ids[4..].iter().cloned().collect::<HashSet<_>>());
    second.commit(&again).await.unwrap();
    drop(second);

    // Everything committed: the next consumer sees only what is published after.
    let bus = factory().await;
    let late = envelope(TENANT, "k0", 99);
    bus.publish(&topic, &[Outgoing::from_envelope(&late)]).await.unwrap();
    let mut third = bus.subscribe(&topic, "g").await.unwrap();
    let only = receive_exactly(&mut third, 1, within, settle).await;
    assert_eq!(only[0].envelope().unwrap().event_id, late.event_id);
}

/// Every group gets every message, whatever other groups committed.
async fn groups_are_independent(factory: BusFactory) {
    let bus = factory().await;
    let topic = unique_topic("groups");
    let messages: Vec<Outgoing> = (0..5).map(|n| Outgoing::from_envelope(&envelope(TENANT, "k", n))).collect();
    bus.publish(&topic, &messages).await.unwrap();
    let (within, settle) = timings(bus.as_ref());
    let mut a = bus.subscribe(&topic, "group-a").await.unwrap();
    let got_a = receive_exactly(&mut a, 5, within, settle).await;
    a.commit(&got_a).await.unwrap();
    let mut b = bus.subscribe(&topic, "group-b").await.unwrap();
    receive_exactly(&mut b, 5, within, settle).await;
}

/// Bad names and groups are refused with a message that says what is allowed.
async fn refuses_bad_names(factory: BusFactory) {
    let bus = factory().await;
    let message = Outgoing::from_envelope(&envelope(TENANT, "k", 0));
    for topic in ["", "has space", "slash/topic", &"x".repeat(250)] {
        match bus.publish(topic, std::slice::from_ref(&message)).await {
            Err(EventsError::Invalid(m)) => assert!(m.contains("topic"), "{m}"),
            other => panic!("topic {topic:?}: {other:?}"),
        }
    }
    assert!(matches!(bus.subscribe(&unique_topic("g"), "").await.err(), Some(EventsError::Invalid(_))));
}

async fn embedded_sqlite(case: impl AsyncFnOnce(BusFactory)) {
    let (factory, store, _dir) = embedded_factory(TestDb::Sqlite).await;
    case(factory).await;
    store.cleanup().await;
}

async fn embedded_postgres(case: impl AsyncFnOnce(BusFactory)) {
    let (factory, store, _dir) = embedded_factory(TestDb::Postgres).await;
    case(factory).await;
    store.cleanup().await;
}

async fn kafka(case: impl AsyncFnOnce(BusFactory)) {
    case(kafka_factory()).await;
}

switchboard_test_support::conformance! {
    cases: [keeps_key_order_and_headers, redelivers_only_what_was_not_committed, groups_are_independent, refuses_bad_names],
    backends: { embedded_sqlite => embedded_sqlite, embedded_postgres => embedded_postgres, kafka => kafka },
}

/// Each call opens the store again (a restart of the process) and puts a new embedded bus on it.
async fn embedded_factory(db: TestDb) -> (BusFactory, TestStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let first = test_store(db, dir.path()).await;
    let config = first.config().clone();
    let factory: BusFactory = Arc::new(move || {
        let config = config.clone();
        async move {
            let store = Store::open(&config).await.unwrap();
            Arc::new(EmbeddedBus::new(store)) as Arc<dyn EventBus>
        }
        .boxed()
    });
    (factory, first, dir)
}

fn kafka_factory() -> BusFactory {
    Arc::new(|| kafka_bus().boxed())
}
