//! Test fixtures shared by every crate's integration tests (a dev-dependency only, never in a release build):
//!
//! - [`TestDb`] / [`test_store`]: a fresh store on SQLite (a temp file) or PostgreSQL (a schema of its own in
//!   `SWITCHBOARD_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`), so one conformance
//!   suite runs on both.
//! - [`TestPlatform`]: the four services booted in-process on `127.0.0.1:0` listeners with a fresh dev CA, wired
//!   by `switchboard::Platform` (the wiring `switchboard up` uses), and mTLS clients for any identity.
//! - [`assert_eventually!`]: poll a condition instead of sleeping.
//!
//! Logs are off unless `TEST_LOG=1`.

use std::path::Path;
use std::time::Duration;

use std::sync::Arc;

use switchboard::{Listeners, Platform, PlatformConfig};
use switchboard_audit::{AuditConfig, CheckpointSigner};
use switchboard_mesh::Identity;
use switchboard_mesh::pki::{DevCa, MeshCredentials};
use switchboard_proto::audit::v1::audit_service_client::AuditServiceClient;
use switchboard_store::{Store, StoreConfig};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// The PostgreSQL server tests use.
pub fn postgres_url() -> String {
    std::env::var("SWITCHBOARD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestDb {
    /// A SQLite file in a temp dir.
    Sqlite,
    /// A fresh schema on the test PostgreSQL server.
    Postgres,
}

/// A migrated store for one test, and what to clean up after it.
#[derive(Debug)]
pub struct TestStore {
    /// The store.
    pub store: Store,
    schema: Option<String>,
    config: StoreConfig,
}

impl TestStore {
    /// How to open this store again (as a restarted process would).
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Drops the test's PostgreSQL schema.
    pub async fn cleanup(self) {
        let _ = self.store.close().await;
        if let Some(schema) = self.schema {
            let _ = Store::admin_schema(&postgres_url(), &schema, true).await;
        }
    }
}

/// A fresh store on `db`, with every service's tables; SQLite files go in `dir`.
pub async fn test_store(db: TestDb, dir: &Path) -> TestStore {
    switchboard_telemetry::init_for_tests();
    let test = match db {
        TestDb::Sqlite => {
            let config = StoreConfig::sqlite_in(dir);
            let store = Store::open(&config).await.expect("open SQLite store");
            TestStore { store, schema: None, config }
        }
        TestDb::Postgres => {
            let url = postgres_url();
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            Store::admin_schema(&url, &schema, false)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {url} is required for this test: {e}"));
            let config = StoreConfig { url, schema: Some(schema.clone()) };
            let store = Store::open(&config).await.expect("open PostgreSQL store");
            TestStore { store, schema: Some(schema), config }
        }
    };
    switchboard::migrate_all(&test.store).await.expect("every service's tables");
    test
}

/// Waits until every audit record written to `store` so far is in its audit log: the outbox is empty and the
/// audit service's consumer has committed the whole `audit.events` topic of the embedded bus.
pub async fn settle_audit(store: &Store) {
    let log = store.event_log();
    let topic = switchboard_events::topics::AUDIT_EVENTS;
    let group = switchboard_audit::AUDIT_CONSUMER_GROUP;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let pending = store.outbox_relay().pending_count().await.expect("outbox");
        let end = log.end_offset(topic).await.expect("log end");
        let committed = log.committed(group, topic).await.expect("committed offset");
        if pending == 0 && committed >= end {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "audit records still in flight: {pending} in the outbox, log committed to {committed} of {end}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The four services running in this process on random loopback ports, wired by [`switchboard::Platform`] exactly as
/// `switchboard up` wires them.
pub struct TestPlatform {
    /// Data dir: the dev CA, SQLite file, keys.
    pub data_dir: TempDir,
    /// The dev CA, to issue certificates for any identity.
    pub ca: DevCa,
    /// The audit service's address.
    pub audit_addr: String,
    /// The connectors service's address.
    pub connectors_addr: String,
    /// The orchestrator's address.
    pub orchestrator_addr: String,
    /// The gateway's public address (plaintext).
    pub gateway_addr: String,
    /// The gateway's admin address (mTLS, operators).
    pub gateway_admin_addr: String,
    /// Where `GET /metrics` answers.
    pub metrics_addr: String,
    /// The platform's store, for tests that inspect or tamper with rows.
    pub store: Store,
    /// The platform (its configuration and shared resources).
    pub platform: Arc<Platform>,
    test_store: Option<TestStore>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for TestPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPlatform").field("audit_addr", &self.audit_addr).finish_non_exhaustive()
    }
}

async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let addr = listener.local_addr().expect("local addr").to_string();
    (listener, addr)
}

/// Knobs of a [`TestPlatform`].
#[derive(Debug, Clone)]
pub struct TestOptions {
    /// The gateway's default rate limit (high by default so tests are not throttled).
    pub rate_limit_per_minute: u32,
    /// Keep rate-limit counters and the cache in this Redis instead of in process.
    pub redis_url: Option<String>,
    /// Policy when the rate-limit store fails.
    pub on_store_error: switchboard_gateway::OnStoreError,
    /// More flags, as `switchboard up` takes them (`["--access-token-ttl", "60"]`).
    pub args: Vec<String>,
}

impl Default for TestOptions {
    fn default() -> Self {
        Self { rate_limit_per_minute: 1_000_000, redis_url: None, on_store_error: Default::default(), args: Vec::new() }
    }
}

impl TestPlatform {
    /// Boots the platform with its store on `db`.
    pub async fn start(db: TestDb) -> Self {
        Self::start_with(db, TestOptions::default()).await
    }

    /// Boots the platform with its store on `db` and the given options.
    pub async fn start_with(db: TestDb, options: TestOptions) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let test_store = test_store(db, data_dir.path()).await;
        let store = test_store.store.clone();
        switchboard::init_dev_certs(data_dir.path()).expect("dev certificates");
        let ca = DevCa::open(&data_dir.path().join("certs")).expect("dev CA");

        let (audit_listener, audit_addr) = listener().await;
        let (connectors_listener, connectors_addr) = listener().await;
        let (orchestrator_listener, orchestrator_addr) = listener().await;
        let (gateway_listener, gateway_addr) = listener().await;
        let (admin_listener, gateway_admin_addr) = listener().await;
        let (metrics_listener, metrics_addr) = listener().await;
        let on_store_error = match options.on_store_error {
            switchboard_gateway::OnStoreError::Allow => "allow",
            switchboard_gateway::OnStoreError::Deny => "deny",
        };
        let mut args: Vec<String> = [
            "--data-dir",
            &data_dir.path().display().to_string(),
            "--gateway-addr",
            &gateway_addr,
            "--gateway-admin-addr",
            &gateway_admin_addr,
            "--audit-addr",
            &audit_addr,
            "--connectors-addr",
            &connectors_addr,
            "--orchestrator-addr",
            &orchestrator_addr,
            "--rate-limit-per-minute",
            &options.rate_limit_per_minute.to_string(),
            "--rate-limit-on-store-error",
            on_store_error,
            "--redis-url",
            options.redis_url.as_deref().unwrap_or(""),
            // The embedded log in the test store, whatever the environment says.
            "--kafka-brokers",
            "",
            // The offline planner, whatever the environment says: a developer's key must not make tests call a paid
            // model API (a test that wants models passes its own flags, pointing at the model sandbox).
            "--openai-api-key",
            "",
            "--anthropic-api-key",
            "",
            "--cors-origins",
            "http://app.example",
            "--outbox-poll-ms",
            "20",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend(options.args.iter().cloned());
        let config = PlatformConfig::from_args(args).expect("test platform flags");
        let platform = Arc::new(Platform::new(config).with_store(store.clone()));
        let listeners = Listeners {
            gateway: Some((gateway_listener, admin_listener)),
            audit: Some(audit_listener),
            connectors: Some(connectors_listener),
            orchestrator: Some(orchestrator_listener),
            metrics: Some(metrics_listener),
        };
        let shutdown = CancellationToken::new();
        let running = platform.start(listeners, shutdown.clone()).await.expect("start the platform");
        let tasks = vec![tokio::spawn(async move {
            running.wait().await.expect("the platform stopped with an error");
        })];

        Self {
            data_dir,
            ca,
            audit_addr,
            connectors_addr,
            orchestrator_addr,
            gateway_addr,
            gateway_admin_addr,
            metrics_addr,
            store,
            platform,
            test_store: Some(test_store),
            shutdown,
            tasks,
        }
    }

    /// Waits until every audit record written so far is in the audit log (see [`settle_audit`]).
    pub async fn settle_audit(&self) {
        settle_audit(&self.store).await;
    }

    /// Credentials for `identity`, issued by the platform's dev CA.
    pub fn credentials(&self, identity: Identity) -> MeshCredentials {
        let files = self.ca.ensure_leaf(&identity).expect("issue a certificate");
        MeshCredentials::from_files(identity, &files).expect("load credentials")
    }

    /// An mTLS channel to `service` at `addr`, presenting `identity`'s certificate.
    pub fn channel_as(&self, identity: Identity, service: Identity, addr: &str) -> Channel {
        switchboard_mesh::client::channel(addr, &service, &self.credentials(identity)).expect("channel")
    }

    /// An audit client presenting `identity`'s certificate.
    pub fn audit_as(&self, identity: Identity) -> AuditServiceClient<Channel> {
        AuditServiceClient::new(self.channel_as(identity, Identity::audit(), &self.audit_addr))
    }

    /// Starts a second audit service on the same store and signing key (a replica), returning a gateway client
    /// of it. It stops with the platform.
    pub async fn start_second_audit(&mut self) -> AuditServiceClient<Channel> {
        let (listener, addr) = listener().await;
        let config = AuditConfig {
            store: self.store.clone(),
            signer: CheckpointSigner::load_or_create(&self.data_dir.path().join("keys/audit-checkpoint.p8"))
                .expect("signing key"),
            credentials: self.credentials(Identity::audit()),
            bus: None,
            metrics: self.platform.metrics().clone(),
        };
        let token = self.shutdown.clone();
        self.tasks.push(tokio::spawn(async move {
            switchboard_audit::serve_with(config, listener, token).await.expect("second audit service");
        }));
        AuditServiceClient::new(self.channel_as(Identity::gateway(), Identity::audit(), &addr))
    }

    /// A plaintext channel to the gateway's public port, as any client on the internet would have.
    pub fn public_channel(&self) -> Channel {
        tonic::transport::Endpoint::from_shared(format!("http://{}", self.gateway_addr))
            .expect("endpoint")
            .connect_lazy()
    }

    /// The gateway's access-token keys (tests forge tokens with them).
    pub fn token_keys(&self) -> switchboard_gateway::TokenKeys {
        switchboard_gateway::TokenKeys::load_or_create(&self.data_dir.path().join("keys/jwt"), None).expect("jwt keys")
    }

    /// Stops every service, waits for them, and drops the test's database schema.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        for task in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        if let Some(store) = self.test_store.take() {
            store.cleanup().await;
        }
    }
}

impl Drop for TestPlatform {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Polls `cond` every 20 ms until it holds, failing after `timeout` (default 10 s).
#[macro_export]
macro_rules! assert_eventually {
    ($cond:expr) => {
        $crate::assert_eventually!($cond, std::time::Duration::from_secs(10))
    };
    ($cond:expr, $timeout:expr) => {{
        let deadline = std::time::Instant::now() + $timeout;
        loop {
            if $cond {
                break;
            }
            if std::time::Instant::now() > deadline {
                panic!("condition did not hold within {:?}: {}", $timeout, stringify!($cond));
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }};
}

/// One conformance suite, run against every implementation of a trait (a store, cache, rate limiter, bus or
/// vector index): for each backend a module of that name with one `#[tokio::test]` per case. A backend is a
/// *runner*, an async fn that sets the implementation up, runs the case on it and cleans up:
///
/// ```ignore
/// async fn redis(case: impl AsyncFnOnce(Arc<dyn Cache>)) {
///     case(Arc::new(RedisCache::connect(URL, TIMEOUT).await.unwrap())).await;
/// }
///
/// switchboard_test_support::conformance! {
///     cases: [get_set_delete, values_expire],
///     backends: {
///         memory => memory,
///         redis => redis,
///         #[ignore = "needs a server"] qdrant => qdrant,
///     },
/// }
/// ```
///
/// Cases are async fns taking what the runner hands them, found beside the invocation (`super::case` from the
/// generated module), or in `crate::<module>` with `module: <module>,` first. Runners are found beside the
/// invocation; each backend may carry test attributes (such as a conditional `ignore` with its reason).
// `crate::<module>` deliberately names the calling test crate's module.
#[allow(clippy::crate_in_macro_def)]
#[macro_export]
macro_rules! conformance {
    (module: $module:ident, cases: $cases:tt, backends: { $($(#[$attr:meta])* $backend:ident => $runner:ident),* $(,)? } $(,)?) => {
        $( $crate::conformance!(@backend [crate::$module::] $cases [$(#[$attr])*] $backend $runner); )*
    };
    (cases: $cases:tt, backends: { $($(#[$attr:meta])* $backend:ident => $runner:ident),* $(,)? } $(,)?) => {
        $( $crate::conformance!(@backend [super::] $cases [$(#[$attr])*] $backend $runner); )*
    };
    (@backend $prefix:tt $cases:tt $attrs:tt $backend:ident $runner:ident) => {
        mod $backend {
            $crate::conformance!(@cases $prefix $attrs $runner $cases);
        }
    };
    (@cases $prefix:tt $attrs:tt $runner:ident [$($case:ident),* $(,)?]) => {
        $( $crate::conformance!(@case $prefix $attrs $runner $case); )*
    };
    (@case [$($prefix:tt)*] [$(#[$attr:meta])*] $runner:ident $case:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attr])*
        async fn $case() {
            super::$runner($($prefix)* $case).await;
        }
    };
}

/// Runs `case` on SQLite (a runner for [`conformance!`]).
pub async fn on_sqlite(case: impl AsyncFnOnce(TestDb)) {
    case(TestDb::Sqlite).await;
}

/// Runs `case` on PostgreSQL (a runner for [`conformance!`]).
pub async fn on_postgres(case: impl AsyncFnOnce(TestDb)) {
    case(TestDb::Postgres).await;
}

/// Generates `mod sqlite` and `mod postgres`, each with one `#[tokio::test]` per named case calling
/// `crate::suite::<case>(TestDb::…)`: one suite, run on both databases ([`conformance!`] with the two runners).
#[macro_export]
macro_rules! on_both_databases {
    ($($case:ident),* $(,)?) => {
        use $crate::{on_postgres, on_sqlite};
        $crate::conformance! {
            module: suite,
            cases: [$($case),*],
            backends: { sqlite => on_sqlite, postgres => on_postgres },
        }
    };
}
