//! Model providers for the orchestrator: a provider-neutral chat API, clients of OpenAI Chat Completions and
//! Anthropic Messages on their real wire formats, and the one provider chain (retries, fallback, cooldowns) in front
//! of them.
//!
//! - `chat`: the conversation ([`ChatRequest`], [`Message`], [`ToolSpec`], [`ToolCall`]) and a finished answer
//!   ([`ChatResponse`], [`Usage`], [`StopReason`]);
//! - `stream`: the streamed answer ([`ChatStream`] of [`StreamEvent`]s: text deltas, tool-call start / argument
//!   fragment / end keyed by index, usage, finished) and [`collect`];
//! - `openai`, `anthropic`: one HTTP client each, implementing [`ChatModel`] — one attempt per call, no retries;
//!   `sse` decodes their event streams and `tool_args` assembles and checks streamed tool-call arguments;
//! - `chain`: [`ProviderChain`], the only retry loop, with `retry` (the decision after a failure, backoff) and
//!   `breaker` (per-provider cooldown); `usage` reports tokens per call and tenant through a [`UsageSink`];
//! - `config`: [`ProviderConfig`] per provider, from the environment with [`providers_from_env`];
//! - `error`: [`ModelError`], every failure by class, and its one mapping to `tonic::Status`.
//!
//! The crate owns no storage and no policy beyond a call: budgets, tenant settings and the offline provider belong
//! to the orchestrator, which may add its own [`ChatModel`]s to a chain.

mod anthropic;
mod breaker;
mod chain;
mod chat;
mod config;
mod error;
mod http;
mod openai;
mod provider;
mod retry;
mod sse;
mod stream;
mod tool_args;
mod usage;

pub use crate::anthropic::{ANTHROPIC_VERSION, AnthropicClient};
pub use crate::breaker::{BreakerPolicy, BreakerState};
pub use crate::chain::{ChainPolicy, ChatOutcome, ProviderChain, StreamOutcome};
pub use crate::chat::{
    ChatRequest, ChatResponse, Message, ProviderKind, Role, StopReason, ToolCall, ToolChoice, ToolSpec, Usage,
};
pub use crate::config::{ApiKey, ProviderConfig, Timeouts, providers_from_env};
pub use crate::error::{ApiError, ErrorClass, ModelError, TimeoutPhase};
pub use crate::openai::OpenAiClient;
pub use crate::provider::{ChatModel, connect};
pub use crate::retry::RetryPolicy;
pub use crate::stream::{ChatStream, StreamEvent, collect};
pub use crate::usage::{CallContext, UsageRecord, UsageSink};
