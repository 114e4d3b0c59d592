//! Streams event by event: text deltas, argument fragments, parallel calls, and streams that break.

use futures::StreamExt;
use serde_json::json;
use switchboard_model_sandbox::{Api, Reply, ScriptedCall};
use switchboard_models::{ModelError, StopReason, StreamEvent, Usage};

use crate::support::{APIS, ask, start};

async fn events(env: &crate::support::Env, api: Api) -> Vec<Result<StreamEvent, ModelError>> {
    let stream = env.client(api).stream(&ask("hi")).await.expect("the provider accepts the request");
    stream.collect().await
}

#[tokio::test]
async fn text_arrives_in_deltas_then_usage_then_finished() {
    for api in APIS {
        let env = start().await;
        env.sandbox.script(api, Reply::text("Revenue last week was $4,210.50.").in_fragments_of(6).with_usage(30, 11));
        let events: Vec<StreamEvent> = events(&env, api).await.into_iter().map(Result::unwrap).collect();
        let deltas: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::TextDelta(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert!(deltas.len() >= 5, "{api:?}: {deltas:?}");
        assert_eq!(deltas.concat(), "Revenue last week was $4,210.50.");
        assert_eq!(events[events.len() - 2], StreamEvent::Usage(Usage { input_tokens: 30, output_tokens: 11 }));
        assert_eq!(events.last(), Some(&StreamEvent::Finished { stop_reason: StopReason::EndTurn }));
    }
}

#[tokio::test]
async fn tool_arguments_stream_as_fragments_and_end_parsed() {
    for api in APIS {
        let env = start().await;
        let arguments = json!({"status": "open", "limit": 5});
        let call = ScriptedCall::new("list_shopify_orders", arguments.clone()).with_id("call_x");
        env.sandbox.script(api, Reply::tool_calls(vec![call]).in_fragments_of(4));
        let events: Vec<StreamEvent> = events(&env, api).await.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            events.iter().find(|e| matches!(e, StreamEvent::ToolCallStart { .. })),
            Some(&StreamEvent::ToolCallStart { index: 0, id: "call_x".into(), name: "list_shopify_orders".into() })
        );
        let fragments: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ToolCallDelta { index: 0, fragment } => Some(fragment.as_str()),
                _ => None,
            })
            .collect();
        assert!(fragments.len() > 3, "{api:?}: {fragments:?}");
        assert!(fragments.iter().all(|f| f.chars().count() <= 4), "{fragments:?}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&fragments.concat()).unwrap(), arguments);
        let end = events.iter().find_map(|e| match e {
            StreamEvent::ToolCallEnd { index: 0, call } => Some(call),
            _ => None,
        });
        assert_eq!(end.map(|c| &c.arguments), Some(&arguments));
        assert_eq!(events.last(), Some(&StreamEvent::Finished { stop_reason: StopReason::ToolUse }));
    }
}

#[tokio::test]
async fn parallel_tool_calls_are_kept_apart_by_index() {
    for api in APIS {
        let env = start().await;
        let calls = vec![
            ScriptedCall::new("list_shopify_orders", json!({"status": "open"})),
            ScriptedCall::new("list_stripe_charges", json!({"customer": "jane@example.com"})),
        ];
        env.sandbox.script(api, Reply::tool_calls(calls).in_fragments_of(5));
        let events: Vec<StreamEvent> = events(&env, api).await.into_iter().map(Result::unwrap).collect();
        let order: Vec<usize> = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ToolCallDelta { index, .. } => Some(*index),
                _ => None,
            })
            .collect();
        if api == Api::OpenAi {
            // OpenAI interleaves the two calls' fragments.
            assert_eq!(&order[..4], &[0, 1, 0, 1], "{order:?}");
        }
        let ends: Vec<(usize, serde_json::Value)> = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ToolCallEnd { index, call } => Some((*index, call.arguments.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(ends, vec![(0, json!({"status": "open"})), (1, json!({"customer": "jane@example.com"}))], "{api:?}");
    }
}

#[tokio::test]
async fn a_malformed_argument_fragment_is_a_clear_error_at_the_end_of_the_call() {
    for api in APIS {
        let env = start().await;
        env.sandbox
            .script(api, Reply::tool_calls(vec![ScriptedCall::raw("list_shopify_orders", "{\"status\": open}")]));
        let events = events(&env, api).await;
        let last = events.last().expect("events");
        match last {
            Err(ModelError::MalformedToolArguments { tool, index: 0, .. }) => assert_eq!(tool, "list_shopify_orders"),
            other => panic!("{api:?}: expected a malformed-arguments error, got {other:?}"),
        }
        let message = last.as_ref().unwrap_err().to_string();
        assert!(message.contains("not valid JSON"), "{message}");
        assert!(events.iter().any(|e| matches!(e, Ok(StreamEvent::ToolCallStart { .. }))));
        assert!(!events.iter().any(|e| matches!(e, Ok(StreamEvent::Finished { .. }))));
    }
}

#[tokio::test]
async fn a_stream_cut_before_its_final_event_ends_in_stream_interrupted() {
    for api in APIS {
        let env = start().await;
        env.sandbox.script(api, Reply::text("This answer will not finish.").in_fragments_of(4).cut_after(4));
        let events = events(&env, api).await;
        assert!(events.iter().any(|e| matches!(e, Ok(StreamEvent::TextDelta(_)))), "{api:?}: real output first");
        assert!(matches!(events.last(), Some(Err(ModelError::StreamInterrupted { .. }))), "{api:?}: {events:?}");
    }
}

#[tokio::test]
async fn a_mid_stream_error_event_is_the_last_item_with_its_class() {
    for api in APIS {
        let env = start().await;
        env.sandbox.script(api, Reply::text("Partial answer that breaks").in_fragments_of(4).error_after(4));
        let events = events(&env, api).await;
        assert!(events.iter().any(|e| matches!(e, Ok(StreamEvent::TextDelta(_)))));
        match (api, events.last()) {
            (Api::OpenAi, Some(Err(ModelError::Server(e)))) => assert_eq!(e.status, None),
            (Api::Anthropic, Some(Err(ModelError::Overloaded(e)))) => {
                assert_eq!(e.code.as_deref(), Some("overloaded_error"))
            }
            other => panic!("unexpected end: {other:?}"),
        }
    }
}
