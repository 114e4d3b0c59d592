//! The MCP server as assistants use it, against the whole platform with Stripe connected to the sandbox:
//!
//! - Streamable HTTP at `/mcp` on the gateway, as raw JSON-RPC: no token is a 401 that names the protected-resource
//!   metadata, a foreign `Host` or `Origin` is refused (DNS rebinding), the metadata is served, tools depend on the
//!   role, and a read tool answers with the synced records;
//! - `switchboard login`, then `switchboard mcp` over stdio with the SDK's own client (rmcp): list the tools, call a
//!   read tool, call a write tool and see it wait for approval (nothing refunded), approve it and see it done once;
//!   a second session goes on from the refresh token the first one rotated and stored.

use std::process::Stdio;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};
use switchboard_mesh::Identity;
use switchboard_proto::auth::v1 as auth;
use switchboard_proto::auth::v1::tenant_admin_service_client::TenantAdminServiceClient;
use switchboard_test_support::assert_eventually;

use crate::webhooks::{Fixture, OWNER, PASSWORD, PUBLIC_URL, start};

const VIEWER: &str = "viewer@acme.example";
const VIEWER_PASSWORD: &str = "viewer password one";

/// Stripe connected and synced once; the connection's name.
pub(crate) async fn stripe_synced(f: &Fixture) -> String {
    let connection = f.connect("stripe", "", switchboard_sandbox::DEMO_STRIPE_KEY).await;
    let (status, started) =
        f.rest(reqwest::Method::POST, &format!("/v1/{connection}/syncs:start"), Some(json!({}))).await;
    assert_eq!(status, 200, "{started}");
    let sync = started["sync"]["name"].as_str().unwrap().to_owned();
    let mut last: Value;
    assert_eventually!(
        {
            last = f.rest(reqwest::Method::GET, &format!("/v1/{sync}"), None).await.1;
            last["sync"]["status"] == "SYNC_STATUS_SUCCEEDED" || last["sync"]["status"] == "SYNC_STATUS_FAILED"
        },
        Duration::from_secs(60)
    );
    assert_eq!(last["sync"]["status"], "SYNC_STATUS_SUCCEEDED", "{last}");
    connection
}

/// A viewer of the tenant, signed in: their access token.
async fn viewer_token(f: &Fixture) -> String {
    let mut admin = TenantAdminServiceClient::new(f.platform.channel_as(
        Identity::operator(),
        Identity::gateway(),
        &f.platform.gateway_admin_addr,
    ));
    admin
        .create_user(auth::CreateUserRequest {
            parent: "tenants/acme".into(),
            email: VIEWER.into(),
            password: VIEWER_PASSWORD.into(),
            role: auth::Role::Viewer as i32,
            display_name: "Viewer".into(),
        })
        .await
        .unwrap();
    let login = f
        .http
        .post(format!("http://{}/v1/auth:login", f.platform.gateway_addr))
        .json(&json!({"tenant": "acme", "email": VIEWER, "password": VIEWER_PASSWORD}))
        .send()
        .await
        .unwrap();
    login.json::<Value>().await.unwrap()["accessToken"].as_str().unwrap().to_owned()
}

/// One JSON-RPC POST to `/mcp`: (status, headers, body).
async fn post_mcp(
    f: &Fixture,
    token: Option<&str>,
    headers: &[(&str, &str)],
    message: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = f
        .http
        .post(format!("http://{}/mcp", f.platform.gateway_addr))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(&message);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    let text = response.text().await.unwrap();
    // JSON, or one SSE event when the SDK chose to stream.
    let body = serde_json::from_str(&text)
        .or_else(|_| {
            let data: String = text.lines().filter_map(|l| l.strip_prefix("data:")).collect();
            serde_json::from_str(data.trim())
        })
        .unwrap_or(Value::String(text));
    (status, headers, body)
}

fn rpc(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

fn initialize() -> Value {
    rpc(
        1,
        "initialize",
        json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "it", "version": "1"}}),
    )
}

fn tool_names(list: &Value) -> Vec<String> {
    list["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_over_http_checks_token_host_and_origin_and_lists_tools_by_role() {
    let f = start(&[]).await;
    stripe_synced(&f).await;
    let gateway = f.platform.gateway_addr.clone();

    // The metadata an MCP client reads after a 401.
    let metadata: Value = f
        .http
        .get(format!("http://{gateway}/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["resource"], format!("{PUBLIC_URL}/mcp"));
    assert_eq!(metadata["authorization_servers"][0], PUBLIC_URL);

    let (status, headers, _) = post_mcp(&f, None, &[], initialize()).await;
    assert_eq!(status, 401);
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert_eq!(
        challenge,
        format!("Bearer resource_metadata=\"{PUBLIC_URL}/.well-known/oauth-protected-resource/mcp\"")
    );
    let (status, _, _) = post_mcp(&f, Some("not-a-token"), &[], initialize()).await;
    assert_eq!(status, 401);

    // DNS rebinding: a page on another name that resolves here, or another origin, is refused.
    let (status, _, _) = post_mcp(&f, Some(&f.token), &[("host", "attacker.example")], initialize()).await;
    assert_eq!(status, 403);
    let (status, _, _) = post_mcp(&f, Some(&f.token), &[("origin", "http://attacker.example")], initialize()).await;
    assert_eq!(status, 403);
    let own_origin = format!("http://{gateway}");
    let (status, _, body) = post_mcp(&f, Some(&f.token), &[("origin", own_origin.as_str())], initialize()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(body["result"]["serverInfo"]["name"], "switchboard");
    assert!(body["result"]["capabilities"]["tools"].is_object(), "{body}");

    // An owner sees everything: the catalog's writes annotated as such.
    let (status, _, list) = post_mcp(&f, Some(&f.token), &[], rpc(2, "tools/list", json!({}))).await;
    assert_eq!(status, 200, "{list}");
    let names = tool_names(&list);
    for expected in ["list_connections", "query_records", "ask", "approve_step", "reject_step", "stripe_refund_create"]
    {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    let refund =
        list["result"]["tools"].as_array().unwrap().iter().find(|t| t["name"] == "stripe_refund_create").unwrap();
    assert_eq!(refund["annotations"]["readOnlyHint"], false, "{refund}");
    assert_eq!(refund["annotations"]["destructiveHint"], true, "{refund}");
    assert_eq!(refund["inputSchema"]["properties"]["input"]["type"], "object", "{refund}");

    // A viewer reads only.
    let viewer = viewer_token(&f).await;
    let (_, _, list) = post_mcp(&f, Some(&viewer), &[], rpc(3, "tools/list", json!({}))).await;
    let names = tool_names(&list);
    assert!(names.iter().any(|n| n == "query_records"), "{names:?}");
    for hidden in ["ask", "approve_step", "stripe_refund_create"] {
        assert!(!names.iter().any(|n| n == hidden), "a viewer sees {hidden}: {names:?}");
    }
    // And calling a write anyway gets the platform's refusal, not a way around it.
    let call = rpc(4, "tools/call", json!({"name": "ask", "arguments": {"question": "refund the last charge"}}));
    let (_, _, refused) = post_mcp(&f, Some(&viewer), &[], call).await;
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    assert!(refused["result"]["content"][0]["text"].as_str().unwrap().contains("PERMISSION_DENIED"), "{refused}");

    // A read tool: the synced charges, as structured content.
    let call = rpc(5, "tools/call", json!({"name": "query_records", "arguments": {"kind": "charge", "page_size": 3}}));
    let (status, _, read) = post_mcp(&f, Some(&viewer), &[], call).await;
    assert_eq!(status, 200, "{read}");
    let records = read["result"]["structuredContent"]["records"].as_array().unwrap();
    assert_eq!(records.len(), 3, "{read}");
    assert!(records.iter().all(|r| r["kind"] == "charge" && r["data"]["id"].is_string()), "{read}");

    // Bad arguments are a tool error the model can read; an unknown tool is a protocol error.
    let call = rpc(6, "tools/call", json!({"name": "query_records", "arguments": {"page_size": 3}}));
    let (_, _, bad) = post_mcp(&f, Some(&viewer), &[], call).await;
    assert_eq!(bad["result"]["isError"], true, "{bad}");
    assert!(bad["result"]["content"][0]["text"].as_str().unwrap().contains("kind: required"), "{bad}");
    let (_, _, unknown) = post_mcp(&f, Some(&viewer), &[], rpc(7, "tools/call", json!({"name": "teleport"}))).await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_client_over_stdio_reads_and_a_write_waits_for_approval() {
    let f = start(&[]).await;
    let connection = stripe_synced(&f).await;
    let unrefunded = json!({"connection": connection, "kind": "charge", "filter": "refunded = false AND status = \"succeeded\"", "pageSize": 1});
    let (_, found) = f.rest(reqwest::Method::POST, "/v1/records:query", Some(unrefunded)).await;
    let charge = found["records"][0]["id"].as_str().unwrap().to_owned();
    let refunds = || f.sandbox.counts().requests_to("stripe POST /v1/refunds");

    // Signed in once with `switchboard login`, as a person sets up their assistant: the session is kept in a file.
    let config = tempfile::tempdir().unwrap();
    let gateway = format!("http://{}", f.platform.gateway_addr);
    let mut login = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["login", "--tenant", "acme", "--email", OWNER])
        .env("SWITCHBOARD_URL", &gateway)
        .env("SWITCHBOARD_CONFIG_DIR", config.path())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use tokio::io::AsyncWriteExt;
    login.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).await.unwrap();
    assert!(login.wait().await.unwrap().success());
    let stored =
        || -> Value { serde_json::from_slice(&std::fs::read(config.path().join("login.json")).unwrap()).unwrap() };
    let first_refresh_token = stored()["refreshToken"].as_str().unwrap().to_owned();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(config.path().join("login.json")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o077, 0, "the session file is readable by its owner alone");
    let session = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("mcp")
            .env("SWITCHBOARD_CONFIG_DIR", config.path())
            .env_remove("SWITCHBOARD_URL")
            .env_remove("SWITCHBOARD_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    };
    let mut child = session();
    let transport = (child.stdout.take().unwrap(), child.stdin.take().unwrap());
    let client = ().serve(transport).await.unwrap();
    let server = client.peer_info().unwrap();
    assert_eq!(server.server_info.as_ref().unwrap().name, "switchboard");

    let tools = client.list_all_tools().await.unwrap();
    let refund = tools.iter().find(|t| t.name == "stripe_refund_create").expect("the refund action is a tool");
    assert_eq!(refund.annotations.as_ref().unwrap().destructive_hint, Some(true));

    let read = client
        .call_tool(CallToolRequestParams::new("query_records").with_arguments(
            json!({"kind": "charge", "filter": format!("id = \"{charge}\"")}).as_object().unwrap().clone(),
        ))
        .await
        .unwrap();
    assert_ne!(read.is_error, Some(true), "{read:?}");
    assert_eq!(read.structured_content.as_ref().unwrap()["records"][0]["id"], charge.as_str());

    let before = refunds();
    let write = client
        .call_tool(
            CallToolRequestParams::new("stripe_refund_create")
                .with_arguments(json!({"input": {"charge": charge}}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    let waiting = write.structured_content.clone().unwrap();
    assert_eq!(waiting["status"], "WAITING_FOR_APPROVAL", "{waiting}");
    let run = waiting["run"].as_str().unwrap().to_owned();
    // The console is where the server reaches the gateway.
    let console = format!("http://{}/runs/{}", f.platform.gateway_addr, run.trim_start_matches("runs/"));
    assert_eq!(waiting["consoleUrl"], console);
    let step = waiting["waitingForApproval"][0]["step"].as_str().unwrap().to_owned();
    assert_eq!(waiting["waitingForApproval"][0]["tool"], "stripe.refund.create");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(refunds(), before, "nothing is refunded before a person approves");

    let approved =
        client
            .call_tool(CallToolRequestParams::new("approve_step").with_arguments(
                json!({"step": step, "comment": "approved in the MCP test"}).as_object().unwrap().clone(),
            ))
            .await
            .unwrap();
    let done = approved.structured_content.clone().unwrap();
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(refunds(), before + 1, "refunded exactly once");
    let (_, run_now) = f.rest(reqwest::Method::GET, &format!("/v1/{run}"), None).await;
    assert_eq!(run_now["run"]["status"], "RUN_STATUS_SUCCEEDED", "{run_now}");

    client.cancel().await.unwrap();
    let _ = child.wait().await;

    // The session rotated its refresh token and kept the new one: a second session goes on from it (replaying the
    // spent one would have ended the session).
    assert_ne!(stored()["refreshToken"], first_refresh_token.as_str());
    let mut child = session();
    let client = ().serve((child.stdout.take().unwrap(), child.stdin.take().unwrap())).await.unwrap();
    assert!(client.list_all_tools().await.unwrap().iter().any(|t| t.name == "query_records"));
    client.cancel().await.unwrap();
    let _ = child.wait().await;
    f.stop().await;
}
