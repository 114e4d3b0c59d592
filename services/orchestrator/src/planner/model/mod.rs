//! The model planner: plans and answers with a language model through the one [`ProviderChain`] (retries,
//! fallback, cooldowns live there, not here).
//!
//! - Planning is one call that must call `submit_plan` (see `prompt`); the plan is checked against the catalog,
//!   the connections and each tool's input schema. A plan that fails goes back to the model once with the reason;
//!   a second failure refuses the run with both reasons.
//! - Answering streams: text deltas go to the run's log as they arrive; the whole text and its citations make the
//!   final answer.
//! - Every model call first reserves its estimated tokens from the tenant's monthly budget (`crate::usage`), and
//!   is refused when they do not fit beside the calls in flight. Tokens are counted by the chain's usage sink
//!   (every attempt, failed and fallen-back ones included), so [`Planned::usage`] and [`Answered::usage`] are zero
//!   here and nothing is counted twice.
//!
//! The approval gate is not the model's to decide: `needs_approval` from the model can only add approvals; the
//! catalog's flag is forced by the plan check (here and again in the runner).

mod classify;
mod prompt;
mod schema;

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use switchboard_models::{CallContext, ChatRequest, ModelError, ProviderChain, StreamEvent};
use switchboard_proto::orchestrator::v1::Citation;
use switchboard_store::Store;
use switchboard_types::TenantId;

use super::{AnswerDeltas, AnswerRequest, Answered, PlanRequest, Planned, Planner, PlannerError, PlannerFuture, Usage};
use crate::plan::{self, PlanDraft};
use crate::tools::records;
use crate::usage::{Reservation, UsageRecorder};

/// Plans and answers with the provider chain.
pub struct ModelPlanner {
    chain: Arc<ProviderChain>,
    model: String,
    store: Store,
    usage: Arc<UsageRecorder>,
}

impl std::fmt::Debug for ModelPlanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelPlanner").field("model", &self.model).field("chain", &self.chain).finish()
    }
}

impl ModelPlanner {
    /// A planner over `chain`, whose first provider is `model` (`<provider>/<model>`, as runs show it) and whose
    /// usage sink is `usage`; budgets are read from `store`.
    pub(crate) fn new(chain: Arc<ProviderChain>, model: String, store: Store, usage: Arc<UsageRecorder>) -> Self {
        Self { chain, model, store, usage }
    }

    /// One call through the chain: the reply, and the `<provider>/<model>` that gave it when a fallback did.
    async fn chat(
        &self,
        tenant: TenantId,
        request: &ChatRequest,
    ) -> Result<(switchboard_models::ChatResponse, Option<String>), PlannerError> {
        let reservation = reserve(&self.store, &self.usage, &self.chain, tenant, request).await?;
        let outcome = self.chain.chat(&CallContext { tenant }, request).await;
        reservation.release().await;
        let outcome = outcome.map_err(model_error)?;
        for failure in &outcome.fallbacks {
            tracing::warn!(answered_by = %outcome.provider, %failure, "a model provider failed; a fallback answered");
        }
        let by = self.fallback_model(&outcome.provider, &outcome.model);
        Ok((outcome.response, by))
    }

    /// `<provider>/<model>` when it is not the chain's first (the one runs are labelled with).
    fn fallback_model(&self, provider: &str, model: &str) -> Option<String> {
        let name = format!("{provider}/{model}");
        (name != self.model).then_some(name)
    }

    async fn plan_run(&self, request: &PlanRequest) -> Result<Planned, PlannerError> {
        let mut chat = prompt::plan_request(request);
        let (first, model) = self.chat(request.tenant, &chat).await?;
        let refused = match Self::accept(request, &first) {
            Ok(plan) => return Ok(Planned { plan, usage: Usage::default(), model }),
            Err(reason) => reason,
        };
        tracing::info!(reason = %refused, "the model's plan was refused; asking it to repair the plan once");
        chat.messages.extend(prompt::repair_turn(&first, &refused));
        let (second, model) = self.chat(request.tenant, &chat).await?;
        match Self::accept(request, &second) {
            Ok(plan) => Ok(Planned { plan, usage: Usage::default(), model }),
            Err(again) => Err(PlannerError::refused(format!(
                "the model could not produce a valid plan: first {refused}; after one repair, {again}. Try asking \
                 in other words, or more precisely"
            ))),
        }
    }

    /// The plan in the model's reply, checked; or why it is refused (for the model, and the person).
    fn accept(request: &PlanRequest, response: &switchboard_models::ChatResponse) -> Result<PlanDraft, String> {
        let call = match response.tool_calls.as_slice() {
            [call] => call,
            [] => return Err(format!("no {} call was made", prompt::SUBMIT_PLAN)),
            [_, ..] => return Err(format!("call {} exactly once, with the whole plan", prompt::SUBMIT_PLAN)),
        };
        let mut plan = prompt::read_plan(call)?;
        plan::check(&mut plan, &request.tools, &request.connections)?;
        for step in &plan.steps {
            let Some(tool) = request.tools.iter().find(|t| t.name == step.tool) else { continue };
            if records::is_builtin(&step.tool) {
                if plan::references(&step.input).is_empty() {
                    records::parse(&step.tool, &step.input).map_err(|e| format!("step {}: {e}", step.id))?;
                }
            } else {
                schema::check(&tool.input_schema, &step.input).map_err(|e| format!("step {}: {e}", step.id))?;
            }
        }
        Ok(plan)
    }

    async fn answer_run(
        &self,
        request: &AnswerRequest,
        deltas: Option<AnswerDeltas>,
    ) -> Result<Answered, PlannerError> {
        let (chat, citations) = prompt::answer_request(request);
        let reservation = reserve(&self.store, &self.usage, &self.chain, request.tenant, &chat).await?;
        let answered = self.stream_answer(request, &chat, citations, deltas).await;
        reservation.release().await;
        answered
    }

    /// Streams the answer to `chat`, passing its text on to `deltas` as it comes.
    async fn stream_answer(
        &self,
        request: &AnswerRequest,
        chat: &ChatRequest,
        citations: Vec<Citation>,
        deltas: Option<AnswerDeltas>,
    ) -> Result<Answered, PlannerError> {
        let asked = Instant::now();
        let outcome = self.chain.stream(&CallContext { tenant: request.tenant }, chat).await.map_err(model_error)?;
        tracing::info!(
            provider = %outcome.provider,
            model = %outcome.model,
            first_output_ms = asked.elapsed().as_millis() as u64,
            fallbacks = outcome.fallbacks.len(),
            "answer streaming"
        );
        let provider = outcome.provider.clone();
        let model = self.fallback_model(&outcome.provider, &outcome.model);
        let mut stream = outcome.stream;
        let mut text = String::new();
        while let Some(event) = stream.next().await {
            match event {
                Ok(StreamEvent::TextDelta(delta)) => {
                    text.push_str(&delta);
                    // A closed receiver means the run ended (cancelled): stop reading, which drops the stream.
                    if let Some(deltas) = &deltas
                        && deltas.send(delta).await.is_err()
                    {
                        return Err(PlannerError::refused("the run ended while its answer was written"));
                    }
                }
                Ok(StreamEvent::Finished { .. }) => break,
                Ok(_) => {}
                Err(error) => {
                    return Err(PlannerError {
                        code: tonic::Code::Unavailable,
                        message: format!("the answer from {provider} broke off: {error}; ask again"),
                    });
                }
            }
        }
        if text.trim().is_empty() {
            return Err(PlannerError {
                code: tonic::Code::Unavailable,
                message: format!("{provider} returned an empty answer; ask again"),
            });
        }
        Ok(Answered { text, citations, usage: Usage::default(), model })
    }
}

/// Reserves the tokens `request` may use from `tenant`'s budget (see [`crate::usage::reserve`]), or refuses the
/// call with RESOURCE_EXHAUSTED.
async fn reserve(
    store: &Store,
    usage: &Arc<UsageRecorder>,
    chain: &ProviderChain,
    tenant: TenantId,
    request: &ChatRequest,
) -> Result<Reservation, PlannerError> {
    let reserved = crate::usage::reserve(store, usage, tenant, chain.token_estimate(request)).await;
    match reserved {
        Ok(Ok(reservation)) => Ok(reservation),
        Ok(Err(message)) => Err(PlannerError { code: tonic::Code::ResourceExhausted, message }),
        Err(e) => Err(PlannerError {
            code: tonic::Code::Unavailable,
            message: format!("the token budget could not be checked: {e}"),
        }),
    }
}

/// A chain failure as the run's error: its gRPC class (UNAVAILABLE when every provider is cooling down or failed,
/// RESOURCE_EXHAUSTED for rate limits, FAILED_PRECONDITION for configuration) and its message.
fn model_error(error: ModelError) -> PlannerError {
    let status = tonic::Status::from(error);
    PlannerError { code: status.code(), message: format!("the language model is unavailable: {}", status.message()) }
}

impl Planner for ModelPlanner {
    fn model(&self) -> String {
        self.model.clone()
    }

    fn plan<'a>(&'a self, request: &'a PlanRequest) -> PlannerFuture<'a, Planned> {
        Box::pin(self.plan_run(request))
    }

    fn answer<'a>(&'a self, request: &'a AnswerRequest) -> PlannerFuture<'a, Answered> {
        Box::pin(self.answer_run(request, None))
    }

    fn answer_streamed<'a>(&'a self, request: &'a AnswerRequest, deltas: AnswerDeltas) -> PlannerFuture<'a, Answered> {
        Box::pin(self.answer_run(request, Some(deltas)))
    }

    fn router_fallback(&self) -> Option<Arc<dyn crate::planner::router::Fallback>> {
        Some(Arc::new(classify::ModelRouterFallback {
            chain: Arc::clone(&self.chain),
            store: self.store.clone(),
            usage: Arc::clone(&self.usage),
        }))
    }
}
