//! The tools a plan's steps call: the built-in read tools over synced records ([`records`]) and over the tenant's
//! documents ([`knowledge`], when a knowledge base is configured), and the connectors' action catalog; records and
//! actions are reached through [`ConnectorsApi`] — the connectors service over the mesh in production
//! ([`MeshConnectors`]), or any other implementation (tests call a service in process).
//!
//! Every call carries the run's request context (tenant, user, role, request id, trace), so the connectors service
//! scopes, authorizes and audits it as the person who asked.

pub(crate) mod knowledge;
mod mesh;
pub(crate) mod records;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use switchboard_mesh::context::RequestContext;
use switchboard_proto::connectors::v1 as pb;

pub use self::mesh::MeshConnectors;
use crate::convert::{object_struct, struct_to_json};
use crate::error::ToolError;
use crate::knowledge::Knowledge;

/// A boxed future of a connectors call (keeps [`ConnectorsApi`] object-safe).
pub type ApiFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, tonic::Status>> + Send + 'a>>;

/// What the orchestrator needs of the connectors service. Each call acts in `context` (its tenant and user).
pub trait ConnectorsApi: Send + Sync + 'static {
    /// `ConnectorService.QueryRecords`.
    fn query_records<'a>(
        &'a self,
        context: &'a RequestContext,
        request: pb::QueryRecordsRequest,
    ) -> ApiFuture<'a, pb::QueryRecordsResponse>;
    /// `ConnectorService.ListActions`.
    fn list_actions<'a>(
        &'a self,
        context: &'a RequestContext,
        request: pb::ListActionsRequest,
    ) -> ApiFuture<'a, pb::ListActionsResponse>;
    /// `ConnectorService.ListConnections`.
    fn list_connections<'a>(
        &'a self,
        context: &'a RequestContext,
        request: pb::ListConnectionsRequest,
    ) -> ApiFuture<'a, pb::ListConnectionsResponse>;
    /// `ConnectorService.InvokeAction`.
    fn invoke_action<'a>(
        &'a self,
        context: &'a RequestContext,
        request: pb::InvokeActionRequest,
    ) -> ApiFuture<'a, pb::InvokeActionResponse>;
}

/// A tool as the planner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// `records.query`, `stripe.refund.create`, ...
    pub name: String,
    /// What it does.
    pub description: String,
    /// The provider whose connection it runs on; `None` for built-in tools.
    pub provider: Option<String>,
    /// Whether a person must approve it before it runs.
    pub needs_approval: bool,
    /// Whether it only reads.
    pub read_only: bool,
    /// Its input's JSON Schema.
    pub input_schema: Value,
}

/// One call of a tool, as a step makes it.
#[derive(Debug, Clone)]
pub(crate) struct ToolCall<'a> {
    pub(crate) tool: &'a str,
    /// `connections/{id}`, or empty.
    pub(crate) connection: &'a str,
    /// The resolved input.
    pub(crate) input: &'a Value,
    pub(crate) idempotency_key: &'a str,
    /// `runs/{run}/steps/{step}` of an approved step, for the audit record.
    pub(crate) approved_step: &'a str,
}

/// What a tool call produced.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolOutput {
    pub(crate) output: Value,
    /// The connectors' audit event of an action call; empty for built-in tools.
    pub(crate) audit_event_id: String,
}

/// The tools, over a connectors API.
#[derive(Clone)]
pub(crate) struct Tools {
    api: Arc<dyn ConnectorsApi>,
    /// The knowledge base `knowledge.search` reads; without one the tool is not offered.
    knowledge: Option<Arc<Knowledge>>,
}

impl std::fmt::Debug for Tools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tools").finish_non_exhaustive()
    }
}

/// Most pages of the action catalog or connection list read (a bound, not an expectation).
const MAX_LIST_PAGES: usize = 50;

impl Tools {
    pub(crate) fn new(api: Arc<dyn ConnectorsApi>) -> Self {
        Self { api, knowledge: None }
    }

    /// Offers `knowledge.search` over `knowledge`.
    pub(crate) fn set_knowledge(&mut self, knowledge: Arc<Knowledge>) {
        self.knowledge = Some(knowledge);
    }

    /// The knowledge base, if configured.
    pub(crate) fn knowledge(&self) -> Option<&Arc<Knowledge>> {
        self.knowledge.as_ref()
    }

    /// Every tool the tenant can call: the built-in read tools, then the connectors' actions.
    pub(crate) async fn catalog(&self, context: &RequestContext) -> Result<Vec<ToolSpec>, ToolError> {
        let mut tools = records::specs();
        if self.knowledge.is_some() {
            tools.extend(knowledge::specs());
        }
        let mut page_token = String::new();
        for _ in 0..MAX_LIST_PAGES {
            let request = pb::ListActionsRequest { page_size: 1000, page_token, ..Default::default() };
            let page = self.api.list_actions(context, request).await?;
            tools.extend(page.actions.into_iter().map(|a| ToolSpec {
                name: a.name,
                description: a.description,
                provider: Some(a.provider),
                needs_approval: a.needs_approval,
                read_only: a.read_only,
                input_schema: a.input_schema.as_ref().map(struct_to_json).unwrap_or(Value::Null),
            }));
            if page.next_page_token.is_empty() {
                return Ok(tools);
            }
            page_token = page.next_page_token;
        }
        Err(ToolError::invalid("the action catalog has too many pages"))
    }

    /// The tenant's connections (active or not).
    pub(crate) async fn connections(&self, context: &RequestContext) -> Result<Vec<pb::Connection>, ToolError> {
        let mut connections = Vec::new();
        let mut page_token = String::new();
        for _ in 0..MAX_LIST_PAGES {
            let request = pb::ListConnectionsRequest { page_size: 1000, page_token, ..Default::default() };
            let page = self.api.list_connections(context, request).await?;
            connections.extend(page.connections);
            if page.next_page_token.is_empty() {
                return Ok(connections);
            }
            page_token = page.next_page_token;
        }
        Err(ToolError::invalid("the tenant has too many connections to list"))
    }

    /// Checks a call's input without running it: built-in tools parse it; connector actions are checked by the
    /// connectors service against the action's JSON Schema (`validate_only`), the one validator of that schema.
    pub(crate) async fn validate(&self, context: &RequestContext, call: &ToolCall<'_>) -> Result<(), ToolError> {
        if records::is_builtin(call.tool) {
            return records::parse(call.tool, call.input).map(|_| ());
        }
        if knowledge::is_builtin(call.tool) {
            return knowledge::parse(call.input).map(|_| ());
        }
        let request = self.action_request(call, true)?;
        self.api.invoke_action(context, request).await?;
        Ok(())
    }

    /// Runs a call.
    pub(crate) async fn run(&self, context: &RequestContext, call: &ToolCall<'_>) -> Result<ToolOutput, ToolError> {
        if records::is_builtin(call.tool) {
            let query = records::parse(call.tool, call.input)?;
            let output = records::run(self.api.as_ref(), context, call.connection, &query).await?;
            return Ok(ToolOutput { output, audit_event_id: String::new() });
        }
        if knowledge::is_builtin(call.tool) {
            let input = knowledge::parse(call.input)?;
            let Some(base) = &self.knowledge else {
                return Err(ToolError::invalid("this orchestrator has no knowledge base configured"));
            };
            let output = knowledge::run(base, context, &input).await?;
            return Ok(ToolOutput { output, audit_event_id: String::new() });
        }
        let request = self.action_request(call, false)?;
        let response = self.api.invoke_action(context, request).await?;
        Ok(ToolOutput {
            output: response.output.as_ref().map(struct_to_json).unwrap_or_else(|| Value::Object(Default::default())),
            audit_event_id: response.audit_event_id,
        })
    }

    fn action_request(&self, call: &ToolCall<'_>, validate_only: bool) -> Result<pb::InvokeActionRequest, ToolError> {
        if call.connection.is_empty() {
            return Err(ToolError::invalid(format!("{} needs a connection", call.tool)));
        }
        Ok(pb::InvokeActionRequest {
            connection: call.connection.to_owned(),
            action: call.tool.to_owned(),
            input: Some(object_struct(call.input).ok_or_else(|| ToolError::invalid("input: must be an object"))?),
            idempotency_key: call.idempotency_key.to_owned(),
            approved_step: call.approved_step.to_owned(),
            validate_only,
        })
    }
}

/// Waits for `call` at most `limit`.
pub(crate) async fn with_timeout<T>(
    limit: Duration,
    call: impl Future<Output = Result<T, ToolError>>,
) -> Result<T, ToolError> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result,
        Err(_) => Err(ToolError::timeout(format!("the step did not finish within {} s", limit.as_secs_f64()))),
    }
}
