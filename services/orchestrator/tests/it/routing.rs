//! The intent router with the real embedding model: its numbers on the held-out test part of `eval/intents.jsonl`
//! (what `make eval` prints), the `Route` RPC on the service and over the mesh, and the checks on its input.

use switchboard_mesh::Identity;
use switchboard_orchestrator::evaluation::{evaluate, labelled_split};
use switchboard_orchestrator::{Intent, Router};
use switchboard_proto::orchestrator::v1::orchestrator_service_client::OrchestratorServiceClient;
use switchboard_proto::orchestrator::v1::orchestrator_service_server::OrchestratorService as _;
use switchboard_proto::orchestrator::v1::{self as pb};
use switchboard_test_support::{TestDb, TestPlatform};

use crate::support::{Caller, Harness, MODEL_WORK, model};

/// What the router must reach on the test part with all-MiniLM-L6-v2 (`make eval`: 96.3% and 95.0% on 242
/// requests, with 1,162 tuning examples): the targets are 95% and 90%; a drop below these is a regression
/// of the examples, the calibration or the model wiring.
const MIN_ACCURACY: f64 = 0.95;
const MIN_OUT_OF_SCOPE_RECALL: f64 = 0.93;

#[test]
fn the_router_with_the_real_model_meets_its_numbers_on_the_test_part() {
    let _serial = MODEL_WORK.blocking_lock();
    let router = Router::new(model()).unwrap();
    assert_eq!(router.model(), "all-MiniLM-L6-v2");
    let test = labelled_split("test").unwrap();
    assert!(test.len() >= 120, "{} test requests", test.len());
    let evaluation = evaluate(&router, &test).unwrap();
    assert_eq!(evaluation.total(), test.len());
    assert!(evaluation.accuracy() >= MIN_ACCURACY, "{evaluation}");
    assert!(evaluation.out_of_scope_recall() >= MIN_OUT_OF_SCOPE_RECALL, "{evaluation}");
}

#[test]
fn the_real_model_tells_a_refund_from_a_question_about_refunds() {
    // The hashed n-gram embedder sees the same words in both; the model-backed router must not.
    let _serial = MODEL_WORK.blocking_lock();
    let router = Router::new(model()).unwrap();
    let cases = [
        ("refund the order", Intent::Action),
        ("how many orders were refunded", Intent::Data),
        ("What's our refund policy for opened items?", Intent::Knowledge),
        ("how do refunds get approved in this app", Intent::Help),
        ("what's the weather in Lisbon this weekend", Intent::Unsupported),
    ];
    for (text, want) in cases {
        let (scores, routed, _) = router.route_blocking(text).unwrap();
        assert_eq!(routed.intent, want, "{text:?}: {routed:?} {scores:?}");
        assert_ne!(routed.runner_up, routed.intent);
    }
}

fn route(text: &str) -> pb::RouteRequest {
    pb::RouteRequest { text: text.into() }
}

#[tokio::test]
async fn route_checks_its_input_and_needs_a_tenant() {
    let h = Harness::start(TestDb::Sqlite).await;
    let owner = Caller::owner();

    let response = h.orchestrator.route(owner.request(route("Refund the last charge of jane@example.com"))).await;
    let response = response.unwrap().into_inner();
    // The harness runs the offline router (hashed n-grams), which says so.
    assert_eq!(response.embedding_model, "hashed-ngram");
    assert_eq!(response.intent, pb::Intent::Action as i32, "{response:?}");
    assert_ne!(response.runner_up, response.intent);
    assert!(response.confidence > 0.0 && response.confidence <= 1.0, "{response:?}");

    let empty = h.orchestrator.route(owner.request(route("  "))).await.unwrap_err();
    assert_eq!(empty.code(), tonic::Code::InvalidArgument, "{empty:?}");
    let long = h.orchestrator.route(owner.request(route(&"x".repeat(4001)))).await.unwrap_err();
    assert_eq!(long.code(), tonic::Code::InvalidArgument, "{long:?}");
    let no_tenant = h.orchestrator.route(tonic::Request::new(route("help"))).await.unwrap_err();
    assert_ne!(no_tenant.code(), tonic::Code::Ok);
    h.stop().await;
}

#[tokio::test]
async fn route_is_served_over_the_mesh_with_the_real_model_to_the_gateway_only() {
    model(); // the platform loads the model from the default directory: make sure it is there
    let _serial = MODEL_WORK.lock().await;
    let platform = TestPlatform::start(TestDb::Sqlite).await;
    let channel = platform.channel_as(Identity::gateway(), Identity::orchestrator(), &platform.orchestrator_addr);
    let mut client = OrchestratorServiceClient::new(channel);
    let viewer = Caller::owner().colleague(switchboard_types::Role::Viewer);

    let cases = [
        ("Refund the last charge of jane@example.com", pb::Intent::Action),
        ("How many orders were refunded last month?", pb::Intent::Data),
        ("How do I connect my Shopify store?", pb::Intent::Help),
        ("tell me a joke about accountants", pb::Intent::Unsupported),
    ];
    for (text, want) in cases {
        let response = client.route(viewer.context().request(route(text))).await.unwrap().into_inner();
        assert_eq!(response.embedding_model, "all-MiniLM-L6-v2", "the platform loaded the model");
        assert_eq!(response.intent, want as i32, "{text:?}: {response:?}");
    }

    let other = platform.channel_as(Identity::connectors(), Identity::orchestrator(), &platform.orchestrator_addr);
    let refused = OrchestratorServiceClient::new(other).route(viewer.context().request(route("help"))).await;
    assert_eq!(refused.unwrap_err().code(), tonic::Code::PermissionDenied);
    platform.stop().await;
}
