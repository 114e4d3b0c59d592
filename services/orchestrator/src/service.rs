//! The gRPC methods of `OrchestratorService`: each parses its request into typed values, acts in the caller's
//! tenant (from the request context, never a field) through the engine, and maps errors to statuses in one place
//! (`error.rs`).

use std::pin::Pin;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::Stream;
use switchboard_mesh::context::RequestContext;
use switchboard_models::{ChainPolicy, ProviderChain, ProviderConfig};
use switchboard_proto::orchestrator::v1 as pb;
use switchboard_store::Store;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::convert::{intent_message, run_message, step_message};
use crate::error::OrchestratorError;
use crate::planner::router::{Router, Routing};
use crate::planner::{ModelPlanner, OfflinePlanner, Planner};
use crate::runner::{DirectAction, Engine, NewRun, RunOptions};
use crate::storage::Repo;
use crate::tools::{ConnectorsApi, Tools};
use crate::usage::UsageRecorder;

/// Longest question accepted, in characters.
const MAX_QUESTION_CHARS: usize = 4000;
/// Events buffered per Ask stream before the follower waits for the client.
const STREAM_BUFFER: usize = 64;

/// The service; cheap to clone.
#[derive(Clone)]
pub struct OrchestratorService {
    engine: Arc<Engine>,
}

impl std::fmt::Debug for OrchestratorService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrchestratorService").field("engine", &self.engine).finish()
    }
}

impl OrchestratorService {
    /// A service over `store`, calling tools through `connectors`, planning with `planner` after `router`; runs'
    /// drivers stop with `stop`. Call [`OrchestratorService::resume`] once to pick up runs a previous process left.
    pub fn new(
        store: Store,
        connectors: Arc<dyn ConnectorsApi>,
        planner: Arc<dyn Planner>,
        router: Router,
        options: RunOptions,
        stop: CancellationToken,
    ) -> Self {
        Self::with_routing(store, connectors, planner, Routing::ready(router), options, stop)
    }

    /// [`OrchestratorService::new`] with a router that may still be being built.
    pub(crate) fn with_routing(
        store: Store,
        connectors: Arc<dyn ConnectorsApi>,
        planner: Arc<dyn Planner>,
        router: Routing,
        options: RunOptions,
        stop: CancellationToken,
    ) -> Self {
        let engine = Engine::new(store, Tools::new(connectors), planner, router, options, stop);
        Self { engine: Arc::new(engine) }
    }

    /// A service with the offline planner and the hashed-embedding router (no model provider configured).
    pub fn offline(
        store: Store,
        connectors: Arc<dyn ConnectorsApi>,
        options: RunOptions,
        stop: CancellationToken,
    ) -> Result<Self, OrchestratorError> {
        let router = Router::hashed()?;
        Ok(Self::new(store, connectors, Arc::new(OfflinePlanner), router, options, stop))
    }

    /// Adds the knowledge base: documents are indexed in `vectors` with `embedder`'s vectors, the document RPCs
    /// work, and `knowledge.search` joins the tools. Call it right after construction, before the service is
    /// cloned or serving.
    pub fn with_knowledge(
        mut self,
        vectors: Arc<dyn switchboard_vectors::VectorStore>,
        embedder: Arc<dyn switchboard_vectors::Embedder>,
    ) -> Result<Self, OrchestratorError> {
        let engine = Arc::get_mut(&mut self.engine).ok_or_else(|| {
            OrchestratorError::Internal("with_knowledge must be called before the service is cloned".into())
        })?;
        let knowledge = crate::knowledge::Knowledge::new(engine.store.clone(), vectors, embedder);
        tracing::info!(knowledge = ?knowledge, "knowledge base");
        engine.tools.set_knowledge(Arc::new(knowledge));
        Ok(self)
    }

    /// A service routing with `router`, planning with the model providers `providers` (in chain order) through one
    /// provider chain with `policy`, charging each call's tokens to its tenant; with no provider configured, the
    /// offline planner.
    ///
    /// The offline planner is not the chain's last resort: a tenant with a model configured gets plans from it or
    /// a clear UNAVAILABLE failure while every provider cools down, never a silent switch to keyword rules that may
    /// read an action differently (and would sign the run with a model that did not write it).
    pub fn with_models(
        store: Store,
        connectors: Arc<dyn ConnectorsApi>,
        providers: Vec<ProviderConfig>,
        policy: ChainPolicy,
        router: Router,
        options: RunOptions,
        stop: CancellationToken,
    ) -> Result<Self, OrchestratorError> {
        let planner = Self::planner(&store, providers, policy)?;
        Ok(Self::with_routing(store, connectors, planner, Routing::ready(router), options, stop))
    }

    /// The planner for `providers`: the model planner on one provider chain with `policy`, charging each call's
    /// tokens to its tenant; the offline planner when no provider is configured.
    pub(crate) fn planner(
        store: &Store,
        providers: Vec<ProviderConfig>,
        policy: ChainPolicy,
    ) -> Result<Arc<dyn Planner>, OrchestratorError> {
        let Some(primary) = providers.first() else { return Ok(Arc::new(OfflinePlanner)) };
        let model = format!("{}/{}", primary.name, primary.model);
        let usage = UsageRecorder::start(store.clone());
        let chain = ProviderChain::from_configs(providers, policy)?.with_usage_sink(usage.clone());
        tracing::info!(%model, chain = ?chain, "planning with model providers");
        Ok(Arc::new(ModelPlanner::new(Arc::new(chain), model, store.clone(), usage)))
    }

    /// Drives every unfinished run that no replica drives (runs waiting for approval keep waiting; approved and
    /// running steps run, with their stored idempotency keys), and keeps looking for such runs (a replica that died
    /// leaves its runs when their leases lapse) until the service stops. Returns how many runs the first look took.
    pub async fn resume(&self) -> Result<usize, OrchestratorError> {
        self.engine.resume_all().await
    }

    /// How many runs this replica drives now (each run is driven by one replica at a time).
    pub fn runs_driven(&self) -> usize {
        self.engine.runs_driven()
    }

    /// Waits until every run driver of this service has stopped (after its stop token is cancelled).
    pub async fn wait_for_runs(&self) {
        self.engine.wait().await;
    }
}

// === request parsing ===

/// The run id of `runs/{id}`.
fn run_id(name: &str, field: &str) -> Result<String, OrchestratorError> {
    name.strip_prefix("runs/")
        .filter(|id| uuid::Uuid::parse_str(id).is_ok() && id.len() == 36)
        .map(str::to_owned)
        .ok_or_else(|| OrchestratorError::InvalidArgument(format!("{field}: expected runs/{{uuid}}, got {name:?}")))
}

/// (run id, step id) of `runs/{run}/steps/{step}`.
fn step_id(name: &str) -> Result<(String, String), OrchestratorError> {
    let bad =
        || OrchestratorError::InvalidArgument(format!("name: expected runs/{{run}}/steps/{{step}}, got {name:?}"));
    let rest = name.strip_prefix("runs/").ok_or_else(bad)?;
    let (run, step) = rest.split_once("/steps/").ok_or_else(bad)?;
    let run = run_id(&format!("runs/{run}"), "name")?;
    if step.is_empty() || step.contains('/') {
        return Err(bad());
    }
    Ok((run, step.to_owned()))
}

pub(crate) fn page_size(requested: i32) -> Result<u64, OrchestratorError> {
    match requested {
        0 => Ok(50),
        n if n < 0 => Err(OrchestratorError::InvalidArgument("page_size: must not be negative".into())),
        n => Ok((n as u64).min(1000)),
    }
}

/// Page tokens: base64url of `<created_at_us>:<id>` of the last run (or document) of the previous page.
pub(crate) fn encode_token(time: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{time}:{id}"))
}

pub(crate) fn decode_token(token: &str) -> Result<Option<(i64, String)>, OrchestratorError> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || OrchestratorError::InvalidArgument("page_token: not a token from a previous call".into());
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?).map_err(|_| bad())?;
    let (time, id) = text.split_once(':').ok_or_else(bad)?;
    Ok(Some((time.parse().map_err(|_| bad())?, id.to_owned())))
}

impl OrchestratorService {
    fn follow(
        &self,
        tenant: switchboard_types::TenantId,
        run: String,
        after: i64,
    ) -> Pin<Box<dyn Stream<Item = Result<pb::AskResponse, Status>> + Send>> {
        let (tx, rx) = tokio::sync::mpsc::channel(STREAM_BUFFER);
        let engine = &self.engine;
        tokio::spawn(crate::live::follow(engine.hub.clone(), engine.store.clone(), tenant, run, after, tx));
        Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
    }

    async fn ask(
        &self,
        context: &RequestContext,
        request: pb::AskRequest,
    ) -> Result<Pin<Box<dyn Stream<Item = Result<pb::AskResponse, Status>> + Send>>, OrchestratorError> {
        let tenant = context.require_tenant()?;
        if !request.run.is_empty() {
            if !request.question.is_empty() || request.action.is_some() {
                return Err(OrchestratorError::InvalidArgument(
                    "question and action: must be empty when re-attaching with run".into(),
                ));
            }
            if request.after_sequence < 0 {
                return Err(OrchestratorError::InvalidArgument("after_sequence: must not be negative".into()));
            }
            let id = run_id(&request.run, "run")?;
            let scope = self.engine.store.tenant(tenant).await?;
            let found = Repo::new(&scope).run(&id).await?;
            scope.commit().await?;
            if found.is_none() {
                return Err(OrchestratorError::NotFound(format!("{}: no such run", request.run)));
            }
            return Ok(self.follow(tenant, id, request.after_sequence));
        }
        let action = request.action.map(direct_action).transpose()?;
        let question = match (request.question.trim(), &action) {
            ("", None) => {
                return Err(OrchestratorError::InvalidArgument(
                    "question: required (or run, to re-attach, or action, to run one action)".into(),
                ));
            }
            ("", Some(action)) => format!("Run {} on {}", action.action, action.connection),
            (question, _) => question.to_owned(),
        };
        let question = question.as_str();
        if question.chars().count() > MAX_QUESTION_CHARS {
            return Err(OrchestratorError::InvalidArgument(format!(
                "question: at most {MAX_QUESTION_CHARS} characters"
            )));
        }
        if !request.model.is_empty() && request.model != self.engine.model() {
            return Err(OrchestratorError::InvalidArgument(format!(
                "model: {:?} is not configured; the configured model is {}",
                request.model,
                self.engine.model()
            )));
        }
        for name in &request.allowed_connections {
            let ok = name
                .strip_prefix("connections/")
                .is_some_and(|id| id.parse::<switchboard_types::ConnectionId>().is_ok());
            if !ok {
                return Err(OrchestratorError::InvalidArgument(format!(
                    "allowed_connections: expected connections/{{uuid}}, got {name:?}"
                )));
            }
        }
        if !request.previous_run.is_empty() {
            let id = run_id(&request.previous_run, "previous_run")?;
            let scope = self.engine.store.tenant(tenant).await?;
            let found = Repo::new(&scope).run(&id).await?;
            scope.commit().await?;
            if found.is_none() {
                return Err(OrchestratorError::NotFound(format!("{}: no such run", request.previous_run)));
            }
        }
        let new = NewRun {
            question: question.to_owned(),
            allowed_connections: request.allowed_connections,
            previous_run: request.previous_run,
            action,
        };
        let id = self.engine.start(context, new).await?;
        Ok(self.follow(tenant, id, 0))
    }

    async fn route(
        &self,
        context: &RequestContext,
        request: pb::RouteRequest,
    ) -> Result<pb::RouteResponse, OrchestratorError> {
        // Nothing of the tenant's is read, but only a caller in a tenant may use the router (and a model asked about
        // a question below the threshold is charged to it).
        let tenant = context.require_tenant()?;
        let text = request.text.trim();
        if text.is_empty() {
            return Err(OrchestratorError::InvalidArgument("text: required".into()));
        }
        if text.chars().count() > MAX_QUESTION_CHARS {
            return Err(OrchestratorError::InvalidArgument(format!("text: at most {MAX_QUESTION_CHARS} characters")));
        }
        let router = self.engine.router.get().await?;
        let fallback = self.engine.planner.router_fallback();
        let routed = router.route(text, fallback.as_deref().map(|f| (f, tenant))).await?;
        Ok(pb::RouteResponse {
            intent: intent_message(routed.intent) as i32,
            confidence: routed.confidence,
            runner_up: intent_message(routed.runner_up) as i32,
            runner_up_confidence: routed.runner_up_confidence,
            embedding_model: router.model().to_owned(),
            decided_by_model: routed.by_model,
        })
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl pb::orchestrator_service_server::OrchestratorService for OrchestratorService {
    type AskStream = Pin<Box<dyn Stream<Item = Result<pb::AskResponse, Status>> + Send>>;

    async fn ask(&self, request: Request<pb::AskRequest>) -> Reply<Self::AskStream> {
        let context = RequestContext::of(&request)?.clone();
        Ok(Response::new(self.ask(&context, request.into_inner()).await?))
    }

    async fn get_run(&self, request: Request<pb::GetRunRequest>) -> Reply<pb::GetRunResponse> {
        let tenant = RequestContext::of(&request)?.require_tenant().map_err(OrchestratorError::from)?;
        let id = run_id(&request.get_ref().name, "name")?;
        let scope = self.engine.store.tenant(tenant).await.map_err(OrchestratorError::from)?;
        let repo = Repo::new(&scope);
        let run = repo
            .run(&id)
            .await
            .map_err(OrchestratorError::from)?
            .ok_or_else(|| OrchestratorError::NotFound(format!("{}: no such run", request.get_ref().name)))?;
        let steps = repo.steps(&id).await.map_err(OrchestratorError::from)?;
        scope.commit().await.map_err(OrchestratorError::from)?;
        Ok(Response::new(pb::GetRunResponse { run: Some(run_message(&run, &steps, true)) }))
    }

    async fn list_runs(&self, request: Request<pb::ListRunsRequest>) -> Reply<pb::ListRunsResponse> {
        let context = RequestContext::of(&request)?.clone();
        let tenant = context.require_tenant().map_err(OrchestratorError::from)?;
        let request = request.into_inner();
        let limit = page_size(request.page_size)?;
        let after = decode_token(&request.page_token)?;
        let creator = match request.creator.as_str() {
            "" => None,
            "me" => Some(context.user().map(|u| u.to_string()).ok_or_else(|| {
                OrchestratorError::InvalidArgument("creator: `me` needs a user in the request context".into())
            })?),
            other => Some(other.to_owned()),
        };
        let scope = self.engine.store.tenant(tenant).await.map_err(OrchestratorError::from)?;
        let repo = Repo::new(&scope);
        let status = (request.status != 0).then_some(request.status);
        let mut rows =
            repo.runs(status, creator.as_deref(), after, limit + 1).await.map_err(OrchestratorError::from)?;
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let mut runs = Vec::with_capacity(rows.len());
        for row in &rows {
            let steps = repo.steps(&row.id).await.map_err(OrchestratorError::from)?;
            runs.push(run_message(row, &steps, false));
        }
        scope.commit().await.map_err(OrchestratorError::from)?;
        let next_page_token = match (more, rows.last()) {
            (true, Some(last)) => encode_token(last.created_at_us, &last.id),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListRunsResponse { runs, next_page_token }))
    }

    async fn approve_step(&self, request: Request<pb::ApproveStepRequest>) -> Reply<pb::ApproveStepResponse> {
        let context = RequestContext::of(&request)?.clone();
        let request = request.into_inner();
        let (run, step) = step_id(&request.name)?;
        let row = self.engine.review(&context, &run, &step, true, &request.comment).await?;
        Ok(Response::new(pb::ApproveStepResponse { step: Some(step_message(&row, true)) }))
    }

    async fn reject_step(&self, request: Request<pb::RejectStepRequest>) -> Reply<pb::RejectStepResponse> {
        let context = RequestContext::of(&request)?.clone();
        let request = request.into_inner();
        let (run, step) = step_id(&request.name)?;
        let row = self.engine.review(&context, &run, &step, false, &request.reason).await?;
        Ok(Response::new(pb::RejectStepResponse { step: Some(step_message(&row, true)) }))
    }

    async fn cancel_run(&self, request: Request<pb::CancelRunRequest>) -> Reply<pb::CancelRunResponse> {
        let context = RequestContext::of(&request)?.clone();
        let request = request.into_inner();
        let id = run_id(&request.name, "name")?;
        let (run, steps) = self.engine.cancel(&context, &id, &request.reason).await?;
        Ok(Response::new(pb::CancelRunResponse { run: Some(run_message(&run, &steps, true)) }))
    }

    async fn ingest_document(&self, request: Request<pb::IngestDocumentRequest>) -> Reply<pb::IngestDocumentResponse> {
        let context = RequestContext::of(&request)?.clone();
        let document = crate::documents::ingest(&self.engine, &context, request.into_inner()).await?;
        Ok(Response::new(pb::IngestDocumentResponse { document: Some(document) }))
    }

    async fn list_documents(&self, request: Request<pb::ListDocumentsRequest>) -> Reply<pb::ListDocumentsResponse> {
        let context = RequestContext::of(&request)?.clone();
        Ok(Response::new(crate::documents::list(&self.engine, &context, request.into_inner()).await?))
    }

    async fn delete_document(&self, request: Request<pb::DeleteDocumentRequest>) -> Reply<pb::DeleteDocumentResponse> {
        let context = RequestContext::of(&request)?.clone();
        let document = crate::documents::delete(&self.engine, &context, request.into_inner()).await?;
        Ok(Response::new(pb::DeleteDocumentResponse { document: Some(document) }))
    }

    async fn get_assistant_settings(
        &self,
        request: Request<pb::GetAssistantSettingsRequest>,
    ) -> Reply<pb::GetAssistantSettingsResponse> {
        let context = RequestContext::of(&request)?.clone();
        let settings = crate::assistant_settings::get(&self.engine, &context, request.into_inner()).await?;
        Ok(Response::new(pb::GetAssistantSettingsResponse { settings: Some(settings) }))
    }

    async fn update_assistant_settings(
        &self,
        request: Request<pb::UpdateAssistantSettingsRequest>,
    ) -> Reply<pb::UpdateAssistantSettingsResponse> {
        let context = RequestContext::of(&request)?.clone();
        let settings = crate::assistant_settings::update(&self.engine, &context, request.into_inner()).await?;
        Ok(Response::new(pb::UpdateAssistantSettingsResponse { settings: Some(settings) }))
    }

    async fn route(&self, request: Request<pb::RouteRequest>) -> Reply<pb::RouteResponse> {
        let context = RequestContext::of(&request)?.clone();
        Ok(Response::new(self.route(&context, request.into_inner()).await?))
    }
}

/// `AskRequest.action` as the engine takes it; the shape is checked here, the rest against the catalog.
fn direct_action(call: pb::ActionCall) -> Result<DirectAction, OrchestratorError> {
    if call.action.trim().is_empty() {
        return Err(OrchestratorError::InvalidArgument("action.action: required, such as stripe.refund.create".into()));
    }
    let connection_ok = call
        .connection
        .strip_prefix("connections/")
        .is_some_and(|id| id.parse::<switchboard_types::ConnectionId>().is_ok());
    if !connection_ok {
        return Err(OrchestratorError::InvalidArgument(format!(
            "action.connection: expected connections/{{uuid}}, got {:?}",
            call.connection
        )));
    }
    let input = call.input.as_ref().map(crate::convert::struct_to_json).unwrap_or_else(|| serde_json::json!({}));
    Ok(DirectAction { action: call.action.trim().to_owned(), connection: call.connection, input })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_strictly() {
        let id = "0190f6a4-7c1e-7d2a-9a1b-3c4d5e6f7a8b";
        assert_eq!(run_id(&format!("runs/{id}"), "name").unwrap(), id);
        assert!(run_id("runs/x", "name").is_err() && run_id(id, "name").is_err());
        assert_eq!(step_id(&format!("runs/{id}/steps/2")).unwrap(), (id.to_owned(), "2".to_owned()));
        assert!(step_id(&format!("runs/{id}/steps/")).is_err());
        assert!(step_id(&format!("runs/{id}/steps/2/x")).is_err());
        let token = encode_token(42, id);
        assert_eq!(decode_token(&token).unwrap(), Some((42, id.to_owned())));
        assert!(decode_token("!!").is_err());
    }
}
