//! The Shopify fake under `{base}/shopify/{shop}` (the real base is `https://{shop}`): OAuth ([`oauth`]), the
//! GraphQL Admin API ([`admin`]) and the legacy REST `orders.json` ([`rest`]).
//!
//! Any `name.myshopify.com` is a shop; [`DEMO_SHOP`] holds the demo data and the others start empty. API calls
//! authenticate with `X-Shopify-Access-Token`: [`DEMO_SHOPIFY_TOKEN`] (demo shop only, every scope, never expires) or
//! a token issued to that shop by OAuth. Versions `2026-01`, `2026-04`, `2026-07` and `2026-10` are served; any other
//! falls forward to the oldest, and `X-Shopify-API-Version` says which was served.

mod admin;
mod bucket;
mod demo;
mod graphql;
mod oauth;
mod objects;
mod rest;
mod search;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

pub(crate) use self::objects::Shop;
use crate::oauth::AccessError;
use crate::state::{Shared, lock};
use crate::{DEMO_SHOP, DEMO_SHOPIFY_TOKEN, Provider};

/// The versions served, oldest first.
pub(crate) const SUPPORTED_VERSIONS: [&str; 4] = ["2026-01", "2026-04", "2026-07", "2026-10"];
/// The newest version (what webhooks are rendered in).
pub(crate) const LATEST_VERSION: &str = "2026-10";
/// Every scope, as the demo token holds them.
pub(crate) const ALL_SCOPES: &str = "read_orders,write_orders,read_all_orders,read_products,write_products,\
read_customers,write_customers,read_inventory,write_inventory,read_discounts,write_discounts";

/// The version actually served for a requested one.
pub(crate) fn served_version(requested: &str) -> &'static str {
    SUPPORTED_VERSIONS.iter().find(|v| **v == requested).copied().unwrap_or(SUPPORTED_VERSIONS[0])
}

/// Every shop the sandbox has seen.
#[derive(Debug)]
pub(crate) struct ShopifyData {
    shops: HashMap<String, Shop>,
    next_shop_id: u64,
}

impl ShopifyData {
    pub(crate) fn generate(seed: u64, scale: u32) -> Self {
        let mut shops = HashMap::new();
        shops.insert(DEMO_SHOP.to_owned(), demo::demo_shop(DEMO_SHOP, seed, scale));
        Self { shops, next_shop_id: 70_000_000_000 }
    }

    /// The shop on `domain`, created empty on first use.
    pub(crate) fn shop_mut(&mut self, domain: &str) -> &mut Shop {
        let next_id = &mut self.next_shop_id;
        self.shops.entry(domain.to_owned()).or_insert_with(|| {
            *next_id += 1;
            Shop::empty(domain, *next_id)
        })
    }
}

/// The Shopify routes.
pub(crate) fn routes(shared: &Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/shopify/{shop}/admin/oauth/authorize", get(oauth::authorize))
        .route("/shopify/{shop}/admin/oauth/access_token", post(oauth::access_token))
        .route("/shopify/{shop}/admin/api/{version}/graphql.json", post(admin::graphql))
        .route("/shopify/{shop}/admin/api/{version}/orders.json", get(rest::orders))
        .route_layer(axum::middleware::from_fn_with_state(shared.clone(), crate::gate::shopify))
}

/// Shopify's 404, for paths on something that is not a shop domain.
pub(crate) fn not_found() -> Response {
    (StatusCode::NOT_FOUND, axum::Json(json!({"errors": "Not Found"}))).into_response()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})),
    )
        .into_response()
}

/// The scopes of the request's `X-Shopify-Access-Token` on `shop`, or the 401 Shopify answers.
#[allow(clippy::result_large_err)] // the refusal is the response itself, built once per refused request
pub(crate) fn authenticate(shared: &Shared, shop: &str, headers: &HeaderMap) -> Result<String, Response> {
    let token = headers.get("x-shopify-access-token").and_then(|v| v.to_str().ok()).map(str::trim).unwrap_or("");
    if token.is_empty() {
        return Err(unauthorized());
    }
    if token == DEMO_SHOPIFY_TOKEN {
        return if shop == DEMO_SHOP { Ok(ALL_SCOPES.to_owned()) } else { Err(unauthorized()) };
    }
    match lock(&shared.grants).check(Provider::Shopify, token) {
        Ok(grant) if grant.account == shop => Ok(grant.scope),
        Ok(_) | Err(AccessError::Unknown) | Err(AccessError::Expired) => Err(unauthorized()),
    }
}

/// Whether `scopes` (comma-separated) grant `needed`; a `write_` scope implies its `read_`.
pub(crate) fn has_scope(scopes: &str, needed: &str) -> bool {
    let implied = needed.strip_prefix("read_").map(|rest| format!("write_{rest}"));
    scopes.split(',').map(str::trim).any(|s| s == needed || Some(s) == implied.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_fall_forward_to_the_oldest_supported() {
        assert_eq!(served_version("2026-07"), "2026-07");
        assert_eq!(served_version("2025-01"), "2026-01");
        assert_eq!(served_version("unstable"), "2026-01");
    }

    #[test]
    fn write_scopes_imply_read() {
        assert!(has_scope("write_orders,read_products", "read_orders"));
        assert!(has_scope(ALL_SCOPES, "write_discounts"));
        assert!(!has_scope("read_orders", "write_orders"));
        assert!(!has_scope("read_products", "read_orders"));
    }
}
