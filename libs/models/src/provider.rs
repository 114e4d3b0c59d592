//! [`ChatModel`]: what the chain needs from a provider — one call, whole or streamed. The two HTTP clients
//! implement it; so can an offline or scripted provider of the caller's own.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::anthropic::AnthropicClient;
use crate::chat::{ChatRequest, ChatResponse, ProviderKind};
use crate::config::ProviderConfig;
use crate::error::ModelError;
use crate::openai::OpenAiClient;
use crate::stream::ChatStream;

/// One provider: a single attempt per call, no retries (the chain is the only retry loop).
pub trait ChatModel: Send + Sync {
    /// The configured name (logs, errors, usage records).
    fn name(&self) -> &str;

    /// The model it calls.
    fn model(&self) -> &str;

    /// Its context window in tokens.
    fn context_window(&self) -> u32;

    /// The output limit it sends when a request sets none ([`ChatRequest::max_tokens`]).
    fn max_output_tokens(&self) -> u32;

    /// One call, answered whole.
    fn chat<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse, ModelError>>;

    /// One streamed call: resolves once the provider accepted the request (2xx); output then arrives on the
    /// stream.
    fn stream<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatStream, ModelError>>;
}

/// The HTTP client for a configured provider.
pub fn connect(config: ProviderConfig) -> Result<Arc<dyn ChatModel>, ModelError> {
    Ok(match config.kind {
        ProviderKind::OpenAi => Arc::new(OpenAiClient::new(config)?),
        ProviderKind::Anthropic => Arc::new(AnthropicClient::new(config)?),
    })
}

/// The key as a header value, marked sensitive so `Debug` of the request and HTTP/2 header compression never show
/// it; a key that cannot be a header (a pasted newline) is a configuration error found at start, not per call.
pub(crate) fn key_header(config: &ProviderConfig, value: String) -> Result<reqwest::header::HeaderValue, ModelError> {
    let mut header = reqwest::header::HeaderValue::from_str(&value).map_err(|_| ModelError::Config {
        variable: format!("{}_API_KEY", config.name.to_uppercase().replace('-', "_")),
        message: "the key contains characters that cannot go in an HTTP header (a stray newline or space?)".into(),
    })?;
    header.set_sensitive(true);
    Ok(header)
}

/// The `reqwest` client of one provider: connect timeout from its config; the other deadlines are per call.
pub(crate) fn http_client(config: &ProviderConfig) -> Result<reqwest::Client, ModelError> {
    reqwest::Client::builder()
        .connect_timeout(config.timeouts.connect)
        .build()
        .map_err(|e| ModelError::Config { variable: format!("{} HTTP client", config.name), message: e.to_string() })
}
