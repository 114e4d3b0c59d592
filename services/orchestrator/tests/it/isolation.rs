//! Tenants: one tenant's runs are invisible to another, and a run reads only its own tenant's records.

use switchboard_proto::orchestrator::v1::orchestrator_service_server::OrchestratorService as _;
use switchboard_proto::orchestrator::v1::{self as pb, RunStatus};
use switchboard_test_support::TestDb;

use crate::support::{Caller, Harness, is_approval};

async fn tenants_see_only_their_own_runs_and_records(db: TestDb) {
    let h = Harness::start(db).await;
    let a = Caller::owner();
    let b = Caller::owner();
    h.connect_stripe(a).await;

    let email = {
        let charges = h.records(a, "charge").await;
        charges
            .iter()
            .find_map(|r| match &r.data.as_ref()?.fields.get("receipt_email")?.kind {
                Some(prost_types::value::Kind::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
            .unwrap()
    };
    let mut stream = h.ask(a, &format!("Refund the last charge of {email}")).await;
    let events = stream.until(is_approval).await;
    let run = events[0].run.clone();
    let step = format!("{run}/steps/2");

    let get = h.orchestrator.get_run(b.request(pb::GetRunRequest { name: run.clone() })).await.unwrap_err();
    assert_eq!(get.code(), tonic::Code::NotFound);
    let approve = pb::ApproveStepRequest { name: step.clone(), comment: String::new() };
    assert_eq!(h.orchestrator.approve_step(b.request(approve)).await.unwrap_err().code(), tonic::Code::NotFound);
    let cancel = pb::CancelRunRequest { name: run.clone(), reason: String::new() };
    assert_eq!(h.orchestrator.cancel_run(b.request(cancel)).await.unwrap_err().code(), tonic::Code::NotFound);
    let attach = pb::AskRequest { run: run.clone(), ..Default::default() };
    assert_eq!(h.orchestrator.ask(b.request(attach)).await.err().unwrap().code(), tonic::Code::NotFound);
    let listed = h.orchestrator.list_runs(b.request(pb::ListRunsRequest::default())).await.unwrap().into_inner();
    assert!(listed.runs.is_empty());

    // B has no connection: its questions read nothing of A's records.
    let events = h.ask(b, "How much revenue did we make last week?").await.rest().await;
    let run_b = h.get_run(b, &events[0].run).await;
    assert_eq!(run_b.status, RunStatus::Succeeded as i32);
    assert!(run_b.steps.is_empty(), "{:?}", run_b.steps);
    assert!(run_b.answer.unwrap().text.contains("no stripe connection"));
    let events = h.ask(b, &format!("Refund the last charge of {email}")).await.rest().await;
    assert!(!events.iter().any(|e| e.event.as_ref().is_some_and(is_approval)));

    assert_eq!(h.get_run(a, &run).await.status, RunStatus::AwaitingApproval as i32, "A's run is untouched");
    assert_eq!(h.refunds_made(), 0);
    h.stop().await;
}

#[tokio::test]
async fn tenants_see_only_their_own_runs_and_records_on_sqlite() {
    tenants_see_only_their_own_runs_and_records(TestDb::Sqlite).await;
}

#[tokio::test]
async fn tenants_see_only_their_own_runs_and_records_on_postgres() {
    tenants_see_only_their_own_runs_and_records(TestDb::Postgres).await;
}

#[tokio::test]
async fn runs_are_listed_newest_first_in_pages() {
    let h = Harness::start(TestDb::Sqlite).await;
    let owner = Caller::owner();
    let mut names = Vec::new();
    for i in 0..5 {
        let events = h.ask(owner, &format!("Tell me a joke number {i}")).await.rest().await;
        names.push(events[0].run.clone());
    }
    names.reverse();
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = pb::ListRunsRequest { page_size: 2, page_token, ..Default::default() };
        let page = h.orchestrator.list_runs(owner.request(request)).await.unwrap().into_inner();
        assert!(page.runs.len() <= 2);
        seen.extend(page.runs.into_iter().map(|r| r.name));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(seen, names);
    let mine = pb::ListRunsRequest { creator: "me".into(), status: RunStatus::Succeeded as i32, ..Default::default() };
    assert_eq!(h.orchestrator.list_runs(owner.request(mine)).await.unwrap().into_inner().runs.len(), 5);
    h.stop().await;
}
