//! The state every route shares — configuration, each provider's data, the OAuth books, queued faults, counters,
//! webhook targets — and the one router that puts the providers side by side. Every lock is a `std::sync::Mutex`
//! taken for a synchronous step and never held across an `.await`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::clock::Clock;
use crate::counts::Recorder;
use crate::faults::Faults;
use crate::hubspot::HubSpotData;
use crate::oauth::Grants;
use crate::quickbooks::QuickBooksData;
use crate::shopify::ShopifyData;
use crate::stripe::StripeData;
use crate::webhooks::Delivery;
use crate::{Apps, Provider, SandboxConfig, SandboxError};

/// How long a webhook delivery may take: Shopify's own limit (1 s connect, 5 s total).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything the routes and the handle share.
pub(crate) struct Shared {
    /// The platform's app credentials.
    pub(crate) apps: Apps,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base_url: String,
    /// Stamps objects created while running.
    pub(crate) clock: Clock,
    pub(crate) stripe: Mutex<StripeData>,
    pub(crate) shopify: Mutex<ShopifyData>,
    pub(crate) quickbooks: Mutex<QuickBooksData>,
    pub(crate) hubspot: Mutex<HubSpotData>,
    pub(crate) grants: Mutex<Grants>,
    pub(crate) faults: Mutex<Faults>,
    pub(crate) recorder: Mutex<Recorder>,
    /// Where each provider's webhooks go.
    pub(crate) targets: Mutex<HashMap<Provider, String>>,
    /// Posts webhook deliveries.
    pub(crate) client: reqwest::Client,
}

impl Shared {
    /// Generates the data of `config` (CPU work: call off the runtime).
    pub(crate) fn new(config: SandboxConfig, base_url: String) -> Result<Self, SandboxError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .timeout(DELIVERY_TIMEOUT)
            .build()
            .map_err(|e| SandboxError::Startup(format!("building the webhook client: {e}")))?;
        let mut grants = Grants::default();
        grants.set_token_lifetime(config.token_lifetime);
        let stripe = StripeData::generate(config.seed, config.scale);
        let mut shopify = ShopifyData::generate(config.seed, config.scale);
        // The books sell to the shop's customers: generated from the demo shop.
        let quickbooks = QuickBooksData::generate(config.seed, config.scale, shopify.shop_mut(crate::DEMO_SHOP));
        // HubSpot's contacts are the shop's and Stripe's customers.
        let people = crate::hubspot::people(shopify.shop_mut(crate::DEMO_SHOP), &stripe);
        let hubspot = HubSpotData::generate(config.seed, config.scale, &people);
        Ok(Self {
            stripe: Mutex::new(stripe),
            shopify: Mutex::new(shopify),
            quickbooks: Mutex::new(quickbooks),
            hubspot: Mutex::new(hubspot),
            apps: config.apps,
            base_url,
            clock: Clock::new(),
            grants: Mutex::new(grants),
            faults: Mutex::new(Faults::default()),
            recorder: Mutex::new(Recorder::default()),
            targets: Mutex::new(HashMap::new()),
            client,
        })
    }

    pub(crate) fn webhook_target(&self, provider: Provider) -> Option<String> {
        lock(&self.targets).get(&provider).cloned()
    }

    /// Posts `delivery` to the provider's webhook target, if one is set, without waiting for the answer.
    pub(crate) fn send_in_background(&self, provider: Provider, delivery: Delivery) {
        let Some(url) = self.webhook_target(provider) else {
            return;
        };
        let client = self.client.clone();
        tokio::spawn(async move {
            match delivery.post(&client, &url).await {
                Ok(status) => {
                    tracing::debug!(%provider, %url, %status, event = %delivery.event_id, "webhook delivered")
                }
                Err(error) => tracing::warn!(%provider, %error, event = %delivery.event_id, "webhook delivery failed"),
            }
        });
    }
}

/// Locks `mutex`, recovering the data if a panicking thread poisoned it (the sandbox's data stays usable; a panic
/// is already a failed test).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Every provider's routes, the control plane, and a fallback that answers 404 in the provider's own format.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .merge(crate::stripe::routes(&shared))
        .merge(crate::shopify::routes(&shared))
        .merge(crate::quickbooks::routes(&shared))
        .merge(crate::hubspot::routes(&shared))
        .merge(crate::control::routes())
        .fallback(not_found)
        .with_state(shared)
}

async fn not_found(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if let Some(rest) = path.strip_prefix("/stripe/") {
        return crate::stripe::unrecognized(method.as_str(), &format!("/{rest}"));
    }
    let body = if path.starts_with("/shopify/") {
        json!({"errors": "Not Found"})
    } else if path.starts_with("/quickbooks/") {
        json!({"Fault": {"Error": [{"Message": "Unsupported Operation",
            "Detail": format!("Operation {method} {path} is not supported"), "code": "500"}], "type": "ValidationFault"}})
    } else if path.starts_with("/hubspot/") {
        json!({"status": "error", "message": "Resource not found", "category": "OBJECT_NOT_FOUND"})
    } else {
        json!({"error": "not_found", "message": format!("the sandbox serves no {method} {path}")})
    };
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}
