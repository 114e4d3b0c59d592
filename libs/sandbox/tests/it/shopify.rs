//! The Shopify fake through HTTP: OAuth (HMAC, PKCE, single-use codes, rotation), GraphQL paging, throttling,
//! mutations, the REST fallback, faults.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_sandbox::{DEMO_SHOP, DEMO_SHOPIFY_TOKEN, Fault, Provider, SHOPIFY_CLIENT_ID, SHOPIFY_CLIENT_SECRET};

use crate::support::{Answer, Env, answer, param, query_of, start};

const ORDERS: &str = r#"query Orders($first: Int!, $after: String, $q: String) {
  orders(first: $first, after: $after, query: $q, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes { id name createdAt updatedAt cancelledAt displayFinancialStatus
            totalPriceSet { shopMoney { amount currencyCode } } customer { id email } }
  }
}"#;

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

/// Authorizes on `shop` and returns the callback's query parameters.
async fn authorize(env: &Env, shop: &str, extra: &str) -> Vec<(String, String)> {
    let url = format!(
        "{}/admin/oauth/authorize?client_id={SHOPIFY_CLIENT_ID}&scope=read_orders,write_orders,read_products&redirect_uri=https://app.example/cb&state=nonce-1{extra}",
        env.shop_base(shop)
    );
    let redirect = env.http.get(url).send().await.expect("authorize");
    assert_eq!(redirect.status(), 302);
    let location = redirect.headers()["location"].to_str().expect("location").to_owned();
    assert!(location.starts_with("https://app.example/cb?"), "{location}");
    query_of(&location)
}

async fn exchange(env: &Env, shop: &str, body: Value) -> Answer {
    let url = format!("{}/admin/oauth/access_token", env.shop_base(shop));
    answer(env.http.post(url).json(&body).send().await.expect("token")).await
}

fn code_body(code: &str) -> Value {
    json!({"client_id": SHOPIFY_CLIENT_ID, "client_secret": SHOPIFY_CLIENT_SECRET, "code": code, "expiring": 1})
}

#[tokio::test]
async fn oauth_redirect_is_signed_like_shopify() {
    let env = start().await;
    let params = authorize(&env, "other-shop.myshopify.com", "").await;
    switchboard_signatures::shopify::verify_oauth_callback(SHOPIFY_CLIENT_SECRET, &params, now())
        .expect("hmac verifies");
    assert_eq!(param(&params, "shop"), Some("other-shop.myshopify.com"));
    assert_eq!(param(&params, "state"), Some("nonce-1"));
    assert_eq!(param(&params, "host"), Some("YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvb3RoZXItc2hvcA=="));
    assert!(switchboard_signatures::shopify::verify_oauth_callback("wrong", &params, now()).is_err());

    let bad_client = env
        .http
        .get(format!("{}/admin/oauth/authorize?client_id=nope&redirect_uri=https://a/cb", env.shop_base(DEMO_SHOP)))
        .send()
        .await
        .expect("authorize");
    assert_eq!(bad_client.status(), 400);
}

#[tokio::test]
async fn codes_are_single_use_and_pkce_is_checked() {
    let env = start().await;
    let params = authorize(&env, DEMO_SHOP, "").await;
    let code = param(&params, "code").expect("code");
    let tokens = exchange(&env, DEMO_SHOP, code_body(code)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert!(tokens.body["access_token"].as_str().is_some_and(|t| t.starts_with("shpat_")));
    assert_eq!(tokens.body["scope"], "read_orders,write_orders,read_products");
    assert_eq!(tokens.body["expires_in"], 3600);
    assert!(tokens.body["refresh_token"].as_str().is_some_and(|t| t.starts_with("shprt_")));
    assert_eq!(tokens.body["refresh_token_expires_in"], 7_776_000);
    assert_eq!(exchange(&env, DEMO_SHOP, code_body(code)).await.status, 400, "a code is single-use");

    let mut wrong_secret = code_body("x");
    wrong_secret["client_secret"] = json!("nope");
    assert_eq!(exchange(&env, DEMO_SHOP, wrong_secret).await.status, 401);

    let challenge = pkce("verifier-one-verifier-one-verifier-one-verifier");
    let params = authorize(&env, DEMO_SHOP, &format!("&code_challenge={challenge}&code_challenge_method=S256")).await;
    let code = param(&params, "code").expect("code");
    let mut body = code_body(code);
    body["code_verifier"] = json!("another-verifier-another-verifier-another-verifier");
    let refused = exchange(&env, DEMO_SHOP, body.clone()).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body, json!({"error": "invalid_request", "error_description": "code_verifier does not match"}));
    body["code_verifier"] = json!("verifier-one-verifier-one-verifier-one-verifier");
    assert_eq!(exchange(&env, DEMO_SHOP, body).await.status, 200);

    let params = authorize(&env, DEMO_SHOP, "").await;
    let mut legacy = code_body(param(&params, "code").expect("code"));
    legacy.as_object_mut().expect("object").remove("expiring");
    let tokens = exchange(&env, DEMO_SHOP, legacy).await;
    assert!(tokens.body.get("refresh_token").is_none() && tokens.body.get("expires_in").is_none());
}

fn pkce(verifier: &str) -> String {
    use base64::Engine as _;
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

#[tokio::test]
async fn refresh_rotates_and_retires_the_old_token_once_the_new_one_is_used() {
    let env = start().await;
    let params = authorize(&env, DEMO_SHOP, "").await;
    let tokens = exchange(&env, DEMO_SHOP, code_body(param(&params, "code").expect("code"))).await;
    let access = tokens.body["access_token"].as_str().expect("access").to_owned();
    let r1 = tokens.body["refresh_token"].as_str().expect("refresh").to_owned();
    let refresh = |token: &str| json!({"client_id": SHOPIFY_CLIENT_ID, "client_secret": SHOPIFY_CLIENT_SECRET, "grant_type": "refresh_token", "refresh_token": token});

    let shop_query = "{ shop { name } }";
    assert_eq!(env.graphql(DEMO_SHOP, &access, shop_query, json!({})).await.status, 200);
    env.sandbox.expire_tokens(Provider::Shopify);
    let expired = env.graphql(DEMO_SHOP, &access, shop_query, json!({})).await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.body["errors"], "[API] Invalid API key or access token (unrecognized login or wrong password)");

    let second = exchange(&env, DEMO_SHOP, refresh(&r1)).await;
    assert_eq!(second.status, 200, "{}", second.body);
    let r2 = second.body["refresh_token"].as_str().expect("refresh").to_owned();
    assert_ne!(r1, r2);
    assert_eq!(env.sandbox.counts().refreshes["shopify demo-shop.myshopify.com"], 1);
    let a2 = second.body["access_token"].as_str().expect("access");
    assert_eq!(env.graphql(DEMO_SHOP, a2, shop_query, json!({})).await.status, 200);

    // The replacement has not been used yet: the old one still works (a lost response is recoverable).
    let third = exchange(&env, DEMO_SHOP, refresh(&r1)).await;
    assert_eq!(third.status, 200);
    let r3 = third.body["refresh_token"].as_str().expect("refresh").to_owned();
    assert_eq!(exchange(&env, DEMO_SHOP, refresh(&r3)).await.status, 200);
    let dead = exchange(&env, DEMO_SHOP, refresh(&r1)).await;
    assert_eq!(dead.status, 400);
    assert_eq!(dead.body["error"], "invalid_grant");
    assert_eq!(env.sandbox.counts().refreshes_for(Provider::Shopify), 3);
}

#[tokio::test]
async fn graphql_pagination_walks_every_order_once() {
    let env = start().await;
    let mut seen = HashSet::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    let mut last_updated = String::new();
    loop {
        let page = env
            .graphql(
                DEMO_SHOP,
                DEMO_SHOPIFY_TOKEN,
                ORDERS,
                json!({"first": 120, "after": after, "q": "updated_at:>='2026-01-01T00:00:00Z'"}),
            )
            .await;
        assert_eq!(page.status, 200);
        assert!(page.body.get("errors").is_none(), "{}", page.body);
        assert_eq!(page.header("x-shopify-api-version"), Some("2026-10"));
        let cost = &page.body["extensions"]["cost"];
        assert_eq!(cost["requestedQueryCost"], 122);
        assert_eq!(cost["throttleStatus"]["maximumAvailable"], 1000.0);
        let orders = &page.body["data"]["orders"];
        for node in orders["nodes"].as_array().expect("nodes") {
            assert!(node["id"].as_str().is_some_and(|id| id.starts_with("gid://shopify/Order/")));
            assert!(node["name"].as_str().is_some_and(|n| n.starts_with('#')));
            let updated = node["updatedAt"].as_str().expect("updatedAt").to_owned();
            assert!(updated >= last_updated, "sorted by UPDATED_AT");
            last_updated = updated;
            assert!(node.get("lineItems").is_none(), "only what was selected");
            assert!(seen.insert(node["id"].as_str().expect("id").to_owned()), "no order twice");
        }
        pages += 1;
        if orders["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = orders["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), 300);
    assert_eq!(pages, 3);

    let since = env
        .graphql(
            DEMO_SHOP,
            DEMO_SHOPIFY_TOKEN,
            ORDERS,
            json!({"first": 250, "q": "updated_at:>='2026-10-25T00:00:00Z'"}),
        )
        .await;
    let recent = since.body["data"]["orders"]["nodes"].as_array().expect("nodes").len();
    assert!(recent > 0 && recent < 300, "{recent}");

    let unknown =
        env.graphql(DEMO_SHOP, DEMO_SHOPIFY_TOKEN, "{ orders(first: 1) { nodes { colour } } }", json!({})).await;
    assert_eq!(unknown.body["errors"][0]["extensions"]["code"], "undefinedField");
    let version = format!("{}/admin/api/2025-01/graphql.json", env.shop_base(DEMO_SHOP));
    let old = env
        .http
        .post(version)
        .header("x-shopify-access-token", DEMO_SHOPIFY_TOKEN)
        .json(&json!({"query": "{ shop { name } }"}));
    assert_eq!(answer(old.send().await.expect("request")).await.header("x-shopify-api-version"), Some("2026-01"));
}

#[tokio::test]
async fn throttling_appears_when_the_bucket_is_drained() {
    let env = start().await;
    let query = "{ products(first: 250) { nodes { id title totalInventory } } }";
    let mut throttled = None;
    for _ in 0..20 {
        let answer = env.graphql(DEMO_SHOP, DEMO_SHOPIFY_TOKEN, query, json!({})).await;
        assert_eq!(answer.status, 200);
        if answer.body["errors"][0]["extensions"]["code"] == "THROTTLED" {
            throttled = Some(answer.body);
            break;
        }
    }
    let body = throttled.expect("the bucket runs dry within 20 queries of cost 252");
    assert_eq!(body["errors"][0]["message"], "Throttled");
    assert_eq!(body["extensions"]["cost"]["actualQueryCost"], Value::Null);
    assert_eq!(body["extensions"]["cost"]["requestedQueryCost"], 252);
    assert!(body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"].as_f64() < Some(252.0));
    assert!(body.get("data").is_none());
    assert_eq!(env.sandbox.counts().graphql_throttled, 1);
}

#[tokio::test]
async fn cancelling_an_order_is_seen_by_an_incremental_sync_and_refused_twice() {
    let env = start().await;
    let page = env.graphql(DEMO_SHOP, DEMO_SHOPIFY_TOKEN, ORDERS, json!({"first": 250})).await;
    let open = page.body["data"]["orders"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|o| o["cancelledAt"].is_null())
        .expect("an open order")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let cancel = r#"mutation Cancel($id: ID!) { orderCancel(orderId: $id, reason: CUSTOMER, refund: true, restock: true, notifyCustomer: false) {
        job { id done } orderCancelUserErrors { field message code } userErrors { field message } } }"#;
    let done = env.graphql(DEMO_SHOP, DEMO_SHOPIFY_TOKEN, cancel, json!({"id": open})).await;
    assert_eq!(done.body["data"]["orderCancel"]["userErrors"], json!([]), "{}", done.body);
    let again = env.graphql(DEMO_SHOP, DEMO_SHOPIFY_TOKEN, cancel, json!({"id": open})).await;
    assert_eq!(
        again.body["data"]["orderCancel"]["userErrors"],
        json!([{"field": ["orderId"], "message": "Order has already been cancelled"}])
    );
    let since = env
        .graphql(
            DEMO_SHOP,
            DEMO_SHOPIFY_TOKEN,
            ORDERS,
            json!({"first": 10, "q": "updated_at:>='2026-11-01T00:00:00Z'"}),
        )
        .await;
    let nodes = since.body["data"]["orders"]["nodes"].as_array().expect("nodes").clone();
    assert_eq!(nodes.len(), 1, "only the cancelled order changed since the epoch");
    assert_eq!(nodes[0]["id"], open.as_str());
    assert!(nodes[0]["cancelledAt"].is_string());
    assert_eq!(env.sandbox.counts().graphql_fields["orderCancel"], 2);
}

#[tokio::test]
async fn rest_orders_page_through_link_headers() {
    let env = start().await;
    let mut url = format!("{}/admin/api/2026-10/orders.json?limit=100&status=any", env.shop_base(DEMO_SHOP));
    let mut seen = HashSet::new();
    loop {
        let page =
            answer(env.http.get(&url).header("x-shopify-access-token", DEMO_SHOPIFY_TOKEN).send().await.expect("get"))
                .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.header("x-shopify-shop-api-call-limit").is_some_and(|v| v.ends_with("/40")));
        for order in page.body["orders"].as_array().expect("orders") {
            assert!(seen.insert(order["id"].as_u64().expect("id")));
        }
        let link = page.header("link").unwrap_or_default().to_owned();
        let next = link
            .split(", ")
            .find(|l| l.ends_with("rel=\"next\""))
            .map(|l| l.trim_start_matches('<').split('>').next().unwrap_or_default().to_owned());
        match next {
            Some(next) => url = next,
            None => break,
        }
    }
    assert_eq!(seen.len(), 300);
    let open = format!("{}/admin/api/2026-10/orders.json?limit=250", env.shop_base(DEMO_SHOP));
    let page =
        answer(env.http.get(open).header("x-shopify-access-token", DEMO_SHOPIFY_TOKEN).send().await.expect("get"))
            .await;
    assert!(page.body["orders"].as_array().expect("orders").len() < 250, "status defaults to open");
}

#[tokio::test]
async fn injected_faults_carry_float_retry_after_and_bad_tokens_are_401() {
    let env = start().await;
    env.sandbox.inject(Fault {
        provider: Provider::Shopify,
        status: 429,
        count: 1,
        retry_after: Some(Duration::from_millis(1500)),
    });
    let limited = env.graphql(DEMO_SHOP, DEMO_SHOPIFY_TOKEN, "{ shop { name } }", json!({})).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("1.5"));
    assert_eq!(limited.body["errors"][0]["extensions"]["code"], "THROTTLED");
    let counts = env.sandbox.counts();
    assert_eq!(counts.last_throttle[&Provider::Shopify].retry_after, Some(Duration::from_millis(1500)));

    let bad = env.graphql(DEMO_SHOP, "shpat_nope", "{ shop { name } }", json!({})).await;
    assert_eq!(bad.status, 401);
    let elsewhere = env.graphql("other-shop.myshopify.com", DEMO_SHOPIFY_TOKEN, "{ shop { name } }", json!({})).await;
    assert_eq!(elsewhere.status, 401, "the demo token is the demo shop's");

    let control = format!("{}/_sandbox/faults", env.sandbox.base_url());
    let queued = env
        .http
        .post(control)
        .json(&json!({"provider": "shopify", "status": 503, "count": 1}))
        .send()
        .await
        .expect("post");
    assert_eq!(queued.status(), 200);
    let failed = env.graphql(DEMO_SHOP, DEMO_SHOPIFY_TOKEN, "{ shop { name } }", json!({})).await;
    assert_eq!(failed.status, 503);
}
