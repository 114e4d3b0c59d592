//! A connection's credentials in and out of the vault, and kept fresh.
//!
//! Tokens are refreshed ahead of expiry ([`REFRESH_MARGIN`]). Providers that rotate refresh tokens (Shopify's
//! expiring offline tokens, QuickBooks) kill the old one when a new one is issued, so two replicas refreshing at
//! once would leave one of them with a dead token: a refresh is single-flight per connection, within the process
//! (a per-connection mutex) and across replicas (a lock in the platform cache, Redis when configured), and the new
//! tokens are persisted (compare-and-set on the credentials version) before anyone uses them. A refresh the
//! provider refuses marks the connection NEEDS_REAUTH.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard_cache::Cache;
use switchboard_proto::connectors::v1::ConnectionStatus;
use switchboard_store::Store;
use switchboard_types::{ConnectionId, TenantId, now_unix_micros};

use crate::ProviderSettings;
use crate::error::{ConnectorError, ProviderError};
use crate::http::ProviderHttp;
use crate::provider::{Call, Provider, TokenGrant};
use crate::storage::{ConnectionRow, Repo};
use crate::vault::{KeyRing, Sealed, SecretSlot};

/// Refresh when less than this is left.
pub(crate) const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// How long a refresh lock is held at most (a crashed holder's lock expires).
const LOCK_TTL: Duration = Duration::from_secs(30);
/// How long a replica waits for another's refresh.
const WAIT_FOR_OTHERS: Duration = Duration::from_secs(20);

/// What the vault holds for a connection.
#[derive(Serialize, Deserialize)]
pub(crate) struct Stored {
    /// Access token or API key.
    pub(crate) access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) expires_at_us: Option<i64>,
}

impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stored").field("expires_at_us", &self.expires_at_us).finish_non_exhaustive()
    }
}

impl Stored {
    /// From a grant, keeping the previous refresh token when the provider did not rotate it.
    pub(crate) fn from_grant(grant: TokenGrant, previous_refresh: Option<String>, now_us: i64) -> Self {
        Self {
            access_token: grant.access_token,
            refresh_token: grant.refresh_token.or(previous_refresh),
            expires_at_us: grant.expires_in_secs.map(|s| now_us.saturating_add(s.saturating_mul(1_000_000))),
        }
    }

    pub(crate) fn needs_refresh(&self, now_us: i64) -> bool {
        self.refresh_token.is_some()
            && self.expires_at_us.is_some_and(|at| at - now_us < REFRESH_MARGIN.as_micros() as i64)
    }
}

fn slot(tenant: TenantId, connection: ConnectionId) -> SecretSlot<'static> {
    SecretSlot { tenant, connection, field: "credentials" }
}

pub(crate) fn seal(
    keys: &KeyRing,
    tenant: TenantId,
    connection: ConnectionId,
    stored: &Stored,
) -> Result<Sealed, ConnectorError> {
    let json = serde_json::to_vec(stored).map_err(|e| ConnectorError::Internal(format!("credentials: {e}")))?;
    let sealed = keys.seal(&slot(tenant, connection), &json);
    let mut json = json;
    json.iter_mut().for_each(|b| *b = 0);
    Ok(sealed?)
}

pub(crate) fn open(keys: &KeyRing, tenant: TenantId, row: &ConnectionRow) -> Result<Stored, ConnectorError> {
    let connection: ConnectionId =
        row.id.parse().map_err(|_| ConnectorError::Internal(format!("stored connection id {:?}", row.id)))?;
    let sealed = Sealed {
        kek_id: row.secret_kek_id.clone(),
        wrapped_key: row.secret_key.clone(),
        ciphertext: row.secret.clone(),
    };
    let plaintext = keys.open(&slot(tenant, connection), &sealed)?;
    serde_json::from_slice(plaintext.expose())
        .map_err(|_| ConnectorError::Internal("stored credentials do not parse".into()))
}

/// Hands out usable tokens.
#[derive(Clone)]
pub(crate) struct Tokens {
    store: Store,
    keys: KeyRing,
    cache: Arc<dyn Cache>,
    http: ProviderHttp,
    settings: Arc<ProviderSettings>,
    local: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl Tokens {
    pub(crate) fn new(
        store: Store,
        keys: KeyRing,
        cache: Arc<dyn Cache>,
        http: ProviderHttp,
        settings: Arc<ProviderSettings>,
    ) -> Self {
        Self { store, keys, cache, http, settings, local: Arc::default() }
    }

    pub(crate) fn keys(&self) -> &KeyRing {
        &self.keys
    }

    async fn load(
        &self,
        tenant: TenantId,
        connection: ConnectionId,
    ) -> Result<(ConnectionRow, Stored), ConnectorError> {
        let scope = self.store.tenant(tenant).await?;
        let row = Repo::new(&scope)
            .connection(connection)
            .await?
            .ok_or_else(|| ConnectorError::NotFound(format!("connections/{connection} does not exist")))?;
        scope.commit().await?;
        let stored = open(&self.keys, tenant, &row)?;
        Ok((row, stored))
    }

    /// The connection and a token that is good for at least [`REFRESH_MARGIN`] (or has no expiry).
    pub(crate) async fn fresh(
        &self,
        provider: &dyn Provider,
        tenant: TenantId,
        connection: ConnectionId,
    ) -> Result<(ConnectionRow, Stored), ConnectorError> {
        let (row, stored) = self.load(tenant, connection).await?;
        if row.status == ConnectionStatus::NeedsReauth as i32 {
            return Err(ConnectorError::FailedPrecondition(format!(
                "connections/{connection} needs re-authorization: {}",
                row.error_message
            )));
        }
        if !stored.needs_refresh(now_unix_micros()) {
            return Ok((row, stored));
        }
        let local = {
            let mut map = self.local.lock().map_err(|_| ConnectorError::Internal("refresh lock poisoned".into()))?;
            map.entry(connection.to_string()).or_default().clone()
        };
        let _serialized = local.lock().await;
        let lock_key = format!("connectors:refresh:{tenant}:{connection}");
        let deadline = tokio::time::Instant::now() + WAIT_FOR_OTHERS;
        loop {
            // Another task or replica may have refreshed while we waited.
            let (row, stored) = self.load(tenant, connection).await?;
            if !stored.needs_refresh(now_unix_micros()) {
                return Ok((row, stored));
            }
            let holder = uuid::Uuid::new_v4().to_string();
            let acquired = self
                .cache
                .set_if_absent(&lock_key, holder.as_bytes(), Some(LOCK_TTL))
                .await
                .map_err(|e| ConnectorError::Internal(format!("refresh lock: {e}")))?;
            if acquired {
                // Read again under the lock: another replica may have refreshed and released it between the read
                // above and our acquiring it, and refreshing from the stale row would spend a rotated token.
                let result = match self.load(tenant, connection).await {
                    Ok((row, stored)) if stored.needs_refresh(now_unix_micros()) => {
                        self.refresh(provider, tenant, connection, &row, stored).await.map(|stored| (row, stored))
                    }
                    other => other,
                };
                let _ = self.cache.delete(&lock_key).await;
                return result;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(ConnectorError::Provider(ProviderError::Unavailable(
                    "another replica's token refresh did not finish in time".into(),
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn refresh(
        &self,
        provider: &dyn Provider,
        tenant: TenantId,
        connection: ConnectionId,
        row: &ConnectionRow,
        stored: Stored,
    ) -> Result<Stored, ConnectorError> {
        let Some(refresh_token) = stored.refresh_token.clone() else { return Ok(stored) };
        let call = Call { http: &self.http, settings: &self.settings, account: &row.account, token: "" };
        let grant = match provider.refresh(&call, &refresh_token).await {
            Ok(grant) => grant,
            Err(ProviderError::Unauthorized { provider, message }) => {
                let scope = self.store.tenant(tenant).await?;
                Repo::new(&scope)
                    .set_status(
                        connection,
                        ConnectionStatus::NeedsReauth as i32,
                        tonic::Code::FailedPrecondition as i32,
                        &format!("{provider} refused the refresh token: {message}"),
                        now_unix_micros(),
                    )
                    .await?;
                scope.commit().await?;
                tracing::warn!(%connection, provider, "refresh refused; the connection needs re-authorization");
                return Err(ProviderError::Unauthorized { provider, message }.into());
            }
            Err(e) => return Err(e.into()),
        };
        let now = now_unix_micros();
        let fresh = Stored::from_grant(grant, Some(refresh_token), now);
        let sealed = seal(&self.keys, tenant, connection, &fresh)?;
        // Persisted before use: a rotated refresh token that is lost is fatal at providers that rotate.
        let scope = self.store.tenant(tenant).await?;
        let replaced = Repo::new(&scope)
            .replace_credentials(connection, row.credentials_version, &sealed, fresh.expires_at_us, now)
            .await?;
        scope.commit().await?;
        if !replaced {
            return Err(ConnectorError::Internal("credentials changed during a refresh under the lock".into()));
        }
        tracing::info!(%connection, provider = provider.info().id, "token refreshed");
        Ok(fresh)
    }
}

/// Re-wraps every credential's data key under the first KEK, tenant by tenant.
pub(crate) async fn rewrap_all(store: &Store, keys: &KeyRing) -> Result<usize, ConnectorError> {
    let mut count = 0;
    for tenant in &crate::storage::tenants_with_connections(store).await? {
        let scope = store.tenant(*tenant).await?;
        let repo = Repo::new(&scope);
        for row in repo.all_connections().await? {
            if row.secret.is_empty() {
                continue;
            }
            let Ok(connection) = row.id.parse::<ConnectionId>() else { continue };
            let sealed = Sealed {
                kek_id: row.secret_kek_id.clone(),
                wrapped_key: row.secret_key.clone(),
                ciphertext: row.secret.clone(),
            };
            if let Some(rewrapped) = keys.rewrap(&slot(*tenant, connection), &sealed)? {
                repo.rewrap_credentials(&row.id, &rewrapped).await?;
                count += 1;
            }
        }
        scope.commit().await?;
    }
    Ok(count)
}
