//! The fake `POST /v1/chat/completions`: bearer key check, a scripted reply rendered as a `chat.completion` or as
//! `chat.completion.chunk` events (role chunk, content fragments, tool-call chunks keyed by index with interleaved
//! argument fragments, a finish chunk, the usage chunk when `stream_options.include_usage`, `[DONE]`), and
//! OpenAI's error bodies and headers (`x-request-id`, `retry-after`, `retry-after-ms`, `x-ratelimit-*`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::OPENAI_KEY;
use crate::script::{Failure, Outcome, Reply, RetryAfter, ScriptedCall, fragments};
use crate::state::{Api, Shared};
use crate::wire::{Wire, estimate_tokens, sse};

const CREATED: u64 = 1_700_000_000;

pub(crate) async fn completions(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared.record(Api::OpenAi, &headers, &request);
    let request_id = format!("req_sandbox_openai_{}", shared.request_count(Api::OpenAi));
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(OPENAI_KEY) {
        return failure(&Failure::Unauthorized, None).header("x-request-id", request_id).into_response();
    }
    if request.get("model").and_then(Value::as_str).is_none() || !request["messages"].is_array() {
        let message = "you must provide a model parameter and a messages array".to_owned();
        return failure(&Failure::BadRequest(message), None).header("x-request-id", request_id).into_response();
    }
    let reply = shared.next_reply(Api::OpenAi).unwrap_or_else(|| echo(&request));
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let wire = match &reply.outcome {
        Outcome::Fail(f) => failure(f, reply.should_retry),
        Outcome::Answer { text, calls } => {
            let model = request["model"].as_str().unwrap_or("gpt-4o-mini");
            let usage = usage(&reply, &request, text, calls);
            if request["stream"] == json!(true) {
                let include_usage = request["stream_options"]["include_usage"] == json!(true);
                let error = sse(None, &json!({"error": server_error_body()}).to_string());
                stream(model, text, calls, &reply, include_usage.then_some(usage)).with_stream_faults(&reply, error)
            } else {
                whole(model, text, calls, usage)
            }
        }
    };
    wire.header("x-request-id", request_id).into_response()
}

fn echo(request: &Value) -> Reply {
    let last_user = request["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or("");
    Reply::text(format!("(sandbox model, nothing scripted) You said: {last_user}"))
}

fn usage(reply: &Reply, request: &Value, text: &str, calls: &[ScriptedCall]) -> Value {
    let (input, output) = reply.usage.unwrap_or_else(|| {
        let written = text.chars().count() + calls.iter().map(|c| c.arguments.chars().count()).sum::<usize>();
        (estimate_tokens(request["messages"].to_string().chars().count()), estimate_tokens(written))
    });
    json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output})
}

fn call_id(index: usize, call: &ScriptedCall) -> String {
    call.id.clone().unwrap_or_else(|| format!("call_sandbox{index:04}"))
}

fn finish_reason(calls: &[ScriptedCall]) -> &'static str {
    if calls.is_empty() { "stop" } else { "tool_calls" }
}

fn whole(model: &str, text: &str, calls: &[ScriptedCall], usage: Value) -> Wire {
    let tool_calls: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"id": call_id(i, c), "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
        .collect();
    let mut message = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }, "refusal": null});
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    Wire::json(
        200,
        json!({
            "id": "chatcmpl-sandbox", "object": "chat.completion", "created": CREATED, "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason(calls)}],
            "usage": usage, "system_fingerprint": "fp_sandbox",
        }),
    )
}

fn stream(model: &str, text: &str, calls: &[ScriptedCall], reply: &Reply, usage: Option<Value>) -> Wire {
    let with_usage = usage.is_some();
    let chunk = |delta: Value, finish: Value| {
        let mut chunk = json!({
            "id": "chatcmpl-sandbox", "object": "chat.completion.chunk", "created": CREATED, "model": model,
            "system_fingerprint": "fp_sandbox",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if with_usage {
            chunk["usage"] = Value::Null;
        }
        sse(None, &chunk.to_string())
    };
    let mut events = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
    for piece in fragments(text, reply.fragment_len) {
        events.push(chunk(json!({"content": piece}), Value::Null));
    }
    for (index, call) in calls.iter().enumerate() {
        let first = json!({"index": index, "id": call_id(index, call), "type": "function",
                           "function": {"name": call.name, "arguments": ""}});
        events.push(chunk(json!({"tool_calls": [first]}), Value::Null));
    }
    // Parallel calls' argument fragments interleave: one fragment of each call in turn.
    let pieces: Vec<Vec<String>> = calls.iter().map(|c| fragments(&c.arguments, reply.fragment_len)).collect();
    let rounds = pieces.iter().map(Vec::len).max().unwrap_or(0);
    for round in 0..rounds {
        for (index, call_pieces) in pieces.iter().enumerate() {
            if let Some(piece) = call_pieces.get(round) {
                let delta = json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]});
                events.push(chunk(delta, Value::Null));
            }
        }
    }
    events.push(chunk(json!({}), json!(finish_reason(calls))));
    if let Some(usage) = usage {
        let last = json!({"id": "chatcmpl-sandbox", "object": "chat.completion.chunk", "created": CREATED,
                          "model": model, "choices": [], "usage": usage});
        events.push(sse(None, &last.to_string()));
    }
    events.push(sse(None, "[DONE]"));
    Wire::events(events)
}

fn server_error_body() -> Value {
    json!({"message": "The server had an error while processing your request. Sorry about that!",
           "type": "server_error", "param": null, "code": null})
}

fn failure(failure: &Failure, should_retry: Option<bool>) -> Wire {
    let error = |status: u16, message: &str, kind: &str, code: Value| {
        Wire::json(status, json!({"error": {"message": message, "type": kind, "param": null, "code": code}}))
    };
    let wire = match failure {
        Failure::RateLimited(after) => {
            let wire = error(
                429,
                "Rate limit reached for gpt-4o-mini in organization org-sandbox on requests per min (RPM): Limit 3, Used 3, Requested 1.",
                "requests",
                json!("rate_limit_exceeded"),
            )
            .header("x-ratelimit-limit-requests", "3")
            .header("x-ratelimit-remaining-requests", "0")
            .header("x-ratelimit-reset-requests", "20s");
            match after {
                Some(RetryAfter::Seconds(s)) => wire.header("retry-after", s.to_string()),
                Some(RetryAfter::Millis(ms)) => {
                    wire.header("retry-after-ms", ms.to_string()).header("retry-after", ms.div_ceil(1000).to_string())
                }
                None => wire,
            }
        }
        Failure::QuotaExhausted => error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            json!("insufficient_quota"),
        ),
        Failure::Status(status) => {
            let message = match status {
                503 => "The engine is currently overloaded, please try again later.",
                504 => "Gateway timeout.",
                _ => "The server had an error while processing your request. Sorry about that!",
            };
            error(*status, message, "server_error", Value::Null)
        }
        Failure::ContextLength => error(
            400,
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 130512 tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            json!("context_length_exceeded"),
        ),
        Failure::Unauthorized => error(
            401,
            "Incorrect API key provided: sk-wro**********key. You can find your API key at https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            json!("invalid_api_key"),
        ),
        Failure::BadRequest(message) => error(400, message, "invalid_request_error", Value::Null),
    };
    match should_retry {
        Some(retry) => wire.header("x-should-retry", retry.to_string()),
        None => wire,
    }
}
