//! The provider-neutral conversation: what a caller sends ([`ChatRequest`]: system prompt, messages with roles,
//! tools with JSON Schema parameters) and what a finished call returns ([`ChatResponse`]: text, tool calls with ids
//! and JSON arguments, usage, stop reason). Each provider module translates these to and from its own wire format.

use std::fmt;

use serde_json::Value;

/// Which API a provider speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// OpenAI Chat Completions (`POST {base}/v1/chat/completions`), or a server compatible with it.
    OpenAi,
    /// Anthropic Messages (`POST {base}/v1/messages`).
    Anthropic,
}

impl ProviderKind {
    /// The name used in logs, errors and usage records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who said a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The person asking.
    User,
    /// The model.
    Assistant,
    /// The result of a tool the model called.
    Tool,
}

/// One turn of the conversation. The system prompt is not a message: it is [`ChatRequest::system`].
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// Text from the person asking.
    User {
        /// What they wrote.
        text: String,
    },
    /// An earlier model turn: its text and the tools it called, sent back so the model sees its own calls.
    Assistant {
        /// The text it wrote (empty if it only called tools).
        text: String,
        /// The tools it called, in order.
        tool_calls: Vec<ToolCall>,
    },
    /// The result of one tool call.
    ToolResult {
        /// The [`ToolCall::id`] this answers.
        call_id: String,
        /// The result, usually JSON text.
        content: String,
        /// Whether the tool failed (Anthropic's `is_error`; OpenAI has no such field and gets the text only).
        is_error: bool,
    },
}

impl Message {
    /// A user message.
    pub fn user(text: impl Into<String>) -> Self {
        Self::User { text: text.into() }
    }

    /// A successful tool result.
    pub fn tool_result(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self::ToolResult { call_id: call_id.into(), content: content.into(), is_error: false }
    }

    /// The assistant turn a finished call produced, to send back with the tool results.
    pub fn from_response(response: &ChatResponse) -> Self {
        Self::Assistant { text: response.text.clone(), tool_calls: response.tool_calls.clone() }
    }

    /// Who said it.
    pub fn role(&self) -> Role {
        match self {
            Self::User { .. } => Role::User,
            Self::Assistant { .. } => Role::Assistant,
            Self::ToolResult { .. } => Role::Tool,
        }
    }
}

/// A tool the model may call.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolSpec {
    /// Its name (`^[a-zA-Z0-9_-]{1,64}$` for both providers).
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// Its arguments as a JSON Schema object.
    pub parameters: Value,
}

/// Whether and which tools the model must call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides (the default).
    #[default]
    Auto,
    /// No tool calls.
    None,
    /// At least one tool call (OpenAI `required`, Anthropic `any`).
    Required,
    /// This tool.
    Tool(String),
}

/// A tool call the model made: the arguments are already parsed and known to be JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    /// The provider's id for the call (`call_…`, `toolu_…`); tool results refer to it.
    pub id: String,
    /// Which tool.
    pub name: String,
    /// The arguments (an object when the model follows the schema; validating against it is the caller's job).
    pub arguments: Value,
}

/// One chat call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatRequest {
    /// The system prompt.
    pub system: Option<String>,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// The tools on offer.
    pub tools: Vec<ToolSpec>,
    /// Whether the model must call them.
    pub tool_choice: ToolChoice,
    /// The output limit; `None` uses the provider's configured default.
    pub max_tokens: Option<u32>,
    /// Sampling temperature; `None` leaves the provider's default.
    pub temperature: Option<f32>,
}

impl ChatRequest {
    /// Bytes of text per token assumed by [`ChatRequest::estimated_input_tokens`]: English averages about four with
    /// both providers' tokenizers; three leaves room for names, numbers and JSON, which split finer.
    pub const BYTES_PER_TOKEN: u64 = 3;

    /// An estimate, on the high side, of the input tokens this request costs: every byte the provider reads as
    /// text (system prompt, messages, tool calls' arguments, tool names, descriptions and schemas) at
    /// [`ChatRequest::BYTES_PER_TOKEN`], plus a few tokens per message and tool for the wire format's framing.
    pub fn estimated_input_tokens(&self) -> u64 {
        const FRAMING: u64 = 8;
        let text = |s: &str| s.len() as u64;
        let json = |v: &Value| v.to_string().len() as u64;
        let messages: u64 = self
            .messages
            .iter()
            .map(|m| match m {
                Message::User { text: t } => text(t),
                Message::Assistant { text: t, tool_calls } => {
                    text(t) + tool_calls.iter().map(|c| text(&c.id) + text(&c.name) + json(&c.arguments)).sum::<u64>()
                }
                Message::ToolResult { call_id, content, .. } => text(call_id) + text(content),
            })
            .sum();
        let tools: u64 = self.tools.iter().map(|t| text(&t.name) + text(&t.description) + json(&t.parameters)).sum();
        let bytes = self.system.as_deref().map_or(0, text) + messages + tools;
        bytes.div_ceil(Self::BYTES_PER_TOKEN) + FRAMING * (self.messages.len() + self.tools.len() + 1) as u64
    }
}

/// Tokens a call consumed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
}

/// Why the model stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// It finished its answer (OpenAI `stop`, Anthropic `end_turn`).
    EndTurn,
    /// It wants tool results (OpenAI `tool_calls`, Anthropic `tool_use`).
    ToolUse,
    /// It hit the output limit (`length`, `max_tokens`).
    MaxTokens,
    /// A stop sequence matched.
    StopSequence,
    /// The provider filtered or refused the output (`content_filter`, `refusal`).
    Refusal,
    /// Anything else, as the provider named it.
    Other(String),
}

/// A finished call.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatResponse {
    /// The text the model wrote (empty if it only called tools).
    pub text: String,
    /// The tools it called, in index order.
    pub tool_calls: Vec<ToolCall>,
    /// Why it stopped.
    pub stop_reason: StopReason,
    /// What the call consumed.
    pub usage: Usage,
}
