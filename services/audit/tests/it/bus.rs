//! Audit records through the outbox and Kafka under faults: every record reaches the log exactly once and the
//! chain verifies, whether the broker freezes mid-stream or the relay dies between publishing and marking rows
//! sent; and a record published straight to the bus without the platform's signature never does. Each Kafka case
//! runs its own tansu broker (in memory, on a free port) so it can pause it.

use std::collections::{BTreeMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use switchboard_audit::storage::{AuditFilter, AuditScope, Page};
use switchboard_audit::{AuditService, CheckpointSigner, consume_audit_events};
use switchboard_events::outbox::{self, OutboxRelay, RelayOptions};
use switchboard_events::{BusFuture, EnvelopeBuilder, EventBus, KafkaBus, KafkaConfig, Outgoing, Subscription, topics};
use switchboard_mesh::Identity;
use switchboard_mesh::context::RequestContext;
use switchboard_proto::audit::v1 as pb;
use switchboard_proto::auth::v1 as auth;
use switchboard_proto::auth::v1::tenant_admin_service_client::TenantAdminServiceClient;
use switchboard_store::{Store, TenantId};
use switchboard_test_support::{TestDb, TestOptions, TestPlatform, test_store};
use tokio_util::sync::CancellationToken;

const ACTIONS: usize = 10_000;
const TENANTS: usize = 4;

/// A tansu broker of this test's own, killed on drop.
struct Broker {
    child: Child,
    addr: String,
}

impl Broker {
    async fn start() -> Self {
        let tansu = std::env::var("TANSU").ok().unwrap_or_else(|| {
            let home = std::env::var("HOME").unwrap_or_default();
            let installed = format!("{home}/.cargo/bin/tansu");
            if std::path::Path::new(&installed).exists() { installed } else { "tansu".to_owned() }
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("tcp://127.0.0.1:{port}");
        let mut child = Command::new(&tansu)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {tansu} ({e}): `make test` installs it (cargo install tansu)"));
        let addr = format!("127.0.0.1:{port}");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(&addr).await.is_ok() {
                return Self { child, addr };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("tansu did not listen on {addr} within 10 s");
    }

    fn signal(&self, signal: &str) {
        signal_process(self.child.id(), signal);
    }
}

fn signal_process(pid: u32, signal: &str) {
    let status = Command::new("kill").args([signal, &pid.to_string()]).status().unwrap();
    assert!(status.success(), "kill {signal}");
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kafka(broker: &Broker) -> Arc<dyn EventBus> {
    let mut config = KafkaConfig::new(broker.addr.clone());
    // Short, so a frozen broker makes messages time out inside the test: the relay must publish them again, with a
    // new producer id when the broker refuses the old one. The consumer's group session (45 s) outlasts the
    // freeze. (A freeze longer than the session makes tansu 0.6's group coordinator cycle through failed
    // rebalances for a minute or more; `KafkaConfig::rejoin_after` gets the consumer out, but too slowly and
    // unpredictably for a test.)
    config.message_timeout = Duration::from_secs(3);
    Arc::new(KafkaBus::new(config).unwrap())
}

fn fast_relay() -> RelayOptions {
    RelayOptions {
        poll_interval: Duration::from_millis(20),
        backoff: (Duration::from_millis(50), Duration::from_secs(1)),
        ..Default::default()
    }
}

/// One audit-worthy action: a tenant transaction that writes its audit record to the outbox.
async fn act(store: &Store, builder: &EnvelopeBuilder, tenant: TenantId, n: usize) -> String {
    let context = RequestContext::new_root().with_tenant(tenant);
    let event = pb::NewEvent {
        actor: "user:test".into(),
        action: "order.refund".into(),
        resource: format!("orders/{n}"),
        outcome: pb::Outcome::Success as i32,
        ..Default::default()
    };
    let envelope = builder.audit(&context, tenant, event);
    let scope = store.tenant(tenant).await.unwrap();
    outbox::enqueue(&scope, topics::AUDIT_EVENTS, std::slice::from_ref(&envelope)).await.unwrap();
    scope.commit().await.unwrap();
    envelope.event_id
}

/// The event ids in `tenant`'s log, in chain order.
async fn logged_ids(store: &Store, tenant: TenantId) -> Vec<String> {
    let scope = store.tenant(tenant).await.unwrap();
    let mut ids = Vec::new();
    let mut after_seq = None;
    loop {
        let page = Page { after_seq, ascending: true, limit: 1000 };
        let rows = scope.audit().list(&AuditFilter::default(), page).await.unwrap();
        let Some(last) = rows.last() else { break };
        after_seq = Some(last.seq);
        ids.extend(rows.into_iter().map(|r| r.event_id));
    }
    ids
}

async fn logged_count(store: &Store, tenants: &[TenantId]) -> i64 {
    let mut total = 0;
    for tenant in tenants {
        let scope = store.tenant(*tenant).await.unwrap();
        total += scope.audit().head().await.unwrap().map_or(0, |h| h.seq);
    }
    total
}

/// Waits until every action is logged, then checks each tenant's log holds exactly its ids, in the order they
/// were written (one key per tenant keeps the order), and that its chain verifies.
async fn assert_logged_exactly_once(store: &Store, service: &AuditService, written: &BTreeMap<TenantId, Vec<String>>) {
    let tenants: Vec<TenantId> = written.keys().copied().collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    loop {
        let count = logged_count(store, &tenants).await;
        if count >= ACTIONS as i64 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {count} of {ACTIONS} records reached the log");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let any redelivery in flight land before counting duplicates.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (tenant, ids) in written {
        let logged = logged_ids(store, *tenant).await;
        assert_eq!(logged.len(), ids.len(), "tenant {tenant}: records logged once each");
        assert_eq!(&logged, ids, "tenant {tenant}: same ids, in write order");
        let verdict = service.verify(*tenant).await.unwrap();
        assert!(verdict.valid, "tenant {tenant}: {}", verdict.reason);
        assert_eq!(verdict.checked_events, ids.len() as i64);
    }
}

struct Rig {
    store: Store,
    service: AuditService,
    builder: EnvelopeBuilder,
    tenants: Vec<TenantId>,
    written: BTreeMap<TenantId, Vec<String>>,
    stop: CancellationToken,
}

impl Rig {
    async fn new(store: Store, dir: &std::path::Path, bus: Arc<dyn EventBus>) -> Self {
        let signer = CheckpointSigner::load_or_create(&dir.join("audit.p8")).unwrap();
        let service = AuditService::new(store.clone(), signer);
        let stop = CancellationToken::new();
        tokio::spawn(consume_audit_events(service.clone(), bus, stop.clone()));
        let tenants: Vec<TenantId> = (0..TENANTS).map(|_| TenantId::generate()).collect();
        Self { store, service, builder: EnvelopeBuilder::new("test"), tenants, written: BTreeMap::new(), stop }
    }

    async fn act(&mut self, n: usize) {
        let tenant = self.tenants[n % TENANTS];
        let id = act(&self.store, &self.builder, tenant, n).await;
        self.written.entry(tenant).or_default().push(id);
    }
}

/// How long the broker stays frozen: past the producer's message timeout (3 s), so queued messages fail and the
/// relay must publish them again, and well inside the consumer's group session (45 s), whatever the machine's load.
const FREEZE: Duration = Duration::from_secs(8);

/// The broker freezes (SIGSTOP) for longer than the producer's message timeout while actions go on (10,000 in
/// all); after it thaws every record is logged once, in order, and every chain verifies.
pub async fn a_frozen_broker_loses_and_duplicates_nothing(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let test = test_store(db, dir.path()).await;
    let broker = Broker::start().await;
    let bus = kafka(&broker);
    let mut rig = Rig::new(test.store.clone(), dir.path(), bus.clone()).await;
    let relay = tokio::spawn(OutboxRelay::new(test.store.clone(), bus, fast_relay()).run(rig.stop.clone()));

    // The thaw runs on a timer, not after the writes: on a loaded machine the writes can take longer than the
    // group session, and a broker frozen that long sends tansu's coordinator into minutes of failed rebalances.
    let mut thaw = None;
    for n in 0..ACTIONS {
        if n == ACTIONS / 5 {
            broker.signal("-STOP");
            let (store, pid) = (test.store.clone(), broker.child.id());
            thaw = Some(tokio::spawn(async move {
                tokio::time::sleep(FREEZE).await;
                let held_back = store.outbox_relay().pending_count().await.unwrap();
                signal_process(pid, "-CONT");
                held_back
            }));
        }
        rig.act(n).await;
    }
    let held_back = thaw.expect("the broker was frozen").await.unwrap();
    assert!(held_back > 0, "the freeze held records back");

    assert_logged_exactly_once(&rig.store, &rig.service, &rig.written).await;
    rig.stop.cancel();
    relay.await.unwrap();
    test.cleanup().await;
}

/// A bus that dies mid-batch: it publishes part (or all) of a batch, then never answers, like a relay process
/// killed between publishing and marking its rows sent.
struct DiesMidBatch {
    inner: Arc<dyn EventBus>,
    /// How many messages of the batch get out before the "crash".
    published: usize,
    died: Arc<AtomicBool>,
}

impl EventBus for DiesMidBatch {
    fn ensure_topics<'a>(&'a self, topics: &'a [&'a str]) -> BusFuture<'a, ()> {
        self.inner.ensure_topics(topics)
    }
    fn publish<'a>(&'a self, topic: &'a str, messages: &'a [Outgoing]) -> BusFuture<'a, ()> {
        Box::pin(async move {
            let cut = self.published.min(messages.len());
            self.inner.publish(topic, &messages[..cut]).await?;
            self.died.store(true, Ordering::SeqCst);
            std::future::pending::<()>().await;
            Ok(())
        })
    }
    fn subscribe<'a>(&'a self, topic: &'a str, group: &'a str) -> BusFuture<'a, Box<dyn Subscription>> {
        self.inner.subscribe(topic, group)
    }
    fn name(&self) -> &'static str {
        "dies-mid-batch"
    }
}

/// Relays are killed twice mid-batch (once after publishing half a batch, once after publishing all of it but
/// before marking it sent); the next relay publishes those rows again and the log still holds each record once.
pub async fn a_relay_killed_mid_batch_duplicates_nothing(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let test = test_store(db, dir.path()).await;
    let broker = Broker::start().await;
    let bus = kafka(&broker);
    let mut rig = Rig::new(test.store.clone(), dir.path(), bus.clone()).await;
    for n in 0..ACTIONS {
        rig.act(n).await;
    }
    for published in [250, 500] {
        let died = Arc::new(AtomicBool::new(false));
        let dying = Arc::new(DiesMidBatch { inner: bus.clone(), published, died: died.clone() });
        let options = RelayOptions { lease: Duration::from_millis(500), ..fast_relay() };
        let relay = tokio::spawn(OutboxRelay::new(test.store.clone(), dying, options).run(CancellationToken::new()));
        switchboard_test_support::assert_eventually!(died.load(Ordering::SeqCst), Duration::from_secs(60));
        relay.abort();
        let _ = relay.await;
        // The dead relay's lease must expire before another takes over.
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    let pending = test.store.outbox_relay().pending_count().await.unwrap();
    assert_eq!(pending, ACTIONS as u64, "nothing was marked sent by the killed relays");
    let relay = tokio::spawn(OutboxRelay::new(test.store.clone(), bus, fast_relay()).run(rig.stop.clone()));

    assert_logged_exactly_once(&rig.store, &rig.service, &rig.written).await;
    let distinct: HashSet<&String> = rig.written.values().flatten().collect();
    assert_eq!(distinct.len(), ACTIONS);
    rig.stop.cancel();
    relay.await.unwrap();
    test.cleanup().await;
}

/// Publishes, straight to the broker (no platform signature), an audit record naming `tenant`: one unsigned, one
/// carrying a made-up tag.
async fn forge(raw: &dyn EventBus, tenant: TenantId) {
    let builder = EnvelopeBuilder::new("attacker");
    let context = RequestContext::new_root().with_tenant(tenant);
    let forged = |action: &str| {
        let event = pb::NewEvent { actor: "user:attacker".into(), action: action.into(), ..Default::default() };
        Outgoing::from_envelope(&builder.audit(&context, tenant, event))
    };
    let mut tagged = forged("forged.tagged");
    tagged.headers.insert(
        switchboard_events::signing::MAC_HEADER.into(),
        "e1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
    );
    raw.publish(topics::AUDIT_EVENTS, &[forged("forged.unsigned"), tagged]).await.expect("publish forgeries");
}

/// The actions in `tenant`'s audit log, as its admin would list them.
async fn actions(platform: &TestPlatform, tenant: TenantId) -> Vec<String> {
    let context = RequestContext::new_root().with_tenant(tenant).with_role(switchboard_types::Role::Admin);
    let request =
        context.request(pb::ListEventsRequest { page_size: 1000, order_ascending: true, ..Default::default() });
    let events = platform.audit_as(Identity::gateway()).list_events(request).await.expect("list").into_inner().events;
    events.into_iter().map(|e| e.action).collect()
}

/// Anyone who can reach the bus could publish an audit record naming any tenant; without the platform's signature
/// it is dropped, and the records around it still arrive.
async fn forged_envelopes_append_nothing(platform: TestPlatform, raw: Arc<dyn EventBus>) {
    let mut operator = TenantAdminServiceClient::new(platform.channel_as(
        Identity::operator(),
        Identity::gateway(),
        &platform.gateway_admin_addr,
    ));
    let created = operator
        .create_tenant(auth::CreateTenantRequest {
            tenant: Some(auth::Tenant { slug: "acme".into(), ..Default::default() }),
        })
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap();
    let tenant: TenantId = created.id.parse().unwrap();
    wait_for(&platform, tenant, "tenant.create").await;
    forge(raw.as_ref(), tenant).await;
    operator
        .create_user(auth::CreateUserRequest {
            parent: "tenants/acme".into(),
            email: "a@acme.example".into(),
            password: "correct horse battery staple".into(),
            role: auth::Role::Owner as i32,
            display_name: String::new(),
        })
        .await
        .unwrap();
    // The record published after the forgeries arrives; the forgeries never do.
    wait_for(&platform, tenant, "user.create").await;
    assert_eq!(actions(&platform, tenant).await, ["tenant.create", "user.create"]);
    platform.stop().await;
}

async fn wait_for(platform: &TestPlatform, tenant: TenantId, action: &str) {
    switchboard_test_support::assert_eventually!(
        actions(platform, tenant).await.iter().any(|a| a == action),
        Duration::from_secs(60)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_envelopes_on_the_embedded_log_append_nothing() {
    let platform = TestPlatform::start(TestDb::Sqlite).await;
    let raw: Arc<dyn EventBus> = Arc::new(switchboard_events::EmbeddedBus::new(platform.store.clone()));
    forged_envelopes_append_nothing(platform, raw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_envelopes_on_kafka_append_nothing() {
    let broker = Broker::start().await;
    let options = TestOptions { args: vec!["--kafka-brokers".into(), broker.addr.clone()], ..Default::default() };
    let platform = TestPlatform::start_with(TestDb::Sqlite, options).await;
    forged_envelopes_append_nothing(platform, kafka(&broker)).await;
}
