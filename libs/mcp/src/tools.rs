//! The tools: which ones a caller sees (their role and their tenant's catalog decide), their input schemas and
//! annotations, and what each call does through the gateway's API.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};
use switchboard_proto::auth::v1 as auth;
use switchboard_proto::connectors::v1 as connectors;
use switchboard_proto::orchestrator::v1::{self as orchestrator, ask_response::Event};

use crate::McpError;
use crate::api::Api;

const LIST_CONNECTIONS: &str = "list_connections";
const QUERY_RECORDS: &str = "query_records";
const ASK: &str = "ask";
const APPROVE_STEP: &str = "approve_step";
const REJECT_STEP: &str = "reject_step";

/// Most records one `query_records` call returns (the API allows 1000; a model's context does not).
const MAX_RECORDS: i32 = 100;
/// How long a tool follows a run before answering that it is still going (the run goes on; the console shows it).
const FOLLOW_FOR: Duration = Duration::from_secs(120);
/// With a step waiting for approval, how long the stream may stay quiet before the tool answers: the run is paused.
const QUIET_WHILE_WAITING: Duration = Duration::from_millis(300);
/// Pages of a listing read at most (1000 items each).
const MAX_PAGES: usize = 20;

/// The tools this caller may use now.
pub(crate) async fn list(api: &Api) -> Result<Vec<Tool>, McpError> {
    let may_act = may_act(&role(api).await?);
    let mut tools = vec![list_connections_tool(), query_records_tool()];
    if may_act {
        tools.extend([ask_tool(), approve_tool(), reject_tool()]);
    }
    for action in actions(api).await? {
        // A viewer may read through an action, never change anything.
        if action.read_only || may_act {
            tools.push(action_tool(&action));
        }
    }
    Ok(tools)
}

/// Calls the tool `name`.
pub(crate) async fn call(
    api: &Api,
    name: &str,
    arguments: JsonObject,
    console_url: &str,
) -> Result<CallToolResult, McpError> {
    let arguments = Arguments(arguments);
    match name {
        LIST_CONNECTIONS => list_connections(api).await,
        QUERY_RECORDS => query_records(api, &arguments).await,
        ASK => {
            let request = orchestrator::AskRequest {
                question: arguments.required_str("question")?.to_owned(),
                allowed_connections: arguments.str_list("connections")?,
                ..Default::default()
            };
            follow(api, request, console_url).await
        }
        APPROVE_STEP | REJECT_STEP => decide(api, name == APPROVE_STEP, &arguments, console_url).await,
        other => {
            let action = actions(api)
                .await?
                .into_iter()
                .find(|a| tool_name(&a.name) == other)
                .ok_or_else(|| McpError::UnknownTool(other.to_owned()))?;
            invoke(api, &action, &arguments, console_url).await
        }
    }
}

// === the caller and the catalog ===

async fn role(api: &Api) -> Result<auth::Role, McpError> {
    let me = api.auth().who_am_i(auth::WhoAmIRequest::default()).await?.into_inner();
    Ok(me.user.and_then(|u| auth::Role::try_from(u.role).ok()).unwrap_or(auth::Role::Viewer))
}

/// Members and up ask, invoke actions that change data and approve steps (the orchestrator checks whose).
fn may_act(role: &auth::Role) -> bool {
    matches!(role, auth::Role::Owner | auth::Role::Admin | auth::Role::Member)
}

async fn actions(api: &Api) -> Result<Vec<connectors::Action>, McpError> {
    all_pages(|page_token| async move {
        let request = connectors::ListActionsRequest { page_size: 1000, page_token, ..Default::default() };
        let page = api.connectors().list_actions(request).await?.into_inner();
        Ok((page.actions, page.next_page_token))
    })
    .await
}

async fn connections(api: &Api) -> Result<Vec<connectors::Connection>, McpError> {
    all_pages(|page_token| async move {
        let request = connectors::ListConnectionsRequest { page_size: 1000, page_token, ..Default::default() };
        let page = api.connectors().list_connections(request).await?.into_inner();
        Ok((page.connections, page.next_page_token))
    })
    .await
}

/// Every page of a list call, at most [`MAX_PAGES`]: `fetch` takes a page token and returns that page's items and
/// the next token (empty on the last page).
async fn all_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, McpError>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, String), McpError>>,
{
    let mut all = Vec::new();
    let mut page_token = String::new();
    for _ in 0..MAX_PAGES {
        let (items, next) = fetch(page_token).await?;
        all.extend(items);
        if next.is_empty() {
            break;
        }
        page_token = next;
    }
    Ok(all)
}

/// MCP clients accept `[A-Za-z0-9_-]` everywhere; the catalog's names are dotted.
fn tool_name(action: &str) -> String {
    action.replace('.', "_")
}

// === the tools' descriptions ===

fn schema(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

fn list_connections_tool() -> Tool {
    Tool::new(
        LIST_CONNECTIONS,
        "Lists the business's connected accounts (Shopify, Stripe, QuickBooks, HubSpot): name, provider, account, \
         status and when each last synced.",
        schema(json!({"type": "object", "properties": {}, "additionalProperties": false})),
    )
    .with_annotations(ToolAnnotations::with_title("List connections").read_only(true).open_world(false))
}

fn query_records_tool() -> Tool {
    Tool::new(
        QUERY_RECORDS,
        "Reads the records synced from the connected accounts (orders, charges, invoices, customers, contacts, ...), \
         newest first, with an optional filter such as `status = \"paid\" AND amount > 10000`.",
        schema(json!({
            "type": "object",
            "properties": {
                "kind": {"type": "string", "description": "Record kind: order, charge, refund, invoice, customer, contact, deal, ..."},
                "provider": {"type": "string", "description": "Only records from this provider: shopify, stripe, quickbooks or hubspot."},
                "connection": {"type": "string", "description": "Only records of this connection, connections/{id}."},
                "filter": {"type": "string", "description": "Comparisons (=, !=, <, <=, >, >=, : for has) over the record's fields and update_time, joined by AND, OR, NOT."},
                "order_by": {"type": "string", "description": "Fields to sort by, each optionally followed by desc. Default: update_time desc."},
                "semantic_query": {"type": "string", "description": "Rank the records by meaning against this text instead."},
                "page_size": {"type": "integer", "minimum": 1, "maximum": MAX_RECORDS, "description": "At most this many records (default 20)."},
                "page_token": {"type": "string", "description": "next_page_token of a previous call with the same query."}
            },
            "required": ["kind"],
            "additionalProperties": false
        })),
    )
    .with_annotations(ToolAnnotations::with_title("Query records").read_only(true).open_world(false))
}

fn ask_tool() -> Tool {
    Tool::new(
        ASK,
        "Asks Switchboard's assistant a question in plain words (\"which invoices are overdue?\", \"refund order \
         1042\"). It plans the steps, reads the business's data and answers with citations. A step that would change \
         data waits for a person's approval: the answer then names the run and a link to approve it.",
        schema(json!({
            "type": "object",
            "properties": {
                "question": {"type": "string", "minLength": 1, "maxLength": 4000},
                "connections": {"type": "array", "items": {"type": "string"}, "description": "Only these connections (connections/{id}); all when absent."}
            },
            "required": ["question"],
            "additionalProperties": false
        })),
    )
    .with_annotations(ToolAnnotations::with_title("Ask Switchboard").read_only(false).destructive(false).open_world(true))
}

fn approve_tool() -> Tool {
    Tool::new(
        APPROVE_STEP,
        "Approves a step waiting for approval (runs/{run}/steps/{step}, as `ask` or an action tool returned it), \
         which then runs at the provider. Only approve what the person you work for has agreed to.",
        schema(json!({
            "type": "object",
            "properties": {
                "step": {"type": "string", "description": "runs/{run}/steps/{step}"},
                "comment": {"type": "string", "description": "Note for the audit log."}
            },
            "required": ["step"],
            "additionalProperties": false
        })),
    )
    .with_annotations(ToolAnnotations::with_title("Approve a step").read_only(false).destructive(true).open_world(true))
}

fn reject_tool() -> Tool {
    Tool::new(
        REJECT_STEP,
        "Rejects a step waiting for approval: it does not run, and the run's answer says what was not done and why.",
        schema(json!({
            "type": "object",
            "properties": {
                "step": {"type": "string", "description": "runs/{run}/steps/{step}"},
                "reason": {"type": "string", "description": "Why, for the run's answer and the audit log."}
            },
            "required": ["step"],
            "additionalProperties": false
        })),
    )
    .with_annotations(
        ToolAnnotations::with_title("Reject a step")
            .read_only(false)
            .destructive(false)
            .idempotent(true)
            .open_world(false),
    )
}

fn action_tool(action: &connectors::Action) -> Tool {
    let input_schema = action.input_schema.as_ref().map(struct_to_json).unwrap_or_else(|| json!({"type": "object"}));
    let description = if action.read_only {
        action.description.clone()
    } else if action.needs_approval {
        format!("{} Waits for a person's approval before it runs.", action.description)
    } else {
        format!("{} Runs as a Switchboard run, recorded in the audit log.", action.description)
    };
    let tool = Tool::new(
        tool_name(&action.name),
        description,
        schema(json!({
            "type": "object",
            "properties": {
                "input": input_schema,
                "connection": {
                    "type": "string",
                    "description": format!(
                        "The {} connection to use, connections/{{id}} (list_connections); may be left out when there is only one.",
                        action.provider
                    )
                }
            },
            "required": ["input"],
            "additionalProperties": false
        })),
    );
    let annotations = ToolAnnotations::with_title(action.name.clone())
        .read_only(action.read_only)
        .destructive(!action.read_only && action.needs_approval)
        .open_world(true);
    tool.with_annotations(annotations)
}

// === the calls ===

/// A tool's arguments, read with messages that say which one is wrong.
struct Arguments(JsonObject);

impl Arguments {
    fn str(&self, name: &str) -> Result<Option<&str>, McpError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(McpError::InvalidArguments(format!("{name}: expected a string, got {other}"))),
        }
    }

    fn required_str(&self, name: &str) -> Result<&str, McpError> {
        self.str(name)?
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| McpError::InvalidArguments(format!("{name}: required")))
    }

    fn str_list(&self, name: &str) -> Result<Vec<String>, McpError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| McpError::InvalidArguments(format!("{name}: expected strings, got {i}")))
                })
                .collect(),
            Some(other) => {
                Err(McpError::InvalidArguments(format!("{name}: expected an array of strings, got {other}")))
            }
        }
    }

    fn int(&self, name: &str) -> Result<Option<i64>, McpError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| McpError::InvalidArguments(format!("{name}: expected an integer, got {v}"))),
        }
    }
}

async fn list_connections(api: &Api) -> Result<CallToolResult, McpError> {
    let connections: Vec<Value> = connections(api)
        .await?
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "provider": c.provider,
                "displayName": c.display_name,
                "account": c.account,
                "status": connectors::ConnectionStatus::try_from(c.status)
                    .map(|s| s.as_str_name().trim_start_matches("CONNECTION_STATUS_").to_owned())
                    .unwrap_or_default(),
                "lastSyncTime": c.last_sync_time.as_ref().map(|t| t.to_string()),
            })
        })
        .collect();
    let text = if connections.is_empty() {
        "No connections yet: connect an account in the Switchboard console.".to_owned()
    } else {
        connections
            .iter()
            .map(|c| format!("{} — {} {} ({})", c["name"], c["provider"], c["account"], c["status"]).replace('"', ""))
            .collect::<Vec<_>>()
            .join("\n")
    };
    Ok(structured(text, json!({"connections": connections})))
}

async fn query_records(api: &Api, arguments: &Arguments) -> Result<CallToolResult, McpError> {
    let page_size = arguments.int("page_size")?.unwrap_or(20);
    if !(1..=i64::from(MAX_RECORDS)).contains(&page_size) {
        return Err(McpError::InvalidArguments(format!("page_size: between 1 and {MAX_RECORDS}")));
    }
    let request = connectors::QueryRecordsRequest {
        kind: arguments.required_str("kind")?.to_owned(),
        provider: arguments.str("provider")?.unwrap_or_default().to_owned(),
        connection: arguments.str("connection")?.unwrap_or_default().to_owned(),
        filter: arguments.str("filter")?.unwrap_or_default().to_owned(),
        order_by: arguments.str("order_by")?.unwrap_or_default().to_owned(),
        semantic_query: arguments.str("semantic_query")?.unwrap_or_default().to_owned(),
        page_size: page_size as i32,
        page_token: arguments.str("page_token")?.unwrap_or_default().to_owned(),
    };
    let page = api.connectors().query_records(request).await?.into_inner();
    let records: Vec<Value> = page
        .records
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "kind": r.kind,
                "provider": r.provider,
                "connection": r.connection,
                "data": r.data.as_ref().map(struct_to_json).unwrap_or(Value::Null),
                "updateTime": r.update_time.as_ref().map(|t| t.to_string()),
            })
        })
        .collect();
    let text = format!(
        "{} record(s){}.\n{}",
        records.len(),
        if page.next_page_token.is_empty() { "" } else { "; more with page_token" },
        serde_json::to_string(&records).unwrap_or_default()
    );
    Ok(structured(text, json!({"records": records, "nextPageToken": page.next_page_token})))
}

/// Runs a catalog action: a read directly, anything else as a one-step run behind the approval gate.
async fn invoke(
    api: &Api,
    action: &connectors::Action,
    arguments: &Arguments,
    console_url: &str,
) -> Result<CallToolResult, McpError> {
    let input = match arguments.0.get("input") {
        None | Some(Value::Null) => JsonObject::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(other) => return Err(McpError::InvalidArguments(format!("input: expected an object, got {other}"))),
    };
    let connection = match arguments.str("connection")? {
        Some(name) => name.to_owned(),
        None => only_connection(api, &action.provider).await?,
    };
    let input = Some(json_to_struct(&input));
    if action.read_only {
        let request =
            connectors::InvokeActionRequest { connection, action: action.name.clone(), input, ..Default::default() };
        let invoked = api.connectors().invoke_action(request).await?.into_inner();
        let output = invoked.output.as_ref().map(struct_to_json).unwrap_or(Value::Null);
        let text = serde_json::to_string(&output).unwrap_or_default();
        return Ok(structured(text, json!({"output": output, "auditEventId": invoked.audit_event_id})));
    }
    let request = orchestrator::AskRequest {
        action: Some(orchestrator::ActionCall { action: action.name.clone(), connection, input }),
        ..Default::default()
    };
    follow(api, request, console_url).await
}

/// The connection to use when the caller named none: the tenant's one active connection to `provider`.
async fn only_connection(api: &Api, provider: &str) -> Result<String, McpError> {
    let active = connectors::ConnectionStatus::Active as i32;
    let names: Vec<String> = connections(api)
        .await?
        .into_iter()
        .filter(|c| c.provider == provider && c.status == active)
        .map(|c| c.name)
        .collect();
    match names.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(McpError::InvalidArguments(format!(
            "connection: there is no active {provider} connection; connect one in the Switchboard console"
        ))),
        several => Err(McpError::InvalidArguments(format!(
            "connection: required, there are {} {provider} connections: {}",
            several.len(),
            several.join(", ")
        ))),
    }
}

async fn decide(
    api: &Api,
    approve: bool,
    arguments: &Arguments,
    console_url: &str,
) -> Result<CallToolResult, McpError> {
    let step = arguments.required_str("step")?.to_owned();
    let Some(run) = step.split("/steps/").next().filter(|r| r.starts_with("runs/") && step.contains("/steps/")) else {
        return Err(McpError::InvalidArguments(format!("step: expected runs/{{run}}/steps/{{step}}, got {step:?}")));
    };
    let run = run.to_owned();
    if approve {
        let comment = arguments.str("comment")?.unwrap_or_default().to_owned();
        api.orchestrator().approve_step(orchestrator::ApproveStepRequest { name: step, comment }).await?;
    } else {
        let reason = arguments.str("reason")?.unwrap_or_default().to_owned();
        api.orchestrator().reject_step(orchestrator::RejectStepRequest { name: step, reason }).await?;
    }
    follow(api, orchestrator::AskRequest { run, ..Default::default() }, console_url).await
}

// === following a run ===

/// Where a run stands after following its stream.
#[derive(Default)]
struct Followed {
    run: String,
    finished: Option<orchestrator::RunFinished>,
    answer: Option<orchestrator::Answer>,
    /// Steps waiting for approval, in the order asked.
    waiting: Vec<orchestrator::ApprovalNeeded>,
    /// Steps that did not succeed: (step, status, reason).
    failed: Vec<(String, String, String)>,
}

impl Followed {
    fn apply(&mut self, response: orchestrator::AskResponse) {
        self.run = response.run;
        match response.event {
            Some(Event::ApprovalNeeded(needed)) => self.waiting.push(needed),
            Some(Event::StepStarted(started)) => self.waiting.retain(|w| w.step != started.step),
            Some(Event::StepFinished(finished)) => {
                self.waiting.retain(|w| w.step != finished.step);
                if finished.status != orchestrator::StepStatus::Succeeded as i32 {
                    let status = orchestrator::StepStatus::try_from(finished.status)
                        .map(|s| s.as_str_name().trim_start_matches("STEP_STATUS_").to_owned())
                        .unwrap_or_default();
                    let reason = match finished.outcome {
                        Some(orchestrator::step_finished::Outcome::Error(e)) => e.message,
                        _ => String::new(),
                    };
                    self.failed.push((finished.step, status, reason));
                }
            }
            Some(Event::Answer(answer)) => self.answer = Some(answer),
            Some(Event::RunFinished(finished)) => self.finished = Some(finished),
            _ => {}
        }
    }
}

/// Starts (or re-attaches to) a run and follows it until it finishes, pauses for an approval, or [`FOLLOW_FOR`]
/// passes; then says where it stands.
async fn follow(api: &Api, request: orchestrator::AskRequest, console_url: &str) -> Result<CallToolResult, McpError> {
    let mut stream = api.orchestrator().ask(request).await?.into_inner();
    let deadline = tokio::time::Instant::now() + FOLLOW_FOR;
    let mut followed = Followed::default();
    loop {
        let wait = if followed.waiting.is_empty() {
            deadline.saturating_duration_since(tokio::time::Instant::now())
        } else {
            QUIET_WHILE_WAITING
        };
        match next_within(&mut stream, wait).await {
            Some(Ok(Some(response))) => {
                followed.apply(response);
                if followed.finished.is_some() {
                    break;
                }
            }
            Some(Ok(None)) => break,
            Some(Err(status)) => return Err(status.into()),
            // Quiet: paused for an approval, or past the deadline.
            None => break,
        }
    }
    Ok(report(&followed, console_url))
}

fn report(followed: &Followed, console_url: &str) -> CallToolResult {
    let run_id = followed.run.strip_prefix("runs/").unwrap_or(&followed.run);
    let link = format!("{console_url}/runs/{run_id}");
    let citations: Vec<Value> = followed
        .answer
        .iter()
        .flat_map(|a| &a.citations)
        .map(|c| json!({"title": c.title, "step": c.step, "recordId": c.record_id, "url": c.url, "snippet": c.snippet}))
        .collect();
    let failed: Vec<Value> = followed
        .failed
        .iter()
        .map(|(step, status, reason)| json!({"step": step, "status": status, "reason": reason}))
        .collect();
    let (state, text) = if let Some(finished) = &followed.finished {
        let status = orchestrator::RunStatus::try_from(finished.status)
            .map(|s| s.as_str_name().trim_start_matches("RUN_STATUS_").to_owned())
            .unwrap_or_default();
        let mut text = match (&followed.answer, &finished.error) {
            (Some(answer), _) => answer.text.clone(),
            (None, Some(error)) => format!("The run ended {status}: {}", error.message),
            (None, None) => format!("The run ended {status}."),
        };
        if !citations.is_empty() {
            text.push_str("\n\nSources:");
            for c in &citations {
                text.push_str(&format!(
                    "\n- {} ({})",
                    c["title"].as_str().unwrap_or(""),
                    c["step"].as_str().unwrap_or("")
                ));
            }
        }
        (status, text)
    } else if !followed.waiting.is_empty() {
        let mut text = String::from("Waiting for approval; nothing has been changed yet.");
        for w in &followed.waiting {
            text.push_str(&format!("\n- {} (step {})", w.description, w.step));
        }
        text.push_str(&format!(
            "\nA person approves or rejects it in the Switchboard console: {link} (or with approve_step / reject_step)."
        ));
        ("WAITING_FOR_APPROVAL".to_owned(), text)
    } else {
        ("RUNNING".to_owned(), format!("Still running; follow it in the Switchboard console: {link}"))
    };
    let waiting: Vec<Value> = followed
        .waiting
        .iter()
        .map(|w| {
            json!({
                "step": w.step,
                "description": w.description,
                "tool": w.tool,
                "connection": w.connection,
                "input": w.input.as_ref().map(struct_to_json).unwrap_or(Value::Null),
            })
        })
        .collect();
    let value = json!({
        "run": followed.run,
        "status": state,
        "answer": followed.answer.as_ref().map(|a| a.text.clone()),
        "citations": citations,
        "waitingForApproval": waiting,
        "failedSteps": failed,
        "consoleUrl": link,
    });
    let mut result = structured(text, value);
    if followed.finished.as_ref().is_some_and(|f| f.status != orchestrator::RunStatus::Succeeded as i32) {
        result.is_error = Some(true);
    }
    result
}

/// A result with a text for the model to read and the same facts as structured content.
fn structured(text: String, value: Value) -> CallToolResult {
    let mut result = CallToolResult::structured(value);
    result.content = vec![ContentBlock::text(text)];
    result
}

// === JSON and protobuf's Struct ===

pub(crate) fn struct_to_json(value: &prost_types::Struct) -> Value {
    Value::Object(value.fields.iter().map(|(k, v)| (k.clone(), value_to_json(v))).collect())
}

fn value_to_json(value: &prost_types::Value) -> Value {
    use prost_types::value::Kind;
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::NumberValue(n)) => {
            // Whole numbers stay integers (amounts in cents, counts), as the API's JSON shows them.
            if n.fract() == 0.0 && n.abs() < 9.0e15 { json!(*n as i64) } else { json!(n) }
        }
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::ListValue(list)) => Value::Array(list.values.iter().map(value_to_json).collect()),
        Some(Kind::StructValue(s)) => struct_to_json(s),
    }
}

fn json_to_struct(map: &JsonObject) -> prost_types::Struct {
    prost_types::Struct { fields: map.iter().map(|(k, v)| (k.clone(), json_to_value(v))).collect() }
}

fn json_to_value(value: &Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => {
            Kind::ListValue(prost_types::ListValue { values: items.iter().map(json_to_value).collect() })
        }
        Value::Object(map) => Kind::StructValue(json_to_struct(map)),
    };
    prost_types::Value { kind: Some(kind) }
}

/// The next message of a gRPC stream within `wait`: `None` when none came in time.
async fn next_within<T>(stream: &mut tonic::Streaming<T>, wait: Duration) -> Option<Result<Option<T>, tonic::Status>> {
    tokio::time::timeout(wait, stream.message()).await.ok()
}
