//! The connectors benchmark.
//!
//! **Sync**: a full sync of the sandbox's Stripe account and Shopify shop (demo data × `SCALE`, pages of 100) by
//! the connectors service into PostgreSQL, against the same pages fetched from the sandbox without storing them
//! (the ratio is what the engine costs: upserts, cursors and counters in one transaction per page). Peak RSS is the
//! bench process's growth during the sync (service and sandbox share it). The same for QuickBooks Online (OAuth;
//! Query API pages of 1000) and HubSpot (a private app token; CRM pages of 100 with associations, at HubSpot's
//! rate limit for such apps, 190 calls per 10 s, which the fetch-only walk obeys too).
//!
//! **Webhooks**: signed Stripe events posted to `POST /v1/webhooks/stripe` of a live `switchboard up` (verified,
//! routed to the demo tenant's connection, stored once and published through the outbox), 64 connections for a fixed
//! time, against the gateway's anonymous no-op route (`GET /.well-known/jwks.json`) in the same run, and the same
//! deliveries as `ReceiveWebhook` calls straight to the connectors service (what the path costs without the edge).
//! `--webhooks-only` runs just these rows.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use switchboard_connectors::{ConnectorService, KeyRing, ProviderSettings, RetryPolicy, Secret};
use switchboard_mesh::context::RequestContext;
use switchboard_proto::connectors::v1 as pb;
use switchboard_proto::connectors::v1::connector_service_server::ConnectorService as _;
use switchboard_sandbox::{Sandbox, SandboxConfig};
use switchboard_test_support::{TestDb, test_store};
use switchboard_types::{Role, TenantId, UserId};

mod support;
use support::{Processes, free_port, peak_rss_mib, wait_until_idle};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");
const SCALE: u32 = 10;
const CONNECTIONS: usize = 64;
const RUN: Duration = Duration::from_secs(5);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(run());
}

fn memory_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse().ok()))
        .unwrap_or(0)
}

fn request<T>(tenant: TenantId, message: T) -> tonic::Request<T> {
    request_by(tenant, UserId::generate(), message)
}

/// A request of `user`, an owner of `tenant` (OAuth binds its state to the user who started it).
fn request_by<T>(tenant: TenantId, user: UserId, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let context = RequestContext::new_root().with_tenant(tenant).with_user(user).with_role(Role::Owner);
    request.extensions_mut().insert(context);
    request
}

/// Walks every page of the sandbox the sync walks, storing nothing: records fetched.
async fn fetch_only(client: &reqwest::Client, stripe: &str, shopify: &str) -> u64 {
    let mut records = 0u64;
    for path in ["/v1/charges", "/v1/customers", "/v1/invoices", "/v1/payment_intents", "/v1/refunds"] {
        let mut after: Option<String> = None;
        loop {
            let mut query = vec![("limit".to_owned(), "100".to_owned())];
            if let Some(a) = &after {
                query.push(("starting_after".to_owned(), a.clone()));
            }
            let page: serde_json::Value = client
                .get(format!("{stripe}{path}"))
                .bearer_auth(switchboard_sandbox::DEMO_STRIPE_KEY)
                .query(&query)
                .send()
                .await
                .expect("stripe page")
                .json()
                .await
                .expect("stripe json");
            let data = page["data"].as_array().expect("data");
            records += data.len() as u64;
            if !page["has_more"].as_bool().unwrap_or(false) {
                break;
            }
            after = data.last().and_then(|o| o["id"].as_str()).map(str::to_owned);
        }
    }
    for (root, fields) in [
        ("orders", "id name createdAt updatedAt displayFinancialStatus"),
        ("products", "id title status createdAt updatedAt totalInventory"),
        ("customers", "id email firstName lastName createdAt updatedAt"),
    ] {
        let query = format!(
            "query($first:Int!,$after:String){{ {root}(first:$first, after:$after, sortKey:UPDATED_AT) \
             {{ pageInfo {{ hasNextPage endCursor }} nodes {{ {fields} }} }} }}"
        );
        let mut after: Option<String> = None;
        loop {
            let answer: serde_json::Value = client
                .post(format!("{shopify}/admin/api/2026-10/graphql.json"))
                .header("X-Shopify-Access-Token", switchboard_sandbox::DEMO_SHOPIFY_TOKEN)
                .json(&serde_json::json!({ "query": query, "variables": { "first": 100, "after": after } }))
                .send()
                .await
                .expect("graphql")
                .json()
                .await
                .expect("graphql json");
            if answer.get("errors").is_some() {
                // Throttled: the sync waits the same way.
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let connection = &answer["data"][root];
            records += connection["nodes"].as_array().map_or(0, |n| n.len() as u64);
            if !connection["pageInfo"]["hasNextPage"].as_bool().unwrap_or(false) {
                break;
            }
            after = connection["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
    }
    records
}

/// A QuickBooks access token for the demo company, obtained as the platform would (authorization, then the code
/// exchange with HTTP Basic client authentication).
async fn quickbooks_token(client: &reqwest::Client, base: &str) -> String {
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let redirect = "http://127.0.0.1:8080/oauth/callback";
    let answer = no_redirects
        .get(format!("{base}/connect/oauth2"))
        .query(&[
            ("client_id", switchboard_sandbox::QUICKBOOKS_CLIENT_ID),
            ("response_type", "code"),
            ("scope", "com.intuit.quickbooks.accounting"),
            ("redirect_uri", redirect),
            ("state", "bench"),
        ])
        .send()
        .await
        .expect("authorize");
    let location = answer.headers()["location"].to_str().expect("location").to_owned();
    let code = url::Url::parse(&location)
        .expect("redirect")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let token: serde_json::Value = client
        .post(format!("{base}/oauth2/v1/tokens/bearer"))
        .basic_auth(switchboard_sandbox::QUICKBOOKS_CLIENT_ID, Some(switchboard_sandbox::QUICKBOOKS_CLIENT_SECRET))
        .form(&[("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", redirect)])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    token["access_token"].as_str().expect("access token").to_owned()
}

/// Walks every page the QuickBooks and HubSpot syncs walk (Query API pages of 1000 by id; CRM objects 100 a page with
/// their associations), storing nothing: records fetched. Throttled answers are waited out, as the sync does.
async fn fetch_only_books_and_crm(client: &reqwest::Client, quickbooks: &str, hubspot: &str) -> u64 {
    let token = quickbooks_token(client, quickbooks).await;
    let realm = switchboard_sandbox::DEMO_QUICKBOOKS_REALM;
    let mut records = 0u64;
    for entity in ["Bill", "Customer", "Invoice", "Item", "Payment"] {
        let mut start = 1;
        loop {
            let query = format!("SELECT * FROM {entity} ORDERBY Id STARTPOSITION {start} MAXRESULTS 1000");
            let answer = client
                .get(format!("{quickbooks}/v3/company/{realm}/query"))
                .bearer_auth(&token)
                .header("accept", "application/json")
                .query(&[("query", query.as_str()), ("minorversion", "75")])
                .send()
                .await
                .expect("query");
            if answer.status() == 429 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let page: serde_json::Value = answer.json().await.expect("query json");
            let count = page["QueryResponse"][entity].as_array().map_or(0, Vec::len);
            records += count as u64;
            if count < 1000 {
                break;
            }
            start += count;
        }
    }
    for (object_type, associations) in
        [("companies", "contacts,deals"), ("contacts", "companies,deals"), ("deals", "contacts,companies")]
    {
        let mut after: Option<String> = None;
        loop {
            let mut query = vec![("limit", "100".to_owned()), ("associations", associations.to_owned())];
            if let Some(a) = &after {
                query.push(("after", a.clone()));
            }
            let answer = client
                .get(format!("{hubspot}/crm/v3/objects/{object_type}"))
                .bearer_auth(switchboard_sandbox::DEMO_HUBSPOT_TOKEN)
                .query(&query)
                .send()
                .await
                .expect("objects");
            if answer.status() == 429 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let page: serde_json::Value = answer.json().await.expect("objects json");
            records += page["results"].as_array().map_or(0, |r| r.len() as u64);
            match page.pointer("/paging/next/after").and_then(serde_json::Value::as_str) {
                Some(next) => after = Some(next.to_owned()),
                None => break,
            }
        }
    }
    records
}

/// Which providers a sync run covers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Providers {
    /// Connectors part 1: Stripe (API key) and Shopify (admin token).
    StripeShopify,
    /// Connectors part 2: QuickBooks Online (OAuth) and HubSpot (private app token).
    QuickBooksHubSpot,
}

async fn sync_bench(providers: Providers) -> (u64, Duration, u64, Duration, u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let stop = tokio_util::sync::CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let sandbox = Sandbox::start(listener, SandboxConfig { scale: SCALE, ..SandboxConfig::default() }, stop.clone())
        .await
        .expect("sandbox");
    let shop_base = sandbox.shopify_base_template().replace("{shop}", switchboard_sandbox::DEMO_SHOP);
    // An Enterprise shop (2000 cost points a second): at the Standard plan's 100 the bucket, not the engine, sets
    // the pace (about 98 records a second with pages of 100).
    sandbox.set_shopify_restore_rate(switchboard_sandbox::DEMO_SHOP, 2000.0);

    let client = reqwest::Client::new();
    let started = Instant::now();
    let fetched = match providers {
        Providers::StripeShopify => fetch_only(&client, &sandbox.stripe_api_base(), &shop_base).await,
        Providers::QuickBooksHubSpot => {
            fetch_only_books_and_crm(&client, &sandbox.quickbooks_base(), &sandbox.hubspot_base()).await
        }
    };
    let fetch_time = started.elapsed();

    let store = test_store(TestDb::Postgres, dir.path()).await;
    let mut settings = ProviderSettings::production();
    settings.stripe_api_base = sandbox.stripe_api_base();
    settings.shopify_base = sandbox.shopify_base_template();
    settings.stripe_webhook_secret = Secret::new(switchboard_sandbox::STRIPE_WEBHOOK_SECRET);
    settings.quickbooks_auth_url = format!("{}/connect/oauth2", sandbox.quickbooks_base());
    settings.quickbooks_token_url = format!("{}/oauth2/v1/tokens/bearer", sandbox.quickbooks_base());
    settings.quickbooks_api_base = sandbox.quickbooks_base();
    settings.quickbooks_client_id = switchboard_sandbox::QUICKBOOKS_CLIENT_ID.into();
    settings.quickbooks_client_secret = Secret::new(switchboard_sandbox::QUICKBOOKS_CLIENT_SECRET);
    settings.hubspot_api_base = sandbox.hubspot_base();
    let service = ConnectorService::with_parts(
        store.store.clone(),
        KeyRing::load_or_create(&dir.path().join("kek")).expect("kek"),
        Arc::new(switchboard_cache::MemoryCache::new()),
        settings,
        RetryPolicy::default(),
        stop.clone(),
    )
    .expect("service");
    let tenant = TenantId::generate();
    let mut names = Vec::new();
    let static_keys = match providers {
        Providers::StripeShopify => vec![
            ("stripe", "", switchboard_sandbox::DEMO_STRIPE_KEY),
            ("shopify", switchboard_sandbox::DEMO_SHOP, switchboard_sandbox::DEMO_SHOPIFY_TOKEN),
        ],
        Providers::QuickBooksHubSpot => {
            let owner = UserId::generate();
            let started = service
                .start_o_auth(request_by(
                    tenant,
                    owner,
                    pb::StartOAuthRequest {
                        provider: "quickbooks".into(),
                        redirect_uri: "http://127.0.0.1:8080/oauth/callback".into(),
                        ..Default::default()
                    },
                ))
                .await
                .expect("start oauth")
                .into_inner();
            let no_redirects =
                reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
            let answer = no_redirects.get(&started.authorization_url).send().await.expect("authorize");
            let location = answer.headers()["location"].to_str().expect("location").to_owned();
            let mut params: std::collections::HashMap<String, String> =
                url::Url::parse(&location).expect("redirect").query_pairs().into_owned().collect();
            let (state, code) = (params.remove("state").expect("state"), params.remove("code").expect("code"));
            let connected = service
                .complete_o_auth(request_by(tenant, owner, pb::CompleteOAuthRequest { state, code, params }))
                .await
                .expect("complete oauth")
                .into_inner()
                .connection
                .expect("connection");
            names.push(connected.name);
            vec![("hubspot", "", switchboard_sandbox::DEMO_HUBSPOT_TOKEN)]
        }
    };
    for (provider, account, secret) in static_keys {
        let created = service
            .create_connection(request(
                tenant,
                pb::CreateConnectionRequest {
                    connection: Some(pb::Connection {
                        provider: provider.into(),
                        account: account.into(),
                        ..Default::default()
                    }),
                    credentials: Some(pb::Credentials { secret: secret.into() }),
                },
            ))
            .await
            .expect("connect")
            .into_inner()
            .connection
            .expect("connection");
        names.push(created.name);
    }
    let baseline = memory_kib("VmRSS:");
    let started = Instant::now();
    let mut syncs = Vec::new();
    for name in &names {
        let sync = service
            .start_sync(request(
                tenant,
                pb::StartSyncRequest { parent: name.clone(), record_kinds: vec![], full: true },
            ))
            .await
            .expect("start sync")
            .into_inner()
            .sync
            .expect("sync");
        syncs.push(sync.name);
    }
    let mut stored = 0u64;
    for name in syncs {
        loop {
            let sync = service
                .get_sync(request(tenant, pb::GetSyncRequest { name: name.clone() }))
                .await
                .expect("get sync")
                .into_inner()
                .sync
                .expect("sync");
            if ![pb::SyncStatus::Pending as i32, pb::SyncStatus::Running as i32].contains(&sync.status) {
                assert_eq!(sync.status, pb::SyncStatus::Succeeded as i32, "{sync:?}");
                stored += sync.records_created as u64;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let sync_time = started.elapsed();
    let growth_mib = memory_kib("VmHWM:").saturating_sub(baseline) / 1024;
    stop.cancel();
    service.wait_for_syncs().await;
    store.cleanup().await;
    (fetched, fetch_time, stored, sync_time, growth_mib)
}

/// Requests answered 200 in `RUN` over `CONNECTIONS` keep-alive HTTP/1.1 connections.
async fn drive(port: u16, make: impl Fn() -> http::Request<String> + Send + Sync + 'static) -> f64 {
    let make = Arc::new(make);
    let end = Instant::now() + RUN;
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("tcp");
            let (mut send, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await.expect("handshake");
            tokio::spawn(conn);
            let mut ok = 0u64;
            while Instant::now() < end {
                let response = send.send_request(make()).await.expect("send");
                let status = response.status();
                let _ = response.into_body().collect().await;
                assert_eq!(status, 200, "the benchmark's calls all succeed");
                ok += 1;
            }
            ok
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("task");
    }
    total as f64 / RUN.as_secs_f64()
}

/// A signed Stripe event for the demo account, numbered `n` (a distinct event id each).
fn signed_event(n: u64) -> (String, String) {
    let body = serde_json::json!({
        "id": format!("evt_bench{n:012}"), "object": "event", "type": "customer.updated",
        "account": switchboard_sandbox::DEMO_STRIPE_ACCOUNT, "created": 1_780_000_000,
        "data": { "object": { "id": format!("cus_bench{n}"), "object": "customer", "email": "b@bench.example" } },
    })
    .to_string();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let signature =
        switchboard_signatures::stripe::sign(switchboard_sandbox::STRIPE_WEBHOOK_SECRET, now, body.as_bytes());
    (body, signature)
}

/// `ReceiveWebhook` calls answered in `RUN`, straight to the connectors service over mTLS as the gateway would make
/// them (no edge): what the webhook path costs without the public port.
async fn drive_direct(data: &std::path::Path, connectors: u16, counter: Arc<AtomicU64>) -> f64 {
    use switchboard_proto::connectors::v1::connector_service_client::ConnectorServiceClient;
    let creds =
        switchboard_mesh::pki::MeshCredentials::dev(data, switchboard_mesh::Identity::gateway()).expect("credentials");
    let end = Instant::now() + RUN;
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let channel = switchboard_mesh::client::channel(
            &format!("127.0.0.1:{connectors}"),
            &switchboard_mesh::Identity::connectors(),
            &creds,
        )
        .expect("channel");
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = ConnectorServiceClient::new(channel);
            let mut ok = 0u64;
            while Instant::now() < end {
                let (body, signature) = signed_event(counter.fetch_add(1, Ordering::Relaxed));
                let request = RequestContext::new_root().request(pb::ReceiveWebhookRequest {
                    provider: "stripe".into(),
                    body: Some(switchboard_proto::google::api::HttpBody {
                        content_type: "application/json".into(),
                        data: body.into_bytes(),
                        extensions: vec![],
                    }),
                    headers: [("stripe-signature".to_owned(), signature)].into_iter().collect(),
                });
                client.receive_webhook(request).await.expect("receive webhook");
                ok += 1;
            }
            ok
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("task");
    }
    total as f64 / RUN.as_secs_f64()
}

async fn webhook_bench() -> (f64, f64, f64, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let stop = tokio_util::sync::CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let sandbox = Sandbox::start(listener, SandboxConfig::default(), stop.clone()).await.expect("sandbox");
    let (gateway, connectors) = (free_port(), free_port());
    let data = dir.path().join("data");
    let env = [
        ("SWITCHBOARD_DATA_DIR", data.display().to_string()),
        ("SWITCHBOARD_GATEWAY_ADDR", format!("127.0.0.1:{gateway}")),
        ("SWITCHBOARD_GATEWAY_ADMIN_ADDR", format!("127.0.0.1:{}", free_port())),
        ("SWITCHBOARD_AUDIT_ADDR", format!("127.0.0.1:{}", free_port())),
        ("SWITCHBOARD_CONNECTORS_ADDR", format!("127.0.0.1:{connectors}")),
        ("SWITCHBOARD_ORCHESTRATOR_ADDR", format!("127.0.0.1:{}", free_port())),
        ("SWITCHBOARD_METRICS_ADDR", String::new()),
        ("SWITCHBOARD_SANDBOX_URL", sandbox.base_url()),
        ("SWITCHBOARD_STRIPE_WEBHOOK_SECRET", switchboard_sandbox::STRIPE_WEBHOOK_SECRET.to_owned()),
        ("SWITCHBOARD_WEBHOOK_RATE_LIMIT_PER_MINUTE", "1000000000".to_owned()),
        ("SWITCHBOARD_RATE_LIMIT_PER_MINUTE", "1000000000".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let cli = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("cli")
    };
    let up = Command::new(BIN)
        .arg("up")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .spawn()
        .expect("up");
    let pid = up.id();
    let _processes = Processes(vec![up]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cli(&["demo", "--oauth="]).success() {
        assert!(Instant::now() < deadline, "the platform did not come up");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The intent router is still being built (the embedding model over its examples) and the demo tenant's syncs
    // still run: measured now, webhooks would share the CPU with them.
    let waited =
        tokio::task::spawn_blocking(move || wait_until_idle(pid, Duration::from_secs(120))).await.expect("idle");
    eprintln!("waited {:.1} s for the platform's start-up work to finish", waited.as_secs_f64());
    let counter = Arc::new(AtomicU64::new(0));
    let through_gateway = counter.clone();
    let webhooks = drive(gateway, move || {
        let (body, signature) = signed_event(through_gateway.fetch_add(1, Ordering::Relaxed));
        http::Request::post("/v1/webhooks/stripe")
            .header("host", "bench")
            .header("content-type", "application/json")
            .header("stripe-signature", signature)
            .body(body)
            .expect("request")
    })
    .await;
    let direct = drive_direct(&data, connectors, counter).await;
    let noop = drive(gateway, || {
        http::Request::get("/.well-known/jwks.json").header("host", "bench").body(String::new()).expect("request")
    })
    .await;
    let rss = peak_rss_mib(pid);
    stop.cancel();
    (webhooks, direct, noop, rss)
}

async fn run() {
    if std::env::args().any(|a| a == "--webhooks-only") {
        // For A/B runs of the webhook path alone (the syncs take a minute and do not touch it).
        let (webhooks, direct, noop, _) = webhook_bench().await;
        println!("webhooks {webhooks:.0}/s, ReceiveWebhook direct {direct:.0}/s, no-op route {noop:.0}/s");
        return;
    }
    let (fetched, fetch_time, stored, sync_time, growth) = sync_bench(Providers::StripeShopify).await;
    let (fetched2, fetch_time2, stored2, sync_time2, growth2) = sync_bench(Providers::QuickBooksHubSpot).await;
    let growth = growth.max(growth2);
    let (webhooks, direct, noop, rss) = webhook_bench().await;
    let fetch_rate = fetched as f64 / fetch_time.as_secs_f64();
    let sync_rate = stored as f64 / sync_time.as_secs_f64();
    println!();
    println!(
        "Switchboard connectors benchmark: machine {} cores; sandbox demo data x{SCALE} (Shopify Enterprise bucket), \
         pages of 100 (QuickBooks 1000); webhooks on the embedded defaults (SQLite)",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!();
    println!("| workload | records or requests | seconds | per second | ratio |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| fetch only (sandbox, nothing stored) | {fetched} | {:.2} | {fetch_rate:.0} | 1.00 |",
        fetch_time.as_secs_f64()
    );
    println!(
        "| full sync Stripe + Shopify into PostgreSQL | {stored} | {:.2} | {sync_rate:.0} | {:.2} |",
        sync_time.as_secs_f64(),
        sync_rate / fetch_rate
    );
    let (fetch_rate2, sync_rate2) =
        (fetched2 as f64 / fetch_time2.as_secs_f64(), stored2 as f64 / sync_time2.as_secs_f64());
    println!(
        "| fetch only, QuickBooks + HubSpot (sandbox, nothing stored) | {fetched2} | {:.2} | {fetch_rate2:.0} | 1.00 |",
        fetch_time2.as_secs_f64()
    );
    println!(
        "| full sync QuickBooks + HubSpot into PostgreSQL | {stored2} | {:.2} | {sync_rate2:.0} | {:.2} |",
        sync_time2.as_secs_f64(),
        sync_rate2 / fetch_rate2
    );
    println!("| anonymous no-op route (GET /.well-known/jwks.json) | - | {} | {noop:.0} | 1.00 |", RUN.as_secs());
    println!(
        "| webhooks verified and stored (POST /v1/webhooks/stripe) | - | {} | {webhooks:.0} | {:.2} |",
        RUN.as_secs(),
        webhooks / noop
    );
    println!(
        "| the same, ReceiveWebhook straight to connectors over mTLS (no edge) | - | {} | {direct:.0} | {:.2} |",
        RUN.as_secs(),
        direct / noop
    );
    println!();
    println!("targets: sync >= 5000 records/s, webhooks >= 5000/s");
    println!(
        "peak RSS growth of the bench process during the sync: {growth} MiB; `switchboard up` peak RSS {rss:.1} MiB"
    );
}
