//! The orchestrator benchmark (`cargo bench -p switchboard-orchestrator --bench orchestrator`, part of `make bench`;
//! needs the embedding model, see `scripts/fetch-embedding-model.sh`, and PostgreSQL for its second store):
//!
//! - the intent router with all-MiniLM-L6-v2: decisions/s and latency percentiles on the labelled set's test
//!   questions, one caller at a time and two at once (the machine's two cores);
//! - the orchestration overhead of one `Ask`: a two-step read plan (a count and a sum, which run in parallel) from a
//!   planner that answers at once, record queries answered at once, so what is timed is the orchestrator's own work
//!   — routing, the run and step rows, the event log, the outbox, the audit records, the stream — from the call to
//!   the `RunFinished` event, on SQLite and on PostgreSQL; with the hashed router (no model time at all) and with
//!   the real router (its embedding of the question included).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_embedding::{SentenceEmbedder, default_model_dir};
use switchboard_mesh::context::RequestContext;
use switchboard_orchestrator::{
    AnswerRequest, Answered, ApiFuture, Clock, ConnectorsApi, OrchestratorService, PlanDraft, PlanRequest, Planned,
    PlannedStep, Planner, PlannerFuture, RunOptions, Usage, router,
};
use switchboard_orchestrator::{Embedder, Router};
use switchboard_proto::connectors::v1 as cpb;
use switchboard_proto::orchestrator::v1 as pb;
use switchboard_proto::orchestrator::v1::ask_response::Event;
use switchboard_proto::orchestrator::v1::orchestrator_service_server::OrchestratorService as _;
use switchboard_test_support::{TestDb, test_store};
use switchboard_types::{Role, TenantId, UserId};
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

/// Connector answers with no wait: one active Stripe connection, no actions, and the same three charges for every
/// query.
struct InstantConnectors;

const CONNECTION: &str = "connections/00000000-0000-7000-8000-000000000001";

fn charge(i: i64) -> cpb::Record {
    let data =
        json!({"id": format!("ch_{i}"), "amount": 1000 * i, "status": "succeeded", "created": 1_792_400_000 + i});
    let prost_types::Value { kind: Some(prost_types::value::Kind::StructValue(data)) } = to_value(&data) else {
        unreachable!("an object")
    };
    cpb::Record {
        id: format!("ch_{i}"),
        kind: "charge".into(),
        provider: "stripe".into(),
        connection: CONNECTION.into(),
        data: Some(data),
        ..Default::default()
    }
}

fn to_value(value: &serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match value {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(a) => {
            Kind::ListValue(prost_types::ListValue { values: a.iter().map(to_value).collect() })
        }
        serde_json::Value::Object(o) => {
            Kind::StructValue(prost_types::Struct { fields: o.iter().map(|(k, v)| (k.clone(), to_value(v))).collect() })
        }
    };
    prost_types::Value { kind: Some(kind) }
}

impl ConnectorsApi for InstantConnectors {
    fn query_records<'a>(
        &'a self,
        _: &'a RequestContext,
        _: cpb::QueryRecordsRequest,
    ) -> ApiFuture<'a, cpb::QueryRecordsResponse> {
        Box::pin(async {
            Ok(cpb::QueryRecordsResponse { records: (1..=3).map(charge).collect(), ..Default::default() })
        })
    }

    fn list_actions<'a>(
        &'a self,
        _: &'a RequestContext,
        _: cpb::ListActionsRequest,
    ) -> ApiFuture<'a, cpb::ListActionsResponse> {
        Box::pin(async { Ok(cpb::ListActionsResponse::default()) })
    }

    fn list_connections<'a>(
        &'a self,
        _: &'a RequestContext,
        _: cpb::ListConnectionsRequest,
    ) -> ApiFuture<'a, cpb::ListConnectionsResponse> {
        Box::pin(async {
            let connection = cpb::Connection {
                name: CONNECTION.into(),
                provider: "stripe".into(),
                status: cpb::ConnectionStatus::Active as i32,
                ..Default::default()
            };
            Ok(cpb::ListConnectionsResponse { connections: vec![connection], ..Default::default() })
        })
    }

    fn invoke_action<'a>(
        &'a self,
        _: &'a RequestContext,
        _: cpb::InvokeActionRequest,
    ) -> ApiFuture<'a, cpb::InvokeActionResponse> {
        Box::pin(async { Err(tonic::Status::unimplemented("the benchmark plans no writes")) })
    }
}

/// A model that answers at once: the same two-step read plan for every question, and a one-line answer.
struct InstantModel;

impl Planner for InstantModel {
    fn model(&self) -> String {
        "bench/instant".into()
    }

    fn plan<'a>(&'a self, _: &'a PlanRequest) -> PlannerFuture<'a, Planned> {
        let step = |id: &str, tool: &str, input: serde_json::Value| PlannedStep {
            id: id.into(),
            description: format!("{tool} over charges"),
            tool: tool.into(),
            connection: String::new(),
            input,
            needs_approval: false,
            depends_on: Vec::new(),
        };
        let plan = PlanDraft {
            summary: "Count and sum last week's charges".into(),
            steps: vec![
                step("1", "records.count", json!({"kind": "charge", "provider": "stripe"})),
                step("2", "records.sum", json!({"kind": "charge", "provider": "stripe", "field": "amount"})),
            ],
        };
        Box::pin(async move { Ok(Planned { plan, usage: Usage::default(), model: None }) })
    }

    fn answer<'a>(&'a self, _: &'a AnswerRequest) -> PlannerFuture<'a, Answered> {
        Box::pin(async {
            let text = "3 charges, $60.00 in all [1].".to_owned();
            Ok(Answered { text, citations: Vec::new(), usage: Usage::default(), model: None })
        })
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Routes every question in turn for `budget`: decisions/s and the sorted latencies.
fn route_for(router: &Router, questions: &[String], budget: Duration) -> (usize, Vec<Duration>) {
    let mut latencies = Vec::new();
    let started = Instant::now();
    for question in questions.iter().cycle() {
        let t = Instant::now();
        if let Err(e) = router.route_blocking(question) {
            eprintln!("routing failed: {e}");
            std::process::exit(1);
        }
        latencies.push(t.elapsed());
        if started.elapsed() >= budget {
            break;
        }
    }
    latencies.sort();
    (latencies.len(), latencies)
}

fn router_table(router: &Arc<Router>) {
    let questions: Vec<String> = match router::labelled_set() {
        Ok(rows) => rows.into_iter().filter(|(row, _)| row.split == "test").map(|(row, _)| row.text).collect(),
        Err(e) => {
            eprintln!("the labelled set: {e}");
            std::process::exit(1);
        }
    };
    let budget = Duration::from_secs(5);
    let (decisions, latencies) = route_for(router, &questions, budget);
    let single = decisions as f64 / latencies.iter().sum::<Duration>().as_secs_f64();
    let started = Instant::now();
    let results: Vec<(usize, Vec<Duration>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|i| {
                let questions = &questions[i * questions.len() / 2..];
                s.spawn(move || route_for(router, questions, budget))
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut both: Vec<Duration> = results.iter().flat_map(|(_, l)| l.iter().copied()).collect();
    both.sort();
    let together = results.iter().map(|(n, _)| n).sum::<usize>() as f64 / elapsed;
    println!("intent router, {} ({} test questions, {}s each)", router.model(), questions.len(), budget.as_secs());
    println!("{:<28} {:>12} {:>10} {:>10} {:>10}", "callers", "decisions/s", "p50", "p99", "max");
    for (name, rate, sorted) in [("1", single, &latencies), ("2 at once", together, &both)] {
        println!(
            "{name:<28} {rate:>12.1} {:>10} {:>10} {:>10}",
            ms(percentile(sorted, 0.5)),
            ms(percentile(sorted, 0.99)),
            ms(*sorted.last().unwrap_or(&Duration::ZERO))
        );
    }
}

/// `asks` Asks one after another on a service over `db` with `router`: the sorted times to `RunFinished`.
async fn ask_overhead(db: TestDb, router: Router, asks: usize) -> Vec<Duration> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = test_store(db, dir.path()).await;
    let stop = CancellationToken::new();
    let options = RunOptions { step_timeout: Duration::from_secs(30), clock: Clock::System, ..RunOptions::default() };
    let service = OrchestratorService::new(
        store.store.clone(),
        Arc::new(InstantConnectors),
        Arc::new(InstantModel),
        router,
        options,
        stop.clone(),
    );
    let mut times = Vec::with_capacity(asks);
    for i in 0..asks + asks / 10 {
        // A tenant per question: one tenant's assistant takes at most 30 questions a minute.
        let context = RequestContext::new_root()
            .with_tenant(TenantId::generate())
            .with_user(UserId::generate())
            .with_role(Role::Owner);
        let mut request = tonic::Request::new(pb::AskRequest {
            question: "How much did we make from charges last week?".into(),
            ..Default::default()
        });
        request.extensions_mut().insert(context.clone());
        let started = Instant::now();
        let mut stream = match service.ask(request).await {
            Ok(stream) => stream.into_inner(),
            Err(status) => {
                eprintln!("Ask failed: {status:?}");
                std::process::exit(1);
            }
        };
        let mut finished = false;
        while let Some(event) = stream.next().await {
            match event.map(|e| e.event) {
                Ok(Some(Event::RunFinished(f))) => {
                    if f.status != pb::RunStatus::Succeeded as i32 {
                        eprintln!("the run did not succeed: {f:?}");
                        std::process::exit(1);
                    }
                    finished = true;
                    break;
                }
                Ok(_) => {}
                Err(status) => {
                    eprintln!("the stream failed: {status:?}");
                    std::process::exit(1);
                }
            }
        }
        if !finished {
            eprintln!("the stream ended before RunFinished");
            std::process::exit(1);
        }
        // The first tenth warms the store's pools and caches.
        if i >= asks / 10 {
            times.push(started.elapsed());
        }
    }
    stop.cancel();
    service.wait_for_runs().await;
    times.sort();
    times
}

fn main() {
    let Some(dir) = default_model_dir() else {
        eprintln!("set SWITCHBOARD_EMBEDDING_MODEL_DIR or HOME");
        std::process::exit(1);
    };
    let embedder: Arc<dyn Embedder> = match SentenceEmbedder::load(&dir) {
        Ok(model) => Arc::new(model),
        Err(e) => {
            eprintln!("loading the model from {}: {e} (run scripts/fetch-embedding-model.sh)", dir.display());
            std::process::exit(1);
        }
    };
    let build = |embedder: Arc<dyn Embedder>| match Router::new(embedder) {
        Ok(router) => router,
        Err(e) => {
            eprintln!("building the router: {e}");
            std::process::exit(1);
        }
    };
    // `-- --ask-only`: the Ask overhead on SQLite with the hashed router alone, many times (for a profiler).
    let ask_only = std::env::args().any(|a| a == "--ask-only");
    if !ask_only {
        let router = Arc::new(build(Arc::clone(&embedder)));
        router_table(&router);
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("runtime: {e}");
            std::process::exit(1);
        }
    };
    let asks = if ask_only { 3000 } else { 300 };
    println!();
    println!("Ask overhead: a two-step read plan, planner and record queries answering at once ({asks} Asks in turn)");
    println!("{:<44} {:>10} {:>10} {:>10}", "store, router", "p50", "p99", "asks/s");
    let stores: &[(TestDb, &str)] = if ask_only {
        &[(TestDb::Sqlite, "SQLite")]
    } else {
        &[(TestDb::Sqlite, "SQLite"), (TestDb::Postgres, "PostgreSQL")]
    };
    for &(db, name) in stores {
        let mut routers = vec![("hashed router", build(Arc::new(switchboard_vectors::HashedEmbedder::new(384))))];
        if !ask_only {
            routers.push(("all-MiniLM-L6-v2 router", build(Arc::clone(&embedder))));
        }
        for (router_name, router) in routers {
            let times = runtime.block_on(ask_overhead(db, router, asks));
            let rate = times.len() as f64 / times.iter().sum::<Duration>().as_secs_f64();
            println!(
                "{:<44} {:>10} {:>10} {:>10.1}",
                format!("{name}, {router_name}"),
                ms(percentile(&times, 0.5)),
                ms(percentile(&times, 0.99)),
                rate
            );
        }
    }
}
