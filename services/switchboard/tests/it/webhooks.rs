//! Provider webhooks end to end, through the live gateway: the whole platform in process (`TestPlatform`) with
//! every provider pointed at `switchboard-sandbox`, deliveries POSTed to `{gateway}/v1/webhooks/{provider}` over
//! plain HTTP as a provider sends them, and what was stored read back as the tenant over REST and gRPC.
//!
//! - sandbox-signed deliveries of all four providers: 200 (stored when a connection matches, dropped when not),
//!   401 for one changed byte, and nothing stored for it;
//! - the shared signature vectors that carry no clock, against a gateway configured with each case's secret;
//! - 10,000 concurrent deliveries with 10% duplicates: exactly one stored event per provider event id;
//! - a `charge.refunded` delivery processed from the bus into the synced charge.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use switchboard_mesh::Identity;
use switchboard_proto::auth::v1 as auth;
use switchboard_proto::auth::v1::tenant_admin_service_client::TenantAdminServiceClient;
use switchboard_proto::connectors::v1 as pb;
use switchboard_proto::connectors::v1::connector_service_client::ConnectorServiceClient;
use switchboard_sandbox::{Delivery, Sandbox, SandboxConfig, SandboxHandle};
use switchboard_test_support::{TestDb, TestOptions, TestPlatform, assert_eventually};
use tokio_util::sync::CancellationToken;

/// The URL providers are told to call. HubSpot signs `{public_url}/v1/webhooks/hubspot`; the test platform binds
/// its gateway port itself, after its flags are parsed, so the public URL is a name of its own here — as behind a
/// load balancer, the signed URI comes from configuration, never from the request's `Host`.
pub(crate) const PUBLIC_URL: &str = "https://hooks.switchboard.test";
const TENANT: &str = "acme";
pub(crate) const OWNER: &str = "owner@acme.example";
pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// A platform wired to a sandbox, a tenant with an owner, and that owner's access token.
pub(crate) struct Fixture {
    pub(crate) platform: TestPlatform,
    pub(crate) sandbox: SandboxHandle,
    stop_sandbox: CancellationToken,
    pub(crate) http: reqwest::Client,
    pub(crate) token: String,
}

/// A platform configured with the sandbox's URL and app secrets, plus `extra` flags.
pub(crate) async fn start(extra: &[&str]) -> Fixture {
    let stop_sandbox = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sandbox = Sandbox::start(listener, SandboxConfig::default(), stop_sandbox.clone()).await.unwrap();
    let mut args: Vec<String> = [
        "--sandbox-url",
        &sandbox.base_url(),
        "--stripe-webhook-secret",
        switchboard_sandbox::STRIPE_WEBHOOK_SECRET,
        "--shopify-api-secret",
        switchboard_sandbox::SHOPIFY_CLIENT_SECRET,
        "--quickbooks-webhook-verifier",
        switchboard_sandbox::QUICKBOOKS_VERIFIER_TOKEN,
        "--hubspot-client-secret",
        switchboard_sandbox::HUBSPOT_CLIENT_SECRET,
        "--public-url",
        PUBLIC_URL,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let platform = TestPlatform::start_with(TestDb::Sqlite, TestOptions { args, ..Default::default() }).await;
    tenant_with_owner(&platform).await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let login = http
        .post(format!("http://{}/v1/auth:login", platform.gateway_addr))
        .json(&json!({"tenant": TENANT, "email": OWNER, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let token = login.json::<Value>().await.unwrap()["accessToken"].as_str().unwrap().to_owned();
    Fixture { platform, sandbox, stop_sandbox, http, token }
}

/// The operator creates tenant `acme` with one owner, over the admin port.
async fn tenant_with_owner(platform: &TestPlatform) {
    let mut admin = TenantAdminServiceClient::new(platform.channel_as(
        Identity::operator(),
        Identity::gateway(),
        &platform.gateway_admin_addr,
    ));
    let tenant = auth::Tenant { slug: TENANT.into(), display_name: "Acme Inc.".into(), ..Default::default() };
    admin.create_tenant(auth::CreateTenantRequest { tenant: Some(tenant) }).await.unwrap();
    admin
        .create_user(auth::CreateUserRequest {
            parent: format!("tenants/{TENANT}"),
            email: OWNER.into(),
            password: PASSWORD.into(),
            role: auth::Role::Owner as i32,
            display_name: "Owner".into(),
        })
        .await
        .unwrap();
}

/// POSTs `delivery` to the gateway's public webhook route for `provider`, exactly as the provider would.
async fn post_webhook(http: &reqwest::Client, gateway: &str, provider: &str, delivery: &Delivery) -> (u16, Value) {
    let mut request = http.post(format!("http://{gateway}/v1/webhooks/{provider}")).body(delivery.body.clone());
    for (name, value) in &delivery.headers {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into())))
}

/// `delivery` with one byte of its body changed (a digit, so the body still parses as what it was).
fn tampered(delivery: &Delivery) -> Delivery {
    let mut forged = delivery.clone();
    let at = forged.body.iter().rposition(u8::is_ascii_digit).expect("a digit in the body");
    forged.body[at] ^= 1;
    forged
}

impl Fixture {
    async fn webhook(&self, provider: &str, delivery: &Delivery) -> (u16, Value) {
        post_webhook(&self.http, &self.platform.gateway_addr, provider, delivery).await
    }

    /// A REST call as the tenant's owner: (status, JSON body).
    pub(crate) async fn rest(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request =
            self.http.request(method, format!("http://{}{path}", self.platform.gateway_addr)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Creates a connection over `POST /v1/connections`; returns its name.
    pub(crate) async fn connect(&self, provider: &str, account: &str, secret: &str) -> String {
        let body = json!({"connection": {"provider": provider, "account": account}, "credentials": {"secret": secret}});
        let (status, reply) = self.rest(reqwest::Method::POST, "/v1/connections", Some(body)).await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["connection"]["status"], "CONNECTION_STATUS_ACTIVE", "{reply}");
        reply["connection"]["name"].as_str().unwrap().to_owned()
    }

    /// Every webhook event of the tenant from `provider` (all providers when empty), over gRPC, 1000 a page.
    async fn webhook_events(&self, provider: &str) -> Vec<pb::WebhookEvent> {
        let mut client = ConnectorServiceClient::new(self.platform.public_channel());
        let mut events = Vec::new();
        let mut page_token = String::new();
        loop {
            let message = pb::ListWebhookEventsRequest {
                page_size: 1000,
                page_token: page_token.clone(),
                provider: provider.into(),
                ..Default::default()
            };
            let mut request = tonic::Request::new(message);
            request.metadata_mut().insert("authorization", format!("Bearer {}", self.token).parse().unwrap());
            let page = client.list_webhook_events(request).await.unwrap().into_inner();
            events.extend(page.webhook_events);
            if page.next_page_token.is_empty() {
                return events;
            }
            page_token = page.next_page_token;
        }
    }

    pub(crate) async fn stop(self) {
        self.platform.stop().await;
        self.stop_sandbox.cancel();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_signed_webhooks_of_all_four_providers_pass_the_gateway_and_one_changed_byte_is_401() {
    let f = start(&[]).await;
    let stripe = f.connect("stripe", "", switchboard_sandbox::DEMO_STRIPE_KEY).await;
    let shopify = f.connect("shopify", switchboard_sandbox::DEMO_SHOP, switchboard_sandbox::DEMO_SHOPIFY_TOKEN).await;

    // Stripe: a changed byte is refused before anything is stored; the signed delivery and its retry are one event.
    let delivery = f.sandbox.stripe_event("customer.updated", json!({"id": "cus_hooks1", "object": "customer"}));
    let (status, reply) = f.webhook("stripe", &tampered(&delivery)).await;
    assert_eq!(status, 401, "{reply}");
    assert!(f.webhook_events("").await.is_empty(), "a refused delivery stores nothing");
    let (status, first) = f.webhook("stripe", &delivery).await;
    assert_eq!(status, 200, "{first}");
    let name = first["webhookEvent"].as_str().unwrap();
    assert!(name.starts_with("webhookEvents/"), "{first}");
    assert_eq!(first["duplicate"], false);
    let (status, again) = f.webhook("stripe", &delivery).await;
    assert_eq!((status, &again["webhookEvent"], &again["duplicate"]), (200, &first["webhookEvent"], &json!(true)));
    let (status, listed) = f.rest(reqwest::Method::GET, "/v1/webhookEvents?provider=stripe", None).await;
    assert_eq!(status, 200, "{listed}");
    let events = listed["webhookEvents"].as_array().unwrap();
    assert_eq!(events.len(), 1, "one event for two deliveries: {listed}");
    assert_eq!(events[0]["name"], name);
    assert_eq!(events[0]["providerEventId"], delivery.event_id.as_str());
    assert_eq!(events[0]["connection"], stripe.as_str());
    assert_eq!(events[0]["deliveryCount"], 2);

    // Shopify, for the connected shop.
    let delivery = f.sandbox.shopify_webhook(
        switchboard_sandbox::DEMO_SHOP,
        "customers/update",
        json!({"id": 7_001_234, "email": "hooks@example.com"}),
    );
    assert_eq!(f.webhook("shopify", &tampered(&delivery)).await.0, 401);
    let (status, reply) = f.webhook("shopify", &delivery).await;
    assert_eq!(status, 200, "{reply}");
    assert!(reply["webhookEvent"].as_str().unwrap().starts_with("webhookEvents/"), "{reply}");
    let events = f.webhook_events("shopify").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0].connection.as_str(), events[0].event_type.as_str()), (shopify.as_str(), "customers/update"));
    assert_eq!(events[0].provider_event_id, delivery.event_id);

    // QuickBooks and HubSpot: signed for an account no tenant connected, so acknowledged and dropped.
    let delivery = f.sandbox.quickbooks_webhook(switchboard_sandbox::DEMO_QUICKBOOKS_REALM, "Invoice", "130", "Update");
    assert_eq!(f.webhook("quickbooks", &tampered(&delivery)).await.0, 401);
    let (status, reply) = f.webhook("quickbooks", &delivery).await;
    assert_eq!((status, &reply["webhookEvent"]), (200, &json!("")), "{reply}");

    let uri = format!("{PUBLIC_URL}/v1/webhooks/hubspot");
    let events = json!([{"subscriptionType": "contact.creation", "objectId": 1201}]);
    let delivery = f.sandbox.hubspot_webhook(switchboard_sandbox::DEMO_HUBSPOT_PORTAL, &uri, events.clone());
    assert_eq!(f.webhook("hubspot", &tampered(&delivery)).await.0, 401);
    let (status, reply) = f.webhook("hubspot", &delivery).await;
    assert_eq!((status, &reply["webhookEvent"]), (200, &json!("")), "{reply}");
    // v3 signs the URI: one signed for the address the request really reached is not for the public URL.
    let elsewhere = format!("http://{}/v1/webhooks/hubspot", f.platform.gateway_addr);
    let delivery = f.sandbox.hubspot_webhook(switchboard_sandbox::DEMO_HUBSPOT_PORTAL, &elsewhere, events);
    assert_eq!(f.webhook("hubspot", &delivery).await.0, 401);

    let all = f.webhook_events("").await;
    assert_eq!(all.len(), 2, "the Stripe and the Shopify event only: {all:?}");
    f.stop().await;
}

/// The cases of `shared/vectors/webhooks.json` a live gateway can judge: those that carry no timestamp (Shopify
/// webhooks, QuickBooks, HubSpot v1). Stripe and HubSpot v3 cases are bound to fixed clocks in 2023, and HubSpot v2
/// and v3 sign `https://www.example.com/webhook_uri` rather than a `/v1/webhooks/hubspot` URI, so those are covered
/// by the `switchboard-signatures` unit tests, which inject the clock and the URI.
fn live_vector_cases() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/webhooks.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let vectors: Value = serde_json::from_str(&text).unwrap();
    let cases: Vec<Value> = vectors["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|case| case["kind"] == "webhook")
        .filter(|case| match case["provider"].as_str().unwrap() {
            "shopify" | "quickbooks" => true,
            "hubspot" => {
                let version = case["headers"]["X-HubSpot-Signature-Version"].as_str();
                case["headers"].get("X-HubSpot-Signature-v3").is_none() && version.is_none_or(|v| v == "v1")
            }
            _ => false,
        })
        .cloned()
        .collect();
    let providers: HashSet<&str> = cases.iter().map(|c| c["provider"].as_str().unwrap()).collect();
    assert_eq!(providers.len(), 3, "Shopify, QuickBooks and HubSpot v1 cases in {path}");
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_webhook_vectors_without_a_clock_get_their_verdict_from_the_live_gateway() {
    // One platform per combination of secrets: each case joins the first group whose secret for its provider
    // is unset or the same.
    let mut groups: Vec<(BTreeMap<String, String>, Vec<Value>)> = Vec::new();
    for case in live_vector_cases() {
        let provider = case["provider"].as_str().unwrap().to_owned();
        let secret = case["secret"].as_str().unwrap().to_owned();
        let group = groups.iter().position(|(secrets, _)| secrets.get(&provider).is_none_or(|s| *s == secret));
        let group = group.unwrap_or_else(|| {
            groups.push((BTreeMap::new(), Vec::new()));
            groups.len() - 1
        });
        groups[group].0.insert(provider, secret);
        groups[group].1.push(case);
    }
    let cases = groups.iter().map(|(_, cases)| cases.len()).sum::<usize>();
    let http = reqwest::Client::new();
    let mut judged = 0;
    for (secrets, cases) in groups {
        let flag = |provider: &str| match provider {
            "shopify" => "--shopify-api-secret",
            "quickbooks" => "--quickbooks-webhook-verifier",
            _ => "--hubspot-client-secret",
        };
        let args = secrets.iter().flat_map(|(provider, secret)| [flag(provider).to_owned(), secret.clone()]).collect();
        let platform = TestPlatform::start_with(TestDb::Sqlite, TestOptions { args, ..Default::default() }).await;
        for case in cases {
            let delivery = Delivery {
                headers: case["headers"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(name, value)| (name.clone(), value.as_str().unwrap().to_owned()))
                    .chain([("Content-Type".to_owned(), "application/json".to_owned())])
                    .collect(),
                body: case["body"].as_str().unwrap().as_bytes().to_vec(),
                event_id: String::new(),
            };
            let provider = case["provider"].as_str().unwrap();
            let (status, reply) = post_webhook(&http, &platform.gateway_addr, provider, &delivery).await;
            let verdict = if case["valid"] == true { (200..300).contains(&status) } else { status == 401 };
            assert!(
                verdict,
                "{provider} case {}: valid={} but the gateway answered {status} {reply}",
                case["name"], case["valid"]
            );
            judged += 1;
        }
        platform.stop().await;
    }
    assert_eq!(judged, cases);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_deliveries_with_ten_percent_duplicates_store_exactly_one_event_each() {
    const DISTINCT: usize = 9_000;
    const EVERY_NTH_TWICE: usize = 9; // 1,000 of the 9,000 are delivered twice
    const IN_FLIGHT: usize = 32;
    let f = start(&["--webhook-rate-limit-per-minute", "100000000"]).await;
    f.connect("stripe", "", switchboard_sandbox::DEMO_STRIPE_KEY).await;

    let distinct: Vec<Delivery> = (0..DISTINCT)
        .map(|i| {
            let customer =
                json!({"id": format!("cus_load{i:05}"), "object": "customer", "email": format!("c{i}@example.com")});
            f.sandbox.stripe_event("customer.updated", customer)
        })
        .collect();
    // A duplicate goes right after its original, so the two usually race each other inside the platform.
    let mut deliveries = Vec::with_capacity(10_000);
    for (i, delivery) in distinct.iter().enumerate() {
        deliveries.push(delivery);
        if i % EVERY_NTH_TWICE == 0 {
            deliveries.push(delivery);
        }
    }
    assert_eq!(deliveries.len(), 10_000);

    let started = Instant::now();
    let gateway = f.platform.gateway_addr.as_str();
    let replies: Vec<(u16, Value)> = futures::stream::iter(&deliveries)
        .map(|delivery| post_webhook(&f.http, gateway, "stripe", delivery))
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let elapsed = started.elapsed();
    println!(
        "10,000 Stripe webhook deliveries ({IN_FLIGHT} in flight) through the gateway in {:.1} s: {:.0} deliveries/s",
        elapsed.as_secs_f64(),
        10_000.0 / elapsed.as_secs_f64()
    );
    let refused: Vec<_> = replies.iter().filter(|(status, _)| !(200..300).contains(status)).take(5).collect();
    assert!(refused.is_empty(), "every delivery is acknowledged; some were not: {refused:?}");
    let repeats = replies.iter().filter(|(_, reply)| reply["duplicate"] == true).count();
    assert_eq!(repeats, 1_000, "each duplicate is acknowledged as one");

    let events = f.webhook_events("stripe").await;
    assert_eq!(events.len(), DISTINCT);
    let ids: HashSet<&str> = events.iter().map(|e| e.provider_event_id.as_str()).collect();
    assert_eq!(ids.len(), DISTINCT, "one event per provider event id");
    let want: HashSet<&str> = distinct.iter().map(|d| d.event_id.as_str()).collect();
    assert_eq!(ids, want);
    assert_eq!(events.iter().map(|e| i64::from(e.delivery_count)).sum::<i64>(), 10_000);
    assert_eq!(events.iter().filter(|e| e.delivery_count == 2).count(), 1_000);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_refunded_webhook_is_processed_into_the_synced_charge() {
    let f = start(&[]).await;
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

    let query = |filter: String| json!({"connection": connection, "kind": "charge", "filter": filter, "pageSize": 1});
    let unrefunded = query("refunded = false AND status = \"succeeded\"".into());
    let (status, found) = f.rest(reqwest::Method::POST, "/v1/records:query", Some(unrefunded)).await;
    assert_eq!(status, 200, "{found}");
    let charge = found["records"][0]["id"].as_str().unwrap().to_owned();

    let delivery = f.sandbox.refund_charge_event(&charge).unwrap();
    let (status, reply) = f.webhook("stripe", &delivery).await;
    assert_eq!(status, 200, "{reply}");
    let name = reply["webhookEvent"].as_str().unwrap().to_owned();
    let processed = |event: &pb::WebhookEvent| {
        event.name == name && event.status == pb::WebhookEventStatus::Processed as i32 && event.process_time.is_some()
    };
    assert_eventually!(f.webhook_events("stripe").await.iter().any(processed), Duration::from_secs(20));
    let events = f.webhook_events("stripe").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "charge.refunded");

    // Brought up to date by the webhook alone: no sync ran since the refund.
    let (status, found) =
        f.rest(reqwest::Method::POST, "/v1/records:query", Some(query(format!("id = \"{charge}\"")))).await;
    assert_eq!(status, 200, "{found}");
    let data = &found["records"][0]["data"];
    assert_eq!(data["refunded"], true, "{found}");
    assert_eq!(data["amount_refunded"], data["amount"], "{found}");
    f.stop().await;
}
