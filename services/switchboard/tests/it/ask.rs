//! `switchboard ask` in a terminal: a refund waits for the person's y/n past the life of the access token it
//! started with, is approved with a refreshed token and happens once; the command logs its session out at the end.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_test_support::assert_eventually;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::mcp::stripe_synced;
use crate::webhooks::{OWNER, PASSWORD, start};

/// Access tokens live this long here, so that the test can outwait one.
const ACCESS_TOKEN_TTL: u64 = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_after_the_access_token_expired_goes_through_once() {
    let f = start(&["--access-token-ttl", &ACCESS_TOKEN_TTL.to_string()]).await;
    let connection = stripe_synced(&f).await;
    let newest = json!({"connection": connection, "kind": "charge", "orderBy": "created desc", "pageSize": 100});
    let (status, found) = f.rest(reqwest::Method::POST, "/v1/records:query", Some(newest)).await;
    assert_eq!(status, 200, "{found}");
    // A customer whose newest charge can be refunded: the one "the last charge of" them names.
    let records = found["records"].as_array().unwrap();
    let email = records
        .iter()
        .map(|r| &r["data"])
        .filter(|c| c["receipt_email"].is_string())
        .find(|c| {
            let newest_of_theirs =
                records.iter().map(|r| &r["data"]).find(|o| o["receipt_email"] == c["receipt_email"]);
            newest_of_theirs.is_some_and(|o| o["status"] == "succeeded" && o["refunded"] == false)
        })
        .map(|c| c["receipt_email"].as_str().unwrap().to_owned())
        .expect("a customer with a refundable last charge");
    let refunds = || f.sandbox.counts().requests_to("stripe POST /v1/refunds");
    let before = refunds();

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["ask", &format!("Refund the last charge of {email}")])
        .args(["--tenant", "acme", "--email", OWNER, "--password", PASSWORD])
        .args(["--gateway-url", &format!("http://{}", f.platform.gateway_addr)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let signed_in = tokio::time::Instant::now();
    let mut stdout = child.stdout.take().unwrap();
    let mut shown = Vec::new();
    // Generous: beside the other platform tests, each building its intent router with the model, on 2 cores.
    let prompt = tokio::time::timeout(Duration::from_secs(180), async {
        let mut chunk = [0u8; 4096];
        while !String::from_utf8_lossy(&shown).contains("Approve this step? [y/N]") {
            let n = stdout.read(&mut chunk).await.unwrap();
            assert!(n > 0, "ask ended before asking: {}", String::from_utf8_lossy(&shown));
            shown.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    assert!(prompt.is_ok(), "no approval prompt: {}", String::from_utf8_lossy(&shown));
    assert!(String::from_utf8_lossy(&shown).contains("stripe.refund.create"), "{}", String::from_utf8_lossy(&shown));

    // The person takes their time: the token the command signed in with has expired when they answer.
    tokio::time::sleep_until(signed_in + Duration::from_secs(ACCESS_TOKEN_TTL + 2)).await;
    assert_eq!(refunds(), before, "nothing is refunded before the answer");
    child.stdin.take().unwrap().write_all(b"y\n").await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(120), child.wait()).await.unwrap().unwrap();
    stdout.read_to_end(&mut shown).await.unwrap();
    let mut errors = String::new();
    child.stderr.take().unwrap().read_to_string(&mut errors).await.unwrap();
    let shown = String::from_utf8_lossy(&shown);
    assert!(exit.success(), "{shown}\n{errors}");
    assert!(shown.contains("Approved."), "{shown}");
    assert_eq!(refunds(), before + 1, "refunded once");

    // The command logged its session out: the audit trail has the logout.
    let login = json!({"tenant": "acme", "email": OWNER, "password": PASSWORD});
    let fresh = f.http.post(format!("http://{}/v1/auth:login", f.platform.gateway_addr)).json(&login).send().await;
    let token = fresh.unwrap().json::<Value>().await.unwrap()["accessToken"].as_str().unwrap().to_owned();
    assert_eventually!({
        let url = format!("http://{}/v1/audit/events?pageSize=100", f.platform.gateway_addr);
        let page: Value = f.http.get(url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        page["events"].as_array().is_some_and(|events| events.iter().any(|e| e["action"] == "auth.logout"))
    });
    f.stop().await;
}
