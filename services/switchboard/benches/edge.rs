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

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
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

struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port()
}

struct Result {
    name: &'static str,
    requests: u64,
    elapsed: Duration,
    latencies_us: Vec<u32>,
}

impl Result {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        f64::from(self.latencies_us[i]) / 1000.0
    }
}

/// Runs `CONNECTIONS` loops of `call` (one per connection) for `RUN` after `WARMUP`.
async fn drive<F, Fut>(name: &'static str, make: impl Fn(usize) -> F) -> Result
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let start = Instant::now() + WARMUP;
    let end = start + RUN;
    let mut tasks = Vec::new();
    for i in 0..CONNECTIONS {
        let mut call = make(i);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0u64;
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let ok = call().await;
                if t0 >= start {
                    if ok {
                        latencies.push(t0.elapsed().as_micros() as u32);
                    } else {
                        failures += 1;
                    }
                }
            }
            (latencies, failures)
        }));
    }
    let mut latencies_us = Vec::new();
    let mut failures = 0;
    for task in tasks {
        let (l, f) = task.await.expect("task");
        latencies_us.extend(l);
        failures += f;
    }
    assert_eq!(failures, 0, "{name}: {failures} failed calls");
    latencies_us.sort_unstable();
    Result { name, requests: latencies_us.len() as u64, elapsed: RUN, latencies_us }
}

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_owned()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
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
    let cli = |args: &[&str], input: Option<&str>| {
        use std::io::Write;
        let mut child = Command::new(BIN)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cli");
        if let Some(input) = input {
            child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write");
        }
        child.wait_with_output().expect("cli output")
    };
    assert!(cli(&["certs", "init"], None).status.success());
    let spawn = |service: &str| {
        Command::new(BIN)
            .args(["serve", service])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .spawn()
            .expect("serve")
    };
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
        let sender: Arc<tokio::sync::Mutex<Option<hyper::client::conn::http1::SendRequest<String>>>> = Arc::default();
        move || {
            let token = token.clone();
            let sender = sender.clone();
            async move {
                let mut guard = sender.lock().await;
                if guard.is_none() {
                    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", gateway)).await.expect("tcp");
                    let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                        .await
                        .expect("handshake");
                    tokio::spawn(conn);
                    *guard = Some(send);
                }
                let Some(send) = guard.as_mut() else { return false };
                let request = http::Request::get("/v1/audit/checkpoint")
                    .header("host", "bench")
                    .header("authorization", format!("Bearer {token}"))
                    .body(String::new())
                    .expect("request");
                match send.send_request(request).await {
                    Ok(response) => response.status() == 200 && response.into_body().collect().await.is_ok(),
                    Err(_) => false,
                }
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
            let (method, sender) = (method.clone(), Arc::new(tokio::sync::Mutex::new(None)));
            move || {
                let (token, method, sender) = (token.clone(), method.clone(), sender.clone());
                async move { http1_call(gateway, &sender, method, path, &token, body).await }
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

type Sender = Arc<tokio::sync::Mutex<Option<hyper::client::conn::http1::SendRequest<String>>>>;

/// One request on the task's keep-alive connection (opened on first use): whether it got a 200 whose body, for MCP,
/// is a tool result rather than an error.
async fn http1_call(
    port: u16,
    sender: &Sender,
    method: http::Method,
    path: &str,
    token: &str,
    body: &'static str,
) -> bool {
    let mut guard = sender.lock().await;
    if guard.is_none() {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("tcp");
        let (send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await.expect("handshake");
        tokio::spawn(conn);
        *guard = Some(send);
    }
    let Some(send) = guard.as_mut() else { return false };
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
    match send.send_request(request).await {
        Ok(response) if response.status() == 200 => match response.into_body().collect().await {
            Ok(bytes) => {
                let bytes = bytes.to_bytes();
                if !path.starts_with("/mcp") {
                    return true;
                }
                let reply: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
                reply["result"]["structuredContent"]["connections"].is_array() && reply["result"]["isError"] != true
            }
            Err(_) => false,
        },
        _ => false,
    }
}
