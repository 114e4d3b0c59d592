//! The event-bus benchmark, end to end and raw, in one run:
//!
//! - Outbox → bus → audit: 16 writers commit 20,000 audit records in tenant transactions of 10 records each
//!   (4 tenants), an outbox relay publishes them, the audit service's consumer appends them to the hash chains. The
//!   clock runs from the first write until the last record is in the log. Once on the embedded log, once on
//!   Kafka (`KAFKA_BROKERS`, default 127.0.0.1:9092), both with the store on SQLite (the embedded default) and
//!   again on PostgreSQL.
//! - Raw rdkafka on the same broker: a producer with the same settings as the bus (idempotent, `acks=all`, one
//!   message per batch) enqueues 20,000 messages of the same size while a consumer reads them back; messages/s from first send to last
//!   receive. The ratio is the end-to-end Kafka rate over this one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use switchboard_audit::storage::AuditScope;
use switchboard_audit::{AuditService, CheckpointSigner, consume_audit_events};
use switchboard_events::outbox::{self, OutboxRelay, RelayOptions};
use switchboard_events::{EmbeddedBus, EnvelopeBuilder, EventBus, KafkaBus, KafkaConfig, topics};
use switchboard_mesh::context::RequestContext;
use switchboard_proto::audit::v1 as pb;
use switchboard_store::{Store, StoreConfig, TenantId};
use tokio_util::sync::CancellationToken;

const RECORDS: usize = 20_000;
const PER_TX: usize = 10;
const WRITERS: usize = 16;
const TENANTS: usize = 4;

fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

fn record(n: usize) -> pb::NewEvent {
    pb::NewEvent {
        actor: "user:bench".into(),
        action: "order.refund".into(),
        resource: format!("orders/{n}"),
        outcome: pb::Outcome::Success as i32,
        ..Default::default()
    }
}

async fn logged(store: &Store, tenants: &[TenantId]) -> usize {
    let mut total = 0;
    for tenant in tenants {
        let scope = store.tenant(*tenant).await.expect("scope");
        total += scope.audit().head().await.expect("head").map_or(0, |h| h.seq) as usize;
    }
    total
}

/// Records/s from the first outbox write until every record is in the audit log.
async fn end_to_end(store: Store, bus: Arc<dyn EventBus>, dir: &std::path::Path) -> f64 {
    let service =
        AuditService::new(store.clone(), CheckpointSigner::load_or_create(&dir.join("audit.p8")).expect("key"));
    let stop = CancellationToken::new();
    let options = RelayOptions { poll_interval: Duration::from_millis(5), ..Default::default() };
    let relay = OutboxRelay::new(store.clone(), bus.clone(), options);
    let tenants: Arc<Vec<TenantId>> = Arc::new((0..TENANTS).map(|_| TenantId::generate()).collect());
    let start = Instant::now();
    let relay_task = tokio::spawn(relay.run(stop.clone()));
    let consumer = tokio::spawn(consume_audit_events(service, bus, stop.clone()));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (store, tenants) = (store.clone(), tenants.clone());
        writers.push(tokio::spawn(async move {
            let builder = EnvelopeBuilder::new("bench");
            let mut n = w;
            while n * PER_TX < RECORDS {
                let tenant = tenants[n % TENANTS];
                let context = RequestContext::new_root().with_tenant(tenant);
                let envelopes: Vec<_> =
                    (0..PER_TX).map(|i| builder.audit(&context, tenant, record(n * PER_TX + i))).collect();
                let scope = store.tenant(tenant).await.expect("scope");
                outbox::enqueue(&scope, topics::AUDIT_EVENTS, &envelopes).await.expect("enqueue");
                scope.commit().await.expect("commit");
                n += WRITERS;
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    while logged(&store, &tenants).await < RECORDS {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rate = RECORDS as f64 / start.elapsed().as_secs_f64();
    stop.cancel();
    let _ = relay_task.await;
    let _ = consumer.await;
    rate
}

/// Messages/s through a bare rdkafka producer and consumer with the bus's settings.
async fn raw_rdkafka(payload_len: usize) -> f64 {
    let topic = format!("bench.raw.{}", uuid::Uuid::new_v4().simple());
    let bus = KafkaBus::new(KafkaConfig::new(brokers())).expect("bus");
    bus.ensure_topics(&[&topic]).await.expect("topic");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.num.messages", KafkaConfig::new(brokers()).batch_messages.to_string())
        .create()
        .expect("producer");
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", format!("bench-{}", uuid::Uuid::new_v4().simple()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let payload = vec![7u8; payload_len];
    let start = Instant::now();
    let reader = tokio::spawn(async move {
        let mut stream = consumer.stream();
        let mut n = 0;
        while n < RECORDS {
            stream.next().await.expect("stream").expect("message");
            n += 1;
        }
    });
    let keys: Vec<String> = (0..TENANTS).map(|k| format!("k{k}")).collect();
    let mut pending = Vec::with_capacity(RECORDS);
    for n in 0..RECORDS {
        let mut record = FutureRecord::to(&topic).key(&keys[n % TENANTS]).payload(&payload);
        // Enqueue now (as the bus does); `send` would only enqueue when awaited.
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    pending.push(delivery);
                    break;
                }
                Err((_, returned)) => {
                    record = returned;
                    for delivery in pending.drain(..) {
                        delivery.await.expect("delivery").expect("delivered");
                    }
                }
            }
        }
    }
    for delivery in pending {
        delivery.await.expect("delivery").expect("delivered");
    }
    reader.await.expect("reader");
    RECORDS as f64 / start.elapsed().as_secs_f64()
}

async fn postgres_store() -> (Store, String) {
    let url = std::env::var("SWITCHBOARD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
    Store::admin_schema(&url, &schema, false).await.expect("schema");
    let store = Store::open(&StoreConfig { url: url.clone(), schema: Some(schema.clone()) }).await.expect("store");
    (store, schema)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let mut rows = Vec::new();
    for (database, bus_name) in
        [("SQLite", "embedded"), ("SQLite", "kafka"), ("PostgreSQL", "embedded"), ("PostgreSQL", "kafka")]
    {
        let dir = tempfile::tempdir().expect("dir");
        let (store, schema) = match database {
            "SQLite" => (Store::open(&StoreConfig::sqlite_in(dir.path())).await.expect("store"), None),
            _ => {
                let (store, schema) = postgres_store().await;
                (store, Some(schema))
            }
        };
        let bus: Arc<dyn EventBus> = match bus_name {
            "embedded" => Arc::new(EmbeddedBus::new(store.clone())),
            // The audit group's committed offsets carry over between runs, so each run reads only its own records.
            _ => Arc::new(KafkaBus::new(KafkaConfig::new(brokers())).expect("kafka")),
        };
        let rate = end_to_end(store.clone(), bus, dir.path()).await;
        rows.push((database, bus_name, rate));
        let _ = store.close().await;
        if let Some(schema) = schema {
            let url = std::env::var("SWITCHBOARD_TEST_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
            let _ = Store::admin_schema(&url, &schema, true).await;
        }
    }
    let envelope_len = {
        let tenant = TenantId::generate();
        let context = RequestContext::new_root().with_tenant(tenant);
        prost::Message::encoded_len(&EnvelopeBuilder::new("bench").audit(&context, tenant, record(0)))
    };
    let raw = raw_rdkafka(envelope_len).await;

    println!(
        "\n## Events: outbox → bus → audit log ({RECORDS} records, {WRITERS} writers, {PER_TX} per transaction)\n"
    );
    println!("| store | bus | records/s |");
    println!("|---|---|---:|");
    for (database, bus, rate) in &rows {
        println!("| {database} | {bus} | {rate:.0} |");
    }
    println!("\nRaw rdkafka producer → consumer, same broker, {envelope_len}-byte messages: {raw:.0} messages/s");
    for (database, bus, rate) in &rows {
        if *bus == "kafka" {
            println!("Ratio end-to-end ({database}, kafka) / raw rdkafka: {:.2}", rate / raw);
        }
    }
}
