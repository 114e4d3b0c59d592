//! The QuickBooks and HubSpot skeletons: OAuth with their rotation rules, token expiry, signed webhooks.

use serde_json::json;
use switchboard_sandbox::{
    DEMO_HUBSPOT_PORTAL, DEMO_QUICKBOOKS_REALM, HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET, Provider,
    QUICKBOOKS_CLIENT_ID, QUICKBOOKS_CLIENT_SECRET, QUICKBOOKS_VERIFIER_TOKEN,
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

#[tokio::test]
async fn hubspot_keeps_its_refresh_token_and_signs_v3() {
    let env = start().await;
    let params = authorize(
        &env,
        format!(
            "{}/oauth/authorize?client_id={HUBSPOT_CLIENT_ID}&redirect_uri={REDIRECT}&scope=crm.objects.contacts.read%20oauth&state=h1",
            env.sandbox.hubspot_base()
        ),
    )
    .await;
    assert_eq!(param(&params, "state"), Some("h1"));
    let token = |form: Vec<(&'static str, String)>| {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        env.http
            .post(format!("{}/oauth/2026-03/token", env.sandbox.hubspot_base()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let client = |mut form: Vec<(&'static str, String)>| {
        form.push(("client_id", HUBSPOT_CLIENT_ID.to_owned()));
        form.push(("client_secret", HUBSPOT_CLIENT_SECRET.to_owned()));
        form
    };
    let code = param(&params, "code").expect("code").to_owned();
    let tokens = answer(
        token(client(vec![
            ("grant_type", "authorization_code".into()),
            ("code", code),
            ("redirect_uri", REDIRECT.into()),
        ]))
        .await
        .expect("token"),
    )
    .await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert_eq!(tokens.body["expires_in"], 1800);
    assert_eq!(tokens.body["hub_id"], DEMO_HUBSPOT_PORTAL);
    let refresh = tokens.body["refresh_token"].as_str().expect("refresh").to_owned();
    let again = answer(
        token(client(vec![("grant_type", "refresh_token".into()), ("refresh_token", refresh.clone())]))
            .await
            .expect("token"),
    )
    .await;
    assert_eq!(again.body["refresh_token"], refresh.as_str(), "not rotated");
    assert_eq!(env.sandbox.counts().refreshes_for(Provider::HubSpot), 1);

    let access = again.body["access_token"].as_str().expect("access");
    let details = format!("{}/account-info/v3/details", env.sandbox.hubspot_base());
    let ok = answer(env.http.get(&details).bearer_auth(access).send().await.expect("get")).await;
    assert_eq!(ok.body["portalId"], DEMO_HUBSPOT_PORTAL);

    let uri = "https://gateway.example/v1/webhooks/hubspot";
    let delivery = env.sandbox.hubspot_webhook(
        DEMO_HUBSPOT_PORTAL,
        uri,
        json!([{"subscriptionType": "deal.creation", "objectId": 7}]),
    );
    let headers = switchboard_signatures::hubspot::Headers {
        signature: delivery.header("X-HubSpot-Signature"),
        signature_version: delivery.header("X-HubSpot-Signature-Version"),
        signature_v3: delivery.header("X-HubSpot-Signature-v3"),
        request_timestamp: delivery.header("X-HubSpot-Request-Timestamp"),
    };
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    switchboard_signatures::hubspot::verify(HUBSPOT_CLIENT_SECRET, &headers, "POST", uri, &delivery.body, now_ms)
        .expect("verifies");
}
