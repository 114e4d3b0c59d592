//! The connectors service: the platform's links to a business's Shopify, Stripe, QuickBooks and HubSpot accounts,
//! behind one contract (`switchboard.connectors.v1.ConnectorService`).
//!
//! How it is laid out:
//! - [`provider`]: the framework (one trait a provider implements) and the four providers; adding one touches no
//!   engine code.
//! - [`vault`]: envelope encryption of credentials (AES-256-GCM data key per secret, wrapped by a named KEK).
//! - `http`: the one outbound HTTP client (timeouts, retries honouring `Retry-After` and provider signals).
//! - `credentials`: tokens in and out of the vault, refreshed ahead of expiry, single-flight across replicas.
//! - `sync`: the sync engine (pages upserted with their cursor in one transaction, so a killed sync resumes).
//! - `webhooks`: verified deliveries stored once per provider event and processed from the bus.
//! - `service`: the gRPC methods; [`storage`]: the tables this service owns.
//!
//! Plaintext credentials never leave this crate: not in responses, logs, errors or events.

mod credentials;
mod error;
mod http;
mod provider;
mod service;
pub mod storage;
mod sync;
pub mod vault;
mod webhooks;

use std::sync::Arc;

use switchboard_cache::Cache;
use switchboard_events::EventBus;
use switchboard_mesh::pki::MeshCredentials;
use switchboard_mesh::server::{MAX_MESSAGE_BYTES, ServeOptions};
use switchboard_proto::connectors::v1::connector_service_server::ConnectorServiceServer;
use switchboard_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use crate::error::{ConnectorError, ProviderError};
pub use crate::http::RetryPolicy;
pub use crate::service::ConnectorService;
pub use crate::vault::KeyRing;

/// Fully qualified name of the contract this service serves.
pub const SERVICE_NAME: &str = "switchboard.connectors.v1.ConnectorService";

/// A secret from configuration: redacted in `Debug`, never `Display`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one call that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "Secret(unset)" } else { "Secret(***)" })
    }
}

/// Where each provider's API is and the platform's app credentials there. Tests and `make run` point the base URLs
/// at the sandbox.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// Stripe API, `https://api.stripe.com`.
    pub stripe_api_base: String,
    /// Stripe Connect OAuth, `https://connect.stripe.com`.
    pub stripe_connect_base: String,
    /// `Stripe-Version` sent on every call.
    pub stripe_api_version: String,
    /// The platform's Connect client id (`ca_...`).
    pub stripe_client_id: String,
    /// The platform's secret key, for Connect token exchanges.
    pub stripe_platform_key: Secret,
    /// Webhook signing secret (`whsec_...`).
    pub stripe_webhook_secret: Secret,
    /// Shopify shop URL template, `https://{shop}`.
    pub shopify_base: String,
    /// GraphQL Admin API version, such as `2026-10`.
    pub shopify_api_version: String,
    /// The app's client id.
    pub shopify_client_id: String,
    /// The app's client secret (signs OAuth redirects and webhooks).
    pub shopify_client_secret: Secret,
    /// QuickBooks authorization URL.
    pub quickbooks_auth_url: String,
    /// QuickBooks token URL.
    pub quickbooks_token_url: String,
    /// QuickBooks Accounting API, `https://quickbooks.api.intuit.com` (`/v3/company/{realm}/...` under it).
    pub quickbooks_api_base: String,
    /// `minorversion` sent on every QuickBooks call (Intuit serves anything older than 75 as 75).
    pub quickbooks_minor_version: u32,
    /// The app's client id.
    pub quickbooks_client_id: String,
    /// The app's client secret.
    pub quickbooks_client_secret: Secret,
    /// The webhook verifier token.
    pub quickbooks_verifier_token: Secret,
    /// HubSpot authorization URL.
    pub hubspot_auth_url: String,
    /// HubSpot API, `https://api.hubapi.com`.
    pub hubspot_api_base: String,
    /// The app's client id.
    pub hubspot_client_id: String,
    /// The app's client secret (also signs webhooks).
    pub hubspot_client_secret: Secret,
    /// CRM scopes every HubSpot authorization asks for, besides those the StartOAuth request names.
    pub hubspot_scopes: Vec<String>,
    /// The platform's public URL, as providers call it (HubSpot v3 signs the URL).
    pub public_url: String,
    /// Redirect URIs StartOAuth accepts.
    pub redirect_uris: Vec<String>,
}

impl ProviderSettings {
    /// The real providers' endpoints, with no app credentials.
    pub fn production() -> Self {
        Self {
            stripe_api_base: "https://api.stripe.com".into(),
            stripe_connect_base: "https://connect.stripe.com".into(),
            stripe_api_version: "2026-10-28.acacia".into(),
            stripe_client_id: String::new(),
            stripe_platform_key: Secret::default(),
            stripe_webhook_secret: Secret::default(),
            shopify_base: "https://{shop}".into(),
            shopify_api_version: "2026-10".into(),
            shopify_client_id: String::new(),
            shopify_client_secret: Secret::default(),
            quickbooks_auth_url: "https://appcenter.intuit.com/connect/oauth2".into(),
            quickbooks_token_url: "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer".into(),
            quickbooks_api_base: "https://quickbooks.api.intuit.com".into(),
            quickbooks_minor_version: 75,
            quickbooks_client_id: String::new(),
            quickbooks_client_secret: Secret::default(),
            quickbooks_verifier_token: Secret::default(),
            hubspot_auth_url: "https://app.hubspot.com/oauth/authorize".into(),
            hubspot_api_base: "https://api.hubapi.com".into(),
            hubspot_client_id: String::new(),
            hubspot_client_secret: Secret::default(),
            hubspot_scopes: ["crm.objects.contacts.read", "crm.objects.companies.read", "crm.objects.deals.read"]
                .map(str::to_owned)
                .to_vec(),
            public_url: "http://127.0.0.1:8080".into(),
            redirect_uris: vec!["http://127.0.0.1:8080/oauth/callback".into()],
        }
    }
}

/// Everything the connectors service needs to run.
pub struct ConnectorsConfig {
    /// This service's mesh certificate.
    pub credentials: MeshCredentials,
    /// Where its calls are counted.
    pub metrics: switchboard_telemetry::Metrics,
    /// Its tables.
    pub store: Store,
    /// The key-encryption keys of the vault.
    pub keys: KeyRing,
    /// The platform cache (single-flight token refresh locks across replicas).
    pub cache: Arc<dyn Cache>,
    /// The bus to process `connectors.webhooks` from; webhooks are stored but not processed when `None`.
    pub bus: Option<Arc<dyn EventBus>>,
    /// Provider endpoints and app credentials.
    pub providers: ProviderSettings,
    /// Outbound retry policy.
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for ConnectorsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorsConfig")
            .field("keys", &self.keys)
            .field("providers", &self.providers)
            .finish_non_exhaustive()
    }
}

/// Serves on an already-bound listener until `shutdown` is cancelled. Running syncs stop with it (CANCELLED; the
/// next sync resumes from their cursors).
pub async fn serve_with(
    config: ConnectorsConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ConnectorError> {
    let work = shutdown.child_token();
    let service = ConnectorService::new(&config, work.clone())?;
    let consumer = config.bus.clone().map(|bus| tokio::spawn(service.clone().process_webhooks(bus, work.clone())));
    let server = ConnectorServiceServer::new(service.clone())
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let options =
        ServeOptions::mesh(config.credentials)?.reporting([SERVICE_NAME]).with_metrics(config.metrics, "connectors");
    let served =
        switchboard_mesh::server::serve(tonic::service::Routes::new(server), listener, options, shutdown).await;
    work.cancel();
    if let Some(consumer) = consumer {
        let _ = consumer.await;
    }
    service.wait_for_syncs().await;
    served?;
    Ok(())
}

/// Re-wraps every stored credential's data key under the first key of `keys` (after a new KEK was put first in the
/// keys file). Returns how many were re-wrapped. Secrets themselves are not re-encrypted.
pub async fn rotate_kek(store: &Store, keys: &KeyRing) -> Result<usize, ConnectorError> {
    credentials::rewrap_all(store, keys).await
}
