//! The provider framework: what a provider is ([`Provider`]), and the registry of the four the platform knows.
//!
//! A provider is one module implementing one trait: its description ([`ProviderInfo`]: auth kinds, scopes,
//! record kinds), its OAuth dance (authorization URL, code exchange, refresh), a credentials check for static keys,
//! one page of a resource for sync (full, or changed since a time), its actions (each with JSON Schemas derived
//! from the Rust type its input is parsed into, see [`ActionSpec`]), and its webhooks (signature check, then
//! normalized [`WebhookNotice`]s). The engine (OAuth states, the vault, sync cursors, idempotency, audit, webhook
//! routing) lives outside and never names a provider, so adding one touches no engine code.

pub(crate) mod hubspot;
pub(crate) mod quickbooks;
pub(crate) mod shopify;
pub(crate) mod stripe;

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use switchboard_proto::connectors::v1::AuthKind;
use switchboard_signatures::SignatureError;

use crate::ProviderSettings;
use crate::error::{ConnectorError, ProviderError};
use crate::http::ProviderHttp;

/// What a provider offers.
#[derive(Debug)]
pub(crate) struct ProviderInfo {
    pub(crate) id: &'static str,
    pub(crate) display_name: &'static str,
    pub(crate) auth_kinds: &'static [AuthKind],
    pub(crate) default_scopes: &'static [&'static str],
    pub(crate) scopes: &'static [&'static str],
    pub(crate) record_kinds: &'static [&'static str],
    pub(crate) webhooks: bool,
    /// Whether the authorization endpoint takes a PKCE challenge.
    pub(crate) pkce: bool,
}

/// An action's description and input check.
pub(crate) struct ActionSpec {
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    pub(crate) needs_approval: bool,
    pub(crate) read_only: bool,
    pub(crate) required_scopes: &'static [&'static str],
    pub(crate) input_schema: serde_json::Value,
    pub(crate) output_schema: serde_json::Value,
    /// Parses the input as the action's input type: `Err` names the field and what was wrong.
    pub(crate) validate: fn(&serde_json::Value) -> Result<(), String>,
}

impl std::fmt::Debug for ActionSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionSpec").field("name", &self.name).finish_non_exhaustive()
    }
}

/// An action whose input is `I` and output `O`: schemas derived from the types (draft 2020-12), input validated by
/// parsing into `I`, so the schema and the check cannot disagree.
pub(crate) fn action<I: JsonSchema + DeserializeOwned, O: JsonSchema>(
    name: &'static str,
    description: &'static str,
    needs_approval: bool,
    required_scopes: &'static [&'static str],
) -> ActionSpec {
    ActionSpec {
        name,
        description,
        needs_approval,
        read_only: false,
        required_scopes,
        input_schema: schemars::schema_for!(I).to_value(),
        output_schema: schemars::schema_for!(O).to_value(),
        validate: |value| parse_input::<I>(value).map(|_| ()),
    }
}

/// Parses an action's input, naming the offending field on error.
pub(crate) fn parse_input<I: DeserializeOwned>(value: &serde_json::Value) -> Result<I, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." { e.inner().to_string() } else { format!("{path}: {}", e.inner()) }
    })
}

/// What a provider call needs: the client, the settings, and the connection's account and credential.
pub(crate) struct Call<'a> {
    pub(crate) http: &'a ProviderHttp,
    pub(crate) settings: &'a ProviderSettings,
    /// The provider account (shop domain, Stripe account id, realm id, portal id); empty if not known yet.
    pub(crate) account: &'a str,
    /// The access token or API key. Never logged.
    pub(crate) token: &'a str,
}

/// One page of a resource.
#[derive(Debug, Default)]
pub(crate) struct Page {
    pub(crate) records: Vec<RecordIn>,
    /// The cursor of the next page; `None` on the last.
    pub(crate) next: Option<String>,
    /// Ids of records of this kind the provider reports deleted (QuickBooks CDC); removed from the store with the
    /// page.
    pub(crate) deleted: Vec<String>,
}

/// A record as fetched.
#[derive(Debug, Clone)]
pub(crate) struct RecordIn {
    pub(crate) external_id: String,
    /// When the provider last changed it (µs since the epoch).
    pub(crate) updated_at_us: i64,
    pub(crate) data: serde_json::Value,
}

/// Tokens a provider granted.
#[derive(Debug, Clone, Default)]
pub(crate) struct TokenGrant {
    pub(crate) access_token: String,
    pub(crate) refresh_token: Option<String>,
    pub(crate) expires_in_secs: Option<i64>,
    pub(crate) scopes: Vec<String>,
    /// The account the grant is for, when the token response names it (Stripe `stripe_user_id`, HubSpot `hub_id`).
    pub(crate) account: Option<String>,
}

impl TokenGrant {
    /// The standard fields of an OAuth 2.0 token response (RFC 6749 §5.1): `access_token` (required),
    /// `refresh_token`, `expires_in`, and `scope` split on `scope_separator`. The account is the provider's to add.
    pub(crate) fn from_response(
        provider: &'static str,
        body: &serde_json::Value,
        scope_separator: char,
    ) -> Result<Self, ProviderError> {
        let text = |name: &str| body.get(name).and_then(serde_json::Value::as_str);
        Ok(Self {
            access_token: text("access_token")
                .ok_or_else(|| ProviderError::Invalid(format!("{provider}'s token response has no access_token")))?
                .to_owned(),
            refresh_token: text("refresh_token").map(str::to_owned),
            expires_in_secs: body.get("expires_in").and_then(serde_json::Value::as_i64),
            scopes: text("scope")
                .map(|s| s.split(scope_separator).filter(|s| !s.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default(),
            account: None,
        })
    }
}

/// What StartOAuth puts in the authorization URL.
#[derive(Debug)]
pub(crate) struct AuthorizeRequest<'a> {
    pub(crate) settings: &'a ProviderSettings,
    pub(crate) account: &'a str,
    pub(crate) scopes: &'a [String],
    pub(crate) redirect_uri: &'a str,
    pub(crate) state: &'a str,
    /// The S256 PKCE challenge, for providers that take one.
    pub(crate) code_challenge: &'a str,
}

/// The account a static credential belongs to.
#[derive(Debug, Clone)]
pub(crate) struct AccountInfo {
    pub(crate) account: String,
    pub(crate) display_name: String,
}

/// One provider event out of a verified webhook delivery.
#[derive(Debug, Clone)]
pub(crate) struct WebhookNotice {
    /// The provider account it concerns (routes it to connections).
    pub(crate) account: String,
    /// The provider's event id (deduplication key).
    pub(crate) event_id: String,
    pub(crate) event_type: String,
    pub(crate) payload: serde_json::Value,
}

/// A record a webhook event brings up to date.
#[derive(Debug, Clone)]
pub(crate) struct WebhookUpdate {
    pub(crate) kind: &'static str,
    pub(crate) record: RecordIn,
}

/// What a webhook event asks of the record store when its payload is not the record itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WebhookTarget {
    /// Fetch this record afresh from the provider and store it.
    Refresh { kind: &'static str, id: String },
    /// The provider deleted this record.
    Delete { kind: &'static str, id: String },
}

/// A delivery as the gateway passed it on.
#[derive(Debug)]
pub(crate) struct Delivery<'a> {
    pub(crate) headers: &'a HashMap<String, String>,
    pub(crate) body: &'a [u8],
    pub(crate) now_ms: i64,
}

impl Delivery<'_> {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// A provider. Futures are boxed so the registry can hold every provider behind one `dyn`.
pub(crate) trait Provider: Send + Sync {
    fn info(&self) -> &ProviderInfo;

    fn actions(&self) -> &[ActionSpec];

    /// The URL to send the browser to.
    fn authorization_url(&self, request: &AuthorizeRequest<'_>) -> Result<String, ConnectorError>;

    /// Checks the redirect's own proof, where the provider signs it (Shopify's `hmac`).
    fn verify_callback(
        &self,
        _settings: &ProviderSettings,
        _params: &[(String, String)],
        _account: &str,
        _now_unix: i64,
    ) -> Result<(), ConnectorError> {
        Ok(())
    }

    /// The account the redirect names, when the provider puts it there (QuickBooks `realmId`).
    fn account_from_callback(&self, _params: &HashMap<String, String>) -> Option<String> {
        None
    }

    fn exchange_code<'a>(
        &'a self,
        call: &'a Call<'a>,
        code: &'a str,
        code_verifier: &'a str,
        redirect_uri: &'a str,
    ) -> BoxFuture<'a, Result<TokenGrant, ProviderError>>;

    fn refresh<'a>(
        &'a self,
        call: &'a Call<'a>,
        refresh_token: &'a str,
    ) -> BoxFuture<'a, Result<TokenGrant, ProviderError>>;

    /// Checks a static credential and names its account. By default the provider takes none yet.
    fn check_credentials<'a>(&'a self, _call: &'a Call<'a>) -> BoxFuture<'a, Result<AccountInfo, ProviderError>> {
        let provider = self.info().id;
        Box::pin(async move { Err(not_yet(provider, "connecting with a static credential")) })
    }

    /// One page of `kind`, changed at or after `since_us` (everything when `None`), from `cursor`. By default the
    /// provider syncs nothing yet (its `record_kinds` is empty, so no sync asks).
    fn fetch_page<'a>(
        &'a self,
        _call: &'a Call<'a>,
        _kind: &'a str,
        _since_us: Option<i64>,
        _cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page, ProviderError>> {
        let provider = self.info().id;
        Box::pin(async move { Err(not_yet(provider, "sync")) })
    }

    /// Invokes an action whose input was validated. By default the provider has no actions yet.
    fn invoke<'a>(
        &'a self,
        _call: &'a Call<'a>,
        _action: &'a str,
        _input: &'a serde_json::Value,
        _idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<serde_json::Value, ProviderError>> {
        let provider = self.info().id;
        Box::pin(async move { Err(not_yet(provider, "actions")) })
    }

    /// Whether the app secret that signs this provider's webhooks is configured: without it every delivery is refused
    /// (an empty key would "verify" anything signed with an empty key).
    fn webhook_secret_configured(&self, settings: &ProviderSettings) -> bool;

    /// Checks a delivery's signature with the app's secret.
    fn verify_webhook(&self, settings: &ProviderSettings, delivery: &Delivery<'_>) -> Result<(), SignatureError>;

    /// The events of a verified delivery.
    fn parse_webhook(&self, delivery: &Delivery<'_>) -> Result<Vec<WebhookNotice>, ConnectorError>;

    /// The record an event brings up to date, if it carries one.
    fn webhook_update(&self, _event_type: &str, _payload: &serde_json::Value) -> Option<WebhookUpdate> {
        None
    }

    /// The record an event names, to refresh or delete, when it does not carry the record itself.
    fn webhook_target(&self, _event_type: &str, _payload: &serde_json::Value) -> Option<WebhookTarget> {
        None
    }

    /// One record of `kind` by id, as a sync would store it; `None` when the provider has no such record.
    fn fetch_record<'a>(
        &'a self,
        _call: &'a Call<'a>,
        kind: &'a str,
        _id: &'a str,
    ) -> BoxFuture<'a, Result<Option<RecordIn>, ProviderError>> {
        Box::pin(async move {
            Err(ProviderError::Invalid(format!("records of kind {kind:?} cannot be fetched one by one")))
        })
    }
}

/// What a provider does not offer (the trait's defaults: a provider that takes no static credential, has no actions…).
fn not_yet(provider: &'static str, what: &str) -> ProviderError {
    ProviderError::Rejected { provider, message: format!("{what} is not available for {provider} yet") }
}

/// Every provider, by id.
#[derive(Clone)]
pub(crate) struct Registry {
    providers: Arc<Vec<Box<dyn Provider>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.providers.iter().map(|p| p.info().id)).finish()
    }
}

impl Registry {
    /// The four providers of the design, ordered by id.
    pub(crate) fn standard() -> Self {
        let mut providers: Vec<Box<dyn Provider>> = vec![
            Box::new(hubspot::HubSpot::new()),
            Box::new(quickbooks::QuickBooks::new()),
            Box::new(shopify::Shopify::new()),
            Box::new(stripe::Stripe::new()),
        ];
        providers.sort_by_key(|p| p.info().id);
        Self { providers: Arc::new(providers) }
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = &dyn Provider> {
        self.providers.iter().map(|p| p.as_ref())
    }

    pub(crate) fn get(&self, id: &str) -> Result<&dyn Provider, ConnectorError> {
        self.all().find(|p| p.info().id == id).ok_or_else(|| {
            let known: Vec<_> = self.all().map(|p| p.info().id).collect();
            ConnectorError::InvalidArgument(format!("unknown provider {id:?}; known: {}", known.join(", ")))
        })
    }

    /// An action by name, with its provider.
    pub(crate) fn action(&self, name: &str) -> Option<(&dyn Provider, &ActionSpec)> {
        self.all().find_map(|p| p.actions().iter().find(|a| a.name == name).map(|a| (p, a)))
    }
}

/// Microseconds since the epoch of an RFC 3339 time.
pub(crate) fn rfc3339_us(text: &str) -> Option<i64> {
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(parsed.unix_timestamp_nanos() / 1000).ok()
}

/// RFC 3339 (UTC, seconds) of microseconds since the epoch.
pub(crate) fn us_rfc3339(us: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(us.div_euclid(1_000_000))
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// A provider's error message from its JSON error body, for the common shapes (`error.message`,
/// `error_description`, `errors`, `message`).
pub(crate) fn error_message(body: &serde_json::Value, fallback: &str) -> String {
    let text = body
        .pointer("/error/message")
        .or_else(|| body.get("error_description"))
        .or_else(|| body.get("message"))
        .or_else(|| body.get("errors"))
        .or_else(|| body.get("error"))
        .map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    text.unwrap_or_else(|| fallback.to_owned()).chars().take(500).collect()
}

/// Maps a non-success provider response to its error: 401/403 → credentials refused, 429 → rate limited, other
/// 4xx → refused, 5xx → unavailable.
pub(crate) fn status_error(provider: &'static str, response: &crate::http::Response) -> ProviderError {
    let body = response.json().unwrap_or(serde_json::Value::Null);
    let message = error_message(&body, &crate::http::error_text(response));
    match response.status.as_u16() {
        401 | 403 => ProviderError::Unauthorized { provider, message },
        429 => ProviderError::RateLimited {
            retry_after: crate::http::retry_after(&response.headers).unwrap_or_default(),
            message,
        },
        400..=499 => {
            if body.get("error").and_then(|e| e.as_str()) == Some("invalid_grant") {
                ProviderError::Unauthorized { provider, message }
            } else {
                ProviderError::Rejected { provider, message }
            }
        }
        _ => ProviderError::Unavailable(format!("{provider} answered {}: {message}", response.status)),
    }
}
