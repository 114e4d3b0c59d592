//! The one wiring of the platform: which store, event bus, cache and certificate each service gets, and how the
//! services start and stop. `switchboard up` (every service), `switchboard serve <service>` (one) and the tests'
//! `TestPlatform` all go through [`Platform`], so what the tests run is what production runs.
//!
//! Shared resources are created once per [`Platform`] and only when a service needs them: one store (on SQLite one
//! connection for every service in the process), one event bus, one Redis pool shared by the cache and the rate
//! limiter. Each service loads only its own certificate and key; the development CA's private key is read by
//! [`init_dev_certs`] alone (`switchboard certs init`, and `switchboard up` before anything starts).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use switchboard_audit::{AuditConfig, CheckpointSigner};
use switchboard_cache::{Cache, MemoryCache, RedisCache, RedisSettings};
use switchboard_connectors::ConnectorsConfig;
use switchboard_events::outbox::{OutboxRelay, RelayOptions};
use switchboard_events::{
    EmbeddedBus, EnvelopeKeys, EventBus, KafkaBus, KafkaConfig, KafkaSasl, KafkaSecurity, SignedBus,
};
use switchboard_gateway::{
    Backends, GatewayConfig, OnCacheError, OnStoreError, PublicLimits, RateLimits, TokenKeys, TokenLifetimes,
};
use switchboard_mesh::pki::{CertFiles, DevCa, MeshCredentials};
use switchboard_mesh::{Identity, MeshError};
use switchboard_orchestrator::{Embedder, OrchestratorConfig};
use switchboard_store::{Store, StoreConfig, StoreError};
use switchboard_telemetry::Metrics;
use tokio::net::TcpListener;
use tokio::sync::OnceCell;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Mesh, PlatformConfig, Service};

/// Why the platform could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// Certificates, listeners or serving.
    #[error(transparent)]
    Mesh(#[from] MeshError),
    /// The database.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A setting is unusable; the message names it.
    #[error("{0}")]
    Config(String),
    /// A service failed while starting or running.
    #[error("{service} failed: {message}")]
    Service {
        /// Which service.
        service: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// Every service, in start order (backends before the edge that dials them).
pub const ALL_SERVICES: [Service; 4] = [Service::Audit, Service::Connectors, Service::Orchestrator, Service::Gateway];

impl Service {
    /// The service's name, as in `switchboard serve <name>`.
    pub fn name(self) -> &'static str {
        match self {
            Service::Gateway => "gateway",
            Service::Orchestrator => "orchestrator",
            Service::Connectors => "connectors",
            Service::Audit => "audit",
        }
    }

    /// The service's mesh identity.
    pub fn identity(self) -> Identity {
        match self {
            Service::Gateway => Identity::gateway(),
            Service::Orchestrator => Identity::orchestrator(),
            Service::Connectors => Identity::connectors(),
            Service::Audit => Identity::audit(),
        }
    }

    /// Where the service is dialled (and, for `up`, listens).
    pub fn address(self, mesh: &Mesh) -> &str {
        match self {
            Service::Gateway => &mesh.gateway_addr,
            Service::Orchestrator => &mesh.orchestrator_addr,
            Service::Connectors => &mesh.connectors_addr,
            Service::Audit => &mesh.audit_addr,
        }
    }
}

/// Sockets bound before anything starts: a taken port fails the whole start with its address, and tests bind
/// `127.0.0.1:0` with no port race.
#[derive(Debug, Default)]
pub struct Listeners {
    /// The gateway's public port and its operators' admin port.
    pub gateway: Option<(TcpListener, TcpListener)>,
    /// The audit service.
    pub audit: Option<TcpListener>,
    /// The connectors service.
    pub connectors: Option<TcpListener>,
    /// The orchestrator.
    pub orchestrator: Option<TcpListener>,
    /// Prometheus's `GET /metrics`.
    pub metrics: Option<TcpListener>,
}

impl Listeners {
    /// Binds `service` at `listen`, or at its mesh address.
    pub async fn bind(mut self, mesh: &Mesh, service: Service, listen: Option<&str>) -> Result<Self, PlatformError> {
        let bind = switchboard_mesh::server::bind;
        let listener = bind(listen.unwrap_or(service.address(mesh))).await?;
        match service {
            Service::Gateway => self.gateway = Some((listener, bind(&mesh.gateway_admin_addr).await?)),
            Service::Audit => self.audit = Some(listener),
            Service::Connectors => self.connectors = Some(listener),
            Service::Orchestrator => self.orchestrator = Some(listener),
        }
        Ok(self)
    }

    /// Binds the metrics listener at `addr`, unless it is empty (metrics off).
    pub async fn with_metrics(mut self, addr: &str) -> Result<Self, PlatformError> {
        if !addr.trim().is_empty() {
            self.metrics = Some(switchboard_mesh::server::bind(addr.trim()).await?);
        }
        Ok(self)
    }

    /// Binds every service at its configured address (`switchboard up`).
    pub async fn bind_all(mesh: &Mesh) -> Result<Self, PlatformError> {
        let mut listeners = Self::default();
        for service in ALL_SERVICES {
            listeners = listeners.bind(mesh, service, None).await?;
        }
        Ok(listeners)
    }
}

/// Every workload with a development certificate, and the operator.
fn dev_identities() -> [Identity; 5] {
    [Identity::gateway(), Identity::orchestrator(), Identity::connectors(), Identity::audit(), Identity::operator()]
}

/// Creates the development CA (if missing) and a certificate for every workload and the operator under
/// `<data dir>/certs`, keeping what exists. The only code that reads the CA's private key, and only when a
/// certificate is missing: once they all exist the CA's key may be moved away (`switchboard up` keeps working).
pub fn init_dev_certs(data_dir: &Path) -> Result<Vec<(Identity, CertFiles)>, PlatformError> {
    let dir = data_dir.join("certs");
    let existing: Vec<(Identity, CertFiles)> = dev_identities()
        .into_iter()
        .map(|identity| {
            let files = switchboard_mesh::pki::dev_files(&dir, &identity);
            (identity, files)
        })
        .collect();
    if existing.iter().all(|(_, f)| f.ca.exists() && f.cert.exists() && f.key.exists()) {
        return Ok(existing);
    }
    let ca = DevCa::open_or_create(&dir)?;
    let mut issued = Vec::new();
    for identity in dev_identities() {
        let files = ca.ensure_leaf(&identity)?;
        issued.push((identity, files));
    }
    Ok(issued)
}

/// Creates (or brings up to date) the tables of every service in `store`: each service owns its tables and
/// declares their migrations; the platform composes them. Idempotent.
pub async fn migrate_all(store: &Store) -> Result<(), PlatformError> {
    switchboard_gateway::migrate(store).await?;
    switchboard_audit::storage::migrate(store).await?;
    switchboard_connectors::storage::migrate(store).await?;
    switchboard_orchestrator::storage::migrate(store).await?;
    Ok(())
}

/// `identity`'s certificate and key: the configured files, else its files from the development CA in the data dir
/// (never the CA's key).
pub fn credentials(mesh: &Mesh, identity: Identity) -> Result<MeshCredentials, PlatformError> {
    let files = match (&mesh.tls_ca, &mesh.tls_cert, &mesh.tls_key) {
        (Some(ca), Some(cert), Some(key)) => CertFiles { ca: ca.clone(), cert: cert.clone(), key: key.clone() },
        _ => {
            let files = switchboard_mesh::pki::dev_files(&mesh.data_dir.join("certs"), &identity);
            if !files.cert.exists() || !files.key.exists() {
                return Err(PlatformError::Config(format!(
                    "no certificate for {} in {}: run `switchboard certs init` (or `switchboard up`, which does), \
                     or pass --tls-ca/--tls-cert/--tls-key",
                    identity.name(),
                    mesh.data_dir.join("certs").display()
                )));
            }
            files
        }
    };
    Ok(MeshCredentials::from_files(identity, &files)?)
}

/// The platform: its configuration and the resources its services share.
pub struct Platform {
    config: PlatformConfig,
    metrics: Metrics,
    store: OnceCell<Store>,
    bus: OnceCell<Arc<dyn EventBus>>,
    redis: OnceCell<Option<RedisCache>>,
    cache: OnceCell<Arc<dyn Cache>>,
    embedder: OnceCell<Arc<dyn switchboard_vectors::Embedder>>,
    vectors: OnceCell<Arc<dyn switchboard_vectors::VectorStore>>,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform").field("data_dir", &self.config.mesh.data_dir).finish_non_exhaustive()
    }
}

impl Platform {
    /// A platform built from `config`; nothing is opened until a service needs it.
    pub fn new(config: PlatformConfig) -> Self {
        Self {
            config,
            metrics: Metrics::new(),
            store: OnceCell::new(),
            bus: OnceCell::new(),
            redis: OnceCell::new(),
            cache: OnceCell::new(),
            embedder: OnceCell::new(),
            vectors: OnceCell::new(),
        }
    }

    /// Uses `store` instead of opening one from the configuration (an embedding process, or a test that inspects
    /// the rows, shares its store with the services).
    pub fn with_store(self, store: Store) -> Self {
        let _ = self.store.set(store);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &PlatformConfig {
        &self.config
    }

    /// The platform's metrics (what `GET /metrics` serves).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// How to open the store: `DATABASE_URL` (and schema), else SQLite in the data dir.
    pub fn store_config(&self) -> StoreConfig {
        match &self.config.database_url {
            Some(url) if !url.is_empty() => {
                StoreConfig { url: url.clone(), schema: self.config.database_schema.clone().filter(|s| !s.is_empty()) }
            }
            _ => StoreConfig::sqlite_in(&self.config.mesh.data_dir),
        }
    }

    /// The store, opened without migrating (for `switchboard migrate`, which migrates it explicitly).
    pub async fn open_store(&self) -> Result<Store, PlatformError> {
        Ok(Store::open(&self.store_config()).await?)
    }

    /// The store, opened (and migrated, every service's tables included) once and shared by every service of this
    /// platform.
    pub async fn store(&self) -> Result<Store, PlatformError> {
        let store = self
            .store
            .get_or_try_init(|| async {
                let store = Store::open(&self.store_config()).await?;
                if self.config.migrate_on_start {
                    migrate_all(&store).await?;
                }
                Ok::<_, PlatformError>(store)
            })
            .await?;
        Ok(store.clone())
    }

    /// The sentence-embedding model (all-MiniLM-L6-v2 from `SWITCHBOARD_EMBEDDING_MODEL_DIR`, else the default cache
    /// directory), loaded once on the blocking pool; the hashed n-gram embedder, with an error in the log saying
    /// how to fetch the model, when it is absent or does not load.
    pub async fn embedder(&self) -> Result<Arc<dyn switchboard_vectors::Embedder>, PlatformError> {
        let embedder = self
            .embedder
            .get_or_try_init(|| async {
                let dir = self
                    .config
                    .embedding_model_dir
                    .clone()
                    .filter(|d| !d.as_os_str().is_empty())
                    .or_else(switchboard_embedding::default_model_dir);
                tokio::task::spawn_blocking(move || load_embedder(dir))
                    .await
                    .map_err(|e| PlatformError::Config(format!("loading the embedding model: {e}")))
            })
            .await?;
        Ok(embedder.clone())
    }

    /// The vector store: Qdrant when `QDRANT_URL` is set, else the embedded index in `<data dir>/vectors`.
    pub async fn vector_store(&self) -> Result<Arc<dyn switchboard_vectors::VectorStore>, PlatformError> {
        let vectors = self
            .vectors
            .get_or_try_init(|| async {
                let store: Arc<dyn switchboard_vectors::VectorStore> = match &self.config.qdrant_url {
                    Some(url) if !url.trim().is_empty() => Arc::new(
                        switchboard_vectors::QdrantStore::connect(
                            url.trim(),
                            self.config.qdrant_api_key.as_deref().map(str::trim).filter(|k| !k.is_empty()),
                            QDRANT_TIMEOUT,
                        )
                        .await
                        .map_err(|e| PlatformError::Config(format!("QDRANT_URL: {e}")))?,
                    ),
                    _ => {
                        let dir = self.config.mesh.data_dir.join("vectors");
                        let index = tokio::task::spawn_blocking(move || switchboard_vectors::EmbeddedIndex::open(&dir))
                            .await
                            .map_err(|e| PlatformError::Config(format!("opening the vector index: {e}")))?
                            .map_err(|e| PlatformError::Config(format!("the vector index in the data dir: {e}")))?;
                        Arc::new(index)
                    }
                };
                tracing::info!(vectors = store.name(), "vector store");
                Ok::<_, PlatformError>(store)
            })
            .await?;
        Ok(vectors.clone())
    }

    /// The event bus: Kafka when `KAFKA_BROKERS` is set, else the log in the store.
    pub async fn event_bus(&self, shutdown: &CancellationToken) -> Result<Arc<dyn EventBus>, PlatformError> {
        let bus = self
            .bus
            .get_or_try_init(|| async {
                let bus: Arc<dyn EventBus> = match &self.config.kafka_brokers {
                    Some(brokers) if !brokers.trim().is_empty() => {
                        let mut config = KafkaConfig::new(brokers.trim());
                        config.batch_messages = self.config.kafka_batch_messages.max(1);
                        config.security = self.kafka_security();
                        let bus =
                            KafkaBus::new(config).map_err(|e| PlatformError::Config(format!("KAFKA_BROKERS: {e}")))?;
                        // In the background: a broker that is down now is not fatal (the relay and consumers retry
                        // until it is back) and must not hold up the start.
                        let creating = bus.clone();
                        tokio::spawn(async move {
                            let topics = switchboard_events::topics::ALL;
                            if let Err(e) = EventBus::ensure_topics(&creating, &topics).await {
                                tracing::warn!(error = %e, "cannot create the event topics yet; will retry on first use");
                            }
                        });
                        Arc::new(bus)
                    }
                    _ => {
                        let bus = EmbeddedBus::new(self.store().await?);
                        let retention = Duration::from_secs(self.config.event_retention_hours.max(1) * 3600);
                        tokio::spawn(bus.clone().run_retention(retention, shutdown.clone()));
                        Arc::new(bus)
                    }
                };
                // Every message is signed on the way out and verified on the way in.
                let keys_file = self.config.event_keys_file.clone().unwrap_or_else(|| {
                    self.config.mesh.data_dir.join("keys").join("events.keys")
                });
                let keys = EnvelopeKeys::load_or_create(&keys_file).map_err(|e| PlatformError::Config(e.to_string()))?;
                let bus: Arc<dyn EventBus> = Arc::new(SignedBus::new(bus, keys, self.metrics.clone()));
                tracing::info!(bus = bus.name(), "event bus");
                Ok::<_, PlatformError>(bus)
            })
            .await?;
        Ok(bus.clone())
    }

    fn kafka_security(&self) -> KafkaSecurity {
        let config = &self.config;
        KafkaSecurity {
            tls: config.kafka_tls,
            tls_ca_file: config.kafka_tls_ca_file.clone(),
            tls_client: config.kafka_tls_cert_file.clone().zip(config.kafka_tls_key_file.clone()),
            sasl: config.kafka_sasl_mechanism.clone().filter(|m| !m.is_empty()).map(|mechanism| KafkaSasl {
                mechanism,
                username: config.kafka_sasl_username.clone().unwrap_or_default(),
                password: config.kafka_sasl_password.clone().unwrap_or_default(),
            }),
        }
    }

    /// The process's Redis connections (cache and rate limiter share them), when `REDIS_URL` is set.
    async fn redis(&self) -> Result<Option<RedisCache>, PlatformError> {
        let redis = self
            .redis
            .get_or_try_init(|| async {
                match &self.config.redis_url {
                    Some(url) if !url.is_empty() => RedisCache::connect_with(&RedisSettings {
                        url: url.clone(),
                        timeout: Duration::from_millis(500),
                        tls_ca_file: self.config.redis_tls_ca_file.clone(),
                    })
                    .await
                    .map(Some)
                    .map_err(|e| PlatformError::Config(format!("REDIS_URL: {e}"))),
                    _ => Ok(None),
                }
            })
            .await?;
        Ok(redis.clone())
    }

    /// The cache (revoked sessions, cached settings): Redis when `REDIS_URL` is set, else in-process.
    pub async fn cache(&self) -> Result<Arc<dyn Cache>, PlatformError> {
        let cache = self
            .cache
            .get_or_try_init(|| async {
                Ok::<_, PlatformError>(match self.redis().await? {
                    Some(redis) => Arc::new(redis) as Arc<dyn Cache>,
                    None => Arc::new(MemoryCache::new()),
                })
            })
            .await?;
        Ok(cache.clone())
    }

    /// The gateway's rate limiting: in Redis (on the cache's connections) when `REDIS_URL` is set, else in-process.
    async fn rate_limits(&self) -> Result<RateLimits, PlatformError> {
        let store: Arc<dyn switchboard_ratelimit::RateLimitStore> = match self.redis().await? {
            Some(redis) => Arc::new(
                switchboard_ratelimit::RedisStore::from_pool(
                    redis.pool().clone(),
                    redis.endpoint().to_owned(),
                    Duration::from_millis(500),
                )
                .await
                .map_err(|e| PlatformError::Config(format!("REDIS_URL: {e}")))?,
            ),
            None => Arc::new(switchboard_ratelimit::MemoryStore::new()),
        };
        Ok(RateLimits {
            store,
            default_per_minute: self.config.rate_limit_per_minute.max(1),
            webhook_per_minute: self.config.webhook_rate_limit_per_minute.max(1),
            on_store_error: if self.config.rate_limit_on_store_error == "deny" {
                OnStoreError::Deny
            } else {
                OnStoreError::Allow
            },
        })
    }

    async fn gateway_config(&self) -> Result<GatewayConfig, PlatformError> {
        let config = &self.config;
        let mesh = &config.mesh;
        let public_tls = match (&config.public_tls_cert, &config.public_tls_key) {
            (Some(cert), Some(key)) => Some(switchboard_mesh::tls::public_server_config(cert, key)?),
            _ => None,
        };
        let keys_dir = config.jwt_keys_dir.clone().unwrap_or_else(|| mesh.data_dir.join("keys").join("jwt"));
        // Comma-separated settings: "" (an empty env var) and stray spaces name nothing.
        let items = |values: &[String]| -> Vec<String> {
            values.iter().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect()
        };
        let console_dir = config.console_dir.clone().filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = &console_dir {
            // Refused here, before any service starts, rather than by the gateway once the others run.
            switchboard_gateway::console::Console::open(dir)
                .map_err(|e| PlatformError::Config(format!("SWITCHBOARD_CONSOLE_DIR: {e}")))?;
        }
        Ok(GatewayConfig {
            public_tls,
            store: self.store().await?,
            keys: TokenKeys::load_or_create(&keys_dir, config.jwt_active_kid.as_deref())
                .map_err(|e| PlatformError::Config(e.to_string()))?,
            credentials: credentials(mesh, Identity::gateway())?,
            backends: Backends {
                audit: mesh.audit_addr.clone(),
                connectors: mesh.connectors_addr.clone(),
                orchestrator: mesh.orchestrator_addr.clone(),
            },
            lifetimes: TokenLifetimes {
                access: Duration::from_secs(config.access_token_ttl),
                refresh: Duration::from_secs(config.refresh_token_ttl),
                session: Duration::from_secs(config.session_lifetime),
            },
            rate_limits: self.rate_limits().await?,
            cache: self.cache().await?,
            trusted_proxies: items(&config.trusted_proxies)
                .iter()
                .map(|p| p.parse().map_err(|e| PlatformError::Config(format!("SWITCHBOARD_TRUSTED_PROXIES: {e}"))))
                .collect::<Result<_, _>>()?,
            cors_origins: items(&config.cors_origins)
                .iter()
                .map(|o| {
                    o.parse().map_err(|_| {
                        PlatformError::Config(format!("SWITCHBOARD_CORS_ORIGINS: {o:?} is not a valid origin"))
                    })
                })
                .collect::<Result<_, _>>()?,
            revocation_on_cache_error: if config.revocation_on_cache_error == "deny" {
                OnCacheError::Deny
            } else {
                OnCacheError::Allow
            },
            metrics: self.metrics.clone(),
            console_dir,
            public_url: config.connectors.public_url.trim_end_matches('/').to_owned(),
            public_limits: PublicLimits {
                max_connections: config.max_connections.max(1),
                max_connections_per_client: config.max_connections_per_client.max(1),
                anonymous_stream_lifetime: Duration::from_secs(config.anonymous_stream_lifetime.max(1)),
            },
        })
    }

    /// Starts the services whose listeners are given, each until `shutdown`. Everything a service needs is opened
    /// before any service starts, so a bad setting fails the start rather than one service later.
    pub async fn start(&self, listeners: Listeners, shutdown: CancellationToken) -> Result<Running, PlatformError> {
        use futures::FutureExt;
        type Task = futures::future::BoxFuture<'static, Result<(), PlatformError>>;
        let failed = |service: Service| {
            move |e: &dyn std::fmt::Display| PlatformError::Service { service: service.name(), message: e.to_string() }
        };
        let mut ready: Vec<(Service, String, Task)> = Vec::new();
        let addr = |l: &TcpListener| l.local_addr().map(|a| a.to_string()).unwrap_or_default();

        if let Some(listener) = listeners.audit {
            let key_path = self
                .config
                .audit_signing_key
                .clone()
                .unwrap_or_else(|| self.config.mesh.data_dir.join("keys").join("audit-checkpoint.p8"));
            let config = AuditConfig {
                store: self.store().await?,
                signer: CheckpointSigner::load_or_create(&key_path).map_err(|e| failed(Service::Audit)(&e))?,
                credentials: credentials(&self.config.mesh, Identity::audit())?,
                bus: Some(self.event_bus(&shutdown).await?),
                metrics: self.metrics.clone(),
            };
            reload_on_change(&config.credentials, &shutdown);
            let at = addr(&listener);
            let task = switchboard_audit::serve_with(config, listener, shutdown.clone())
                .map(move |r| r.map_err(|e| failed(Service::Audit)(&e)))
                .boxed();
            ready.push((Service::Audit, at, task));
        }
        if let Some(listener) = listeners.connectors {
            let kek_file = self
                .config
                .connectors
                .kek_file
                .clone()
                .unwrap_or_else(|| self.config.mesh.data_dir.join("keys").join("kek"));
            let config = ConnectorsConfig {
                credentials: credentials(&self.config.mesh, Identity::connectors())?,
                metrics: self.metrics.clone(),
                store: self.store().await?,
                keys: switchboard_connectors::KeyRing::load_or_create(&kek_file)
                    .map_err(|e| PlatformError::Config(format!("SWITCHBOARD_KEK_FILE: {e}")))?,
                cache: self.cache().await?,
                bus: Some(self.event_bus(&shutdown).await?),
                providers: self.config.connectors.provider_settings(),
                retry: switchboard_connectors::RetryPolicy::default(),
            };
            reload_on_change(&config.credentials, &shutdown);
            let at = addr(&listener);
            let task = switchboard_connectors::serve_with(config, listener, shutdown.clone())
                .map(move |r| r.map_err(|e| failed(Service::Connectors)(&e)))
                .boxed();
            ready.push((Service::Connectors, at, task));
        }
        if let Some(listener) = listeners.orchestrator {
            let config = OrchestratorConfig {
                credentials: credentials(&self.config.mesh, Identity::orchestrator())?,
                metrics: self.metrics.clone(),
                store: self.store().await?,
                connectors_addr: self.config.mesh.connectors_addr.clone(),
                step_timeout: ORCHESTRATOR_STEP_TIMEOUT,
                embedder: self.embedder().await?,
                vectors: self.vector_store().await?,
                models: self.config.models.providers()?,
            };
            reload_on_change(&config.credentials, &shutdown);
            let at = addr(&listener);
            let task = switchboard_orchestrator::serve_with(config, listener, shutdown.clone())
                .map(move |r| r.map_err(|e| failed(Service::Orchestrator)(&e)))
                .boxed();
            ready.push((Service::Orchestrator, at, task));
        }
        if let Some((public, admin)) = listeners.gateway {
            let config = self.gateway_config().await?;
            reload_on_change(&config.credentials, &shutdown);
            // The gateway writes audit records to the outbox; its process relays them to the bus.
            let relay = OutboxRelay::new(
                self.store().await?,
                self.event_bus(&shutdown).await?,
                RelayOptions {
                    poll_interval: Duration::from_millis(self.config.outbox_poll_ms.max(1)),
                    ..RelayOptions::default()
                },
            );
            let at = addr(&public);
            let shutdown = shutdown.clone();
            let task = async move {
                let relay_stop = shutdown.child_token();
                let relay = tokio::spawn(relay.run(relay_stop.clone()));
                let listeners = switchboard_gateway::Listeners { public, admin };
                let served = switchboard_gateway::serve_with(config, listeners, shutdown).await;
                relay_stop.cancel();
                let _ = relay.await;
                served.map_err(|e| failed(Service::Gateway)(&e))
            }
            .boxed();
            ready.push((Service::Gateway, at, task));
        }

        let samples_outbox = ready.iter().any(|(s, _, _)| *s == Service::Gateway);
        let samples_consumer = ready.iter().any(|(s, _, _)| *s == Service::Audit);
        if samples_outbox || samples_consumer {
            let (store, bus) = (self.store().await?, self.event_bus(&shutdown).await?);
            let sampler = sample_backlogs(self.metrics.clone(), store, bus, samples_outbox, samples_consumer);
            tokio::spawn(run_until(sampler, shutdown.clone()));
        }
        if let Some(listener) = listeners.metrics {
            let stop = shutdown.clone();
            tokio::spawn(switchboard_telemetry::metrics::serve(self.metrics.clone(), listener, async move {
                stop.cancelled().await;
            }));
        }
        let mut tasks = JoinSet::new();
        for (service, at, task) in ready {
            tracing::info!(service = service.name(), addr = %at, "starting");
            tasks.spawn(task);
        }
        Ok(Running { tasks, shutdown })
    }
}

/// The embedder for the model in `dir`, loaded once per process: the model is read-only, 90 MB and a second to
/// load, and a process may build several platforms (the tests do).
fn load_embedder(dir: Option<std::path::PathBuf>) -> Arc<dyn Embedder> {
    type Loaded = Vec<(Option<std::path::PathBuf>, Arc<dyn Embedder>)>;
    static LOADED: std::sync::Mutex<Loaded> = std::sync::Mutex::new(Vec::new());
    // A poisoned lock only means another load panicked; the list itself is always whole.
    let mut loaded = LOADED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, embedder)) = loaded.iter().find(|(d, _)| *d == dir) {
        return Arc::clone(embedder);
    }
    let embedder = switchboard_embedding::embedder_or_fallback(dir.as_deref());
    loaded.push((dir, Arc::clone(&embedder)));
    embedder
}

/// Longest one orchestrator step (a connectors call) may take.
const ORCHESTRATOR_STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest a Qdrant request may take.
const QDRANT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the backlog gauges are refreshed.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// How often a service reads its mesh certificate files again (cert-manager renews them in place; Kubernetes
/// takes up to a minute or two to update a mounted Secret anyway).
const CERT_RELOAD_INTERVAL: Duration = Duration::from_secs(10);

/// Keeps `credentials` current with their files until `shutdown` (see [`MeshCredentials::reload`]).
fn reload_on_change(credentials: &MeshCredentials, shutdown: &CancellationToken) {
    tokio::spawn(credentials.clone().reload_on_change(CERT_RELOAD_INTERVAL, shutdown.clone()));
}

/// Runs `task` until `shutdown`.
async fn run_until(task: impl std::future::Future<Output = ()>, shutdown: CancellationToken) {
    tokio::select! {
        () = task => {}
        () = shutdown.cancelled() => {}
    }
}

/// Refreshes the outbox backlog and lag, and the audit consumer's lag, every [`SAMPLE_EVERY`].
async fn sample_backlogs(metrics: Metrics, store: Store, bus: Arc<dyn EventBus>, outbox: bool, consumer: bool) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if outbox {
            let relay = store.outbox_relay();
            match (relay.pending_count().await, relay.oldest_pending_us().await) {
                (Ok(backlog), Ok(oldest)) => {
                    let age_us = oldest.map_or(0, |at| switchboard_types::now_unix_micros().saturating_sub(at));
                    metrics.set_outbox(backlog, Duration::from_micros(u64::try_from(age_us).unwrap_or(0)));
                }
                (Err(e), _) | (_, Err(e)) => tracing::debug!(error = %e, "cannot sample the outbox"),
            }
        }
        if consumer {
            let (topic, group) = (switchboard_events::topics::AUDIT_EVENTS, switchboard_audit::AUDIT_CONSUMER_GROUP);
            match bus.consumer_lag(topic, group).await {
                Ok(Some(lag)) => metrics.set_consumer_lag(topic, group, lag),
                Ok(None) => {}
                Err(e) => tracing::debug!(error = %e, "cannot sample the consumer lag"),
            }
        }
    }
}

/// The services of a started platform.
#[derive(Debug)]
pub struct Running {
    tasks: JoinSet<Result<(), PlatformError>>,
    shutdown: CancellationToken,
}

impl Running {
    /// Waits until every service has stopped. The first failure stops the others; it is returned once all have
    /// stopped.
    pub async fn wait(mut self) -> Result<(), PlatformError> {
        let mut first_error = None;
        while let Some(joined) = self.tasks.join_next().await {
            let outcome = joined.unwrap_or_else(|e| {
                Err(PlatformError::Service { service: "platform", message: format!("a service task panicked: {e}") })
            });
            if let Err(e) = outcome {
                tracing::error!(error = %e, "service stopped; shutting down the rest");
                self.shutdown.cancel();
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
