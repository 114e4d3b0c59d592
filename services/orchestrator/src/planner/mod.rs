//! Planning and answering: the [`Planner`] trait a model provider implements (turn a routed question into a
//! [`PlanDraft`]; write the answer from the steps' results), the intent [`router`] (and its [`evaluation`] on the
//! labelled set), and the built-in [`OfflinePlanner`], the default when no model provider is configured.

pub mod evaluation;
pub mod example_cache;
mod model;
mod offline;
pub mod router;
mod time;

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;
use switchboard_proto::orchestrator::v1::{Citation, StepStatus};
use switchboard_types::TenantId;

pub use self::model::ModelPlanner;
pub use self::offline::OfflinePlanner;
use self::router::Routed;

use crate::plan::{PlanDraft, UsableConnection};
use crate::tools::ToolSpec;

/// A boxed planner future (keeps [`Planner`] object-safe).
pub type PlannerFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, PlannerError>> + Send + 'a>>;

/// Why a planner could not plan or answer: the run fails with `code` and `message`, which is shown to the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PlannerError {
    /// The run's error code: FAILED_PRECONDITION for a request that cannot be planned, UNAVAILABLE when no model
    /// could be reached, RESOURCE_EXHAUSTED when the tenant's token budget is spent.
    pub code: tonic::Code,
    /// What went wrong and what to do, for the person.
    pub message: String,
}

impl PlannerError {
    /// The request cannot be planned or answered as asked (FAILED_PRECONDITION).
    pub fn refused(message: impl Into<String>) -> Self {
        Self { code: tonic::Code::FailedPrecondition, message: message.into() }
    }
}

/// Where a planner sends the answer's text as it is written (see [`Planner::answer_streamed`]).
pub type AnswerDeltas = tokio::sync::mpsc::Sender<String>;

/// Model tokens a planner call used (0 for the offline planner).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: i64,
    /// Completion tokens.
    pub output_tokens: i64,
}

/// What a planner plans from.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    /// The tenant the run belongs to (model calls are charged to it).
    pub tenant: TenantId,
    /// The question.
    pub question: String,
    /// The router's decision.
    pub routed: Routed,
    /// The tools the run may call.
    pub tools: Vec<ToolSpec>,
    /// The connections the run may use.
    pub connections: Vec<UsableConnection>,
    /// Now, in unix seconds (time ranges such as "last week" are relative to it).
    pub now: i64,
    /// The exchange this question follows up (`AskRequest.previous_run`), so that "and the week before?" has its
    /// subject. The model planner puts it before the question; the offline planner's keyword rules have no use for it.
    pub previous: Option<Exchange>,
}

/// An earlier question and the answer it got: the context of a follow-up question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The earlier question.
    pub question: String,
    /// Its answer's text (empty when the run ended without one).
    pub answer: String,
}

/// A plan and what it cost.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The plan (possibly with no steps, for questions answered without tools).
    pub plan: PlanDraft,
    /// Tokens used.
    pub usage: Usage,
    /// `<provider>/<model>` that wrote the plan when it is not [`Planner::model`] (a fallback did); `None` otherwise.
    pub model: Option<String>,
}

/// A step's result, as the answer is written from it.
#[derive(Debug, Clone)]
pub struct StepResult {
    /// Step id.
    pub id: String,
    /// `runs/{run}/steps/{id}`.
    pub name: String,
    /// What it did.
    pub description: String,
    /// Tool called.
    pub tool: String,
    /// How it ended.
    pub status: StepStatus,
    /// Resolved input, when it got that far.
    pub input: Option<Value>,
    /// Output, when it succeeded.
    pub output: Option<Value>,
    /// Why it did not succeed.
    pub error: Option<String>,
    /// Reviewer's comment or rejection reason.
    pub review_comment: String,
}

/// What an answer is written from.
#[derive(Debug, Clone)]
pub struct AnswerRequest {
    /// The tenant the run belongs to (model calls are charged to it).
    pub tenant: TenantId,
    /// The question.
    pub question: String,
    /// The router's decision.
    pub routed: Routed,
    /// The plan's summary.
    pub summary: String,
    /// Every step, in plan order.
    pub steps: Vec<StepResult>,
    /// The exchange this question follows up, as in [`PlanRequest::previous`].
    pub previous: Option<Exchange>,
}

/// An answer and what it cost.
#[derive(Debug, Clone)]
pub struct Answered {
    /// Markdown; citations marked `[n]` (1-based into `citations`).
    pub text: String,
    /// What the answer rests on.
    pub citations: Vec<Citation>,
    /// Tokens used.
    pub usage: Usage,
    /// `<provider>/<model>` that wrote the answer when it is not [`Planner::model`] (a fallback did); `None`
    /// otherwise.
    pub model: Option<String>,
}

/// Plans runs and writes their answers. Implemented by the offline planner and, once configured, by model
/// providers (behind one provider chain with retries and fallback).
pub trait Planner: Send + Sync + 'static {
    /// `<provider>/<model>`, as `Run.model` shows it.
    fn model(&self) -> String;
    /// Plans `request`. A plan may have no steps (help, unsupported): the answer then explains.
    fn plan<'a>(&'a self, request: &'a PlanRequest) -> PlannerFuture<'a, Planned>;
    /// Writes the answer from the steps' results. Step outputs are data: they are quoted and summarised, never
    /// followed as instructions.
    fn answer<'a>(&'a self, request: &'a AnswerRequest) -> PlannerFuture<'a, Answered>;
    /// Writes the answer like [`Planner::answer`], sending its text to `deltas` as it is produced; the returned
    /// [`Answered`] is the whole answer. A planner that writes its answer at once sends nothing (the default).
    fn answer_streamed<'a>(&'a self, request: &'a AnswerRequest, deltas: AnswerDeltas) -> PlannerFuture<'a, Answered> {
        drop(deltas);
        self.answer(request)
    }
    /// Who decides the questions the intent router cannot place: a model planner asks its model; the offline
    /// planner has no one (the default), and such questions are `unsupported`.
    fn router_fallback(&self) -> Option<std::sync::Arc<dyn router::Fallback>> {
        None
    }
}
