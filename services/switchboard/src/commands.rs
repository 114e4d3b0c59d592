//! What each subcommand does. Services are wired here and nowhere else.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use switchboard_audit::{AuditConfig, CheckpointSigner};
use switchboard_connectors::ConnectorsConfig;
use switchboard_gateway::{Backends, GatewayConfig, Listeners, OnStoreError, RateLimits, TokenKeys, TokenLifetimes};
use switchboard_mesh::context::RequestContext;
use switchboard_mesh::pki::{CertFiles, DevCa, MeshCredentials};
use switchboard_mesh::{Identity, MeshError};
use switchboard_orchestrator::OrchestratorConfig;
use switchboard_proto::audit::v1::VerifyChainRequest;
use switchboard_proto::audit::v1::audit_service_client::AuditServiceClient;
use switchboard_store::{Store, StoreConfig, StoreError, TenantId};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{AuditCommand, CertsCommand, Cli, Client, Command, Mesh, Platform, Service};

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    #[error(transparent)]
    Mesh(#[from] MeshError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("audit: {0}")]
    Audit(#[from] switchboard_audit::AuditError),
    #[error(transparent)]
    Telemetry(#[from] switchboard_telemetry::TelemetryError),
    #[error("{0}")]
    Usage(String),
    #[error("{service} answered {code:?}: {message}")]
    Rpc { service: &'static str, code: tonic::Code, message: String },
    #[error("{service} failed: {message}")]
    Service { service: &'static str, message: String },
}

pub(crate) async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Up(platform) => up(platform).await,
        Command::Serve { service, platform, listen } => serve_one(service, platform, listen).await,
        Command::Certs { command: CertsCommand::Init { mesh } } => certs_init(&mesh),
        Command::Health(client) => health(&client).await,
        Command::Audit { command: AuditCommand::Verify { tenant, client } } => audit_verify(&tenant, &client).await,
        Command::Openapi => {
            let document = switchboard_gateway::openapi_document().map_err(|e| CliError::Usage(e.to_string()))?;
            println!("{}", serde_json::to_string_pretty(&document).map_err(|e| CliError::Usage(e.to_string()))?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Tenant { command } => crate::admin::tenant(command).await,
        Command::User { command } => crate::admin::user(command).await,
    }
}

fn identity_of(service: Service) -> Identity {
    match service {
        Service::Gateway => Identity::gateway(),
        Service::Orchestrator => Identity::orchestrator(),
        Service::Connectors => Identity::connectors(),
        Service::Audit => Identity::audit(),
    }
}

fn name_of(service: Service) -> &'static str {
    match service {
        Service::Gateway => "gateway",
        Service::Orchestrator => "orchestrator",
        Service::Connectors => "connectors",
        Service::Audit => "audit",
    }
}

fn address_of(mesh: &Mesh, service: Service) -> &str {
    match service {
        Service::Gateway => &mesh.gateway_addr,
        Service::Orchestrator => &mesh.orchestrator_addr,
        Service::Connectors => &mesh.connectors_addr,
        Service::Audit => &mesh.audit_addr,
    }
}

/// `identity`'s certificate: from the configured files, else from the dev CA in the data dir.
fn credentials(mesh: &Mesh, identity: Identity) -> Result<MeshCredentials, CliError> {
    match (&mesh.tls_ca, &mesh.tls_cert, &mesh.tls_key) {
        (Some(ca), Some(cert), Some(key)) => Ok(MeshCredentials::from_files(
            identity,
            &CertFiles { ca: ca.clone(), cert: cert.clone(), key: key.clone() },
        )?),
        _ => Ok(MeshCredentials::dev(&mesh.data_dir, identity)?),
    }
}

/// The operator's certificate for client commands: configured files, else the existing dev CA (never a new one).
pub(crate) fn operator_credentials(mesh: &Mesh) -> Result<MeshCredentials, CliError> {
    match (&mesh.tls_ca, &mesh.tls_cert, &mesh.tls_key) {
        (Some(_), Some(_), Some(_)) => credentials(mesh, Identity::operator()),
        _ => Ok(MeshCredentials::dev_existing(&mesh.data_dir, Identity::operator())?),
    }
}

fn ensure_data_dir(dir: &Path) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|e| CliError::Usage(format!("cannot create data dir {}: {e}", dir.display())))
}

/// The store, opened once per process and shared by the services in it (on SQLite, one connection for all).
async fn open_store(platform: &Platform) -> Result<Store, CliError> {
    static STORE: tokio::sync::OnceCell<Store> = tokio::sync::OnceCell::const_new();
    let store = STORE
        .get_or_try_init(|| async {
            let config = match &platform.database_url {
                Some(url) if !url.is_empty() => StoreConfig::from_url(url.clone()),
                _ => StoreConfig::sqlite_in(&platform.mesh.data_dir),
            };
            Store::open(&config).await
        })
        .await?;
    Ok(store.clone())
}

/// The event bus, created once per process: Kafka when `KAFKA_BROKERS` is set, else the log in the store.
async fn event_bus(
    platform: &Platform,
    shutdown: &CancellationToken,
) -> Result<std::sync::Arc<dyn switchboard_events::EventBus>, CliError> {
    static BUS: tokio::sync::OnceCell<std::sync::Arc<dyn switchboard_events::EventBus>> =
        tokio::sync::OnceCell::const_new();
    let bus = BUS
        .get_or_try_init(|| async {
            let bus: std::sync::Arc<dyn switchboard_events::EventBus> = match &platform.kafka_brokers {
                Some(brokers) if !brokers.trim().is_empty() => {
                    let mut config = switchboard_events::KafkaConfig::new(brokers.trim());
                    config.batch_messages = platform.kafka_batch_messages.max(1);
                    let bus = switchboard_events::KafkaBus::new(config)
                        .map_err(|e| CliError::Usage(format!("KAFKA_BROKERS: {e}")))?;
                    // In the background: a broker that is down now is not fatal (the relay and consumers retry until
                    // it is back) and must not hold up the start.
                    let creating = bus.clone();
                    tokio::spawn(async move {
                        let topics = switchboard_events::topics::ALL;
                        if let Err(e) = switchboard_events::EventBus::ensure_topics(&creating, &topics).await {
                            tracing::warn!(error = %e, "cannot create the event topics yet; will retry on first use");
                        }
                    });
                    std::sync::Arc::new(bus)
                }
                _ => {
                    let bus = switchboard_events::EmbeddedBus::new(open_store(platform).await?);
                    let retention = Duration::from_secs(platform.event_retention_hours.max(1) * 3600);
                    tokio::spawn(bus.clone().run_retention(retention, shutdown.clone()));
                    std::sync::Arc::new(bus)
                }
            };
            tracing::info!(bus = bus.name(), "event bus");
            Ok::<_, CliError>(bus)
        })
        .await?;
    Ok(bus.clone())
}

/// A future that runs `service` on `listener` until `shutdown`.
async fn run_service(
    service: Service,
    platform: &Platform,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<futures::future::BoxFuture<'static, Result<(), CliError>>, CliError> {
    use futures::FutureExt;
    let mesh = &platform.mesh;
    let service_error =
        move |e: &dyn std::fmt::Display| CliError::Service { service: name_of(service), message: e.to_string() };
    Ok(match service {
        Service::Gateway => {
            let public_tls = match (&platform.public_tls_cert, &platform.public_tls_key) {
                (Some(cert), Some(key)) => Some(switchboard_mesh::tls::public_server_config(cert, key)?),
                _ => None,
            };
            let keys_dir = platform.jwt_keys_dir.clone().unwrap_or_else(|| mesh.data_dir.join("keys").join("jwt"));
            let config = GatewayConfig {
                public_tls,
                store: open_store(platform).await?,
                keys: TokenKeys::load_or_create(&keys_dir).map_err(|e| service_error(&e))?,
                credentials: credentials(mesh, Identity::gateway())?,
                backends: Backends {
                    audit: mesh.audit_addr.clone(),
                    connectors: mesh.connectors_addr.clone(),
                    orchestrator: mesh.orchestrator_addr.clone(),
                },
                lifetimes: TokenLifetimes {
                    access: Duration::from_secs(platform.access_token_ttl),
                    refresh: Duration::from_secs(platform.refresh_token_ttl),
                },
                rate_limits: rate_limits(platform).await?,
                cache: cache(platform).await?,
                trusted_proxies: platform
                    .trusted_proxies
                    .iter()
                    .filter(|p| !p.trim().is_empty())
                    .map(|p| p.parse().map_err(|e| CliError::Usage(format!("SWITCHBOARD_TRUSTED_PROXIES: {e}"))))
                    .collect::<Result<_, _>>()?,
                cors_origins: platform
                    .cors_origins
                    .iter()
                    .map(|o| {
                        o.trim().parse().map_err(|_| {
                            CliError::Usage(format!("SWITCHBOARD_CORS_ORIGINS: {o:?} is not a valid origin"))
                        })
                    })
                    .collect::<Result<_, _>>()?,
            };
            let admin = switchboard_mesh::server::bind(&mesh.gateway_admin_addr).await?;
            let listeners = Listeners { public: listener, admin };
            // The gateway writes audit records to the outbox; its process relays them to the bus.
            let relay = switchboard_events::outbox::OutboxRelay::new(
                open_store(platform).await?,
                event_bus(platform, &shutdown).await?,
                switchboard_events::outbox::RelayOptions::default(),
            );
            let relay_stop = shutdown.child_token();
            let relay = tokio::spawn(relay.run(relay_stop.clone()));
            async move {
                let served = switchboard_gateway::serve_with(config, listeners, shutdown).await;
                relay_stop.cancel();
                let _ = relay.await;
                served.map_err(|e| service_error(&e))
            }
            .boxed()
        }
        Service::Orchestrator => {
            let config = OrchestratorConfig { credentials: credentials(mesh, Identity::orchestrator())? };
            switchboard_orchestrator::serve_with(config, listener, shutdown)
                .map(move |r| r.map_err(|e| service_error(&e)))
                .boxed()
        }
        Service::Connectors => {
            let config = ConnectorsConfig { credentials: credentials(mesh, Identity::connectors())? };
            switchboard_connectors::serve_with(config, listener, shutdown)
                .map(move |r| r.map_err(|e| service_error(&e)))
                .boxed()
        }
        Service::Audit => {
            let key_path = platform
                .audit_signing_key
                .clone()
                .unwrap_or_else(|| mesh.data_dir.join("keys").join("audit-checkpoint.p8"));
            let config = AuditConfig {
                store: open_store(platform).await?,
                signer: CheckpointSigner::load_or_create(&key_path)?,
                credentials: credentials(mesh, Identity::audit())?,
                bus: Some(event_bus(platform, &shutdown).await?),
            };
            switchboard_audit::serve_with(config, listener, shutdown)
                .map(move |r| r.map_err(|e| service_error(&e)))
                .boxed()
        }
    })
}

/// The process's Redis connections (cache and rate limiter share them), when `REDIS_URL` is set.
async fn redis(platform: &Platform) -> Result<Option<switchboard_cache::RedisCache>, CliError> {
    static REDIS: tokio::sync::OnceCell<Option<switchboard_cache::RedisCache>> = tokio::sync::OnceCell::const_new();
    let redis = REDIS
        .get_or_try_init(|| async {
            match &platform.redis_url {
                Some(url) if !url.is_empty() => switchboard_cache::RedisCache::connect(url, Duration::from_millis(500))
                    .await
                    .map(Some)
                    .map_err(|e| CliError::Usage(format!("REDIS_URL: {e}"))),
                _ => Ok(None),
            }
        })
        .await?;
    Ok(redis.clone())
}

/// The cache (revoked sessions): Redis when `REDIS_URL` is set, else in-process.
async fn cache(platform: &Platform) -> Result<std::sync::Arc<dyn switchboard_cache::Cache>, CliError> {
    Ok(match redis(platform).await? {
        Some(redis) => std::sync::Arc::new(redis),
        None => std::sync::Arc::new(switchboard_cache::MemoryCache::new()),
    })
}

/// The gateway's rate limiting: in Redis (on the cache's connections) when `REDIS_URL` is set, else in-process.
async fn rate_limits(platform: &Platform) -> Result<RateLimits, CliError> {
    let store: std::sync::Arc<dyn switchboard_ratelimit::RateLimitStore> = match redis(platform).await? {
        Some(redis) => std::sync::Arc::new(
            switchboard_ratelimit::RedisStore::from_pool(
                redis.pool().clone(),
                redis.endpoint().to_owned(),
                Duration::from_millis(500),
            )
            .await
            .map_err(|e| CliError::Usage(format!("REDIS_URL: {e}")))?,
        ),
        None => std::sync::Arc::new(switchboard_ratelimit::MemoryStore::new()),
    };
    Ok(RateLimits {
        store,
        default_per_minute: platform.rate_limit_per_minute.max(1),
        on_store_error: if platform.rate_limit_on_store_error == "deny" {
            OnStoreError::Deny
        } else {
            OnStoreError::Allow
        },
    })
}

const ALL: [Service; 4] = [Service::Audit, Service::Connectors, Service::Orchestrator, Service::Gateway];

async fn up(platform: Platform) -> Result<ExitCode, CliError> {
    let _telemetry = switchboard_telemetry::init("switchboard")?;
    ensure_data_dir(&platform.mesh.data_dir)?;
    let shutdown = switchboard_mesh::shutdown::on_signals();
    // Bind everything before starting anything: a taken port fails the whole start, with its address.
    let mut listeners = Vec::new();
    for service in ALL {
        listeners.push((service, switchboard_mesh::server::bind(address_of(&platform.mesh, service)).await?));
    }
    let mut tasks = JoinSet::new();
    for (service, listener) in listeners {
        let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let future = run_service(service, &platform, listener, shutdown.clone()).await?;
        tracing::info!(service = name_of(service), %addr, "starting");
        tasks.spawn(future);
    }
    tracing::info!(
        gateway = %platform.mesh.gateway_addr,
        data_dir = %platform.mesh.data_dir.display(),
        "Switchboard is up; Ctrl-C to stop"
    );
    wait_all(tasks, shutdown).await
}

async fn serve_one(service: Service, platform: Platform, listen: Option<String>) -> Result<ExitCode, CliError> {
    let _telemetry = switchboard_telemetry::init(&format!("switchboard-{}", name_of(service)))?;
    ensure_data_dir(&platform.mesh.data_dir)?;
    let shutdown = switchboard_mesh::shutdown::on_signals();
    let addr = listen.unwrap_or_else(|| address_of(&platform.mesh, service).to_owned());
    let listener = switchboard_mesh::server::bind(&addr).await?;
    let mut tasks = JoinSet::new();
    tasks.spawn(run_service(service, &platform, listener, shutdown.clone()).await?);
    wait_all(tasks, shutdown).await
}

/// Waits for every service; the first failure stops the others and fails the process.
async fn wait_all(mut tasks: JoinSet<Result<(), CliError>>, shutdown: CancellationToken) -> Result<ExitCode, CliError> {
    let mut failed = false;
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.unwrap_or_else(|e| Err(CliError::Usage(format!("a service task panicked: {e}"))));
        if let Err(e) = outcome {
            tracing::error!(error = %e, "service stopped; shutting down the rest");
            eprintln!("switchboard: {e}");
            failed = true;
            shutdown.cancel();
        }
    }
    tracing::info!("stopped");
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn certs_init(mesh: &Mesh) -> Result<ExitCode, CliError> {
    let dir = mesh.data_dir.join("certs");
    let ca = DevCa::open_or_create(&dir)?;
    for identity in
        [Identity::gateway(), Identity::orchestrator(), Identity::connectors(), Identity::audit(), Identity::operator()]
    {
        let files = ca.ensure_leaf(&identity)?;
        println!("{:<13} {}  (key {})", identity.name(), files.cert.display(), files.key.display());
    }
    println!("CA            {}", dir.join("ca.pem").display());
    Ok(ExitCode::SUCCESS)
}

async fn health(client: &Client) -> Result<ExitCode, CliError> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let operator = operator_credentials(&client.mesh)?;
    let mut all_serving = true;
    for service in [Service::Gateway, Service::Orchestrator, Service::Connectors, Service::Audit] {
        let addr = address_of(&client.mesh, service);
        let channel = if service == Service::Gateway {
            tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                .map_err(|_| CliError::Usage(format!("invalid gateway address {addr:?}")))?
                .connect_lazy()
        } else {
            switchboard_mesh::client::channel(addr, &identity_of(service), &operator)?
        };
        let mut request = tonic::Request::new(HealthCheckRequest { service: String::new() });
        request.set_timeout(Duration::from_secs(3));
        let status = match HealthClient::new(channel).check(request).await {
            Ok(response) => format!("{:?}", response.into_inner().status()).to_uppercase(),
            Err(e) => format!("UNREACHABLE ({:?}: {})", e.code(), e.message()),
        };
        all_serving &= status == "SERVING";
        println!("{:<13} {addr:<22} {status}", name_of(service));
    }
    Ok(if all_serving { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn audit_verify(tenant: &str, client: &Client) -> Result<ExitCode, CliError> {
    let tenant: TenantId = tenant.parse().map_err(|e| CliError::Usage(format!("--tenant: {e}")))?;
    let operator = operator_credentials(&client.mesh)?;
    let channel = switchboard_mesh::client::channel(&client.mesh.audit_addr, &Identity::audit(), &operator)?;
    let context = RequestContext::new_root().with_tenant(tenant);
    let mut request = context.request(VerifyChainRequest {});
    request.set_timeout(Duration::from_secs(120));
    let result = AuditServiceClient::new(channel).verify_chain(request).await.map_err(|s| CliError::Rpc {
        service: "audit",
        code: s.code(),
        message: s.message().to_owned(),
    })?;
    let report = result.into_inner();
    if report.valid {
        println!(
            "tenant {tenant}: audit chain valid: {} events, head seq {}, head hash {}",
            report.checked_events,
            report.head_seq,
            if report.head_hash.is_empty() { "-".to_owned() } else { hex_string(&report.head_hash) },
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "tenant {tenant}: audit chain INVALID at seq {}: {} ({} events verified before it)",
            report.first_invalid_seq, report.reason, report.checked_events
        );
        Ok(ExitCode::FAILURE)
    }
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
