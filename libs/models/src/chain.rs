//! The provider chain: the only retry loop. A call goes to the first provider whose breaker lets it through; a
//! failed attempt is retried, sent to the next provider, or stopped as [`RetryPolicy`] decides; each provider's
//! breaker learns from the outcome; with every provider cooling down the call fails fast with
//! [`ModelError::Unavailable`].
//!
//! Streams fall back only before their first output. The chain reads a provider's stream until its first output
//! event (text, a tool call, or the end); failures up to that point are retried or sent on like any other. From
//! then on the stream is committed to that provider: a later failure (an `error` event, a cut connection, a
//! malformed tool-call argument) is the stream's last item, the events before it stay as they were, and nothing is
//! replayed from another provider — a fallback could not take back text the user has already seen, and would show
//! a second, different answer after it. The caller decides what to do with a cut answer (say so, or ask again:
//! a new call through the chain, whose breaker has counted the failure).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;

use crate::breaker::{Breaker, BreakerPolicy, BreakerState};
use crate::chat::{ChatRequest, ChatResponse, Usage};
use crate::config::ProviderConfig;
use crate::error::ModelError;
use crate::provider::{ChatModel, connect};
use crate::retry::{Decision, RetryPolicy};
use crate::stream::{ChatStream, StreamEvent};
use crate::usage::{CallContext, UsageRecord, UsageSink};

/// How the chain retries and cools providers down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChainPolicy {
    /// Retries per provider.
    pub retry: RetryPolicy,
    /// Cooldowns.
    pub breaker: BreakerPolicy,
}

/// A provider in the chain with its breaker.
struct Member {
    model: Arc<dyn ChatModel>,
    breaker: Mutex<Breaker>,
}

impl Member {
    fn breaker(&self) -> MutexGuard<'_, Breaker> {
        // A panic elsewhere while holding this lock leaves a valid state machine behind: keep using it.
        self.breaker.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Ordered providers with retries, fallback and cooldowns.
pub struct ProviderChain {
    members: Vec<Arc<Member>>,
    policy: ChainPolicy,
    usage: Option<Arc<dyn UsageSink>>,
}

impl std::fmt::Debug for ProviderChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.members.iter().map(|m| m.model.name()).collect();
        f.debug_struct("ProviderChain").field("providers", &names).field("policy", &self.policy).finish()
    }
}

/// A finished call and how it got there.
#[derive(Debug)]
pub struct ChatOutcome {
    /// The answer.
    pub response: ChatResponse,
    /// The provider that gave it.
    pub provider: String,
    /// Its model.
    pub model: String,
    /// The last error of each provider tried before it (empty when the first one answered).
    pub fallbacks: Vec<ModelError>,
}

/// A stream committed to one provider.
pub struct StreamOutcome {
    /// The answer's events, from its first output on.
    pub stream: ChatStream,
    /// The provider streaming it.
    pub provider: String,
    /// Its model.
    pub model: String,
    /// The last error of each provider tried before it.
    pub fallbacks: Vec<ModelError>,
}

impl std::fmt::Debug for StreamOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamOutcome")
            .field("provider", &self.provider)
            .field("model", &self.model)
            .field("fallbacks", &self.fallbacks)
            .finish_non_exhaustive()
    }
}

/// What one successful attempt produced.
enum Produced {
    Whole(ChatResponse),
    /// The first output events (and any usage before them), then the rest of the stream.
    Stream(VecDeque<StreamEvent>, ChatStream),
}

impl ProviderChain {
    /// A chain over `models`, tried in order.
    pub fn new(models: Vec<Arc<dyn ChatModel>>, policy: ChainPolicy) -> Self {
        let members = models.into_iter().map(|model| Arc::new(Member { model, breaker: Mutex::default() })).collect();
        Self { members, policy, usage: None }
    }

    /// A chain over HTTP clients of `configs` (see [`crate::providers_from_env`]).
    pub fn from_configs(configs: Vec<ProviderConfig>, policy: ChainPolicy) -> Result<Self, ModelError> {
        let models = configs.into_iter().map(connect).collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(models, policy))
    }

    /// Reports every attempt's token usage to `sink`.
    pub fn with_usage_sink(mut self, sink: Arc<dyn UsageSink>) -> Self {
        self.usage = Some(sink);
        self
    }

    /// Each provider's name and breaker state, in chain order.
    pub fn health(&self) -> Vec<(String, BreakerState)> {
        self.members.iter().map(|m| (m.model.name().to_owned(), m.breaker().state())).collect()
    }

    /// A generous estimate of the tokens `request` can use on whichever provider answers it, for reserving a
    /// budget before the call: [`ChatRequest::estimated_input_tokens`] plus the largest output limit among the
    /// providers (the request's own, or each provider's configured one). The output part is a bound; the input part
    /// is an estimate (see that method), so a single call can exceed it only on unusually token-dense input.
    pub fn token_estimate(&self, request: &ChatRequest) -> u64 {
        let output = self
            .members
            .iter()
            .map(|m| request.max_tokens.unwrap_or_else(|| m.model.max_output_tokens()))
            .max()
            .unwrap_or(0);
        request.estimated_input_tokens().saturating_add(u64::from(output))
    }

    /// One call answered whole.
    pub async fn chat(&self, call: &CallContext, request: &ChatRequest) -> Result<ChatOutcome, ModelError> {
        let (member, produced, fallbacks) = self.run(call, request, false).await?;
        let Produced::Whole(response) = produced else {
            let message = "internal: a whole call produced a stream".to_owned();
            return Err(ModelError::Protocol { provider: member.model.name().to_owned(), message });
        };
        Ok(ChatOutcome {
            provider: member.model.name().to_owned(),
            model: member.model.model().to_owned(),
            response,
            fallbacks,
        })
    }

    /// One streamed call, committed to the first provider that produced output (see the module doc for what a
    /// failure after that means).
    pub async fn stream(&self, call: &CallContext, request: &ChatRequest) -> Result<StreamOutcome, ModelError> {
        let (member, produced, fallbacks) = self.run(call, request, true).await?;
        let Produced::Stream(first, rest) = produced else {
            let message = "internal: a streamed call produced a whole answer".to_owned();
            return Err(ModelError::Protocol { provider: member.model.name().to_owned(), message });
        };
        let provider = member.model.name().to_owned();
        let model = member.model.model().to_owned();
        let tracker = Tracker {
            member,
            policy: self.policy.breaker,
            sink: self.usage.clone(),
            tenant: call.clone(),
            usage: None,
            settled: false,
        };
        let stream = committed(first, rest, tracker);
        Ok(StreamOutcome { stream, provider, model, fallbacks })
    }

    async fn run(
        &self,
        call: &CallContext,
        request: &ChatRequest,
        streaming: bool,
    ) -> Result<(Arc<Member>, Produced, Vec<ModelError>), ModelError> {
        if self.members.is_empty() {
            return Err(ModelError::NoProviders);
        }
        let mut failures = Vec::new();
        let mut cooling = Vec::new();
        // After a context-length error, only providers with a larger window than this are worth asking.
        let mut larger_than: Option<u32> = None;
        for member in &self.members {
            let name = member.model.name();
            if larger_than.is_some_and(|window| member.model.context_window() <= window) {
                continue;
            }
            if !member.breaker().try_acquire(Instant::now()) {
                cooling.push(name.to_owned());
                continue;
            }
            let mut retries = 0;
            loop {
                let error = match self.attempt(member, call, request, streaming).await {
                    Ok(produced) => return Ok((member.clone(), produced, failures)),
                    Err(error) => error,
                };
                match self.policy.retry.decide(&error, retries) {
                    Decision::Retry(wait) => {
                        tracing::warn!(provider = name, %error, ?wait, retry = retries + 1, "model call failed; retrying");
                        tokio::time::sleep(wait).await;
                        retries += 1;
                        continue;
                    }
                    Decision::NextProvider => {
                        tracing::warn!(provider = name, %error, "model provider failed; trying the next one");
                        member.breaker().failure(Instant::now(), &self.policy.breaker);
                    }
                    Decision::TripAndNext => {
                        tracing::error!(provider = name, %error, "model provider cannot serve; cooling it down");
                        let cooldown = self.policy.breaker.cooldown.max(error.retry_after().unwrap_or(Duration::ZERO));
                        member.breaker().trip(Instant::now(), cooldown);
                    }
                    Decision::LargerWindow => {
                        tracing::info!(
                            provider = name,
                            window = member.model.context_window(),
                            "prompt too long for the provider's context window"
                        );
                        member.breaker().release();
                        larger_than = Some(member.model.context_window().max(larger_than.unwrap_or(0)));
                    }
                    Decision::Stop => {
                        member.breaker().release();
                        return Err(error);
                    }
                }
                failures.push(error);
                break;
            }
        }
        if failures.is_empty() {
            return Err(ModelError::Unavailable { providers: cooling });
        }
        if failures.len() == 1 && cooling.is_empty() {
            return Err(failures.remove(0));
        }
        Err(ModelError::AllProvidersFailed { failures })
    }

    /// One attempt at one provider; for a stream, until its first output.
    async fn attempt(
        &self,
        member: &Arc<Member>,
        call: &CallContext,
        request: &ChatRequest,
        streaming: bool,
    ) -> Result<Produced, ModelError> {
        if !streaming {
            let response = member.model.chat(request).await?;
            member.breaker().success();
            self.record(member, call, response.usage, true);
            return Ok(Produced::Whole(response));
        }
        let mut stream = member.model.stream(request).await?;
        let mut first = VecDeque::new();
        let mut usage = None;
        loop {
            match stream.next().await {
                Some(Ok(event)) => {
                    let output = !matches!(event, StreamEvent::Usage(_));
                    if let StreamEvent::Usage(u) = &event {
                        usage = Some(*u);
                    }
                    first.push_back(event);
                    if output {
                        return Ok(Produced::Stream(first, stream));
                    }
                }
                Some(Err(error)) => {
                    if let Some(usage) = usage {
                        self.record(member, call, usage, false);
                    }
                    return Err(error);
                }
                None => {
                    return Err(ModelError::StreamInterrupted { provider: member.model.name().to_owned() });
                }
            }
        }
    }

    fn record(&self, member: &Member, call: &CallContext, usage: Usage, completed: bool) {
        if let Some(sink) = &self.usage {
            sink.record(UsageRecord {
                tenant: call.tenant,
                provider: member.model.name().to_owned(),
                model: member.model.model().to_owned(),
                usage,
                completed,
            });
        }
    }
}

// === impl Tracker ===

/// Follows a committed stream to settle its provider's breaker and report its usage exactly once: at
/// `Finished`, at an error, or when the caller drops the stream early.
struct Tracker {
    member: Arc<Member>,
    policy: BreakerPolicy,
    sink: Option<Arc<dyn UsageSink>>,
    tenant: CallContext,
    usage: Option<Usage>,
    settled: bool,
}

/// How a committed stream ended.
enum End {
    Finished,
    Failed,
    Dropped,
}

impl Tracker {
    fn observe(&mut self, item: &Result<StreamEvent, ModelError>) {
        match item {
            Ok(StreamEvent::Usage(usage)) => self.usage = Some(*usage),
            Ok(StreamEvent::Finished { .. }) => self.settle(End::Finished),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(provider = self.member.model.name(), %error, "model stream failed after its first output; not falling back");
                self.settle(End::Failed);
            }
        }
    }

    fn settle(&mut self, end: End) {
        if self.settled {
            return;
        }
        self.settled = true;
        match end {
            End::Finished => self.member.breaker().success(),
            End::Failed => self.member.breaker().failure(Instant::now(), &self.policy),
            End::Dropped => self.member.breaker().release(),
        }
        if let (Some(sink), Some(usage)) = (&self.sink, self.usage) {
            sink.record(UsageRecord {
                tenant: self.tenant.tenant,
                provider: self.member.model.name().to_owned(),
                model: self.member.model.model().to_owned(),
                usage,
                completed: matches!(end, End::Finished),
            });
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.settle(End::Dropped);
    }
}

fn committed(first: VecDeque<StreamEvent>, rest: ChatStream, tracker: Tracker) -> ChatStream {
    futures::stream::unfold((first, rest, tracker), |(mut first, mut rest, mut tracker)| async move {
        let item = match first.pop_front() {
            Some(event) => Ok(event),
            None => rest.next().await?,
        };
        tracker.observe(&item);
        Some((item, (first, rest, tracker)))
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn calls_can_run_on_any_worker_thread() {
        // Services hold the chain in `Arc`s and await it inside tonic handlers: the futures must be `Send`.
        let chain = ProviderChain::new(Vec::new(), ChainPolicy::default());
        let call = CallContext { tenant: switchboard_types::TenantId::generate() };
        let request = ChatRequest::default();
        assert_send(&chain.chat(&call, &request));
        assert_send(&chain.stream(&call, &request));
        fn shareable<T: Send + Sync>(_: &T) {}
        shareable(&chain);
    }

    #[test]
    fn a_token_estimate_covers_the_largest_output_limit_and_grows_with_the_input() {
        use crate::{ApiKey, Message, ToolSpec};
        let mut openai = ProviderConfig::openai(ApiKey::new("k"), "gpt-4o-mini");
        openai.max_tokens = 500;
        let mut anthropic = ProviderConfig::anthropic(ApiKey::new("k"), "claude-sonnet-4-5");
        anthropic.max_tokens = 2000;
        let chain = ProviderChain::from_configs(vec![openai, anthropic], ChainPolicy::default()).unwrap();

        let short =
            ChatRequest { messages: vec![Message::user("How much did we make last week?")], ..Default::default() };
        let input = short.estimated_input_tokens();
        // 31 bytes at 3 a token, plus framing for the system slot and one message.
        assert_eq!(input, 11 + 16);
        assert_eq!(chain.token_estimate(&short), input + 2000, "the larger configured limit of the two");
        let capped = ChatRequest { max_tokens: Some(100), ..short.clone() };
        assert_eq!(chain.token_estimate(&capped), input + 100, "the request's own limit applies to both");

        let tool = ToolSpec {
            name: "submit_plan".into(),
            description: "Submit the plan".into(),
            parameters: serde_json::json!({"type": "object", "properties": {"steps": {"type": "array"}}}),
        };
        let with_tools = ChatRequest { tools: vec![tool], system: Some("You plan.".into()), ..short };
        assert!(with_tools.estimated_input_tokens() > input + 20, "{}", with_tools.estimated_input_tokens());
    }

    #[tokio::test]
    async fn an_empty_chain_says_how_to_configure_one() {
        let chain = ProviderChain::new(Vec::new(), ChainPolicy::default());
        let call = CallContext { tenant: switchboard_types::TenantId::generate() };
        let error = chain.chat(&call, &ChatRequest::default()).await.expect_err("no providers");
        assert!(error.to_string().contains("OPENAI_API_KEY"), "{error}");
    }
}
