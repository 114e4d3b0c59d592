//! REST/JSON through the gateway, transcoded from the contracts' `google.api.http` rules: login, whoami, the
//! audit log forwarded to the audit service, and the errors a REST client sees.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_test_support::{TestDb, TestPlatform};

use crate::http::{dechunk, exchange_within, header};
use crate::suite::tenant_with_user;

/// One REST call: (status, JSON body, headers).
fn call(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    extra: &str,
    body: Option<&Value>,
) -> (u16, Value, Vec<(String, String)>) {
    call_within(Duration::from_secs(10), addr, method, path, token, extra, body)
}

/// [`call`], waiting up to `patience` for the answer.
fn call_within(
    patience: Duration,
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    extra: &str,
    body: Option<&Value>,
) -> (u16, Value, Vec<(String, String)>) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token.map(|t| format!("authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\n{auth}{extra}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let (code, headers, raw) = exchange_within(addr, request.as_bytes(), patience);
    let raw = if header(&headers, "transfer-encoding") == Some("chunked") { dechunk(&raw) } else { raw };
    let json = if raw.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&raw).unwrap_or(Value::String(String::from_utf8_lossy(&raw).into()))
    };
    (code, json, headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_login_whoami_and_audit_through_the_gateway() {
    let platform = TestPlatform::start(TestDb::Sqlite).await;
    tenant_with_user(&platform, "acme", "owner@acme.example").await;
    tenant_with_user(&platform, "globex", "owner@globex.example").await;
    let addr = platform.gateway_addr.clone();
    let store = platform.store.clone();
    tokio::task::spawn_blocking(move || {
        let login = |tenant: &str, email: &str| {
            call(
                &addr,
                "POST",
                "/v1/auth:login",
                None,
                "",
                Some(&json!({"tenant": tenant, "email": email, "password": crate::suite::PASSWORD})),
            )
        };
        // Login: the REST names of the contract, expiresIn a plain number.
        let (code, session, _) = login("acme", "owner@acme.example");
        assert_eq!(code, 200, "{session}");
        let token = session["accessToken"].as_str().unwrap().to_owned();
        assert!(session["refreshToken"].as_str().unwrap().starts_with("sbr1."));
        assert_eq!(session["expiresIn"], 900);
        let (_, other, _) = login("globex", "owner@globex.example");
        let other_token = other["accessToken"].as_str().unwrap().to_owned();

        // Original proto field names are accepted too; unknown fields are named.
        let (code, _, _) =
            call(&addr, "POST", "/v1/auth:refresh", None, "", Some(&json!({"refresh_token": session["refreshToken"]})));
        assert_eq!(code, 200);
        let (code, err, _) =
            call(&addr, "POST", "/v1/auth:login", None, "", Some(&json!({"tenant": "acme", "emial": "x"})));
        assert_eq!(code, 400);
        assert!(err["message"].as_str().unwrap().contains("emial"), "{err}");
        assert_eq!(err["code"], 3);

        // Reuse of the spent refresh token: 401 with google.rpc.Status.
        let (code, err, _) =
            call(&addr, "POST", "/v1/auth:refresh", None, "", Some(&json!({"refreshToken": session["refreshToken"]})));
        assert_eq!((code, err["code"].as_i64()), (401, Some(16)));
        // Reuse revoked that session, its access token included: log in again.
        let (code, _, _) = call(&addr, "GET", "/v1/auth/me", Some(&token), "", None);
        assert_eq!(code, 401, "the revoked session's access token ends at once");
        let (_, session, _) = login("acme", "owner@acme.example");
        let token = session["accessToken"].as_str().unwrap().to_owned();

        // whoami: complete objects in lowerCamelCase.
        let (code, me, _) = call(&addr, "GET", "/v1/auth/me", Some(&token), "", None);
        assert_eq!(code, 200, "{me}");
        assert_eq!(me["user"]["email"], "owner@acme.example");
        assert_eq!(me["tenant"]["slug"], "acme");
        assert_eq!(me["tenant"]["rateLimitPerMinute"], 0, "fields with default values are emitted");
        assert_eq!(me["platformOperator"], false);

        // The audit log, forwarded over mTLS to the audit service; int64 as strings; query parameters bound.
        tokio::runtime::Handle::current().block_on(switchboard_test_support::settle_audit(&store));
        let (code, page, _) =
            call(&addr, "GET", "/v1/audit/events?pageSize=1&orderAscending=true", Some(&token), "", None);
        assert_eq!(code, 200, "{page}");
        let events = page["events"].as_array().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["seq"], "1");
        assert_eq!(events[0]["action"], "tenant.create", "the operator's creation of the tenant comes first");
        assert!(!page["nextPageToken"].as_str().unwrap().is_empty());
        let (code, err, _) = call(&addr, "GET", "/v1/audit/events?colour=red", Some(&token), "", None);
        assert_eq!(code, 400);
        assert!(err["message"].as_str().unwrap().contains("colour"), "{err}");
        let (code, report, _) = call(&addr, "POST", "/v1/audit:verify", Some(&token), "", Some(&json!({})));
        assert_eq!(code, 200);
        assert_eq!(report["valid"], true);

        // Isolation: no token, another tenant's id, or a tenant field smuggled in — never another tenant's data.
        let (code, _, _) = call(&addr, "GET", "/v1/audit/events", None, "", None);
        assert_eq!(code, 401);
        let (_, theirs, _) = call(&addr, "GET", "/v1/audit/events", Some(&other_token), "", None);
        let their_tenant = theirs["events"][0]["tenantId"].as_str().unwrap().to_owned();
        let (code, _, _) =
            call(&addr, "GET", "/v1/audit/events", Some(&token), &format!("x-tenant-id: {their_tenant}\r\n"), None);
        assert_eq!(code, 403);
        let (code, _, _) =
            call(&addr, "GET", &format!("/v1/audit/events?tenantId={their_tenant}"), Some(&token), "", None);
        assert_eq!(code, 400, "there is no tenant parameter to smuggle");
        let (_, mine, _) = call(&addr, "GET", "/v1/audit/events?pageSize=100", Some(&token), "", None);
        assert!(mine["events"].as_array().unwrap().iter().all(|e| e["tenantId"] != their_tenant.as_str()));

        // Internal-only RPCs have no REST route.
        let (code, _, _) = call(&addr, "POST", "/v1/audit/events", Some(&token), "", Some(&json!({})));
        assert_eq!(code, 404);
        // Ask streams its run as one JSON object per line: run started first, run finished last.
        // The first question waits for the intent router, built once per process with the embedding model: tens of
        // seconds of CPU in a debug build beside the other tests.
        let question = json!({"question": "hi"});
        let (code, stream, _) = call_within(
            Duration::from_secs(180),
            &addr,
            "POST",
            "/v1/orchestrator:ask",
            Some(&token),
            "",
            Some(&question),
        );
        assert_eq!(code, 200, "{stream}");
        let text = stream.as_str().map(str::to_owned).unwrap_or_else(|| stream.to_string());
        let events: Vec<serde_json::Value> =
            text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect();
        assert!(events.first().is_some_and(|e| e["result"]["runStarted"].is_object()), "{text}");
        assert!(events.last().is_some_and(|e| e["result"]["runFinished"].is_object()), "{text}");
        let sequences: Vec<&str> = events.iter().map(|e| e["result"]["sequence"].as_str().unwrap()).collect();
        let expected: Vec<String> = (1..=events.len()).map(|n| n.to_string()).collect();
        assert_eq!(sequences, expected, "gapless sequences from 1");
        let (code, providers, _) = call(&addr, "GET", "/v1/providers", Some(&token), "", None);
        assert_eq!(code, 200, "{providers}");
        let ids: Vec<&str> =
            providers["providers"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["hubspot", "quickbooks", "shopify", "stripe"]);
    })
    .await
    .unwrap();
    platform.stop().await;
}
