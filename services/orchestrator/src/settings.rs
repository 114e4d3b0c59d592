//! Per-tenant assistant settings (stored as JSON in `orchestrator_settings`) and token usage per tenant per month.
//!
//! Settings are read at the start of every run: which model providers to try in which order, which actions run
//! without waiting for approval, the monthly token budget and the rate limit. A tenant that never saved settings
//! gets [`AssistantSettings::default`]: the offline provider, every write waits for approval, no budget, 30 runs a
//! minute.

use serde::{Deserialize, Serialize};
use switchboard_store::Store;
use switchboard_types::TenantId;

use crate::error::OrchestratorError;
use crate::storage::Repo;

/// A tenant's assistant settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssistantSettings {
    /// Model providers to try, in order (`openai/gpt-4o-mini`, `anthropic/claude-...`); empty means the offline
    /// provider only.
    pub providers: Vec<String>,
    /// Actions (`stripe.refund.create`) that run without waiting for a person's approval.
    pub auto_approve: Vec<String>,
    /// Model tokens the tenant may use per calendar month (UTC); `None` for no limit.
    pub monthly_token_budget: Option<u64>,
    /// Runs the tenant may start per minute.
    pub runs_per_minute: u32,
}

impl Default for AssistantSettings {
    fn default() -> Self {
        Self { providers: Vec::new(), auto_approve: Vec::new(), monthly_token_budget: None, runs_per_minute: 30 }
    }
}

impl AssistantSettings {
    /// Whether `action` runs without approval.
    pub fn auto_approves(&self, action: &str) -> bool {
        self.auto_approve.iter().any(|a| a == action)
    }
}

/// The calendar month (UTC) of `unix_us`, as `YYYY-MM`.
pub(crate) fn month_of(unix_us: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(unix_us.div_euclid(1_000_000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:04}-{:02}", at.year(), u8::from(at.month()))
}

/// The tenant's settings (defaults if never saved).
pub async fn load(store: &Store, tenant: TenantId) -> Result<AssistantSettings, OrchestratorError> {
    let scope = store.tenant(tenant).await?;
    let settings = read(&Repo::new(&scope), tenant).await?;
    scope.commit().await?;
    Ok(settings)
}

/// The tenant's settings, read in the caller's transaction.
pub(crate) async fn read(repo: &Repo<'_>, tenant: TenantId) -> Result<AssistantSettings, OrchestratorError> {
    match repo.settings().await? {
        None => Ok(AssistantSettings::default()),
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| OrchestratorError::Internal(format!("stored settings of tenant {tenant}: {e}"))),
    }
}

/// Saves the tenant's settings.
pub async fn save(store: &Store, tenant: TenantId, settings: &AssistantSettings) -> Result<(), OrchestratorError> {
    let json = serde_json::to_string(settings).map_err(|e| OrchestratorError::Internal(e.to_string()))?;
    let scope = store.tenant(tenant).await?;
    Repo::new(&scope).save_settings(json, switchboard_types::now_unix_micros()).await?;
    scope.commit().await?;
    Ok(())
}

/// Model tokens the tenant used in the month of `unix_us`: (input, output).
pub async fn usage(store: &Store, tenant: TenantId, unix_us: i64) -> Result<(i64, i64), OrchestratorError> {
    let scope = store.tenant(tenant).await?;
    let used = Repo::new(&scope).usage(&month_of(unix_us)).await?;
    scope.commit().await?;
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_partial_json_and_refuse_unknown_fields() {
        let s: AssistantSettings = serde_json::from_str(r#"{"auto_approve": ["stripe.refund.create"]}"#).unwrap();
        assert!(s.auto_approves("stripe.refund.create") && !s.auto_approves("stripe.invoice.send"));
        assert_eq!(s.runs_per_minute, 30);
        assert!(serde_json::from_str::<AssistantSettings>(r#"{"auto_aprove": []}"#).is_err());
        assert_eq!(month_of(1_793_491_200_000_000), "2026-11");
    }
}
