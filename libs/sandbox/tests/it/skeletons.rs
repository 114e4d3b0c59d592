//! The QuickBooks skeleton: OAuth with its rotation rule, token expiry, signed webhooks.

use serde_json::json;
use switchboard_sandbox::{
    DEMO_QUICKBOOKS_REALM, Provider, QUICKBOOKS_CLIENT_ID, QUICKBOOKS_CLIENT_SECRET, QUICKBOOKS_VERIFIER_TOKEN,
};

use crate::support::{Answer, Env, answer, param, query_of, start};

const REDIRECT: &str = "https://app.example/cb";

async fn authorize(env: &Env, url: String) -> Vec<(String, String)> {
    let redirect = env.http.get(url).send().await.expect("authorize");
    assert_eq!(redirect.status(), 302);
    query_of(redirect.headers()["location"].to_str().expect("location"))
}

async fn quickbooks_token(env: &Env, form: &[(&str, &str)]) -> Answer {
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let request = env
        .http
        .post(format!("{}/oauth2/v1/tokens/bearer", env.sandbox.quickbooks_base()))
        .basic_auth(QUICKBOOKS_CLIENT_ID, Some(QUICKBOOKS_CLIENT_SECRET))
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    answer(request.send().await.expect("token")).await
}

#[tokio::test]
async fn quickbooks_rotates_refresh_tokens_and_kills_the_old_one_at_once() {
    let env = start().await;
    let params = authorize(
        &env,
        format!(
            "{}/connect/oauth2?client_id={QUICKBOOKS_CLIENT_ID}&scope=com.intuit.quickbooks.accounting&redirect_uri={REDIRECT}&state=q1&response_type=code",
            env.sandbox.quickbooks_base()
        ),
    )
    .await;
    assert_eq!(param(&params, "realmId"), Some(DEMO_QUICKBOOKS_REALM));
    assert_eq!(param(&params, "state"), Some("q1"));
    let code = param(&params, "code").expect("code");
    let tokens =
        quickbooks_token(&env, &[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT)])
            .await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert_eq!(tokens.body["token_type"], "bearer");
    assert_eq!(tokens.body["expires_in"], 3600);
    assert_eq!(tokens.body["x_refresh_token_expires_in"], 8_726_400);
    assert!(tokens.header("intuit_tid").is_some());

    let access = tokens.body["access_token"].as_str().expect("access").to_owned();
    let info = format!(
        "{}/v3/company/{DEMO_QUICKBOOKS_REALM}/companyinfo/{DEMO_QUICKBOOKS_REALM}",
        env.sandbox.quickbooks_base()
    );
    let ok = answer(env.http.get(&info).bearer_auth(&access).send().await.expect("get")).await;
    assert_eq!(ok.status, 200);
    assert!(ok.body["CompanyInfo"]["CompanyName"].is_string());
    env.sandbox.expire_tokens(Provider::QuickBooks);
    let expired = answer(env.http.get(&info).bearer_auth(&access).send().await.expect("get")).await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.body["fault"]["error"][0]["code"], "3200");

    let r1 = tokens.body["refresh_token"].as_str().expect("refresh").to_owned();
    let second = quickbooks_token(&env, &[("grant_type", "refresh_token"), ("refresh_token", &r1)]).await;
    assert_eq!(second.status, 200);
    assert_ne!(second.body["refresh_token"], r1.as_str());
    let reused = quickbooks_token(&env, &[("grant_type", "refresh_token"), ("refresh_token", &r1)]).await;
    assert_eq!(reused.status, 400);
    assert_eq!(reused.body, json!({"error": "invalid_grant"}));
    assert_eq!(env.sandbox.counts().refreshes["quickbooks 9341453050"], 1);

    let delivery = env.sandbox.quickbooks_webhook(DEMO_QUICKBOOKS_REALM, "Invoice", "130", "Update");
    let signature = delivery.header("intuit-signature").expect("signature");
    switchboard_signatures::quickbooks::verify(QUICKBOOKS_VERIFIER_TOKEN, signature, &delivery.body).expect("verifies");
    assert_eq!(delivery.json().expect("json")[0]["type"], "qbo.invoice.updated.v1");
}
