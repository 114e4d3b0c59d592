//! Each client against its fake: what goes on the wire, and a tool-call round trip whole and streamed.

use serde_json::json;
use switchboard_model_sandbox::{Api, Reply, ScriptedCall};
use switchboard_models::{Message, StopReason, ToolCall, ToolChoice, Usage, collect};

use crate::support::{APIS, ask, start};

#[tokio::test]
async fn a_tool_call_round_trip_sends_tools_and_results_in_each_providers_format() {
    for api in APIS {
        let env = start().await;
        let client = env.client(api);
        env.sandbox.script_all(
            api,
            [
                Reply::text_and_tool_calls(
                    "Let me look.",
                    vec![
                        ScriptedCall::new("list_shopify_orders", json!({"status": "open", "limit": 5}))
                            .with_id("call_or_toolu_1"),
                    ],
                )
                .with_usage(82, 17),
                Reply::text("You have 2 open orders: #1001 and #1002.").with_usage(120, 12),
            ],
        );

        let mut request = ask("Show my 5 most recent open Shopify orders");
        request.tool_choice = ToolChoice::Auto;
        let first = client.chat(&request).await.expect("first turn");
        assert_eq!(first.text, "Let me look.", "{api:?}");
        assert_eq!(
            first.tool_calls,
            vec![ToolCall {
                id: "call_or_toolu_1".into(),
                name: "list_shopify_orders".into(),
                arguments: json!({"status": "open", "limit": 5}),
            }]
        );
        assert_eq!(first.stop_reason, StopReason::ToolUse);
        assert_eq!(first.usage, Usage { input_tokens: 82, output_tokens: 17 });

        request.messages.push(Message::from_response(&first));
        request.messages.push(Message::tool_result("call_or_toolu_1", r#"[{"id":1001},{"id":1002}]"#));
        let second = client.chat(&request).await.expect("second turn");
        assert_eq!(second.text, "You have 2 open orders: #1001 and #1002.");
        assert_eq!(second.stop_reason, StopReason::EndTurn);
        assert!(second.tool_calls.is_empty());

        let sent = env.sandbox.requests(api);
        assert_eq!(sent.len(), 2, "{api:?}: one request per turn");
        let (first_body, second_body) = (&sent[0].body, &sent[1].body);
        match api {
            Api::OpenAi => {
                assert_eq!(
                    sent[0].headers["authorization"],
                    format!("Bearer {}", switchboard_model_sandbox::OPENAI_KEY)
                );
                assert_eq!(first_body["messages"][0]["role"], "system");
                assert_eq!(first_body["tools"][0]["type"], "function");
                assert_eq!(first_body["tools"][0]["function"]["name"], "list_shopify_orders");
                assert_eq!(first_body["tools"][0]["function"]["parameters"]["required"], json!(["status"]));
                assert_eq!(first_body["tool_choice"], "auto");
                assert_eq!(first_body["stream"], false);
                let turns = second_body["messages"].as_array().unwrap();
                let arguments = turns[2]["tool_calls"][0]["function"]["arguments"].as_str().expect("a JSON string");
                assert_eq!(
                    serde_json::from_str::<serde_json::Value>(arguments).unwrap(),
                    json!({"status": "open", "limit": 5})
                );
                assert_eq!(
                    turns[3],
                    json!({"role": "tool", "tool_call_id": "call_or_toolu_1", "content": "[{\"id\":1001},{\"id\":1002}]"})
                );
            }
            Api::Anthropic => {
                assert_eq!(sent[0].headers["x-api-key"], switchboard_model_sandbox::ANTHROPIC_KEY);
                assert_eq!(sent[0].headers["anthropic-version"], "2023-06-01");
                assert_eq!(first_body["system"], "You are the ops assistant for tenant acme.");
                assert_eq!(first_body["tools"][1]["name"], "list_stripe_charges");
                assert_eq!(first_body["tools"][0]["input_schema"]["required"], json!(["status"]));
                assert_eq!(first_body["tool_choice"], json!({"type": "auto"}));
                assert_eq!(first_body["max_tokens"], 1024);
                let turns = second_body["messages"].as_array().unwrap();
                assert_eq!(turns[1]["content"][1]["type"], "tool_use");
                assert_eq!(turns[1]["content"][1]["input"], json!({"status": "open", "limit": 5}));
                assert_eq!(turns[2]["content"][0]["type"], "tool_result");
                assert_eq!(turns[2]["content"][0]["tool_use_id"], "call_or_toolu_1");
            }
        }
    }
}

#[tokio::test]
async fn a_streamed_round_trip_collects_to_the_same_answer() {
    for api in APIS {
        let env = start().await;
        let client = env.client(api);
        let call = ScriptedCall::new("list_stripe_charges", json!({"customer": "jane@example.com"}));
        env.sandbox.script(api, Reply::tool_calls(vec![call]).with_usage(50, 9));
        let response = collect(client.stream(&ask("Jane's charges?")).await.expect("stream")).await.expect("answer");
        assert_eq!(response.tool_calls.len(), 1, "{api:?}");
        assert_eq!(response.tool_calls[0].arguments, json!({"customer": "jane@example.com"}));
        assert_eq!(response.stop_reason, StopReason::ToolUse);
        assert_eq!(response.usage, Usage { input_tokens: 50, output_tokens: 9 });
        let sent = env.sandbox.requests(api);
        assert_eq!(sent[0].body["stream"], true);
        if api == Api::OpenAi {
            assert_eq!(sent[0].body["stream_options"], json!({"include_usage": true}));
        }
    }
}

#[tokio::test]
async fn with_nothing_scripted_the_fake_echoes_and_the_client_reads_it() {
    for api in APIS {
        let env = start().await;
        let answer = env.client(api).chat(&ask("hello there")).await.expect("echo");
        assert!(answer.text.ends_with("You said: hello there"), "{api:?}: {}", answer.text);
    }
}
