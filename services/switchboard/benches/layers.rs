//! What each layer of the public port costs: one authenticated read (`ListEvents`, one event) taken apart layer
//! by layer, beside a bare hyper handler measured in the same run, so every figure is also a ratio that holds
//! across machines.
//!
//! Every row is 64 closed-loop HTTP/1.1 keep-alive connections (gRPC rows: 64 HTTP/2 connections) for a fixed
//! time, in rounds over all the rows (the median of each figure is printed). Results with the machine described are
//! kept in `benches/results/layers.md`; `SWITCHBOARD_BENCH_ROWS`, `_SECONDS`, `_ROUNDS` and `_BIN` (another build's
//! `switchboard`) are for profiling one layer and comparing two builds. Its CPU is the user and system time of every process of the platform (all the children this benchmark
//! starts, from /proc), divided by the requests served: the load generator's own CPU is not counted.
//!
//! The rows, each adding to the one before:
//!
//! 1. a bare hyper 1.x handler answering a fixed JSON body (a process of its own): the limit;
//! 2. the public port's fixed layers (connection limits, CORS, body limit, request id, access log, metrics)
//!    answering a request for an unknown route (404 before any token is looked at);
//! 3. a static document (`/.well-known/jwks.json`, bytes built once);
//! 4. with token verification: a viewer's valid token refused by role (403) on an admin read;
//! 5. with the revocation check, rate limit, REST transcoding and the mTLS hop to a backend answering a fixed
//!    `ListEvents` (no store);
//! 6. with the store read: the real audit service on SQLite;
//! 7. the same on PostgreSQL;
//!
//! and the same read over gRPC, through the edge and directly to the audit service over mTLS.
//!
//! `benches/instructions.sh` counts the gateway's own instructions per request on rows 3 and 6 under callgrind: a
//! figure that holds to 0.5% run to run, for changes too small for this benchmark's noise.

#[path = "support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message;
use support::{Http1, Measured, Processes, free_port};
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
const PASSWORD: &str = "correct horse battery staple";
/// Set in a child process of this benchmark: which helper server it is.
const ROLE: &str = "SWITCHBOARD_BENCH_ROLE";
const PORT: &str = "SWITCHBOARD_BENCH_PORT";
const DATA: &str = "SWITCHBOARD_BENCH_DATA";
const ANSWER: &str = "SWITCHBOARD_BENCH_ANSWER";
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    match std::env::var(ROLE).as_deref() {
        Ok("bare") => runtime.block_on(bare_server()),
        Ok("fixed-audit") => runtime.block_on(fixed_audit_server()),
        _ => runtime.block_on(run()),
    }
}

fn port_from_env() -> u16 {
    std::env::var(PORT).expect("port").parse().expect("port number")
}

/// Row 1: hyper 1.x, HTTP/1.1, a fixed JSON body; nothing else.
async fn bare_server() {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port_from_env())).await.expect("bind");
    let body: &'static [u8] = br#"{"events":[{"seq":"1","action":"auth.login"}],"nextPageToken":""}"#;
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |_request| async move {
                let mut response = http::Response::new(http_body_util::Full::new(body));
                response
                    .headers_mut()
                    .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
                Ok::<_, std::convert::Infallible>(response)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Row 5's backend: the audit contract over the mesh (mTLS, caller checks, health), answering `ListEvents` with
/// a fixed page (a real page, encoded, from the environment) and touching no store.
async fn fixed_audit_server() {
    #[derive(Clone)]
    struct Fixed(pb::ListEventsResponse);

    #[tonic::async_trait]
    impl pb::audit_service_server::AuditService for Fixed {
        async fn append_events(
            &self,
            _: tonic::Request<pb::AppendEventsRequest>,
        ) -> Result<tonic::Response<pb::AppendEventsResponse>, tonic::Status> {
            Ok(tonic::Response::new(pb::AppendEventsResponse::default()))
        }
        async fn list_events(
            &self,
            _: tonic::Request<pb::ListEventsRequest>,
        ) -> Result<tonic::Response<pb::ListEventsResponse>, tonic::Status> {
            Ok(tonic::Response::new(self.0.clone()))
        }
        async fn verify_chain(
            &self,
            _: tonic::Request<pb::VerifyChainRequest>,
        ) -> Result<tonic::Response<pb::VerifyChainResponse>, tonic::Status> {
            Err(tonic::Status::unimplemented("not in this benchmark"))
        }
        async fn get_checkpoint(
            &self,
            _: tonic::Request<pb::GetCheckpointRequest>,
        ) -> Result<tonic::Response<pb::GetCheckpointResponse>, tonic::Status> {
            Err(tonic::Status::unimplemented("not in this benchmark"))
        }
    }

    let data = std::path::PathBuf::from(std::env::var(DATA).expect("data dir"));
    let answer = hex_decode(&std::env::var(ANSWER).expect("answer"));
    let page = pb::ListEventsResponse::decode(answer.as_slice()).expect("a ListEventsResponse");
    let credentials = MeshCredentials::dev(&data, Identity::audit()).expect("credentials");
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port_from_env())).await.expect("bind");
    let routes = tonic::service::Routes::new(pb::audit_service_server::AuditServiceServer::new(Fixed(page)));
    let options = switchboard_mesh::server::ServeOptions::mesh(credentials).expect("options");
    switchboard_mesh::server::serve(routes, listener, options, tokio_util::sync::CancellationToken::new())
        .await
        .expect("serve");
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
}

/// One gateway and its audit backend (the real service, or the fixed one), with a tenant, an owner and a viewer.
struct Stack {
    gateway: u16,
    audit: u16,
    owner_token: Arc<str>,
    viewer_token: Arc<str>,
    tenant: TenantId,
}

/// The environment of one stack's processes.
fn stack_env(data: &std::path::Path, gateway: u16, audit: u16, database: Option<&str>) -> Vec<(String, String)> {
    let mut env = vec![
        ("SWITCHBOARD_DATA_DIR", data.display().to_string()),
        ("SWITCHBOARD_GATEWAY_ADDR", format!("127.0.0.1:{gateway}")),
        ("SWITCHBOARD_GATEWAY_ADMIN_ADDR", format!("127.0.0.1:{}", free_port())),
        ("SWITCHBOARD_AUDIT_ADDR", format!("127.0.0.1:{audit}")),
        ("SWITCHBOARD_CONNECTORS_ADDR", format!("127.0.0.1:{}", free_port())),
        ("SWITCHBOARD_ORCHESTRATOR_ADDR", format!("127.0.0.1:{}", free_port())),
        ("SWITCHBOARD_PUBLIC_URL", format!("http://127.0.0.1:{gateway}")),
        // The default log level: the access log (one JSON line per request, to /dev/null here) is a fixed layer.
        ("RUST_LOG", "info,h2=warn,hyper=warn,sqlx=warn,sea_orm=warn,rustls=warn".to_owned()),
        // Several processes on one machine: no metrics listeners (metrics are still recorded).
        ("SWITCHBOARD_METRICS_ADDR", String::new()),
        // Limits on (every request is checked) but high enough never to refuse.
        ("SWITCHBOARD_RATE_LIMIT_PER_MINUTE", "1000000000".to_owned()),
    ];
    if let Some(schema) = database {
        env.push(("DATABASE_URL", POSTGRES.to_owned()));
        env.push(("SWITCHBOARD_DATABASE_SCHEMA", schema.to_owned()));
    }
    env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// The platform's binary: this build's, or `SWITCHBOARD_BENCH_BIN` (to compare two builds in one sitting).
fn bin() -> String {
    std::env::var("SWITCHBOARD_BENCH_BIN").unwrap_or_else(|_| BIN.to_owned())
}

fn cli(env: &[(String, String)], args: &[&str], input: Option<&str>) -> std::process::Output {
    support::cli(&bin(), env, args, input)
}

fn serve(env: &[(String, String)], service: &str) -> std::process::Child {
    support::serve(&bin(), env, service)
}

async fn login(gateway: u16, email: &str) -> Arc<str> {
    let public = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{gateway}")).expect("endpoint");
    let session = AuthServiceClient::new(public.connect().await.expect("connect"))
        .login(auth::LoginRequest { tenant: "bench".into(), email: email.into(), password: PASSWORD.into() })
        .await
        .expect("login")
        .into_inner();
    session.access_token.into()
}

/// Starts a gateway (and, unless `audit` already serves, the real audit service) and signs two users in.
async fn stack(data: &std::path::Path, processes: &mut Processes, audit: Option<u16>, database: Option<&str>) -> Stack {
    let gateway = free_port();
    let audit_port = audit.unwrap_or_else(free_port);
    let env = stack_env(data, gateway, audit_port, database);
    if audit.is_none() {
        processes.0.push(serve(&env, "audit"));
        // The gateway may open the same database; let the audit service create and migrate it first.
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    processes.0.push(serve(&env, "gateway"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let created = cli(&env, &["tenant", "create", "bench"], None);
        let exists = String::from_utf8_lossy(&created.stderr).contains("exists already");
        if created.status.success() || exists {
            break;
        }
        assert!(Instant::now() < deadline, "gateway did not come up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (email, role) in [("owner@bench.example", "owner"), ("viewer@bench.example", "viewer")] {
        let created = cli(
            &env,
            &["user", "create", "--tenant", "bench", "--email", email, "--role", role],
            Some(&format!("{PASSWORD}\n")),
        );
        let exists = String::from_utf8_lossy(&created.stderr).contains("already");
        assert!(created.status.success() || exists, "user create: {}", String::from_utf8_lossy(&created.stderr));
    }
    let owner_token = login(gateway, "owner@bench.example").await;
    let viewer_token = login(gateway, "viewer@bench.example").await;
    let public = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{gateway}")).expect("endpoint");
    let me = AuthServiceClient::new(public.connect().await.expect("connect"))
        .who_am_i(bearer(auth::WhoAmIRequest {}, &owner_token))
        .await
        .expect("whoami")
        .into_inner();
    let tenant = me.tenant.expect("tenant").id.parse().expect("tenant id");
    Stack { gateway, audit: audit_port, owner_token, viewer_token, tenant }
}

fn bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().expect("header"));
    request
}

/// A closed-loop HTTP/1.1 GET of `path` on every connection, expecting `status`.
async fn http_row(
    name: &str,
    port: u16,
    path: &'static str,
    token: Option<Arc<str>>,
    status: http::StatusCode,
    run: Duration,
    pids: &[u32],
) -> Measured {
    support::drive(name, CONNECTIONS, WARMUP, run, pids, |_| {
        let (connection, token) = (Http1::default(), token.clone());
        move || {
            let (connection, token) = (connection.clone(), token.clone());
            async move {
                let mut request = http::Request::get(path).header("host", "bench");
                if let Some(token) = &token {
                    request = request.header("authorization", format!("Bearer {token}"));
                }
                let request = request.body(String::new()).expect("request");
                matches!(connection.send(port, request).await, Some((s, _)) if s == status)
            }
        }
    })
    .await
}

async fn run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let mut processes = Processes(Vec::new());
    let certs = cli(&stack_env(&data, 0, 0, None), &["certs", "init"], None);
    assert!(certs.status.success(), "certs init");
    let me = std::env::current_exe().expect("this benchmark's path");

    // The real stack on SQLite first: its first page of events becomes the fixed backend's answer.
    let sqlite = stack(&data, &mut processes, None, None).await;
    let creds = MeshCredentials::dev(&data, Identity::gateway()).expect("credentials");
    let direct_channel = |audit: u16| {
        switchboard_mesh::client::channel(&format!("127.0.0.1:{audit}"), &Identity::audit(), &creds).expect("channel")
    };
    let mesh_request = |tenant: TenantId| {
        let context = RequestContext::new_root().with_tenant(tenant).with_role(switchboard_types::Role::Owner);
        context.request(pb::ListEventsRequest { page_size: 1, ..Default::default() })
    };
    // The logins reach the audit log through the outbox, shortly after.
    let deadline = Instant::now() + Duration::from_secs(30);
    let page = loop {
        let page = AuditServiceClient::new(direct_channel(sqlite.audit))
            .list_events(mesh_request(sqlite.tenant))
            .await
            .expect("list events")
            .into_inner();
        if !page.events.is_empty() {
            break page;
        }
        assert!(Instant::now() < deadline, "the logins never reached the audit log");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let (bare, fixed_audit) = (free_port(), free_port());
    let helper = |role: &str, port: u16| {
        Command::new(&me)
            .env(ROLE, role)
            .env(PORT, port.to_string())
            .env(DATA, &data)
            .env(ANSWER, hex_encode(&page.encode_to_vec()))
            .stdout(Stdio::null())
            .spawn()
            .expect("helper")
    };
    processes.0.push(helper("bare", bare));
    processes.0.push(helper("fixed-audit", fixed_audit));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fixed = stack(&data, &mut processes, Some(fixed_audit), None).await;
    let schema = format!("bench_layers_{}", std::process::id());
    let created = Command::new("psql")
        .args([POSTGRES, "-qc", &format!("CREATE SCHEMA {schema}")])
        .status()
        .expect("psql (PostgreSQL's client)");
    assert!(created.success(), "cannot create schema {schema} at {POSTGRES}");
    let postgres = stack(&data, &mut processes, None, Some(&schema)).await;
    let pids = processes.pids();

    let ok = http::StatusCode::OK;
    let users: &'static str = Box::leak(format!("/v1/tenants/{}/users", fixed.tenant).into_boxed_str());
    let events = "/v1/audit/events?pageSize=1";
    let (run, only) = (run_time(), rows_wanted());
    let wanted = |row: usize| only.as_ref().is_none_or(|rows| rows.contains(&row));
    let http = |row: usize, name: &'static str, port: u16, path: &'static str, token: Option<Arc<str>>, status| {
        let pids = pids.clone();
        async move {
            if !wanted(row) {
                return None;
            }
            Some(http_row(&format!("{row}. {name}"), port, path, token, status, run, &pids).await)
        }
    };
    let public =
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", sqlite.gateway)).expect("endpoint");
    let mut channels = Vec::new();
    for _ in 0..CONNECTIONS {
        channels.push(public.connect().await.expect("connect"));
    }
    let rounds = rounds();
    let mut measured: Vec<Vec<Measured>> = Vec::new();
    for _ in 0..rounds {
        let mut rows = vec![
            http(1, "bare hyper handler, fixed JSON", bare, "/", None, ok).await,
            http(
                2,
                "fixed layers: unknown route, 404",
                fixed.gateway,
                "/v1/nowhere",
                None,
                http::StatusCode::NOT_FOUND,
            )
            .await,
            http(3, "static document: JWKS", fixed.gateway, "/.well-known/jwks.json", None, ok).await,
            http(
                4,
                "with token verification: a viewer refused by role, 403",
                fixed.gateway,
                users,
                Some(fixed.viewer_token.clone()),
                http::StatusCode::FORBIDDEN,
            )
            .await,
            http(
                5,
                "with revocation, rate limit, transcoding, mTLS hop (fixed backend)",
                fixed.gateway,
                events,
                Some(fixed.owner_token.clone()),
                ok,
            )
            .await,
            http(6, "with the store read, SQLite", sqlite.gateway, events, Some(sqlite.owner_token.clone()), ok).await,
            http(7, "the same on PostgreSQL", postgres.gateway, events, Some(postgres.owner_token.clone()), ok).await,
        ];

        let token = sqlite.owner_token.clone();
        rows.push(if wanted(8) {
            let name = "8. gRPC ListEvents via the edge (SQLite)";
            Some(
                support::drive(name, CONNECTIONS, WARMUP, run, &pids, |i| {
                    let client = AuditServiceClient::new(channels[i].clone());
                    let token = token.clone();
                    move || {
                        let mut client = client.clone();
                        let request = bearer(pb::ListEventsRequest { page_size: 1, ..Default::default() }, &token);
                        async move { client.list_events(request).await.is_ok() }
                    }
                })
                .await,
            )
        } else {
            None
        });
        rows.push(if wanted(9) {
            let name = "9. gRPC ListEvents direct to audit, mTLS (SQLite)";
            Some(
                support::drive(name, CONNECTIONS, WARMUP, run, &pids, |_| {
                    let client = AuditServiceClient::new(direct_channel(sqlite.audit));
                    let tenant = sqlite.tenant;
                    move || {
                        let mut client = client.clone();
                        let request = mesh_request(tenant);
                        async move { client.list_events(request).await.is_ok() }
                    }
                })
                .await,
            )
        } else {
            None
        });
        measured.resize_with(rows.len(), Vec::new);
        for (all, row) in measured.iter_mut().zip(rows) {
            all.extend(row);
        }
    }
    let rows: Vec<Option<Median>> = measured.iter().map(|all| Median::of(all)).collect();
    drop(processes);
    let _ = Command::new("psql")
        .args([POSTGRES, "-qc", &format!("DROP SCHEMA IF EXISTS {schema} CASCADE")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();

    let baseline = rows[0].as_ref().map_or(f64::NAN, |r| r.cpu_us);
    println!();
    println!(
        "Switchboard edge layers: {CONNECTIONS} connections, {} s per row after {} s warm-up, medians of {rounds} \
         interleaved rounds; CPU summed over every process of the platform (/proc), load generator excluded",
        run.as_secs(),
        WARMUP.as_secs()
    );
    println!("machine: {}", support::machine());
    println!();
    println!("| layer | requests/s | p50 ms | p99 ms | CPU µs/request | × bare |");
    println!("|---|---:|---:|---:|---:|---:|");
    for row in rows.iter().flatten() {
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.0} | {:.1} |",
            row.name,
            row.rps,
            row.p50,
            row.p99,
            row.cpu_us,
            row.cpu_us / baseline
        );
    }
    if let [Some(_), _, Some(document), _, _, Some(read), _, Some(edge_grpc), Some(direct_grpc)] = rows.as_slice() {
        println!();
        println!(
            "targets: row 6 CPU ≤ 12× bare (now {:.1}×), p99 ≤ 10 ms (now {:.2}); row 3 ≤ 2× bare (now {:.1}×); \
             gRPC via edge ≥ 0.6 of direct (now {:.2})",
            read.cpu_us / baseline,
            read.p99,
            document.cpu_us / baseline,
            edge_grpc.rps / direct_grpc.rps
        );
    }
}

/// One row's figures: the median of each over the rounds.
struct Median {
    name: String,
    rps: f64,
    p50: f64,
    p99: f64,
    cpu_us: f64,
}

impl Median {
    fn of(all: &[Measured]) -> Option<Self> {
        let median = |f: &dyn Fn(&Measured) -> f64| {
            let mut values: Vec<f64> = all.iter().map(f).collect();
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        Some(Self {
            name: all.first()?.name.clone(),
            rps: median(&Measured::rps),
            p50: median(&|m| m.percentile(0.50)),
            p99: median(&|m| m.percentile(0.99)),
            cpu_us: median(&Measured::cpu_us_per_request),
        })
    }
}

/// Rounds over all the rows, interleaved so that a slow minute of the machine touches every row alike:
/// `SWITCHBOARD_BENCH_ROUNDS`, else 3.
fn rounds() -> usize {
    std::env::var("SWITCHBOARD_BENCH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3).max(1)
}

/// How long each row runs: `SWITCHBOARD_BENCH_SECONDS`, else 5 s.
fn run_time() -> Duration {
    std::env::var("SWITCHBOARD_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).map_or(RUN, Duration::from_secs)
}

/// The rows to run (`SWITCHBOARD_BENCH_ROWS=6,9`, to profile one layer), else all.
fn rows_wanted() -> Option<Vec<usize>> {
    let rows = std::env::var("SWITCHBOARD_BENCH_ROWS").ok()?;
    Some(rows.split(',').filter_map(|r| r.trim().parse().ok()).collect())
}
