//! The assistant-settings RPCs: `GetAssistantSettings` (every role) and `UpdateAssistantSettings` (admins and
//! owners), over the one stored form of the settings, [`AssistantSettings`], which runs already obey. An update
//! names its fields in a field mask, is checked field by field (a message per mistake, as INVALID_ARGUMENT), and is
//! saved with an audit record holding the settings before and after, in one transaction.

use std::collections::HashSet;

use switchboard_mesh::context::RequestContext;
use switchboard_proto::orchestrator::v1 as pb;
use switchboard_types::{Role, TenantId, now_unix_micros};

use crate::convert::timestamp;
use crate::error::OrchestratorError;
use crate::runner::Engine;
use crate::settings::{self, AssistantSettings};
use crate::storage::Repo;

/// The singleton's resource name.
pub(crate) const NAME: &str = "assistantSettings";
/// Providers a setting may name.
const PROVIDERS: [&str; 3] = ["openai", "anthropic", "offline"];
/// Most providers in the fallback order.
const MAX_PROVIDERS: usize = 10;
/// Most auto-approved actions.
const MAX_AUTO_APPROVE: usize = 100;
/// Highest rate limit.
const MAX_RUNS_PER_MINUTE: i32 = 10_000;
/// The fields an update may name.
const FIELDS: [&str; 4] = ["providers", "auto_approve_actions", "monthly_token_budget", "runs_per_minute"];

fn invalid(message: impl Into<String>) -> OrchestratorError {
    OrchestratorError::InvalidArgument(message.into())
}

/// The settings as the API shows them.
fn message(settings: &AssistantSettings, tokens_used: i64, updated_at_us: Option<i64>) -> pb::AssistantSettings {
    pb::AssistantSettings {
        name: NAME.to_owned(),
        providers: settings.providers.clone(),
        auto_approve_actions: settings.auto_approve.clone(),
        monthly_token_budget: settings.monthly_token_budget.map_or(0, |b| i64::try_from(b).unwrap_or(i64::MAX)),
        runs_per_minute: i32::try_from(settings.runs_per_minute).unwrap_or(i32::MAX),
        tokens_used_this_month: tokens_used,
        update_time: updated_at_us.map(timestamp),
    }
}

/// `<provider>/<model>`, with a known provider and a plain model name.
fn check_provider(entry: &str) -> Result<(), OrchestratorError> {
    let (provider, model) = entry.split_once('/').ok_or_else(|| {
        invalid(format!("providers: {entry:?} is not <provider>/<model>, such as openai/gpt-4o-mini"))
    })?;
    if !PROVIDERS.contains(&provider) {
        return Err(invalid(format!(
            "providers: unknown provider {provider:?} in {entry:?}; use one of {PROVIDERS:?}"
        )));
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || "._:-".contains(c);
    if model.is_empty() || model.len() > 100 || !model.chars().all(plain) {
        return Err(invalid(format!(
            "providers: model name {model:?} in {entry:?}: 1-100 letters, digits, '.', '_', ':' or '-'"
        )));
    }
    Ok(())
}

fn no_duplicates(field: &str, values: &[String]) -> Result<(), OrchestratorError> {
    let mut seen = HashSet::new();
    match values.iter().find(|v| !seen.insert(v.as_str())) {
        Some(twice) => Err(invalid(format!("{field}: {twice:?} is listed twice"))),
        None => Ok(()),
    }
}

/// `current` with the masked fields of `change` applied, each checked; `actions` lists the connector actions
/// that exist (needed only when `auto_approve_actions` is masked).
fn apply(
    current: &AssistantSettings,
    change: &pb::AssistantSettings,
    mask: &[String],
    actions: Option<&[String]>,
) -> Result<AssistantSettings, OrchestratorError> {
    let mut next = current.clone();
    for path in mask {
        match path.as_str() {
            "providers" => {
                if change.providers.len() > MAX_PROVIDERS {
                    return Err(invalid(format!("providers: at most {MAX_PROVIDERS}")));
                }
                change.providers.iter().try_for_each(|p| check_provider(p))?;
                no_duplicates("providers", &change.providers)?;
                next.providers = change.providers.clone();
            }
            "auto_approve_actions" => {
                if change.auto_approve_actions.len() > MAX_AUTO_APPROVE {
                    return Err(invalid(format!("auto_approve_actions: at most {MAX_AUTO_APPROVE}")));
                }
                no_duplicates("auto_approve_actions", &change.auto_approve_actions)?;
                let known = actions.unwrap_or_default();
                if let Some(unknown) = change.auto_approve_actions.iter().find(|a| !known.contains(a)) {
                    return Err(invalid(format!(
                        "auto_approve_actions: unknown action {unknown:?}; known actions: {}",
                        if known.is_empty() {
                            "none (no connector offers actions)".to_owned()
                        } else {
                            known.join(", ")
                        }
                    )));
                }
                next.auto_approve = change.auto_approve_actions.clone();
            }
            "monthly_token_budget" => {
                let budget = change.monthly_token_budget;
                if budget < 0 {
                    return Err(invalid(format!(
                        "monthly_token_budget: {budget} is negative; give a number of tokens, or 0 for no limit"
                    )));
                }
                next.monthly_token_budget = (budget > 0).then_some(budget as u64);
            }
            "runs_per_minute" => {
                let rate = change.runs_per_minute;
                if !(1..=MAX_RUNS_PER_MINUTE).contains(&rate) {
                    return Err(invalid(format!("runs_per_minute: {rate} is out of range; 1-{MAX_RUNS_PER_MINUTE}")));
                }
                next.runs_per_minute = rate as u32;
            }
            other => {
                return Err(invalid(format!("update_mask: {other:?} cannot be updated; use {}", FIELDS.join(", "))));
            }
        }
    }
    Ok(next)
}

async fn tokens_used(engine: &Engine, tenant: TenantId) -> Result<i64, OrchestratorError> {
    let (input, output) = settings::usage(&engine.store, tenant, now_unix_micros()).await?;
    Ok(input.saturating_add(output))
}

fn parse(json: &str, tenant: TenantId) -> Result<AssistantSettings, OrchestratorError> {
    serde_json::from_str(json)
        .map_err(|e| OrchestratorError::Internal(format!("stored settings of tenant {tenant}: {e}")))
}

/// GetAssistantSettings.
pub(crate) async fn get(
    engine: &Engine,
    context: &RequestContext,
    request: pb::GetAssistantSettingsRequest,
) -> Result<pb::AssistantSettings, OrchestratorError> {
    let tenant = context.require_tenant()?;
    if !request.name.is_empty() && request.name != NAME {
        return Err(invalid(format!("name: {NAME} (or empty), not {:?}", request.name)));
    }
    let scope = engine.store.tenant(tenant).await?;
    let saved = Repo::new(&scope).settings_saved().await?;
    scope.commit().await?;
    let (current, updated) = match saved {
        Some((json, at)) => (parse(&json, tenant)?, Some(at)),
        None => (AssistantSettings::default(), None),
    };
    Ok(message(&current, tokens_used(engine, tenant).await?, updated))
}

/// UpdateAssistantSettings.
pub(crate) async fn update(
    engine: &Engine,
    context: &RequestContext,
    request: pb::UpdateAssistantSettingsRequest,
) -> Result<pb::AssistantSettings, OrchestratorError> {
    let tenant = context.require_tenant()?;
    if !context.role().is_some_and(|r| r.includes(Role::Admin)) {
        return Err(OrchestratorError::PermissionDenied(
            "changing the assistant settings needs the admin or owner role".into(),
        ));
    }
    let change = request.settings.ok_or_else(|| invalid("settings: required"))?;
    if !change.name.is_empty() && change.name != NAME {
        return Err(invalid(format!("settings.name: {NAME} (or empty), not {:?}", change.name)));
    }
    let mask = request.update_mask.map(|m| m.paths).unwrap_or_default();
    if mask.is_empty() {
        return Err(invalid(format!("update_mask is required: {}", FIELDS.join(", "))));
    }
    // The action catalog is read before the transaction (it is a call to the connectors service).
    let actions = if mask.iter().any(|p| p == "auto_approve_actions") && !change.auto_approve_actions.is_empty() {
        let catalog = engine.tools.catalog(context).await?;
        Some(catalog.into_iter().filter(|t| t.provider.is_some()).map(|t| t.name).collect::<Vec<_>>())
    } else {
        None
    };
    let now = now_unix_micros();
    let scope = engine.store.tenant(tenant).await?;
    scope.lock("orchestrator.settings").await?;
    let repo = Repo::new(&scope);
    let saved = repo.settings_saved().await?;
    let (before, updated) = match saved {
        Some((json, at)) => (parse(&json, tenant)?, Some(at)),
        None => (AssistantSettings::default(), None),
    };
    let after = apply(&before, &change, &mask, actions.as_deref())?;
    if after == before {
        scope.commit().await?;
        return Ok(message(&after, tokens_used(engine, tenant).await?, updated));
    }
    let encode =
        |s: &AssistantSettings| serde_json::to_string(s).map_err(|e| OrchestratorError::Internal(e.to_string()));
    repo.save_settings(encode(&after)?, now).await?;
    let details = [("fields", mask.join(",")), ("before", encode(&before)?), ("after", encode(&after)?)];
    engine.audit(&scope, context, "orchestrator.settings.update", NAME.to_owned(), &details).await?;
    scope.commit().await?;
    Ok(message(&after, tokens_used(engine, tenant).await?, Some(now)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change() -> pb::AssistantSettings {
        pb::AssistantSettings {
            providers: vec!["openai/gpt-4o-mini".into(), "anthropic/claude-3-5-haiku-latest".into()],
            auto_approve_actions: vec!["stripe.refund.create".into()],
            monthly_token_budget: 100_000,
            runs_per_minute: 5,
            ..Default::default()
        }
    }

    fn mask(paths: &[&str]) -> Vec<String> {
        paths.iter().map(|p| (*p).to_owned()).collect()
    }

    #[test]
    fn masked_fields_change_and_others_stay() {
        let actions = vec!["stripe.refund.create".to_owned()];
        let current = AssistantSettings::default();
        let next = apply(&current, &change(), &mask(&["runs_per_minute"]), None).unwrap();
        assert_eq!(next, AssistantSettings { runs_per_minute: 5, ..current.clone() });
        let all = apply(&current, &change(), &mask(&FIELDS), Some(&actions)).unwrap();
        assert_eq!(all.providers.len(), 2);
        assert!(all.auto_approves("stripe.refund.create"));
        assert_eq!(all.monthly_token_budget, Some(100_000));
        let unlimited = pb::AssistantSettings { monthly_token_budget: 0, ..change() };
        assert_eq!(apply(&all, &unlimited, &mask(&["monthly_token_budget"]), None).unwrap().monthly_token_budget, None);
        let shown = message(&all, 7, None);
        assert_eq!((shown.monthly_token_budget, shown.runs_per_minute, shown.tokens_used_this_month), (100_000, 5, 7));
    }

    #[test]
    fn bad_values_are_refused_with_the_field_named() {
        let current = AssistantSettings::default();
        let refuse = |change: pb::AssistantSettings, path: &str, actions: &[String]| match apply(
            &current,
            &change,
            &mask(&[path]),
            Some(actions),
        )
        .unwrap_err()
        {
            OrchestratorError::InvalidArgument(m) => m,
            other => panic!("{other:?}"),
        };
        let m = refuse(pb::AssistantSettings { monthly_token_budget: -1, ..change() }, "monthly_token_budget", &[]);
        assert!(m.contains("monthly_token_budget") && m.contains("negative"), "{m}");
        let m = refuse(change(), "auto_approve_actions", &["stripe.invoice.send".into()]);
        assert!(m.contains("unknown action \"stripe.refund.create\""), "{m}");
        for bad in ["gpt-4o", "google/gemini", "openai/", "openai/a b"] {
            let m = refuse(pb::AssistantSettings { providers: vec![bad.into()], ..change() }, "providers", &[]);
            assert!(m.starts_with("providers:"), "{m}");
        }
        let twice =
            pb::AssistantSettings { providers: vec!["offline/rules".into(), "offline/rules".into()], ..change() };
        assert!(refuse(twice, "providers", &[]).contains("twice"));
        assert!(
            refuse(pb::AssistantSettings { runs_per_minute: 0, ..change() }, "runs_per_minute", &[]).contains("1-")
        );
        assert!(refuse(change(), "name", &[]).contains("cannot be updated"));
    }
}
