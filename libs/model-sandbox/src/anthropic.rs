//! The fake `POST /v1/messages`: `x-api-key` and `anthropic-version` checks, a scripted reply rendered as a
//! `message` or as its event stream (`message_start`, a text block, `ping`, one `tool_use` block per call with
//! `input_json_delta` fragments, `message_delta` with stop reason and usage, `message_stop`), and Anthropic's error
//! bodies and headers (`request-id`, `retry-after`, `anthropic-ratelimit-*`; 529 `overloaded_error`).
//!
//! A tool call's raw argument text is streamed as is; a whole (non-streamed) message carries `input` as an object,
//! so arguments that are not JSON become `{}` there — only the stream can be malformed, as with the real API.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::ANTHROPIC_KEY;
use crate::script::{Failure, Outcome, Reply, RetryAfter, ScriptedCall, fragments};
use crate::state::{Api, Shared};
use crate::wire::{Wire, estimate_tokens, sse};

pub(crate) async fn messages(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared.record(Api::Anthropic, &headers, &request);
    let request_id = format!("req_sandbox_anthropic_{}", shared.request_count(Api::Anthropic));
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("x-api-key") != Some(ANTHROPIC_KEY) {
        return failure(&Failure::Unauthorized, None).header("request-id", request_id).into_response();
    }
    if header("anthropic-version").is_none() {
        let message = "anthropic-version: header is required".to_owned();
        return failure(&Failure::BadRequest(message), None).header("request-id", request_id).into_response();
    }
    let missing = ["model", "max_tokens", "messages"].into_iter().find(|field| request.get(*field).is_none());
    if let Some(field) = missing {
        let message = format!("{field}: Field required");
        return failure(&Failure::BadRequest(message), None).header("request-id", request_id).into_response();
    }
    let reply = shared.next_reply(Api::Anthropic).unwrap_or_else(|| echo(&request));
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let wire = match &reply.outcome {
        Outcome::Fail(f) => failure(f, reply.should_retry),
        Outcome::Answer { text, calls } => {
            let model = request["model"].as_str().unwrap_or("claude-sonnet-4-5");
            let usage = usage(&reply, &request, text, calls);
            if request["stream"] == json!(true) {
                let error = json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
                let error = sse(Some("error"), &error.to_string());
                stream(model, text, calls, &reply, usage).with_stream_faults(&reply, error)
            } else {
                whole(model, text, calls, usage)
            }
        }
    };
    wire.header("request-id", request_id).into_response()
}

fn echo(request: &Value) -> Reply {
    let last_user = request["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .map(|m| match &m["content"] {
            Value::String(text) => text.clone(),
            Value::Array(blocks) => blocks.iter().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join(" "),
            _ => String::new(),
        })
        .unwrap_or_default();
    Reply::text(format!("(sandbox model, nothing scripted) You said: {last_user}"))
}

fn usage(reply: &Reply, request: &Value, text: &str, calls: &[ScriptedCall]) -> (u64, u64) {
    reply.usage.unwrap_or_else(|| {
        let written = text.chars().count() + calls.iter().map(|c| c.arguments.chars().count()).sum::<usize>();
        let read = request["messages"].to_string().chars().count() + request["system"].to_string().chars().count();
        (estimate_tokens(read), estimate_tokens(written))
    })
}

fn call_id(index: usize, call: &ScriptedCall) -> String {
    call.id.clone().unwrap_or_else(|| format!("toolu_sandbox{index:04}"))
}

fn stop_reason(calls: &[ScriptedCall]) -> &'static str {
    if calls.is_empty() { "end_turn" } else { "tool_use" }
}

fn whole(model: &str, text: &str, calls: &[ScriptedCall], (input, output): (u64, u64)) -> Wire {
    let mut content = Vec::new();
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    for (index, call) in calls.iter().enumerate() {
        let input: Value = serde_json::from_str(&call.arguments).unwrap_or_else(|_| json!({}));
        content.push(json!({"type": "tool_use", "id": call_id(index, call), "name": call.name, "input": input}));
    }
    Wire::json(
        200,
        json!({
            "id": "msg_sandbox", "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": stop_reason(calls), "stop_sequence": null,
            "usage": {"input_tokens": input, "output_tokens": output,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
        }),
    )
}

fn stream(model: &str, text: &str, calls: &[ScriptedCall], reply: &Reply, (input, output): (u64, u64)) -> Wire {
    let event = |name: &str, data: Value| sse(Some(name), &data.to_string());
    let mut events = vec![event(
        "message_start",
        json!({"type": "message_start", "message": {
            "id": "msg_sandbox", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": input, "output_tokens": 1}}}),
    )];
    let mut block = 0;
    if !text.is_empty() {
        events.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": block, "content_block": {"type": "text", "text": ""}}),
        ));
        events.push(event("ping", json!({"type": "ping"})));
        for piece in fragments(text, reply.fragment_len) {
            events.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": block, "delta": {"type": "text_delta", "text": piece}}),
            ));
        }
        events.push(event("content_block_stop", json!({"type": "content_block_stop", "index": block})));
        block += 1;
    }
    for (index, call) in calls.iter().enumerate() {
        events.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": block, "content_block":
                   {"type": "tool_use", "id": call_id(index, call), "name": call.name, "input": {}}}),
        ));
        let pieces = std::iter::once(String::new()).chain(fragments(&call.arguments, reply.fragment_len));
        for piece in pieces {
            events.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": block,
                       "delta": {"type": "input_json_delta", "partial_json": piece}}),
            ));
        }
        events.push(event("content_block_stop", json!({"type": "content_block_stop", "index": block})));
        block += 1;
    }
    events.push(event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop_reason(calls), "stop_sequence": null},
               "usage": {"output_tokens": output}}),
    ));
    events.push(event("message_stop", json!({"type": "message_stop"})));
    Wire::events(events)
}

pub(crate) fn failure(failure: &Failure, should_retry: Option<bool>) -> Wire {
    let error = |status: u16, kind: &str, message: &str| {
        Wire::json(status, json!({"type": "error", "error": {"type": kind, "message": message}}))
    };
    let wire = match failure {
        Failure::RateLimited(after) => {
            let wire =
                error(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit")
                    .header("anthropic-ratelimit-requests-limit", "50")
                    .header("anthropic-ratelimit-requests-remaining", "0");
            match after {
                Some(RetryAfter::Seconds(s)) => wire.header("retry-after", s.to_string()),
                Some(RetryAfter::Millis(ms)) => {
                    wire.header("retry-after-ms", ms.to_string()).header("retry-after", ms.div_ceil(1000).to_string())
                }
                None => wire,
            }
        }
        Failure::QuotaExhausted => Wire::json(
            429,
            json!({"type": "error", "error": {"type": "rate_limit_error",
                   "message": "You have reached your specified workspace API usage limits.",
                   "details": {"error_code": "enforced_spend_limit_reached"}}}),
        ),
        Failure::Status(529) => error(529, "overloaded_error", "Overloaded"),
        Failure::Status(504) => error(504, "timeout_error", "Request timed out"),
        Failure::Status(status) => error(*status, "api_error", "Internal server error"),
        Failure::ContextLength => {
            error(400, "invalid_request_error", "prompt is too long: 213456 tokens > 200000 maximum")
        }
        Failure::Unauthorized => error(401, "authentication_error", "invalid x-api-key"),
        Failure::BadRequest(message) => error(400, "invalid_request_error", message),
    };
    match should_retry {
        Some(retry) => wire.header("x-should-retry", retry.to_string()),
        None => wire,
    }
}
