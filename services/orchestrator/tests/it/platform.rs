//! The orchestrator as the platform runs it: on the mesh (mTLS, access rules), calling the connectors service over
//! the mesh with the caller's context, and planning with the model providers the platform's flags configure.

use switchboard_mesh::Identity;
use switchboard_model_sandbox::{Api, ModelSandbox, OPENAI_KEY, Reply, ScriptedCall};
use switchboard_proto::orchestrator::v1::orchestrator_service_client::OrchestratorServiceClient;
use switchboard_proto::orchestrator::v1::{self as pb, RunStatus, ask_response::Event};
use switchboard_test_support::{TestDb, TestOptions, TestPlatform};

use crate::support::Caller;

#[tokio::test]
async fn ask_is_served_over_the_mesh_and_reaches_the_connectors() {
    let platform = TestPlatform::start(TestDb::Sqlite).await;
    let channel = platform.channel_as(Identity::gateway(), Identity::orchestrator(), &platform.orchestrator_addr);
    let mut client = OrchestratorServiceClient::new(channel);
    let owner = Caller::owner();

    let request = pb::AskRequest { question: "How many customers do we have?".into(), ..Default::default() };
    let mut stream = client.ask(owner.context().request(request)).await.unwrap().into_inner();
    let mut events = Vec::new();
    while let Some(event) =
        tokio::time::timeout(std::time::Duration::from_secs(30), stream.message()).await.unwrap().unwrap()
    {
        events.push(event);
    }
    crate::support::assert_contiguous(&events, 1);
    let Some(Event::RunFinished(finished)) = &events.last().unwrap().event else { panic!("{events:#?}") };
    // Planning read the tool catalog and the connections from the connectors service over the mesh; had that
    // failed, the run would have failed with the reason.
    assert_eq!(finished.status, RunStatus::Succeeded as i32, "{finished:?}");
    let run = client
        .get_run(owner.context().request(pb::GetRunRequest { name: events[0].run.clone() }))
        .await
        .unwrap()
        .into_inner()
        .run
        .unwrap();
    assert!(run.answer.unwrap().text.contains("no stripe connection"), "a new tenant has no connection");

    // Only the gateway may ask.
    let other = platform.channel_as(Identity::connectors(), Identity::orchestrator(), &platform.orchestrator_addr);
    let request = pb::AskRequest { question: "How many customers?".into(), ..Default::default() };
    let refused = OrchestratorServiceClient::new(other).ask(owner.context().request(request)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    platform.stop().await;
}

#[tokio::test]
async fn the_platform_plans_with_the_model_providers_its_flags_name() {
    // The model sandbox, and the platform configured with its key and base URL as `switchboard up` would read them
    // from OPENAI_API_KEY and OPENAI_BASE_URL.
    let stop = tokio_util::sync::CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let models = ModelSandbox::start(listener, stop.clone()).await.unwrap();
    let plan = serde_json::json!({"summary": "Nothing to read", "steps": []});
    // A greeting may fall below the router's threshold: the model is then asked for its intent first.
    let (_, _, confident) = crate::support::model_router().route_blocking("Hello there").unwrap();
    if !confident {
        let route = ScriptedCall::new("route_request", serde_json::json!({"intent": "help"}));
        models.script(Api::OpenAi, Reply::tool_calls(vec![route]));
    }
    models.script_all(
        Api::OpenAi,
        [Reply::tool_calls(vec![ScriptedCall::new("submit_plan", plan)]), Reply::text("Hello from the model.")],
    );
    let args = ["--openai-api-key", OPENAI_KEY, "--openai-base-url", &models.openai_base()];
    let options = TestOptions { args: args.iter().map(|a| (*a).to_owned()).collect(), ..TestOptions::default() };
    let platform = TestPlatform::start_with(TestDb::Sqlite, options).await;
    let channel = platform.channel_as(Identity::gateway(), Identity::orchestrator(), &platform.orchestrator_addr);
    let mut client = OrchestratorServiceClient::new(channel);
    let owner = Caller::owner();

    let request = pb::AskRequest { question: "Hello there".into(), ..Default::default() };
    let mut stream = client.ask(owner.context().request(request)).await.unwrap().into_inner();
    let mut events = Vec::new();
    while let Some(event) =
        tokio::time::timeout(std::time::Duration::from_secs(30), stream.message()).await.unwrap().unwrap()
    {
        events.push(event);
    }
    assert_eq!(crate::support::delta_text(&events), "Hello from the model.");
    let Some(Event::RunStarted(started)) = &events[0].event else { panic!("{events:#?}") };
    assert_eq!(started.run.as_ref().unwrap().model, "openai/gpt-4o-mini");
    let Some(Event::RunFinished(finished)) = &events.last().unwrap().event else { panic!("{events:#?}") };
    assert_eq!(finished.status, RunStatus::Succeeded as i32, "{finished:?}");
    let calls = 2 + usize::from(!confident);
    assert_eq!(models.requests(Api::OpenAi).len(), calls, "the intent when unsure, the plan and the answer");
    platform.stop().await;
    stop.cancel();
}
