//! The Anthropic Messages client: `POST {base}/v1/messages` with `x-api-key` and `anthropic-version`, whole or
//! streamed (`message_start`, `content_block_start` for `text` / `tool_use`, `content_block_delta` with
//! `text_delta` / `input_json_delta`, `content_block_stop`, `message_delta` with usage and stop reason,
//! `message_stop`; `ping` skipped, `error` raised). Tool results go back as `tool_result` blocks of a user turn.
//! Error bodies are `{"type":"error","error":{"type","message"}}`; 529 is `overloaded_error`.

use std::collections::HashMap;

use futures::FutureExt;
use futures::future::BoxFuture;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::chat::{ChatRequest, ChatResponse, Message, StopReason, ToolCall, ToolChoice, Usage};
use crate::config::ProviderConfig;
use crate::error::ModelError;
use crate::http::{self, Deadlines};
use crate::provider::{ChatModel, http_client, key_header};
use crate::sse::SseEvent;
use crate::stream::{self, ChatStream, EventDecoder, StreamEvent};
use crate::tool_args::ToolCallAssembler;

/// The API version every request names.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// A client of one Anthropic endpoint and model.
pub struct AnthropicClient {
    config: ProviderConfig,
    http: reqwest::Client,
    /// The `x-api-key` value, marked sensitive.
    api_key: HeaderValue,
}

impl AnthropicClient {
    /// A client for `config`.
    pub fn new(config: ProviderConfig) -> Result<Self, ModelError> {
        let http = http_client(&config)?;
        let api_key = key_header(&config, config.api_key.expose().to_owned())?;
        Ok(Self { config, http, api_key })
    }

    fn request(&self, request: &ChatRequest, stream: bool) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/v1/messages", self.config.api_root()))
            .header("x-api-key", self.api_key.clone())
            .header("anthropic-version", ANTHROPIC_VERSION)
            .json(&request_body(&self.config, request, stream))
    }

    async fn chat_once(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError> {
        let deadlines = Deadlines::start(self.config.timeouts);
        let name = &self.config.name;
        let response = http::send(name, self.request(request, false), &deadlines, read_error).await?;
        let message: WireMessage = http::json_body(name, response, &deadlines).await?;
        Ok(message.into_response())
    }

    async fn stream_once(&self, request: &ChatRequest) -> Result<ChatStream, ModelError> {
        let deadlines = Deadlines::start(self.config.timeouts);
        let name = self.config.name.clone();
        let response = http::send(&name, self.request(request, true), &deadlines, read_error).await?;
        let decoder = MessageDecoder { provider: name.clone(), ..MessageDecoder::default() };
        Ok(stream::drive(name, response, decoder, deadlines))
    }
}

impl ChatModel for AnthropicClient {
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
    // Messages alternate user/assistant: tool results are user blocks, and consecutive same-role turns merge (all
    // results of one assistant turn must come back in one user message).
    let mut messages: Vec<(&str, Vec<Value>)> = Vec::new();
    for message in &request.messages {
        let (role, blocks) = match message {
            Message::User { text } => ("user", vec![json!({"type": "text", "text": text})]),
            Message::Assistant { text, tool_calls } => {
                let mut blocks = Vec::new();
                if !text.is_empty() {
                    blocks.push(json!({"type": "text", "text": text}));
                }
                blocks.extend(tool_calls.iter().map(
                    |call| json!({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}),
                ));
                ("assistant", blocks)
            }
            Message::ToolResult { call_id, content, is_error } => (
                "user",
                vec![json!({"type": "tool_result", "tool_use_id": call_id, "content": content, "is_error": is_error})],
            ),
        };
        match messages.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => messages.push((role, blocks)),
        }
    }
    let messages: Vec<Value> =
        messages.into_iter().map(|(role, content)| json!({"role": role, "content": content})).collect();
    let mut body = json!({
        "model": config.model,
        "max_tokens": request.max_tokens.unwrap_or(config.max_tokens),
        "messages": messages,
        "stream": stream,
    });
    if let Some(system) = &request.system {
        body["system"] = json!(system);
    }
    if let Some(temperature) = request.temperature {
        body["temperature"] = json!(temperature);
    }
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| json!({"name": tool.name, "description": tool.description, "input_schema": tool.parameters}))
            .collect();
        body["tools"] = Value::Array(tools);
        body["tool_choice"] = match &request.tool_choice {
            ToolChoice::Auto => json!({"type": "auto"}),
            ToolChoice::None => json!({"type": "none"}),
            ToolChoice::Required => json!({"type": "any"}),
            ToolChoice::Tool(name) => json!({"type": "tool", "name": name}),
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
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    details: Option<Value>,
}

impl ErrorBody {
    fn into_error(self, provider: &str, status: Option<u16>, headers: &HeaderMap, raw: &str) -> ModelError {
        let spend_limit = self
            .details
            .as_ref()
            .and_then(|d| d.get("error_code"))
            .and_then(Value::as_str)
            .is_some_and(|code| code == "enforced_spend_limit_reached");
        let message = self.message.unwrap_or_else(|| http::raw_message(status.unwrap_or(0), raw));
        // A prepaid account out of credit answers 400 "Your credit balance is too low…": billing, not the request.
        let quota = spend_limit || self.kind.as_deref() == Some("billing_error") || message.contains("credit balance");
        let context_length = message.contains("prompt is too long") || message.contains("context window");
        let error = http::api_error(provider, status, headers, self.kind, message);
        if status.is_none() && !quota && !context_length {
            // An `error` event inside a 200 stream names its class by type only.
            return match error.code.as_deref() {
                Some("overloaded_error") => ModelError::Overloaded(error),
                Some("rate_limit_error") => ModelError::RateLimited(error),
                Some("invalid_request_error") => ModelError::InvalidRequest(error),
                Some("authentication_error" | "permission_error") => ModelError::Auth(error),
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
struct WireMessage {
    #[serde(default)]
    content: Vec<Block>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
}

fn stop_reason(reason: &str) -> StopReason {
    match reason {
        "end_turn" => StopReason::EndTurn,
        "tool_use" => StopReason::ToolUse,
        "max_tokens" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "refusal" => StopReason::Refusal,
        other => StopReason::Other(other.to_owned()),
    }
}

impl WireMessage {
    fn into_response(self) -> ChatResponse {
        let mut text = String::new();
        let mut tool_calls = Vec::new();
        for block in self.content {
            match block {
                Block::Text { text: t } => text.push_str(&t),
                Block::ToolUse { id, name, input } => {
                    let arguments = if input.is_null() { json!({}) } else { input };
                    tool_calls.push(ToolCall { id, name, arguments });
                }
                Block::Other => {}
            }
        }
        let stop_reason = self.stop_reason.as_deref().map_or(StopReason::EndTurn, stop_reason);
        let usage = Usage {
            input_tokens: self.usage.input_tokens.unwrap_or(0),
            output_tokens: self.usage.output_tokens.unwrap_or(0),
        };
        ChatResponse { text, tool_calls, stop_reason, usage }
    }
}

// === streams ===

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    MessageStart {
        message: StartMessage,
    },
    ContentBlockStart {
        index: usize,
        content_block: StartBlock,
    },
    ContentBlockDelta {
        index: usize,
        delta: BlockDelta,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        #[serde(default)]
        delta: MessageDeltaBody,
        #[serde(default)]
        usage: WireUsage,
    },
    MessageStop,
    Ping,
    Error {
        error: ErrorBody,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize)]
struct StartMessage {
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StartBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
struct MessageDeltaBody {
    #[serde(default)]
    stop_reason: Option<String>,
}

/// What a content block is, by its stream index.
enum BlockKind {
    Text,
    /// A tool call, with its index among the response's tool calls (0, 1, …), not its block index.
    Tool(usize),
    Other,
}

/// The state of one streamed message.
#[derive(Default)]
struct MessageDecoder {
    provider: String,
    blocks: HashMap<usize, BlockKind>,
    calls: ToolCallAssembler,
    next_call: usize,
    usage: Usage,
    stop_reason: Option<StopReason>,
}

impl EventDecoder for MessageDecoder {
    fn event(&mut self, event: SseEvent, out: &mut Vec<StreamEvent>) -> Result<bool, ModelError> {
        let parsed: Event = serde_json::from_str(&event.data).map_err(|e| self.protocol(format!("{e}")))?;
        match parsed {
            Event::MessageStart { message } => {
                self.usage.input_tokens = message.usage.input_tokens.unwrap_or(0);
                self.usage.output_tokens = message.usage.output_tokens.unwrap_or(0);
                // Input tokens are spent from here on, even if the stream breaks before `message_delta`.
                out.push(StreamEvent::Usage(self.usage));
            }
            Event::ContentBlockStart { index, content_block } => {
                let kind = match content_block {
                    StartBlock::Text { text } => {
                        if !text.is_empty() {
                            out.push(StreamEvent::TextDelta(text));
                        }
                        BlockKind::Text
                    }
                    StartBlock::ToolUse { id, name } => {
                        let call = self.next_call;
                        self.next_call += 1;
                        self.calls.start(&self.provider, call, id.clone(), name.clone())?;
                        out.push(StreamEvent::ToolCallStart { index: call, id, name });
                        BlockKind::Tool(call)
                    }
                    StartBlock::Other => BlockKind::Other,
                };
                if self.blocks.insert(index, kind).is_some() {
                    return Err(self.protocol(format!("content block {index} started twice")));
                }
            }
            Event::ContentBlockDelta { index, delta } => match (self.blocks.get(&index), delta) {
                (None, _) => return Err(self.protocol(format!("a delta for content block {index}, never started"))),
                (Some(BlockKind::Text), BlockDelta::TextDelta { text }) => out.push(StreamEvent::TextDelta(text)),
                (Some(BlockKind::Tool(call)), BlockDelta::InputJsonDelta { partial_json }) => {
                    let call = *call;
                    if !partial_json.is_empty() {
                        self.calls.push(&self.provider, call, &partial_json)?;
                        out.push(StreamEvent::ToolCallDelta { index: call, fragment: partial_json });
                    }
                }
                // Thinking and signature deltas, or blocks we do not read.
                _ => {}
            },
            Event::ContentBlockStop { index } => {
                if let Some(BlockKind::Tool(call)) = self.blocks.get(&index) {
                    let call = *call;
                    let done = self.calls.finish(&self.provider, call)?;
                    out.push(StreamEvent::ToolCallEnd { index: call, call: done });
                }
            }
            Event::MessageDelta { delta, usage } => {
                if let Some(reason) = delta.stop_reason {
                    self.stop_reason = Some(stop_reason(&reason));
                }
                // `message_delta.usage` is cumulative; input tokens appear here only sometimes.
                if let Some(input) = usage.input_tokens {
                    self.usage.input_tokens = input;
                }
                if let Some(output) = usage.output_tokens {
                    self.usage.output_tokens = output;
                }
                out.push(StreamEvent::Usage(self.usage));
            }
            Event::MessageStop => {
                for (index, call) in self.calls.finish_all(&self.provider)? {
                    out.push(StreamEvent::ToolCallEnd { index, call });
                }
                let stop_reason = self.stop_reason.take().unwrap_or(StopReason::EndTurn);
                out.push(StreamEvent::Finished { stop_reason });
                return Ok(true);
            }
            Event::Error { error } => {
                return Err(error.into_error(&self.provider, None, &HeaderMap::new(), &event.data));
            }
            Event::Ping | Event::Unknown => {}
        }
        Ok(false)
    }
}

impl MessageDecoder {
    fn protocol(&self, message: String) -> ModelError {
        ModelError::Protocol { provider: self.provider.clone(), message: format!("stream event: {message}") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ApiKey;

    #[test]
    fn tool_results_merge_into_one_user_turn() {
        let config = ProviderConfig::anthropic(ApiKey::new("k"), "claude-sonnet-4-5");
        let calls = vec![
            ToolCall { id: "toolu_1".into(), name: "a".into(), arguments: json!({}) },
            ToolCall { id: "toolu_2".into(), name: "b".into(), arguments: json!({"x": 1}) },
        ];
        let request = ChatRequest {
            system: Some("sys".into()),
            messages: vec![
                Message::user("hi"),
                Message::Assistant { text: "Looking.".into(), tool_calls: calls },
                Message::tool_result("toolu_1", "1"),
                Message::ToolResult { call_id: "toolu_2".into(), content: "boom".into(), is_error: true },
            ],
            tool_choice: ToolChoice::Required,
            ..ChatRequest::default()
        };
        let body = request_body(&config, &request, false);
        assert_eq!(body["system"], json!("sys"));
        assert_eq!(body["messages"].as_array().map(Vec::len), Some(3));
        assert_eq!(
            body["messages"][1]["content"][2],
            json!({"type": "tool_use", "id": "toolu_2", "name": "b", "input": {"x": 1}})
        );
        assert_eq!(body["messages"][2]["content"][1]["is_error"], json!(true));
        assert!(body.get("tool_choice").is_none(), "no tools, no tool_choice");
    }

    #[test]
    fn spend_limit_429_is_quota_and_prompt_too_long_is_context_length() {
        let spend = r#"{"type":"error","error":{"type":"rate_limit_error","message":"spend limit","details":{"error_code":"enforced_spend_limit_reached"}}}"#;
        let long = r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#;
        let overloaded = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert!(matches!(read_error("p", 429, &HeaderMap::new(), spend), ModelError::QuotaExhausted(_)));
        assert!(matches!(read_error("p", 400, &HeaderMap::new(), long), ModelError::ContextLengthExceeded(_)));
        assert!(matches!(read_error("p", 529, &HeaderMap::new(), overloaded), ModelError::Overloaded(_)));
    }
}
