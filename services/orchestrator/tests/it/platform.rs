//! The orchestrator as the platform runs it: on the mesh (mTLS, access rules), calling the connectors service over
//! the mesh with the caller's context.

use switchboard_mesh::Identity;
use switchboard_proto::orchestrator::v1::orchestrator_service_client::OrchestratorServiceClient;
use switchboard_proto::orchestrator::v1::{self as pb, RunStatus, ask_response::Event};
use switchboard_test_support::{TestDb, TestPlatform};

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
