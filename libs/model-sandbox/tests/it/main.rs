//! The fakes through raw HTTP: every test starts its own sandbox on `127.0.0.1:0` and reads the bytes a client
//! would, so the formats are checked independently of `switchboard-models`.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_model_sandbox::{
    ANTHROPIC_KEY, Api, Failure, ModelSandbox, ModelSandboxHandle, OPENAI_KEY, Reply, RetryAfter, ScriptedCall,
};
use tokio_util::sync::{CancellationToken, DropGuard};

struct Env {
    sandbox: ModelSandboxHandle,
    http: reqwest::Client,
    _stop: DropGuard,
}

async fn start() -> Env {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let shutdown = CancellationToken::new();
    let sandbox = ModelSandbox::start(listener, shutdown.clone()).await.expect("starts");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
    Env { sandbox, http, _stop: shutdown.drop_guard() }
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).expect("a JSON body")
    }

    /// `(event name, data)` of each SSE event.
    fn events(&self) -> Vec<(Option<String>, String)> {
        self.text
            .split("\n\n")
            .filter(|block| !block.is_empty())
            .map(|block| {
                let mut name = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = Some(n.to_owned());
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data.push_str(d);
                    }
                }
                (name, data)
            })
            .collect()
    }
}

impl Env {
    async fn openai(&self, key: &str, body: Value) -> Answer {
        let url = format!("{}/v1/chat/completions", self.sandbox.openai_base());
        let response = self.http.post(url).bearer_auth(key).json(&body).send().await.expect("sent");
        answer(response).await
    }

    async fn anthropic(&self, key: &str, version: Option<&str>, body: Value) -> Answer {
        let url = format!("{}/v1/messages", self.sandbox.anthropic_base());
        let mut request = self.http.post(url).header("x-api-key", key).json(&body);
        if let Some(version) = version {
            request = request.header("anthropic-version", version);
        }
        answer(request.send().await.expect("sent")).await
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    Answer { status, headers, text }
}

fn openai_body(stream: bool) -> Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": stream,
           "stream_options": {"include_usage": true},
           "tools": [{"type": "function", "function": {"name": "list_orders", "parameters": {"type": "object"}}}]})
}

fn anthropic_body(stream: bool) -> Value {
    json!({"model": "claude-sonnet-4-5", "max_tokens": 256, "stream": stream,
           "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn openai_streams_parallel_calls_as_interleaved_chunks_then_usage_then_done() {
    let env = start().await;
    let calls = vec![ScriptedCall::new("a", json!({"x": 1})), ScriptedCall::new("b", json!({"y": 2}))];
    env.sandbox.script(Api::OpenAi, Reply::tool_calls(calls).in_fragments_of(3).with_usage(10, 4));
    let answer = env.openai(OPENAI_KEY, openai_body(true)).await;
    assert_eq!(answer.status, 200);
    assert!(answer.headers["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let events = answer.events();
    assert_eq!(events.last().unwrap().1, "[DONE]");
    assert!(events.iter().all(|(name, _)| name.is_none()), "OpenAI sends no event names");
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|(_, d)| serde_json::from_str(d).unwrap()).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let mut arguments = [String::new(), String::new()];
    let mut order = Vec::new();
    for chunk in &chunks {
        for call in chunk["choices"][0]["delta"]["tool_calls"].as_array().into_iter().flatten() {
            let index = call["index"].as_u64().unwrap() as usize;
            if call.get("id").is_some() {
                assert_eq!(call["type"], "function");
            } else {
                order.push(index);
            }
            arguments[index].push_str(call["function"]["arguments"].as_str().unwrap_or(""));
        }
    }
    assert_eq!(&order[..4], &[0, 1, 0, 1], "fragments interleave");
    assert_eq!(serde_json::from_str::<Value>(&arguments[0]).unwrap(), json!({"x": 1}));
    assert_eq!(serde_json::from_str::<Value>(&arguments[1]).unwrap(), json!({"y": 2}));
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(finish["usage"], Value::Null, "with include_usage, other chunks carry usage: null");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"], json!({"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}));
}

#[tokio::test]
async fn anthropic_streams_blocks_with_json_deltas_and_ends_with_message_stop() {
    let env = start().await;
    let call = ScriptedCall::new("create_stripe_refund", json!({"charge_id": "ch_3Nx"})).with_id("toolu_1");
    env.sandbox.script(Api::Anthropic, Reply::text_and_tool_calls("I'll refund it.", vec![call]).with_usage(472, 89));
    let answer = env.anthropic(ANTHROPIC_KEY, Some("2023-06-01"), anthropic_body(true)).await;
    assert_eq!(answer.status, 200);
    let events = answer.events();
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
    assert_eq!(names[..4], ["message_start", "content_block_start", "ping", "content_block_delta"]);
    assert_eq!(names.last(), Some(&"message_stop"));
    for (name, data) in &events {
        let data: Value = serde_json::from_str(data).unwrap();
        assert_eq!(data["type"], name.as_deref().unwrap(), "data.type matches the event name");
    }
    let data: Vec<Value> = events.iter().map(|(_, d)| serde_json::from_str(d).unwrap()).collect();
    let tool_start = data.iter().find(|d| d["content_block"]["type"] == "tool_use").unwrap();
    assert_eq!(tool_start["index"], 1);
    assert_eq!(tool_start["content_block"]["id"], "toolu_1");
    let partial: String = data
        .iter()
        .filter(|d| d["delta"]["type"] == "input_json_delta")
        .map(|d| d["delta"]["partial_json"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&partial).unwrap(), json!({"charge_id": "ch_3Nx"}));
    let delta = data.iter().find(|d| d["type"] == "message_delta").unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(delta["usage"]["output_tokens"], 89);
    assert_eq!(data[0]["message"]["usage"]["input_tokens"], 472);
}

#[tokio::test]
async fn whole_answers_follow_each_format() {
    let env = start().await;
    let call = || vec![ScriptedCall::new("list_orders", json!({"status": "open"})).with_id("id_1")];
    env.sandbox.script(Api::OpenAi, Reply::tool_calls(call()));
    env.sandbox.script(Api::Anthropic, Reply::tool_calls(call()));
    let openai = env.openai(OPENAI_KEY, openai_body(false)).await.json();
    assert_eq!(openai["object"], "chat.completion");
    assert_eq!(openai["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(openai["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"], "{\"status\":\"open\"}");
    let anthropic = env.anthropic(ANTHROPIC_KEY, Some("2023-06-01"), anthropic_body(false)).await.json();
    assert_eq!(anthropic["type"], "message");
    assert_eq!(anthropic["stop_reason"], "tool_use");
    assert_eq!(anthropic["content"][0]["input"], json!({"status": "open"}), "input is an object, not a string");
}

#[tokio::test]
async fn failures_carry_each_providers_body_and_retry_headers() {
    let env = start().await;
    env.sandbox.script_all(
        Api::OpenAi,
        [
            Reply::fail(Failure::RateLimited(Some(RetryAfter::Millis(250)))),
            Reply::fail(Failure::QuotaExhausted),
            Reply::fail(Failure::Status(500)).should_retry(false),
        ],
    );
    let limited = env.openai(OPENAI_KEY, openai_body(false)).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.headers["retry-after-ms"], "250");
    assert_eq!(limited.headers["retry-after"], "1");
    assert_eq!(limited.json()["error"]["code"], "rate_limit_exceeded");
    let quota = env.openai(OPENAI_KEY, openai_body(false)).await;
    assert_eq!((quota.status, quota.json()["error"]["type"].clone()), (429, json!("insufficient_quota")));
    let server = env.openai(OPENAI_KEY, openai_body(false)).await;
    assert_eq!((server.status, server.headers["x-should-retry"].to_str().unwrap()), (500, "false"));

    env.sandbox.script_all(
        Api::Anthropic,
        [Reply::fail(Failure::Status(529)), Reply::fail(Failure::RateLimited(Some(RetryAfter::Seconds(2))))],
    );
    let overloaded = env.anthropic(ANTHROPIC_KEY, Some("2023-06-01"), anthropic_body(false)).await;
    assert_eq!(overloaded.status, 529);
    assert_eq!(
        overloaded.json(),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );
    assert!(overloaded.headers.contains_key("request-id"));
    let limited = env.anthropic(ANTHROPIC_KEY, Some("2023-06-01"), anthropic_body(false)).await;
    assert_eq!((limited.status, limited.headers["retry-after"].to_str().unwrap()), (429, "2"));
}

#[tokio::test]
async fn a_wrong_key_or_missing_version_is_refused_without_using_the_script() {
    let env = start().await;
    env.sandbox.script(Api::OpenAi, Reply::text("kept"));
    env.sandbox.script(Api::Anthropic, Reply::text("kept"));
    let openai = env.openai("sk-wrong", openai_body(false)).await;
    assert_eq!((openai.status, openai.json()["error"]["code"].clone()), (401, json!("invalid_api_key")));
    let anthropic = env.anthropic("sk-wrong", Some("2023-06-01"), anthropic_body(false)).await;
    assert_eq!((anthropic.status, anthropic.json()["error"]["type"].clone()), (401, json!("authentication_error")));
    let unversioned = env.anthropic(ANTHROPIC_KEY, None, anthropic_body(false)).await;
    assert_eq!(unversioned.status, 400);
    assert!(unversioned.json()["error"]["message"].as_str().unwrap().contains("anthropic-version"));
    assert_eq!((env.sandbox.pending(Api::OpenAi), env.sandbox.pending(Api::Anthropic)), (1, 1));
    assert_eq!(env.sandbox.requests(Api::Anthropic).len(), 2, "refused requests are recorded too");
    assert_eq!(env.sandbox.requests(Api::OpenAi)[0].headers["authorization"], "Bearer sk-wrong");
}

#[tokio::test]
async fn stream_faults_cut_or_break_the_stream_before_its_final_event() {
    let env = start().await;
    env.sandbox.script_all(
        Api::OpenAi,
        [Reply::text("abcdefghij").in_fragments_of(2).cut_after(3), Reply::text("abcdefghij").error_after(2)],
    );
    let cut = env.openai(OPENAI_KEY, openai_body(true)).await.events();
    assert_eq!(cut.len(), 3);
    assert!(cut.iter().all(|(_, data)| data != "[DONE]"));
    let broken = env.openai(OPENAI_KEY, openai_body(true)).await.events();
    assert_eq!(broken.len(), 3);
    let error: Value = serde_json::from_str(&broken[2].1).unwrap();
    assert_eq!(error["error"]["type"], "server_error");

    env.sandbox.script(Api::Anthropic, Reply::text("abcdef").error_after(2));
    let broken = env.anthropic(ANTHROPIC_KEY, Some("2023-06-01"), anthropic_body(true)).await.events();
    assert_eq!(broken.last().unwrap().0.as_deref(), Some("error"));
    assert!(!broken.iter().any(|(name, _)| name.as_deref() == Some("message_stop")));
}

#[tokio::test]
async fn a_slow_reply_holds_back_even_the_headers() {
    let env = start().await;
    env.sandbox.script(Api::OpenAi, Reply::text("late").after(Duration::from_millis(300)));
    let url = format!("{}/v1/chat/completions", env.sandbox.openai_base());
    let request = env.http.post(url).bearer_auth(OPENAI_KEY).json(&openai_body(true)).send();
    let early = tokio::time::timeout(Duration::from_millis(150), request).await;
    assert!(early.is_err(), "no headers within 150 ms");
}

#[tokio::test]
async fn with_nothing_scripted_it_echoes_the_last_user_message() {
    let env = start().await;
    let openai = env.openai(OPENAI_KEY, openai_body(false)).await.json();
    assert_eq!(openai["choices"][0]["message"]["content"], "(sandbox model, nothing scripted) You said: hi");
    let anthropic = env.anthropic(ANTHROPIC_KEY, Some("2023-06-01"), anthropic_body(false)).await.json();
    assert_eq!(anthropic["content"][0]["text"], "(sandbox model, nothing scripted) You said: hi");
}
