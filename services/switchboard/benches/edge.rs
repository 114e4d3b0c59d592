//! The edge benchmark: one RPC (`AuditService/GetCheckpoint`, a single indexed read) three ways, each at 64
//! concurrent connections for a fixed time:
//!
//! (a) REST `GET /v1/audit/checkpoint` through the gateway (JWT check, transcoding, mTLS hop to audit);
//! (b) gRPC through the gateway (JWT check, mTLS hop);
//! (c) gRPC directly to the audit service over mTLS (the baseline).
//!
//! and one read as an assistant makes it, against the same read over REST:
//!
//! (d) MCP `tools/call list_connections` over Streamable HTTP (`POST /mcp`: JWT check, the MCP server, the tool's
//!     `ListConnections` through the public stack in process, mTLS hop to connectors);
//! (e) REST `GET /v1/connections` through the gateway (the same RPC).
//!
//! Rate limiting is on for (a), (b), (d) and (e), with a limit too high to refuse.
//!
//! The gateway and the audit service run as separate `switchboard serve` processes, so the gateway's peak RSS
//! (VmHWM) is its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "support/mod.rs"]
mod support;

use support::{Http1, Measured, Processes, free_port, peak_rss_mib};
use switchboard_mesh::Identity;
use switchboard_mesh::context::RequestContext;
use switchboard_mesh::pki::MeshCredentials;
use switchboard_proto::audit::v1 as pb;
use switchboard_proto::audit::v1::audit_service_client::AuditServiceClient;
use switchboard_proto::auth::v1 as auth;
use switchboard_proto::auth::v1::auth_service_client::AuthServiceClient;
use switchboard_store::TenantId;

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");
const CONNECTIONS: usize = 64;
const RUN: Duration = Duration::from_secs(5);
const WARMUP: Duration = Duration::from_secs(1);

/// Runs `CONNECTIONS` loops of `call` (one per connection) for `RUN` after `WARMUP`.
async fn drive<F, Fut>(name: &'static str, make: impl Fn(usize) -> F) -> Measured
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    support::drive(name, CONNECTIONS, WARMUP, RUN, &[], make).await
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let (gateway, admin, audit) = (free_port(), free_port(), free_port());
    let env = [
        ("SWITCHBOARD_DATA_DIR", data.display().to_string()),
        ("SWITCHBOARD_GATEWAY_ADDR", format!("127.0.0.1:{gateway}")),
        ("SWITCHBOARD_GATEWAY_ADMIN_ADDR", format!("127.0.0.1:{admin}")),
        ("SWITCHBOARD_AUDIT_ADDR", format!("127.0.0.1:{audit}")),
        ("SWITCHBOARD_CONNECTORS_ADDR", format!("127.0.0.1:{}", free_port())),
        ("SWITCHBOARD_PUBLIC_URL", format!("http://127.0.0.1:{gateway}")),
        ("SWITCHBOARD_ORCHESTRATOR_ADDR", format!("127.0.0.1:{}", free_port())),
        ("RUST_LOG", "warn".to_owned()),
        // Two processes on one machine: no metrics listener (metrics are still recorded).
        ("SWITCHBOARD_METRICS_ADDR", String::new()),
        // Limits on (every request is checked) but high enough never to refuse.
        ("SWITCHBOARD_RATE_LIMIT_PER_MINUTE", "1000000000".to_owned()),
    ];
    let cli = |args: &[&str], input: Option<&str>| support::cli(BIN, &env, args, input);
    assert!(cli(&["certs", "init"], None).status.success());
    let spawn = |service: &str| support::serve(BIN, &env, service);
    let audit_process = spawn("audit");
    // The gateway opens the same SQLite file; give the audit service a moment to create and migrate it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let connectors_process = spawn("connectors");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let gateway_process = spawn("gateway");
    let gateway_pid = gateway_process.id();
    let _processes = Processes(vec![audit_process, connectors_process, gateway_process]);

    // Wait for the admin port, then bootstrap a tenant and a user and log in.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if cli(&["tenant", "create", "bench"], None).status.success() {
            break;
        }
        assert!(Instant::now() < deadline, "gateway did not come up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        cli(
            &["user", "create", "--tenant", "bench", "--email", "b@bench.example"],
            Some("correct horse battery staple\n")
        )
        .status
        .success()
    );
    let public = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{gateway}")).expect("endpoint");
    let session = AuthServiceClient::new(public.connect().await.expect("connect"))
        .login(auth::LoginRequest {
            tenant: "bench".into(),
            email: "b@bench.example".into(),
            password: "correct horse battery staple".into(),
        })
        .await
        .expect("login")
        .into_inner();
    let token: Arc<str> = session.access_token.into();
    let me = AuthServiceClient::new(public.connect().await.expect("connect"))
        .who_am_i({
            let mut r = tonic::Request::new(auth::WhoAmIRequest {});
            r.metadata_mut().insert("authorization", format!("Bearer {token}").parse().expect("header"));
            r
        })
        .await
        .expect("whoami")
        .into_inner();
    let tenant: TenantId = me.tenant.expect("tenant").id.parse().expect("tenant id");

    // (a) REST through the gateway: one HTTP/1.1 keep-alive connection per task.
    let rest = drive("(a) REST GET /v1/audit/checkpoint via gateway", |_| {
        let token = token.clone();
        let connection = Http1::default();
        move || {
            let (token, connection) = (token.clone(), connection.clone());
            async move {
                let request = http::Request::get("/v1/audit/checkpoint")
                    .header("host", "bench")
                    .header("authorization", format!("Bearer {token}"))
                    .body(String::new())
                    .expect("request");
                matches!(connection.send(gateway, request).await, Some((status, _)) if status == 200)
            }
        }
    })
    .await;

    // (b) gRPC through the gateway: one HTTP/2 connection per task.
    let mut channels = Vec::new();
    for _ in 0..CONNECTIONS {
        channels.push(public.connect().await.expect("connect"));
    }
    let grpc = drive("(b) gRPC GetCheckpoint via gateway", |i| {
        let client = AuditServiceClient::new(channels[i].clone());
        let token = token.clone();
        move || {
            let mut client = client.clone();
            let token = token.clone();
            async move {
                let mut r = tonic::Request::new(pb::GetCheckpointRequest {});
                r.metadata_mut().insert("authorization", format!("Bearer {token}").parse().expect("header"));
                client.get_checkpoint(r).await.is_ok()
            }
        }
    })
    .await;

    // (c) gRPC straight to the audit service over mTLS, as the gateway itself calls it.
    let creds = MeshCredentials::dev(&data, Identity::gateway()).expect("credentials");
    let direct = drive("(c) gRPC GetCheckpoint direct to audit (mTLS)", |_| {
        let channel = switchboard_mesh::client::channel(&format!("127.0.0.1:{audit}"), &Identity::audit(), &creds)
            .expect("channel");
        let client = AuditServiceClient::new(channel);
        let context = RequestContext::new_root().with_tenant(tenant).with_role(switchboard_types::Role::Viewer);
        move || {
            let mut client = client.clone();
            let request = context.request(pb::GetCheckpointRequest {});
            async move { client.get_checkpoint(request).await.is_ok() }
        }
    })
    .await;

    // (d) and (e): one HTTP/1.1 keep-alive connection per task, like (a).
    let http1 = |name: &'static str, method: http::Method, path: &'static str, body: &'static str| {
        let token = token.clone();
        drive(name, move |_| {
            let token = token.clone();
            let (method, connection) = (method.clone(), Http1::default());
            move || {
                let (token, method, connection) = (token.clone(), method.clone(), connection.clone());
                async move { http1_call(gateway, &connection, method, path, &token, body).await }
            }
        })
    };
    let mcp_call =
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_connections","arguments":{}}}"#;
    let mcp = http1("(d) MCP tools/call list_connections via /mcp", http::Method::POST, "/mcp", mcp_call).await;
    let connections = http1("(e) REST GET /v1/connections via gateway", http::Method::GET, "/v1/connections", "").await;

    let rss = peak_rss_mib(gateway_pid);
    println!();
    println!(
        "Switchboard edge benchmark: {CONNECTIONS} concurrent connections, {} s per run after {} s warm-up",
        RUN.as_secs(),
        WARMUP.as_secs()
    );
    println!(
        "machine: {} cores; gateway and audit as separate processes on SQLite",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!();
    println!("| path | requests/s | p50 ms | p99 ms | vs (c) |");
    println!("|---|---:|---:|---:|---:|");
    for r in [&rest, &grpc, &direct] {
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} |",
            r.name,
            r.rps(),
            r.percentile(0.50),
            r.percentile(0.99),
            r.rps() / direct.rps()
        );
    }
    println!();
    println!("targets: (a)/(c) >= 0.45, (b)/(c) >= 0.5; gateway peak RSS (VmHWM) {rss:.1} MiB");
    println!();
    println!("| an assistant's read | requests/s | p50 ms | p99 ms | vs (e) |");
    println!("|---|---:|---:|---:|---:|");
    for r in [&mcp, &connections] {
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} |",
            r.name,
            r.rps(),
            r.percentile(0.50),
            r.percentile(0.99),
            r.rps() / connections.rps()
        );
    }
}

/// One request on the task's keep-alive connection (opened on first use): whether it got a 200 whose body, for MCP,
/// is a tool result rather than an error.
async fn http1_call(
    port: u16,
    connection: &Http1,
    method: http::Method,
    path: &str,
    token: &str,
    body: &'static str,
) -> bool {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", format!("127.0.0.1:{port}"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(body.to_owned())
        .expect("request");
    match connection.send(port, request).await {
        Some((status, bytes)) if status == 200 => {
            if !path.starts_with("/mcp") {
                return true;
            }
            let reply: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            reply["result"]["structuredContent"]["connections"].is_array() && reply["result"]["isError"] != true
        }
        _ => false,
    }
}
