//! The control plane under `/_sandbox`, for demos by hand (tests use [`SandboxHandle`] directly):
//!
//! - `GET /_sandbox/health` → 200;
//! - `GET /_sandbox/counts` → requests, refreshes and throttling counters as JSON;
//! - `POST /_sandbox/faults` with a [`Fault`] (`{"provider":"stripe","status":429,"count":2,"retry_after":1.5}`);
//! - `POST /_sandbox/expire/{provider}` expires the provider's issued access tokens;
//! - `POST /_sandbox/webhooks/stripe/refund` `{"charge":"ch_..."}` refunds the demo charge and delivers
//!   `charge.refunded` to the Stripe webhook target;
//! - `POST /_sandbox/webhooks/shopify` `{"topic","payload"[,"shop"]}` delivers to the Shopify webhook target.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::Fault;
use crate::handle::SandboxHandle;
use crate::state::Shared;
use crate::{DEMO_SHOP, Provider, SandboxError};

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_sandbox/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/_sandbox/counts", get(counts))
        .route("/_sandbox/faults", post(inject))
        .route("/_sandbox/expire/{provider}", post(expire))
        .route("/_sandbox/webhooks/stripe/refund", post(stripe_refund))
        .route("/_sandbox/webhooks/shopify", post(shopify))
}

/// How a control-plane failure is answered.
fn respond(error: &SandboxError) -> Response {
    let status = match error {
        SandboxError::NotFound { .. } => StatusCode::NOT_FOUND,
        SandboxError::Conflict(_) | SandboxError::NoWebhookTarget(_) => StatusCode::CONFLICT,
        SandboxError::Delivery { .. } => StatusCode::BAD_GATEWAY,
        SandboxError::Listener(_) | SandboxError::Startup(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, Json(json!({"error": error.to_string()}))).into_response()
}

async fn counts(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let counts = SandboxHandle::new(shared).counts();
    Json(json!({
        "requests": counts.requests,
        "graphql_fields": counts.graphql_fields,
        "refreshes": counts.refreshes,
        "throttled": counts.throttled,
        "graphql_throttled": counts.graphql_throttled,
    }))
}

async fn inject(State(shared): State<Arc<Shared>>, Json(fault): Json<Fault>) -> Response {
    if fault.status != 429 && !(500..=599).contains(&fault.status) {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "status must be 429 or a 5xx"}))).into_response();
    }
    SandboxHandle::new(shared).inject(fault.clone());
    (StatusCode::OK, Json(json!({"queued": fault}))).into_response()
}

async fn expire(State(shared): State<Arc<Shared>>, Path(provider): Path<String>) -> Response {
    match serde_json::from_value::<Provider>(Value::String(provider.clone())) {
        Ok(provider) => {
            SandboxHandle::new(shared).expire_tokens(provider);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(_) => (StatusCode::NOT_FOUND, Json(json!({"error": format!("no provider '{provider}'")}))).into_response(),
    }
}

#[derive(Deserialize)]
struct RefundRequest {
    charge: String,
}

async fn stripe_refund(State(shared): State<Arc<Shared>>, Json(request): Json<RefundRequest>) -> Response {
    let handle = SandboxHandle::new(shared);
    let delivery = match handle.refund_charge_event(&request.charge) {
        Ok(delivery) => delivery,
        Err(error) => return respond(&error),
    };
    match handle.deliver(Provider::Stripe, &delivery).await {
        Ok(status) => Json(json!({"event_id": delivery.event_id, "status": status.as_u16()})).into_response(),
        Err(error) => respond(&error),
    }
}

#[derive(Deserialize)]
struct ShopifyRequest {
    topic: String,
    payload: Value,
    #[serde(default)]
    shop: Option<String>,
}

async fn shopify(State(shared): State<Arc<Shared>>, Json(request): Json<ShopifyRequest>) -> Response {
    let handle = SandboxHandle::new(shared);
    let shop = request.shop.as_deref().unwrap_or(DEMO_SHOP);
    let delivery = handle.shopify_webhook(shop, &request.topic, request.payload);
    match handle.deliver(Provider::Shopify, &delivery).await {
        Ok(status) => Json(json!({"event_id": delivery.event_id, "status": status.as_u16()})).into_response(),
        Err(error) => respond(&error),
    }
}
