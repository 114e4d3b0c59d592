//! Command line and environment. Every setting is a flag with an `env` twin and a default that works on a fresh
//! machine; the README's configuration table lists the same names. [`PlatformConfig`] is what
//! [`crate::Platform`] is built from, in `switchboard up`/`serve` and in the tests alike.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// What `--version` prints: the package's version and the commit it was built from, when the build said so
/// (`SWITCHBOARD_COMMIT` in the build's environment, as the Dockerfile sets it).
pub static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let commit = option_env!("SWITCHBOARD_COMMIT").filter(|c| !c.is_empty()).unwrap_or("unknown");
    format!("{} (commit {commit})", env!("CARGO_PKG_VERSION"))
});

/// Switchboard: an AI command platform for small businesses.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version = VERSION.as_str(), about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole platform in one process: gateway, orchestrator, connectors and audit.
    Up(PlatformConfig),
    /// Apply every service's database migrations, then exit. Each process also migrates when it starts, unless
    /// `--migrate-on-start false` (the Helm chart runs this once per install and upgrade, in a Job, instead).
    Migrate(PlatformConfig),
    /// Run one service.
    Serve {
        /// Which service.
        service: Service,
        #[command(flatten)]
        platform: PlatformConfig,
        /// Address to listen on, instead of the service's address from the mesh settings
        /// (e.g. 0.0.0.0:7101 in a container while others dial audit:7101).
        #[arg(long, env = "SWITCHBOARD_LISTEN")]
        listen: Option<String>,
    },
    /// Manage mesh certificates.
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// Ask every service for its gRPC health status.
    Health(Client),
    /// Audit log commands.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print the OpenAPI 3.1 document of the public REST API.
    Openapi,
    /// Tenant administration (through the gateway's admin listener, as operator).
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// User administration (through the gateway's admin listener, as operator).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Provider connections: sync with progress, list, rotate the vault's key-encryption key.
    Connectors {
        #[command(subcommand)]
        command: ConnectorsCommand,
    },
    /// Create (once) the demo tenant and owner, and connect it to the sandbox's demo Stripe account and Shopify shop;
    /// `make run` calls it once the platform is up.
    Demo(DemoArgs),
    /// Ask the assistant a question, signed in through the gateway as a user: shows the plan, the steps and the
    /// answer as they stream, and asks before any step that changes something.
    Ask(AskArgs),
    /// Sign in to a gateway as a user and keep the session (a refresh token, in `login.json` under the config
    /// directory, readable by you alone) for `switchboard mcp`. The password is read from standard input.
    Login(LoginArgs),
    /// Serve MCP (Model Context Protocol) on stdin and stdout for an assistant such as Claude Desktop or Claude
    /// Code: the command to put in its configuration. It uses the gateway's API as the person signed in with
    /// `switchboard login`, or whose access token is in SWITCHBOARD_TOKEN.
    Mcp(McpArgs),
}

/// Where `switchboard mcp` reaches the platform, and as whom.
#[derive(Clone, Args)]
pub struct McpArgs {
    /// The gateway's public URL (https:// verified against the public roots, or http:// on loopback); default: the
    /// stored login's, else http://127.0.0.1:8080.
    #[arg(long, env = "SWITCHBOARD_URL")]
    pub gateway_url: Option<String>,
    /// An access token from the gateway's login (`POST /v1/auth:login`, `accessToken`), used instead of the stored
    /// login until it expires.
    #[arg(long, env = "SWITCHBOARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Where `switchboard login` keeps the session (default: $XDG_CONFIG_HOME/switchboard, else ~/.config/switchboard).
    #[arg(long, env = "SWITCHBOARD_CONFIG_DIR")]
    pub config_dir: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for McpArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("McpArgs").field("gateway_url", &self.gateway_url).finish_non_exhaustive()
    }
}

/// Whom `switchboard login` signs in, and where.
#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// The gateway's public URL.
    #[arg(long, env = "SWITCHBOARD_URL", default_value = "http://127.0.0.1:8080")]
    pub gateway_url: String,
    /// The tenant's slug.
    #[arg(long)]
    pub tenant: String,
    /// The user's email.
    #[arg(long)]
    pub email: String,
    /// Where to keep the session (default: $XDG_CONFIG_HOME/switchboard, else ~/.config/switchboard).
    #[arg(long, env = "SWITCHBOARD_CONFIG_DIR")]
    pub config_dir: Option<std::path::PathBuf>,
}

/// Who asks, and where.
#[derive(Debug, Clone, Args)]
pub struct AskArgs {
    /// The question, such as "How much revenue did we make last week?".
    pub question: String,
    /// The tenant's slug.
    #[arg(long, env = "SWITCHBOARD_ASK_TENANT", default_value = "demo")]
    pub tenant: String,
    /// The user's email.
    #[arg(long, env = "SWITCHBOARD_ASK_EMAIL", default_value = "owner@demo.example")]
    pub email: String,
    /// The user's password.
    #[arg(long, env = "SWITCHBOARD_ASK_PASSWORD", default_value = "demo-password-1", hide_default_value = true)]
    pub password: String,
    /// The gateway's public URL.
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
    pub gateway_url: String,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process; boxing would only obscure the clap derive
pub enum ConnectorsCommand {
    /// Sync a connection and follow it with a progress bar (ETA from the connection's previous sync).
    Sync {
        /// The tenant's slug or id.
        #[arg(long)]
        tenant: String,
        /// The connection, `connections/{id}` or its id.
        connection: String,
        /// Fetch everything instead of only what changed since the last sync.
        #[arg(long)]
        full: bool,
        #[command(flatten)]
        client: Client,
    },
    /// List a tenant's connections.
    List {
        /// The tenant's slug or id.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        client: Client,
    },
    /// Put a new key-encryption key first in the keys file and re-wrap every credential's data key under it
    /// (secrets are not re-encrypted). Run with the platform stopped; services read the keys file at start.
    RotateKek {
        /// Also drop every older key from the file once everything is re-wrapped.
        #[arg(long)]
        retire: bool,
        #[command(flatten)]
        platform: PlatformConfig,
    },
}

/// What `switchboard demo` creates.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// The demo tenant's slug.
    #[arg(long, default_value = "demo")]
    pub tenant: String,
    /// The owner's email.
    #[arg(long, default_value = "owner@demo.example")]
    pub email: String,
    /// The owner's password.
    #[arg(long, env = "SWITCHBOARD_DEMO_PASSWORD", default_value = "demo-password-1")]
    pub password: String,
    /// A Stripe secret key for the demo account (the sandbox's).
    #[arg(long, default_value = "sk_test_sandbox_demo")]
    pub stripe_key: String,
    /// The demo shop's domain.
    #[arg(long, default_value = "demo-shop.myshopify.com")]
    pub shop: String,
    /// An admin API access token for the demo shop (the sandbox's).
    #[arg(long, default_value = "shpat_sandbox_demo")]
    pub shopify_token: String,
    /// The gateway's public URL: QuickBooks and HubSpot are connected through it with OAuth, signed in as the owner.
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
    pub gateway_url: String,
    /// Providers to connect through OAuth (comma-separated; empty for none).
    #[arg(long, env = "SWITCHBOARD_DEMO_OAUTH", value_delimiter = ',', default_value = "quickbooks,hubspot")]
    pub oauth: Vec<String>,
    #[command(flatten)]
    pub client: Client,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant; prints its id.
    Create {
        /// Short unique name used at login (2-63 of a-z, 0-9, '-').
        slug: String,
        /// Human-readable name (defaults to the slug).
        #[arg(long)]
        display_name: Option<String>,
        #[command(flatten)]
        client: Client,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        client: Client,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input (first line).
    Create {
        /// The tenant's slug or id.
        #[arg(long)]
        tenant: String,
        /// The user's email (their login name).
        #[arg(long)]
        email: String,
        /// owner, admin, member or viewer.
        #[arg(long, default_value = "member")]
        role: String,
        /// Human-readable name.
        #[arg(long, default_value = "")]
        display_name: String,
        #[command(flatten)]
        client: Client,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Create the development CA and a certificate for each service and the operator (existing files are kept).
    Init {
        #[command(flatten)]
        mesh: Mesh,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute a tenant's hash chain and check it against its signed checkpoint. Exit 0 when valid, 1 when not.
    Verify {
        /// The tenant's slug or id.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        client: Client,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Service {
    Gateway,
    Orchestrator,
    Connectors,
    Audit,
}

/// Where each service listens and is dialled, and where local state lives.
#[derive(Debug, Clone, Args)]
pub struct Mesh {
    /// Directory for local state: SQLite database, dev CA and certificates, signing keys.
    #[arg(long, env = "SWITCHBOARD_DATA_DIR", default_value = ".switchboard")]
    pub data_dir: PathBuf,
    /// The gateway's public address (gRPC now; gRPC-Web and REST with the edge work).
    #[arg(long, env = "SWITCHBOARD_GATEWAY_ADDR", default_value = "127.0.0.1:8080")]
    pub gateway_addr: String,
    /// The gateway's admin address (mTLS, operators only): tenant and user administration.
    #[arg(long, env = "SWITCHBOARD_GATEWAY_ADMIN_ADDR", default_value = "127.0.0.1:7100")]
    pub gateway_admin_addr: String,
    /// The audit service's mesh address.
    #[arg(long, env = "SWITCHBOARD_AUDIT_ADDR", default_value = "127.0.0.1:7101")]
    pub audit_addr: String,
    /// The connectors service's mesh address.
    #[arg(long, env = "SWITCHBOARD_CONNECTORS_ADDR", default_value = "127.0.0.1:7102")]
    pub connectors_addr: String,
    /// The orchestrator's mesh address.
    #[arg(long, env = "SWITCHBOARD_ORCHESTRATOR_ADDR", default_value = "127.0.0.1:7103")]
    pub orchestrator_addr: String,
    /// PEM CA bundle to trust for mesh peers, instead of the dev CA in the data dir.
    #[arg(long, env = "SWITCHBOARD_TLS_CA", requires_all = ["tls_cert", "tls_key"])]
    pub tls_ca: Option<PathBuf>,
    /// PEM certificate chain of this workload (its URI SAN names it: spiffe://switchboard.local/<name>).
    #[arg(long, env = "SWITCHBOARD_TLS_CERT", requires_all = ["tls_ca", "tls_key"])]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of this workload.
    #[arg(long, env = "SWITCHBOARD_TLS_KEY", requires_all = ["tls_ca", "tls_cert"])]
    pub tls_key: Option<PathBuf>,
}

/// Settings for running services.
#[derive(Debug, Clone, Args)]
pub struct PlatformConfig {
    #[command(flatten)]
    pub mesh: Mesh,
    /// PostgreSQL URL (postgres://user@host/db); SQLite in the data dir when unset.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// PostgreSQL schema holding Switchboard's tables, instead of the connecting user's default (`public`).
    #[arg(long, env = "SWITCHBOARD_DATABASE_SCHEMA")]
    pub database_schema: Option<String>,
    /// Apply the database migrations when the process starts (idempotent). `false` when something else runs
    /// `switchboard migrate` first, such as the Helm chart's migration Job.
    #[arg(long, env = "SWITCHBOARD_MIGRATE_ON_START", default_value_t = true, action = clap::ArgAction::Set)]
    pub migrate_on_start: bool,
    /// PEM certificate for TLS on the gateway's public port (as behind an ingress); plaintext when unset.
    #[arg(long, env = "SWITCHBOARD_PUBLIC_TLS_CERT", requires = "public_tls_key")]
    pub public_tls_cert: Option<PathBuf>,
    /// PEM private key for the public port.
    #[arg(long, env = "SWITCHBOARD_PUBLIC_TLS_KEY", requires = "public_tls_cert")]
    pub public_tls_key: Option<PathBuf>,
    /// Requests per minute allowed per tenant (unless the tenant has its own limit), per user and per anonymous
    /// client address.
    #[arg(long, env = "SWITCHBOARD_RATE_LIMIT_PER_MINUTE", default_value_t = 100)]
    pub rate_limit_per_minute: u32,
    /// Provider webhooks (`POST /v1/webhooks/{provider}`) allowed per minute per client address, counted apart from
    /// the anonymous limit above so that a provider's burst never locks out sign-ins from the same address.
    #[arg(long, env = "SWITCHBOARD_WEBHOOK_RATE_LIMIT_PER_MINUTE", default_value_t = 6000)]
    pub webhook_rate_limit_per_minute: u32,
    /// Redis for rate-limit counters, revoked sessions and cached settings shared by gateway replicas
    /// (redis://[:password@]host:port, rediss:// for TLS); in-process when unset.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// PEM bundle of the CAs that sign the Redis server's certificate (rediss://); the system's roots when unset.
    #[arg(long, env = "REDIS_TLS_CA_FILE")]
    pub redis_tls_ca_file: Option<PathBuf>,
    /// When the cache cannot say whether a token was revoked: `allow` it (default) or `deny` the request with 503.
    #[arg(long, env = "SWITCHBOARD_REVOCATION_ON_CACHE_ERROR", default_value = "allow", value_parser = ["allow", "deny"])]
    pub revocation_on_cache_error: String,
    /// Qdrant server (gRPC, e.g. http://127.0.0.1:6334, or https:// for TLS) for the knowledge base's vectors; an embedded index in the
    /// data dir when unset.
    #[arg(long, env = "QDRANT_URL")]
    pub qdrant_url: Option<String>,
    /// Qdrant's API key (Qdrant Cloud, or a server with `service.api_key`), sent with every call.
    #[arg(long, env = "QDRANT_API_KEY", hide_env_values = true)]
    pub qdrant_api_key: Option<String>,
    /// Kafka brokers for the event bus (host:port[,host:port...]); an event log in the database when unset.
    #[arg(long, env = "KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,
    /// TLS to the Kafka brokers.
    #[arg(long, env = "KAFKA_TLS", default_value_t = false)]
    pub kafka_tls: bool,
    /// PEM bundle of the CAs that sign the brokers' certificates; the system's roots when unset.
    #[arg(long, env = "KAFKA_TLS_CA_FILE")]
    pub kafka_tls_ca_file: Option<PathBuf>,
    /// PEM client certificate for brokers that require mutual TLS.
    #[arg(long, env = "KAFKA_TLS_CERT_FILE", requires = "kafka_tls_key_file")]
    pub kafka_tls_cert_file: Option<PathBuf>,
    /// PEM key of the client certificate.
    #[arg(long, env = "KAFKA_TLS_KEY_FILE", requires = "kafka_tls_cert_file")]
    pub kafka_tls_key_file: Option<PathBuf>,
    /// SASL mechanism: SCRAM-SHA-256, SCRAM-SHA-512, or PLAIN (with KAFKA_TLS only); no SASL when unset.
    #[arg(long, env = "KAFKA_SASL_MECHANISM", requires_all = ["kafka_sasl_username", "kafka_sasl_password"])]
    pub kafka_sasl_mechanism: Option<String>,
    /// SASL user.
    #[arg(long, env = "KAFKA_SASL_USERNAME")]
    pub kafka_sasl_username: Option<String>,
    /// SASL password.
    #[arg(long, env = "KAFKA_SASL_PASSWORD", hide_env_values = true)]
    pub kafka_sasl_password: Option<String>,
    /// The keys that sign and verify every event on the bus: a file of `<kid> <base64url key>` lines, the first
    /// signing; every process of the platform needs the same file. Generated at <data dir>/keys/events.keys when
    /// unset.
    #[arg(long, env = "SWITCHBOARD_EVENT_KEYS_FILE")]
    pub event_keys_file: Option<PathBuf>,
    /// Most messages per Kafka record batch. 1 (the default) is safe on every broker; tansu 0.6 loses the rest of a
    /// batch when a consumer resumes inside it. On Apache Kafka raise it (e.g. 10000) for throughput.
    #[arg(long, env = "KAFKA_BATCH_MESSAGES", default_value_t = 1)]
    pub kafka_batch_messages: u32,
    /// A plaintext gRPC health port (`grpc.health.v1` only, no other service) for probes that cannot present a
    /// mesh certificate, such as the kubelet's gRPC probes: SERVING once this process's services have started,
    /// NOT_SERVING from the first shutdown signal. Off when unset.
    #[arg(long, env = "SWITCHBOARD_HEALTH_ADDR")]
    pub health_addr: Option<String>,
    /// Where Prometheus scrapes `GET /metrics` (never the public port); empty turns it off.
    #[arg(long, env = "SWITCHBOARD_METRICS_ADDR", default_value = "127.0.0.1:9464")]
    pub metrics_addr: String,
    /// How often the outbox relay looks for events written by other processes, in milliseconds (events written in
    /// this process wake it at once).
    #[arg(long, env = "SWITCHBOARD_OUTBOX_POLL_MS", default_value_t = 200)]
    pub outbox_poll_ms: u64,
    /// How long the embedded event log keeps messages, in hours (Kafka brokers keep to their own retention).
    #[arg(long, env = "SWITCHBOARD_EVENT_RETENTION_HOURS", default_value_t = 7 * 24)]
    pub event_retention_hours: u64,
    /// When the rate-limit store (Redis) is unreachable: `allow` requests (default) or `deny` them with 503.
    #[arg(long, env = "SWITCHBOARD_RATE_LIMIT_ON_STORE_ERROR", default_value = "allow", value_parser = ["allow", "deny"])]
    pub rate_limit_on_store_error: String,
    /// Proxies whose X-Forwarded-For is believed for per-client rate limits, comma-separated addresses or CIDR
    /// blocks (e.g. the ingress's 10.0.0.0/8); none when unset.
    #[arg(long, env = "SWITCHBOARD_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// Browser origins allowed to call the public port (CORS), comma-separated; none when unset.
    #[arg(long, env = "SWITCHBOARD_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// The web console's built files (`web/dist`, made by `npm run build` in web/), served at `/` on the public
    /// port; no console when unset.
    #[arg(long, env = "SWITCHBOARD_CONSOLE_DIR")]
    pub console_dir: Option<PathBuf>,
    /// Directory of Ed25519 PKCS#8 keys that sign access tokens (newest signs, all verify); <data dir>/keys/jwt
    /// when unset, with a key generated on first run.
    #[arg(long, env = "SWITCHBOARD_JWT_KEYS_DIR")]
    pub jwt_keys_dir: Option<PathBuf>,
    /// The kid (file name without `.p8`) of the JWT key that signs; the one named in <keys dir>/active when unset.
    #[arg(long, env = "SWITCHBOARD_JWT_ACTIVE_KID")]
    pub jwt_active_kid: Option<String>,
    /// Most connections open at once on the public port.
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Most connections open at once on the public port from one client (an IPv4 address or an IPv6 /64; trusted
    /// proxies are exempt).
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 256)]
    pub max_connections_per_client: usize,
    /// How long a stream to a caller without an access token (a health Watch) may last on the public port, seconds.
    #[arg(long, env = "SWITCHBOARD_ANONYMOUS_STREAM_LIFETIME", default_value_t = 300)]
    pub anonymous_stream_lifetime: u64,
    /// Access token lifetime, seconds.
    #[arg(long, env = "SWITCHBOARD_ACCESS_TOKEN_TTL", default_value_t = 900)]
    pub access_token_ttl: u64,
    /// Refresh token lifetime, seconds: a session not refreshed for this long ends.
    #[arg(long, env = "SWITCHBOARD_REFRESH_TOKEN_TTL", default_value_t = 30 * 24 * 3600)]
    pub refresh_token_ttl: u64,
    /// Session lifetime, seconds, counted from the login: however often it is refreshed, a session (and a stolen
    /// copy of its refresh token) ends after this.
    #[arg(long, env = "SWITCHBOARD_SESSION_LIFETIME", default_value_t = 90 * 24 * 3600)]
    pub session_lifetime: u64,
    /// Ed25519 PKCS#8 key that signs audit checkpoints; generated at <data dir>/keys/audit-checkpoint.p8 when unset.
    #[arg(long, env = "SWITCHBOARD_AUDIT_SIGNING_KEY")]
    pub audit_signing_key: Option<PathBuf>,
    /// Directory of the local sentence-embedding model (all-MiniLM-L6-v2) the orchestrator routes questions with;
    /// ~/.cache/switchboard/models/all-minilm-l6-v2 when unset (scripts/fetch-embedding-model.sh puts it there).
    /// Without the model the hashed n-gram embedder is used, which matches words rather than meaning, and an error
    /// is logged.
    #[arg(long, env = "SWITCHBOARD_EMBEDDING_MODEL_DIR")]
    pub embedding_model_dir: Option<PathBuf>,
    #[command(flatten)]
    pub connectors: ConnectorsArgs,
    #[command(flatten)]
    pub models: ModelsArgs,
}

/// The orchestrator's model providers. With no key set the orchestrator plans with its offline assistant. The
/// names are `switchboard_models::providers_from_env`'s, which reads these values (so a flag and its variable mean
/// the same thing, with the same checks and defaults).
#[derive(Debug, Clone, Args)]
pub struct ModelsArgs {
    /// Enables OpenAI (Chat Completions) as a model provider.
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<String>,
    /// OpenAI API base, with or without `/v1` (a compatible server, or the model sandbox); https://api.openai.com
    /// when unset.
    #[arg(long, env = "OPENAI_BASE_URL")]
    pub openai_base_url: Option<String>,
    /// OpenAI model; gpt-4o-mini when unset.
    #[arg(long, env = "OPENAI_MODEL")]
    pub openai_model: Option<String>,
    /// OpenAI model's context window in tokens; 128000 when unset.
    #[arg(long, env = "OPENAI_CONTEXT_WINDOW")]
    pub openai_context_window: Option<String>,
    /// Enables Anthropic (Messages) as a model provider.
    #[arg(long, env = "ANTHROPIC_API_KEY", hide_env_values = true)]
    pub anthropic_api_key: Option<String>,
    /// Anthropic API base; https://api.anthropic.com when unset.
    #[arg(long, env = "ANTHROPIC_BASE_URL")]
    pub anthropic_base_url: Option<String>,
    /// Anthropic model; claude-sonnet-4-5 when unset.
    #[arg(long, env = "ANTHROPIC_MODEL")]
    pub anthropic_model: Option<String>,
    /// Anthropic model's context window in tokens; 200000 when unset.
    #[arg(long, env = "ANTHROPIC_CONTEXT_WINDOW")]
    pub anthropic_context_window: Option<String>,
    /// The provider chain's order, comma-separated names (`anthropic,openai`); configured providers left out come
    /// last. openai,anthropic when unset.
    #[arg(long, env = "SWITCHBOARD_MODEL_ORDER")]
    pub model_order: Option<String>,
    /// Seconds a model call may wait for its first byte; 30 when unset.
    #[arg(long, env = "SWITCHBOARD_MODEL_FIRST_BYTE_TIMEOUT_SECS")]
    pub model_first_byte_timeout_secs: Option<String>,
    /// Seconds a whole model call (a streamed answer included) may take; 300 when unset.
    #[arg(long, env = "SWITCHBOARD_MODEL_TOTAL_TIMEOUT_SECS")]
    pub model_total_timeout_secs: Option<String>,
    /// Output token limit of a model call; 1024 when unset.
    #[arg(long, env = "SWITCHBOARD_MODEL_MAX_TOKENS")]
    pub model_max_tokens: Option<String>,
}

impl ModelsArgs {
    /// The configured providers in chain order (empty: the offline assistant), or the setting at fault.
    pub fn providers(&self) -> Result<Vec<switchboard_models::ProviderConfig>, crate::PlatformError> {
        let found = switchboard_models::providers_from_env(|name| {
            match name {
                "OPENAI_API_KEY" => &self.openai_api_key,
                "OPENAI_BASE_URL" => &self.openai_base_url,
                "OPENAI_MODEL" => &self.openai_model,
                "OPENAI_CONTEXT_WINDOW" => &self.openai_context_window,
                "ANTHROPIC_API_KEY" => &self.anthropic_api_key,
                "ANTHROPIC_BASE_URL" => &self.anthropic_base_url,
                "ANTHROPIC_MODEL" => &self.anthropic_model,
                "ANTHROPIC_CONTEXT_WINDOW" => &self.anthropic_context_window,
                "SWITCHBOARD_MODEL_ORDER" => &self.model_order,
                "SWITCHBOARD_MODEL_FIRST_BYTE_TIMEOUT_SECS" => &self.model_first_byte_timeout_secs,
                "SWITCHBOARD_MODEL_TOTAL_TIMEOUT_SECS" => &self.model_total_timeout_secs,
                "SWITCHBOARD_MODEL_MAX_TOKENS" => &self.model_max_tokens,
                _ => &None,
            }
            .clone()
        });
        found.map_err(|e| crate::PlatformError::Config(e.to_string()))
    }
}

/// The connectors service's settings: the vault's keys, and each provider's endpoints and app credentials.
#[derive(Debug, Clone, Args)]
pub struct ConnectorsArgs {
    /// Key-encryption keys of the credential vault: `<kid> <base64url 32-byte key>` per line, the first wraps, all
    /// unwrap. Generated at <data dir>/keys/kek when unset.
    #[arg(long, env = "SWITCHBOARD_KEK_FILE")]
    pub kek_file: Option<PathBuf>,
    /// Points every provider at a sandbox (`switchboard-sandbox`) serving their APIs at this URL, instead of the
    /// real ones; the per-provider URLs below still win when set.
    #[arg(long, env = "SWITCHBOARD_SANDBOX_URL")]
    pub sandbox_url: Option<String>,
    /// Stripe API base URL.
    #[arg(long, env = "SWITCHBOARD_STRIPE_API_BASE")]
    pub stripe_api_base: Option<String>,
    /// Stripe Connect OAuth base URL.
    #[arg(long, env = "SWITCHBOARD_STRIPE_CONNECT_BASE")]
    pub stripe_connect_base: Option<String>,
    /// The platform's Stripe Connect client id (`ca_...`).
    #[arg(long, env = "SWITCHBOARD_STRIPE_CLIENT_ID", default_value = "")]
    pub stripe_client_id: String,
    /// The platform's Stripe secret key, for Connect token exchanges.
    #[arg(long, env = "SWITCHBOARD_STRIPE_SECRET_KEY", default_value = "", hide_env_values = true)]
    pub stripe_secret_key: String,
    /// Stripe webhook signing secret (`whsec_...`).
    #[arg(long, env = "SWITCHBOARD_STRIPE_WEBHOOK_SECRET", default_value = "", hide_env_values = true)]
    pub stripe_webhook_secret: String,
    /// Shopify shop URL template; `{shop}` is replaced by the shop domain.
    #[arg(long, env = "SWITCHBOARD_SHOPIFY_BASE")]
    pub shopify_base: Option<String>,
    /// Shopify GraphQL Admin API version.
    #[arg(long, env = "SWITCHBOARD_SHOPIFY_API_VERSION", default_value = "2026-10")]
    pub shopify_api_version: String,
    /// The Shopify app's client id.
    #[arg(long, env = "SWITCHBOARD_SHOPIFY_API_KEY", default_value = "")]
    pub shopify_api_key: String,
    /// The Shopify app's client secret (signs OAuth redirects and webhooks).
    #[arg(long, env = "SWITCHBOARD_SHOPIFY_API_SECRET", default_value = "", hide_env_values = true)]
    pub shopify_api_secret: String,
    /// QuickBooks Accounting API base URL (`/v3/company/{realm}/...` under it).
    #[arg(long, env = "SWITCHBOARD_QUICKBOOKS_API_BASE")]
    pub quickbooks_api_base: Option<String>,
    /// The QuickBooks `minorversion` sent on every call (75 or later).
    #[arg(long, env = "SWITCHBOARD_QUICKBOOKS_MINOR_VERSION", default_value_t = 75)]
    pub quickbooks_minor_version: u32,
    /// The QuickBooks app's client id.
    #[arg(long, env = "SWITCHBOARD_QUICKBOOKS_CLIENT_ID", default_value = "")]
    pub quickbooks_client_id: String,
    /// The QuickBooks app's client secret.
    #[arg(long, env = "SWITCHBOARD_QUICKBOOKS_CLIENT_SECRET", default_value = "", hide_env_values = true)]
    pub quickbooks_client_secret: String,
    /// The QuickBooks webhook verifier token.
    #[arg(long, env = "SWITCHBOARD_QUICKBOOKS_WEBHOOK_VERIFIER", default_value = "", hide_env_values = true)]
    pub quickbooks_webhook_verifier: String,
    /// The HubSpot app's client id.
    #[arg(long, env = "SWITCHBOARD_HUBSPOT_CLIENT_ID", default_value = "")]
    pub hubspot_client_id: String,
    /// The HubSpot app's client secret (also signs webhooks).
    #[arg(long, env = "SWITCHBOARD_HUBSPOT_CLIENT_SECRET", default_value = "", hide_env_values = true)]
    pub hubspot_client_secret: String,
    /// HubSpot CRM scopes every HubSpot authorization asks for, besides the ones a StartOAuth request names
    /// (space- or comma-separated; `crm.objects.contacts.read` and the like). Empty: the built-in read scopes.
    #[arg(long, env = "SWITCHBOARD_HUBSPOT_SCOPES", value_delimiter = ',')]
    pub hubspot_scopes: Vec<String>,
    /// The platform's public URL as providers call it (HubSpot signs it; the default OAuth redirect is under it).
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
    pub public_url: String,
    /// OAuth redirect URIs StartOAuth accepts, comma-separated; `<public url>/oauth/callback` when unset.
    #[arg(long, env = "SWITCHBOARD_OAUTH_REDIRECT_URIS", value_delimiter = ',')]
    pub oauth_redirect_uris: Vec<String>,
}

impl ConnectorsArgs {
    /// The provider settings these arguments describe.
    pub fn provider_settings(&self) -> switchboard_connectors::ProviderSettings {
        use switchboard_connectors::Secret;
        let mut s = switchboard_connectors::ProviderSettings::production();
        if let Some(sandbox) = self.sandbox_url.as_deref().map(|u| u.trim_end_matches('/')).filter(|u| !u.is_empty()) {
            s.stripe_api_base = format!("{sandbox}/stripe");
            s.stripe_connect_base = format!("{sandbox}/stripe-connect");
            s.shopify_base = format!("{sandbox}/shopify/{{shop}}");
            s.quickbooks_auth_url = format!("{sandbox}/quickbooks/connect/oauth2");
            s.quickbooks_token_url = format!("{sandbox}/quickbooks/oauth2/v1/tokens/bearer");
            s.quickbooks_api_base = format!("{sandbox}/quickbooks");
            s.hubspot_auth_url = format!("{sandbox}/hubspot/oauth/authorize");
            s.hubspot_api_base = format!("{sandbox}/hubspot");
        }
        let set = |target: &mut String, value: &Option<String>| {
            if let Some(v) = value.as_deref().filter(|v| !v.trim().is_empty()) {
                *target = v.trim().to_owned();
            }
        };
        set(&mut s.stripe_api_base, &self.stripe_api_base);
        set(&mut s.stripe_connect_base, &self.stripe_connect_base);
        set(&mut s.shopify_base, &self.shopify_base);
        set(&mut s.quickbooks_api_base, &self.quickbooks_api_base);
        s.quickbooks_minor_version = self.quickbooks_minor_version;
        s.stripe_client_id = self.stripe_client_id.clone();
        s.stripe_platform_key = Secret::new(self.stripe_secret_key.clone());
        s.stripe_webhook_secret = Secret::new(self.stripe_webhook_secret.clone());
        s.shopify_api_version = self.shopify_api_version.clone();
        s.shopify_client_id = self.shopify_api_key.clone();
        s.shopify_client_secret = Secret::new(self.shopify_api_secret.clone());
        s.quickbooks_client_id = self.quickbooks_client_id.clone();
        s.quickbooks_client_secret = Secret::new(self.quickbooks_client_secret.clone());
        s.quickbooks_verifier_token = Secret::new(self.quickbooks_webhook_verifier.clone());
        s.hubspot_client_id = self.hubspot_client_id.clone();
        s.hubspot_client_secret = Secret::new(self.hubspot_client_secret.clone());
        let scopes: Vec<String> =
            self.hubspot_scopes.iter().flat_map(|s| s.split_whitespace()).map(str::to_owned).collect();
        if !scopes.is_empty() {
            s.hubspot_scopes = scopes;
        }
        s.public_url = self.public_url.trim_end_matches('/').to_owned();
        let redirects: Vec<String> =
            self.oauth_redirect_uris.iter().map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()).collect();
        s.redirect_uris =
            if redirects.is_empty() { vec![format!("{}/oauth/callback", s.public_url)] } else { redirects };
        s
    }
}

impl PlatformConfig {
    /// Parses `args` (flags, without the program name) and the environment, exactly as `switchboard up` does (but
    /// a flag given twice takes its last value): the tests build their platform this way so that it has
    /// production's defaults.
    pub fn from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        // A flag given twice takes its last value, so callers can override defaults they passed first.
        #[derive(Parser)]
        #[command(args_override_self = true)]
        struct Args {
            #[command(flatten)]
            config: PlatformConfig,
        }
        let program = std::iter::once(std::ffi::OsString::from("switchboard"));
        Ok(Args::try_parse_from(program.chain(args.into_iter().map(Into::into)))?.config)
    }
}

/// Settings for client commands.
#[derive(Debug, Clone, Args)]
pub struct Client {
    #[command(flatten)]
    pub mesh: Mesh,
}
