//! Scripted scenarios on the sandbox tenant's data, all four providers connected (Stripe and Shopify by key,
//! HubSpot by private app token, QuickBooks through OAuth), routed by the real embedding model: each question is
//! asked once planned by the offline provider and once by a scripted sandbox model, and every figure is checked
//! against what the raw synced records say, computed here independently of the planner.
//!
//! The scripted model submits, through `submit_plan`, the plan written in the scenario (the same tools and
//! inputs a model is expected to choose); its answer is scripted text, so for it the checks are on the steps'
//! outputs, which the platform computed.

use serde_json::{Value, json};
use switchboard_model_sandbox::{Api, Reply, ScriptedCall};
use switchboard_orchestrator::Intent;
use switchboard_proto::orchestrator::v1::orchestrator_service_server::OrchestratorService as _;
use switchboard_proto::orchestrator::v1::{self as pb, RunStatus, ask_response::Event};
use switchboard_test_support::TestDb;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::{Caller, Harness, chain_policy, is_approval, is_finished, model_router, to_json};

/// "last week" and "last month" seen from Sunday 2026-11-01 (the harness's now), as unix seconds `[start, end)`.
const LAST_WEEK: (i64, i64) = (1_792_368_000, 1_792_972_800);
const LAST_MONTH: (i64, i64) = (1_790_812_800, 1_793_491_200);

/// A time field as unix seconds: Stripe's numbers, RFC 3339 strings (Shopify, HubSpot, QuickBooks metadata) or
/// calendar dates (QuickBooks `TxnDate`, midnight UTC).
fn unix(value: &Value) -> Option<i64> {
    if let Some(n) = value.as_f64() {
        return Some(n as i64);
    }
    let text = value.as_str()?;
    let text = if text.len() == 10 { format!("{text}T00:00:00Z") } else { text.to_owned() };
    OffsetDateTime::parse(&text, &Rfc3339).ok().map(OffsetDateTime::unix_timestamp)
}

fn at<'a>(record: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(record, |v, k| v.get(k).unwrap_or(&Value::Null))
}

fn number(value: &Value) -> f64 {
    value.as_f64().or_else(|| value.as_str().and_then(|s| s.parse().ok())).unwrap_or(0.0)
}

fn during(record: &Value, field: &str, (start, end): (i64, i64)) -> bool {
    unix(at(record, field)).is_some_and(|t| (start..end).contains(&t))
}

/// Which records a figure is over.
type Keep = fn(&Value) -> bool;

/// What a scenario's answer must rest on.
enum Want {
    /// A `records.sum` of `field` over the `kind` records of `provider` that `keep` keeps.
    Sum { kind: &'static str, provider: &'static str, field: &'static str, keep: Keep },
    /// A `records.count` of them.
    Count { kind: &'static str, provider: &'static str, keep: Keep },
    /// A `records.query` listing `limit` of them (or all, when fewer).
    List { kind: &'static str, provider: &'static str, limit: usize, keep: Keep },
    /// A `records.group_by` of them on `field`, with each group's count.
    Groups { kind: &'static str, provider: &'static str, field: &'static str },
    /// Answered without any step.
    NoSteps,
    /// A write, waiting for approval: it is approved (or rejected), then runs exactly once (or never).
    Refund { approve: bool },
}

struct Scenario {
    question: &'static str,
    intent: Intent,
    want: Want,
    /// The scripted model's plan (`submit_plan` arguments); `{connection:<provider>}` strings are replaced with the
    /// tenant's connection of that provider, `{email}` with a customer's e-mail address.
    plan: Value,
}

fn step(tool: &str, input: Value) -> Value {
    json!({"id": "1", "description": format!("{tool} as the question asks"), "tool": tool, "input": input})
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            question: "How much revenue did we make last week?",
            intent: Intent::Data,
            want: Want::Sum {
                kind: "charge",
                provider: "stripe",
                field: "amount",
                keep: |r| r["status"] == "succeeded" && during(r, "created", LAST_WEEK),
            },
            plan: json!({"summary": "Sum last week's succeeded charges", "steps": [step("records.sum", json!({"kind": "charge", "provider": "stripe", "field": "amount", "filter": format!("status = \"succeeded\" AND created >= {} AND created < {}", LAST_WEEK.0, LAST_WEEK.1)}))]}),
        },
        Scenario {
            question: "How many customers do we have?",
            intent: Intent::Data,
            want: Want::Count { kind: "customer", provider: "stripe", keep: |_| true },
            plan: json!({"summary": "Count customers", "steps": [step("records.count", json!({"kind": "customer", "provider": "stripe"}))]}),
        },
        Scenario {
            question: "How many refunds did we issue last month?",
            intent: Intent::Data,
            want: Want::Count { kind: "refund", provider: "stripe", keep: |r| during(r, "created", LAST_MONTH) },
            plan: json!({"summary": "Count refunds", "steps": [step("records.count", json!({"kind": "refund", "provider": "stripe", "filter": format!("created >= {} AND created < {}", LAST_MONTH.0, LAST_MONTH.1)}))]}),
        },
        Scenario {
            question: "Show me the last 5 charges",
            intent: Intent::Data,
            want: Want::List { kind: "charge", provider: "stripe", limit: 5, keep: |_| true },
            plan: json!({"summary": "Newest charges", "steps": [step("records.query", json!({"kind": "charge", "provider": "stripe", "order_by": "created desc", "limit": 5}))]}),
        },
        Scenario {
            question: "How many failed charges were there last month?",
            intent: Intent::Data,
            want: Want::Count {
                kind: "charge",
                provider: "stripe",
                keep: |r| r["status"] == "failed" && during(r, "created", LAST_MONTH),
            },
            plan: json!({"summary": "Count failed charges", "steps": [step("records.count", json!({"kind": "charge", "provider": "stripe", "filter": format!("status = \"failed\" AND created >= {} AND created < {}", LAST_MONTH.0, LAST_MONTH.1)}))]}),
        },
        Scenario {
            question: "Give me a breakdown of charges by status",
            intent: Intent::Data,
            want: Want::Groups { kind: "charge", provider: "stripe", field: "status" },
            plan: json!({"summary": "Charges by status", "steps": [step("records.group_by", json!({"kind": "charge", "provider": "stripe", "field": "status", "sum_field": "amount"}))]}),
        },
        Scenario {
            question: "What was the total of paid invoices last month?",
            intent: Intent::Data,
            want: Want::Sum {
                kind: "invoice",
                provider: "stripe",
                field: "amount_due",
                keep: |r| r["status"] == "paid" && during(r, "created", LAST_MONTH),
            },
            plan: json!({"summary": "Paid invoices", "steps": [step("records.sum", json!({"kind": "invoice", "provider": "stripe", "field": "amount_due", "filter": format!("status = \"paid\" AND created >= {} AND created < {}", LAST_MONTH.0, LAST_MONTH.1)}))]}),
        },
        Scenario {
            question: "How many Shopify orders did we get last week?",
            intent: Intent::Data,
            want: Want::Count { kind: "order", provider: "shopify", keep: |r| during(r, "createdAt", LAST_WEEK) },
            plan: json!({"summary": "Count orders", "steps": [step("records.count", json!({"kind": "order", "provider": "shopify", "filter": "createdAt >= \"2026-10-19T00:00:00Z\" AND createdAt < \"2026-10-26T00:00:00Z\""}))]}),
        },
        Scenario {
            question: "What was the total of our orders last month?",
            intent: Intent::Data,
            want: Want::Sum {
                kind: "order",
                provider: "shopify",
                field: "totalPriceSet.shopMoney.amount",
                keep: |r| during(r, "createdAt", LAST_MONTH),
            },
            plan: json!({"summary": "Order totals", "steps": [step("records.sum", json!({"kind": "order", "provider": "shopify", "field": "totalPriceSet.shopMoney.amount", "filter": "createdAt >= \"2026-10-01T00:00:00Z\" AND createdAt < \"2026-11-01T00:00:00Z\""}))]}),
        },
        Scenario {
            question: "How many products do we have?",
            intent: Intent::Data,
            want: Want::Count { kind: "product", provider: "shopify", keep: |_| true },
            plan: json!({"summary": "Count products", "steps": [step("records.count", json!({"kind": "product", "provider": "shopify"}))]}),
        },
        Scenario {
            question: "How many Shopify customers do we have?",
            intent: Intent::Data,
            want: Want::Count { kind: "customer", provider: "shopify", keep: |_| true },
            plan: json!({"summary": "Count Shopify customers", "steps": [step("records.count", json!({"kind": "customer", "provider": "shopify"}))]}),
        },
        Scenario {
            question: "Show the 10 biggest orders",
            intent: Intent::Data,
            want: Want::List { kind: "order", provider: "shopify", limit: 10, keep: |_| true },
            plan: json!({"summary": "Biggest orders", "steps": [step("records.query", json!({"kind": "order", "provider": "shopify", "order_by": "totalPriceSet.shopMoney.amount desc", "limit": 10}))]}),
        },
        Scenario {
            question: "How many QuickBooks invoices did we raise last month?",
            intent: Intent::Data,
            want: Want::Count { kind: "invoice", provider: "quickbooks", keep: |r| during(r, "TxnDate", LAST_MONTH) },
            plan: json!({"summary": "Count invoices in the books", "steps": [step("records.count", json!({"kind": "invoice", "provider": "quickbooks", "filter": "TxnDate >= \"2026-10-01\" AND TxnDate < \"2026-11-01\""}))]}),
        },
        Scenario {
            question: "What is the total of our bills from last month?",
            intent: Intent::Data,
            want: Want::Sum {
                kind: "bill",
                provider: "quickbooks",
                field: "TotalAmt",
                keep: |r| during(r, "TxnDate", LAST_MONTH),
            },
            plan: json!({"summary": "Sum bills", "steps": [step("records.sum", json!({"kind": "bill", "provider": "quickbooks", "field": "TotalAmt", "filter": "TxnDate >= \"2026-10-01\" AND TxnDate < \"2026-11-01\""}))]}),
        },
        Scenario {
            question: "How much did QuickBooks payments bring in last month?",
            intent: Intent::Data,
            want: Want::Sum {
                kind: "payment",
                provider: "quickbooks",
                field: "TotalAmt",
                keep: |r| during(r, "TxnDate", LAST_MONTH),
            },
            plan: json!({"summary": "Sum payments", "steps": [step("records.sum", json!({"kind": "payment", "provider": "quickbooks", "field": "TotalAmt", "filter": "TxnDate >= \"2026-10-01\" AND TxnDate < \"2026-11-01\""}))]}),
        },
        Scenario {
            question: "How many customers are in QuickBooks?",
            intent: Intent::Data,
            want: Want::Count { kind: "customer", provider: "quickbooks", keep: |_| true },
            plan: json!({"summary": "Count customers in the books", "steps": [step("records.count", json!({"kind": "customer", "provider": "quickbooks"}))]}),
        },
        Scenario {
            question: "Which invoices are overdue?",
            intent: Intent::Data,
            want: Want::List {
                kind: "invoice",
                provider: "quickbooks",
                limit: 50,
                keep: |r| number(&r["Balance"]) > 0.0 && r["DueDate"].as_str().is_some_and(|d| d < "2026-11-01"),
            },
            plan: json!({"summary": "Overdue invoices in the books", "steps": [step("records.query", json!({"kind": "invoice", "provider": "quickbooks", "filter": "Balance > 0 AND DueDate < \"2026-11-01\"", "order_by": "DueDate", "limit": 50}))]}),
        },
        Scenario {
            question: "How many contacts do we have in HubSpot?",
            intent: Intent::Data,
            want: Want::Count { kind: "contact", provider: "hubspot", keep: |_| true },
            plan: json!({"summary": "Count contacts", "steps": [step("records.count", json!({"kind": "contact", "provider": "hubspot"}))]}),
        },
        Scenario {
            question: "How many new leads did we get last month?",
            intent: Intent::Data,
            want: Want::Count { kind: "contact", provider: "hubspot", keep: |r| during(r, "createdate", LAST_MONTH) },
            plan: json!({"summary": "Count new contacts", "steps": [step("records.count", json!({"kind": "contact", "provider": "hubspot", "filter": "createdate >= \"2026-10-01T00:00:00Z\" AND createdate < \"2026-11-01T00:00:00Z\""}))]}),
        },
        Scenario {
            question: "What's the total amount of our won deals?",
            intent: Intent::Data,
            want: Want::Sum {
                kind: "deal",
                provider: "hubspot",
                field: "amount",
                keep: |r| r["dealstage"] == "closedwon",
            },
            plan: json!({"summary": "Won deals", "steps": [step("records.sum", json!({"kind": "deal", "provider": "hubspot", "field": "amount", "filter": "dealstage = \"closedwon\""}))]}),
        },
        Scenario {
            question: "Give me a breakdown of our deals",
            intent: Intent::Data,
            want: Want::Groups { kind: "deal", provider: "hubspot", field: "dealstage" },
            plan: json!({"summary": "Deals by stage", "steps": [step("records.group_by", json!({"kind": "deal", "provider": "hubspot", "field": "dealstage", "sum_field": "amount"}))]}),
        },
        Scenario {
            question: "List our HubSpot companies",
            intent: Intent::Data,
            want: Want::List { kind: "company", provider: "hubspot", limit: 10, keep: |_| true },
            plan: json!({"summary": "Companies", "steps": [step("records.query", json!({"kind": "company", "provider": "hubspot", "order_by": "createdate desc", "limit": 10}))]}),
        },
        Scenario {
            question: "What can you do for me?",
            intent: Intent::Help,
            want: Want::NoSteps,
            plan: json!({"summary": "A question about the product", "steps": []}),
        },
        Scenario {
            question: "What's the weather in Paris tomorrow?",
            intent: Intent::Unsupported,
            want: Want::NoSteps,
            plan: json!({"summary": "Not about the business", "steps": []}),
        },
        Scenario {
            question: "Refund the last charge of {email}",
            intent: Intent::Action,
            want: Want::Refund { approve: true },
            plan: refund_plan(),
        },
        Scenario {
            question: "Please refund {email}'s most recent charge",
            intent: Intent::Action,
            want: Want::Refund { approve: false },
            plan: refund_plan(),
        },
    ]
}

fn refund_plan() -> Value {
    json!({"summary": "Find the last charge and refund it", "steps": [
        {"id": "1", "description": "Find the last refundable charge", "tool": "records.query", "input": {
            "kind": "charge", "provider": "stripe", "order_by": "created desc", "limit": 1,
            "filter": "receipt_email = \"{email}\" AND status = \"succeeded\" AND refunded = false"}},
        {"id": "2", "description": "Refund it", "tool": "stripe.refund.create", "connection": "{connection:stripe}",
         "depends_on": ["1"], "input": {"charge": {"$ref": "steps.1.output.records.0.id"}}}
    ]})
}

/// The synced records of `kind` from `provider`, as JSON.
async fn data(h: &Harness, caller: Caller, kind: &str, provider: &str) -> Vec<Value> {
    h.records(caller, kind)
        .await
        .into_iter()
        .filter(|r| r.provider == provider)
        .map(|r| {
            let id = r.id.clone();
            let mut data = to_json(&prost_types::Value {
                kind: Some(prost_types::value::Kind::StructValue(r.data.unwrap_or_default())),
            });
            data["__id"] = json!(id);
            data
        })
        .collect()
}

fn output(step: &pb::Step) -> Value {
    match &step.outcome {
        Some(pb::step::Outcome::Output(output)) => {
            to_json(&prost_types::Value { kind: Some(prost_types::value::Kind::StructValue(output.clone())) })
        }
        other => panic!("step {} has no output: {other:?}", step.name),
    }
}

/// The step of `run` calling `tool` on `kind` of `provider`.
fn step_of<'a>(run: &'a pb::Run, tool: &str, kind: &str, provider: &str) -> &'a pb::Step {
    run.steps
        .iter()
        .find(|s| {
            let input = s
                .input
                .clone()
                .map(|i| to_json(&prost_types::Value { kind: Some(prost_types::value::Kind::StructValue(i)) }));
            s.tool == tool && input.as_ref().is_some_and(|i| i["kind"] == kind && i["provider"] == provider)
        })
        .unwrap_or_else(|| panic!("no {tool} over {provider} {kind} in {:#?}", run.steps))
}

/// Fills the scripted plan's placeholders.
fn fill(plan: &Value, connections: &[(String, String)], email: &str) -> Value {
    match plan {
        Value::String(s) => {
            let mut s = s.replace("{email}", email);
            for (provider, name) in connections {
                s = s.replace(&format!("{{connection:{provider}}}"), name);
            }
            json!(s)
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| fill(v, connections, email)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), fill(v, connections, email))).collect()),
        other => other.clone(),
    }
}

/// Runs every scenario with the offline planner, or with the scripted model when `model` is set.
async fn run_scenarios(model: bool) {
    let mut h = Harness::start(TestDb::Sqlite).await;
    if model {
        h.use_models(&[Api::OpenAi], chain_policy(std::time::Duration::from_secs(60))).await;
    }
    h.use_model_router().await;
    let owner = Caller::owner();
    let connections: Vec<(String, String)> = vec![
        ("stripe".into(), h.connect_stripe(owner).await.name),
        ("shopify".into(), h.connect_shopify(owner).await.name),
        ("hubspot".into(), h.connect_hubspot(owner).await.name),
        ("quickbooks".into(), h.connect_quickbooks(owner).await.name),
    ];
    let router = model_router();
    let all = scenarios();
    assert!(all.len() >= 25, "{} scenarios", all.len());
    for scenario in &all {
        // A customer with a refundable charge left (each refund scenario uses up one).
        let email = data(&h, owner, "charge", "stripe")
            .await
            .into_iter()
            .filter(|c| c["status"] == "succeeded" && c["refunded"] == false && c["receipt_email"].is_string())
            .max_by_key(|c| c["created"].as_f64().map(|t| t as i64))
            .map(|c| c["receipt_email"].as_str().unwrap_or_default().to_owned())
            .expect("a refundable charge");
        let question = scenario.question.replace("{email}", &email);
        let (_, routed, confident) = router.route_blocking(&question).unwrap();
        // Below the threshold, the offline assistant treats a question as unsupported (no steps), and a model is
        // asked for the intent; a question that needs a plan must be placed by the embeddings alone.
        let expected = match (confident, model) {
            (true, _) => {
                assert_eq!(routed.intent, scenario.intent, "{question}: routed {routed:?}");
                scenario.intent
            }
            (false, true) => scenario.intent,
            (false, false) => {
                assert!(matches!(scenario.want, Want::NoSteps), "{question}: not placed: {routed:?}");
                Intent::Unsupported
            }
        };
        if model {
            let mut replies = Vec::new();
            if !confident {
                let call = ScriptedCall::new("route_request", json!({"intent": scenario.intent.as_str()}));
                replies.push(Reply::tool_calls(vec![call]));
            }
            let plan = fill(&scenario.plan, &connections, &email);
            replies.push(Reply::tool_calls(vec![ScriptedCall::new("submit_plan", plan)]));
            replies.push(Reply::text("Here is what the records say."));
            h.models.script_all(Api::OpenAi, replies);
        }
        check(&h, owner, scenario, &question, expected, model).await;
    }
    h.stop().await;
}

async fn check(h: &Harness, owner: Caller, scenario: &Scenario, question: &str, intent: Intent, model: bool) {
    let refunds_before = h.refunds_made();
    let mut stream = h.ask(owner, question).await;
    let events = if matches!(scenario.want, Want::Refund { .. }) {
        stream.until(|e| is_approval(e) || is_finished(e)).await
    } else {
        stream.rest().await
    };
    let run_name = events[0].run.clone();
    let run = h.get_run(owner, &run_name).await;
    let label = format!("{question} ({})", if model { "scripted model" } else { "offline" });
    assert_eq!(run.intent, crate::support::intent_message(intent) as i32, "{label}");
    let answer = || run.answer.clone().map(|a| a.text).unwrap_or_default();
    match &scenario.want {
        Want::Sum { kind, provider, field, keep } => {
            let expected: f64 =
                data(h, owner, kind, provider).await.iter().filter(|r| keep(r)).map(|r| number(at(r, field))).sum();
            assert!(expected > 0.0, "{label}: the demo data has something to sum");
            let got = output(step_of(&run, "records.sum", kind, provider));
            assert!((number(&got["sum"]) - expected).abs() < 0.005, "{label}: sum {got} != {expected}");
        }
        Want::Count { kind, provider, keep } => {
            let expected = data(h, owner, kind, provider).await.iter().filter(|r| keep(r)).count();
            assert!(expected > 0, "{label}: the demo data has something to count");
            let got = output(step_of(&run, "records.count", kind, provider));
            assert_eq!(number(&got["count"]), expected as f64, "{label}: {got}");
            if !model {
                assert!(answer().contains(&format!("**{expected}**")), "{label}: {}", answer());
            }
        }
        Want::List { kind, provider, limit, keep, .. } => {
            let matching: Vec<Value> = data(h, owner, kind, provider).await.into_iter().filter(keep).collect();
            assert!(!matching.is_empty(), "{label}: the demo data has something to list");
            let got = output(step_of(&run, "records.query", kind, provider));
            let listed = got["records"].as_array().cloned().unwrap_or_default();
            assert_eq!(listed.len(), matching.len().min(*limit), "{label}: {got}");
            let ids: Vec<&str> = matching.iter().filter_map(|r| r["__id"].as_str()).collect();
            assert!(listed.iter().all(|r| ids.contains(&r["id"].as_str().unwrap_or_default())), "{label}: {got}");
            if !model {
                let cited = run.answer.as_ref().map_or(0, |a| a.citations.len());
                assert!(cited >= listed.len(), "{label}: {cited} citations for {} records", listed.len());
            }
        }
        Want::Groups { kind, provider, field } => {
            let records = data(h, owner, kind, provider).await;
            let got = output(step_of(&run, "records.group_by", kind, provider));
            for group in got["groups"].as_array().cloned().unwrap_or_default() {
                let key = group["key"].clone();
                let expected = records.iter().filter(|r| at(r, field) == &key).count();
                assert_eq!(number(&group["count"]), expected as f64, "{label}: {group}");
            }
            let total: f64 =
                got["groups"].as_array().map(|g| g.iter().map(|g| number(&g["count"])).sum()).unwrap_or(0.0);
            assert_eq!(total, records.len() as f64, "{label}: every record in a group");
        }
        Want::NoSteps => {
            assert!(run.steps.is_empty(), "{label}: {:?}", run.steps);
            assert_eq!(run.status, RunStatus::Succeeded as i32, "{label}");
            assert!(!answer().is_empty(), "{label}");
        }
        Want::Refund { approve } => {
            let Some(Event::ApprovalNeeded(needed)) = events.last().and_then(|e| e.event.clone()) else {
                panic!("{label}: no approval asked: {events:#?}")
            };
            assert_eq!(needed.tool, "stripe.refund.create", "{label}");
            assert_eq!(h.refunds_made(), refunds_before, "{label}: nothing before the approval");
            let viewer = owner.colleague(switchboard_types::Role::Viewer);
            let refused = h
                .orchestrator
                .approve_step(
                    viewer.request(pb::ApproveStepRequest { name: needed.step.clone(), comment: String::new() }),
                )
                .await
                .unwrap_err();
            assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{label}: a viewer cannot approve");
            if *approve {
                let request = pb::ApproveStepRequest { name: needed.step.clone(), comment: "yes".into() };
                h.orchestrator.approve_step(owner.request(request)).await.unwrap();
            } else {
                let request = pb::RejectStepRequest { name: needed.step.clone(), reason: "not this one".into() };
                h.orchestrator.reject_step(owner.request(request)).await.unwrap();
            }
            let rest = h.attach(owner, &run_name, events.last().map_or(0, |e| e.sequence)).await.rest().await;
            assert!(rest.last().and_then(|e| e.event.as_ref()).is_some_and(is_finished), "{label}");
            let expected = refunds_before + u64::from(*approve);
            assert_eq!(
                h.refunds_made(),
                expected,
                "{label}: the refund ran {} times",
                h.refunds_made() - refunds_before
            );
            let audited = h.audit_actions().await;
            assert!(audited.iter().any(|(a, r)| a == "orchestrator.run.start" && *r == run_name), "{label}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_on_the_sandbox_tenant_with_the_offline_provider() {
    run_scenarios(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_on_the_sandbox_tenant_with_a_scripted_model() {
    run_scenarios(true).await;
}
