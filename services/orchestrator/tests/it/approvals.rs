//! Writes wait for approval: approved ones happen exactly once (across a restart too) and are audited, rejected
//! ones change nothing, and only the right people may decide.

use sea_orm::ConnectionTrait;
use switchboard_orchestrator::OrchestratorService;
use switchboard_proto::orchestrator::v1::orchestrator_service_server::OrchestratorService as _;
use switchboard_proto::orchestrator::v1::{self as pb, RunStatus, StepStatus, ask_response::Event};
use switchboard_test_support::TestDb;
use switchboard_types::Role;
use tokio_util::sync::CancellationToken;

use crate::support::{Caller, DRIVER_LEASE, Harness, assert_contiguous, field, is_approval, is_finished, to_json};

/// A demo customer's e-mail address and the id of their newest succeeded, unrefunded charge, from the records.
pub(crate) async fn customer_with_a_charge(h: &Harness, caller: Caller) -> (String, String) {
    let mut charges: Vec<serde_json::Value> = h
        .records(caller, "charge")
        .await
        .iter()
        .map(|r| {
            to_json(&prost_types::Value { kind: Some(prost_types::value::Kind::StructValue(r.data.clone().unwrap())) })
        })
        .collect();
    charges.sort_by(|a, b| b["created"].as_f64().partial_cmp(&a["created"].as_f64()).unwrap());
    let refundable = |c: &serde_json::Value| c["status"] == "succeeded" && c["refunded"] == false;
    let email = charges.iter().find(|c| refundable(c) && c["receipt_email"].is_string()).unwrap()["receipt_email"]
        .as_str()
        .unwrap()
        .to_owned();
    let charge = charges.iter().find(|c| refundable(c) && c["receipt_email"] == email.as_str()).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (email, charge)
}

/// Asks for the refund and reads the stream up to the approval request: (run name, step name, events).
async fn ask_refund(h: &Harness, caller: Caller, email: &str) -> (String, String, Vec<pb::AskResponse>) {
    let mut stream = h.ask(caller, &format!("Refund the last charge of {email}")).await;
    let events = stream.until(is_approval).await;
    let Some(Event::ApprovalNeeded(needed)) = &events.last().unwrap().event else { unreachable!() };
    (events[0].run.clone(), needed.step.clone(), events)
}

async fn approve(h: &Harness, caller: Caller, step: &str) -> Result<pb::Step, tonic::Status> {
    let request = pb::ApproveStepRequest { name: step.into(), comment: "ok, refund it".into() };
    h.orchestrator.approve_step(caller.request(request)).await.map(|r| r.into_inner().step.unwrap())
}

async fn a_refund_waits_for_approval_and_happens_once(db: TestDb) {
    let h = Harness::start(db).await;
    let owner = Caller::owner();
    h.connect_stripe(owner).await;
    let (email, charge) = customer_with_a_charge(&h, owner).await;

    let (run, step, events) = ask_refund(&h, owner, &email).await;
    let Some(Event::ApprovalNeeded(needed)) = &events.last().unwrap().event else { unreachable!() };
    assert_eq!(needed.tool, "stripe.refund.create");
    assert_eq!(field(&needed.input, "charge"), charge.as_str(), "the reference resolved to the customer's last charge");
    let waiting = h.get_run(owner, &run).await;
    assert_eq!(waiting.status, RunStatus::AwaitingApproval as i32);
    assert!(waiting.plan.as_ref().unwrap().steps[1].needs_approval);
    assert_eq!(h.refunds_made(), 0, "nothing happens before the approval");

    let approved = approve(&h, owner, &step).await.unwrap();
    assert!(approved.reviewer == owner.user.to_string() && approved.review_time.is_some());
    let rest = h.attach(owner, &run, events.last().unwrap().sequence).await.rest().await;
    assert!(rest.last().unwrap().event.as_ref().is_some_and(is_finished), "{rest:#?}");
    assert_eq!(h.refunds_made(), 1);

    let done = h.get_run(owner, &run).await;
    assert_eq!(done.status, RunStatus::Succeeded as i32);
    let refund = &done.steps[1];
    assert_eq!(refund.status, StepStatus::Succeeded as i32);
    assert!(!refund.audit_event_id.is_empty(), "the connectors audited the call");
    assert_eq!(refund.review_comment, "ok, refund it");
    let Some(pb::step::Outcome::Output(output)) = &refund.outcome else { panic!("{refund:?}") };
    assert_eq!(field(&Some(output.clone()), "charge"), charge.as_str());
    assert!(done.answer.unwrap().text.contains(&format!("on charge `{charge}`")));

    let audit = h.audit_actions().await;
    assert!(audit.contains(&("orchestrator.step.approve".to_owned(), step.clone())), "{audit:?}");
    assert!(audit.iter().any(|(action, _)| action == "connectors.action.stripe.refund.create"), "{audit:?}");
    assert_eq!(approve(&h, owner, &step).await.unwrap_err().code(), tonic::Code::FailedPrecondition);
    h.stop().await;
}

#[tokio::test]
async fn a_refund_waits_for_approval_and_happens_once_on_sqlite() {
    a_refund_waits_for_approval_and_happens_once(TestDb::Sqlite).await;
}

#[tokio::test]
async fn a_refund_waits_for_approval_and_happens_once_on_postgres() {
    a_refund_waits_for_approval_and_happens_once(TestDb::Postgres).await;
}

#[tokio::test]
async fn a_rejected_refund_changes_nothing_and_the_answer_says_so() {
    let h = Harness::start(TestDb::Sqlite).await;
    let owner = Caller::owner();
    h.connect_stripe(owner).await;
    let (email, _) = customer_with_a_charge(&h, owner).await;
    let (run, step, events) = ask_refund(&h, owner, &email).await;

    let request = pb::RejectStepRequest { name: step.clone(), reason: "the customer kept the goods".into() };
    let rejected = h.orchestrator.reject_step(owner.request(request)).await.unwrap().into_inner().step.unwrap();
    assert_eq!(rejected.status, StepStatus::Rejected as i32);
    let rest = h.attach(owner, &run, events.last().unwrap().sequence).await.rest().await;
    assert!(
        rest.iter()
            .any(|e| matches!(&e.event, Some(Event::StepFinished(f)) if f.status == StepStatus::Rejected as i32))
    );
    let done = h.get_run(owner, &run).await;
    assert_eq!(done.status, RunStatus::Succeeded as i32);
    let text = done.answer.unwrap().text;
    assert!(text.contains("Not done") && text.contains("the customer kept the goods"), "{text}");
    assert_eq!(h.refunds_made(), 0);
    assert!(h.audit_actions().await.contains(&("orchestrator.step.reject".to_owned(), step)));
    h.stop().await;
}

#[tokio::test]
async fn only_admins_or_the_asking_member_may_approve() {
    let h = Harness::start(TestDb::Sqlite).await;
    let owner = Caller::owner();
    h.connect_stripe(owner).await;
    let (email, _) = customer_with_a_charge(&h, owner).await;
    let member = owner.colleague(Role::Member);
    let (run, step, _) = ask_refund(&h, member, &email).await;

    let viewer = owner.colleague(Role::Viewer);
    assert_eq!(approve(&h, viewer, &step).await.unwrap_err().code(), tonic::Code::PermissionDenied);
    let other_member = owner.colleague(Role::Member);
    assert_eq!(approve(&h, other_member, &step).await.unwrap_err().code(), tonic::Code::PermissionDenied);
    let reject = pb::RejectStepRequest { name: step.clone(), reason: "no".into() };
    let status = h.orchestrator.reject_step(viewer.request(reject)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert_eq!(h.get_run(owner, &run).await.status, RunStatus::AwaitingApproval as i32);

    // The member who asked may approve their own run.
    approve(&h, member, &step).await.unwrap();
    h.attach(member, &run, 0).await.rest().await;
    assert_eq!(h.refunds_made(), 1);
    h.stop().await;
}

#[tokio::test]
async fn a_run_waiting_for_approval_survives_a_restart_and_writes_once() {
    let mut h = Harness::start(TestDb::Sqlite).await;
    let owner = Caller::owner();
    h.connect_stripe(owner).await;
    let (email, charge) = customer_with_a_charge(&h, owner).await;
    let (run, step, _) = ask_refund(&h, owner, &email).await;

    // A new process: the run is still waiting, and approving it there performs the write.
    assert_eq!(h.restart_orchestrator().await, 1);
    assert_eq!(h.get_run(owner, &run).await.status, RunStatus::AwaitingApproval as i32);
    approve(&h, owner, &step).await.unwrap();
    let events = h.attach(owner, &run, 0).await.rest().await;
    assert_contiguous(&events, 1);
    assert_eq!(h.refunds_made(), 1);
    let done = h.get_run(owner, &run).await;
    assert_eq!(done.steps[1].status, StepStatus::Succeeded as i32);

    // Another refund, approved while no process drives it (the approval is recorded first); the next process
    // performs it once, and a process after that does nothing more.
    let (email2, _) = (email, charge);
    let (run2, step2, _) = ask_refund(&h, owner, &email2).await;
    h.stop_orchestrator().await;
    approve(&h, owner, &step2).await.unwrap();
    assert_eq!(h.refunds_made(), 1, "no driver ran it yet");
    assert_eq!(h.restart_orchestrator().await, 1);
    let events = h.attach(owner, &run2, 0).await.rest().await;
    assert!(events.last().unwrap().event.as_ref().is_some_and(is_finished));
    assert_eq!(h.refunds_made(), 2);
    assert_eq!(h.restart_orchestrator().await, 0, "nothing left to resume");
    assert_eq!(h.refunds_made(), 2);
    h.stop().await;
}

#[tokio::test]
async fn a_cancelled_run_asks_nothing_more() {
    let h = Harness::start(TestDb::Sqlite).await;
    let owner = Caller::owner();
    h.connect_stripe(owner).await;
    let (email, _) = customer_with_a_charge(&h, owner).await;
    let (run, step, events) = ask_refund(&h, owner, &email).await;
    let request = pb::CancelRunRequest { name: run.clone(), reason: "changed my mind".into() };
    let cancelled = h.orchestrator.cancel_run(owner.request(request)).await.unwrap().into_inner().run.unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled as i32);
    assert_eq!(cancelled.steps[1].status, StepStatus::Cancelled as i32);
    let rest = h.attach(owner, &run, events.last().unwrap().sequence).await.rest().await;
    let Some(Event::RunFinished(finished)) = &rest.last().unwrap().event else { panic!("{rest:#?}") };
    assert_eq!(finished.status, RunStatus::Cancelled as i32);
    assert_eq!(approve(&h, owner, &step).await.unwrap_err().code(), tonic::Code::FailedPrecondition);
    let again = pb::CancelRunRequest { name: run.clone(), reason: String::new() };
    assert_eq!(
        h.orchestrator.cancel_run(owner.request(again)).await.unwrap_err().code(),
        tonic::Code::FailedPrecondition
    );
    assert_eq!(h.refunds_made(), 0);
    assert!(h.audit_actions().await.contains(&("orchestrator.run.cancel".to_owned(), run)));
    h.stop().await;
}

#[tokio::test]
async fn auto_approved_actions_run_without_waiting() {
    let h = Harness::start(TestDb::Sqlite).await;
    let owner = Caller::owner();
    h.connect_stripe(owner).await;
    let (email, _) = customer_with_a_charge(&h, owner).await;
    let settings = switchboard_orchestrator::settings::AssistantSettings {
        auto_approve: vec!["stripe.refund.create".into()],
        ..Default::default()
    };
    switchboard_orchestrator::settings::save(&h.store.store, owner.tenant, &settings).await.unwrap();
    let events = h.ask(owner, &format!("Refund the last charge of {email}")).await.rest().await;
    assert!(!events.iter().any(|e| e.event.as_ref().is_some_and(is_approval)), "{events:#?}");
    assert_eq!(h.refunds_made(), 1);
    let run = h.get_run(owner, &events[0].run).await;
    assert_eq!(run.steps[1].reviewer, "auto-approve");
    h.stop().await;
}

#[tokio::test]
async fn a_step_that_times_out_fails_and_its_dependants_are_skipped() {
    let mut h = Harness::start(TestDb::Sqlite).await;
    let owner = Caller::owner();
    h.connect_stripe(owner).await;
    let (email, _) = customer_with_a_charge(&h, owner).await;
    h.slow_orchestrator(std::time::Duration::from_secs(5), std::time::Duration::from_millis(200)).await;
    let events = h.ask(owner, &format!("Refund the last charge of {email}")).await.rest().await;
    assert!(!events.iter().any(|e| e.event.as_ref().is_some_and(is_approval)), "{events:#?}");
    let run = h.get_run(owner, &events[0].run).await;
    assert_eq!(run.status, RunStatus::Succeeded as i32);
    let (find, refund) = (&run.steps[0], &run.steps[1]);
    assert_eq!(find.status, StepStatus::Failed as i32);
    let Some(pb::step::Outcome::Error(error)) = &find.outcome else { panic!("{find:?}") };
    assert_eq!(error.code, tonic::Code::DeadlineExceeded as i32);
    assert_eq!(refund.status, StepStatus::Skipped as i32);
    let text = run.answer.unwrap().text;
    assert!(text.contains("**Failed:**") && text.contains("**Not done:**"), "{text}");
    assert_eq!(h.refunds_made(), 0);
    h.stop().await;
}

#[tokio::test]
async fn a_run_limited_to_one_connection_reads_only_that_one() {
    let h = Harness::start(TestDb::Sqlite).await;
    let owner = Caller::owner();
    let first = h.connect_stripe(owner).await;
    let second = h.connect_stripe(owner).await;
    let all = h.records(owner, "customer").await.len();
    assert_eq!(all % 2, 0, "two connections to the same account hold the same customers twice");

    let request = pb::AskRequest {
        question: "How many customers do we have?".into(),
        allowed_connections: vec![second.name.clone()],
        ..Default::default()
    };
    let events =
        crate::support::Stream(h.orchestrator.ask(owner.request(request)).await.unwrap().into_inner()).rest().await;
    let run = h.get_run(owner, &events[0].run).await;
    assert_eq!(run.allowed_connections, vec![second.name.clone()]);
    assert_eq!(run.steps[0].connection, second.name);
    let Some(pb::step::Outcome::Output(output)) = &run.steps[0].outcome else { panic!("{:?}", run.steps[0]) };
    assert_eq!(field(&Some(output.clone()), "count").as_f64().unwrap() as usize, all / 2);
    assert_ne!(first.name, second.name);
    h.stop().await;
}

/// A client that knows what to do (an assistant over MCP) asks for one action: it is checked before any run exists,
/// then waits for approval like a planned refund and happens once approved.
#[tokio::test]
async fn a_direct_action_passes_the_same_checks_and_approval_gate() {
    let h = Harness::start(TestDb::Sqlite).await;
    let owner = Caller::owner();
    let stripe = h.connect_stripe(owner).await;
    let (_, charge) = customer_with_a_charge(&h, owner).await;
    let call = |action: &str, connection: &str, input: serde_json::Value| pb::AskRequest {
        action: Some(pb::ActionCall {
            action: action.into(),
            connection: connection.into(),
            input: Some(json_struct(input)),
        }),
        ..Default::default()
    };

    // Refused before any run exists: an unknown action, a bad input, a connection that is not the tenant's.
    let unknown = call("stripe.charge.teleport", &stripe.name, serde_json::json!({}));
    let bad_input = call("stripe.refund.create", &stripe.name, serde_json::json!({"charge": 42}));
    let foreign = call(
        "stripe.refund.create",
        "connections/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        serde_json::json!({"charge": charge}),
    );
    for request in [unknown, bad_input, foreign] {
        let status = h.orchestrator.ask(owner.request(request)).await.err().expect("refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(status.message().starts_with("action: "), "{status:?}");
    }
    let runs = h.orchestrator.list_runs(owner.request(pb::ListRunsRequest::default())).await.unwrap().into_inner().runs;
    assert!(runs.is_empty(), "a refused action leaves no run behind: {runs:?}");

    let request = call("stripe.refund.create", &stripe.name, serde_json::json!({"charge": charge}));
    let mut stream = crate::support::Stream(h.orchestrator.ask(owner.request(request)).await.unwrap().into_inner());
    let events = stream.until(is_approval).await;
    let Some(Event::ApprovalNeeded(needed)) = &events.last().unwrap().event else { unreachable!() };
    assert_eq!((needed.tool.as_str(), needed.connection.as_str()), ("stripe.refund.create", stripe.name.as_str()));
    let run = h.get_run(owner, &events[0].run).await;
    assert_eq!(run.intent, pb::Intent::Action as i32);
    assert_eq!(run.question, format!("Run stripe.refund.create on {}", stripe.name));
    assert_eq!(h.refunds_made(), 0, "nothing happens before the approval");

    assert_eq!(
        approve(&h, owner.colleague(Role::Viewer), &needed.step).await.unwrap_err().code(),
        tonic::Code::PermissionDenied
    );
    approve(&h, owner, &needed.step).await.unwrap();
    let rest = h.attach(owner, &events[0].run, events.last().unwrap().sequence).await.rest().await;
    assert!(rest.last().unwrap().event.as_ref().is_some_and(is_finished), "{rest:#?}");
    assert_eq!(h.refunds_made(), 1);
    assert_eq!(h.get_run(owner, &events[0].run).await.status, RunStatus::Succeeded as i32);
    h.stop().await;
}

fn json_struct(value: serde_json::Value) -> prost_types::Struct {
    fn convert(value: serde_json::Value) -> prost_types::Value {
        use prost_types::value::Kind;
        let kind = match value {
            serde_json::Value::Null => Kind::NullValue(0),
            serde_json::Value::Bool(b) => Kind::BoolValue(b),
            serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap()),
            serde_json::Value::String(s) => Kind::StringValue(s),
            serde_json::Value::Array(items) => {
                Kind::ListValue(prost_types::ListValue { values: items.into_iter().map(convert).collect() })
            }
            object @ serde_json::Value::Object(_) => Kind::StructValue(json_struct(object)),
        };
        prost_types::Value { kind: Some(kind) }
    }
    let serde_json::Value::Object(map) = value else { panic!("not an object: {value}") };
    prost_types::Struct { fields: map.into_iter().map(|(k, v)| (k, convert(v))).collect() }
}

/// Waits, for a few driver leases at most, until `done` holds.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + DRIVER_LEASE * 4;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn approve_on(replica: &OrchestratorService, caller: Caller, step: &str) {
    let request = pb::ApproveStepRequest { name: step.into(), comment: "ok, refund it".into() };
    replica.approve_step(caller.request(request)).await.unwrap();
}

/// Follows the run on `replica` to its end. (Only the first refund of the demo customer's charge succeeds at the
/// sandbox; what the tests count is refund requests: each approved write is asked for exactly once.)
async fn finished_on(replica: &OrchestratorService, caller: Caller, run: &str) {
    let request = pb::AskRequest { run: run.into(), ..Default::default() };
    let mut stream = replica.ask(caller.request(request)).await.unwrap().into_inner();
    let mut last = None;
    while let Some(event) = futures::StreamExt::next(&mut stream).await {
        last = Some(event.unwrap());
    }
    assert!(last.and_then(|e| e.event).is_some_and(|e| is_finished(&e)), "the run did not finish");
}

async fn each_run_has_one_driver_among_replicas(db: TestDb) {
    let h = Harness::start(db).await;
    let owner = Caller::owner();
    h.connect_stripe(owner).await;
    let (email, _) = customer_with_a_charge(&h, owner).await;
    // Replica A is the harness's orchestrator. It never looks for runs without a driver (`resume` was not called),
    // so when a run lapses below, only B may take it.
    let (run, step, _) = ask_refund(&h, owner, &email).await;
    assert_eq!(h.orchestrator.runs_driven(), 1);

    // Replica B starts while A drives the run: it takes nothing, then or after several leases (A renews).
    let b_stop = CancellationToken::new();
    let b = h.replica(b_stop.clone());
    assert_eq!(b.resume().await.unwrap(), 0);
    tokio::time::sleep(DRIVER_LEASE * 2).await;
    assert_eq!((h.orchestrator.runs_driven(), b.runs_driven()), (1, 0));
    // Approved through B, performed by A's driver: once.
    approve_on(&b, owner, &step).await;
    finished_on(&b, owner, &run).await;
    assert_eq!(h.refunds_made(), 1);
    eventually("A's driver ends with the run", || h.orchestrator.runs_driven() == 0).await;

    // A loses its lease, as when it stalled past it and a replica since dead took the run: A stops driving at its
    // next renewal, and B adopts the lapsed lease.
    let (run, step, _) = ask_refund(&h, owner, &email).await;
    let lapse = "UPDATE orchestrator_active_runs SET driver = 'a-replica-that-died', lease_until_us = 1";
    h.store.store.global().execute_unprepared(lapse).await.unwrap();
    eventually("B adopts the lapsed run and A lets go", || b.runs_driven() == 1 && h.orchestrator.runs_driven() == 0)
        .await;
    approve_on(&h.orchestrator, owner, &step).await;
    finished_on(&b, owner, &run).await;
    assert_eq!(h.refunds_made(), 2, "performed once, by B");

    // A stops and gives its leases up: B takes the waiting run at its next look (half a lease), not a lease later.
    let (run, step, _) = ask_refund(&h, owner, &email).await;
    h.stop_orchestrator().await;
    eventually("B adopts the run A gave up", || b.runs_driven() == 1).await;
    approve_on(&b, owner, &step).await;
    finished_on(&b, owner, &run).await;
    assert_eq!(h.refunds_made(), 3);

    b_stop.cancel();
    b.wait_for_runs().await;
    h.stop().await;
}

#[tokio::test]
async fn each_run_has_one_driver_among_replicas_sqlite() {
    each_run_has_one_driver_among_replicas(TestDb::Sqlite).await;
}

#[tokio::test]
async fn each_run_has_one_driver_among_replicas_postgres() {
    each_run_has_one_driver_among_replicas(TestDb::Postgres).await;
}
