//! The Kafka bus through rdkafka (bundled librdkafka).
//!
//! - Producer: `enable.idempotence=true` and `acks=all`, so a retried send is written once and in order per
//!   partition. A publish enqueues every message, then waits for all acknowledgements. If librdkafka reports a
//!   fatal producer error (the idempotence state is lost, e.g. after messages timed out while the broker was
//!   away), the producer is replaced before the next publish.
//! - Consumers: one group member per subscription, `enable.auto.commit=false` (commits are explicit, after
//!   processing) and `auto.offset.reset=earliest` (a group never skips messages it has not seen).
//! - Topics are created through the admin API when missing, with [`KafkaConfig::partitions`] partitions.
//! - Security ([`KafkaSecurity`]): TLS to the brokers (verified against a given CA bundle or the system's roots,
//!   optionally with a client certificate) and SASL (SCRAM-SHA-256/512, or PLAIN over TLS only), the same for
//!   producer, consumers and the admin client. librdkafka does TLS with OpenSSL: the one place outside rustls, and
//!   only for the connection to the brokers.

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
    /// When set, a consumer with no partitions for this long reports an error so its owner subscribes again as a
    /// new member: after a broker outage longer than the session timeout, tansu 0.6 can leave a group cycling
    /// through failed rebalances, which a fresh member gets it out of. Off by default: with more members than
    /// partitions an idle member is normal, and its leaving and rejoining would make the whole group rebalance.
    pub rejoin_after: Option<Duration>,
    /// Most messages per record batch (librdkafka `batch.num.messages`). The default, 1, is for brokers that
    /// return nothing for an offset inside a batch: tansu 0.6 skips the rest of a batch when a consumer resumes
    /// from the middle of it, which would lose messages after a commit. Apache Kafka has no such problem; raise
    /// it there (e.g. 10000) for throughput.
    pub batch_messages: u32,
    /// TLS and SASL to the brokers; plaintext without authentication by default.
    pub security: KafkaSecurity,
}

/// How clients protect and authenticate their connections to the brokers.
#[derive(Debug, Clone, Default)]
pub struct KafkaSecurity {
    /// TLS to the brokers.
    pub tls: bool,
    /// PEM bundle of the CAs that sign the brokers' certificates; the system's roots when unset.
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// PEM client certificate and key, for brokers that require mutual TLS.
    pub tls_client: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// SASL authentication.
    pub sasl: Option<KafkaSasl>,
}

/// SASL credentials.
#[derive(Clone)]
pub struct KafkaSasl {
    /// `SCRAM-SHA-256`, `SCRAM-SHA-512` or `PLAIN`.
    pub mechanism: String,
    /// The user.
    pub username: String,
    /// The password (never printed).
    pub password: String,
}

impl std::fmt::Debug for KafkaSasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSasl").field("mechanism", &self.mechanism).field("username", &self.username).finish()
    }
}

impl KafkaSecurity {
    /// The librdkafka settings, or why the combination is refused.
    fn settings(&self) -> Result<Vec<(&'static str, String)>, EventsError> {
        let protocol = match (self.tls, self.sasl.is_some()) {
            (false, false) => "plaintext",
            (true, false) => "ssl",
            (false, true) => "sasl_plaintext",
            (true, true) => "sasl_ssl",
        };
        let mut settings = vec![("security.protocol", protocol.to_owned())];
        if let Some(ca) = &self.tls_ca_file {
            settings.push(("ssl.ca.location", ca.display().to_string()));
        }
        if let Some((cert, key)) = &self.tls_client {
            settings.push(("ssl.certificate.location", cert.display().to_string()));
            settings.push(("ssl.key.location", key.display().to_string()));
        }
        if let Some(sasl) = &self.sasl {
            let mechanism = sasl.mechanism.to_ascii_uppercase();
            match mechanism.as_str() {
                "SCRAM-SHA-256" | "SCRAM-SHA-512" => {}
                "PLAIN" if self.tls => {}
                "PLAIN" => {
                    return Err(EventsError::Invalid(
                        "KAFKA_SASL_MECHANISM=PLAIN sends the password in clear: use it only with KAFKA_TLS=true, \
                         or use SCRAM-SHA-512"
                            .into(),
                    ));
                }
                other => {
                    return Err(EventsError::Invalid(format!(
                        "KAFKA_SASL_MECHANISM {other:?}: use SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN"
                    )));
                }
            }
            settings.push(("sasl.mechanism", mechanism));
            settings.push(("sasl.username", sasl.username.clone()));
            settings.push(("sasl.password", sasl.password.clone()));
        }
        Ok(settings)
    }
}

/// A client configuration for `config`'s brokers, with its security settings.
fn client_config(config: &KafkaConfig) -> Result<ClientConfig, EventsError> {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.brokers);
    for (name, value) in config.security.settings()? {
        client.set(name, value);
    }
    Ok(client)
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
            rejoin_after: None,
            batch_messages: 1,
            security: KafkaSecurity::default(),
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
        let admin = client_config(&config)?
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
        let options = AdminOptions::new()
            .operation_timeout(Some(Duration::from_secs(10)))
            .request_timeout(Some(Duration::from_secs(10)));
        let results = match self.inner.admin.create_topics(new.iter(), &options).await {
            Ok(results) => results,
            Err(e) => return self.topics_exist(&missing, kafka_error("create topics", &e)).await,
        };
        let mut refused = Vec::new();
        {
            let mut created = self.inner.created.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for result in results {
                match result {
                    Ok(topic) | Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                        created.insert(topic);
                    }
                    Err((topic, code)) => refused.push((topic, code)),
                }
            }
        }
        match refused.first() {
            None => Ok(()),
            Some((topic, code)) => {
                let error = EventsError::Unavailable(format!("kafka: cannot create topic {topic}: {code}"));
                let names: Vec<&str> = refused.iter().map(|(t, _)| t.as_str()).collect();
                self.topics_exist(&names, error).await
            }
        }
    }

    /// After creating `topics` failed with `error` (say, the client may not create topics on a managed cluster):
    /// fine if the broker's metadata lists them all, else `error`.
    async fn topics_exist(&self, topics: &[&str], error: EventsError) -> Result<(), EventsError> {
        let producer = self.producer();
        let wanted: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
        let found = tokio::task::spawn_blocking(move || {
            let metadata = producer.client().fetch_metadata(None, Duration::from_secs(10)).ok()?;
            let listed: HashSet<&str> =
                metadata.topics().iter().filter(|t| t.error().is_none()).map(|t| t.name()).collect();
            Some(wanted.iter().all(|t| listed.contains(t.as_str())))
        })
        .await
        .ok()
        .flatten()
        .unwrap_or(false);
        if !found {
            return Err(error);
        }
        let mut created = self.inner.created.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        created.extend(topics.iter().map(|t| (*t).to_owned()));
        Ok(())
    }
}

/// The error of one acknowledgement, if it failed; notes in `fenced` an answer that needs a new producer.
fn delivery_error<Canceled>(
    outcome: Result<rdkafka::producer::future_producer::OwnedDeliveryResult, Canceled>,
    fenced: &mut Option<RDKafkaErrorCode>,
) -> Option<EventsError> {
    match outcome {
        Ok(Ok(_)) => None,
        Ok(Err((e, _))) => {
            if let Some(code) = e.rdkafka_error_code().filter(|c| PRODUCER_ID_REFUSED.contains(c)) {
                *fenced = Some(code);
            }
            Some(kafka_error("publish", &e))
        }
        Err(_) => Some(EventsError::Unavailable("kafka publish: the producer was dropped".into())),
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
    client_config(config)?
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
                            if pending.is_empty() {
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            } else {
                                let outcome = pending.remove(0).await;
                                if let Some(e) = delivery_error(outcome, &mut fenced) {
                                    first_error.get_or_insert(e);
                                }
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
                if let Some(e) = delivery_error(delivery.await, &mut fenced) {
                    first_error.get_or_insert(e);
                }
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
            let consumer: BaseConsumer = client_config(&self.inner.config)?
                .set("group.id", group)
                .set("enable.auto.commit", "false")
                .set("auto.offset.reset", "earliest")
                .set("enable.partition.eof", "false")
                .set("session.timeout.ms", self.inner.config.session_timeout.as_millis().to_string())
                .create()
                .map_err(|e| EventsError::Invalid(format!("kafka consumer: {e}")))?;
            consumer.subscribe(&[topic]).map_err(|e| kafka_error("subscribe", &e))?;
            let subscription: Box<dyn Subscription> = Box::new(KafkaSubscription {
                consumer: Some(Arc::new(consumer)),
                last_assigned: std::time::Instant::now(),
                rejoin_after: self.inner.config.rejoin_after,
            });
            Ok(subscription)
        })
    }

    fn name(&self) -> &'static str {
        "kafka"
    }

    /// The sum over `topic`'s partitions of the high watermark minus `group`'s committed offset (the low watermark
    /// where the group has committed nothing), read by a client that does not join the group.
    fn consumer_lag<'a>(&'a self, topic: &'a str, group: &'a str) -> BusFuture<'a, Option<u64>> {
        let (config, topic, group) = (self.inner.config.clone(), topic.to_owned(), group.to_owned());
        Box::pin(async move {
            let measured = tokio::task::spawn_blocking(move || -> Result<u64, EventsError> {
                let timeout = Duration::from_secs(5);
                let consumer: BaseConsumer = client_config(&config)?
                    .set("group.id", &group)
                    .create()
                    .map_err(|e| EventsError::Invalid(format!("kafka consumer: {e}")))?;
                let metadata =
                    consumer.fetch_metadata(Some(&topic), timeout).map_err(|e| kafka_error("metadata", &e))?;
                let mut partitions = TopicPartitionList::new();
                for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
                    partitions.add_partition(&topic, partition.id());
                }
                let committed =
                    consumer.committed_offsets(partitions, timeout).map_err(|e| kafka_error("committed", &e))?;
                let mut lag = 0u64;
                for element in committed.elements() {
                    let (low, high) = consumer
                        .fetch_watermarks(&topic, element.partition(), timeout)
                        .map_err(|e| kafka_error("watermarks", &e))?;
                    let from = match element.offset() {
                        Offset::Offset(offset) => offset,
                        _ => low,
                    };
                    lag += u64::try_from(high.saturating_sub(from)).unwrap_or(0);
                }
                Ok(lag)
            })
            .await
            .map_err(|e| EventsError::Unavailable(format!("kafka lag: {e}")))??;
            Ok(Some(measured))
        })
    }
}

/// A group member, polled on the blocking pool. (rdkafka's `StreamConsumer` stopped waking up after its group
/// session timed out during a broker outage and the group was rejoined; a plain poll loop has no such state.)
struct KafkaSubscription {
    /// Taken on drop, to be closed off the async threads.
    consumer: Option<Arc<BaseConsumer>>,
    /// When the consumer last had partitions assigned (or was created).
    last_assigned: std::time::Instant,
    /// See [`KafkaConfig::rejoin_after`].
    rejoin_after: Option<Duration>,
}

impl Drop for KafkaSubscription {
    fn drop(&mut self) {
        // Closing a consumer leaves its group, waiting for the broker: not on an async worker thread.
        if let (Some(consumer), Ok(runtime)) = (self.consumer.take(), tokio::runtime::Handle::try_current()) {
            runtime.spawn_blocking(move || drop(consumer));
        }
    }
}

/// How long one blocking poll waits; also how late a dropped `next_batch` releases its thread.
const POLL_WAIT: Duration = Duration::from_millis(200);

/// One blocking poll round: up to `max` messages (none if nothing came within [`POLL_WAIT`]), and whether the
/// consumer has partitions. Transient errors (a broker going away) are librdkafka's to recover from; only a fatal
/// one ends the subscription.
fn poll_batch(consumer: &BaseConsumer, max: usize) -> Result<(Vec<Delivery>, bool), EventsError> {
    let mut batch = Vec::new();
    loop {
        let wait = if batch.is_empty() { POLL_WAIT } else { Duration::ZERO };
        match consumer.poll(wait) {
            Some(Ok(message)) => {
                batch.push(to_delivery(&message));
                if batch.len() >= max {
                    break;
                }
            }
            Some(Err(e)) => {
                if let Some((code, reason)) = consumer.client().fatal_error() {
                    return Err(EventsError::Unavailable(format!("kafka consumer failed: {code:?}: {reason}")));
                }
                tracing::debug!(error = %e, "kafka consumer error; librdkafka retries");
                break;
            }
            None => break,
        }
    }
    let assigned = consumer.assignment().map(|list| list.count() > 0).unwrap_or(false);
    Ok((batch, assigned))
}

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
                let Some(consumer) = self.consumer.clone() else {
                    return Err(EventsError::Unavailable("kafka consumer closed".into()));
                };
                // Each round is short, so dropping this future (shutdown) frees the thread soon after.
                let (batch, assigned) = tokio::task::spawn_blocking(move || poll_batch(&consumer, max))
                    .await
                    .map_err(|e| EventsError::Unavailable(format!("kafka receive task: {e}")))??;
                if !batch.is_empty() || assigned {
                    self.last_assigned = std::time::Instant::now();
                }
                if !batch.is_empty() {
                    return Ok(batch);
                }
                if let Some(limit) = self.rejoin_after.filter(|limit| self.last_assigned.elapsed() > *limit) {
                    self.last_assigned = std::time::Instant::now();
                    return Err(EventsError::Unavailable(format!(
                        "kafka: no partitions assigned to this consumer for {limit:?}; subscribe again"
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
            let Some(consumer) = self.consumer.clone() else {
                return Err(EventsError::Unavailable("kafka consumer closed".into()));
            };
            // A synchronous commit blocks its thread until the broker answers.
            tokio::task::spawn_blocking(move || consumer.commit(&list, CommitMode::Sync))
                .await
                .map_err(|e| EventsError::Unavailable(format!("kafka commit task: {e}")))?
                .map_err(|e| kafka_error("commit", &e))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    fn sasl(mechanism: &str) -> Option<KafkaSasl> {
        Some(KafkaSasl { mechanism: mechanism.into(), username: "svc".into(), password: "pw".into() })
    }

    #[test]
    fn security_settings_map_to_librdkafka() {
        let none = KafkaSecurity::default().settings().unwrap();
        assert_eq!(none, [("security.protocol", "plaintext".to_owned())]);
        let full = KafkaSecurity {
            tls: true,
            tls_ca_file: Some("/etc/kafka/ca.pem".into()),
            tls_client: Some(("/c.pem".into(), "/c.key".into())),
            sasl: sasl("scram-sha-512"),
        };
        let settings: BTreeMap<_, _> = full.settings().unwrap().into_iter().collect();
        assert_eq!(settings["security.protocol"], "sasl_ssl");
        assert_eq!(settings["sasl.mechanism"], "SCRAM-SHA-512");
        assert_eq!(settings["ssl.ca.location"], "/etc/kafka/ca.pem");
        assert_eq!(settings["ssl.key.location"], "/c.key");
        let plain_over_plaintext = KafkaSecurity { sasl: sasl("PLAIN"), ..Default::default() };
        assert!(plain_over_plaintext.settings().unwrap_err().to_string().contains("KAFKA_TLS"));
        assert!(KafkaSecurity { sasl: sasl("GSSAPI"), ..Default::default() }.settings().is_err());
        assert!(!format!("{:?}", sasl("PLAIN")).contains("pw"), "the password is never printed");
    }

    /// librdkafka was built with TLS and SCRAM: a client for a TLS broker with SCRAM credentials is created (a
    /// build without them refuses the settings at once).
    #[test]
    fn tls_and_scram_are_built_in() {
        let mut config = KafkaConfig::new("127.0.0.1:1");
        config.security = KafkaSecurity { tls: true, sasl: sasl("SCRAM-SHA-256"), ..Default::default() };
        KafkaBus::new(config).unwrap();
    }
}
