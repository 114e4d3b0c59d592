//! The Stripe fake through HTTP: list semantics, writes, idempotency, auth errors, faults, Connect OAuth, webhooks.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;
use switchboard_sandbox::{DEMO_STRIPE_ACCOUNT, DEMO_STRIPE_KEY, Fault, Provider, STRIPE_PLATFORM_KEY};
use tokio_util::sync::CancellationToken;

use crate::support::{Env, eventually, param, query_of, receiver, start};

/// Walks `/v1/{resource}` with `limit=100` and `starting_after`, returning every object.
async fn walk(env: &Env, resource: &str, extra: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let cursor = after.as_deref().map(|id| format!("&starting_after={id}")).unwrap_or_default();
        let page = env.stripe_get(DEMO_STRIPE_KEY, &format!("/v1/{resource}?limit=100{extra}{cursor}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(page.body["object"], "list");
        assert_eq!(page.body["url"], format!("/v1/{resource}"));
        let data = page.body["data"].as_array().expect("data").clone();
        after = data.last().and_then(|o| o["id"].as_str()).map(str::to_owned);
        all.extend(data);
        if page.body["has_more"] != true {
            return all;
        }
    }
}

#[tokio::test]
async fn pagination_walks_every_charge_exactly_once_newest_first() {
    let env = start().await;
    let charges = walk(&env, "charges", "").await;
    assert_eq!(charges.len(), 500);
    let ids: HashSet<&str> = charges.iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids.len(), 500);
    assert!(ids.iter().all(|id| id.starts_with("ch_")));
    let created: Vec<i64> = charges.iter().filter_map(|c| c["created"].as_i64()).collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let charge = &charges[0];
    for field in ["amount", "currency", "customer", "status", "amount_refunded", "refunded", "payment_intent"] {
        assert!(charge.get(field).is_some(), "charge has {field}");
    }
    assert_eq!(charge["object"], "charge");

    assert_eq!(walk(&env, "customers", "").await.len(), 200);
    assert_eq!(walk(&env, "invoices", "").await.len(), 120);
    assert_eq!(walk(&env, "payment_intents", "").await.len(), 300);
    assert_eq!(walk(&env, "refunds", "").await.len(), 40);
}

#[tokio::test]
async fn created_filters_and_ending_before() {
    let env = start().await;
    let all = walk(&env, "charges", "").await;
    let cutoff = all[120]["created"].as_i64().expect("created");
    let expected = all.iter().filter(|c| c["created"].as_i64() >= Some(cutoff)).count();
    let recent = walk(&env, "charges", &format!("&created[gte]={cutoff}")).await;
    assert_eq!(recent.len(), expected);
    assert!(recent.iter().all(|c| c["created"].as_i64() >= Some(cutoff)));
    let older = walk(&env, "charges", &format!("&created[lt]={cutoff}")).await;
    assert_eq!(older.len() + recent.len(), 500);

    let anchor = all[30]["id"].as_str().expect("id");
    let page = env.stripe_get(DEMO_STRIPE_KEY, &format!("/v1/charges?limit=5&ending_before={anchor}")).await;
    let ids: Vec<&str> = page.body["data"].as_array().expect("data").iter().filter_map(|c| c["id"].as_str()).collect();
    let expected: Vec<&str> = all[25..30].iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids, expected);
    assert_eq!(page.body["has_more"], true);
}

#[tokio::test]
async fn bad_list_parameters_name_the_parameter() {
    let env = start().await;
    let page = env.stripe_get(DEMO_STRIPE_KEY, "/v1/charges?limit=101").await;
    assert_eq!(page.status, 400);
    assert_eq!(page.body["error"]["param"], "limit");
    let page = env.stripe_get(DEMO_STRIPE_KEY, "/v1/charges?starting_after=ch_nope").await;
    assert_eq!(page.status, 400);
    assert_eq!(page.body["error"]["code"], "resource_missing");
    let page = env.stripe_get(DEMO_STRIPE_KEY, "/v1/widgets").await;
    assert_eq!(page.status, 404);
}

#[tokio::test]
async fn bad_key_is_401_with_a_masked_key_and_request_id() {
    let env = start().await;
    let answer = env.stripe_get("sk_test_xxxxdemo", "/v1/charges").await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.body["error"]["message"], "Invalid API Key provided: sk_test_****demo");
    assert_eq!(answer.body["error"]["type"], "invalid_request_error");
    assert!(answer.header("request-id").is_some_and(|id| id.starts_with("req_")));
    assert_eq!(answer.header("stripe-version"), Some("2026-10-28.acacia"));

    let answer = env.stripe_get(DEMO_STRIPE_KEY, "/v1/account").await;
    assert_eq!(answer.body["id"], DEMO_STRIPE_ACCOUNT);
    assert_eq!(answer.body["object"], "account");
    let url = format!("{}/v1/account", env.sandbox.stripe_api_base());
    let basic = env.http.get(url).basic_auth(DEMO_STRIPE_KEY, Some("")).header("stripe-version", "2025-10-29.clover");
    let answer = crate::support::answer(basic.send().await.expect("request")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("stripe-version"), Some("2025-10-29.clover"));

    let platform = env.http.get(format!("{}/v1/charges?limit=1", env.sandbox.stripe_api_base()));
    let platform = platform.bearer_auth(STRIPE_PLATFORM_KEY).header("stripe-account", DEMO_STRIPE_ACCOUNT);
    let answer = crate::support::answer(platform.send().await.expect("request")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn idempotency_keys_replay_and_refuse_other_parameters() {
    let env = start().await;
    let form = [("email", "new@example.com"), ("name", "New Customer"), ("metadata[source]", "test")];
    let first = env.stripe_post(DEMO_STRIPE_KEY, "/v1/customers", &form, &[("idempotency-key", "k-1")]).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["metadata"]["source"], "test");
    let again = env.stripe_post(DEMO_STRIPE_KEY, "/v1/customers", &form, &[("idempotency-key", "k-1")]).await;
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let other = env
        .stripe_post(DEMO_STRIPE_KEY, "/v1/customers", &[("email", "other@example.com")], &[("idempotency-key", "k-1")])
        .await;
    assert_eq!(other.status, 400);
    assert_eq!(other.body["error"]["type"], "idempotency_error");
    let listed = env.stripe_get(DEMO_STRIPE_KEY, "/v1/customers?email=new@example.com").await;
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(1), "created once");
    let events = env.stripe_get(DEMO_STRIPE_KEY, "/v1/events?type=customer.created&limit=1").await;
    assert_eq!(events.body["data"][0]["data"]["object"]["id"], first.body["id"]);
}

#[tokio::test]
async fn refunds_update_the_charge_and_record_an_event() {
    let env = start().await;
    let charges = walk(&env, "charges", "").await;
    let charge = charges
        .iter()
        .find(|c| c["status"] == "succeeded" && c["amount_refunded"] == 0 && c["amount"].as_i64() > Some(200))
        .expect("a refundable charge");
    let id = charge["id"].as_str().expect("id");
    let amount = charge["amount"].as_i64().expect("amount");

    let refund = env.stripe_post(DEMO_STRIPE_KEY, "/v1/refunds", &[("charge", id), ("amount", "100")], &[]).await;
    assert_eq!(refund.status, 200, "{}", refund.body);
    assert!(refund.body["id"].as_str().is_some_and(|r| r.starts_with("re_")));
    let after = env.stripe_get(DEMO_STRIPE_KEY, &format!("/v1/charges/{id}")).await;
    assert_eq!(after.body["amount_refunded"], 100);
    assert_eq!(after.body["refunded"], false);
    let events = env.stripe_get(DEMO_STRIPE_KEY, "/v1/events?types[]=charge.refunded&limit=1").await;
    assert_eq!(events.body["data"][0]["type"], "charge.refunded");
    assert_eq!(events.body["data"][0]["data"]["object"]["id"], id);

    let too_much = (amount).to_string();
    let refused = env.stripe_post(DEMO_STRIPE_KEY, "/v1/refunds", &[("charge", id), ("amount", &too_much)], &[]).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body["error"]["code"], "charge_already_refunded");
    let rest = env.stripe_post(DEMO_STRIPE_KEY, "/v1/refunds", &[("charge", id)], &[]).await;
    assert_eq!(rest.body["amount"], amount - 100);
    let after = env.stripe_get(DEMO_STRIPE_KEY, &format!("/v1/charges/{id}")).await;
    assert_eq!(after.body["refunded"], true);

    let readonly = env.stripe_post("rk_test_sandbox_demo", "/v1/refunds", &[("charge", id)], &[]).await;
    assert_eq!(readonly.status, 403);
}

#[tokio::test]
async fn invoices_are_sent_only_when_open() {
    let env = start().await;
    let open = env.stripe_get(DEMO_STRIPE_KEY, "/v1/invoices?status=open&limit=1").await;
    let id = open.body["data"][0]["id"].as_str().expect("an open invoice").to_owned();
    let sent = env.stripe_post(DEMO_STRIPE_KEY, &format!("/v1/invoices/{id}/send"), &[], &[]).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let draft = env.stripe_get(DEMO_STRIPE_KEY, "/v1/invoices?status=draft&limit=1").await;
    let id = draft.body["data"][0]["id"].as_str().expect("a draft invoice").to_owned();
    let refused = env.stripe_post(DEMO_STRIPE_KEY, &format!("/v1/invoices/{id}/send"), &[], &[]).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body["error"]["code"], "invoice_not_open");
}

#[tokio::test]
async fn injected_rate_limits_answer_like_stripe_and_are_counted() {
    let env = start().await;
    env.sandbox.inject(Fault {
        provider: Provider::Stripe,
        status: 429,
        count: 2,
        retry_after: Some(Duration::from_secs(1)),
    });
    for _ in 0..2 {
        let limited = env.stripe_get(DEMO_STRIPE_KEY, "/v1/charges").await;
        assert_eq!(limited.status, 429);
        assert_eq!(limited.body["error"]["code"], "rate_limit");
        assert_eq!(limited.body["error"]["type"], "invalid_request_error");
        assert_eq!(limited.header("stripe-should-retry"), Some("true"));
        assert_eq!(limited.header("retry-after"), Some("1"));
    }
    assert_eq!(env.stripe_get(DEMO_STRIPE_KEY, "/v1/charges").await.status, 200);
    let counts = env.sandbox.counts();
    assert_eq!(counts.throttled_for(Provider::Stripe), 2);
    assert_eq!(counts.requests_to("stripe GET /v1/charges"), 3);
    assert_eq!(counts.last_throttle[&Provider::Stripe].retry_after, Some(Duration::from_secs(1)));
    assert_eq!(counts.early_retries(Provider::Stripe).len(), 2, "this client did not wait");

    env.sandbox.inject(Fault { provider: Provider::Stripe, status: 503, count: 1, retry_after: None });
    let failed = env.stripe_get(DEMO_STRIPE_KEY, "/v1/charges").await;
    assert_eq!(failed.status, 503);
    assert_eq!(failed.body["error"]["type"], "api_error");
}

#[tokio::test]
async fn connect_oauth_issues_single_use_codes_and_refreshable_tokens() {
    let env = start().await;
    let connect = env.sandbox.stripe_connect_base();
    let authorize = format!(
        "{connect}/oauth/authorize?response_type=code&client_id=ca_sandbox&scope=read_write&state=s1&redirect_uri=https://app.example/cb"
    );
    let redirect = env.http.get(&authorize).send().await.expect("authorize");
    assert_eq!(redirect.status(), 302);
    let location = redirect.headers()["location"].to_str().expect("location").to_owned();
    assert!(location.starts_with("https://app.example/cb?"));
    let params = query_of(&location);
    assert_eq!(param(&params, "state"), Some("s1"));
    assert_eq!(param(&params, "scope"), Some("read_write"));
    let code = param(&params, "code").expect("code").to_owned();
    assert!(code.starts_with("ac_"));

    let exchange = |body: String| {
        env.http
            .post(format!("{connect}/oauth/token"))
            .bearer_auth(STRIPE_PLATFORM_KEY)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let tokens =
        crate::support::answer(exchange(format!("grant_type=authorization_code&code={code}")).await.expect("token"))
            .await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert_eq!(tokens.body["stripe_user_id"], DEMO_STRIPE_ACCOUNT);
    assert_eq!(tokens.body["token_type"], "bearer");
    assert_eq!(tokens.body["livemode"], false);
    let access = tokens.body["access_token"].as_str().expect("access").to_owned();
    assert!(access.starts_with("sk_test_"));
    assert_eq!(env.stripe_get(&access, "/v1/account").await.body["id"], DEMO_STRIPE_ACCOUNT);

    let reused =
        crate::support::answer(exchange(format!("grant_type=authorization_code&code={code}")).await.expect("token"))
            .await;
    assert_eq!(reused.status, 400);
    assert_eq!(reused.body["error"], "invalid_grant");

    let refresh = tokens.body["refresh_token"].as_str().expect("refresh").to_owned();
    let refreshed = crate::support::answer(
        exchange(format!("grant_type=refresh_token&refresh_token={refresh}")).await.expect("refresh"),
    )
    .await;
    assert_eq!(refreshed.status, 200);
    assert_eq!(env.sandbox.counts().refreshes_for(Provider::Stripe), 1);

    env.sandbox.expire_tokens(Provider::Stripe);
    let expired = env.stripe_get(&access, "/v1/account").await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.body["error"]["code"], "api_key_expired");
    assert_eq!(env.stripe_get(DEMO_STRIPE_KEY, "/v1/account").await.status, 200, "demo keys never expire");

    let unknown = env.http.get(authorize.replace("ca_sandbox", "ca_other")).send().await.expect("authorize");
    assert_eq!(unknown.status(), 400);
}

#[tokio::test]
async fn webhooks_are_signed_and_api_writes_send_them() {
    let env = start().await;
    let secret = switchboard_sandbox::STRIPE_WEBHOOK_SECRET;
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;

    let delivery =
        env.sandbox.stripe_event("customer.updated", serde_json::json!({"id": "cus_x", "object": "customer"}));
    let header = delivery.header("Stripe-Signature").expect("signature");
    switchboard_signatures::stripe::verify(secret, header, &delivery.body, now(), 300).expect("verifies");
    let events = env.stripe_get(DEMO_STRIPE_KEY, "/v1/events?type=customer.updated").await;
    assert_eq!(events.body["data"][0]["id"], delivery.event_id.as_str());

    let charges = walk(&env, "charges", "").await;
    let refundable: Vec<&str> = charges
        .iter()
        .filter(|c| c["status"] == "succeeded" && c["amount_refunded"] == 0)
        .filter_map(|c| c["id"].as_str())
        .take(2)
        .collect();
    let delivery = env.sandbox.refund_charge_event(refundable[0]).expect("refund");
    assert_eq!(delivery.json().expect("json")["type"], "charge.refunded");
    assert_eq!(env.stripe_get(DEMO_STRIPE_KEY, &format!("/v1/charges/{}", refundable[0])).await.body["refunded"], true);
    assert!(env.sandbox.refund_charge_event(refundable[0]).is_err(), "already refunded");

    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let (url, received) = receiver(&stop).await;
    env.sandbox.set_webhook_target(Provider::Stripe, url);
    assert_eq!(env.sandbox.deliver(Provider::Stripe, &delivery).await.expect("deliver"), 200);
    let refund = env.stripe_post(DEMO_STRIPE_KEY, "/v1/refunds", &[("charge", refundable[1])], &[]).await;
    assert_eq!(refund.status, 200);
    eventually("the API refund's webhooks", || async { received.lock().expect("lock").len() >= 3 }).await;
    let received = received.lock().expect("lock").clone();
    for (headers, body) in &received {
        let signature = headers["stripe-signature"].to_str().expect("header");
        switchboard_signatures::stripe::verify(secret, signature, body, now(), 300).expect("verifies");
    }
    let types: Vec<String> = received
        .iter()
        .filter_map(|(_, body)| serde_json::from_slice::<Value>(body).ok())
        .filter_map(|e| e["type"].as_str().map(str::to_owned))
        .collect();
    assert!(types.contains(&"refund.created".to_owned()), "{types:?}");
}
