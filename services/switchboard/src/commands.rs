//! What each subcommand does. The platform itself is built by [`switchboard::Platform`]; this module only runs it
//! and the client commands.

use std::process::ExitCode;
use std::time::Duration;

use switchboard::config::{AuditCommand, CertsCommand, Cli, Client, Command, Mesh, PlatformConfig, Service};
use switchboard::{Listeners, Platform, PlatformError};
use switchboard_mesh::context::RequestContext;
use switchboard_mesh::pki::MeshCredentials;
use switchboard_mesh::{Identity, MeshError};
use switchboard_proto::audit::v1::VerifyChainRequest;
use switchboard_proto::audit::v1::audit_service_client::AuditServiceClient;
use switchboard_store::TenantId;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    #[error(transparent)]
    Mesh(#[from] MeshError),
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error(transparent)]
    Telemetry(#[from] switchboard_telemetry::TelemetryError),
    #[error("{0}")]
    Usage(String),
    #[error("{service} answered {code:?}: {message}")]
    Rpc { service: &'static str, code: tonic::Code, message: String },
}

pub(crate) async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Up(platform) => up(platform).await,
        Command::Migrate(platform) => migrate(platform).await,
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
        Command::Connectors { command } => crate::connectors::run(command).await,
        Command::Demo(args) => crate::connectors::demo(args).await,
        Command::Ask(args) => crate::ask::ask(args).await,
        Command::Login(args) => crate::mcp::login(args).await,
        Command::Mcp(args) => crate::mcp::serve(args).await,
    }
}

/// The operator's certificate for client commands: configured files, else the operator's files from the dev CA
/// (never the CA's key).
pub(crate) fn operator_credentials(mesh: &Mesh) -> Result<MeshCredentials, CliError> {
    Ok(switchboard::credentials(mesh, Identity::operator())?)
}

/// The data dir holds keys and the database: created 0700, with a warning if it is open to others.
fn ensure_data_dir(dir: &std::path::Path) -> Result<(), CliError> {
    switchboard_mesh::pki::create_private_dir(dir)
        .map_err(|e| CliError::Usage(format!("cannot create data dir {}: {e}", dir.display())))
}

fn uses_dev_certs(mesh: &Mesh) -> bool {
    mesh.tls_ca.is_none() || mesh.tls_cert.is_none() || mesh.tls_key.is_none()
}

async fn migrate(config: PlatformConfig) -> Result<ExitCode, CliError> {
    let _telemetry = switchboard_telemetry::init("switchboard")?;
    if config.database_url.is_none() {
        ensure_data_dir(&config.mesh.data_dir)?;
    }
    let platform = Platform::new(config);
    let store = platform.open_store().await?;
    switchboard::migrate_all(&store).await?;
    tracing::info!("every service's migrations are applied");
    Ok(ExitCode::SUCCESS)
}

async fn up(config: PlatformConfig) -> Result<ExitCode, CliError> {
    let _telemetry = switchboard_telemetry::init("switchboard")?;
    ensure_data_dir(&config.mesh.data_dir)?;
    if uses_dev_certs(&config.mesh) {
        // The one step of `up` that reads the dev CA's key, as `certs init` would; services read only their own.
        switchboard::init_dev_certs(&config.mesh.data_dir)?;
    }
    let shutdown = switchboard_mesh::shutdown::on_signals();
    // Bind everything before starting anything: a taken port fails the whole start, with its address.
    let listeners = Listeners::bind_all(&config.mesh).await?.with_metrics(&config.metrics_addr).await?;
    let (gateway, data_dir) = (config.mesh.gateway_addr.clone(), config.mesh.data_dir.clone());
    let probes = ProbePort::bind(config.health_addr.as_deref(), &shutdown).await?;
    let platform = Platform::new(config);
    let running = platform.start(listeners, shutdown.clone()).await?;
    probes.serving().await;
    tracing::info!(%gateway, data_dir = %data_dir.display(), "Switchboard is up; Ctrl-C to stop");
    finish(running.wait().await)
}

async fn serve_one(service: Service, config: PlatformConfig, listen: Option<String>) -> Result<ExitCode, CliError> {
    let _telemetry = switchboard_telemetry::init(&format!("switchboard-{}", service.name()))?;
    ensure_data_dir(&config.mesh.data_dir)?;
    let shutdown = switchboard_mesh::shutdown::on_signals();
    let listeners = Listeners::default()
        .bind(&config.mesh, service, listen.as_deref())
        .await?
        .with_metrics(&config.metrics_addr)
        .await?;
    let probes = ProbePort::bind(config.health_addr.as_deref(), &shutdown).await?;
    let platform = Platform::new(config);
    let running = platform.start(listeners, shutdown).await?;
    probes.serving().await;
    finish(running.wait().await)
}

/// The plaintext health port (`--health-addr`): `grpc.health.v1` alone, for probes that cannot present a mesh
/// certificate (the kubelet's). NOT_SERVING until the process's services have started, and again from the first
/// shutdown signal, while they drain; it answers until the process exits.
struct ProbePort(Option<(tonic_health::server::HealthReporter, tokio_util::sync::CancellationToken)>);

impl ProbePort {
    /// Binds `addr` (a taken port fails the start, as the services' own ports do) and serves on it.
    async fn bind(addr: Option<&str>, shutdown: &tokio_util::sync::CancellationToken) -> Result<Self, CliError> {
        use tonic_health::ServingStatus;
        let Some(addr) = addr.map(str::trim).filter(|a| !a.is_empty()) else { return Ok(Self(None)) };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| CliError::Usage(format!("cannot listen on {addr} (SWITCHBOARD_HEALTH_ADDR): {e}")))?;
        let (reporter, service) = tonic_health::server::health_reporter();
        reporter.set_service_status("", ServingStatus::NotServing).await;
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        tokio::spawn(async move {
            if let Err(error) =
                tonic::transport::Server::builder().add_service(service).serve_with_incoming(incoming).await
            {
                tracing::error!(%error, "the health port stopped");
            }
        });
        let draining = reporter.clone();
        let signalled = shutdown.clone();
        tokio::spawn(async move {
            signalled.cancelled().await;
            draining.set_service_status("", ServingStatus::NotServing).await;
        });
        tracing::info!(%addr, "health port listening (plaintext, grpc.health.v1 only)");
        Ok(Self(Some((reporter, shutdown.clone()))))
    }

    /// Reports SERVING: every service of the process has started.
    async fn serving(&self) {
        if let Some((reporter, shutdown)) = &self.0 {
            reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
            // A signal that came meanwhile may have been reported before the line above: report it again.
            if shutdown.is_cancelled() {
                reporter.set_service_status("", tonic_health::ServingStatus::NotServing).await;
            }
        }
    }
}

fn finish(outcome: Result<(), PlatformError>) -> Result<ExitCode, CliError> {
    tracing::info!("stopped");
    match outcome {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("switchboard: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn certs_init(mesh: &Mesh) -> Result<ExitCode, CliError> {
    ensure_data_dir(&mesh.data_dir)?;
    for (identity, files) in switchboard::init_dev_certs(&mesh.data_dir)? {
        println!("{:<13} {}  (key {})", identity.name(), files.cert.display(), files.key.display());
    }
    println!("CA            {}", mesh.data_dir.join("certs").join("ca.pem").display());
    Ok(ExitCode::SUCCESS)
}

async fn health(client: &Client) -> Result<ExitCode, CliError> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let operator = operator_credentials(&client.mesh)?;
    let mut all_serving = true;
    for service in [Service::Gateway, Service::Orchestrator, Service::Connectors, Service::Audit] {
        let addr = service.address(&client.mesh);
        let channel = if service == Service::Gateway {
            tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                .map_err(|_| CliError::Usage(format!("invalid gateway address {addr:?}")))?
                .connect_lazy()
        } else {
            switchboard_mesh::client::channel(addr, &service.identity(), &operator)?
        };
        let mut request = tonic::Request::new(HealthCheckRequest { service: String::new() });
        request.set_timeout(Duration::from_secs(3));
        let status = match HealthClient::new(channel).check(request).await {
            Ok(response) => format!("{:?}", response.into_inner().status()).to_uppercase(),
            Err(e) => format!("UNREACHABLE ({:?}: {})", e.code(), e.message()),
        };
        all_serving &= status == "SERVING";
        println!("{:<13} {addr:<22} {status}", service.name());
    }
    Ok(if all_serving { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn audit_verify(tenant: &str, client: &Client) -> Result<ExitCode, CliError> {
    let tenant: TenantId = crate::admin::resolve_tenant(tenant, client).await?;
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
