//! Test buses and envelopes.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use switchboard_events::{Delivery, EventBus, KafkaBus, KafkaConfig, Subscription};
use switchboard_proto::events::v1::EventEnvelope;

/// Makes a new bus instance over the same storage each call, as a restarted process would.
pub type BusFactory = Arc<dyn Fn() -> BoxFuture<'static, Arc<dyn EventBus>> + Send + Sync>;

/// The broker the Kafka suites use (`make test` starts tansu there).
pub fn kafka_brokers() -> String {
    std::env::var("SWITCHBOARD_TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// A Kafka bus on the test broker; fails the test with a hint when no broker answers.
pub async fn kafka_bus() -> Arc<dyn EventBus> {
    let brokers = kafka_brokers();
    if tokio::net::TcpStream::connect(&brokers).await.is_err() {
        panic!("no Kafka broker at {brokers}: run `make test` (it starts tansu) or set SWITCHBOARD_TEST_KAFKA_BROKERS");
    }
    let mut config = KafkaConfig::new(brokers);
    config.message_timeout = Duration::from_secs(10);
    Arc::new(KafkaBus::new(config).expect("kafka bus"))
}

/// A topic name no other test uses.
pub fn unique_topic(name: &str) -> String {
    format!("test.{name}.{}", uuid::Uuid::new_v4().simple())
}

/// An envelope for `tenant` keyed `key`, with a request id and trace context.
pub fn envelope(tenant: &str, key: &str, n: usize) -> EventEnvelope {
    EventEnvelope {
        event_id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.to_owned(),
        r#type: "test.event.v1".into(),
        source: "test".into(),
        request_id: format!("req-{n}"),
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        key: key.to_owned(),
        ..Default::default()
    }
}

/// Receives until `n` messages arrived (or fails after `within`), then checks for `settle` that no more come.
pub async fn receive_exactly(
    subscription: &mut Box<dyn Subscription>,
    n: usize,
    within: Duration,
    settle: Duration,
) -> Vec<Delivery> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while got.len() < n {
        let batch = tokio::time::timeout_at(deadline, subscription.next_batch(100))
            .await
            .unwrap_or_else(|_| panic!("received {} of {n} messages in {within:?}", got.len()))
            .expect("next_batch");
        got.extend(batch);
    }
    if let Ok(extra) = tokio::time::timeout(settle, subscription.next_batch(100)).await {
        panic!("expected {n} messages, got more: {:?}", extra.map(|b| b.len()));
    }
    assert_eq!(got.len(), n, "more messages than expected");
    got
}
