//! The gRPC methods of `ConnectorService`: each parses its request into typed values, does its work in the
//! caller's tenant scope (the tenant always comes from the request context, never a field), and maps errors to
//! statuses in one place (`error.rs`).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use prost_types::Timestamp;
use ring::rand::SecureRandom;
use switchboard_events::{EnvelopeBuilder, now_timestamp, outbox, topics};
use switchboard_mesh::context::RequestContext;
use switchboard_proto::audit::v1 as audit;
use switchboard_proto::connectors::v1::{self as pb, AuthKind, ConnectionStatus, SyncStatus};
use switchboard_store::{Store, TenantScope};
use switchboard_types::{ConnectionId, SyncId, TenantId, now_unix_micros};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::{Request, Response, Status};

use crate::credentials::{self, Stored, Tokens};
use crate::error::ConnectorError;
use crate::http::ProviderHttp;
use crate::provider::{AuthorizeRequest, Call, Registry};
use crate::storage::{ConnectionRow, OAuthStateRow, Repo, SyncRow, WebhookEventRow};
use crate::vault::{Sealed, SecretSlot};
use crate::{ConnectorsConfig, ProviderSettings, sync};

/// How long an OAuth state is accepted.
const STATE_LIFETIME_SECS: i64 = 600;
/// Most records a QueryRecords call examines (the filter runs over the tenant's records of one kind).
const MAX_SCANNED_RECORDS: usize = 200_000;
/// A pending or running sync whose process has written nothing for this long is taken to be dead.
const SYNC_HEARTBEAT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(180);
/// Syncs running at once in this process.
const MAX_CONCURRENT_SYNCS: usize = 4;

/// What every method shares.
pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) registry: Registry,
    pub(crate) tokens: Tokens,
    pub(crate) http: ProviderHttp,
    pub(crate) settings: Arc<ProviderSettings>,
    pub(crate) envelopes: EnvelopeBuilder,
    syncs: TaskTracker,
    running: Mutex<HashMap<String, CancellationToken>>,
    permits: Arc<tokio::sync::Semaphore>,
    stop: CancellationToken,
    /// Recent webhook routes (provider, account) → connections, so a burst of deliveries does not look each up.
    routes: Mutex<HashMap<(String, String), Route>>,
    /// Deliveries waiting to be stored together.
    pub(crate) group_commit: crate::webhooks::GroupCommit,
}

/// When a webhook route was looked up, and the connections it leads to.
type Route = (std::time::Instant, Vec<(TenantId, ConnectionId)>);

/// How long a webhook route is reused. Only found routes are kept: a connection made on another replica is seen at
/// once, one deleted there may still receive events for this long (stored, then ignored by processing).
const ROUTE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

impl Inner {
    /// The connections of `account` at `provider`, for routing a verified webhook.
    pub(crate) async fn routes(
        &self,
        provider: &str,
        account: &str,
    ) -> Result<Vec<(TenantId, ConnectionId)>, ConnectorError> {
        let key = (provider.to_owned(), account.to_owned());
        {
            let routes = self.routes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((at, found)) = routes.get(&key)
                && at.elapsed() < ROUTE_TTL
            {
                return Ok(found.clone());
            }
        }
        let found = crate::storage::accounts_for(&self.store, provider, account).await?;
        if !found.is_empty() {
            let mut routes = self.routes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if routes.len() > 10_000 {
                routes.retain(|_, (at, _)| at.elapsed() < ROUTE_TTL);
            }
            routes.insert(key, (std::time::Instant::now(), found.clone()));
        }
        Ok(found)
    }

    /// Forgets every cached route (a connection was made or deleted here).
    pub(crate) fn forget_routes(&self) {
        self.routes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }
}

/// The service; cheap to clone.
#[derive(Clone)]
pub struct ConnectorService {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for ConnectorService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorService").field("providers", &self.inner.registry).finish_non_exhaustive()
    }
}

impl ConnectorService {
    /// A service over `config`'s store and keys; background work stops with `stop`.
    pub fn new(config: &ConnectorsConfig, stop: CancellationToken) -> Result<Self, ConnectorError> {
        Self::with_parts(
            config.store.clone(),
            config.keys.clone(),
            config.cache.clone(),
            config.providers.clone(),
            config.retry,
            stop,
        )
    }

    /// A service from its parts (tests call its methods directly, without the mesh).
    pub fn with_parts(
        store: Store,
        keys: crate::KeyRing,
        cache: Arc<dyn switchboard_cache::Cache>,
        providers: ProviderSettings,
        retry: crate::RetryPolicy,
        stop: CancellationToken,
    ) -> Result<Self, ConnectorError> {
        let http = ProviderHttp::new(retry)?;
        let settings = Arc::new(providers);
        let tokens = Tokens::new(store.clone(), keys, cache, http.clone(), settings.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                registry: Registry::standard(),
                tokens,
                http,
                settings,
                envelopes: EnvelopeBuilder::new("connectors"),
                syncs: TaskTracker::new(),
                running: Mutex::new(HashMap::new()),
                permits: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_SYNCS)),
                stop,
                routes: Mutex::new(HashMap::new()),
                group_commit: Default::default(),
            }),
        })
    }

    /// Processes `connectors.webhooks` from `bus` until `stop` (what `serve_with` runs beside the server).
    pub async fn process_webhooks(self, bus: Arc<dyn switchboard_events::EventBus>, stop: CancellationToken) {
        crate::webhooks::consume(self, bus, stop).await;
    }

    /// Waits until every sync this process runs has stopped.
    pub async fn wait_for_syncs(&self) {
        self.inner.syncs.close();
        self.inner.syncs.wait().await;
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, CancellationToken>> {
        self.inner.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

// === conversions ===

fn timestamp(us: i64) -> Timestamp {
    Timestamp { seconds: us.div_euclid(1_000_000), nanos: (us.rem_euclid(1_000_000) * 1000) as i32 }
}

fn rpc_status(code: i32, message: &str) -> Option<switchboard_proto::google::rpc::Status> {
    (code != 0).then(|| switchboard_proto::google::rpc::Status { code, message: message.to_owned(), details: vec![] })
}

fn split_words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

pub(crate) fn connection_message(row: &ConnectionRow) -> pb::Connection {
    pb::Connection {
        name: format!("connections/{}", row.id),
        id: row.id.clone(),
        provider: row.provider.clone(),
        display_name: row.display_name.clone(),
        account: row.account.clone(),
        status: row.status,
        error: rpc_status(row.error_code, &row.error_message),
        scopes: split_words(&row.scopes),
        creator: row.creator.clone(),
        create_time: Some(timestamp(row.created_at_us)),
        update_time: Some(timestamp(row.updated_at_us)),
        last_sync_time: row.last_sync_at_us.map(timestamp),
    }
}

pub(crate) fn sync_message(row: &SyncRow) -> pb::Sync {
    pb::Sync {
        name: format!("connections/{}/syncs/{}", row.connection_id, row.id),
        id: row.id.clone(),
        connection: format!("connections/{}", row.connection_id),
        provider: row.provider.clone(),
        status: row.status,
        record_kinds: split_words(&row.record_kinds),
        full: row.full_sync,
        records_fetched: row.records_fetched,
        records_created: row.records_created,
        records_updated: row.records_updated,
        records_deleted: row.records_deleted,
        error: rpc_status(row.error_code, &row.error_message),
        actor: row.actor.clone(),
        create_time: Some(timestamp(row.created_at_us)),
        start_time: row.started_at_us.map(timestamp),
        end_time: row.ended_at_us.map(timestamp),
    }
}

pub(crate) fn webhook_message(row: &WebhookEventRow) -> pb::WebhookEvent {
    webhook_message_with(row, serde_json::from_str::<serde_json::Value>(&row.payload).ok().as_ref())
}

/// [`webhook_message`] of a row whose payload is at hand already parsed (`row.payload` is not read).
pub(crate) fn webhook_message_with(row: &WebhookEventRow, payload: Option<&serde_json::Value>) -> pb::WebhookEvent {
    let payload = payload.map(json_to_value);
    pb::WebhookEvent {
        name: format!("webhookEvents/{}", row.id),
        id: row.id.clone(),
        provider: row.provider.clone(),
        connection: format!("connections/{}", row.connection_id),
        provider_event_id: row.provider_event_id.clone(),
        event_type: row.event_type.clone(),
        status: row.status,
        error: (!row.error_message.is_empty()).then(|| switchboard_proto::google::rpc::Status {
            code: 13,
            message: row.error_message.clone(),
            details: vec![],
        }),
        payload,
        delivery_count: row.delivery_count,
        receive_time: Some(timestamp(row.received_at_us)),
        process_time: row.processed_at_us.map(timestamp),
    }
}

/// JSON to `google.protobuf.Value`.
pub(crate) fn json_to_value(value: &serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match value {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(items) => {
            Kind::ListValue(prost_types::ListValue { values: items.iter().map(json_to_value).collect() })
        }
        serde_json::Value::Object(map) => Kind::StructValue(json_to_struct(map)),
    };
    prost_types::Value { kind: Some(kind) }
}

fn json_to_struct(map: &serde_json::Map<String, serde_json::Value>) -> prost_types::Struct {
    prost_types::Struct { fields: map.iter().map(|(k, v)| (k.clone(), json_to_value(v))).collect() }
}

/// `google.protobuf.Struct` to JSON.
fn struct_to_json(value: &prost_types::Struct) -> serde_json::Value {
    serde_json::Value::Object(value.fields.iter().map(|(k, v)| (k.clone(), value_to_json(v))).collect())
}

fn value_to_json(value: &prost_types::Value) -> serde_json::Value {
    use prost_types::value::Kind;
    match &value.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(b)) => serde_json::Value::Bool(*b),
        Some(Kind::NumberValue(n)) => {
            // Integral numbers stay integers, so `"amount": 500` checks against an integer schema.
            if n.fract() == 0.0 && n.abs() < 9.0e15 {
                serde_json::Value::from(*n as i64)
            } else {
                serde_json::Number::from_f64(*n).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null)
            }
        }
        Some(Kind::StringValue(s)) => serde_json::Value::String(s.clone()),
        Some(Kind::ListValue(list)) => serde_json::Value::Array(list.values.iter().map(value_to_json).collect()),
        Some(Kind::StructValue(s)) => struct_to_json(s),
    }
}

// === request parsing ===

fn connection_id(name: &str, field: &str) -> Result<ConnectionId, ConnectorError> {
    name.strip_prefix("connections/")
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| ConnectorError::InvalidArgument(format!("{field}: expected connections/{{uuid}}, got {name:?}")))
}

fn page_size(requested: i32, default: u64) -> Result<u64, ConnectorError> {
    match requested {
        0 => Ok(default),
        n if n < 0 => Err(ConnectorError::InvalidArgument("page_size: must not be negative".into())),
        n => Ok((n as u64).min(1000)),
    }
}

/// The first `limit` of `rows` (fetched as `limit + 1`) and the token of the page after them, if there is one.
fn newest_first_page<T>(mut rows: Vec<T>, limit: u64, key: impl Fn(&T) -> (i64, &str)) -> (Vec<T>, String) {
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let token = match (more, rows.last()) {
        (true, Some(last)) => {
            let (number, text) = key(last);
            encode_token(number, text)
        }
        _ => String::new(),
    };
    (rows, token)
}

/// Page tokens: base64url of `<number>:<text>` (a sort key and a tie-breaker).
fn encode_token(number: i64, text: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{number}:{text}"))
}

fn decode_token(token: &str) -> Result<Option<(i64, String)>, ConnectorError> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || ConnectorError::InvalidArgument("page_token: not a token from a previous call".into());
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?).map_err(|_| bad())?;
    let (number, rest) = text.split_once(':').ok_or_else(bad)?;
    Ok(Some((number.parse().map_err(|_| bad())?, rest.to_owned())))
}

fn actor(context: &RequestContext) -> String {
    match context.user() {
        Some(user) => format!("user:{user}"),
        None => "system".to_owned(),
    }
}

fn random_token(bytes: usize) -> Result<String, ConnectorError> {
    let mut buffer = vec![0u8; bytes];
    ring::rand::SystemRandom::new().fill(&mut buffer).map_err(|_| ConnectorError::Internal("no randomness".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(buffer))
}

fn sha256_hex(text: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()))
}

impl Inner {
    /// Writes an audit record through the outbox in `scope`'s transaction; returns its event id.
    pub(crate) async fn audit(
        &self,
        scope: &TenantScope,
        context: &RequestContext,
        action: &str,
        resource: String,
        outcome: audit::Outcome,
        details: &[(&str, String)],
    ) -> Result<String, ConnectorError> {
        let details = prost_types::Struct {
            fields: details
                .iter()
                .map(|(k, v)| ((*k).to_owned(), json_to_value(&serde_json::Value::String(v.clone()))))
                .collect(),
        };
        let event = audit::NewEvent {
            actor: actor(context),
            action: action.to_owned(),
            resource,
            outcome: outcome as i32,
            details: Some(details),
            occur_time: Some(now_timestamp()),
            ..Default::default()
        };
        let envelope = self.envelopes.audit(context, scope.tenant(), event);
        let id = envelope.event_id.clone();
        outbox::enqueue(scope, topics::AUDIT_EVENTS, &[envelope]).await?;
        Ok(id)
    }
}

// === the methods ===

impl ConnectorService {
    async fn create_connection(
        &self,
        context: &RequestContext,
        request: pb::CreateConnectionRequest,
    ) -> Result<pb::Connection, ConnectorError> {
        let tenant = context.require_tenant()?;
        let inner = &self.inner;
        let connection =
            request.connection.ok_or_else(|| ConnectorError::InvalidArgument("connection: required".into()))?;
        let secret = request
            .credentials
            .map(|c| c.secret)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| ConnectorError::InvalidArgument("credentials.secret: required".into()))?;
        if secret.len() > 4096 {
            return Err(ConnectorError::InvalidArgument("credentials.secret: longer than 4096 bytes".into()));
        }
        let provider = inner.registry.get(&connection.provider)?;
        if !provider.info().auth_kinds.contains(&AuthKind::ApiKey) {
            return Err(ConnectorError::InvalidArgument(format!(
                "{} connects through OAuth: call StartOAuth",
                provider.info().id
            )));
        }
        let account = connection.account.trim().to_ascii_lowercase();
        if provider.info().id == "shopify" && !switchboard_signatures::shopify::is_valid_shop_domain(&account) {
            return Err(ConnectorError::InvalidArgument(
                "connection.account: Shopify needs the shop domain, such as acme.myshopify.com".into(),
            ));
        }
        let call = Call { http: &inner.http, settings: &inner.settings, account: &account, token: secret.trim() };
        let checked = provider.check_credentials(&call).await.map_err(|e| match e {
            crate::ProviderError::Unauthorized { provider, message } => {
                ConnectorError::FailedPrecondition(format!("{provider} refused the credentials: {message}"))
            }
            other => other.into(),
        })?;
        let id = ConnectionId::generate();
        let stored = Stored { access_token: secret.trim().to_owned(), refresh_token: None, expires_at_us: None };
        let sealed = credentials::seal(inner.tokens.keys(), tenant, id, &stored)?;
        let now = now_unix_micros();
        let display_name =
            if connection.display_name.trim().is_empty() { checked.display_name } else { connection.display_name };
        let row = ConnectionRow {
            tenant_id: String::new(),
            id: id.to_string(),
            provider: provider.info().id.to_owned(),
            display_name,
            account: checked.account,
            status: ConnectionStatus::Active as i32,
            error_code: 0,
            error_message: String::new(),
            scopes: String::new(),
            creator: context.user().map(|u| u.to_string()).unwrap_or_default(),
            auth_kind: AuthKind::ApiKey as i32,
            secret_kek_id: sealed.kek_id,
            secret_key: sealed.wrapped_key,
            secret: sealed.ciphertext,
            token_expires_at_us: None,
            credentials_version: 1,
            created_at_us: now,
            updated_at_us: now,
            last_sync_at_us: None,
            deleted: false,
        };
        let scope = inner.store.tenant(tenant).await?;
        Repo::new(&scope).insert_connection(row).await?;
        let name = format!("connections/{id}");
        inner
            .audit(
                &scope,
                context,
                "connectors.connection.create",
                name,
                audit::Outcome::Success,
                &[("provider", provider.info().id.to_owned()), ("auth", "api_key".to_owned())],
            )
            .await?;
        let row = Repo::new(&scope).connection(id).await?;
        scope.commit().await?;
        inner.forget_routes();
        row.map(|r| connection_message(&r)).ok_or_else(|| ConnectorError::Internal("connection vanished".into()))
    }

    async fn get_connection(&self, tenant: TenantId, name: &str) -> Result<ConnectionRow, ConnectorError> {
        let id = connection_id(name, "name")?;
        let scope = self.inner.store.tenant_read(tenant).await?;
        let row = Repo::new(&scope).connection(id).await?;
        scope.commit().await?;
        row.ok_or_else(|| ConnectorError::NotFound(format!("{name} does not exist")))
    }

    async fn start_oauth(
        &self,
        context: &RequestContext,
        request: pb::StartOAuthRequest,
    ) -> Result<pb::StartOAuthResponse, ConnectorError> {
        let tenant = context.require_tenant()?;
        let user = context.user().ok_or_else(|| ConnectorError::PermissionDenied("StartOAuth needs a user".into()))?;
        let inner = &self.inner;
        let provider = inner.registry.get(&request.provider)?;
        if !provider.info().auth_kinds.contains(&AuthKind::Oauth2) {
            return Err(ConnectorError::InvalidArgument(format!(
                "{} does not connect through OAuth",
                provider.info().id
            )));
        }
        if !inner.settings.redirect_uris.contains(&request.redirect_uri) {
            return Err(ConnectorError::InvalidArgument(format!(
                "redirect_uri: {:?} is not on the platform's redirect allowlist (SWITCHBOARD_OAUTH_REDIRECT_URIS)",
                request.redirect_uri
            )));
        }
        for scope in &request.scopes {
            if !provider.info().scopes.contains(&scope.as_str()) {
                return Err(ConnectorError::InvalidArgument(format!(
                    "scopes: {scope:?} is not a {} scope",
                    provider.info().id
                )));
            }
        }
        let scopes: Vec<String> = if request.scopes.is_empty() {
            provider.info().default_scopes.iter().map(|s| (*s).to_owned()).collect()
        } else {
            request.scopes.clone()
        };
        let reauthorize = if request.connection.is_empty() {
            None
        } else {
            let row = self.get_connection(tenant, &request.connection).await?;
            if row.provider != provider.info().id {
                return Err(ConnectorError::InvalidArgument("connection: belongs to another provider".into()));
            }
            Some(row)
        };
        let account = reauthorize
            .as_ref()
            .map(|r| r.account.clone())
            .unwrap_or_else(|| request.account.trim().to_ascii_lowercase());
        let state = random_token(32)?;
        let verifier = random_token(48)?;
        let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()));
        let url = provider.authorization_url(&AuthorizeRequest {
            settings: &inner.settings,
            account: &account,
            scopes: &scopes,
            redirect_uri: &request.redirect_uri,
            state: &state,
            code_challenge: if provider.info().pkce { &challenge } else { "" },
        })?;
        let url = if provider.info().pkce { url } else { strip_empty_pkce(url) };
        let state_id = ConnectionId::generate();
        let sealed = inner
            .tokens
            .keys()
            .seal(&SecretSlot { tenant, connection: state_id, field: "pkce_verifier" }, verifier.as_bytes())?;
        let now = now_unix_micros();
        let expires = now + STATE_LIFETIME_SECS * 1_000_000;
        let scope = inner.store.tenant(tenant).await?;
        Repo::new(&scope)
            .insert_state(OAuthStateRow {
                state_hash: sha256_hex(&state),
                tenant_id: String::new(),
                id: state_id.to_string(),
                user_id: user.to_string(),
                provider: provider.info().id.to_owned(),
                redirect_uri: request.redirect_uri.clone(),
                scopes: scopes.join(" "),
                account,
                display_name: request.display_name.clone(),
                connection_id: reauthorize.map(|r| r.id).unwrap_or_default(),
                verifier_kek_id: sealed.kek_id,
                verifier_key: sealed.wrapped_key,
                verifier: sealed.ciphertext,
                expires_at_us: expires,
                used_at_us: None,
            })
            .await?;
        scope.commit().await?;
        Ok(pb::StartOAuthResponse { authorization_url: url, state, expire_time: Some(timestamp(expires)) })
    }

    async fn complete_oauth(
        &self,
        context: &RequestContext,
        request: pb::CompleteOAuthRequest,
    ) -> Result<pb::Connection, ConnectorError> {
        let tenant = context.require_tenant()?;
        let inner = &self.inner;
        let refused = || ConnectorError::InvalidArgument("state: unknown, already used, expired, or not yours".into());
        if request.state.is_empty() || request.code.is_empty() {
            return Err(ConnectorError::InvalidArgument("state and code: both required".into()));
        }
        let now = now_unix_micros();
        // Taken (marked used) and committed before anything else: a state works once, even if the exchange fails.
        let scope = inner.store.tenant(tenant).await?;
        let state = Repo::new(&scope).take_state(&sha256_hex(&request.state), now).await?;
        scope.commit().await?;
        let state = state.ok_or_else(refused)?;
        let same_user = context.user().is_some_and(|u| u.to_string() == state.user_id);
        if state.used_at_us.is_some() || state.expires_at_us < now || !same_user {
            return Err(refused());
        }
        let provider = inner.registry.get(&state.provider)?;
        let state_id: ConnectionId =
            state.id.parse().map_err(|_| ConnectorError::Internal("stored state id".into()))?;
        let verifier = inner.tokens.keys().open(
            &SecretSlot { tenant, connection: state_id, field: "pkce_verifier" },
            &Sealed {
                kek_id: state.verifier_kek_id.clone(),
                wrapped_key: state.verifier_key.clone(),
                ciphertext: state.verifier.clone(),
            },
        )?;
        let verifier = String::from_utf8_lossy(verifier.expose()).into_owned();
        let mut params: Vec<(String, String)> = request.params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        params.push(("code".into(), request.code.clone()));
        params.push(("state".into(), request.state.clone()));
        provider.verify_callback(&inner.settings, &params, &state.account, now.div_euclid(1_000_000))?;
        let account_hint = provider.account_from_callback(&request.params).unwrap_or_else(|| state.account.clone());
        let call = Call { http: &inner.http, settings: &inner.settings, account: &account_hint, token: "" };
        let grant = provider.exchange_code(&call, &request.code, &verifier, &state.redirect_uri).await.map_err(
            |e| match e {
                crate::ProviderError::Unauthorized { provider, message }
                | crate::ProviderError::Rejected { provider, message } => {
                    ConnectorError::FailedPrecondition(format!("{provider} refused the authorization code: {message}"))
                }
                other => other.into(),
            },
        )?;
        let account = grant.account.clone().unwrap_or(account_hint);
        let granted = if grant.scopes.is_empty() { state.scopes.clone() } else { grant.scopes.join(" ") };
        let stored = Stored::from_grant(grant, None, now);
        let scope = inner.store.tenant(tenant).await?;
        let repo = Repo::new(&scope);
        let id = if let Ok(existing) = state.connection_id.parse::<ConnectionId>() {
            let row = repo
                .connection(existing)
                .await?
                .ok_or_else(|| ConnectorError::NotFound("the connection was deleted".into()))?;
            let sealed = credentials::seal(inner.tokens.keys(), tenant, existing, &stored)?;
            repo.replace_credentials(existing, row.credentials_version, &sealed, stored.expires_at_us, now).await?;
            existing
        } else {
            let id = ConnectionId::generate();
            let sealed = credentials::seal(inner.tokens.keys(), tenant, id, &stored)?;
            let display_name = if state.display_name.trim().is_empty() {
                format!("{} {account}", provider.info().display_name)
            } else {
                state.display_name.clone()
            };
            repo.insert_connection(ConnectionRow {
                tenant_id: String::new(),
                id: id.to_string(),
                provider: provider.info().id.to_owned(),
                display_name,
                account,
                status: ConnectionStatus::Active as i32,
                error_code: 0,
                error_message: String::new(),
                scopes: granted,
                creator: state.user_id.clone(),
                auth_kind: AuthKind::Oauth2 as i32,
                secret_kek_id: sealed.kek_id,
                secret_key: sealed.wrapped_key,
                secret: sealed.ciphertext,
                token_expires_at_us: stored.expires_at_us,
                credentials_version: 1,
                created_at_us: now,
                updated_at_us: now,
                last_sync_at_us: None,
                deleted: false,
            })
            .await?;
            id
        };
        inner
            .audit(
                &scope,
                context,
                "connectors.connection.authorize",
                format!("connections/{id}"),
                audit::Outcome::Success,
                &[("provider", provider.info().id.to_owned()), ("auth", "oauth2".to_owned())],
            )
            .await?;
        let row = repo.connection(id).await?;
        scope.commit().await?;
        inner.forget_routes();
        row.map(|r| connection_message(&r)).ok_or_else(|| ConnectorError::Internal("connection vanished".into()))
    }

    async fn start_sync(
        &self,
        context: &RequestContext,
        request: pb::StartSyncRequest,
    ) -> Result<pb::Sync, ConnectorError> {
        let tenant = context.require_tenant()?;
        let inner = &self.inner;
        let row = self.get_connection(tenant, &request.parent).await?;
        let connection: ConnectionId = row.id.parse().map_err(|_| ConnectorError::Internal("stored id".into()))?;
        let provider = inner.registry.get(&row.provider)?;
        if provider.info().record_kinds.is_empty() {
            return Err(ConnectorError::FailedPrecondition(format!(
                "{} has no record kinds to sync yet",
                row.provider
            )));
        }
        if row.status == ConnectionStatus::NeedsReauth as i32 || row.status == ConnectionStatus::Disabled as i32 {
            return Err(ConnectorError::FailedPrecondition(format!(
                "{} cannot sync: {}",
                request.parent,
                if row.error_message.is_empty() { "it is disabled" } else { &row.error_message }
            )));
        }
        let mut kinds = BTreeSet::new();
        for kind in &request.record_kinds {
            if !provider.info().record_kinds.contains(&kind.as_str()) {
                return Err(ConnectorError::InvalidArgument(format!(
                    "record_kinds: {kind:?} is not a {} kind ({})",
                    row.provider,
                    provider.info().record_kinds.join(", ")
                )));
            }
            kinds.insert(kind.clone());
        }
        let kinds: Vec<String> = if kinds.is_empty() {
            provider.info().record_kinds.iter().map(|k| (*k).to_owned()).collect()
        } else {
            kinds.into_iter().collect()
        };
        let now = now_unix_micros();
        let scope = inner.store.tenant(tenant).await?;
        scope.lock(&format!("sync:{connection}")).await?;
        let repo = Repo::new(&scope);
        if let Some(active) = repo.active_sync(connection).await? {
            let alive = now - active.heartbeat_at_us < SYNC_HEARTBEAT_TIMEOUT.as_micros() as i64;
            if self.running().contains_key(&active.id) || alive {
                scope.commit().await?;
                return Ok(sync_message(&active));
            }
            // Left behind by a process that stopped without recording the end (no page for a while): its cursor is
            // kept, so the new sync resumes its work.
            if let Ok(stale) = active.id.parse::<SyncId>() {
                repo.finish_sync(
                    stale,
                    SyncStatus::Cancelled as i32,
                    tonic::Code::Aborted as i32,
                    "its process stopped mid-sync",
                    now,
                )
                .await?;
            }
        }
        let first = row.last_sync_at_us.is_none();
        let sync = SyncId::generate();
        let record = SyncRow {
            tenant_id: String::new(),
            id: sync.to_string(),
            connection_id: row.id.clone(),
            provider: row.provider.clone(),
            status: SyncStatus::Pending as i32,
            record_kinds: kinds.join(" "),
            full_sync: request.full || first,
            pages: 0,
            records_fetched: 0,
            records_created: 0,
            records_updated: 0,
            records_deleted: 0,
            error_code: 0,
            error_message: String::new(),
            actor: actor(context),
            created_at_us: now,
            started_at_us: None,
            ended_at_us: None,
            heartbeat_at_us: now,
        };
        repo.insert_sync(record.clone()).await?;
        scope.commit().await?;
        let job = sync::Job { tenant, connection, sync, kinds, full: record.full_sync, context: context.clone() };
        self.spawn_sync(job);
        Ok(sync_message(&record))
    }

    fn spawn_sync(&self, job: sync::Job) {
        let stop = self.inner.stop.child_token();
        self.running().insert(job.sync.to_string(), stop.clone());
        let service = self.clone();
        self.inner.syncs.spawn(async move {
            let id = job.sync.to_string();
            let permit = tokio::select! {
                permit = service.inner.permits.clone().acquire_owned() => permit.ok(),
                () = stop.cancelled() => None,
            };
            sync::run(&service.inner, job, stop).await;
            drop(permit);
            service.running().remove(&id);
        });
    }

    async fn query_records(
        &self,
        tenant: TenantId,
        request: pb::QueryRecordsRequest,
    ) -> Result<pb::QueryRecordsResponse, ConnectorError> {
        if request.kind.is_empty() {
            return Err(ConnectorError::InvalidArgument("kind: required, such as order, invoice, customer".into()));
        }
        if !request.connection.is_empty() && !request.provider.is_empty() {
            return Err(ConnectorError::InvalidArgument("connection and provider: give at most one".into()));
        }
        if !request.semantic_query.is_empty() {
            return Err(ConnectorError::FailedPrecondition(
                "semantic_query: record embeddings arrive with the orchestrator; use filter and order_by".into(),
            ));
        }
        let connection = if request.connection.is_empty() {
            None
        } else {
            Some(connection_id(&request.connection, "connection")?.to_string())
        };
        let filter = switchboard_filter::parse(&request.filter)
            .map_err(|e| ConnectorError::InvalidArgument(format!("filter: {e}")))?;
        let order = if request.order_by.trim().is_empty() {
            vec![switchboard_filter::OrderKey { path: vec!["update_time".into()], descending: true }]
        } else {
            switchboard_filter::parse_order_by(&request.order_by)
                .map_err(|e| ConnectorError::InvalidArgument(format!("order_by: {e}")))?
        };
        let limit = page_size(request.page_size, 50)? as usize;
        let offset = decode_token(&request.page_token)?.map(|(n, _)| n.max(0) as usize).unwrap_or(0);
        let scope = self.inner.store.tenant_read(tenant).await?;
        let repo = Repo::new(&scope);
        let provider = (!request.provider.is_empty()).then_some(request.provider.as_str());
        let mut matched = Vec::new();
        let mut after = None;
        let mut scanned = 0usize;
        loop {
            let batch = repo.records(&request.kind, connection.as_deref(), provider, after.clone(), 1000).await?;
            let Some(last) = batch.last() else { break };
            after = Some((last.updated_at_us, last.connection_id.clone(), last.external_id.clone()));
            scanned += batch.len();
            for row in batch {
                let mut data: serde_json::Value = serde_json::from_str(&row.data).unwrap_or(serde_json::Value::Null);
                // `update_time` is the record's, not a provider field; filters and ordering may name it.
                let view = match &mut data {
                    serde_json::Value::Object(map) => {
                        map.insert("update_time".into(), provider_time(row.updated_at_us));
                        data
                    }
                    other => {
                        serde_json::json!({ "value": other.take(), "update_time": provider_time(row.updated_at_us) })
                    }
                };
                if filter.matches(&view) {
                    matched.push((row, view));
                }
            }
            if scanned >= MAX_SCANNED_RECORDS {
                scope.commit().await?;
                return Err(ConnectorError::FailedPrecondition(format!(
                    "the query examines more than {MAX_SCANNED_RECORDS} records; narrow it by connection or provider"
                )));
            }
        }
        scope.commit().await?;
        matched.sort_by(|(_, a), (_, b)| {
            for key in &order {
                let ordering = switchboard_filter::compare(
                    switchboard_filter::lookup(a, &key.path),
                    switchboard_filter::lookup(b, &key.path),
                );
                let ordering = if key.descending { ordering.reverse() } else { ordering };
                if ordering != std::cmp::Ordering::Equal {
                    return ordering;
                }
            }
            std::cmp::Ordering::Equal
        });
        let total = matched.len();
        let records = matched
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(row, mut view)| {
                if let serde_json::Value::Object(map) = &mut view {
                    map.remove("update_time");
                }
                pb::Record {
                    id: row.external_id.clone(),
                    kind: row.kind.clone(),
                    provider: row.provider.clone(),
                    connection: format!("connections/{}", row.connection_id),
                    data: match &view {
                        serde_json::Value::Object(map) => Some(json_to_struct(map)),
                        _ => None,
                    },
                    update_time: Some(timestamp(row.updated_at_us)),
                    sync_time: Some(timestamp(row.synced_at_us)),
                    score: 0.0,
                }
            })
            .collect();
        let next = offset + limit;
        let next_page_token = if next < total { encode_token(next as i64, "") } else { String::new() };
        Ok(pb::QueryRecordsResponse { records, next_page_token })
    }

    async fn invoke_action(
        &self,
        context: &RequestContext,
        request: pb::InvokeActionRequest,
    ) -> Result<pb::InvokeActionResponse, ConnectorError> {
        let tenant = context.require_tenant()?;
        let inner = &self.inner;
        let (provider, spec) = inner
            .registry
            .action(&request.action)
            .ok_or_else(|| ConnectorError::InvalidArgument(format!("action: unknown action {:?}", request.action)))?;
        let row = self.get_connection(tenant, &request.connection).await?;
        if row.provider != provider.info().id {
            return Err(ConnectorError::InvalidArgument(format!(
                "connection: {} is a {} connection; {} is a {} action",
                request.connection,
                row.provider,
                spec.name,
                provider.info().id
            )));
        }
        let key = request.idempotency_key.trim();
        if key.is_empty() && !spec.read_only {
            return Err(ConnectorError::InvalidArgument(
                "idempotency_key: required for actions that change data".into(),
            ));
        }
        if key.len() > 255 {
            return Err(ConnectorError::InvalidArgument("idempotency_key: at most 255 characters".into()));
        }
        let input = request.input.as_ref().map(struct_to_json).unwrap_or_else(|| serde_json::json!({}));
        (spec.validate)(&input).map_err(|e| ConnectorError::InvalidArgument(format!("input.{e}")))?;
        let connection: ConnectionId = row.id.parse().map_err(|_| ConnectorError::Internal("stored id".into()))?;
        let resource = format!("connections/{connection}");
        let scope = inner.store.tenant(tenant).await?;
        let replay = Repo::new(&scope).invocation(spec.name, key).await?;
        scope.commit().await?;
        if let Some((output, audit_event_id, _)) = replay {
            let output: serde_json::Value = serde_json::from_str(&output).unwrap_or_default();
            return Ok(pb::InvokeActionResponse {
                output: output.as_object().map(json_to_struct),
                audit_event_id,
                replayed: true,
            });
        }
        if request.validate_only {
            return Ok(pb::InvokeActionResponse::default());
        }
        let (row, credentials) = inner.tokens.fresh(provider, tenant, connection).await?;
        let call = Call {
            http: &inner.http,
            settings: &inner.settings,
            account: &row.account,
            token: &credentials.access_token,
        };
        let scoped_key = format!("{tenant}:{key}");
        let outcome = provider.invoke(&call, spec.name, &input, &scoped_key).await;
        let now = now_unix_micros();
        let scope = inner.store.tenant(tenant).await?;
        let mut details = vec![("action", spec.name.to_owned()), ("idempotency_key", key.to_owned())];
        if !request.approved_step.is_empty() {
            details.push(("approved_step", request.approved_step.clone()));
        }
        match outcome {
            Ok(output) => {
                let audit_event_id = inner
                    .audit(
                        &scope,
                        context,
                        &format!("connectors.action.{}", spec.name),
                        resource,
                        audit::Outcome::Success,
                        &details,
                    )
                    .await?;
                Repo::new(&scope)
                    .insert_invocation(spec.name, key, connection, output.to_string(), &audit_event_id, now)
                    .await?;
                scope.commit().await?;
                Ok(pb::InvokeActionResponse {
                    output: output.as_object().map(json_to_struct),
                    audit_event_id,
                    replayed: false,
                })
            }
            Err(error) => {
                details.push(("error", error.to_string()));
                inner
                    .audit(
                        &scope,
                        context,
                        &format!("connectors.action.{}", spec.name),
                        resource,
                        audit::Outcome::Failure,
                        &details,
                    )
                    .await?;
                scope.commit().await?;
                Err(error.into())
            }
        }
    }
}

/// A record's change time as RFC 3339, the form filters compare.
fn provider_time(us: i64) -> serde_json::Value {
    serde_json::Value::String(crate::provider::us_rfc3339(us))
}

/// Drops the empty PKCE parameters a provider without PKCE was given.
fn strip_empty_pkce(url: String) -> String {
    match url::Url::parse(&url) {
        Ok(mut parsed) => {
            let kept: Vec<(String, String)> = parsed
                .query_pairs()
                .filter(|(k, v)| !(v.is_empty() && (k == "code_challenge" || k == "code_challenge_method")))
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            parsed.query_pairs_mut().clear().extend_pairs(kept);
            parsed.into()
        }
        Err(_) => url,
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl pb::connector_service_server::ConnectorService for ConnectorService {
    async fn list_providers(&self, _request: Request<pb::ListProvidersRequest>) -> Reply<pb::ListProvidersResponse> {
        let providers = self
            .inner
            .registry
            .all()
            .map(|p| {
                let info = p.info();
                pb::Provider {
                    id: info.id.into(),
                    display_name: info.display_name.into(),
                    auth_kinds: info.auth_kinds.iter().map(|k| *k as i32).collect(),
                    default_scopes: info.default_scopes.iter().map(|s| (*s).into()).collect(),
                    scopes: info.scopes.iter().map(|s| (*s).into()).collect(),
                    record_kinds: info.record_kinds.iter().map(|s| (*s).into()).collect(),
                    actions: p.actions().iter().map(|a| a.name.into()).collect(),
                    webhooks_supported: info.webhooks,
                }
            })
            .collect();
        Ok(Response::new(pb::ListProvidersResponse { providers }))
    }

    async fn create_connection(
        &self,
        request: Request<pb::CreateConnectionRequest>,
    ) -> Reply<pb::CreateConnectionResponse> {
        let context = RequestContext::of(&request)?.clone();
        let connection = self.create_connection(&context, request.into_inner()).await?;
        Ok(Response::new(pb::CreateConnectionResponse { connection: Some(connection) }))
    }

    async fn get_connection(&self, request: Request<pb::GetConnectionRequest>) -> Reply<pb::GetConnectionResponse> {
        let tenant = RequestContext::of(&request)?.require_tenant().map_err(ConnectorError::from)?;
        let row = self.get_connection(tenant, &request.get_ref().name).await?;
        Ok(Response::new(pb::GetConnectionResponse { connection: Some(connection_message(&row)) }))
    }

    async fn list_connections(
        &self,
        request: Request<pb::ListConnectionsRequest>,
    ) -> Reply<pb::ListConnectionsResponse> {
        let tenant = RequestContext::of(&request)?.require_tenant().map_err(ConnectorError::from)?;
        let request = request.into_inner();
        let limit = page_size(request.page_size, 50)?;
        let after = decode_token(&request.page_token)?;
        let provider = (!request.provider.is_empty()).then_some(request.provider.as_str());
        let status = (request.status != 0).then_some(request.status);
        let scope = self.inner.store.tenant_read(tenant).await.map_err(ConnectorError::from)?;
        let rows =
            Repo::new(&scope).connections(provider, status, after, limit + 1).await.map_err(ConnectorError::from)?;
        scope.commit().await.map_err(ConnectorError::from)?;
        let (rows, next_page_token) = newest_first_page(rows, limit, |r| (r.created_at_us, &r.id));
        Ok(Response::new(pb::ListConnectionsResponse {
            connections: rows.iter().map(connection_message).collect(),
            next_page_token,
        }))
    }

    async fn delete_connection(
        &self,
        request: Request<pb::DeleteConnectionRequest>,
    ) -> Reply<pb::DeleteConnectionResponse> {
        let context = RequestContext::of(&request)?.clone();
        let tenant = context.require_tenant().map_err(ConnectorError::from)?;
        let row = self.get_connection(tenant, &request.get_ref().name).await?;
        let connection: ConnectionId = row.id.parse().map_err(|_| ConnectorError::Internal("stored id".into()))?;
        // Stop its running sync first, so no page lands after the delete.
        let scope = self.inner.store.tenant(tenant).await.map_err(ConnectorError::from)?;
        let active = Repo::new(&scope).active_sync(connection).await.map_err(ConnectorError::from)?;
        scope.commit().await.map_err(ConnectorError::from)?;
        if let Some(stop) = active.and_then(|active| self.running().get(&active.id).cloned()) {
            stop.cancel();
        }
        let scope = self.inner.store.tenant(tenant).await.map_err(ConnectorError::from)?;
        Repo::new(&scope).delete_connection(connection, now_unix_micros()).await.map_err(ConnectorError::from)?;
        self.inner
            .audit(
                &scope,
                &context,
                "connectors.connection.delete",
                format!("connections/{connection}"),
                audit::Outcome::Success,
                &[("provider", row.provider.clone())],
            )
            .await?;
        scope.commit().await.map_err(ConnectorError::from)?;
        self.inner.forget_routes();
        Ok(Response::new(pb::DeleteConnectionResponse {}))
    }

    async fn start_o_auth(&self, request: Request<pb::StartOAuthRequest>) -> Reply<pb::StartOAuthResponse> {
        let context = RequestContext::of(&request)?.clone();
        Ok(Response::new(self.start_oauth(&context, request.into_inner()).await?))
    }

    async fn complete_o_auth(&self, request: Request<pb::CompleteOAuthRequest>) -> Reply<pb::CompleteOAuthResponse> {
        let context = RequestContext::of(&request)?.clone();
        let connection = self.complete_oauth(&context, request.into_inner()).await?;
        Ok(Response::new(pb::CompleteOAuthResponse { connection: Some(connection) }))
    }

    async fn start_sync(&self, request: Request<pb::StartSyncRequest>) -> Reply<pb::StartSyncResponse> {
        let context = RequestContext::of(&request)?.clone();
        let sync = self.start_sync(&context, request.into_inner()).await?;
        Ok(Response::new(pb::StartSyncResponse { sync: Some(sync) }))
    }

    async fn get_sync(&self, request: Request<pb::GetSyncRequest>) -> Reply<pb::GetSyncResponse> {
        let tenant = RequestContext::of(&request)?.require_tenant().map_err(ConnectorError::from)?;
        let name = &request.get_ref().name;
        let invalid =
            || ConnectorError::InvalidArgument(format!("name: expected connections/{{id}}/syncs/{{id}}, got {name:?}"));
        let (parent, id) = name.split_once("/syncs/").ok_or_else(invalid)?;
        connection_id(parent, "name")?;
        let id: SyncId = id.parse().map_err(|_| invalid())?;
        let scope = self.inner.store.tenant_read(tenant).await.map_err(ConnectorError::from)?;
        let row = Repo::new(&scope).sync(id).await.map_err(ConnectorError::from)?;
        scope.commit().await.map_err(ConnectorError::from)?;
        let row = row
            .filter(|r| format!("connections/{}", r.connection_id) == parent)
            .ok_or_else(|| ConnectorError::NotFound(format!("{name} does not exist")))?;
        Ok(Response::new(pb::GetSyncResponse { sync: Some(sync_message(&row)) }))
    }

    async fn list_syncs(&self, request: Request<pb::ListSyncsRequest>) -> Reply<pb::ListSyncsResponse> {
        let tenant = RequestContext::of(&request)?.require_tenant().map_err(ConnectorError::from)?;
        let request = request.into_inner();
        let connection = match request.parent.as_str() {
            "connections/-" => None,
            parent => Some(connection_id(parent, "parent")?.to_string()),
        };
        let limit = page_size(request.page_size, 50)?;
        let after = decode_token(&request.page_token)?;
        let status = (request.status != 0).then_some(request.status);
        let scope = self.inner.store.tenant_read(tenant).await.map_err(ConnectorError::from)?;
        let rows = Repo::new(&scope)
            .syncs(connection.as_deref(), status, after, limit + 1)
            .await
            .map_err(ConnectorError::from)?;
        scope.commit().await.map_err(ConnectorError::from)?;
        let (rows, next_page_token) = newest_first_page(rows, limit, |r| (r.created_at_us, &r.id));
        Ok(Response::new(pb::ListSyncsResponse { syncs: rows.iter().map(sync_message).collect(), next_page_token }))
    }

    async fn query_records(&self, request: Request<pb::QueryRecordsRequest>) -> Reply<pb::QueryRecordsResponse> {
        let tenant = RequestContext::of(&request)?.require_tenant().map_err(ConnectorError::from)?;
        Ok(Response::new(self.query_records(tenant, request.into_inner()).await?))
    }

    async fn list_actions(&self, request: Request<pb::ListActionsRequest>) -> Reply<pb::ListActionsResponse> {
        let tenant = RequestContext::of(&request)?.require_tenant().map_err(ConnectorError::from)?;
        let request = request.into_inner();
        let granted: Option<(String, Vec<String>)> = if request.connection.is_empty() {
            None
        } else {
            let row = self.get_connection(tenant, &request.connection).await?;
            Some((row.provider.clone(), split_words(&row.scopes)))
        };
        let limit = page_size(request.page_size, 100)? as usize;
        let offset = decode_token(&request.page_token)?.map(|(n, _)| n.max(0) as usize).unwrap_or(0);
        let mut actions: Vec<pb::Action> = self
            .inner
            .registry
            .all()
            .filter(|p| request.provider.is_empty() || p.info().id == request.provider)
            .flat_map(|p| p.actions().iter().map(move |a| (p.info().id, a)))
            .filter(|(_, a)| !request.read_only || a.read_only)
            .filter(|(provider, a)| match &granted {
                None => true,
                // Static credentials carry no scopes: whatever the key allows, the provider enforces.
                Some((p, scopes)) => {
                    p == provider
                        && (scopes.is_empty() || a.required_scopes.iter().all(|s| scopes.iter().any(|g| g == s)))
                }
            })
            .map(|(provider, a)| pb::Action {
                name: a.name.into(),
                provider: provider.into(),
                description: a.description.into(),
                input_schema: a.input_schema.as_object().map(json_to_struct),
                output_schema: a.output_schema.as_object().map(json_to_struct),
                needs_approval: a.needs_approval,
                read_only: a.read_only,
                required_scopes: a.required_scopes.iter().map(|s| (*s).into()).collect(),
            })
            .collect();
        actions.sort_by(|a, b| a.name.cmp(&b.name));
        let total = actions.len();
        let page: Vec<_> = actions.into_iter().skip(offset).take(limit).collect();
        let next_page_token =
            if offset + limit < total { encode_token((offset + limit) as i64, "") } else { String::new() };
        Ok(Response::new(pb::ListActionsResponse { actions: page, next_page_token }))
    }

    async fn invoke_action(&self, request: Request<pb::InvokeActionRequest>) -> Reply<pb::InvokeActionResponse> {
        let context = RequestContext::of(&request)?.clone();
        Ok(Response::new(self.invoke_action(&context, request.into_inner()).await?))
    }

    async fn receive_webhook(&self, request: Request<pb::ReceiveWebhookRequest>) -> Reply<pb::ReceiveWebhookResponse> {
        let context = RequestContext::of(&request)?.clone();
        Ok(Response::new(crate::webhooks::receive(&self.inner, &context, request.into_inner()).await?))
    }

    async fn list_webhook_events(
        &self,
        request: Request<pb::ListWebhookEventsRequest>,
    ) -> Reply<pb::ListWebhookEventsResponse> {
        let tenant = RequestContext::of(&request)?.require_tenant().map_err(ConnectorError::from)?;
        let request = request.into_inner();
        let limit = page_size(request.page_size, 50)?;
        let after = decode_token(&request.page_token)?;
        let connection = if request.connection.is_empty() {
            None
        } else {
            Some(connection_id(&request.connection, "connection")?.to_string())
        };
        let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let scope = self.inner.store.tenant_read(tenant).await.map_err(ConnectorError::from)?;
        let rows = Repo::new(&scope)
            .webhook_events(
                text(&request.provider).as_deref(),
                connection.as_deref(),
                text(&request.event_type).as_deref(),
                (request.status != 0).then_some(request.status),
                after,
                limit + 1,
            )
            .await
            .map_err(ConnectorError::from)?;
        scope.commit().await.map_err(ConnectorError::from)?;
        let (rows, next_page_token) = newest_first_page(rows, limit, |r| (r.received_at_us, &r.id));
        Ok(Response::new(pb::ListWebhookEventsResponse {
            webhook_events: rows.iter().map(webhook_message).collect(),
            next_page_token,
        }))
    }
}
