//! The run engine: creates runs, drives each through planning, its steps and its answer, and applies approvals,
//! rejections and cancellations.
//!
//! ## State and events
//!
//! Runs and steps live in the orchestrator's tables. Every change is one transaction that takes the run's lock,
//! re-reads what it changes, writes the change and appends the events reporting it to the run's log
//! ([`Repo::append_event`]); after the commit the events go to live followers ([`Hub`]). Tool calls never happen
//! inside a transaction.
//!
//! ## The driver
//!
//! One task per unfinished run (started by Ask, or by [`Engine::resume_all`] at start-up) repeats: read the steps;
//! skip those whose dependencies did not succeed; for each pending step whose dependencies succeeded, resolve its
//! references, then start it — or, for a write that is neither approved nor auto-approved, check its input with the
//! connectors and ask for approval; when every step has ended, write the answer and finish. It sleeps until a step
//! ends, an approval, rejection or cancellation wakes it, or a few seconds pass (a change made by another replica).
//!
//! Moves that need no call (starting a read step, skipping one) are made in the transaction that made them possible:
//! the plan's first steps start in the transaction that writes the plan, and the steps a result unblocks in the one
//! that records it; the answer's last words go in with the answer. A two-step read plan whose steps end together
//! costs four transactions: start, plan, results, answer.
//!
//! ## One driver per run
//!
//! A replica drives a run only while it holds the run's lease (`orchestrator_active_runs`): taken when it creates
//! the run, renewed by the driver every third of [`RunOptions::driver_lease`], given up when the driver stops before
//! the run ends (shutdown, error). Every replica looks for runs whose lease lapsed or was released at start-up and
//! every half lease after ([`Engine::resume_all`]), and takes each over with one compare-and-set, so a run that lost
//! its replica (crash, or a stall past the lease) is driven again by exactly one other. A driver that fails to renew
//! for two thirds of the lease stops before anyone else may adopt the run.
//!
//! ## Writes happen once
//!
//! A write step's idempotency key is chosen at planning and stored with it. ApproveStep commits the approval before
//! the driver moves the step to RUNNING (also committed) and calls the action with that key. A process that dies
//! mid-call leaves the step RUNNING; the run's next driver calls again with the same stored input and key, and the
//! connectors service (and Stripe) return the first result instead of acting twice.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use switchboard_events::{EnvelopeBuilder, outbox, topics};
use switchboard_mesh::context::RequestContext;
use switchboard_proto::audit::v1 as audit;
use switchboard_proto::events::v1 as bus;
use switchboard_proto::orchestrator::v1::{self as pb, RunStatus, StepStatus, ask_response::Event};
use switchboard_store::{Store, TenantScope};
use switchboard_types::{Role, TenantId, now_unix_micros};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::convert::{self, json_to_value, object_struct, step_name, stored_json, timestamp};
use crate::error::{OrchestratorError, ToolError};
use crate::live::Hub;
use crate::plan::{self, PlanDraft, UsableConnection};
use crate::planner::router::{Intent, Routed, Routing};
use crate::planner::{AnswerRequest, Exchange, PlanRequest, Planner, PlannerError, StepResult, Usage};
use crate::settings::{self, AssistantSettings};
use crate::storage::{Lease, Repo, RunRow, StepRow};
use crate::tools::{ToolCall, Tools, with_timeout};

/// Answer fragments a planner may send ahead of the run's log before it waits.
const DELTA_BUFFER: usize = 64;

/// How long a driver sleeps when nothing wakes it.
const IDLE_POLL: Duration = Duration::from_secs(2);

/// What the clock says: the real time, or a fixed instant (tests and demos over data of a known date).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// Always this unix time (seconds).
    Fixed(i64),
}

impl Clock {
    /// Now, in unix seconds.
    pub fn now(&self) -> i64 {
        match self {
            Clock::System => now_unix_micros().div_euclid(1_000_000),
            Clock::Fixed(at) => *at,
        }
    }
}

/// How runs are run.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Longest a step's tool call may take.
    pub step_timeout: Duration,
    /// The time questions are answered relative to.
    pub clock: Clock,
    /// How long a replica's hold on driving a run lasts without renewal: how soon another replica takes over the
    /// runs of one that died. The replicas' clocks must agree to well within it.
    pub driver_lease: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self { step_timeout: Duration::from_secs(60), clock: Clock::System, driver_lease: Duration::from_secs(30) }
    }
}

/// The engine; shared by the gRPC methods and the drivers.
pub(crate) struct Engine {
    pub(crate) store: Store,
    pub(crate) hub: Arc<Hub>,
    pub(crate) router: Routing,
    pub(crate) tools: Tools,
    pub(crate) planner: Arc<dyn Planner>,
    envelopes: EnvelopeBuilder,
    options: RunOptions,
    drivers: TaskTracker,
    stop: CancellationToken,
    /// This engine's name as a lease holder (one per process).
    id: String,
    /// Runs this engine drives now.
    driving: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("model", &self.planner.model()).finish_non_exhaustive()
    }
}

/// A new run as Ask asked for it.
#[derive(Debug, Clone)]
pub(crate) struct NewRun {
    pub(crate) question: String,
    pub(crate) allowed_connections: Vec<String>,
    pub(crate) previous_run: String,
    /// The one action to run instead of a plan (`AskRequest.action`).
    pub(crate) action: Option<DirectAction>,
}

/// A catalog action a client asked to run as the run's only step.
#[derive(Debug, Clone)]
pub(crate) struct DirectAction {
    pub(crate) action: String,
    pub(crate) connection: String,
    pub(crate) input: Value,
}

fn terminal_run(status: i32) -> bool {
    [RunStatus::Succeeded as i32, RunStatus::Failed as i32, RunStatus::Cancelled as i32].contains(&status)
}

fn terminal_step(status: i32) -> bool {
    [
        StepStatus::Succeeded as i32,
        StepStatus::Failed as i32,
        StepStatus::Rejected as i32,
        StepStatus::Skipped as i32,
        StepStatus::Cancelled as i32,
    ]
    .contains(&status)
}

fn event(run_id: &str, event: Event) -> pb::AskResponse {
    pb::AskResponse {
        run: format!("runs/{run_id}"),
        sequence: 0,
        event_time: Some(timestamp(now_unix_micros())),
        event: Some(event),
    }
}

fn actor(context: &RequestContext) -> String {
    match context.user() {
        Some(user) => format!("user:{user}"),
        None => "system".to_owned(),
    }
}

fn parse_intent(text: &str) -> Intent {
    Intent::ALL.into_iter().find(|i| i.as_str() == text).unwrap_or(Intent::Unsupported)
}

/// A change to one step, decided outside the transaction and applied inside it if the step is still as read.
#[derive(Debug)]
enum Move {
    Skip { id: String, why: String },
    Fail { id: String, error: ToolError, input: Option<Value> },
    Await { id: String, input: Value },
    Start { id: String, input: Value, auto_approved: bool },
}

impl Engine {
    pub(crate) fn new(
        store: Store,
        tools: Tools,
        planner: Arc<dyn Planner>,
        router: Routing,
        options: RunOptions,
        stop: CancellationToken,
    ) -> Self {
        Self {
            store,
            hub: Arc::new(Hub::default()),
            router,
            tools,
            planner,
            envelopes: EnvelopeBuilder::new("orchestrator"),
            options,
            drivers: TaskTracker::new(),
            stop,
            id: uuid::Uuid::now_v7().to_string(),
            driving: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// How many runs this engine drives now.
    pub(crate) fn runs_driven(&self) -> usize {
        self.driving.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The question and answer of the run `run` follows up, if any (read in the run's tenant, so never another's).
    async fn previous_exchange(&self, tenant: TenantId, run: &RunRow) -> Result<Option<Exchange>, OrchestratorError> {
        if run.previous_run.is_empty() {
            return Ok(None);
        }
        let id = run.previous_run.strip_prefix("runs/").unwrap_or(&run.previous_run);
        let scope = self.store.tenant_read(tenant).await?;
        let previous = Repo::new(&scope).run(id).await?;
        scope.commit().await?;
        Ok(previous.map(|p| Exchange {
            question: p.question,
            answer: p
                .answer
                .as_deref()
                .and_then(|bytes| <pb::Answer as prost::Message>::decode(bytes).ok())
                .map(|a| a.text)
                .unwrap_or_default(),
        }))
    }

    /// The end of a lease taken or renewed now (Unix µs).
    fn lease_until(&self) -> i64 {
        let lease = i64::try_from(self.options.driver_lease.as_micros()).unwrap_or(i64::MAX / 2);
        now_unix_micros().saturating_add(lease)
    }

    /// The model runs are planned and answered with.
    pub(crate) fn model(&self) -> String {
        self.planner.model()
    }

    /// Waits until every driver of this process has stopped (after `stop`).
    pub(crate) async fn wait(&self) {
        self.drivers.close();
        self.drivers.wait().await;
    }

    /// Writes an audit record through the outbox in `scope`'s transaction.
    pub(crate) async fn audit(
        &self,
        scope: &TenantScope,
        context: &RequestContext,
        action: &str,
        resource: String,
        details: &[(&str, String)],
    ) -> Result<(), OrchestratorError> {
        let details = prost_types::Struct {
            fields: details.iter().map(|(k, v)| ((*k).to_owned(), json_to_value(&Value::String(v.clone())))).collect(),
        };
        let event = audit::NewEvent {
            actor: actor(context),
            action: action.to_owned(),
            resource,
            outcome: audit::Outcome::Success as i32,
            details: Some(details),
            occur_time: Some(switchboard_events::now_timestamp()),
            ..Default::default()
        };
        let envelope = self.envelopes.audit(context, scope.tenant(), event);
        outbox::enqueue(scope, topics::AUDIT_EVENTS, &[envelope]).await?;
        Ok(())
    }

    /// The context a run's tool calls carry: its creator's, as stored (so a resumed run acts as the same person).
    fn run_context(tenant: TenantId, run: &RunRow) -> RequestContext {
        let mut context = RequestContext::new_root().with_tenant(tenant);
        if let Ok(user) = run.creator.parse() {
            context = context.with_user(user);
        }
        if let Ok(role) = run.creator_role.parse::<Role>() {
            context = context.with_role(role);
        }
        if let Some(id) = switchboard_types::RequestId::parse(&run.request_id) {
            context = context.with_request_id(id);
        }
        context
    }

    // === starting and resuming ===

    /// Creates a run (refusing it when the tenant's rate limit or token budget is spent), records `run_started`,
    /// and starts its driver. Returns the run id.
    pub(crate) async fn start(
        self: &Arc<Self>,
        context: &RequestContext,
        request: NewRun,
    ) -> Result<String, OrchestratorError> {
        let tenant = context.require_tenant()?;
        let now = now_unix_micros();
        // A direct action is checked before anything is written (a bad one is refused, not a failed run) and needs
        // neither the router nor the planner.
        let (routed, direct) = match &request.action {
            Some(action) => {
                let routed = Routed {
                    intent: Intent::Action,
                    confidence: 1.0,
                    runner_up: Intent::Action,
                    runner_up_confidence: 0.0,
                    by_model: false,
                };
                (routed, Some(self.direct_plan(context, action).await?))
            }
            None => {
                let fallback = self.planner.router_fallback();
                let router = self.router.get().await?;
                (router.route(&request.question, fallback.as_deref().map(|f| (f, tenant))).await?, None)
            }
        };
        let id = uuid::Uuid::now_v7().to_string();
        let row = RunRow {
            tenant_id: String::new(),
            id: id.clone(),
            question: request.question.clone(),
            status: RunStatus::Planning as i32,
            intent: routed.intent.as_str().to_owned(),
            model: self.planner.model(),
            creator: context.user().map(|u| u.to_string()).unwrap_or_default(),
            creator_role: context.role().map(|r| r.as_str().to_owned()).unwrap_or_default(),
            request_id: context.request_id().to_string(),
            allowed_connections: request.allowed_connections.join(" "),
            previous_run: request.previous_run.clone(),
            plan_summary: None,
            answer: None,
            error_code: 0,
            error_message: String::new(),
            last_sequence: 0,
            created_at_us: now,
            updated_at_us: now,
            ended_at_us: None,
        };
        // One transaction: the tenant's limits are read where the run is written (a model the router consulted checked
        // the budget itself).
        let scope = self.store.tenant(tenant).await?;
        let repo = Repo::new(&scope);
        let settings = settings::read(&repo, tenant).await?;
        if let Some(refusal) = crate::usage::budget_refusal(&repo, &settings, now).await? {
            return Err(OrchestratorError::ResourceExhausted(refusal));
        }
        // The rate limit counts in the database, so every replica sees every run.
        let recent = repo.runs_created_since(now - 60_000_000).await?;
        if recent >= u64::from(settings.runs_per_minute) {
            return Err(OrchestratorError::ResourceExhausted(format!(
                "at most {} questions a minute; wait a moment and ask again",
                settings.runs_per_minute
            )));
        }
        repo.insert_run(row.clone(), &self.id, self.lease_until()).await?;
        let mut events =
            vec![event(&id, Event::RunStarted(pb::RunStarted { run: Some(convert::run_message(&row, &[], true)) }))];
        let mut row = row;
        if let Some(plan) = direct {
            events.push(self.record_plan(&repo, &mut row, &plan, Usage::default(), None, now).await?.0);
        }
        let events = repo.append_to(&mut row, events, now).await?;
        self.audit(
            &scope,
            context,
            "orchestrator.run.start",
            format!("runs/{id}"),
            &[
                ("question", request.question.chars().take(500).collect()),
                ("intent", routed.intent.as_str().to_owned()),
            ],
        )
        .await?;
        scope.commit().await?;
        self.hub.publish(&id, &events);
        // A planned direct action has steps the driver reads itself.
        let created = (row.status == RunStatus::Planning as i32).then_some((row, Vec::new()));
        self.spawn_driver(tenant, id.clone(), routed, created);
        Ok(id)
    }

    /// The one-step plan of a direct action, checked like a planner's: the action must be in the tenant's catalog,
    /// the connection active and of the action's provider, the input shaped as the action asks.
    async fn direct_plan(
        &self,
        context: &RequestContext,
        action: &DirectAction,
    ) -> Result<PlanDraft, OrchestratorError> {
        let unavailable = |what: &str, e: ToolError| OrchestratorError::Unavailable(format!("{what} unavailable: {e}"));
        let tools = self.tools.catalog(context).await.map_err(|e| unavailable("the tool catalog is", e))?;
        let connections: Vec<UsableConnection> = self
            .tools
            .connections(context)
            .await
            .map_err(|e| unavailable("the connections are", e))?
            .into_iter()
            .filter(|c| c.status == switchboard_proto::connectors::v1::ConnectionStatus::Active as i32)
            .map(|c| UsableConnection { name: c.name, provider: c.provider })
            .collect();
        let description = tools
            .iter()
            .find(|t| t.name == action.action)
            .map(|t| t.description.clone())
            .unwrap_or_else(|| action.action.clone());
        let mut plan = PlanDraft {
            summary: format!("Run {} on {}", action.action, action.connection),
            steps: vec![plan::PlannedStep {
                id: "1".into(),
                description,
                tool: action.action.clone(),
                connection: action.connection.clone(),
                input: action.input.clone(),
                needs_approval: false,
                depends_on: Vec::new(),
            }],
        };
        plan::check(&mut plan, &tools, &connections)
            .map_err(|e| OrchestratorError::InvalidArgument(format!("action: {e}")))?;
        // The input against the action's schema, by the connectors (the one validator of it), before any run exists.
        let key = uuid::Uuid::now_v7().to_string();
        let call = ToolCall {
            tool: &action.action,
            connection: &action.connection,
            input: &action.input,
            idempotency_key: &key,
            approved_step: "",
        };
        self.tools.validate(context, &call).await.map_err(|e| match tonic::Code::from(e.code) {
            tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => {
                OrchestratorError::InvalidArgument(format!("action: {}", e.message))
            }
            tonic::Code::PermissionDenied => OrchestratorError::PermissionDenied(e.message),
            _ => OrchestratorError::Unavailable(format!("action: cannot check the input now: {}", e.message)),
        })?;
        Ok(plan)
    }

    /// Drives the run while this engine holds its lease (taken by the caller), then gives the lease up unless the
    /// run ended or the lease was lost.
    fn spawn_driver(
        self: &Arc<Self>,
        tenant: TenantId,
        run_id: String,
        routed: Routed,
        created: Option<(RunRow, Vec<StepRow>)>,
    ) {
        use std::sync::atomic::Ordering;
        let engine = self.clone();
        self.driving.fetch_add(1, Ordering::Relaxed);
        self.drivers.spawn(async move {
            let lease = Lease { tenant, run_id: run_id.clone(), driver: engine.id.clone() };
            let driven = tokio::select! {
                driven = engine.drive(tenant, &run_id, routed, created) => Some(driven),
                () = engine.keep_lease(&lease) => None,
            };
            let release = match driven {
                Some(Ok(())) => engine.stop.is_cancelled(),
                Some(Err(e)) => {
                    tracing::error!(run = %run_id, error = %e, "run driver stopped on an error; a replica takes the run up again at its next look");
                    true
                }
                None => {
                    tracing::warn!(run = %run_id, "stopped driving the run: its lease is no longer this replica's");
                    false
                }
            };
            if release && let Err(e) = crate::storage::release(&engine.store, &lease).await {
                tracing::warn!(run = %run_id, error = %e, "could not give the run's lease up; it lapses on its own");
            }
            engine.driving.fetch_sub(1, Ordering::Relaxed);
        });
    }

    /// Renews `lease` until it is lost: returns when another replica holds it, the run ended (its lease went with
    /// it), or renewals failed for two thirds of the lease, before any other replica may take the run.
    async fn keep_lease(&self, lease: &Lease) {
        let every = self.options.driver_lease / 3;
        let mut renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(every).await;
            match crate::storage::renew(&self.store, lease, self.lease_until()).await {
                Ok(true) => renewed = tokio::time::Instant::now(),
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(run = %lease.run_id, error = %e, "cannot renew the run's lease");
                    if renewed.elapsed() >= every * 2 {
                        return;
                    }
                }
            }
        }
    }

    /// Adopts the runs no replica drives (at start-up), then looks again every half lease until the engine
    /// stops. Returns how many runs the first look adopted.
    pub(crate) async fn resume_all(self: &Arc<Self>) -> Result<usize, OrchestratorError> {
        let count = self.adopt_unleased().await?;
        let engine = self.clone();
        self.drivers.spawn(async move {
            loop {
                tokio::select! {
                    () = engine.stop.cancelled() => return,
                    () = tokio::time::sleep(engine.options.driver_lease / 2) => {}
                }
                if let Err(e) = engine.adopt_unleased().await {
                    tracing::warn!(error = %e, "cannot look for runs without a driver");
                }
            }
        });
        Ok(count)
    }

    /// Takes over every run whose lease lapsed or was released, and drives it. Returns how many.
    async fn adopt_unleased(self: &Arc<Self>) -> Result<usize, OrchestratorError> {
        let now = now_unix_micros();
        let mut adopted = 0;
        for (tenant, run_id) in crate::storage::unleased_runs(&self.store, now).await? {
            let lease = Lease { tenant, run_id: run_id.clone(), driver: self.id.clone() };
            if self.stop.is_cancelled() || !crate::storage::adopt(&self.store, &lease, now, self.lease_until()).await? {
                continue;
            }
            let scope = self.store.tenant(tenant).await?;
            let row = Repo::new(&scope).run(&run_id).await?;
            scope.commit().await?;
            let Some(row) = row else { continue };
            let intent = parse_intent(&row.intent);
            let routed =
                Routed { intent, confidence: 1.0, runner_up: intent, runner_up_confidence: 0.0, by_model: false };
            tracing::info!(run = %run_id, status = row.status, "driving a run no replica drove");
            self.spawn_driver(tenant, run_id, routed, None);
            adopted += 1;
        }
        Ok(adopted)
    }

    // === the driver ===

    /// Drives a run to its end. `created` is the run as [`Engine::start`] just wrote it (saving the first read);
    /// `None` for a run resumed after a restart. Each write returns the state it committed, so that the next turn
    /// of the loop starts from it rather than reading it back; after a wait, the loop reads the store.
    async fn drive(
        self: &Arc<Self>,
        tenant: TenantId,
        run_id: &str,
        routed: Routed,
        created: Option<(RunRow, Vec<StepRow>)>,
    ) -> Result<(), OrchestratorError> {
        let resumed = created.is_none();
        let mut known = created;
        let wake = self.hub.waker(run_id);
        let mut running = StepTasks::new();
        let mut in_flight: HashSet<String> = HashSet::new();
        loop {
            if self.stop.is_cancelled() {
                return Ok(());
            }
            let (run, steps) = match known.take() {
                Some(state) => state,
                None => self.load(tenant, run_id).await?,
            };
            if terminal_run(run.status) {
                return Ok(());
            }
            let context = Self::run_context(tenant, &run);
            if run.status == RunStatus::Planning as i32 {
                known = self.plan(tenant, &context, &run, routed).await?.map(|advanced| {
                    self.launch(&context, advanced.started, &mut running, &mut in_flight);
                    (advanced.run, advanced.steps)
                });
                continue;
            }
            // The settings matter only to a write step that may be auto-approved: read only then.
            let settings = if steps.iter().any(|s| s.needs_approval && s.status == StepStatus::Pending as i32) {
                settings::load(&self.store, tenant).await?
            } else {
                AssistantSettings::default()
            };
            let moves = self.decide(&context, &steps, &in_flight, &settings).await;
            let moved = !moves.is_empty();
            let (started, after) = self.apply(tenant, run_id, moves).await?;
            self.launch(&context, started, &mut running, &mut in_flight);
            // Nothing moved: the run and steps are still as just read; moves applied: as `apply` left them.
            let (run, steps) = match after {
                Some(state) => state,
                None if !moved => (run, steps),
                None => self.load(tenant, run_id).await?,
            };
            if terminal_run(run.status) {
                return Ok(());
            }
            if in_flight.is_empty() && !steps.is_empty() && steps.iter().all(|s| terminal_step(s.status)) {
                self.finish(tenant, &run, &steps, routed, resumed).await?;
                continue;
            }
            if steps.is_empty() && run.plan_summary.is_some() {
                self.finish(tenant, &run, &steps, routed, resumed).await?;
                continue;
            }
            tokio::select! {
                Some(done) = running.join_next(), if !running.is_empty() => {
                    // Steps that finished together are recorded together: one transaction, one wake of the loop.
                    let mut finished = vec![done];
                    while let Some(more) = running.try_join_next() {
                        finished.push(more);
                    }
                    let mut results = Vec::with_capacity(finished.len());
                    for done in finished {
                        let (id, result) = done.map_err(|e| OrchestratorError::Internal(format!("step task: {e}")))?;
                        in_flight.remove(&id);
                        results.push((id, result));
                    }
                    known = self.record(tenant, run_id, results, &in_flight).await?.map(|advanced| {
                        self.launch(&context, advanced.started, &mut running, &mut in_flight);
                        (advanced.run, advanced.steps)
                    });
                }
                _ = wake.notified() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
                _ = self.stop.cancelled() => return Ok(()),
            }
        }
    }

    /// Runs the `started` steps' calls as tasks of `running`, as `context`.
    fn launch(
        self: &Arc<Self>,
        context: &RequestContext,
        started: Vec<(Started, Value)>,
        running: &mut StepTasks,
        in_flight: &mut HashSet<String>,
    ) {
        for (step, input) in started {
            in_flight.insert(step.id.clone());
            let engine = self.clone();
            let context = context.clone();
            running.spawn(async move {
                let call = ToolCall {
                    tool: &step.tool,
                    connection: &step.connection,
                    input: &input,
                    idempotency_key: &step.idempotency_key,
                    approved_step: if step.needs_approval { &step.name } else { "" },
                };
                let result = with_timeout(engine.options.step_timeout, engine.tools.run(&context, &call)).await;
                (step.id, result)
            });
        }
    }

    async fn load(&self, tenant: TenantId, run_id: &str) -> Result<(RunRow, Vec<StepRow>), OrchestratorError> {
        let scope = self.store.tenant(tenant).await?;
        let repo = Repo::new(&scope);
        let run = repo.run(run_id).await?.ok_or_else(|| OrchestratorError::NotFound(format!("runs/{run_id}")))?;
        let steps = repo.steps(run_id).await?;
        scope.commit().await?;
        Ok((run, steps))
    }

    /// Plans the run: the tools and connections it may use, the planner's plan, the check; then the steps and the
    /// `plan` event, with the steps that can start at once started, or the run fails with the reason. Returns the
    /// run and steps as committed and the steps to run, when it planned.
    async fn plan(
        &self,
        tenant: TenantId,
        context: &RequestContext,
        run: &RunRow,
        routed: Routed,
    ) -> Result<Option<Advanced>, OrchestratorError> {
        let planned = tokio::select! {
            planned = self.draft(context, run, routed) => planned,
            // Stopping: nothing is written; the run is still PLANNING and is planned on the next start.
            _ = self.stop.cancelled() => return Ok(None),
        };
        let now = now_unix_micros();
        let scope = self.store.tenant(tenant).await?;
        let repo = Repo::new(&scope);
        let Some(mut row) = repo.lock_run(&run.id).await? else { return Ok(None) };
        if row.status != RunStatus::Planning as i32 {
            return Ok(None);
        }
        let (plan, usage, model) = match planned {
            Ok(planned) => planned,
            Err(error) => {
                let events = self.fail_run(&scope, &mut row, error.code, &error.message, now, Vec::new()).await?;
                scope.commit().await?;
                self.hub.publish(&run.id, &events);
                return Ok(None);
            }
        };
        let (planned, mut steps) = self.record_plan(&repo, &mut row, &plan, usage, model, now).await?;
        // The steps that can start at once start in this transaction, not in one more.
        let moves = moves_without_calls(&steps, &HashSet::new());
        let (started, events) = apply_moves(&repo, &mut row, &mut steps, moves, now).await?;
        let stored = repo.append_to(&mut row, std::iter::once(planned).chain(events).collect(), now).await?;
        scope.commit().await?;
        self.hub.publish(&run.id, &stored);
        Ok(Some(Advanced { run: row, steps, started }))
    }

    /// Writes a checked plan: its steps, the run now RUNNING and the usage that made it; returns the steps and the
    /// `plan` event, for the caller to append with the others of its transaction.
    async fn record_plan(
        &self,
        repo: &Repo<'_>,
        row: &mut RunRow,
        plan: &PlanDraft,
        usage: Usage,
        model: Option<String>,
        now: i64,
    ) -> Result<(pb::AskResponse, Vec<StepRow>), OrchestratorError> {
        let rows: Vec<StepRow> = plan
            .steps
            .iter()
            .enumerate()
            .map(|(position, step)| StepRow {
                tenant_id: String::new(),
                run_id: row.id.clone(),
                id: step.id.clone(),
                position: position as i32,
                description: step.description.clone(),
                tool: step.tool.clone(),
                connection: step.connection.clone(),
                input_template: step.input.to_string(),
                input: None,
                depends_on: step.depends_on.join(" "),
                needs_approval: step.needs_approval,
                idempotency_key: uuid::Uuid::now_v7().to_string(),
                status: StepStatus::Pending as i32,
                output: None,
                error_code: 0,
                error_message: String::new(),
                audit_event_id: String::new(),
                approved: false,
                reviewer: String::new(),
                review_comment: String::new(),
                reviewed_at_us: None,
                started_at_us: None,
                ended_at_us: None,
            })
            .collect();
        repo.insert_steps(rows.clone()).await?;
        row.plan_summary = Some(plan.summary.clone());
        // A fallback provider planned: the run says who did.
        if let Some(model) = model {
            row.model = model;
        }
        row.status = RunStatus::Running as i32;
        row.updated_at_us = now;
        repo.save_run(row).await?;
        record_usage(repo, usage, now).await?;
        let plan_event = convert::plan_message(row, &rows, true).unwrap_or_default();
        Ok((event(&row.id, Event::Plan(plan_event)), rows))
    }

    /// The checked plan, or why there is none.
    async fn draft(
        &self,
        context: &RequestContext,
        run: &RunRow,
        routed: Routed,
    ) -> Result<(PlanDraft, Usage, Option<String>), PlannerError> {
        let refused = PlannerError::refused;
        let tools =
            self.tools.catalog(context).await.map_err(|e| refused(format!("the tool catalog is unavailable: {e}")))?;
        let allowed: Vec<&str> = run.allowed_connections.split_whitespace().collect();
        let connections: Vec<UsableConnection> = self
            .tools
            .connections(context)
            .await
            .map_err(|e| refused(format!("the connections are unavailable: {e}")))?
            .into_iter()
            .filter(|c| allowed.is_empty() || allowed.contains(&c.name.as_str()))
            .filter(|c| c.status == switchboard_proto::connectors::v1::ConnectionStatus::Active as i32)
            .map(|c| UsableConnection { name: c.name, provider: c.provider })
            .collect();
        let tenant = context.require_tenant().map_err(|e| refused(e.to_string()))?;
        let previous = self.previous_exchange(tenant, run).await.map_err(|e| PlannerError {
            code: tonic::Code::Unavailable,
            message: format!("the run this question follows up cannot be read now: {e}"),
        })?;
        let request = PlanRequest {
            tenant,
            question: run.question.clone(),
            routed,
            tools: tools.clone(),
            connections: connections.clone(),
            now: self.options.clock.now(),
            previous,
        };
        let planned = self.planner.plan(&request).await?;
        let mut plan = planned.plan;
        if !allowed.is_empty() {
            restrict_reads(&mut plan, &connections).map_err(refused)?;
        }
        plan::check(&mut plan, &tools, &connections).map_err(|e| refused(format!("the plan was refused: {e}")))?;
        Ok((plan, planned.usage, planned.model))
    }

    /// What should happen to each step now (no transaction held: it may call the connectors to check an input).
    async fn decide(
        &self,
        context: &RequestContext,
        steps: &[StepRow],
        in_flight: &HashSet<String>,
        settings: &AssistantSettings,
    ) -> Vec<Move> {
        let mut moves = Vec::new();
        for decision in decisions(steps, in_flight, settings) {
            let (step, input) = match decision {
                Decision::Ready(step_move) => {
                    moves.push(step_move);
                    continue;
                }
                Decision::Check { step, input } => (step, input),
            };
            // Before a person is asked, the connectors check the input against the action's schema.
            let call = ToolCall {
                tool: &step.tool,
                connection: &step.connection,
                input: &input,
                idempotency_key: &step.idempotency_key,
                approved_step: "",
            };
            match with_timeout(self.options.step_timeout, self.tools.validate(context, &call)).await {
                Ok(()) => moves.push(Move::Await { id: step.id.clone(), input }),
                Err(error) => moves.push(Move::Fail { id: step.id.clone(), error, input: Some(input) }),
            }
        }
        moves
    }

    /// Applies `moves` to steps still as they were read, in one transaction; returns the steps to run now, and the
    /// run and its steps as they are afterwards (`None` when nothing was applied).
    async fn apply(
        &self,
        tenant: TenantId,
        run_id: &str,
        moves: Vec<Move>,
    ) -> Result<(Vec<(Started, Value)>, Option<(RunRow, Vec<StepRow>)>), OrchestratorError> {
        if moves.is_empty() {
            return Ok((Vec::new(), None));
        }
        let now = now_unix_micros();
        let scope = self.store.tenant(tenant).await?;
        let repo = Repo::new(&scope);
        let Some(mut run) = repo.lock_run(run_id).await? else { return Ok((Vec::new(), None)) };
        if terminal_run(run.status) {
            return Ok((Vec::new(), None));
        }
        let mut steps = repo.steps(run_id).await?;
        let (started, events) = apply_moves(&repo, &mut run, &mut steps, moves, now).await?;
        let stored = repo.append_to(&mut run, events, now).await?;
        scope.commit().await?;
        self.hub.publish(run_id, &stored);
        // The state as committed (but for `last_sequence`, which the appended events moved on).
        Ok((started, Some((run, steps))))
    }

    /// Records the steps' results, if the steps are still running (a cancelled run drops them), and starts the read
    /// steps those results let start. Returns the run and steps as committed and the steps to run.
    async fn record(
        &self,
        tenant: TenantId,
        run_id: &str,
        results: Vec<(String, Result<crate::tools::ToolOutput, ToolError>)>,
        in_flight: &HashSet<String>,
    ) -> Result<Option<Advanced>, OrchestratorError> {
        let now = now_unix_micros();
        let scope = self.store.tenant(tenant).await?;
        let repo = Repo::new(&scope);
        let Some(mut run) = repo.lock_run(run_id).await? else { return Ok(None) };
        if terminal_run(run.status) {
            return Ok(None);
        }
        let mut steps = repo.steps(run_id).await?;
        let mut finished = Vec::with_capacity(results.len());
        for (step_id, result) in results {
            let Some(step) = steps.iter_mut().find(|s| s.id == step_id) else { continue };
            if step.status != StepStatus::Running as i32 {
                continue;
            }
            match result {
                Ok(output) => {
                    step.status = StepStatus::Succeeded as i32;
                    step.output = Some(output.output.to_string());
                    step.audit_event_id = output.audit_event_id;
                }
                Err(error) => {
                    step.status = StepStatus::Failed as i32;
                    step.error_code = error.code;
                    step.error_message = error.message;
                }
            }
            step.ended_at_us = Some(now);
            repo.save_step(step).await?;
            finished.push(finished_event(run_id, step));
        }
        let moves = moves_without_calls(&steps, in_flight);
        let (started, events) = apply_moves(&repo, &mut run, &mut steps, moves, now).await?;
        finished.extend(events);
        let stored = repo.append_to(&mut run, finished, now).await?;
        scope.commit().await?;
        self.hub.publish(run_id, &stored);
        Ok(Some(Advanced { run, steps, started }))
    }

    /// Writes the answer and finishes the run SUCCEEDED (or FAILED when the answer cannot be written).
    async fn finish(
        &self,
        tenant: TenantId,
        run: &RunRow,
        steps: &[StepRow],
        routed: Routed,
        resumed: bool,
    ) -> Result<(), OrchestratorError> {
        let request = AnswerRequest {
            tenant,
            question: run.question.clone(),
            routed,
            summary: run.plan_summary.clone().unwrap_or_default(),
            steps: steps.iter().map(|s| step_result(&run.id, s)).collect(),
            previous: self.previous_exchange(tenant, run).await?,
        };
        let Some((answered, trailing)) = self.stream_answer(tenant, run, &request, resumed).await? else {
            return Ok(());
        };
        let now = now_unix_micros();
        let scope = self.store.tenant(tenant).await?;
        let repo = Repo::new(&scope);
        let Some(mut row) = repo.lock_run(&run.id).await? else { return Ok(()) };
        if terminal_run(row.status) {
            return Ok(());
        }
        let mut pending = Vec::new();
        if let Some(delta) = trailing {
            pending.push(event(&run.id, Event::AnswerDelta(delta)));
        }
        let events = match answered {
            Ok(answered) => {
                record_usage(&repo, answered.usage, now).await?;
                // A fallback provider answered: the run names both.
                if let Some(model) = answered.model.filter(|m| *m != row.model) {
                    row.model = format!("{}, {model}", row.model);
                }
                let answer = pb::Answer { text: answered.text, citations: answered.citations };
                row.answer = Some(prost::Message::encode_to_vec(&answer));
                pending.push(event(&run.id, Event::Answer(answer)));
                row.status = RunStatus::Succeeded as i32;
                // Every step has ended: they are as the driver last committed them.
                self.end_run(&scope, &mut row, now, pending, Some(steps)).await?
            }
            Err(e) => {
                self.fail_run(&scope, &mut row, e.code, &format!("no answer: {}", e.message), now, pending).await?
            }
        };
        scope.commit().await?;
        self.hub.publish(&run.id, &events);
        Ok(())
    }

    /// Has the planner write the answer, appending its text to the run's log as `answer_delta` events while it is
    /// written. Deltas that arrive together go in one event (one transaction each, not one per token). What the
    /// planner sent after the last of those, once it is done, is returned instead as the trailing delta, which
    /// [`Engine::finish`] writes in the transaction that ends the run (an answer that comes at once costs one
    /// transaction, not two). `None` when the run ended meanwhile (cancelled) or the process is stopping: the
    /// answer is dropped, which stops the model's stream.
    async fn stream_answer(
        &self,
        tenant: TenantId,
        run: &RunRow,
        request: &AnswerRequest,
        resumed: bool,
    ) -> Result<Option<(Result<crate::planner::Answered, PlannerError>, Option<pb::AnswerDelta>)>, OrchestratorError>
    {
        let (deltas, mut received) = tokio::sync::mpsc::channel::<String>(DELTA_BUFFER);
        // An answer begun before a crash left deltas in the log: the new ones say they start over. Only a resumed
        // run can have begun one (a driver writes its run's answer once), so only then is the log read.
        let mut restart = if resumed {
            let scope = self.store.tenant(tenant).await?;
            let repo = Repo::new(&scope);
            let last_sequence = repo.run(&run.id).await?.map_or(run.last_sequence, |r| r.last_sequence);
            let last = repo.events_after(&run.id, last_sequence - 1, 1).await?;
            scope.commit().await?;
            matches!(last.first().and_then(|e| e.event.as_ref()), Some(Event::AnswerDelta(_)))
        } else {
            false
        };
        let answering = self.planner.answer_streamed(request, deltas);
        tokio::pin!(answering);
        let answered = loop {
            tokio::select! {
                biased;
                // Done first: whatever it sent is then the trailing delta, written with the answer.
                answered = &mut answering => break answered,
                Some(first) = received.recv() => {
                    let mut text = first;
                    while let Ok(more) = received.try_recv() {
                        text.push_str(&more);
                    }
                    if !self.append_delta(tenant, &run.id, text, restart).await? {
                        return Ok(None);
                    }
                    restart = false;
                }
                // Stopping: the run keeps its status, and the next start writes the answer again (its deltas
                // start with `restart`).
                _ = self.stop.cancelled() => return Ok(None),
            }
        };
        // The planner is done and its sender dropped: what it sent last is still queued.
        let mut text = String::new();
        while let Ok(more) = received.try_recv() {
            text.push_str(&more);
        }
        let trailing = (!text.is_empty()).then_some(pb::AnswerDelta { text, restart });
        Ok(Some((answered, trailing)))
    }

    /// Appends one `answer_delta` event, unless the run has ended. Returns whether it did.
    async fn append_delta(
        &self,
        tenant: TenantId,
        run_id: &str,
        text: String,
        restart: bool,
    ) -> Result<bool, OrchestratorError> {
        let now = now_unix_micros();
        let scope = self.store.tenant(tenant).await?;
        let repo = Repo::new(&scope);
        let Some(mut row) = repo.lock_run(run_id).await? else { return Ok(false) };
        if terminal_run(row.status) {
            return Ok(false);
        }
        let delta = Event::AnswerDelta(pb::AnswerDelta { text, restart });
        let stored = repo.append_to(&mut row, vec![event(run_id, delta)], now).await?;
        scope.commit().await?;
        self.hub.publish(run_id, &stored);
        Ok(true)
    }

    /// Ends the run FAILED with `code` and `message` ([`Engine::end_run`], with `pending`).
    async fn fail_run(
        &self,
        scope: &TenantScope,
        row: &mut RunRow,
        code: tonic::Code,
        message: &str,
        now: i64,
        pending: Vec<pb::AskResponse>,
    ) -> Result<Vec<pb::AskResponse>, OrchestratorError> {
        row.status = RunStatus::Failed as i32;
        row.error_code = code as i32;
        row.error_message = message.to_owned();
        self.end_run(scope, row, now, pending, None).await
    }

    /// Ends the run in `row.status` (`row` read under the run's lock in `scope`'s transaction): saves it, appends
    /// `pending` then `run_finished` (returned as stored), and puts `RunFinished` on the bus through the outbox, all
    /// in `scope`'s transaction. `steps`, when the caller has them as they are, spares reading them again.
    async fn end_run(
        &self,
        scope: &TenantScope,
        row: &mut RunRow,
        now: i64,
        mut pending: Vec<pb::AskResponse>,
        steps: Option<&[StepRow]>,
    ) -> Result<Vec<pb::AskResponse>, OrchestratorError> {
        let repo = Repo::new(scope);
        row.ended_at_us = Some(now);
        row.updated_at_us = now;
        repo.save_run(row).await?;
        let error = convert::rpc_status(row.error_code, &row.error_message);
        pending.push(event(&row.id, Event::RunFinished(pb::RunFinished { status: row.status, error: error.clone() })));
        let stored = repo.append_to(row, pending, now).await?;
        let read;
        let steps = match steps {
            Some(steps) => steps,
            None => {
                read = repo.steps(&row.id).await?;
                &read
            }
        };
        let payload = bus::RunFinished {
            run: format!("runs/{}", row.id),
            status: row.status,
            question: row.question.clone(),
            model: row.model.clone(),
            creator: row.creator.clone(),
            step_count: steps.len() as i32,
            write_step_count: steps
                .iter()
                .filter(|s| s.needs_approval && s.status == StepStatus::Succeeded as i32)
                .count() as i32,
            error,
            create_time: Some(timestamp(row.created_at_us)),
            end_time: Some(timestamp(now)),
        };
        let context = Self::run_context(scope.tenant(), row);
        let envelope = self.envelopes.build(
            &context,
            scope.tenant(),
            switchboard_events::types::RUN_FINISHED,
            format!("runs/{}", row.id),
            "RunFinished",
            prost::Message::encode_to_vec(&payload),
        );
        outbox::enqueue(scope, topics::ORCHESTRATOR_RUNS, &[envelope]).await?;
        Ok(stored)
    }

    // === approvals, rejections, cancellation ===

    /// Approves or rejects a step awaiting approval. Needs admin or more, or member for the caller's own run.
    pub(crate) async fn review(
        &self,
        context: &RequestContext,
        run_id: &str,
        step_id: &str,
        approve: bool,
        comment: &str,
    ) -> Result<StepRow, OrchestratorError> {
        let tenant = context.require_tenant()?;
        let now = now_unix_micros();
        let scope = self.store.tenant(tenant).await?;
        let repo = Repo::new(&scope);
        let run = repo
            .lock_run(run_id)
            .await?
            .ok_or_else(|| OrchestratorError::NotFound(format!("runs/{run_id}: no such run")))?;
        let mut step = repo
            .steps(run_id)
            .await?
            .into_iter()
            .find(|s| s.id == step_id)
            .ok_or_else(|| OrchestratorError::NotFound(format!("runs/{run_id}/steps/{step_id}: no such step")))?;
        let role = context.role();
        let own = context.user().is_some_and(|u| u.to_string() == run.creator);
        let allowed =
            role.is_some_and(|r| r.includes(Role::Admin)) || (own && role.is_some_and(|r| r.includes(Role::Member)));
        if !allowed {
            return Err(OrchestratorError::PermissionDenied(
                "approving or rejecting a step needs the admin role, or the member role on a run you started".into(),
            ));
        }
        if step.status != StepStatus::AwaitingApproval as i32 {
            return Err(OrchestratorError::FailedPrecondition(format!(
                "runs/{run_id}/steps/{step_id} is not awaiting approval"
            )));
        }
        step.reviewer = context.user().map(|u| u.to_string()).unwrap_or_default();
        step.reviewed_at_us = Some(now);
        step.review_comment = comment.to_owned();
        let name = step_name(run_id, step_id);
        let mut events = Vec::new();
        if approve {
            step.approved = true;
            step.status = StepStatus::Pending as i32;
        } else {
            step.status = StepStatus::Rejected as i32;
            step.error_code = tonic::Code::Aborted as i32;
            step.error_message = if comment.is_empty() {
                "rejected by the reviewer".to_owned()
            } else {
                format!("rejected by the reviewer: {comment}")
            };
            step.ended_at_us = Some(now);
            events.push(finished_event(run_id, &step));
        }
        repo.save_step(&step).await?;
        let action = if approve { "orchestrator.step.approve" } else { "orchestrator.step.reject" };
        let details = [
            ("tool", step.tool.clone()),
            ("input", step.input.clone().unwrap_or_default()),
            ("comment", comment.to_owned()),
        ];
        self.audit(&scope, context, action, name, &details).await?;
        let mut stored = Vec::new();
        for e in events {
            stored.push(repo.append_event(run_id, e, now).await?);
        }
        scope.commit().await?;
        self.hub.publish(run_id, &stored);
        self.hub.wake(run_id);
        Ok(step)
    }

    /// Cancels a run that has not finished.
    pub(crate) async fn cancel(
        &self,
        context: &RequestContext,
        run_id: &str,
        reason: &str,
    ) -> Result<(RunRow, Vec<StepRow>), OrchestratorError> {
        let tenant = context.require_tenant()?;
        let now = now_unix_micros();
        let scope = self.store.tenant(tenant).await?;
        let repo = Repo::new(&scope);
        let mut run = repo
            .lock_run(run_id)
            .await?
            .ok_or_else(|| OrchestratorError::NotFound(format!("runs/{run_id}: no such run")))?;
        if terminal_run(run.status) {
            return Err(OrchestratorError::FailedPrecondition(format!("runs/{run_id} has already finished")));
        }
        let mut events = Vec::new();
        for mut step in repo.steps(run_id).await? {
            if terminal_step(step.status) {
                continue;
            }
            let was_running = step.status == StepStatus::Running as i32;
            step.status = StepStatus::Cancelled as i32;
            step.error_code = tonic::Code::Cancelled as i32;
            step.error_message = if was_running {
                "the run was cancelled while this step was running; what the tool already did is not undone".into()
            } else {
                "the run was cancelled".into()
            };
            step.ended_at_us = Some(now);
            repo.save_step(&step).await?;
            events.push(finished_event(run_id, &step));
        }
        run.status = RunStatus::Cancelled as i32;
        run.error_code = tonic::Code::Cancelled as i32;
        run.error_message = if reason.is_empty() { "cancelled".to_owned() } else { format!("cancelled: {reason}") };
        let events = self.end_run(&scope, &mut run, now, events, None).await?;
        self.audit(
            &scope,
            context,
            "orchestrator.run.cancel",
            format!("runs/{run_id}"),
            &[("reason", reason.to_owned())],
        )
        .await?;
        let steps = repo.steps(run_id).await?;
        scope.commit().await?;
        self.hub.publish(run_id, &events);
        self.hub.wake(run_id);
        Ok((run, steps))
    }
}

/// Applies `moves` to `steps` (the run's, as read in `repo`'s transaction, which holds the run's lock) and saves
/// them, and the run's status when a step now awaits approval. Returns the steps to run now and the events to
/// append; no moves write nothing.
async fn apply_moves(
    repo: &Repo<'_>,
    run: &mut RunRow,
    steps: &mut [StepRow],
    moves: Vec<Move>,
    now: i64,
) -> Result<(Vec<(Started, Value)>, Vec<pb::AskResponse>), OrchestratorError> {
    if moves.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let run_id = run.id.clone();
    let run_id = run_id.as_str();
    let mut events = Vec::new();
    let mut started = Vec::new();
    for step_move in moves {
        let id = match &step_move {
            Move::Skip { id, .. } | Move::Fail { id, .. } | Move::Await { id, .. } | Move::Start { id, .. } => id,
        };
        let Some(step) = steps.iter_mut().find(|s| &s.id == id) else { continue };
        let name = step_name(run_id, &step.id);
        match step_move {
            Move::Skip { why, .. } if step.status == StepStatus::Pending as i32 => {
                step.status = StepStatus::Skipped as i32;
                step.error_code = tonic::Code::FailedPrecondition as i32;
                step.error_message = format!("skipped: {why}");
                step.ended_at_us = Some(now);
                repo.save_step(step).await?;
                events.push(finished_event(run_id, step));
            }
            Move::Fail { error, input, .. } if step.status == StepStatus::Pending as i32 => {
                step.input = input.map(|i| i.to_string());
                step.status = StepStatus::Failed as i32;
                step.error_code = error.code;
                step.error_message = error.message;
                step.ended_at_us = Some(now);
                repo.save_step(step).await?;
                events.push(finished_event(run_id, step));
            }
            Move::Await { input, .. } if step.status == StepStatus::Pending as i32 && !step.approved => {
                step.input = Some(input.to_string());
                step.status = StepStatus::AwaitingApproval as i32;
                repo.save_step(step).await?;
                events.push(event(
                    run_id,
                    Event::ApprovalNeeded(pb::ApprovalNeeded {
                        step: name,
                        step_id: step.id.clone(),
                        description: step.description.clone(),
                        tool: step.tool.clone(),
                        connection: step.connection.clone(),
                        input: object_struct(&input),
                    }),
                ));
            }
            Move::Start { input, auto_approved, .. }
                if step.status == StepStatus::Pending as i32 || step.status == StepStatus::Running as i32 =>
            {
                // The last wall before a write: only an approval recorded in this table lets it run.
                if step.needs_approval && !step.approved && !auto_approved {
                    continue;
                }
                if auto_approved {
                    step.approved = true;
                    step.reviewer = "auto-approve".to_owned();
                    step.review_comment = "auto-approved by the tenant's assistant settings".to_owned();
                    step.reviewed_at_us = Some(now);
                }
                let resumed = step.status == StepStatus::Running as i32;
                step.input = Some(input.to_string());
                step.status = StepStatus::Running as i32;
                step.started_at_us = step.started_at_us.or(Some(now));
                repo.save_step(step).await?;
                if !resumed {
                    events.push(event(
                        run_id,
                        Event::StepStarted(pb::StepStarted {
                            step: name.clone(),
                            step_id: step.id.clone(),
                            tool: step.tool.clone(),
                            input: object_struct(&input),
                        }),
                    ));
                }
                started.push((
                    Started {
                        id: step.id.clone(),
                        name,
                        tool: step.tool.clone(),
                        connection: step.connection.clone(),
                        idempotency_key: step.idempotency_key.clone(),
                        needs_approval: step.needs_approval,
                    },
                    input,
                ));
            }
            _ => {}
        }
    }
    // The steps as saved above: the moves changed them in place.
    let awaiting = steps.iter().any(|s| s.status == StepStatus::AwaitingApproval as i32);
    let status = if awaiting { RunStatus::AwaitingApproval } else { RunStatus::Running } as i32;
    if status != run.status {
        run.status = status;
        run.updated_at_us = now;
        repo.save_run(run).await?;
    }
    Ok((started, events))
}

/// What should happen to a step, as far as can be told without a call.
enum Decision<'a> {
    /// This move.
    Ready(Move),
    /// A write step to put before a person, once the connectors have checked its `input`.
    Check { step: &'a StepRow, input: Value },
}

/// What should happen to each step now, in step order: starts of steps whose dependencies succeeded (a write step
/// only when approved, or auto-approved by `settings`), skips of steps whose dependencies did not, failures of
/// inputs that do not resolve, and the write steps to check before asking for approval.
fn decisions<'a>(steps: &'a [StepRow], in_flight: &HashSet<String>, settings: &AssistantSettings) -> Vec<Decision<'a>> {
    let by_id: HashMap<&str, &StepRow> = steps.iter().map(|s| (s.id.as_str(), s)).collect();
    let outputs: HashMap<String, Value> = steps
        .iter()
        .filter(|s| s.status == StepStatus::Succeeded as i32)
        .filter_map(|s| Some((s.id.clone(), stored_json(s.output.as_deref())?)))
        .collect();
    let mut decisions = Vec::new();
    for step in steps {
        // A step left RUNNING by a process that died: run it again with its stored input and key.
        if step.status == StepStatus::Running as i32 && !in_flight.contains(&step.id) {
            let input = stored_json(step.input.as_deref()).unwrap_or(Value::Null);
            decisions.push(Decision::Ready(Move::Start { id: step.id.clone(), input, auto_approved: false }));
            continue;
        }
        if step.status != StepStatus::Pending as i32 {
            continue;
        }
        let dependencies: Vec<&StepRow> =
            convert::depends_on(step).iter().filter_map(|d| by_id.get(d.as_str()).copied()).collect();
        if let Some(blocked) =
            dependencies.iter().find(|d| terminal_step(d.status) && d.status != StepStatus::Succeeded as i32)
        {
            let how = StepStatus::try_from(blocked.status).map(|s| s.as_str_name()).unwrap_or("ENDED");
            let how = how.trim_start_matches("STEP_STATUS_").to_lowercase();
            decisions.push(Decision::Ready(Move::Skip {
                id: step.id.clone(),
                why: format!("step {} was {how}", blocked.id),
            }));
            continue;
        }
        if !dependencies.iter().all(|d| d.status == StepStatus::Succeeded as i32) {
            continue;
        }
        let template: Value = serde_json::from_str(&step.input_template).unwrap_or(Value::Null);
        let input = match plan::resolve(&template, &outputs) {
            Ok(input) => input,
            Err(e) => {
                decisions.push(Decision::Ready(Move::Fail {
                    id: step.id.clone(),
                    error: ToolError::invalid(e),
                    input: None,
                }));
                continue;
            }
        };
        let auto = step.needs_approval && settings.auto_approves(&step.tool);
        if !step.needs_approval || step.approved || auto {
            decisions.push(Decision::Ready(Move::Start {
                id: step.id.clone(),
                input,
                auto_approved: auto && !step.approved,
            }));
        } else {
            decisions.push(Decision::Check { step, input });
        }
    }
    decisions
}

/// The moves that need neither a call nor the tenant's settings (read steps that can start, skips, failures), made
/// in the transaction that changed the steps; write steps are left to the driver's next turn.
fn moves_without_calls(steps: &[StepRow], in_flight: &HashSet<String>) -> Vec<Move> {
    decisions(steps, in_flight, &AssistantSettings::default())
        .into_iter()
        .filter_map(|d| match d {
            Decision::Ready(Move::Start { auto_approved: true, .. }) | Decision::Check { .. } => None,
            Decision::Ready(step_move) => Some(step_move),
        })
        .collect()
}

/// A run after a transaction that moved it on: the run and its steps as committed (but for `last_sequence`), and
/// the steps it started, for the driver to run.
struct Advanced {
    run: RunRow,
    steps: Vec<StepRow>,
    started: Vec<(Started, Value)>,
}

/// The calls of a run's steps in flight, each ending with its step's id and result.
type StepTasks = JoinSet<(String, Result<crate::tools::ToolOutput, ToolError>)>;

/// A step moved to RUNNING, with what its call needs.
#[derive(Debug, Clone)]
struct Started {
    id: String,
    name: String,
    tool: String,
    connection: String,
    idempotency_key: String,
    needs_approval: bool,
}

/// Pins each built-in read step of a run restricted to some connections to one of them: a read by provider would
/// also read the tenant's other connections of that provider.
fn restrict_reads(plan: &mut PlanDraft, connections: &[UsableConnection]) -> Result<(), String> {
    for step in plan.steps.iter_mut().filter(|s| s.tool.starts_with("records.") && s.connection.is_empty()) {
        let provider = step.input.get("provider").and_then(Value::as_str).unwrap_or_default().to_owned();
        let connection = connections
            .iter()
            .find(|c| provider.is_empty() || c.provider == provider)
            .ok_or_else(|| format!("step {}: no {provider} connection among the ones this run may use", step.id))?;
        step.connection = connection.name.clone();
    }
    Ok(())
}

fn finished_event(run_id: &str, step: &StepRow) -> pb::AskResponse {
    let outcome = if step.status == StepStatus::Succeeded as i32 {
        stored_json(step.output.as_deref()).as_ref().and_then(object_struct).map(pb::step_finished::Outcome::Output)
    } else {
        convert::rpc_status(step.error_code, &step.error_message).map(pb::step_finished::Outcome::Error)
    };
    event(
        run_id,
        Event::StepFinished(pb::StepFinished {
            step: step_name(run_id, &step.id),
            step_id: step.id.clone(),
            status: step.status,
            outcome,
            audit_event_id: step.audit_event_id.clone(),
        }),
    )
}

fn step_result(run_id: &str, step: &StepRow) -> StepResult {
    StepResult {
        id: step.id.clone(),
        name: step_name(run_id, &step.id),
        description: step.description.clone(),
        tool: step.tool.clone(),
        status: StepStatus::try_from(step.status).unwrap_or(StepStatus::Unspecified),
        input: stored_json(step.input.as_deref()).or_else(|| stored_json(Some(&step.input_template))),
        output: stored_json(step.output.as_deref()),
        error: (!step.error_message.is_empty()).then(|| step.error_message.clone()),
        review_comment: step.review_comment.clone(),
    }
}

async fn record_usage(repo: &Repo<'_>, usage: Usage, now_us: i64) -> Result<(), OrchestratorError> {
    if usage.input_tokens > 0 || usage.output_tokens > 0 {
        repo.add_usage(&settings::month_of(now_us), usage.input_tokens, usage.output_tokens).await?;
    }
    Ok(())
}
