//! The platform's event bus and the transactional outbox that feeds it.
//!
//! - [`EventBus`]: publish [`Outgoing`] messages (an encoded `switchboard.events.v1.EventEnvelope`, keyed, with
//!   the tenant id, request id, trace context and event id as headers) and subscribe to a topic as a consumer
//!   group. Delivery is at least once: a [`Subscription`] hands out batches and the consumer commits after it has
//!   processed them, so whatever was not committed is delivered again to the group's next consumer.
//! - Two buses pass the same conformance suite: [`EmbeddedBus`], a durable log in the store (the embedded
//!   default: events survive a restart of `switchboard up`), and [`KafkaBus`] through rdkafka (idempotent producer,
//!   `acks=all`, manual commits, `auto.offset.reset=earliest`, topics created when missing).
//! - [`signing`]: [`SignedBus`] signs every published message (HMAC-SHA256 in `x-envelope-mac`) and delivers only
//!   messages that verify, so a message published straight to the broker by anyone else is dropped and counted.
//! - [`outbox`]: services write events in the same database transaction as the change they report
//!   ([`outbox::enqueue`]); the [`outbox::OutboxRelay`] publishes them in order and marks them sent. Consumers drop
//!   redeliveries by event id.

mod embedded;
mod envelope;
mod kafka;
pub mod outbox;
pub mod signing;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

pub use crate::embedded::EmbeddedBus;
pub use crate::envelope::{EnvelopeBuilder, audit_recorded, now_timestamp, topics, types};
pub use crate::kafka::{KafkaBus, KafkaConfig, KafkaSasl, KafkaSecurity};
pub use crate::signing::{EnvelopeKeys, SignedBus};

/// Header names every published message carries (copied from its envelope, so consumers and broker tools can
/// route and trace without decoding the payload).
pub mod headers {
    /// The envelope's `event_id`.
    pub const EVENT_ID: &str = "event-id";
    /// The envelope's `type`.
    pub const EVENT_TYPE: &str = "event-type";
    /// The tenant the event belongs to.
    pub const TENANT_ID: &str = "x-tenant-id";
    /// The request that caused it.
    pub const REQUEST_ID: &str = "x-request-id";
    /// W3C trace context of that request.
    pub const TRACEPARENT: &str = "traceparent";
}

/// What can go wrong on the bus.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// The broker (or the store holding the embedded log) did not accept or answer; retry later.
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    /// A message, topic or setting is unusable.
    #[error("event bus: {0}")]
    Invalid(String),
    /// The store holding the log or the outbox failed.
    #[error(transparent)]
    Store(#[from] switchboard_store::StoreError),
}

/// A boxed future of a bus result (keeps the traits object-safe).
pub type BusFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, EventsError>> + Send + 'a>>;

/// A message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Partition key: messages with one key are delivered in publish order.
    pub key: String,
    /// The encoded `EventEnvelope`.
    pub payload: Bytes,
    /// Header name → value (see [`headers`]).
    pub headers: BTreeMap<String, String>,
}

/// A message received from a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its topic.
    pub topic: String,
    /// Its partition (always 0 on the embedded log).
    pub partition: i32,
    /// Its offset within the partition.
    pub offset: i64,
    /// Its key.
    pub key: String,
    /// The encoded `EventEnvelope`.
    pub payload: Bytes,
    /// Its headers.
    pub headers: BTreeMap<String, String>,
}

impl Delivery {
    /// Decodes the envelope.
    pub fn envelope(&self) -> Result<switchboard_proto::events::v1::EventEnvelope, EventsError> {
        prost::Message::decode(self.payload.clone()).map_err(|e| {
            EventsError::Invalid(format!("{} offset {}: not an EventEnvelope: {e}", self.topic, self.offset))
        })
    }
}

/// The event bus.
pub trait EventBus: Send + Sync + 'static {
    /// Creates `topics` if they do not exist yet.
    fn ensure_topics<'a>(&'a self, topics: &'a [&'a str]) -> BusFuture<'a, ()>;
    /// Publishes `messages` to `topic` and returns once the bus has durably accepted all of them. Messages with one
    /// key keep their order. On error some may have been published: publishing them again is safe because
    /// consumers deduplicate by event id.
    fn publish<'a>(&'a self, topic: &'a str, messages: &'a [Outgoing]) -> BusFuture<'a, ()>;
    /// Joins consumer group `group` on `topic`. A group that has never committed starts at the oldest message.
    fn subscribe<'a>(&'a self, topic: &'a str, group: &'a str) -> BusFuture<'a, Box<dyn Subscription>>;
    /// `embedded` or `kafka`, for logs.
    fn name(&self) -> &'static str;
    /// How many messages on `topic` consumer group `group` has not committed yet, if the bus can tell.
    fn consumer_lag<'a>(&'a self, topic: &'a str, group: &'a str) -> BusFuture<'a, Option<u64>> {
        let _ = (topic, group);
        Box::pin(std::future::ready(Ok(None)))
    }
}

/// One consumer's membership of a group on one topic.
pub trait Subscription: Send {
    /// Waits for messages and returns between 1 and `max` of them, in order within each partition. An error means
    /// this membership is unhealthy: drop the subscription and subscribe again (after a pause).
    fn next_batch(&mut self, max: usize) -> BusFuture<'_, Vec<Delivery>>;
    /// Records that `deliveries` (and everything before them in their partitions) are processed: the group will not
    /// receive them again.
    fn commit<'a>(&'a mut self, deliveries: &'a [Delivery]) -> BusFuture<'a, ()>;
}

/// The highest offset per (topic, partition) among `deliveries`.
pub(crate) fn last_offsets(deliveries: &[Delivery]) -> BTreeMap<(String, i32), i64> {
    let mut last = BTreeMap::new();
    for d in deliveries {
        let entry = last.entry((d.topic.clone(), d.partition)).or_insert(d.offset);
        *entry = (*entry).max(d.offset);
    }
    last
}
