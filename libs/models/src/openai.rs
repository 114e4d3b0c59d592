//! The OpenAI Chat Completions client: `POST {base}/v1/chat/completions` with `Authorization: Bearer`, whole or
//! streamed (`data:` chunks with `choices[].delta.content` and `delta.tool_calls[index]` argument fragments, a
//! usage chunk thanks to `stream_options.include_usage`, then `data: [DONE]`). Error bodies are
//! `{"error": {"message", "type", "param", "code"}}`; a 429 with `insufficient_quota` is billing, not rate.

use futures::FutureExt;
use futures::future::BoxFuture;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::chat::{ChatRequest, ChatResponse, Message, StopReason, ToolChoice, Usage};
use crate::config::ProviderConfig;
use crate::error::ModelError;
use crate::http::{self, Deadlines};
use crate::provider::{ChatModel, http_client, key_header};
use crate::sse::SseEvent;
use crate::stream::{self, ChatStream, EventDecoder, StreamEvent};
use crate::tool_args::{ToolCallAssembler, parse_call};

/// A client of one OpenAI-compatible endpoint and model.
pub struct OpenAiClient {
    config: ProviderConfig,
    http: reqwest::Client,
    /// `Bearer <key>`, marked sensitive.
    authorization: HeaderValue,
}

impl OpenAiClient {
    /// A client for `config` (whose `kind` is not checked: any OpenAI-compatible server will do).
    pub fn new(config: ProviderConfig) -> Result<Self, ModelError> {
        let http = http_client(&config)?;
        let authorization = key_header(&config, format!("Bearer {}", config.api_key.expose()))?;
        Ok(Self { config, http, authorization })
    }

    fn request(&self, request: &ChatRequest, stream: bool) -> reqwest::RequestBuilder {
        let body = request_body(&self.config, request, stream);
        self.http
            .post(format!("{}/v1/chat/completions", self.config.api_root()))
            .header(AUTHORIZATION, self.authorization.clone())
            .json(&body)
    }

    async fn chat_once(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError> {
        let deadlines = Deadlines::start(self.config.timeouts);
        let name = &self.config.name;
        let response = http::send(name, self.request(request, false), &deadlines, read_error).await?;
        let completion: Completion = http::json_body(name, response, &deadlines).await?;
        completion.into_response(name)
    }

    async fn stream_once(&self, request: &ChatRequest) -> Result<ChatStream, ModelError> {
        let deadlines = Deadlines::start(self.config.timeouts);
        let name = self.config.name.clone();
        let response = http::send(&name, self.request(request, true), &deadlines, read_error).await?;
        let decoder = ChunkDecoder { provider: name.clone(), ..ChunkDecoder::default() };
        Ok(stream::drive(name, response, decoder, deadlines))
    }
}

impl ChatModel for OpenAiClient {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn model(&self) -> &str {
        &self.config.model
    }

    fn context_window(&self) -> u32 {
        self.config.context_window
    }

    fn max_output_tokens(&self) -> u32 {
        self.config.max_tokens
    }

    fn chat<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse, ModelError>> {
        self.chat_once(request).boxed()
    }

    fn stream<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatStream, ModelError>> {
        self.stream_once(request).boxed()
    }
}

// === request ===

fn request_body(config: &ProviderConfig, request: &ChatRequest, stream: bool) -> Value {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if let Some(system) = &request.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    for message in &request.messages {
        messages.push(match message {
            Message::User { text } => json!({"role": "user", "content": text}),
            Message::Assistant { text, tool_calls } => {
                let mut turn =
                    json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }});
                if !tool_calls.is_empty() {
                    let calls: Vec<Value> = tool_calls
                        .iter()
                        .map(|call| {
                            json!({"id": call.id, "type": "function",
                                   "function": {"name": call.name, "arguments": call.arguments.to_string()}})
                        })
                        .collect();
                    turn["tool_calls"] = Value::Array(calls);
                }
                turn
            }
            Message::ToolResult { call_id, content, .. } => {
                json!({"role": "tool", "tool_call_id": call_id, "content": content})
            }
        });
    }
    let mut body = json!({
        "model": config.model,
        "messages": messages,
        "max_completion_tokens": request.max_tokens.unwrap_or(config.max_tokens),
        "stream": stream,
    });
    if stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    if let Some(temperature) = request.temperature {
        body["temperature"] = json!(temperature);
    }
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| {
                json!({"type": "function",
                       "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters}})
            })
            .collect();
        body["tools"] = Value::Array(tools);
        body["tool_choice"] = match &request.tool_choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
        };
    }
    body
}

// === errors ===

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<Value>,
}

impl ErrorBody {
    /// `code` is usually a string but has been a number; either way it is the more specific name.
    fn code(&self) -> Option<String> {
        match &self.code {
            Some(Value::String(code)) => Some(code.clone()),
            Some(Value::Number(code)) => Some(code.to_string()),
            _ => self.kind.clone(),
        }
    }

    fn into_error(self, provider: &str, status: Option<u16>, headers: &HeaderMap, raw: &str) -> ModelError {
        let code = self.code();
        let named = |name: &str| code.as_deref() == Some(name) || self.kind.as_deref() == Some(name);
        let quota = named("insufficient_quota");
        let message = self.message.clone().unwrap_or_else(|| http::raw_message(status.unwrap_or(0), raw));
        let context_length = named("context_length_exceeded") || message.contains("maximum context length");
        let error = http::api_error(provider, status, headers, code, message);
        if status.is_none() && !quota && !context_length {
            // An error event inside a 200 stream names its class by type only.
            return match error.code.as_deref() {
                Some("rate_limit_exceeded" | "requests" | "tokens") => ModelError::RateLimited(error),
                Some("invalid_request_error") => ModelError::InvalidRequest(error),
                _ => ModelError::Server(error),
            };
        }
        http::classify(error, quota, context_length)
    }
}

fn read_error(provider: &str, status: u16, headers: &HeaderMap, body: &str) -> ModelError {
    let parsed = serde_json::from_str::<ErrorEnvelope>(body).map(|e| e.error).unwrap_or_default();
    parsed.into_error(provider, Some(status), headers, body)
}

// === whole responses ===

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: AssistantMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct AssistantMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
}

#[derive(Deserialize)]
struct WireToolCall {
    id: String,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

#[derive(Deserialize, Clone, Copy)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        Self { input_tokens: u.prompt_tokens, output_tokens: u.completion_tokens }
    }
}

fn stop_reason(finish_reason: &str) -> StopReason {
    match finish_reason {
        "stop" => StopReason::EndTurn,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "length" => StopReason::MaxTokens,
        "content_filter" => StopReason::Refusal,
        other => StopReason::Other(other.to_owned()),
    }
}

impl Completion {
    fn into_response(self, provider: &str) -> Result<ChatResponse, ModelError> {
        let usage = self.usage.map(Usage::from).unwrap_or_default();
        let Some(choice) = self.choices.into_iter().next() else {
            let message = "the completion has no choices".to_owned();
            return Err(ModelError::Protocol { provider: provider.to_owned(), message });
        };
        let tool_calls = choice
            .message
            .tool_calls
            .into_iter()
            .enumerate()
            .map(|(index, call)| parse_call(provider, index, call.id, call.function.name, &call.function.arguments))
            .collect::<Result<Vec<_>, _>>()?;
        let text = choice.message.content.or(choice.message.refusal).unwrap_or_default();
        let stop_reason = match choice.finish_reason.as_deref() {
            Some(reason) => stop_reason(reason),
            None if tool_calls.is_empty() => StopReason::EndTurn,
            None => StopReason::ToolUse,
        };
        Ok(ChatResponse { text, tool_calls, stop_reason, usage })
    }
}

// === streams ===

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Vec<DeltaToolCall>,
}

#[derive(Deserialize)]
struct DeltaToolCall {
    index: usize,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<DeltaFunction>,
}

#[derive(Deserialize)]
struct DeltaFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

/// The state of one streamed completion.
#[derive(Default)]
struct ChunkDecoder {
    provider: String,
    calls: ToolCallAssembler,
    any_call: bool,
    stop_reason: Option<StopReason>,
}

impl EventDecoder for ChunkDecoder {
    fn event(&mut self, event: SseEvent, out: &mut Vec<StreamEvent>) -> Result<bool, ModelError> {
        if event.data.trim() == "[DONE]" {
            // Calls still open here had no finish_reason chunk; they end with the stream.
            self.end_calls(out)?;
            let stop_reason = self.stop_reason.take().unwrap_or(if self.any_call {
                StopReason::ToolUse
            } else {
                StopReason::EndTurn
            });
            out.push(StreamEvent::Finished { stop_reason });
            return Ok(true);
        }
        let chunk: Chunk = serde_json::from_str(&event.data).map_err(|e| ModelError::Protocol {
            provider: self.provider.clone(),
            message: format!("a stream chunk is not the documented JSON: {e}"),
        })?;
        if let Some(error) = chunk.error {
            return Err(error.into_error(&self.provider, None, &HeaderMap::new(), &event.data));
        }
        // One choice is requested (no `n`), so only index 0 exists.
        if let Some(choice) = chunk.choices.into_iter().next() {
            if let Some(delta) = choice.delta {
                self.delta(delta, out)?;
            }
            if let Some(reason) = choice.finish_reason {
                self.end_calls(out)?;
                self.stop_reason = Some(stop_reason(&reason));
            }
        }
        if let Some(usage) = chunk.usage {
            out.push(StreamEvent::Usage(usage.into()));
        }
        Ok(false)
    }
}

impl ChunkDecoder {
    fn delta(&mut self, delta: Delta, out: &mut Vec<StreamEvent>) -> Result<(), ModelError> {
        for text in [delta.content, delta.refusal].into_iter().flatten().filter(|t| !t.is_empty()) {
            out.push(StreamEvent::TextDelta(text));
        }
        for call in delta.tool_calls {
            let (name, fragment) = match call.function {
                Some(function) => (function.name, function.arguments),
                None => (None, None),
            };
            if !self.calls.is_open(call.index) {
                let (Some(id), Some(name)) = (call.id, name) else {
                    return Err(ModelError::Protocol {
                        provider: self.provider.clone(),
                        message: format!("tool call {} began without an id and a name", call.index),
                    });
                };
                self.calls.start(&self.provider, call.index, id.clone(), name.clone())?;
                self.any_call = true;
                out.push(StreamEvent::ToolCallStart { index: call.index, id, name });
            }
            if let Some(fragment) = fragment.filter(|f| !f.is_empty()) {
                self.calls.push(&self.provider, call.index, &fragment)?;
                out.push(StreamEvent::ToolCallDelta { index: call.index, fragment });
            }
        }
        Ok(())
    }

    fn end_calls(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ModelError> {
        for (index, call) in self.calls.finish_all(&self.provider)? {
            out.push(StreamEvent::ToolCallEnd { index, call });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{ToolCall, ToolSpec};
    use crate::config::ApiKey;

    #[test]
    fn the_request_carries_tools_choice_and_the_tool_turn() {
        let config = ProviderConfig::openai(ApiKey::new("k"), "gpt-4o-mini");
        let request = ChatRequest {
            system: Some("You are the ops assistant.".into()),
            messages: vec![
                Message::user("Show my open orders"),
                Message::Assistant {
                    text: String::new(),
                    tool_calls: vec![ToolCall {
                        id: "call_1".into(),
                        name: "list_orders".into(),
                        arguments: json!({"status": "open"}),
                    }],
                },
                Message::tool_result("call_1", "[]"),
            ],
            tools: vec![ToolSpec {
                name: "list_orders".into(),
                description: "List orders".into(),
                parameters: json!({"type": "object"}),
            }],
            tool_choice: ToolChoice::Tool("list_orders".into()),
            ..ChatRequest::default()
        };
        let body = request_body(&config, &request, true);
        assert_eq!(body["messages"][0], json!({"role": "system", "content": "You are the ops assistant."}));
        assert_eq!(body["messages"][2]["tool_calls"][0]["function"]["arguments"], json!("{\"status\":\"open\"}"));
        assert_eq!(body["messages"][3], json!({"role": "tool", "tool_call_id": "call_1", "content": "[]"}));
        assert_eq!(body["tools"][0]["function"]["parameters"], json!({"type": "object"}));
        assert_eq!(body["tool_choice"], json!({"type": "function", "function": {"name": "list_orders"}}));
        assert_eq!(body["stream_options"], json!({"include_usage": true}));
    }

    #[test]
    fn quota_and_rate_limit_429s_are_told_apart() {
        let quota = r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        let rate =
            r#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
        assert!(matches!(read_error("p", 429, &HeaderMap::new(), quota), ModelError::QuotaExhausted(_)));
        assert!(matches!(read_error("p", 429, &HeaderMap::new(), rate), ModelError::RateLimited(_)));
        assert!(matches!(read_error("p", 502, &HeaderMap::new(), "<html>bad gateway</html>"), ModelError::Server(_)));
    }
}
