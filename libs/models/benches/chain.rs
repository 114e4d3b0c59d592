//! The provider chain's failover benchmark (`cargo bench -p switchboard-models --bench chain`, part of `make
//! bench`): time to the first streamed token of an answer when the primary provider (OpenAI on the model sandbox)
//! fails and the fallback (Anthropic on the same sandbox) answers, with the chain's default policy (two retries
//! with 0.5-8 s backoff, a breaker opening after three failed calls for 30 s). Each sample is a fresh chain, so
//! each includes connecting to the sandbox on the loopback; the healthy primary is the baseline.

use std::time::{Duration, Instant};

use futures::StreamExt;
use switchboard_model_sandbox::{ANTHROPIC_KEY, Api, Failure, ModelSandbox, ModelSandboxHandle, OPENAI_KEY, Reply};
use switchboard_models::{
    ApiKey, CallContext, ChainPolicy, ChatRequest, Message, ProviderChain, ProviderConfig, StreamEvent,
};
use switchboard_types::TenantId;
use tokio_util::sync::CancellationToken;

fn chain(sandbox: &ModelSandboxHandle) -> ProviderChain {
    let mut openai = ProviderConfig::openai(ApiKey::new(OPENAI_KEY), "gpt-4o-mini");
    openai.base_url = format!("{}/v1", sandbox.openai_base());
    let mut anthropic = ProviderConfig::anthropic(ApiKey::new(ANTHROPIC_KEY), "claude-sonnet-4-5");
    anthropic.base_url = sandbox.anthropic_base();
    match ProviderChain::from_configs(vec![openai, anthropic], ChainPolicy::default()) {
        Ok(chain) => chain,
        Err(e) => {
            eprintln!("the chain: {e}");
            std::process::exit(1);
        }
    }
}

fn ask() -> ChatRequest {
    ChatRequest { messages: vec![Message::user("How much did we make last week?")], ..ChatRequest::default() }
}

/// Streams one answer: the time to its first text delta, and who wrote it.
async fn first_token(chain: &ProviderChain, call: &CallContext) -> (Duration, String) {
    let started = Instant::now();
    let outcome = match chain.stream(call, &ask()).await {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("no provider answered: {e}");
            std::process::exit(1);
        }
    };
    let mut stream = outcome.stream;
    while let Some(event) = stream.next().await {
        match event {
            Ok(StreamEvent::TextDelta(_)) => {
                let at = started.elapsed();
                while stream.next().await.is_some() {}
                return (at, outcome.provider);
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("the stream failed: {e}");
                std::process::exit(1);
            }
        }
    }
    eprintln!("the answer had no text");
    std::process::exit(1);
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[derive(Clone, Copy)]
enum Case {
    Healthy,
    Quota,
    ServerErrors,
    CoolingDown,
}

async fn sample(sandbox: &ModelSandboxHandle, case: Case) -> (Duration, String) {
    let chain = chain(sandbox);
    let call = CallContext { tenant: TenantId::generate() };
    let answer = || Reply::text("Last week you made $1,234.56 from 17 charges.");
    match case {
        Case::Healthy => sandbox.script(Api::OpenAi, answer()),
        Case::Quota => {
            sandbox.script(Api::OpenAi, Reply::fail(Failure::QuotaExhausted));
            sandbox.script(Api::Anthropic, answer());
        }
        Case::ServerErrors => {
            sandbox.script_all(Api::OpenAi, [503, 503, 503].map(|s| Reply::fail(Failure::Status(s))));
            sandbox.script(Api::Anthropic, answer());
        }
        Case::CoolingDown => {
            // A spent quota trips the primary's breaker at once (not timed); the next call skips it.
            sandbox.script(Api::OpenAi, Reply::fail(Failure::QuotaExhausted));
            sandbox.script(Api::Anthropic, answer());
            first_token(&chain, &call).await;
            sandbox.script(Api::Anthropic, answer());
        }
    }
    let asked = sandbox.requests(Api::OpenAi).len();
    let timed = first_token(&chain, &call).await;
    // Every scripted reply was used, and the primary was asked as often as the case says.
    let expected = match case {
        Case::Healthy | Case::Quota => 1,
        Case::CoolingDown => 0,
        Case::ServerErrors => 3,
    };
    let primary_calls = sandbox.requests(Api::OpenAi).len() - asked;
    if primary_calls != expected {
        eprintln!("the primary was asked {primary_calls} times, not {expected}");
        std::process::exit(1);
    }
    timed
}

fn main() {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("runtime: {e}");
            std::process::exit(1);
        }
    };
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let sandbox = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => match ModelSandbox::start(listener, shutdown.clone()).await {
                Ok(sandbox) => sandbox,
                Err(e) => {
                    eprintln!("the model sandbox: {e}");
                    std::process::exit(1);
                }
            },
            Err(e) => {
                eprintln!("binding the model sandbox: {e}");
                std::process::exit(1);
            }
        };
        println!("provider chain: time to the first token, OpenAI primary, Anthropic fallback, default policy");
        println!("{:<52} {:>8} {:>10} {:>10} {:>10}", "primary", "samples", "p50", "p99", "answered by");
        for (name, case, samples) in [
            ("healthy (baseline)", Case::Healthy, 100),
            ("429 insufficient_quota (no retry, fallback)", Case::Quota, 100),
            ("cooling down (breaker open, skipped)", Case::CoolingDown, 50),
            ("503 three times (two retries with backoff, fallback)", Case::ServerErrors, 4),
        ] {
            let mut times = Vec::with_capacity(samples);
            let mut by = String::new();
            for _ in 0..samples {
                let (time, provider) = sample(&sandbox, case).await;
                times.push(time);
                by = provider;
            }
            times.sort();
            println!(
                "{name:<52} {samples:>8} {:>10} {:>10} {by:>10}",
                ms(percentile(&times, 0.5)),
                ms(percentile(&times, 0.99))
            );
        }
        shutdown.cancel();
    });
}
