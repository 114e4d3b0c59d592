//! Provider configuration: key, model, base URL, timeouts and context window per provider, read from the
//! environment through a lookup function (the binary passes `std::env::var`, tests pass a map). Keys are held in
//! [`ApiKey`], whose `Debug` never shows them.

use std::fmt;
use std::time::Duration;

use crate::chat::ProviderKind;
use crate::error::ModelError;

/// A provider API key. `Debug` prints `ApiKey(***)`; the only way to read it is [`ApiKey::expose`], used when the
/// request header is built.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for the request header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// How long a call may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP and TLS connect.
    pub connect: Duration,
    /// From sending the request to the response headers and the first stream event.
    pub first_byte: Duration,
    /// The whole call, including reading the whole stream.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { connect: Duration::from_secs(5), first_byte: Duration::from_secs(30), total: Duration::from_secs(300) }
    }
}

/// One provider in the chain.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderConfig {
    /// A name for logs, errors and usage records (`openai`, `anthropic`, `openai-large`); unique in a chain.
    pub name: String,
    /// The API it speaks.
    pub kind: ProviderKind,
    /// Its key.
    pub api_key: ApiKey,
    /// The model (`gpt-4o-mini`, `claude-sonnet-4-5`).
    pub model: String,
    /// The API base without `/v1` (`https://api.openai.com`); a trailing `/v1` is accepted and dropped.
    pub base_url: String,
    /// Timeouts of each call.
    pub timeouts: Timeouts,
    /// The model's context window in tokens: a context-length error falls back to a provider with a larger one.
    pub context_window: u32,
    /// The output limit when the request sets none (Anthropic requires one).
    pub max_tokens: u32,
}

impl ProviderConfig {
    /// OpenAI's API with its defaults.
    pub fn openai(api_key: ApiKey, model: impl Into<String>) -> Self {
        Self {
            name: "openai".to_owned(),
            kind: ProviderKind::OpenAi,
            api_key,
            model: model.into(),
            base_url: OPENAI_BASE_URL.to_owned(),
            timeouts: Timeouts::default(),
            context_window: 128_000,
            max_tokens: 1024,
        }
    }

    /// Anthropic's API with its defaults.
    pub fn anthropic(api_key: ApiKey, model: impl Into<String>) -> Self {
        Self {
            name: "anthropic".to_owned(),
            kind: ProviderKind::Anthropic,
            api_key,
            model: model.into(),
            base_url: ANTHROPIC_BASE_URL.to_owned(),
            timeouts: Timeouts::default(),
            context_window: 200_000,
            max_tokens: 1024,
        }
    }

    /// `base_url` without a trailing `/` or `/v1`, so `{base}/v1/...` is always right.
    pub(crate) fn api_root(&self) -> &str {
        let base = self.base_url.trim_end_matches('/');
        base.strip_suffix("/v1").unwrap_or(base)
    }
}

const OPENAI_BASE_URL: &str = "https://api.openai.com";
const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
const OPENAI_MODEL: &str = "gpt-4o-mini";
const ANTHROPIC_MODEL: &str = "claude-sonnet-4-5";

/// The providers configured in the environment, in chain order; empty when no key is set (the caller then uses
/// its offline provider).
///
/// | variable | meaning | default |
/// |---|---|---|
/// | `OPENAI_API_KEY` | enables OpenAI | unset |
/// | `OPENAI_BASE_URL` | API base (with or without `/v1`) | `https://api.openai.com` |
/// | `OPENAI_MODEL` | model | `gpt-4o-mini` |
/// | `OPENAI_CONTEXT_WINDOW` | context window, tokens | `128000` |
/// | `ANTHROPIC_API_KEY` | enables Anthropic | unset |
/// | `ANTHROPIC_BASE_URL` | API base | `https://api.anthropic.com` |
/// | `ANTHROPIC_MODEL` | model | `claude-sonnet-4-5` |
/// | `ANTHROPIC_CONTEXT_WINDOW` | context window, tokens | `200000` |
/// | `SWITCHBOARD_MODEL_ORDER` | chain order, comma-separated names | `openai,anthropic` |
/// | `SWITCHBOARD_MODEL_FIRST_BYTE_TIMEOUT_SECS` | first-byte timeout | `30` |
/// | `SWITCHBOARD_MODEL_TOTAL_TIMEOUT_SECS` | total timeout | `300` |
/// | `SWITCHBOARD_MODEL_MAX_TOKENS` | default output limit | `1024` |
pub fn providers_from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Vec<ProviderConfig>, ModelError> {
    let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let number = |name: &str, default: u64| -> Result<u64, ModelError> {
        match get(name) {
            None => Ok(default),
            Some(v) => v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| ModelError::Config {
                variable: name.to_owned(),
                message: format!("expected a positive whole number, got {v:?}"),
            }),
        }
    };
    let timeouts = Timeouts {
        first_byte: Duration::from_secs(number("SWITCHBOARD_MODEL_FIRST_BYTE_TIMEOUT_SECS", 30)?),
        total: Duration::from_secs(number("SWITCHBOARD_MODEL_TOTAL_TIMEOUT_SECS", 300)?),
        ..Timeouts::default()
    };
    let max_tokens = u32::try_from(number("SWITCHBOARD_MODEL_MAX_TOKENS", 1024)?).unwrap_or(u32::MAX);
    let window = |name: &str, default: u64| -> Result<u32, ModelError> {
        Ok(u32::try_from(number(name, default)?).unwrap_or(u32::MAX))
    };

    let mut found = Vec::new();
    if let Some(key) = get("OPENAI_API_KEY") {
        let mut config = ProviderConfig::openai(ApiKey::new(key), get("OPENAI_MODEL").unwrap_or(OPENAI_MODEL.into()));
        config.base_url = get("OPENAI_BASE_URL").unwrap_or(OPENAI_BASE_URL.into());
        config.context_window = window("OPENAI_CONTEXT_WINDOW", 128_000)?;
        found.push(config);
    }
    if let Some(key) = get("ANTHROPIC_API_KEY") {
        let model = get("ANTHROPIC_MODEL").unwrap_or(ANTHROPIC_MODEL.into());
        let mut config = ProviderConfig::anthropic(ApiKey::new(key), model);
        config.base_url = get("ANTHROPIC_BASE_URL").unwrap_or(ANTHROPIC_BASE_URL.into());
        config.context_window = window("ANTHROPIC_CONTEXT_WINDOW", 200_000)?;
        found.push(config);
    }
    for config in &mut found {
        config.timeouts = timeouts;
        config.max_tokens = max_tokens;
        if !config.base_url.starts_with("http://") && !config.base_url.starts_with("https://") {
            return Err(ModelError::Config {
                variable: format!("{}_BASE_URL", config.name.to_uppercase()),
                message: format!("expected an http:// or https:// URL, got {:?}", config.base_url),
            });
        }
    }

    let Some(order) = get("SWITCHBOARD_MODEL_ORDER") else { return Ok(found) };
    let mut ordered = Vec::new();
    for name in order.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match found.iter().position(|c| c.name == name) {
            Some(at) => ordered.push(found.remove(at)),
            None => {
                return Err(ModelError::Config {
                    variable: "SWITCHBOARD_MODEL_ORDER".to_owned(),
                    message: format!("{name:?} is not a configured provider (set its API key, or remove it)"),
                });
            }
        }
    }
    // Configured providers left out of the order still serve, last.
    ordered.extend(found);
    Ok(ordered)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn keys_enable_providers_in_the_configured_order() {
        let found = providers_from_env(env(&[
            ("OPENAI_API_KEY", "sk-one"),
            ("ANTHROPIC_API_KEY", "sk-ant-two"),
            ("ANTHROPIC_MODEL", "claude-haiku-4-5"),
            ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/"),
            ("SWITCHBOARD_MODEL_ORDER", "anthropic"),
            ("SWITCHBOARD_MODEL_FIRST_BYTE_TIMEOUT_SECS", "7"),
        ]))
        .unwrap();
        let names: Vec<_> = found.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["anthropic", "openai"]);
        assert_eq!(found[0].model, "claude-haiku-4-5");
        assert_eq!(found[1].api_root(), "http://127.0.0.1:9");
        assert_eq!(found[1].timeouts.first_byte, Duration::from_secs(7));
    }

    #[test]
    fn no_key_means_no_provider_and_bad_values_name_their_variable() {
        assert!(providers_from_env(env(&[])).unwrap().is_empty());
        let bad = providers_from_env(env(&[("OPENAI_API_KEY", "k"), ("OPENAI_CONTEXT_WINDOW", "lots")]));
        assert!(matches!(bad, Err(ModelError::Config { variable, .. }) if variable == "OPENAI_CONTEXT_WINDOW"));
        let unknown = providers_from_env(env(&[("OPENAI_API_KEY", "k"), ("SWITCHBOARD_MODEL_ORDER", "gemini")]));
        assert!(matches!(unknown, Err(ModelError::Config { variable, .. }) if variable == "SWITCHBOARD_MODEL_ORDER"));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let config = ProviderConfig::openai(ApiKey::new("sk-secret-value"), "gpt-4o-mini");
        let shown = format!("{config:?}");
        assert!(!shown.contains("sk-secret-value"), "{shown}");
        assert!(shown.contains("ApiKey(***)"));
    }
}
