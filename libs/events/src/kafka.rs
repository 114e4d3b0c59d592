//! The Kafka bus through rdkafka (bundled librdkafka).
//!
//! - Producer: `enable.idempotence=true` and `acks=all`, so a retried send is written once and in order per
//!   partition. A publish enqueues every message, then waits for all acknowledgements. If librdkafka reports a
//!   fatal producer error (the idempotence state is lost, e.g. after messages timed out while the broker was
//!   away), the producer is replaced before the next publish.
//! - Consumers: one group member per subscription, `enable.auto.commit=false` (commits are explicit, after
//!   processing) and `auto.offset.reset=earliest` (a group never skips messages it has not seen).
//! - Topics are created through the admin API when missing, with [`KafkaConfig::partitions`] partitions.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::embedded::validate_topic;
use crate::{BusFuture, Delivery, EventBus, EventsError, Outgoing, Subscription, last_offsets};

/// How to reach the brokers.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `host:port[,host:port...]` (`KAFKA_BROKERS`).
    pub brokers: String,
    /// Partitions of topics this bus creates.
    pub partitions: i32,
    /// Replication factor of topics this bus creates.
    pub replication: i32,
    /// How long a message may wait for the broker before its publish fails (the relay then retries it).
    pub message_timeout: Duration,
    /// How long the group waits for a silent consumer before reassigning its partitions (`session.timeout.ms`).
    pub session_timeout: Duration,
    /// A consumer with no partitions for this long reports an error so its owner subscribes again as a new member:
    /// after a broker outage longer than the session timeout, tansu 0.6 can leave a group cycling through failed
    /// rebalances, which a fresh member gets it out of.
    pub rejoin_after: Duration,
    /// Most messages per record batch (librdkafka `batch.num.messages`). The default, 1, is for brokers that
    /// return nothing for an offset inside a batch: tansu 0.6 skips the rest of a batch when a consumer resumes
    /// from the middle of it, which would lose messages after a commit. Apache Kafka has no such problem; raise
    /// it there (e.g. 10000) for throughput.
    pub batch_messages: u32,
}

impl KafkaConfig {
    /// Defaults for `brokers`: 3 partitions, replication 1, 30 s message timeout, 45 s session timeout, one message
    /// per batch.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            partitions: 3,
            replication: 1,
            message_timeout: Duration::from_secs(30),
            // Kafka's default: a broker pause shorter than this keeps the member and its partitions.
            session_timeout: Duration::from_secs(45),
            rejoin_after: Duration::from_secs(30),
            batch_messages: 1,
        }
    }
}

/// The Kafka bus. Cheap to clone.
#[derive(Clone)]
pub struct KafkaBus {
    inner: Arc<Inner>,
}

struct Inner {
    config: KafkaConfig,
    producer: RwLock<FutureProducer>,
    admin: AdminClient<DefaultClientContext>,
    /// Topics known to exist.
    created: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for KafkaBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaBus").field("brokers", &self.inner.config.brokers).finish_non_exhaustive()
    }
}

fn kafka_error(what: &str, e: &KafkaError) -> EventsError {
    EventsError::Unavailable(format!("kafka {what}: {e}"))
}

impl KafkaBus {
    /// A bus on `config.brokers`. Connects lazily: an unreachable broker shows as errors from its calls.
    pub fn new(config: KafkaConfig) -> Result<Self, EventsError> {
        if config.brokers.trim().is_empty() {
            return Err(EventsError::Invalid("KAFKA_BROKERS is empty: give host:port[,host:port...]".into()));
        }
        let producer = new_producer(&config)?;
        let admin = ClientConfig::new()
            .set("bootstrap.servers", &config.brokers)
            .create::<AdminClient<DefaultClientContext>>()
            .map_err(|e| EventsError::Invalid(format!("kafka admin client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                producer: RwLock::new(producer),
                admin,
                created: Mutex::new(HashSet::new()),
            }),
        })
    }

    fn producer(&self) -> FutureProducer {
        self.inner.producer.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Replaces the producer if librdkafka declared it unusable, or if the broker no longer accepts its producer
    /// id and epoch (`fenced`): after messages time out, the epoch bump of an idempotent producer can be refused,
    /// and only a new producer id gets publishing going again. Duplicates this may cause are dropped by consumers.
    fn recover_producer(&self, used: &FutureProducer, fenced: Option<RDKafkaErrorCode>) {
        let reason = match (used.client().fatal_error(), fenced) {
            (Some((code, reason)), _) => format!("fatal error {code:?}: {reason}"),
            (None, Some(code)) => format!("the broker refuses its producer id: {code:?}"),
            (None, None) => return,
        };
        let fresh = match new_producer(&self.inner.config) {
            Ok(fresh) => fresh,
            Err(e) => {
                tracing::error!(error = %e, "cannot create a new kafka producer");
                return;
            }
        };
        let mut current = self.inner.producer.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Another publish may have replaced it already.
        if std::ptr::eq(current.client().native_ptr(), used.client().native_ptr()) {
            tracing::warn!(%reason, "replacing the kafka producer");
            let old = std::mem::replace(&mut *current, fresh);
            // Destroying a librdkafka handle waits for its requests: not on an async worker thread.
            tokio::task::spawn_blocking(move || drop(old));
        }
    }

    async fn create_topics(&self, topics: &[&str]) -> Result<(), EventsError> {
        let missing: Vec<&str> = {
            let created = self.inner.created.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            topics.iter().copied().filter(|t| !created.contains(*t)).collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        for topic in &missing {
            validate_topic(topic)?;
        }
        let config = &self.inner.config;
        let new: Vec<NewTopic<'_>> = missing
            .iter()
            .map(|t| NewTopic::new(t, config.partitions, TopicReplication::Fixed(config.replication)))
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let results =
            self.inner.admin.create_topics(new.iter(), &options).await.map_err(|e| kafka_error("create topics", &e))?;
        let mut created = self.inner.created.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for result in results {
            match result {
                Ok(topic) | Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    created.insert(topic);
                }
                Err((topic, code)) => {
                    return Err(EventsError::Unavailable(format!("kafka: cannot create topic {topic}: {code}")));
                }
            }
        }
        Ok(())
    }
}

/// Broker answers meaning the producer's id or epoch is no longer accepted.
const PRODUCER_ID_REFUSED: [RDKafkaErrorCode; 5] = [
    RDKafkaErrorCode::ProducerFenced,
    RDKafkaErrorCode::InvalidProducerEpoch,
    RDKafkaErrorCode::OutOfOrderSequenceNumber,
    RDKafkaErrorCode::UnknownProducerId,
    RDKafkaErrorCode::InvalidProducerIdMapping,
];

fn new_producer(config: &KafkaConfig) -> Result<FutureProducer, EventsError> {
    ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.num.messages", config.batch_messages.max(1).to_string())
        .set("message.timeout.ms", config.message_timeout.as_millis().to_string())
        .create()
        .map_err(|e| EventsError::Invalid(format!("kafka producer: {e}")))
}

impl EventBus for KafkaBus {
    fn ensure_topics<'a>(&'a self, topics: &'a [&'a str]) -> BusFuture<'a, ()> {
        Box::pin(self.create_topics(topics))
    }

    fn publish<'a>(&'a self, topic: &'a str, messages: &'a [Outgoing]) -> BusFuture<'a, ()> {
        Box::pin(async move {
            self.create_topics(&[topic]).await?;
            let producer = self.producer();
            let mut pending = Vec::with_capacity(messages.len());
            let mut first_error = None;
            let mut fenced = None;
            for message in messages {
                let mut headers = OwnedHeaders::new_with_capacity(message.headers.len());
                for (name, value) in &message.headers {
                    headers = headers.insert(Header { key: name, value: Some(value.as_bytes()) });
                }
                let mut record =
                    FutureRecord::to(topic).key(&message.key).payload(message.payload.as_ref()).headers(headers);
                loop {
                    match producer.send_result(record) {
                        Ok(delivery) => {
                            pending.push(delivery);
                            break;
                        }
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                            // The local queue is full: wait for the oldest outstanding acknowledgement, then retry.
                            record = returned;
                            match pending.first_mut() {
                                Some(oldest) => {
                                    let _ = oldest.await;
                                    pending.remove(0);
                                }
                                None => tokio::time::sleep(Duration::from_millis(10)).await,
                            }
                        }
                        Err((e, _)) => {
                            first_error = Some(kafka_error("enqueue", &e));
                            break;
                        }
                    }
                }
                if first_error.is_some() {
                    break;
                }
            }
            for delivery in pending {
                let outcome = match delivery.await {
                    Ok(Ok(_)) => continue,
                    Ok(Err((e, _))) => {
                        if let Some(code) = e.rdkafka_error_code().filter(|c| PRODUCER_ID_REFUSED.contains(c)) {
                            fenced = Some(code);
                        }
                        kafka_error("publish", &e)
                    }
                    Err(_) => EventsError::Unavailable("kafka publish: the producer was dropped".into()),
                };
                first_error.get_or_insert(outcome);
            }
            match first_error {
                None => Ok(()),
                Some(e) => {
                    self.recover_producer(&producer, fenced);
                    Err(e)
                }
            }
        })
    }

    fn subscribe<'a>(&'a self, topic: &'a str, group: &'a str) -> BusFuture<'a, Box<dyn Subscription>> {
        Box::pin(async move {
            if group.is_empty() {
                return Err(EventsError::Invalid("consumer group must not be empty".into()));
            }
            self.create_topics(&[topic]).await?;
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &self.inner.config.brokers)
                .set("group.id", group)
                .set("enable.auto.commit", "false")
                .set("auto.offset.reset", "earliest")
                .set("enable.partition.eof", "false")
                .set("session.timeout.ms", self.inner.config.session_timeout.as_millis().to_string())
                .create()
                .map_err(|e| EventsError::Invalid(format!("kafka consumer: {e}")))?;
            consumer.subscribe(&[topic]).map_err(|e| kafka_error("subscribe", &e))?;
            let subscription: Box<dyn Subscription> = Box::new(KafkaSubscription {
                consumer: Arc::new(consumer),
                last_assigned: std::time::Instant::now(),
                rejoin_after: self.inner.config.rejoin_after,
            });
            Ok(subscription)
        })
    }

    fn name(&self) -> &'static str {
        "kafka"
    }
}

/// A group member, polled on the blocking pool. (rdkafka's `StreamConsumer` stopped waking up after its group
/// session timed out during a broker outage and the group was rejoined; a plain poll loop has no such state.)
struct KafkaSubscription {
    consumer: Arc<BaseConsumer>,
    /// When the consumer last had partitions assigned (or was created).
    last_assigned: std::time::Instant,
    /// See [`KafkaConfig::rejoin_after`].
    rejoin_after: Duration,
}

impl Drop for KafkaSubscription {
    fn drop(&mut self) {
        // Closing a consumer leaves its group, waiting for the broker: not on an async worker thread.
        let consumer = self.consumer.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn_blocking(move || drop(consumer));
        }
    }
}

/// How long one blocking poll waits; also how late a dropped `next_batch` releases its thread.
const POLL_WAIT: Duration = Duration::from_millis(200);

fn to_delivery(message: &BorrowedMessage<'_>) -> Delivery {
    let mut headers = BTreeMap::new();
    if let Some(borrowed) = message.headers() {
        for header in borrowed.iter() {
            if let Some(value) = header.value.and_then(|v| std::str::from_utf8(v).ok()) {
                headers.insert(header.key.to_owned(), value.to_owned());
            }
        }
    }
    Delivery {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default(),
        payload: Bytes::copy_from_slice(message.payload().unwrap_or_default()),
        headers,
    }
}

impl Subscription for KafkaSubscription {
    fn next_batch(&mut self, max: usize) -> BusFuture<'_, Vec<Delivery>> {
        Box::pin(async move {
            let max = max.max(1);
            loop {
                let consumer = self.consumer.clone();
                // Each round is short, so dropping this future (shutdown) frees the thread soon after.
                let batch = tokio::task::spawn_blocking(move || -> Result<Vec<Delivery>, KafkaError> {
                    let mut batch = Vec::new();
                    match consumer.poll(POLL_WAIT) {
                        None => return Ok(batch),
                        Some(Err(e)) => return Err(e),
                        Some(Ok(message)) => batch.push(to_delivery(&message)),
                    }
                    // Take whatever else is already fetched, without waiting for more.
                    while batch.len() < max {
                        match consumer.poll(Duration::ZERO) {
                            Some(Ok(message)) => batch.push(to_delivery(&message)),
                            Some(Err(e)) => {
                                tracing::debug!(error = %e, "kafka receive error after a message; returning the batch");
                                break;
                            }
                            None => break,
                        }
                    }
                    Ok(batch)
                })
                .await
                .map_err(|e| EventsError::Unavailable(format!("kafka receive task: {e}")))?
                .map_err(|e| kafka_error("receive", &e))?;
                if !batch.is_empty() {
                    self.last_assigned = std::time::Instant::now();
                    return Ok(batch);
                }
                let assigned = self.consumer.assignment().map(|list| list.count() > 0).unwrap_or(false);
                if assigned {
                    self.last_assigned = std::time::Instant::now();
                } else if self.last_assigned.elapsed() > self.rejoin_after {
                    self.last_assigned = std::time::Instant::now();
                    return Err(EventsError::Unavailable(format!(
                        "kafka: no partitions assigned to this consumer for {:?}; subscribe again",
                        self.rejoin_after
                    )));
                }
            }
        })
    }

    fn commit<'a>(&'a mut self, deliveries: &'a [Delivery]) -> BusFuture<'a, ()> {
        Box::pin(async move {
            let mut list = TopicPartitionList::new();
            for ((topic, partition), offset) in last_offsets(deliveries) {
                // Kafka's committed offset is the next one to read.
                list.add_partition_offset(&topic, partition, Offset::Offset(offset + 1))
                    .map_err(|e| kafka_error("commit", &e))?;
            }
            if list.count() == 0 {
                return Ok(());
            }
            let consumer = self.consumer.clone();
            // A synchronous commit blocks its thread until the broker answers.
            tokio::task::spawn_blocking(move || consumer.commit(&list, CommitMode::Sync))
                .await
                .map_err(|e| EventsError::Unavailable(format!("kafka commit task: {e}")))?
                .map_err(|e| kafka_error("commit", &e))
        })
    }
}
