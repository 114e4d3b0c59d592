//! What a test scripts: a [`Reply`] per expected request, queued per API. A reply is an answer (text, tool calls —
//! parallel when there are several — with arguments given as raw text so a test can make them malformed) or a
//! [`Failure`] answered as that provider answers it; either may be delayed, and a streamed answer may be cut or
//! broken by an error event after N events.

use std::time::Duration;

use serde_json::Value;

/// A tool call the fake model makes.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptedCall {
    /// The call id; `None` makes one up (`call_…` / `toolu_…`) from the call's position.
    pub id: Option<String>,
    /// The tool's name.
    pub name: String,
    /// The arguments exactly as the model "writes" them: streamed in fragments, not necessarily JSON.
    pub arguments: String,
}

impl ScriptedCall {
    /// A call with well-formed arguments.
    pub fn new(name: impl Into<String>, arguments: Value) -> Self {
        Self { id: None, name: name.into(), arguments: arguments.to_string() }
    }

    /// A call whose arguments are this text, JSON or not (a malformed fragment: `"{\"status\": open"`).
    pub fn raw(name: impl Into<String>, arguments: impl Into<String>) -> Self {
        Self { id: None, name: name.into(), arguments: arguments.into() }
    }

    /// With this id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
}

/// How `retry-after` is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    /// `retry-after: <seconds>` (whole seconds, as the providers send it).
    Seconds(u64),
    /// `retry-after-ms: <millis>` (and `retry-after` rounded up, as OpenAI sends both).
    Millis(u64),
}

/// An error answer, in the scripted API's own format.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// 429 rate limit (`rate_limit_exceeded` / `rate_limit_error`), with an optional `retry-after`.
    RateLimited(Option<RetryAfter>),
    /// 429 that is billing: OpenAI `insufficient_quota`, Anthropic `enforced_spend_limit_reached`.
    QuotaExhausted,
    /// This status with the provider's body for it: 500 / 503 / 504, or 529 `overloaded_error`.
    Status(u16),
    /// 400 context length (`context_length_exceeded` / "prompt is too long").
    ContextLength,
    /// 401 as for a wrong key.
    Unauthorized,
    /// 400 `invalid_request_error` with this message.
    BadRequest(String),
}

/// What the scripted answer is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Outcome {
    Answer { text: String, calls: Vec<ScriptedCall> },
    Fail(Failure),
}

/// One scripted reply.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub(crate) outcome: Outcome,
    pub(crate) delay: Duration,
    pub(crate) fragment_len: usize,
    pub(crate) cut_after: Option<usize>,
    pub(crate) error_after: Option<usize>,
    pub(crate) stall_after: Option<usize>,
    pub(crate) usage: Option<(u64, u64)>,
    pub(crate) should_retry: Option<bool>,
}

impl Reply {
    fn of(outcome: Outcome) -> Self {
        Self {
            outcome,
            delay: Duration::ZERO,
            fragment_len: 8,
            cut_after: None,
            error_after: None,
            stall_after: None,
            usage: None,
            should_retry: None,
        }
    }

    /// A text answer.
    pub fn text(text: impl Into<String>) -> Self {
        Self::of(Outcome::Answer { text: text.into(), calls: Vec::new() })
    }

    /// Tool calls (parallel when more than one: their streamed fragments interleave on OpenAI).
    pub fn tool_calls(calls: Vec<ScriptedCall>) -> Self {
        Self::of(Outcome::Answer { text: String::new(), calls })
    }

    /// Text, then tool calls.
    pub fn text_and_tool_calls(text: impl Into<String>, calls: Vec<ScriptedCall>) -> Self {
        Self::of(Outcome::Answer { text: text.into(), calls })
    }

    /// An error answer.
    pub fn fail(failure: Failure) -> Self {
        Self::of(Outcome::Fail(failure))
    }

    /// Waits this long before answering anything (not even headers): a slow first byte.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Streamed text and arguments go in fragments of at most this many characters (default 8).
    pub fn in_fragments_of(mut self, chars: usize) -> Self {
        self.fragment_len = chars.max(1);
        self
    }

    /// A streamed answer ends after this many events, without its final one (`[DONE]` / `message_stop`).
    pub fn cut_after(mut self, events: usize) -> Self {
        self.cut_after = Some(events);
        self
    }

    /// A streamed answer sends an error event after this many events, then ends.
    pub fn error_after(mut self, events: usize) -> Self {
        self.error_after = Some(events);
        self
    }

    /// A streamed answer sends this many events, then nothing more while the connection stays open (a provider
    /// that hangs mid-answer, or a process stopped mid-answer).
    pub fn stall_after(mut self, events: usize) -> Self {
        self.stall_after = Some(events);
        self
    }

    /// Reports this usage instead of the estimate (characters / 4).
    pub fn with_usage(mut self, input_tokens: u64, output_tokens: u64) -> Self {
        self.usage = Some((input_tokens, output_tokens));
        self
    }

    /// Sends `x-should-retry` with a failure.
    pub fn should_retry(mut self, retry: bool) -> Self {
        self.should_retry = Some(retry);
        self
    }
}

/// Splits text into fragments of at most `len` characters (never inside a character).
pub(crate) fn fragments(text: &str, len: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(len.max(1)).map(|c| c.iter().collect()).collect()
}
