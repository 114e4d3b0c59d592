//! A connectors service over a fresh store, with the sandbox serving the providers.

use std::sync::Arc;

use switchboard_cache::{Cache, MemoryCache};
use switchboard_connectors::{ConnectorService, KeyRing, ProviderSettings, RetryPolicy, Secret};
use switchboard_mesh::context::RequestContext;
use switchboard_proto::connectors::v1 as pb;
use switchboard_proto::connectors::v1::connector_service_server::ConnectorService as _;
use switchboard_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use switchboard_test_support::{TestDb, TestStore, test_store};
use switchboard_types::{Role, TenantId, UserId};
use tokio_util::sync::CancellationToken;

pub struct Harness {
    pub service: ConnectorService,
    pub sandbox: SandboxHandle,
    pub store: TestStore,
    pub keys: KeyRing,
    /// The platform cache of `service` (replicas may share it, as they share Redis in production).
    pub cache: Arc<dyn Cache>,
    pub retry: RetryPolicy,
    pub stop: CancellationToken,
    _dir: tempfile::TempDir,
}

pub fn settings(sandbox: &SandboxHandle) -> ProviderSettings {
    let mut s = ProviderSettings::production();
    s.stripe_api_base = sandbox.stripe_api_base();
    s.stripe_connect_base = sandbox.stripe_connect_base();
    s.shopify_base = sandbox.shopify_base_template();
    s.stripe_client_id = switchboard_sandbox::STRIPE_CLIENT_ID.into();
    s.stripe_platform_key = Secret::new(switchboard_sandbox::STRIPE_PLATFORM_KEY);
    s.stripe_webhook_secret = Secret::new(switchboard_sandbox::STRIPE_WEBHOOK_SECRET);
    s.shopify_client_id = switchboard_sandbox::SHOPIFY_CLIENT_ID.into();
    s.shopify_client_secret = Secret::new(switchboard_sandbox::SHOPIFY_CLIENT_SECRET);
    s.hubspot_auth_url = format!("{}/oauth/authorize", sandbox.hubspot_base());
    s.hubspot_api_base = sandbox.hubspot_base();
    s.hubspot_client_id = switchboard_sandbox::HUBSPOT_CLIENT_ID.into();
    s.hubspot_client_secret = Secret::new(switchboard_sandbox::HUBSPOT_CLIENT_SECRET);
    s.quickbooks_auth_url = format!("{}/connect/oauth2", sandbox.quickbooks_base());
    s.quickbooks_token_url = format!("{}/oauth2/v1/tokens/bearer", sandbox.quickbooks_base());
    s.quickbooks_api_base = sandbox.quickbooks_base();
    s.quickbooks_client_id = switchboard_sandbox::QUICKBOOKS_CLIENT_ID.into();
    s.quickbooks_client_secret = Secret::new(switchboard_sandbox::QUICKBOOKS_CLIENT_SECRET);
    s.quickbooks_verifier_token = Secret::new(switchboard_sandbox::QUICKBOOKS_VERIFIER_TOKEN);
    s.redirect_uris = vec!["http://127.0.0.1:8080/oauth/callback".into()];
    s
}

pub fn fast_retries() -> RetryPolicy {
    RetryPolicy { base_delay: std::time::Duration::from_millis(20), ..RetryPolicy::default() }
}

impl Harness {
    pub async fn start(db: TestDb) -> Self {
        Self::start_with(db, SandboxConfig::default(), fast_retries()).await
    }

    /// A harness whose sandbox serves `sandbox` and whose service retries with `retry`.
    pub async fn start_with(db: TestDb, sandbox: SandboxConfig, retry: RetryPolicy) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = test_store(db, dir.path()).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stop = CancellationToken::new();
        let sandbox = Sandbox::start(listener, sandbox, stop.clone()).await.unwrap();
        let keys = KeyRing::load_or_create(&dir.path().join("kek")).unwrap();
        let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new());
        let service = ConnectorService::with_parts(
            store.store.clone(),
            keys.clone(),
            cache.clone(),
            settings(&sandbox),
            retry,
            stop.clone(),
        )
        .unwrap();
        Self { service, sandbox, store, keys, cache, retry, stop, _dir: dir }
    }

    /// Another replica of the service on the same store, with a cache of its own, stopped by `stop`.
    pub fn replica(&self, stop: CancellationToken) -> ConnectorService {
        self.replica_with_cache(Arc::new(MemoryCache::new()), stop)
    }

    /// Another replica of the service on the same store and on `cache` (pass `self.cache` to share the platform
    /// cache, as replicas share Redis), stopped by `stop`.
    pub fn replica_with_cache(&self, cache: Arc<dyn Cache>, stop: CancellationToken) -> ConnectorService {
        ConnectorService::with_parts(
            self.store.store.clone(),
            self.keys.clone(),
            cache,
            settings(&self.sandbox),
            self.retry,
            stop,
        )
        .unwrap()
    }

    /// The keys file the harness's ring was loaded from.
    pub fn kek_path(&self) -> std::path::PathBuf {
        self._dir.path().join("kek")
    }

    pub async fn stop(self) {
        self.stop.cancel();
        self.service.wait_for_syncs().await;
        self.store.cleanup().await;
    }
}

/// A tenant with an owner.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    pub tenant: TenantId,
    pub user: UserId,
}

impl Caller {
    pub fn new() -> Self {
        Self { tenant: TenantId::generate(), user: UserId::generate() }
    }

    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let context = RequestContext::new_root().with_tenant(self.tenant).with_user(self.user).with_role(Role::Owner);
        request.extensions_mut().insert(context);
        request
    }
}

/// Connects the sandbox's demo Stripe account with its API key.
pub async fn connect_stripe(service: &ConnectorService, caller: Caller) -> pb::Connection {
    let request = pb::CreateConnectionRequest {
        connection: Some(pb::Connection { provider: "stripe".into(), ..Default::default() }),
        credentials: Some(pb::Credentials { secret: switchboard_sandbox::DEMO_STRIPE_KEY.into() }),
    };
    service.create_connection(caller.request(request)).await.unwrap().into_inner().connection.unwrap()
}

/// Connects the sandbox's demo shop with its admin API token.
pub async fn connect_shopify(service: &ConnectorService, caller: Caller) -> pb::Connection {
    let request = pb::CreateConnectionRequest {
        connection: Some(pb::Connection {
            provider: "shopify".into(),
            account: switchboard_sandbox::DEMO_SHOP.into(),
            ..Default::default()
        }),
        credentials: Some(pb::Credentials { secret: switchboard_sandbox::DEMO_SHOPIFY_TOKEN.into() }),
    };
    service.create_connection(caller.request(request)).await.unwrap().into_inner().connection.unwrap()
}

/// Runs a sync of `connection` to its end and returns it.
pub async fn sync_to_end(service: &ConnectorService, caller: Caller, connection: &str, full: bool) -> pb::Sync {
    let started = service
        .start_sync(caller.request(pb::StartSyncRequest { parent: connection.into(), record_kinds: vec![], full }))
        .await
        .unwrap()
        .into_inner()
        .sync
        .unwrap();
    wait_for_sync(service, caller, &started.name).await
}

pub async fn wait_for_sync(service: &ConnectorService, caller: Caller, name: &str) -> pb::Sync {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let sync = service
            .get_sync(caller.request(pb::GetSyncRequest { name: name.into() }))
            .await
            .unwrap()
            .into_inner()
            .sync
            .unwrap();
        let running = [pb::SyncStatus::Pending as i32, pb::SyncStatus::Running as i32].contains(&sync.status);
        if !running {
            return sync;
        }
        assert!(std::time::Instant::now() < deadline, "sync {name} did not end: {sync:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Every record of `kind` the caller can see (all pages).
pub async fn all_records(service: &ConnectorService, caller: Caller, kind: &str, filter: &str) -> Vec<pb::Record> {
    let mut records = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = service
            .query_records(caller.request(pb::QueryRecordsRequest {
                kind: kind.into(),
                filter: filter.into(),
                page_size: 1000,
                page_token: page_token.clone(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        records.extend(page.records);
        if page.next_page_token.is_empty() {
            return records;
        }
        page_token = page.next_page_token;
    }
}

/// Follows an authorization URL (the sandbox approves at once) and returns the redirect's query parameters.
pub async fn authorize(url: &str) -> Vec<(String, String)> {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = client.get(url).send().await.unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    url::Url::parse(&location).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// Connects the sandbox's demo shop through OAuth: an expiring access token and a rotating refresh token.
pub async fn connect_shopify_oauth(service: &ConnectorService, caller: Caller) -> pb::Connection {
    let start = pb::StartOAuthRequest {
        provider: "shopify".into(),
        redirect_uri: "http://127.0.0.1:8080/oauth/callback".into(),
        account: switchboard_sandbox::DEMO_SHOP.into(),
        ..Default::default()
    };
    let started = service.start_o_auth(caller.request(start)).await.unwrap().into_inner();
    complete_oauth(service, caller, &started.authorization_url).await
}

/// Follows the provider's authorization page (the sandbox approves at once), then completes the flow with `code`,
/// `state` and every other parameter of the redirect, as the console does.
pub async fn complete_oauth(service: &ConnectorService, caller: Caller, authorization_url: &str) -> pb::Connection {
    let params = authorize(authorization_url).await;
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap();
    let rest = params.iter().filter(|(k, _)| k != "code" && k != "state").cloned().collect();
    let complete = pb::CompleteOAuthRequest { state: get("state"), code: get("code"), params: rest };
    service.complete_o_auth(caller.request(complete)).await.unwrap().into_inner().connection.unwrap()
}

/// The connection as `GetConnection` shows it.
pub async fn get_connection(service: &ConnectorService, caller: Caller, name: &str) -> pb::Connection {
    let request = pb::GetConnectionRequest { name: name.into() };
    service.get_connection(caller.request(request)).await.unwrap().into_inner().connection.unwrap()
}
