//! Assistant settings through the API: every role reads them, only admins and owners change them, bad values are
//! refused with the field named, each change is audited with before and after, and runs obey the new settings from
//! the next one on.

use prost_types::FieldMask;
use switchboard_proto::orchestrator::v1::orchestrator_service_server::OrchestratorService as _;
use switchboard_proto::orchestrator::v1::{self as pb, RunStatus, StepStatus};
use switchboard_test_support::TestDb;
use switchboard_types::Role;

use crate::approvals::customer_with_a_charge;
use crate::support::{Caller, Harness, is_approval};

async fn get(h: &Harness, caller: Caller) -> pb::AssistantSettings {
    let request = pb::GetAssistantSettingsRequest::default();
    h.orchestrator.get_assistant_settings(caller.request(request)).await.unwrap().into_inner().settings.unwrap()
}

async fn update(
    h: &Harness,
    caller: Caller,
    settings: pb::AssistantSettings,
    paths: &[&str],
) -> Result<pb::AssistantSettings, tonic::Status> {
    let request = pb::UpdateAssistantSettingsRequest {
        settings: Some(settings),
        update_mask: Some(FieldMask { paths: paths.iter().map(|p| (*p).to_owned()).collect() }),
    };
    Ok(h.orchestrator.update_assistant_settings(caller.request(request)).await?.into_inner().settings.unwrap())
}

fn refused(result: Result<pb::AssistantSettings, tonic::Status>, code: tonic::Code, says: &str) {
    let status = result.unwrap_err();
    assert_eq!(status.code(), code, "{status:?}");
    assert!(status.message().contains(says), "{:?} does not say {says:?}", status.message());
}

async fn settings_are_read_by_everyone_and_changed_by_admins(db: TestDb) {
    let h = Harness::start(db).await;
    let owner = Caller::owner();
    h.connect_stripe(owner).await;
    let (viewer, member, admin) =
        (owner.colleague(Role::Viewer), owner.colleague(Role::Member), owner.colleague(Role::Admin));

    let defaults = get(&h, viewer).await;
    assert_eq!(defaults.name, "assistantSettings");
    assert_eq!((defaults.runs_per_minute, defaults.monthly_token_budget), (30, 0));
    assert!(defaults.providers.is_empty() && defaults.auto_approve_actions.is_empty());
    assert!(defaults.update_time.is_none());

    let change = pb::AssistantSettings {
        providers: vec!["openai/gpt-4o-mini".into(), "anthropic/claude-3-5-haiku-latest".into()],
        auto_approve_actions: vec!["stripe.customer.create".into()],
        monthly_token_budget: 50_000,
        runs_per_minute: 12,
        ..Default::default()
    };
    let all = ["providers", "auto_approve_actions", "monthly_token_budget", "runs_per_minute"];
    for who in [viewer, member] {
        refused(update(&h, who, change.clone(), &all).await, tonic::Code::PermissionDenied, "admin or owner");
    }
    refused(
        update(
            &h,
            admin,
            pb::AssistantSettings { monthly_token_budget: -5, ..change.clone() },
            &["monthly_token_budget"],
        )
        .await,
        tonic::Code::InvalidArgument,
        "monthly_token_budget: -5 is negative",
    );
    refused(
        update(
            &h,
            admin,
            pb::AssistantSettings { auto_approve_actions: vec!["stripe.refund.everything".into()], ..change.clone() },
            &["auto_approve_actions"],
        )
        .await,
        tonic::Code::InvalidArgument,
        "unknown action \"stripe.refund.everything\"",
    );
    refused(
        update(
            &h,
            admin,
            pb::AssistantSettings { providers: vec!["gemini/pro".into()], ..change.clone() },
            &["providers"],
        )
        .await,
        tonic::Code::InvalidArgument,
        "unknown provider \"gemini\"",
    );
    refused(
        update(&h, admin, pb::AssistantSettings { runs_per_minute: 0, ..change.clone() }, &["runs_per_minute"]).await,
        tonic::Code::InvalidArgument,
        "runs_per_minute",
    );
    refused(update(&h, admin, change.clone(), &[]).await, tonic::Code::InvalidArgument, "update_mask is required");
    refused(update(&h, admin, change.clone(), &["name"]).await, tonic::Code::InvalidArgument, "cannot be updated");
    assert_eq!(get(&h, viewer).await, defaults, "nothing refused changed anything");
    assert!(h.audit_records().await.iter().all(|(a, _, _)| a != "orchestrator.settings.update"));

    // Only the masked fields change.
    let saved = update(&h, admin, change.clone(), &["runs_per_minute", "monthly_token_budget"]).await.unwrap();
    assert_eq!((saved.runs_per_minute, saved.monthly_token_budget), (12, 50_000));
    assert!(saved.providers.is_empty() && saved.auto_approve_actions.is_empty());
    let saved = update(&h, owner, change.clone(), &all).await.unwrap();
    assert_eq!(saved.providers, change.providers);
    assert_eq!(saved.auto_approve_actions, change.auto_approve_actions);
    let read = get(&h, viewer).await;
    assert_eq!(read, saved);
    assert!(read.update_time.is_some());
    // Saving the same values again changes (and audits) nothing.
    update(&h, owner, change.clone(), &all).await.unwrap();

    let audits: Vec<_> =
        h.audit_records().await.into_iter().filter(|(a, _, _)| a == "orchestrator.settings.update").collect();
    assert_eq!(audits.len(), 2, "{audits:#?}");
    let (_, resource, details) = &audits[0];
    assert_eq!(resource, "assistantSettings");
    assert_eq!(details["fields"], "runs_per_minute,monthly_token_budget");
    let before: serde_json::Value = serde_json::from_str(&details["before"]).unwrap();
    let after: serde_json::Value = serde_json::from_str(&details["after"]).unwrap();
    assert_eq!((before["runs_per_minute"].as_u64(), after["runs_per_minute"].as_u64()), (Some(30), Some(12)));
    assert_eq!(
        (before["monthly_token_budget"].clone(), after["monthly_token_budget"].as_u64()),
        (serde_json::Value::Null, Some(50_000))
    );
    let after: serde_json::Value = serde_json::from_str(&audits[1].2["after"]).unwrap();
    assert_eq!(after["auto_approve"], serde_json::json!(["stripe.customer.create"]));

    // Another tenant still has the defaults.
    assert_eq!(get(&h, Caller::owner()).await, defaults);
    h.stop().await;
}

#[tokio::test]
async fn settings_are_read_by_everyone_and_changed_by_admins_on_sqlite() {
    settings_are_read_by_everyone_and_changed_by_admins(TestDb::Sqlite).await;
}

#[tokio::test]
async fn settings_are_read_by_everyone_and_changed_by_admins_on_postgres() {
    settings_are_read_by_everyone_and_changed_by_admins(TestDb::Postgres).await;
}

async fn new_settings_apply_from_the_next_run(db: TestDb) {
    let h = Harness::start(db).await;
    let owner = Caller::owner();
    h.connect_stripe(owner).await;
    let (email, charge) = customer_with_a_charge(&h, owner).await;
    let question = format!("Refund the last charge of {email}");

    // By default the refund waits for a person; rejected, it changes nothing.
    let events = h.ask(owner, &question).await.until(is_approval).await;
    let run = events[0].run.clone();
    let reject = pb::RejectStepRequest { name: format!("{run}/steps/2"), reason: "not yet".into() };
    h.orchestrator.reject_step(owner.request(reject)).await.unwrap();
    assert_eq!(h.refunds_made(), 0);

    let refund =
        pb::AssistantSettings { auto_approve_actions: vec!["stripe.refund.create".into()], ..Default::default() };
    update(&h, owner.colleague(Role::Admin), refund, &["auto_approve_actions"]).await.unwrap();
    let events = h.ask(owner, &question).await.rest().await;
    assert!(!events.iter().any(|e| e.event.as_ref().is_some_and(is_approval)), "no approval asked: {events:#?}");
    let done = h.get_run(owner, &events[0].run).await;
    assert_eq!(done.status, RunStatus::Succeeded as i32, "{done:#?}");
    assert_eq!(done.steps[1].status, StepStatus::Succeeded as i32);
    assert_eq!(crate::support::field(&done.steps[1].input, "charge"), charge.as_str());
    assert_eq!(h.refunds_made(), 1);

    // The rate limit applies from the next question too.
    let slow = pb::AssistantSettings { runs_per_minute: 2, ..Default::default() };
    update(&h, owner, slow, &["runs_per_minute"]).await.unwrap();
    let request = pb::AskRequest { question: "How many charges did we get last week?".into(), ..Default::default() };
    let refused = h.orchestrator.ask(owner.request(request)).await.err().unwrap();
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted, "two runs in the last minute already");
    h.stop().await;
}

#[tokio::test]
async fn new_settings_apply_from_the_next_run_on_sqlite() {
    new_settings_apply_from_the_next_run(TestDb::Sqlite).await;
}

#[tokio::test]
async fn new_settings_apply_from_the_next_run_on_postgres() {
    new_settings_apply_from_the_next_run(TestDb::Postgres).await;
}
