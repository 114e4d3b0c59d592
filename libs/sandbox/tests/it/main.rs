//! The sandbox's behaviour through its public API and HTTP: every test starts its own sandbox on `127.0.0.1:0`.

mod hubspot;
mod quickbooks;
mod shopify;
mod skeletons;
mod stripe;
mod support;

use serde_json::json;
use switchboard_sandbox::{DEMO_SHOP, DEMO_SHOPIFY_TOKEN, DEMO_STRIPE_KEY, SandboxConfig};

use crate::support::{start, start_with};

#[tokio::test]
async fn one_seed_serves_identical_first_pages_and_another_seed_does_not() {
    let config = |seed| SandboxConfig { seed, ..SandboxConfig::default() };
    let (a, b, c) = (start_with(config(7)).await, start_with(config(7)).await, start_with(config(8)).await);
    let charges = "/v1/charges?limit=20";
    let (first, second, other) = (
        a.stripe_get(DEMO_STRIPE_KEY, charges).await.body,
        b.stripe_get(DEMO_STRIPE_KEY, charges).await.body,
        c.stripe_get(DEMO_STRIPE_KEY, charges).await.body,
    );
    assert_eq!(first, second);
    assert_ne!(first, other);

    let orders = "{ orders(first: 50, sortKey: UPDATED_AT) { pageInfo { endCursor } nodes { id name updatedAt totalPriceSet { shopMoney { amount } } } } }";
    let first = a.graphql(DEMO_SHOP, DEMO_SHOPIFY_TOKEN, orders, json!({})).await.body;
    let second = b.graphql(DEMO_SHOP, DEMO_SHOPIFY_TOKEN, orders, json!({})).await.body;
    assert_eq!(first["data"], second["data"]);
}

#[tokio::test]
async fn scale_multiplies_the_data() {
    let env = start_with(SandboxConfig { scale: 3, ..SandboxConfig::default() }).await;
    let count = "{ orders(last: 1) { nodes { name } } }";
    let last = env.graphql(DEMO_SHOP, DEMO_SHOPIFY_TOKEN, count, json!({})).await;
    assert_eq!(last.body["data"]["orders"]["nodes"][0]["name"], "#1900");
}

#[tokio::test]
async fn control_plane_health_and_counts() {
    let env = start().await;
    let health = env.http.get(format!("{}/_sandbox/health", env.sandbox.base_url())).send().await.expect("health");
    assert_eq!(health.status(), 200);
    env.stripe_get(DEMO_STRIPE_KEY, "/v1/customers").await;
    let counts = support::answer(
        env.http.get(format!("{}/_sandbox/counts", env.sandbox.base_url())).send().await.expect("counts"),
    )
    .await;
    assert_eq!(counts.body["requests"]["stripe GET /v1/customers"], 1);
    let missing = env
        .http
        .post(format!("{}/_sandbox/webhooks/shopify", env.sandbox.base_url()))
        .json(&json!({"topic": "orders/create", "payload": {"id": 1}}))
        .send()
        .await
        .expect("post");
    assert_eq!(missing.status(), 409, "no webhook target is set");
}
