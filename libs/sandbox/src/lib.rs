//! Local fakes of the provider APIs Switchboard connects to — Stripe, Shopify, QuickBooks Online and HubSpot —
//! speaking their real wire formats, with deterministic demo data. Integration
//! tests take it as a dev-dependency ([`Sandbox::start`] on `127.0.0.1:0`); `make run` starts its own binary.
//!
//! One HTTP server hosts every provider under its own prefix (see [`SandboxHandle`] for the base URLs), one module
//! each:
//!
//! - `stripe`: the `/v1` API (list semantics, refunds, customers, invoice sending, idempotency keys) and Connect
//!   OAuth;
//! - `shopify`: OAuth with PKCE and expiring, rotating tokens; the GraphQL Admin API with a cost-based leaky
//!   bucket; the legacy REST `orders.json`;
//! - `quickbooks`: Intuit OAuth with immediately rotating refresh tokens; the Accounting API's query language
//!   subset, CDC, reads and writes with `requestid` idempotency, per-realm throttling, `Fault` bodies;
//! - `hubspot`: OAuth with rotating refresh tokens; the CRM (v3 objects, search with its 10,000 cap, v4
//!   associations, writes) over a demo portal whose contacts are the shop's and Stripe's customers;
//! - `webhooks`: signed deliveries for all four, built on demand or sent when the API changes;
//! - `control`: `/_sandbox/*` routes to inject faults and trigger webhooks by hand.
//!
//! Cross-cutting pieces: `gate` is the layer every provider route passes (request ids, provider headers, counting,
//! injected failures from `faults`, answered in each provider's own error format); `counts` records what was asked
//! (for assertions like "exactly one refresh"); `oauth` holds every code and token issued, with each provider's
//! expiry and rotation rules; `state` holds the shared data behind `std::sync::Mutex`es.
//!
//! Data is generated once at start from [`SandboxConfig::seed`]: timestamps spread over the 90 days before
//! 2026-11-01T00:00:00Z, never the wall clock, so two sandboxes with one seed serve identical pages. Objects created
//! while running are stamped with the later of the wall clock and that epoch. The crate signs nothing itself:
//! every signature comes from `switchboard-signatures`. It is never a dependency of a service.

mod clock;
mod control;
pub mod counts;
mod error;
mod faults;
mod gate;
mod handle;
mod hubspot;
mod names;
mod oauth;
mod prng;
mod quickbooks;
mod shopify;
mod state;
mod stripe;
mod webhooks;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use crate::clock::{DEFAULT_EPOCH, set_epoch, start_of_today};
pub use crate::counts::{Counts, RequestRecord, Throttle};
pub use crate::error::SandboxError;
pub use crate::faults::Fault;
pub use crate::handle::SandboxHandle;
pub use crate::webhooks::Delivery;

/// The Stripe account that holds the demo data.
pub const DEMO_STRIPE_ACCOUNT: &str = "acct_sandboxdemo0001";
/// A secret key of the demo account.
pub const DEMO_STRIPE_KEY: &str = "sk_test_sandbox_demo";
/// A read-only restricted key of the demo account (writes answer 403, as a key without write permission does).
pub const DEMO_STRIPE_RESTRICTED_KEY: &str = "rk_test_sandbox_demo";
/// The Shopify shop that holds the demo data; every other `name.myshopify.com` is an empty shop.
pub const DEMO_SHOP: &str = "demo-shop.myshopify.com";
/// An Admin API access token of the demo shop that never expires (like an admin-created app's token).
pub const DEMO_SHOPIFY_TOKEN: &str = "shpat_sandbox_demo";
/// The QuickBooks company (realm) every QuickBooks authorization connects.
pub const DEMO_QUICKBOOKS_REALM: &str = "9341453050";
/// The HubSpot portal (hub) every HubSpot authorization connects.
pub const DEMO_HUBSPOT_PORTAL: i64 = 62515;
/// A private app's access token for the demo portal, which never expires (HubSpot's `pat-na1-...` form).
pub const DEMO_HUBSPOT_TOKEN: &str = "pat-na1-sandbox-demo";

/// Default [`Apps::stripe_client_id`].
pub const STRIPE_CLIENT_ID: &str = "ca_sandbox";
/// Default [`Apps::stripe_platform_key`].
pub const STRIPE_PLATFORM_KEY: &str = "sk_test_sandbox_platform";
/// Default [`Apps::stripe_webhook_secret`].
pub const STRIPE_WEBHOOK_SECRET: &str = "whsec_sandbox";
/// Default [`Apps::shopify_client_id`].
pub const SHOPIFY_CLIENT_ID: &str = "shopify_sandbox_client";
/// Default [`Apps::shopify_client_secret`].
pub const SHOPIFY_CLIENT_SECRET: &str = "shopify_sandbox_secret";
/// Default [`Apps::quickbooks_client_id`].
pub const QUICKBOOKS_CLIENT_ID: &str = "quickbooks_sandbox_client";
/// Default [`Apps::quickbooks_client_secret`].
pub const QUICKBOOKS_CLIENT_SECRET: &str = "quickbooks_sandbox_secret";
/// Default [`Apps::quickbooks_verifier_token`].
pub const QUICKBOOKS_VERIFIER_TOKEN: &str = "quickbooks_sandbox_verifier";
/// Default [`Apps::hubspot_client_id`].
pub const HUBSPOT_CLIENT_ID: &str = "hubspot_sandbox_client";
/// Default [`Apps::hubspot_client_secret`].
pub const HUBSPOT_CLIENT_SECRET: &str = "hubspot_sandbox_secret";

/// What a sandbox serves.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Seeds the demo data; one seed always yields the same objects, ids and timestamps.
    pub seed: u64,
    /// Multiplies every demo collection's size (1 = demo size; benches use more).
    pub scale: u32,
    /// The app credentials the platform is configured with.
    pub apps: Apps,
    /// The lifetime of every expiring access token issued (`None`: each provider's own — an hour at Shopify and
    /// QuickBooks, 30 minutes at HubSpot). Tests shorten it to reach a client's refresh margin without waiting;
    /// [`SandboxHandle::set_token_lifetime`] changes it while running.
    pub token_lifetime: Option<std::time::Duration>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self { seed: 42, scale: 1, apps: Apps::default(), token_lifetime: None }
    }
}

/// App-level credentials of the platform at each provider: what it authenticates OAuth with and what webhooks are
/// signed with.
#[derive(Clone, Debug)]
pub struct Apps {
    /// Stripe Connect `client_id` (`ca_...`).
    pub stripe_client_id: String,
    /// The platform's Stripe secret key: Connect token exchange, and API calls with `Stripe-Account`.
    pub stripe_platform_key: String,
    /// The webhook endpoint secret (`whsec_...`) Stripe deliveries are signed with.
    pub stripe_webhook_secret: String,
    /// Shopify app API key.
    pub shopify_client_id: String,
    /// Shopify app API secret: token exchange, OAuth redirect `hmac`, webhook signatures.
    pub shopify_client_secret: String,
    /// Intuit app client id.
    pub quickbooks_client_id: String,
    /// Intuit app client secret.
    pub quickbooks_client_secret: String,
    /// Intuit webhook verifier token (`intuit-signature` key).
    pub quickbooks_verifier_token: String,
    /// HubSpot app client id.
    pub hubspot_client_id: String,
    /// HubSpot app client secret: token exchange and v3 webhook signatures.
    pub hubspot_client_secret: String,
}

impl Default for Apps {
    fn default() -> Self {
        Self {
            stripe_client_id: STRIPE_CLIENT_ID.to_owned(),
            stripe_platform_key: STRIPE_PLATFORM_KEY.to_owned(),
            stripe_webhook_secret: STRIPE_WEBHOOK_SECRET.to_owned(),
            shopify_client_id: SHOPIFY_CLIENT_ID.to_owned(),
            shopify_client_secret: SHOPIFY_CLIENT_SECRET.to_owned(),
            quickbooks_client_id: QUICKBOOKS_CLIENT_ID.to_owned(),
            quickbooks_client_secret: QUICKBOOKS_CLIENT_SECRET.to_owned(),
            quickbooks_verifier_token: QUICKBOOKS_VERIFIER_TOKEN.to_owned(),
            hubspot_client_id: HUBSPOT_CLIENT_ID.to_owned(),
            hubspot_client_secret: HUBSPOT_CLIENT_SECRET.to_owned(),
        }
    }
}

/// A provider the sandbox fakes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Stripe (`/stripe`, `/stripe-connect`).
    Stripe,
    /// Shopify (`/shopify/{shop}`).
    Shopify,
    /// QuickBooks Online (`/quickbooks`).
    QuickBooks,
    /// HubSpot (`/hubspot`).
    HubSpot,
}

impl Provider {
    /// Every provider, in a fixed order.
    pub const ALL: [Provider; 4] = [Provider::Stripe, Provider::Shopify, Provider::QuickBooks, Provider::HubSpot];

    /// The lower-case name used in route keys, URLs and the control plane (`stripe`, `quickbooks`).
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Stripe => "stripe",
            Provider::Shopify => "shopify",
            Provider::QuickBooks => "quickbooks",
            Provider::HubSpot => "hubspot",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Starts sandboxes.
pub struct Sandbox;

impl Sandbox {
    /// Generates the demo data, then serves every provider on `listener` until `shutdown` is cancelled.
    ///
    /// The listener is already bound, so tests bind `127.0.0.1:0` and never race for a port.
    pub async fn start(
        listener: TcpListener,
        config: SandboxConfig,
        shutdown: CancellationToken,
    ) -> Result<SandboxHandle, SandboxError> {
        let addr = listener.local_addr().map_err(SandboxError::Listener)?;
        let host = if addr.ip().is_unspecified() { "127.0.0.1".to_owned() } else { addr.ip().to_string() };
        let base_url = match addr {
            std::net::SocketAddr::V6(_) if !addr.ip().is_unspecified() => format!("http://[{host}]:{}", addr.port()),
            _ => format!("http://{host}:{}", addr.port()),
        };
        // Generation is CPU work proportional to `scale`; keep it off the runtime's worker threads.
        let shared = tokio::task::spawn_blocking(move || state::Shared::new(config, base_url))
            .await
            .map_err(|e| SandboxError::Startup(format!("generating the data: {e}")))??;
        let shared = Arc::new(shared);
        let app = state::router(shared.clone());
        tracing::info!(base_url = %shared.base_url, "sandbox listening");
        tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await;
            if let Err(error) = served {
                tracing::error!(%error, "sandbox server stopped");
            }
        });
        Ok(SandboxHandle::new(shared))
    }
}
