//! The layer every provider route passes through: it gives the request an id, answers it with an injected
//! [`Fault`](crate::Fault) if one is due (API routes only, never OAuth), stamps the provider's usual response headers
//! (`Request-Id` and `Stripe-Version`, `X-Shopify-API-Version`, `intuit_tid`, HubSpot's correlation id), and records
//! it in the [`counts`](crate::counts).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use crate::Provider;
use crate::counts::RequestRecord;
use crate::faults;
use crate::state::{Shared, lock};

/// The id the gate gave a request (Stripe `Request-Id`, Shopify `X-Request-Id`, ...), for handlers that echo it.
#[derive(Clone, Debug)]
pub(crate) struct RequestId(pub(crate) String);

/// A group of routes behind one base URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Area {
    /// `{base}/stripe`: the API.
    Stripe,
    /// `{base}/stripe-connect`: Connect OAuth.
    StripeConnect,
    /// `{base}/shopify/{shop}`: OAuth and the Admin API.
    Shopify,
    /// `{base}/quickbooks`.
    QuickBooks,
    /// `{base}/hubspot`.
    HubSpot,
}

impl Area {
    fn provider(self) -> Provider {
        match self {
            Area::Stripe | Area::StripeConnect => Provider::Stripe,
            Area::Shopify => Provider::Shopify,
            Area::QuickBooks => Provider::QuickBooks,
            Area::HubSpot => Provider::HubSpot,
        }
    }

    /// The first word of route keys.
    fn key(self) -> &'static str {
        match self {
            Area::StripeConnect => "stripe-connect",
            other => other.provider().as_str(),
        }
    }

    /// The path below the area's base URL.
    fn sub_path(self, path: &str) -> String {
        let rest = match self {
            Area::Stripe => path.strip_prefix("/stripe"),
            Area::StripeConnect => path.strip_prefix("/stripe-connect"),
            // `/shopify/{shop}/admin/...`: drop the shop too.
            Area::Shopify => path.strip_prefix("/shopify/").and_then(|p| p.find('/').map(|at| &p[at..])),
            Area::QuickBooks => path.strip_prefix("/quickbooks"),
            Area::HubSpot => path.strip_prefix("/hubspot"),
        };
        rest.unwrap_or(path).to_owned()
    }

    /// Whether a path below the base is an API call (faults apply) rather than OAuth.
    fn is_api(self, sub: &str) -> bool {
        match self {
            Area::Stripe => true,
            Area::StripeConnect => false,
            Area::Shopify => sub.starts_with("/admin/api/"),
            Area::QuickBooks => sub.starts_with("/v3/"),
            Area::HubSpot => !sub.starts_with("/oauth/"),
        }
    }

    fn new_request_id(self) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        match self {
            Area::Stripe | Area::StripeConnect => format!("req_{}", &id[..14]),
            _ => uuid::Uuid::new_v4().to_string(),
        }
    }
}

// One function per area, for `from_fn_with_state(shared, gate::stripe)` in each provider's routes.

pub(crate) async fn stripe(state: State<Arc<Shared>>, request: Request, next: Next) -> Response {
    gate(state, Area::Stripe, request, next).await
}

pub(crate) async fn stripe_connect(state: State<Arc<Shared>>, request: Request, next: Next) -> Response {
    gate(state, Area::StripeConnect, request, next).await
}

pub(crate) async fn shopify(state: State<Arc<Shared>>, request: Request, next: Next) -> Response {
    gate(state, Area::Shopify, request, next).await
}

pub(crate) async fn quickbooks(state: State<Arc<Shared>>, request: Request, next: Next) -> Response {
    gate(state, Area::QuickBooks, request, next).await
}

pub(crate) async fn hubspot(state: State<Arc<Shared>>, request: Request, next: Next) -> Response {
    gate(state, Area::HubSpot, request, next).await
}

async fn gate(State(shared): State<Arc<Shared>>, area: Area, mut request: Request, next: Next) -> Response {
    let at = Instant::now();
    let provider = area.provider();
    let sub = area.sub_path(request.uri().path());
    let route = format!("{} {} {}", area.key(), request.method(), sub);
    let request_id = area.new_request_id();
    request.extensions_mut().insert(RequestId(request_id.clone()));
    let stripe_version = request.headers().get("stripe-version").cloned();
    let idempotency_key = request.headers().get("idempotency-key").cloned();
    let authorization = (area == Area::HubSpot).then(|| request.headers().get("authorization").cloned()).flatten();

    let fault = if area.is_api(&sub) { lock(&shared.faults).take(provider) } else { None };
    let mut response = match fault {
        Some(fault) => faults::respond(&fault, sub.ends_with("/graphql.json")),
        None => next.run(request).await,
    };

    let headers = response.headers_mut();
    let id = HeaderValue::from_str(&request_id).ok();
    match area {
        Area::Stripe | Area::StripeConnect => {
            if let Some(id) = id {
                headers.insert("request-id", id);
            }
            if area == Area::Stripe {
                let version = stripe_version.unwrap_or(HeaderValue::from_static(crate::stripe::DEFAULT_API_VERSION));
                headers.insert("stripe-version", version);
                if let Some(key) = idempotency_key {
                    headers.insert("idempotency-key", key);
                }
            }
        }
        Area::Shopify => {
            if let Some(id) = id {
                headers.insert("x-request-id", id);
            }
            if let Some(version) = sub.strip_prefix("/admin/api/").and_then(|rest| rest.split('/').next()) {
                headers
                    .insert("x-shopify-api-version", HeaderValue::from_static(crate::shopify::served_version(version)));
            }
        }
        Area::QuickBooks => {
            if let Some(id) = id {
                headers.insert("intuit_tid", id);
            }
        }
        Area::HubSpot => {
            if let Some(id) = id {
                headers.insert("x-hubspot-correlation-id", id);
            }
            if area.is_api(&sub) {
                crate::hubspot::rate_limit_headers(&shared, authorization.as_ref(), headers);
            }
        }
    }

    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok());
    let status = response.status().as_u16();
    lock(&shared.recorder).request(RequestRecord { at, provider, route, status, retry_after });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_keys_drop_the_base_and_the_shop() {
        assert_eq!(Area::Stripe.sub_path("/stripe/v1/charges"), "/v1/charges");
        assert_eq!(
            Area::Shopify.sub_path("/shopify/demo-shop.myshopify.com/admin/api/2026-10/graphql.json"),
            "/admin/api/2026-10/graphql.json"
        );
        assert_eq!(Area::StripeConnect.sub_path("/stripe-connect/oauth/token"), "/oauth/token");
        assert!(Area::Shopify.is_api("/admin/api/2026-10/orders.json"));
        assert!(!Area::Shopify.is_api("/admin/oauth/access_token"));
        assert!(!Area::HubSpot.is_api("/oauth/v1/token"));
        assert!(Area::Stripe.new_request_id().starts_with("req_"));
    }
}
