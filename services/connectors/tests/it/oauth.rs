//! OAuth: Shopify's authorization code flow with PKCE and a signed redirect, against the sandbox.

use switchboard_proto::connectors::v1 as pb;
use switchboard_proto::connectors::v1::connector_service_server::ConnectorService as _;
use switchboard_test_support::TestDb;

use crate::support::{Caller, Harness, authorize};

#[tokio::test]
async fn shopify_oauth_connects_once_per_state() {
    let h = Harness::start(TestDb::Sqlite).await;
    let a = Caller::new();
    let start = |account: &str| pb::StartOAuthRequest {
        provider: "shopify".into(),
        redirect_uri: "http://127.0.0.1:8080/oauth/callback".into(),
        account: account.into(),
        ..Default::default()
    };
    let bad_redirect = pb::StartOAuthRequest {
        redirect_uri: "https://evil.example/cb".into(),
        ..start(switchboard_sandbox::DEMO_SHOP)
    };
    assert_eq!(h.service.start_o_auth(a.request(bad_redirect)).await.unwrap_err().code(), tonic::Code::InvalidArgument);
    assert_eq!(
        h.service.start_o_auth(a.request(start("not a shop"))).await.unwrap_err().code(),
        tonic::Code::InvalidArgument
    );

    let started = h.service.start_o_auth(a.request(start(switchboard_sandbox::DEMO_SHOP))).await.unwrap().into_inner();
    assert!(started.authorization_url.contains("code_challenge="), "{}", started.authorization_url);
    let params = authorize(&started.authorization_url).await;
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap();
    assert_eq!(get("state"), started.state);
    let rest: std::collections::HashMap<String, String> =
        params.iter().filter(|(k, _)| k != "code" && k != "state").cloned().collect();
    let complete = pb::CompleteOAuthRequest { state: get("state"), code: get("code"), params: rest.clone() };

    // Another tenant cannot complete it.
    let other = Caller::new();
    assert_eq!(
        h.service.complete_o_auth(other.request(complete.clone())).await.unwrap_err().code(),
        tonic::Code::InvalidArgument
    );

    let connection =
        h.service.complete_o_auth(a.request(complete.clone())).await.unwrap().into_inner().connection.unwrap();
    assert_eq!(connection.status, pb::ConnectionStatus::Active as i32);
    assert_eq!(connection.account, switchboard_sandbox::DEMO_SHOP);
    assert!(!connection.scopes.is_empty());
    // Used once.
    let reused = h.service.complete_o_auth(a.request(complete)).await.unwrap_err();
    assert_eq!(reused.code(), tonic::Code::InvalidArgument);

    // A tampered redirect fails its signature.
    let started = h.service.start_o_auth(a.request(start(switchboard_sandbox::DEMO_SHOP))).await.unwrap().into_inner();
    let params = authorize(&started.authorization_url).await;
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap();
    let mut rest: std::collections::HashMap<String, String> =
        params.iter().filter(|(k, _)| k != "code" && k != "state").cloned().collect();
    rest.insert("host".into(), "ZXZpbA".into());
    let tampered = pb::CompleteOAuthRequest { state: get("state"), code: get("code"), params: rest };
    assert_eq!(h.service.complete_o_auth(a.request(tampered)).await.unwrap_err().code(), tonic::Code::InvalidArgument);
    h.stop().await;
}

#[tokio::test]
async fn stripe_connect_oauth_connects_the_account_it_names() {
    let h = Harness::start(TestDb::Sqlite).await;
    let a = Caller::new();
    let started = h
        .service
        .start_o_auth(a.request(pb::StartOAuthRequest {
            provider: "stripe".into(),
            redirect_uri: "http://127.0.0.1:8080/oauth/callback".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(!started.authorization_url.contains("code_challenge"), "Stripe takes no PKCE");
    let params = authorize(&started.authorization_url).await;
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap();
    assert_eq!(get("state"), started.state);
    let complete = pb::CompleteOAuthRequest { state: get("state"), code: get("code"), params: Default::default() };
    let connection = h.service.complete_o_auth(a.request(complete)).await.unwrap().into_inner().connection.unwrap();
    assert_eq!(connection.provider, "stripe");
    assert_eq!(connection.account, switchboard_sandbox::DEMO_STRIPE_ACCOUNT, "from the token response");
    assert_eq!(connection.status, pb::ConnectionStatus::Active as i32);
    // The OAuth-issued key works: a sync copies the account.
    let sync = crate::support::sync_to_end(&h.service, a, &connection.name, false).await;
    assert_eq!(sync.status, pb::SyncStatus::Succeeded as i32, "{sync:?}");
    assert!(sync.records_created > 0);
    h.stop().await;
}

#[tokio::test]
async fn an_expired_state_is_refused() {
    use sea_orm::ConnectionTrait;
    let h = Harness::start(TestDb::Sqlite).await;
    let a = Caller::new();
    let started = h
        .service
        .start_o_auth(a.request(pb::StartOAuthRequest {
            provider: "shopify".into(),
            redirect_uri: "http://127.0.0.1:8080/oauth/callback".into(),
            account: switchboard_sandbox::DEMO_SHOP.into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let params = authorize(&started.authorization_url).await;
    // Ten minutes pass.
    h.store
        .store
        .raw_connection()
        .execute_unprepared("UPDATE connector_oauth_states SET expires_at_us = 1")
        .await
        .unwrap();
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap();
    let rest = params.iter().filter(|(k, _)| k != "code" && k != "state").cloned().collect();
    let complete = pb::CompleteOAuthRequest { state: get("state"), code: get("code"), params: rest };
    let err = h.service.complete_o_auth(a.request(complete)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("expired"), "{}", err.message());
    let wrong = pb::CompleteOAuthRequest { state: "not-a-state".into(), code: get("code"), params: Default::default() };
    assert_eq!(h.service.complete_o_auth(a.request(wrong)).await.unwrap_err().code(), tonic::Code::InvalidArgument);
    h.stop().await;
}
