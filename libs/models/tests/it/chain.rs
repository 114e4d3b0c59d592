//! The provider chain over the fakes: retries honouring retry-after, fallback, context-window fallback, cooldown
//! and recovery, fail-fast, no retry on 401/400, streams falling back only before their first output, usage.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use switchboard_model_sandbox::{Api, Failure, Reply, RetryAfter};
use switchboard_models::{
    ApiKey, BreakerState, ErrorClass, ModelError, ProviderChain, StreamEvent, Usage, collect, connect,
};

use crate::support::{Env, Recorded, ask, call, policy, start};

/// OpenAI first, Anthropic second, on one sandbox.
fn openai_then_anthropic(env: &Env, cooldown: Duration) -> ProviderChain {
    let models = vec![env.client(Api::OpenAi), env.client(Api::Anthropic)];
    ProviderChain::new(models, policy(cooldown))
}

fn count(env: &Env, api: Api) -> usize {
    env.sandbox.requests(api).len()
}

#[tokio::test]
async fn a_rate_limit_is_retried_after_the_providers_retry_after() {
    for (api, after) in [(Api::OpenAi, RetryAfter::Millis(300)), (Api::Anthropic, RetryAfter::Seconds(1))] {
        let env = start().await;
        let chain = ProviderChain::new(vec![env.client(api)], policy(Duration::from_secs(60)));
        env.sandbox.script_all(api, [Reply::fail(Failure::RateLimited(Some(after))), Reply::text("ok")]);
        let started = Instant::now();
        let outcome = chain.chat(&call(), &ask("hi")).await.expect("the retry answers");
        let waited = started.elapsed();
        let expected = match after {
            RetryAfter::Millis(ms) => Duration::from_millis(ms),
            RetryAfter::Seconds(s) => Duration::from_secs(s),
        };
        assert!(waited >= expected, "{api:?}: waited {waited:?}, asked {expected:?}");
        assert!(waited < expected + Duration::from_millis(800), "{api:?}: {waited:?}");
        assert_eq!(outcome.response.text, "ok");
        assert!(outcome.fallbacks.is_empty());
        assert_eq!(count(&env, api), 2);
    }
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_goes_to_the_next_provider_at_once() {
    let env = start().await;
    let chain = openai_then_anthropic(&env, Duration::from_secs(60));
    env.sandbox.script(Api::OpenAi, Reply::fail(Failure::RateLimited(Some(RetryAfter::Seconds(30)))));
    env.sandbox.script(Api::Anthropic, Reply::text("from anthropic"));
    let started = Instant::now();
    let outcome = chain.chat(&call(), &ask("hi")).await.expect("fallback");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(outcome.provider, "anthropic");
    assert_eq!(count(&env, Api::OpenAi), 1);
}

#[tokio::test]
async fn server_errors_are_retried_then_the_next_provider_answers() {
    let env = start().await;
    let chain = openai_then_anthropic(&env, Duration::from_secs(60));
    env.sandbox.script_all(Api::OpenAi, [500, 503, 500].map(|s| Reply::fail(Failure::Status(s))));
    env.sandbox.script(Api::Anthropic, Reply::text("fallback answer"));
    let outcome = chain.chat(&call(), &ask("hi")).await.expect("fallback");
    assert_eq!(outcome.provider, "anthropic");
    assert_eq!(outcome.model, "claude-sonnet-4-5");
    assert_eq!(outcome.response.text, "fallback answer");
    assert_eq!(count(&env, Api::OpenAi), 3, "one attempt and two retries");
    assert_eq!(outcome.fallbacks.len(), 1);
    assert_eq!(outcome.fallbacks[0].class(), ErrorClass::Server);
}

#[tokio::test]
async fn overloaded_529_is_retried_and_x_should_retry_false_is_not() {
    let env = start().await;
    let chain =
        ProviderChain::new(vec![env.client(Api::Anthropic), env.client(Api::OpenAi)], policy(Duration::from_secs(60)));
    env.sandbox.script_all(Api::Anthropic, [Reply::fail(Failure::Status(529)), Reply::text("after 529")]);
    assert_eq!(chain.chat(&call(), &ask("hi")).await.unwrap().response.text, "after 529");
    assert_eq!(count(&env, Api::Anthropic), 2);

    let env = start().await;
    let chain = openai_then_anthropic(&env, Duration::from_secs(60));
    env.sandbox.script(Api::OpenAi, Reply::fail(Failure::Status(500)).should_retry(false));
    env.sandbox.script(Api::Anthropic, Reply::text("next"));
    assert_eq!(chain.chat(&call(), &ask("hi")).await.unwrap().provider, "anthropic");
    assert_eq!(count(&env, Api::OpenAi), 1, "x-should-retry: false is obeyed");
}

#[tokio::test]
async fn quota_exhaustion_skips_retries_and_cools_the_provider_down() {
    let env = start().await;
    let chain = openai_then_anthropic(&env, Duration::from_secs(60));
    env.sandbox.script(Api::OpenAi, Reply::fail(Failure::QuotaExhausted));
    env.sandbox.script_all(Api::Anthropic, [Reply::text("one"), Reply::text("two")]);
    let outcome = chain.chat(&call(), &ask("hi")).await.expect("fallback");
    assert_eq!(outcome.provider, "anthropic");
    assert_eq!(outcome.fallbacks[0].class(), ErrorClass::QuotaExhausted);
    assert_eq!(count(&env, Api::OpenAi), 1, "a quota 429 is not retried");
    assert_eq!(chain.chat(&call(), &ask("again")).await.unwrap().response.text, "two");
    assert_eq!(count(&env, Api::OpenAi), 1, "and the provider is skipped while it cools down");
}

#[tokio::test]
async fn context_length_goes_to_a_provider_with_a_larger_window_only() {
    let env = start().await;
    let small = start().await;
    let mut big_openai = env.config(Api::OpenAi);
    big_openai.context_window = 128_000;
    let mut smaller = small.config(Api::OpenAi);
    smaller.name = "openai-small".into();
    smaller.context_window = 16_000;
    let mut larger = env.config(Api::Anthropic);
    larger.context_window = 200_000;
    let models = [big_openai, smaller, larger].map(|c| connect(c).unwrap()).to_vec();
    let chain = ProviderChain::new(models, policy(Duration::from_secs(60)));
    env.sandbox.script(Api::OpenAi, Reply::fail(Failure::ContextLength));
    env.sandbox.script(Api::Anthropic, Reply::text("I read it all."));
    let outcome = chain.chat(&call(), &ask("a very long prompt")).await.expect("a larger window");
    assert_eq!(outcome.provider, "anthropic");
    assert_eq!(count(&env, Api::OpenAi), 1, "context length is not retried");
    assert_eq!(count(&small, Api::OpenAi), 0, "a smaller window is not tried");
    assert_eq!(chain.health()[0].1, BreakerState::Closed { failures: 0 }, "a long prompt is not a provider failure");

    // No larger window anywhere: the context-length error itself comes back.
    env.sandbox.script(Api::Anthropic, Reply::fail(Failure::ContextLength));
    let only = ProviderChain::new(vec![env.client(Api::Anthropic)], policy(Duration::from_secs(60)));
    let error = only.chat(&call(), &ask("longer still")).await.expect_err("too long for all");
    assert_eq!(error.class(), ErrorClass::ContextLength, "{error}");
}

#[tokio::test]
async fn a_401_is_never_retried_and_reported_as_configuration() {
    let env = start().await;
    let mut wrong = env.config(Api::OpenAi);
    wrong.api_key = ApiKey::new("sk-wrong");
    let chain =
        ProviderChain::new(vec![connect(wrong).unwrap(), env.client(Api::Anthropic)], policy(Duration::from_secs(60)));
    env.sandbox.script(Api::Anthropic, Reply::text("anthropic works"));
    let outcome = chain.chat(&call(), &ask("hi")).await.expect("fallback past the bad key");
    assert_eq!(outcome.provider, "anthropic");
    assert_eq!(count(&env, Api::OpenAi), 1, "no retry on 401");
    assert!(matches!(&outcome.fallbacks[0], ModelError::Auth(_)));
    assert!(matches!(chain.health()[0].1, BreakerState::Open { .. }), "a rejected key cools the provider down");

    // As the only provider, the error says what to fix.
    let env = start().await;
    let mut wrong = env.config(Api::Anthropic);
    wrong.api_key = ApiKey::new("sk-ant-wrong");
    let only = ProviderChain::new(vec![connect(wrong).unwrap()], policy(Duration::from_secs(60)));
    let error = only.chat(&call(), &ask("hi")).await.expect_err("401");
    assert_eq!(error.class(), ErrorClass::Configuration);
    assert!(error.to_string().contains("anthropic rejected its credentials (401)"), "{error}");
    assert_eq!(count(&env, Api::Anthropic), 1);
}

#[tokio::test]
async fn a_400_stops_the_chain_without_fallback() {
    let env = start().await;
    let chain = openai_then_anthropic(&env, Duration::from_secs(60));
    env.sandbox.script(Api::OpenAi, Reply::fail(Failure::BadRequest("Invalid schema for function".into())));
    let error = chain.chat(&call(), &ask("hi")).await.expect_err("400");
    assert_eq!(error.class(), ErrorClass::InvalidRequest);
    assert_eq!((count(&env, Api::OpenAi), count(&env, Api::Anthropic)), (1, 0));
}

#[tokio::test]
async fn a_failing_provider_cools_down_then_recovers_through_a_probe() {
    let env = start().await;
    let cooldown = Duration::from_millis(400);
    let chain = openai_then_anthropic(&env, cooldown);
    env.sandbox.script_all(Api::OpenAi, [500, 500, 500].map(|s| Reply::fail(Failure::Status(s))));
    env.sandbox.script_all(Api::Anthropic, [Reply::text("a1"), Reply::text("a2")]);
    assert_eq!(chain.chat(&call(), &ask("1")).await.unwrap().provider, "anthropic");
    assert!(matches!(chain.health()[0].1, BreakerState::Open { .. }));

    assert_eq!(chain.chat(&call(), &ask("2")).await.unwrap().response.text, "a2");
    assert_eq!(count(&env, Api::OpenAi), 3, "skipped while cooling down");

    tokio::time::sleep(cooldown + Duration::from_millis(50)).await;
    env.sandbox.script(Api::OpenAi, Reply::text("openai is back"));
    let outcome = chain.chat(&call(), &ask("3")).await.expect("the probe");
    assert_eq!((outcome.provider.as_str(), outcome.response.text.as_str()), ("openai", "openai is back"));
    assert_eq!(chain.health()[0].1, BreakerState::Closed { failures: 0 });
}

#[tokio::test]
async fn with_every_provider_cooling_down_the_chain_fails_fast_with_unavailable() {
    let env = start().await;
    let chain = openai_then_anthropic(&env, Duration::from_secs(60));
    env.sandbox.script(Api::OpenAi, Reply::fail(Failure::QuotaExhausted));
    env.sandbox.script_all(Api::Anthropic, [529, 529, 529].map(|s| Reply::fail(Failure::Status(s))));
    let error = chain.chat(&call(), &ask("1")).await.expect_err("both fail");
    assert!(matches!(&error, ModelError::AllProvidersFailed { failures } if failures.len() == 2), "{error}");
    assert!(error.to_string().contains("quota exhausted"), "{error}");

    let started = Instant::now();
    let error = chain.chat(&call(), &ask("2")).await.expect_err("all cooling");
    assert!(started.elapsed() < Duration::from_millis(50), "{:?}", started.elapsed());
    assert!(matches!(&error, ModelError::Unavailable { providers } if providers.len() == 2), "{error}");
    assert_eq!(tonic::Status::from(error).code(), tonic::Code::Unavailable);
    assert_eq!((count(&env, Api::OpenAi), count(&env, Api::Anthropic)), (1, 3), "no request while cooling");
}

#[tokio::test]
async fn a_slow_first_byte_is_retried_as_a_timeout() {
    let env = start().await;
    let chain = ProviderChain::new(vec![env.client(Api::OpenAi)], policy(Duration::from_secs(60)));
    env.sandbox.script_all(Api::OpenAi, [Reply::text("late").after(Duration::from_secs(2)), Reply::text("on time")]);
    let outcome = chain.chat(&call(), &ask("hi")).await.expect("the retry");
    assert_eq!(outcome.response.text, "on time");
    assert_eq!(count(&env, Api::OpenAi), 2);
}

#[tokio::test]
async fn a_stream_falls_back_before_its_first_output() {
    let env = start().await;
    let chain = openai_then_anthropic(&env, Duration::from_secs(60));
    // OpenAI: a 503, then a stream cut before any output, then a stream erroring before any output.
    env.sandbox.script_all(
        Api::OpenAi,
        [Reply::fail(Failure::Status(503)), Reply::text("never").cut_after(0), Reply::text("never").error_after(1)],
    );
    env.sandbox.script(Api::Anthropic, Reply::text("Streamed from the fallback.").in_fragments_of(5));
    let outcome = chain.stream(&call(), &ask("hi")).await.expect("a committed stream");
    assert_eq!(outcome.provider, "anthropic");
    assert_eq!(outcome.fallbacks.len(), 1);
    let answer = collect(outcome.stream).await.expect("complete");
    assert_eq!(answer.text, "Streamed from the fallback.");
    assert_eq!(count(&env, Api::OpenAi), 3);
}

#[tokio::test]
async fn a_failure_after_the_first_output_is_surfaced_not_replayed_elsewhere() {
    let env = start().await;
    let chain = openai_then_anthropic(&env, Duration::from_secs(60));
    env.sandbox.script(Api::OpenAi, Reply::text("The first half of an answer").in_fragments_of(4).error_after(4));
    env.sandbox.script(Api::Anthropic, Reply::text("a second answer that must not appear"));
    let outcome = chain.stream(&call(), &ask("hi")).await.expect("committed to openai");
    assert_eq!(outcome.provider, "openai");
    let items: Vec<_> = outcome.stream.collect().await;
    let text: String = items
        .iter()
        .filter_map(|e| match e {
            Ok(StreamEvent::TextDelta(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert!("The first half of an answer".starts_with(&text) && !text.is_empty(), "{text}");
    assert!(matches!(items.last(), Some(Err(ModelError::Server(_)))), "{items:?}");
    assert_eq!(count(&env, Api::Anthropic), 0, "no fallback after output");
    assert!(matches!(chain.health()[0].1, BreakerState::Open { .. }), "the failure counts against openai");
}

#[tokio::test]
async fn usage_is_reported_per_call_and_tenant() {
    let env = start().await;
    let sink = Arc::new(Recorded::default());
    let chain = openai_then_anthropic(&env, Duration::from_secs(60)).with_usage_sink(sink.clone());
    env.sandbox
        .script_all(Api::OpenAi, [Reply::text("whole").with_usage(100, 20), Reply::text("streamed").with_usage(40, 8)]);
    let tenant = call();
    chain.chat(&tenant, &ask("one")).await.unwrap();
    let outcome = chain.stream(&tenant, &ask("two")).await.unwrap();
    collect(outcome.stream).await.unwrap();

    // A stream cut mid-way still consumed tokens (Anthropic reports them before the cut).
    env.sandbox.script(Api::OpenAi, Reply::fail(Failure::QuotaExhausted));
    env.sandbox
        .script(Api::Anthropic, Reply::text("partial answer here").in_fragments_of(3).with_usage(70, 5).cut_after(6));
    let outcome = chain.stream(&tenant, &ask("three")).await.unwrap();
    let items: Vec<_> = outcome.stream.collect().await;
    assert!(matches!(items.last(), Some(Err(ModelError::StreamInterrupted { .. }))));

    let records = sink.all();
    let seen: Vec<(&str, Usage, bool)> = records.iter().map(|r| (r.provider.as_str(), r.usage, r.completed)).collect();
    assert_eq!(
        seen,
        vec![
            ("openai", Usage { input_tokens: 100, output_tokens: 20 }, true),
            ("openai", Usage { input_tokens: 40, output_tokens: 8 }, true),
            ("anthropic", Usage { input_tokens: 70, output_tokens: 1 }, false),
        ]
    );
    assert!(records.iter().all(|r| r.tenant == tenant.tenant));
    assert_eq!(records[0].model, "gpt-4o-mini");
}
