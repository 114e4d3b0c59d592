//! Every JWT attack from the edge issue, each refused with UNAUTHENTICATED at the public port (and a valid token
//! accepted, so the test can fail).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use switchboard_gateway::TokenKeys;
use switchboard_proto::auth::v1 as pb;
use switchboard_test_support::{TestDb, TestPlatform};
use tonic::Code;

use crate::suite::{auth, bearer, login, tenant_with_user};

fn b64(value: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_forged_or_stale_token_is_refused() {
    let platform = TestPlatform::start(TestDb::Sqlite).await;
    tenant_with_user(&platform, "acme", "owner@acme.example").await;
    let session = login(&platform, "acme", "owner@acme.example").await;
    let keys = platform.token_keys();
    let kid = kid_of(&session.access_token);
    let claims_of = |token: &str| -> serde_json::Value {
        let body = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap()
    };
    let good = claims_of(&session.access_token);
    let with = |patch: serde_json::Value| {
        let mut claims = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    };

    let none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&good));
    let hs256 = {
        let signing_input = format!("{}.{}", b64(&json!({"alg": "HS256", "typ": "JWT", "kid": kid})), b64(&good));
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, keys.active_public_key());
        let tag = ring::hmac::sign(&key, signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    };
    let bad_signature = {
        let (rest, signature) = session.access_token.rsplit_once('.').unwrap();
        let mut sig = URL_SAFE_NO_PAD.decode(signature).unwrap();
        sig[0] ^= 1;
        format!("{rest}.{}", URL_SAFE_NO_PAD.encode(sig))
    };
    let mut missing_tenant = good.clone();
    missing_tenant.as_object_mut().unwrap().remove("tenant_id");
    let cases: Vec<(&str, String)> = vec![
        ("alg none", none),
        ("HS256 signed with the public key", hs256),
        ("bad signature", bad_signature),
        ("expired", keys.sign(&with(json!({"exp": now() - 3600, "iat": now() - 7200, "nbf": now() - 7200}))).unwrap()),
        ("not yet valid", keys.sign(&with(json!({"nbf": now() + 3600, "exp": now() + 7200}))).unwrap()),
        ("wrong iss", keys.sign(&with(json!({"iss": "someone-else"}))).unwrap()),
        ("wrong aud", keys.sign(&with(json!({"aud": "another-api"}))).unwrap()),
        ("unknown kid", TokenKeys::ephemeral().unwrap().sign(&good).unwrap()),
        ("missing tenant_id", keys.sign(&missing_tenant).unwrap()),
        ("over 8 KiB", keys.sign(&with(json!({"pad": "x".repeat(9000)}))).unwrap()),
        ("not a JWT", "hello".to_owned()),
    ];
    for (attack, token) in cases {
        let err = auth(&platform).who_am_i(bearer(pb::WhoAmIRequest {}, &token)).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{attack}");
        assert_eq!(err.message(), "a valid access token is required", "{attack}: no detail that helps an attacker");
    }

    // Control: the genuine token and a re-signed copy of its claims pass.
    auth(&platform).who_am_i(bearer(pb::WhoAmIRequest {}, &session.access_token)).await.unwrap();
    auth(&platform).who_am_i(bearer(pb::WhoAmIRequest {}, &keys.sign(&good).unwrap())).await.unwrap();
    let missing = auth(&platform).who_am_i(pb::WhoAmIRequest {}).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    platform.stop().await;
}

#[test]
fn jwks_publishes_every_verifying_key() {
    let keys = TokenKeys::ephemeral().unwrap();
    let jwks = keys.jwks();
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str(), key["alg"].as_str()),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    assert_eq!(URL_SAFE_NO_PAD.decode(key["x"].as_str().unwrap()).unwrap(), keys.active_public_key());
}
